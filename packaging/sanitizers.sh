#!/usr/bin/env bash
# The test suite under the sanitizers (docs/RELIABILITY.md, "Sanitizers"):
#   bash packaging/sanitizers.sh asan   the whole ctest suite (but the Python reference tests) under
#                                       AddressSanitizer + LeakSanitizer
#                                       + UndefinedBehaviorSanitizer (GUI included)
#   bash packaging/sanitizers.sh tsan   the tests of every executable whose code runs threads of
#                                       ours (trainer, UI background work, RunStore writer, BPE
#                                       workers) under ThreadSanitizer
#   bash packaging/sanitizers.sh [all]  both, one after the other
# Environment: ASAN_BUILD_DIR (default build-asan), TSAN_BUILD_DIR (default build-tsan),
# JOBS (default: all cores). Exits non-zero on a build failure, a failed test or any sanitizer
# report, including one from a test that expects its process to fail (WILL_FAIL) or only matches
# its output: every report is written to <build dir>/sanitizer-logs and printed at the end.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
asan_dir=${ASAN_BUILD_DIR:-$root/build-asan}
tsan_dir=${TSAN_BUILD_DIR:-$root/build-tsan}
jobs=${JOBS:-$(nproc)}
supp=$root/tests/sanitizers
mode=${1:-all}
cxx=${SANITIZER_CXX:-g++}

# -O1: faster to run than -O0 while keeping stacks readable; line tables (-g1) are all the
# symbolizer needs. Debug keeps assert() and Q_ASSERT on. SANITIZER_CXX picks the compiler
# (default g++, the compiler of the ordinary build; clang++ works as well).
# Both steps register one ctest test per GoogleTest suite (cmake/LorafaTest.cmake) rather than per
# case: every process start loads and scans LibTorch's libraries, about a second under either.
configure() { # <build dir> <sanitizers> <gui>
  local generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  cmake -S "$root" -B "$1" "${generator[@]}" \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
    -DLORAFA_SANITIZE="$2" -DLORAFA_BUILD_GUI="$3" -DLORAFA_BUILD_TESTS=ON -DLORAFA_CTEST_PER_SUITE=ON >/dev/null
}

