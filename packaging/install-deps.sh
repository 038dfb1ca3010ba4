#!/usr/bin/env bash
# Installs every Debian 12 package that LoRA-FA Studio needs to build, test and run.
# Idempotent: packages already present are skipped; uses sudo only when not root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git clang-format
  libtorch-dev libopenblas0-pthread libgloo-dev
  qt6-base-dev qt6-base-dev-tools libqcustomplot-dev
  libsqlite3-dev
  libgtest-dev libgmock-dev
  nlohmann-json3-dev libyaml-cpp-dev libpcre2-dev libicu-dev libcli11-dev
  xvfb xauth
  file desktop-file-utils appstream
  # .ci/run's reliability steps: libFuzzer targets, ASan/UBSan and TSan builds, symbolized reports
  clang libclang-rt-14-dev llvm
)

# npm fetches test-time assets that may not be committed (packaging/fetch-test-assets.sh); a
# machine that already has Node.js and npm from elsewhere keeps them.
command -v npm >/dev/null 2>&1 || packages+=(npm)

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
  echo "install-deps: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
