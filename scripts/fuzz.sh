#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz, clang + ASan/UBSan over core, data, io) and
# runs each: first its regression inputs (tests/fuzz/regressions/<name>/: every crash
# ever found, replayed), then a timed run from its seed corpus (tests/fuzz/corpus/<name>/,
# plus the seeds tests/fuzz/make_seeds.cpp writes: HDF5 files, CIFAR-100 pickles).
# Prints executions and coverage per harness; exits 1 on any crash, leak, UB or timeout
# (the input that did it is kept under build-fuzz/findings/<name>/).
#
# Usage: scripts/fuzz.sh [--seconds N] [HARNESS...]    (default 20 s each, every harness)
#   LORASUB_FUZZ_TIMEOUT: seconds one input may take (default 10; more on a loaded machine)
#   LORASUB_FUZZ_JOBS: harnesses run at once (default: the number of cores)
#   e.g. scripts/fuzz.sh --seconds 600 fuzz_decode
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds=20 names=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found (apt-get install clang)" >&2; exit 2; }
build=build-fuzz
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null || exit 1
fi
start=$(date +%s)
cmake --build "$build" || exit 1
echo "fuzz: built in $(( $(date +%s) - start )) s"
[ ${#names[@]} -gt 0 ] || names=($(cd tests/fuzz && ls fuzz_*.cpp | sed 's/\.cpp$//'))
"$build/make_seeds" "$build/seeds" || { echo "fuzz: make_seeds failed"; exit 1; }
# Harnesses run side by side, one per core (LORASUB_FUZZ_JOBS to change): each still
# gets its full --seconds. One result line each, printed in order at the end.
parallel="${LORASUB_FUZZ_JOBS:-$(nproc)}"
fuzz_one() {  # fuzz_one NAME: writes the result line to $build/NAME.result; exit 1 on failure
  local n="$1" bin="$build/$1" work="$build/work/$1" found="$build/findings/$1" regress="tests/fuzz/regressions/$1"
  local res="$build/$n.result"
  if [ ! -x "$bin" ]; then printf '%-20s %s\n' "$n" "no such harness" >"$res"; return 2; fi
  mkdir -p "$work" "$found"
  if [ -d "$regress" ] && [ -n "$(ls -A "$regress")" ]; then
    if ! "$bin" -runs=0 "$regress"/* >"$build/$n.regress.log" 2>&1; then
      { printf '%-20s %s\n' "$n" "FAILED: a regression input fails again:"; tail -20 "$build/$n.regress.log"; } >"$res"
      return 1
    fi
  fi
  local seeds=() d
  for d in "tests/fuzz/corpus/$n" "$build/seeds/$n"; do [ -d "$d" ] && seeds+=("$d"); done
  "$bin" -max_total_time="$seconds" -timeout="${LORASUB_FUZZ_TIMEOUT:-10}" -rss_limit_mb=2048 -max_len=4194304 \
    -artifact_prefix="$found/" -print_final_stats=1 "$work" "${seeds[@]}" >"$build/$n.log" 2>&1
  local rc=$? line execs rate cov ft result
  line=$(grep -E "^#[0-9]+[[:space:]]+DONE" "$build/$n.log" | tail -1)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/$n.log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build/$n.log")
  cov=$(echo "$line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p'); ft=$(echo "$line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
  if [ "$rc" -eq 0 ]; then result=ok; else result="FAILED (rc $rc): see $build/$n.log, input in $found/"; fi
  printf '%-20s %12s %10s %8s %8s  %s\n' "$n" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$result" >"$res"
  [ "$rc" -eq 0 ]
}
status=0 running=()
for n in "${names[@]}"; do
  rm -f "$build/$n.result"
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  fuzz_one "$n" &
  running+=($!)
done
for p in "${running[@]}"; do wait "$p" || status=1; done
printf '%-20s %12s %10s %8s %8s  %s\n' harness execs exec/s cov ft result
for n in "${names[@]}"; do cat "$build/$n.result" 2>/dev/null || { echo "$n: no result"; status=1; }; done
exit $status
