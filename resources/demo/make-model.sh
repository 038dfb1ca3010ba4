#!/usr/bin/env bash
# Regenerates the demo base model in resources/demo/model/ with the project's own engine:
#   1. the pretraining corpus (make-data.sh, unless build/demo-corpus already holds it),
#   2. a 4,096-token byte-level BPE tokenizer trained on it (lorafa tokenizer-train),
#   3. full training from random initialisation (lorafa train pretrain.yaml, `pretrain: true`),
#   4. the last checkpoint's weights as model/model.safetensors.
# config.json (the architecture) is committed and kept. Usage, from a build with the CLI:
#   bash resources/demo/make-model.sh [path/to/lorafa]      (default: build/bin/lorafa)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
lorafa="${1:-$root/build/bin/lorafa}"
corpus="$root/build/demo-corpus"
out="$root/build/demo-pretrain"

[ -x "$lorafa" ] || { echo "make-model.sh: $lorafa is not an executable lorafa CLI" >&2; exit 1; }
[ -s "$corpus/pretrain_corpus.jsonl" ] || bash "$here/make-data.sh" "$corpus"

tok="$(mktemp -d)"
trap 'rm -rf "$tok"' EXIT
"$lorafa" tokenizer-train --input "$corpus/pretrain_corpus.txt" --vocab-size 4096 --model-max-length 512 \
  --output "$tok/tokenizer" --force
cp "$tok/tokenizer/tokenizer.json" "$tok/tokenizer/tokenizer_config.json" "$here/model/"

rm -rf "$out"
mkdir -p "$out"
"$lorafa" train "$here/pretrain.yaml" --store "$out/runs.db" | tee "$out/train.log"
last="$(ls -d "$out"/checkpoints/step-* | sort | tail -n 1)"
# The checkpoint's weights file is already a Hugging Face state dict (the same tensor names);
# only the {"format": "pt"} metadata that transformers' loader looks for is added.
python3 - "$last/weights.safetensors" "$here/model/model.safetensors.tmp" <<'PY'
import json, struct, sys
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    size = struct.unpack("<Q", f.read(8))[0]
    header = json.loads(f.read(size))
    data = f.read()
header["__metadata__"] = {"format": "pt"}
text = json.dumps(header, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
with open(dst, "wb") as f:
    f.write(struct.pack("<Q", len(text)) + text + data)
PY
mv "$here/model/model.safetensors.tmp" "$here/model/model.safetensors"
echo "wrote $here/model/model.safetensors from $last"
