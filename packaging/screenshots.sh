#!/usr/bin/env bash
# Screenshots of every studio page during a real run of the bundled demo, for docs/ and the README.
# Builds nothing: give it a build folder that has bin/lorafa-studio (configured with the GUI).
#
#   packaging/screenshots.sh BUILD_DIR [OUT_DIR] [STEPS]
#
# Starts the studio under Xvfb (1400x900) with fresh, temporary data and settings folders, so it
# opens as on a first start (the demo model and dataset preselected); the studio's hidden
# --screenshots option starts the run, waits for STEPS training steps (default 3) and an
# evaluation, saves OUT_DIR/<page>.png for each page (default docs/screenshots), stops the run and
# quits.
set -euo pipefail

if [[ $# -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR [OUT_DIR] [STEPS]" >&2
  exit 2
fi
build_dir=$(cd "$1" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)
out_dir=${2:-$repo/docs/screenshots}
steps=${3:-3}
studio=$build_dir/bin/lorafa-studio
if [[ ! -x $studio ]]; then
  echo "$0: no $studio; build the lorafa-studio target first" >&2
  exit 2
fi
command -v xvfb-run >/dev/null || { echo "$0: xvfb-run is missing (apt-get install xvfb)" >&2; exit 2; }
mkdir -p "$out_dir"
out_dir=$(cd "$out_dir" && pwd)

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/data" "$scratch/config" "$scratch/runtime"
chmod 700 "$scratch/runtime"

# A plain style and font size, whatever the desktop's settings are.
XDG_DATA_HOME=$scratch/data XDG_CONFIG_HOME=$scratch/config XDG_RUNTIME_DIR=$scratch/runtime \
  QT_QPA_PLATFORMTHEME= QT_SCALE_FACTOR=1 \
  timeout 1800 xvfb-run -a -s "-screen 0 1400x900x24" \
  "$studio" -platform xcb --screenshots "$out_dir" --screenshot-steps "$steps"

ls -l "$out_dir"/*.png
