#!/usr/bin/env bash
# Installs everything LoRA-FA Studio needs to build, test and run:
#   1. the Debian 12 packages below (uses sudo only when not root);
#   2. the project's Python environment, .venv in the repository, with the pinned packages of
#      packaging/requirements.txt from PyPI: above all `torch`, whose CUDA build of LibTorch 2.x
#      (with its CMake files and NVIDIA's CUDA libraries as wheels) is what the project builds
#      against (cmake/LorafaFindTorch.cmake finds it there).
#   3. with --tests: also the reference libraries the test suite compares the engine with
#      (transformers, peft, trl, safetensors: tests/reference/requirements.txt), into the same
#      environment. The studio and the engine never use them.
# Idempotent: packages already present are skipped; the environment is updated only when a
# requirements file it was made from changed since.
set -euo pipefail

with_tests=0
case "${1:-}" in
  "") ;;
  --tests) with_tests=1 ;;
  *) echo "usage: bash packaging/install-deps.sh [--tests]" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build pkg-config git clang-format ccache
  python3 python3-venv python3-pip
  # ProcessGroupGloo's header includes Gloo's headers; LibTorch has Gloo built in (CPU data parallel)
  libgloo-dev
  qt6-base-dev qt6-base-dev-tools libqcustomplot-dev
  libsqlite3-dev
  # the model library's Hub downloads (lorafa models pull)
  libcurl4-openssl-dev
  libgtest-dev libgmock-dev
  nlohmann-json3-dev libyaml-cpp-dev libpcre2-dev libicu-dev libcli11-dev
  xvfb xauth
  file desktop-file-utils appstream
  # .ci/run's reliability steps: libFuzzer targets, ASan/UBSan and TSan builds, symbolized reports
  clang libclang-rt-14-dev llvm
)

if [ "$(id -u)" -eq 0 ]; then
  sudo_cmd=()
else
  command -v sudo >/dev/null 2>&1 || { echo "install-deps: not root and sudo is missing" >&2; exit 1; }
  sudo_cmd=(sudo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -q
  "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The Python environment. PYTHON picks the interpreter that makes it (default python3, 3.10 or newer).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=$root/.venv
requirements=$root/packaging/requirements.txt
stamp=$venv/.lorafa-requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
test_requirements=$root/tests/reference/requirements.txt
test_stamp=$venv/.lorafa-test-requirements.sha256
test_want=$(cat "$requirements" "$test_requirements" | sha256sum | cut -d' ' -f1)
install_tests() {
  [ "$with_tests" -eq 1 ] || return 0
  if [ "$(cat "$test_stamp" 2>/dev/null)" = "$test_want" ]; then
    echo "install-deps: $venv is up to date with tests/reference/requirements.txt"
    return 0
  fi
  echo "install-deps: installing tests/reference/requirements.txt into $venv (the reference libraries)"
  local t0
  t0=$(date +%s)
  # The constraints keep torch and tokenizers at packaging/requirements.txt's pins.
  "$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q \
    -r "$test_requirements" -c "$requirements"
  echo "$test_want" >"$test_stamp"
  echo "install-deps: reference libraries ready in $(( $(date +%s) - t0 )) s"
}
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  echo "install-deps: $venv is up to date with packaging/requirements.txt"
  install_tests
  exit 0
fi
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))' ||
  { echo "install-deps: $python is older than 3.10; set PYTHON to a newer one" >&2; exit 1; }
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
echo "install-deps: installing packaging/requirements.txt into $venv (torch with CUDA: about 4.5 GB)"
start=$(date +%s)
"$venv/bin/python" -m pip install --disable-pip-version-check --progress-bar off -q -r "$requirements"
"$venv/bin/python" -W ignore -c 'import torch; print(f"install-deps: torch {torch.__version__}, CUDA {torch.version.cuda}")'
echo "$want" >"$stamp"
echo "install-deps: Python environment ready in $(( $(date +%s) - start )) s"
install_tests
