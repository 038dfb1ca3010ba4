#!/usr/bin/env bash
# The README's two Quick start commands:
#   bash packaging/quickstart.sh run    install dependencies, build, start the studio
#   bash packaging/quickstart.sh test   install dependencies, build, run the whole test suite, then
#                                       build, install and check the Debian package
# Environment: BUILD_DIR (default build), JOBS (default: all cores), LORAFA_BUILD_GUI (ON|OFF).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
jobs=${JOBS:-$(nproc)}
gui=${LORAFA_BUILD_GUI:-ON}

usage() {
  echo "usage: bash packaging/quickstart.sh run|test" >&2
  exit 2
}

build() { # [--tests]: the reference libraries of tests/reference/ as well
  bash "$root/packaging/install-deps.sh" "$@"
  local generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  if [ ! -f "$build_dir/CMakeCache.txt" ]; then
    cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLORAFA_BUILD_GUI="$gui"
  else
    cmake "$build_dir" -DLORAFA_BUILD_GUI="$gui" >/dev/null
  fi
  cmake --build "$build_dir" --parallel "$jobs"
}

[ $# -eq 1 ] || usage
case "$1" in
  run)
    build
    if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ] && [ -z "${QT_QPA_PLATFORM:-}" ]; then
      echo "quickstart: no display found (DISPLAY/WAYLAND_DISPLAY unset); starting under Xvfb" >&2
      exec xvfb-run -a "$build_dir/bin/lorafa-studio"
    fi
    exec "$build_dir/bin/lorafa-studio"
    ;;
  test)
    build --tests
    bash "$root/packaging/fetch-test-assets.sh"
    status=0
    (cd "$build_dir" && ctest --output-on-failure --parallel "$jobs" --timeout 900) 2>&1 |
      tee "$build_dir/ctest.log" || status=$?
    # The CUDA tests (label gpu) run where a GPU is usable and skip elsewhere: say which, with counts.
    gpu_tests=$(cd "$build_dir" && ctest -N -L gpu | sed -n 's/^ *Test *#[0-9]*: //p')
    gpu_total=$(printf '%s\n' "$gpu_tests" | grep -c . || true)
    gpu_skipped=$(printf '%s\n' "$gpu_tests" | while read -r t; do
      grep -E "Test +#[0-9]+: $t \.+.*Skipped" "$build_dir/ctest.log" || true; done | grep -c . || true)
    echo "quickstart: CUDA tests: $gpu_total, of which $gpu_skipped skipped ($("$build_dir/bin/lorafa" info | grep -m1 -E '^(No GPU|GPU [0-9])' || true))"
    [ "$status" -eq 0 ] || exit "$status"
    # The Debian package as a user installs it (packaging/README.md); needs root or sudo.
    bash "$root/packaging/test-deb.sh" "$build_dir"
    ;;
  *)
    usage
    ;;
esac
