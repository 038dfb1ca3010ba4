#!/usr/bin/env bash
# The Debian package, checked as a user gets it: build lorafa-studio_<version>_amd64.deb from a
# build folder, validate its desktop entry and AppStream metainfo, install it with apt-get, then
# run the installed `lorafa --version`, train the demo for a few steps with the installed CLI from
# the installed resources, and start the installed studio offscreen for a smoke check.
# Usage: bash packaging/test-deb.sh BUILD_DIR   (needs root or sudo for apt-get)
set -euo pipefail

build_dir=$(cd "${1:?usage: test-deb.sh BUILD_DIR}" && pwd)
if [ "$(id -u)" -eq 0 ]; then sudo_cmd=(); else sudo_cmd=(sudo); fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "test-deb: building the package in $build_dir"
rm -f "$build_dir"/lorafa-studio_*_amd64.deb
cmake --build "$build_dir" --target package >"$work/package.log" 2>&1 || { cat "$work/package.log"; exit 1; }
deb=$(ls "$build_dir"/lorafa-studio_*_amd64.deb)
echo "test-deb: $(basename "$deb"), $(du -h "$deb" | cut -f1) ($(dpkg-deb --field "$deb" Installed-Size) KiB installed)"
dpkg-deb --field "$deb" Package Version Architecture Depends

echo "test-deb: validating the desktop entry and the AppStream metainfo"
dpkg-deb -x "$deb" "$work/root"
desktop-file-validate "$work/root/usr/share/applications/lorafa-studio.desktop"
appstreamcli validate --no-net "$work/root/usr/share/metainfo/org.lorafa.studio.metainfo.xml"

echo "test-deb: installing"
"${sudo_cmd[@]}" apt-get install -y -q "$deb" >"$work/apt.log" 2>&1 || { cat "$work/apt.log"; exit 1; }
trap '"${sudo_cmd[@]}" apt-get remove -y -q lorafa-studio >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

version=$(/usr/bin/lorafa --version)
echo "test-deb: installed $version"
expected=$(dpkg-deb --field "$deb" Version)
[ "$version" = "lorafa $expected" ] || { echo "test-deb: --version says '$version', the package is $expected" >&2; exit 1; }

echo "test-deb: the LibTorch runtime comes from the package, not from the build machine"
/usr/bin/lorafa info
libs=$(ldd /usr/bin/lorafa /usr/lib/lorafa-studio/torch/lib/libtorch_cuda.so 2>/dev/null || true)
if echo "$libs" | grep -q "not found"; then
  echo "$libs" | grep "not found" >&2; echo "test-deb: unresolved libraries" >&2; exit 1
fi
for lib in liblorafa_engine.so libtorch_cpu.so libc10.so libcudart.so libcublas.so libcudnn.so libnccl.so; do
  where=$(echo "$libs" | grep -m1 -F "$lib" | awk '{print $3}' || true)
  [ -z "$where" ] || where=$(realpath -m "$where") # ldd shows $ORIGIN paths as /usr/bin/../lib/...
  case "$lib:$where" in
    libcud*:|libcublas*:|libnccl*:) ;; # a CPU-only LibTorch has none of these
    *:/usr/lib/lorafa-studio/*) ;;
    *) echo "test-deb: $lib resolves to '$where', not inside /usr/lib/lorafa-studio" >&2; exit 1 ;;
  esac
done

echo "test-deb: training the demo from /usr/share/lorafa-studio with the installed CLI"
export XDG_DATA_HOME="$work/data" XDG_CONFIG_HOME="$work/config" HOME="$work"
/usr/bin/lorafa train /usr/share/lorafa-studio/examples/demo-kjv-lora-fa.yaml --max-steps 2 \
  --output-dir "$work/demo-run" | tail -3
ls "$work/demo-run/checkpoints" >/dev/null

echo "test-deb: starting the installed studio offscreen"
QT_QPA_PLATFORM=offscreen timeout 120 /usr/bin/lorafa-studio --smoke-test
echo "test-deb: all checks passed"
