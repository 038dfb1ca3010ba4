#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, AddressSanitizer + UndefinedBehaviorSanitizer)
# and runs each one for a bounded time on a copy of its seed corpus, two at a time.
#
#   packaging/fuzz.sh [--seconds N] [--jobs J]     N seconds per target (default 60), J at once (2)
#   packaging/fuzz.sh --seconds 600                the longer local run
#
# Build folder: ${FUZZ_BUILD_DIR:-<repo>/build-fuzz}; each run's corpus copy, log and any crashing
# input go to <build>/fuzz-runs/<target>/. Exits non-zero when any target crashes, leaks, runs out
# of memory or times out; the input that did it is kept in that folder with the log (its stack).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
seconds=60
jobs=2
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument $1 (expected --seconds N, --jobs J)" >&2; exit 2 ;;
  esac
done
build="${FUZZ_BUILD_DIR:-$repo/build-fuzz}"
runs="$build/fuzz-runs"
targets=(safetensors model_config tokenizer dataset_json dataset_csv adapter_config run_config)

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
started=$(date +%s)
CC="${CC:-clang}" CXX="${CXX:-clang++}" cmake -S "$repo" -B "$build" "${generator[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLORAFA_BUILD_FUZZERS=ON \
  -DLORAFA_BUILD_GUI=OFF -DLORAFA_BUILD_TESTS=OFF -DLORAFA_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --target fuzzers -j "$(nproc)"
echo "fuzz.sh: fuzzers built in $(( $(date +%s) - started )) s"

# One target: a fresh copy of its seeds (and of its regression inputs), never the committed corpus.
run_target() {
  local name="$1" work="$runs/$1"
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp "$repo/tests/fuzz/corpus/$name/". -r "$work/corpus/"
  if [[ -d "$repo/tests/fuzz/regressions/$name" ]]; then
    cp "$repo/tests/fuzz/regressions/$name/". -r "$work/corpus/"
  fi
  local max_len=8192
  [[ "$name" == tokenizer ]] && max_len=16384
  local dict=()
  [[ -f "$repo/tests/fuzz/dict/$name.dict" ]] && dict=(-dict="$repo/tests/fuzz/dict/$name.dict")
  local rc=0
  (cd "$work" && ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
     "$build/fuzz/fuzz_$name" -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb=2048 \
     -timeout=10 -max_len="$max_len" -artifact_prefix="$work/artifacts/" "${dict[@]}" \
     "$work/corpus" >"$work/log" 2>&1) || rc=$?
  echo "$rc" >"$work/rc"
}

rm -rf "$runs"
mkdir -p "$runs"
for name in "${targets[@]}"; do
  while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n || true; done
  echo "fuzz.sh: fuzz_$name for $seconds s"
  run_target "$name" &
done
wait

failed=0
printf '\n%-16s %12s %10s %8s  %s\n' target executions "exec/s" crashes result
for name in "${targets[@]}"; do
  work="$runs/$name"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log" | tail -n 1)
  findings=$(find "$work/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
  rc=$(cat "$work/rc")
  result=ok
  if [[ "$rc" != 0 || "$findings" != 0 ]]; then
    result="FAILED (exit $rc): see $work/log and $work/artifacts/"
    failed=1
  fi
  printf '%-16s %12s %10s %8s  %s\n' "$name" "${execs:-?}" "${rate:-?}" "$findings" "$result"
done
echo "fuzz.sh: $(( $(date +%s) - started )) s in all"
exit "$failed"
