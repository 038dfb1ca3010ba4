#!/usr/bin/env bash
# The GPU comparison of docs/PERFORMANCE.md, for a machine with an NVIDIA GPU, Python with PyTorch
# (CUDA), transformers and PEFT, and no Qt. In about 10 minutes it:
#   1. builds lorafa-bench-model, lorafa and the CUDA tests without Qt, as CI builds (the .venv's
#      pinned CUDA LibTorch, or PYTHON's), prints `lorafa info` and runs the CUDA tests;
#   2. runs it on the GPU (LoRA, LoRA-FA and frozen, the LLaMA-style shape below);
#   3. runs the same shape with PEFT LoRA and PEFT's create_lorafa_optimizer (bench/gpu/peft_bench.py);
#   4. prints peak memory and tokens/s side by side.
# Usage: bench/gpu/run.sh [--dry-run]   (environment: PYTHON, BUILD_DIR, BATCH, SEQ, RANK, DTYPE, STEPS)
# --dry-run: everything on the CPU with a tiny shape (checks the script without a GPU).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# The same build as CI: the project's .venv (packaging/install-deps.sh, the pinned CUDA torch of
# packaging/requirements.txt) when it exists, else PYTHON's torch (a GPU machine's own PyTorch),
# found by the same cmake/LorafaFindTorch.cmake through LORAFA_PYTHON.
if [[ -z "${PYTHON:-}" && -x "$repo/.venv/bin/python" ]]; then python="$repo/.venv/bin/python"; else python="${PYTHON:-python3}"; fi
build="${BUILD_DIR:-$repo/build-gpu}"
batch="${BATCH:-4}" seq="${SEQ:-1024}" rank="${RANK:-16}" dtype="${DTYPE:-float32}" steps="${STEPS:-3}"
shape=(--hidden 2048 --intermediate 5632 --layers 8 --heads 16 --vocab 32000)
device=cuda
dry=""
if [[ "${1:-}" == "--dry-run" ]]; then
  dry=--dry-run device=cpu batch=2 seq=32 steps=1
  shape=(--hidden 64 --intermediate 128 --layers 2 --heads 4 --vocab 256)
fi

log() { printf '\n== %s\n' "$*"; }

log "checking the machine"
"$python" - <<'PY'
import sys
try:
    import torch, transformers, peft  # noqa: F401
except ImportError as e:
    sys.exit(f"missing Python package: {e.name} (pip install torch transformers peft)")
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}, cxx11 abi {torch._C._GLIBCXX_USE_CXX11_ABI}), "
      f"transformers {transformers.__version__}, peft {peft.__version__}")
if not torch._C._GLIBCXX_USE_CXX11_ABI:
    print("warning: this PyTorch uses the pre-C++11 string ABI; system libraries (yaml-cpp, ICU) may not link")
PY
missing=()
for tool in cmake g++; do command -v "$tool" >/dev/null || missing+=("$tool"); done
for header in CLI/CLI.hpp nlohmann/json.hpp yaml-cpp/yaml.h sqlite3.h unicode/uchar.h pcre2.h; do
  echo "#include <$header>" | g++ -x c++ -std=c++17 -fsyntax-only -DPCRE2_CODE_UNIT_WIDTH=8 - 2>/dev/null || missing+=("$header")
done
if ((${#missing[@]})); then
  echo "missing build dependencies: ${missing[*]}" >&2
  echo "Debian/Ubuntu: apt-get install cmake ninja-build g++ libcli11-dev nlohmann-json3-dev libyaml-cpp-dev libsqlite3-dev libicu-dev libpcre2-dev" >&2
  exit 2
fi

log "building lorafa-bench-model (no Qt, LibTorch from PyTorch)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
# The CUDA tests (label gpu) too, where GoogleTest is installed.
tests=OFF test_targets=()
if echo '#include <gtest/gtest.h>' | g++ -x c++ -std=c++17 -fsyntax-only - 2>/dev/null; then
  tests=ON test_targets=(test_engine_gpu)
fi
start=$(date +%s)
cmake -S "$repo" -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLORAFA_BUILD_GUI=OFF \
  -DLORAFA_BUILD_TESTS="$tests" -DLORAFA_PYTHON="$(command -v "$python")" >"$build.cmake.log" 2>&1 \
  || { tail -30 "$build.cmake.log"; exit 1; }
cmake --build "$build" --target lorafa-bench-model lorafa "${test_targets[@]}" -j "$(nproc)" >"$build.build.log" 2>&1 \
  || { grep -m5 -A5 error "$build.build.log"; exit 1; }
echo "built in $(( $(date +%s) - start )) s"

"$build/bin/lorafa" info | tee "$build/info.txt"
if [[ "$tests" == ON ]]; then
  log "CUDA tests (test_engine_gpu)"
  "$build/tests/test_engine_gpu" 2>&1 | tail -25 | tee "$build/gpu-tests.txt" || true
fi

log "LoRA-FA Studio engine on $device"
"$build/bin/lorafa-bench-model" --family llama "${shape[@]}" --batch "$batch" --seq "$seq" --rank "$rank" \
  --targets all-linear --methods lora,lora-fa,frozen --warmup 1 --steps "$steps" --device "$device" \
  --dtype "$dtype" | tee "$build/engine.txt"

log "PEFT on $device"
"$python" "$here/peft_bench.py" $dry "${shape[@]}" --batch "$batch" --seq "$seq" --rank "$rank" \
  --steps "$steps" --dtype "$dtype" | tee "$build/peft.txt"

log "side by side (peak MiB, tokens/s)"
grep -E '^  llama .* (lora|lora-fa|frozen) ' "$build/engine.txt" | sed 's/^  /engine /' || true
grep -E '^peft ' "$build/peft.txt" || true
"$python" - "$build/engine.txt" "$build/peft.txt" <<'PY'
import re, sys
def read(path):
    out = {}
    for line in open(path):
        m = re.search(r"(lora-fa|lora|frozen)\s+measured\s+([\d.]+) MiB.*?([\d.]+) tokens/s", line)
        if m:
            out[m.group(1)] = (float(m.group(2)), float(m.group(3)))
    return out
engine, peft = read(sys.argv[1]), read(sys.argv[2])
if "lora-fa" in engine and "lora" in peft:
    e, p = engine["lora-fa"], peft["lora"]
    print(f"engine LoRA-FA / PEFT LoRA peak: {e[0] / p[0]:.3f} (goal <= 0.6); tokens/s: {e[1] / p[1]:.3f} (goal >= 1)")
if "lora-fa" in engine and "lora-fa" in peft:
    e, p = engine["lora-fa"], peft["lora-fa"]
    print(f"engine LoRA-FA / PEFT LoRA-FA peak: {e[0] / p[0]:.3f}; tokens/s: {e[1] / p[1]:.3f}")
PY
