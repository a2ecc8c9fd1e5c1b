#!/usr/bin/env bash
# Unit tests and the MPI Communicator contract built with AddressSanitizer and
# UndefinedBehaviorSanitizer (the `asan` preset: clang -O1 -g1, build-asan/; gcc -O2 -g
# took 526 s on 2 cores for what clang builds in 134 s) and run there. Any
# sanitizer report fails the run (halt_on_error). Leak detection is off: LibTorch and
# OpenMPI keep process-lifetime allocations that LeakSanitizer reports as leaks (the
# fuzzers, scripts/fuzz.sh, run with leak detection on over core, data and io).
#
# Default: the modules without LibTorch (core, data, io, obs, report and their unit
# tests; dist and mpi.contract on 2 ranks), about 2.5 min on 2 cores from scratch.
# --all (what scripts/test.sh runs in CI): also model, method, train and mpi.equivalence,
# every unit and MPI test program; 328-391 s from a fresh clone on 2 idle cores.
#
# Usage: scripts/sanitize.sh [--all] [CTEST ARGS...]   e.g. scripts/sanitize.sh -R SafeTensors
# LORASUB_SANITIZE=0 makes scripts/test.sh skip it.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
all=0
case "${1:-}" in
  -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
  --all) all=1; shift ;;
esac
build=build-asan
start=$(date +%s)
# A build-asan/ configured by an older lorasub with gcc is rebuilt with clang.
if [ -f "$build/CMakeCache.txt" ] && ! grep -q '^CMAKE_CXX_COMPILER:[A-Z]*=.*clang++' "$build/CMakeCache.txt"; then
  echo "sanitize: $build/ was configured with another compiler: configuring it again with clang"
  rm -rf "$build"
fi
if [ ! -f "$build/build.ninja" ]; then
  cmake --preset asan >/dev/null || { echo "sanitize: cmake --preset asan failed" >&2; exit 1; }
fi
targets=(mpi_contract) torch_units="model method train" units=()
[ "$all" = 1 ] && targets+=(mpi_equivalence)
for d in tests/unit/*/; do
  n=$(basename "$d")
  ls "$d"*_test.cpp >/dev/null 2>&1 || continue
  [ "$all" = 0 ] && [[ " $torch_units " == *" $n "* ]] && continue
  units+=("unit_$n")
done
targets+=("${units[@]}")
cmake --build "$build" --target "${targets[@]}" || exit 1
echo "sanitize: built ${#targets[@]} test programs in $(( $(date +%s) - start )) s"

export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
start=$(date +%s)
status=0
# A sanitizer that reports without failing its test (a child process, a death test)
# still leaves its mark in the test log: that fails the run too.
run_ctest() {
  ctest --test-dir "$build" --output-on-failure "$@" || status=1
  if grep -lE "ERROR: AddressSanitizer|runtime error:" "$build/Testing/Temporary/LastTest"*.log 2>/dev/null; then
    echo "sanitize: sanitizer reports in the test log above" >&2; status=1
  fi
}
if [ $# -gt 0 ]; then
  run_ctest -j2 "$@"
else
  # Unit programs not built here (LibTorch ones without --all) show up as *_NOT_BUILT.
  run_ctest -j2 -L unit -E '_NOT_BUILT$'
  mpi_re='^mpi\.(contract|contract_local)$'; [ "$all" = 1 ] && mpi_re='^mpi\.(contract|contract_local|equivalence)$'
  run_ctest -R "$mpi_re"
fi
echo "sanitize: tests in $(( $(date +%s) - start )) s, status $status"
exit $status