# The sanitizers' dlopen interceptor hides who called dlopen, so a library that opens its parts by
# name through its own RUNPATH ($ORIGIN) — cuDNN 9 opening libcudnn_graph.so.9 and the rest — finds
# them through ld.so.cache instead: the CUDA toolkit's older copies, mixed with the wheel's
# libcudnn.so.9. Put the wheels' folders first, as the RUNPATHs would.
nvidia_libs=$(ls -d "$root"/.venv/lib/python3*/site-packages/nvidia/*/lib 2>/dev/null | paste -sd: || true)
[ -z "$nvidia_libs" ] || export LD_LIBRARY_PATH="$nvidia_libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$symbolizer" ] || { echo "sanitizers: llvm-symbolizer not found (apt-get install llvm)" >&2; exit 2; }

elapsed() { echo $(( $(date +%s) - $1 ))s; }

# Every report lands in <dir>/sanitizer-logs/<tool>.<pid>; none may be there after the run.
check_logs() { # <log dir> <label>
  local logs
  logs=$(find "$1" -type f 2>/dev/null | sort)
  if [ -n "$logs" ]; then
    echo "sanitizers: $2: $(echo "$logs" | wc -l) sanitizer report(s):" >&2
    for f in $logs; do echo "=== $f" >&2; cat "$f" >&2; done
    return 1
  fi
  echo "sanitizers: $2: no sanitizer reports"
}

# The whole suite but the reference tests (label reference, tests/reference/): those compare our
# numbers with Python libraries in processes ASan does not instrument, and the engine code they run
# is what the rest of the suite runs too.
run_asan() {
  local t0 t1 logs=$asan_dir/sanitizer-logs status=0
  t0=$(date +%s)
  configure "$asan_dir" address,undefined ON
  nice cmake --build "$asan_dir" --parallel "$jobs"
  echo "sanitizers: asan build $(elapsed "$t0")"
  bash "$root/packaging/fetch-test-assets.sh"
  rm -rf "$logs" && mkdir -p "$logs"
  t1=$(date +%s)
  (cd "$asan_dir" &&
    ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:log_path=$logs/asan:symbolize=1" \
    LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp:log_path=$logs/ubsan" \
    ASAN_SYMBOLIZER_PATH=$symbolizer UBSAN_SYMBOLIZER_PATH=$symbolizer \
    ctest --output-on-failure --parallel "$jobs" --timeout 1200 -LE reference) || status=1
  echo "sanitizers: asan tests $(elapsed "$t1"), total $(elapsed "$t0")"
  check_logs "$logs" asan || status=1
  # With ASan in the same process, gcc's UBSan runtime ignores UBSAN_OPTIONS' log_path and prints
  # its reports to stderr: look for them in every test's output as well.
  local ub
  ub=$(grep -a -E "runtime error: |^==[0-9]+==ERROR: " "$asan_dir/Testing/Temporary/LastTest.log" || true)
  if [ -n "$ub" ]; then
    echo "sanitizers: asan: sanitizer reports in the tests' output:" >&2
    echo "$ub" | head -50 >&2
    status=1
  fi
  return $status
}

# Executables whose tests exercise threads of ours; ctest runs every test of each of them, except:
# - of test_engine_train only TrainerTest.* runs: the trainer's own threads (memory sampler,
#   pause, stop) are all in those; the other suites there repeat the same loop on more data and
#   take minutes each under TSan (DemoConfigTest: 150 s per case on a loaded 2-core machine);
# - of test_ui every suite (TrainingController's std::thread, every page's background work through
#   ui/BackgroundTask, TrainPage/StudioFlow/MainWindow/UiStall runs); the one test that forks the
#   already multi-threaded test process and starts RunStore's writer thread in the child skips
#   itself under TSan, which cannot follow that fork (it dies: die_after_fork; with
#   die_after_fork=0 it aborts with "dup thread with used id").
#   test_ui runs with ignore_noninstrumented_modules=1: Debian's
#   Qt is not instrumented, so TSan sees the libc calls Qt makes (memmove into its posted-event
#   list, malloc/free of QThreadPool's queue, QRunnable wrappers, QImage segments converted on the
#   global pool) but not the QMutex futexes and detached-thread hand-shakes that order them, and
#   took each for a race. Every access made by our (instrumented) code is still checked; only
#   interceptor calls made from inside uninstrumented libraries no longer count as accesses.
#   Our own hand-overs through Qt are annotated where they happen (ui/BackgroundTask.cpp).
tsan_executables=(test_ui test_engine_store test_engine_train test_engine_memory test_engine_tokenize
                  test_engine_core)
tsan_only_prefix=(test_engine_train:TrainerTest.)

run_tsan() {
  local t0 t1 logs=$tsan_dir/sanitizer-logs status=0 exe engine=() engine_regex ui_regex options
  t0=$(date +%s)
  configure "$tsan_dir" thread ON
  nice cmake --build "$tsan_dir" --parallel "$jobs" --target "${tsan_executables[@]}" store_crash_child
  echo "sanitizers: tsan build $(elapsed "$t0")"
  bash "$root/packaging/fetch-test-assets.sh"
  # The names of the tests the named executables registered (exe:prefix keeps only those names),
  # as one anchored regular expression.
  tsan_tests() {
    (cd "$tsan_dir" && ctest -N --show-only=json-v1 | python3 -c '
import json, os, re, sys
args = sys.argv[1:]
wanted = set(a for a in args if ":" not in a)
prefix = dict(a.split(":", 1) for a in args if ":" in a)
names = []
for t in json.load(sys.stdin)["tests"]:
    exe = os.path.basename((t.get("command") or [""])[0])
    if exe in wanted and t["name"].startswith(prefix.get(exe, "")):
        names.append(t["name"])
print("^(" + "|".join(re.escape(n) for n in names) + ")$")' "$@")
  }
  for exe in "${tsan_executables[@]}"; do [ "$exe" = test_ui ] || engine+=("$exe"); done
  engine_regex=$(tsan_tests "${engine[@]}" "${tsan_only_prefix[@]}")
  ui_regex=$(tsan_tests test_ui)
  rm -rf "$logs" && mkdir -p "$logs"
  t1=$(date +%s)
  # One OpenMP thread: LibTorch's parallel kernels synchronise in libgomp, which is not
  # instrumented, so TSan would see their writes to tensors as racing with ours.
  options="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp:log_path=$logs/tsan:external_symbolizer_path=$symbolizer"
  (cd "$tsan_dir" && OMP_NUM_THREADS=1 TSAN_OPTIONS="$options" \
    ctest --output-on-failure --parallel "$jobs" --timeout 1200 -R "$engine_regex") || status=1
  echo "sanitizers: tsan engine tests $(elapsed "$t1")"
  # test_ui: only accesses made by instrumented code count (see above the selection).
  (cd "$tsan_dir" && OMP_NUM_THREADS=1 TSAN_OPTIONS="$options:ignore_noninstrumented_modules=1" \
    ctest --output-on-failure --parallel "$jobs" --timeout 1200 -R "$ui_regex") || status=1
  echo "sanitizers: tsan tests $(elapsed "$t1"), total $(elapsed "$t0")"
  check_logs "$logs" tsan || status=1
  return $status
}

case "$mode" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all)
    status=0
    run_asan || status=1
    run_tsan || status=1
    exit $status
    ;;
  *)
    echo "usage: bash packaging/sanitizers.sh [asan|tsan|all]" >&2
    exit 2
    ;;
esac
