#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing, builds everything
# and runs ctest (unit tests, MPI tests under mpirun -np 2, script tests).
#
# Usage: scripts/test.sh [CTEST ARGS...]   e.g. scripts/test.sh -L unit
# Without arguments it also runs scripts/check-debian13.sh (the build and the unit, MPI
# and script tests against LibTorch 2.6 in a Debian 13 root, and the CUDA-conditional
# code against the CUDA LibTorch's headers) and check-debian13.sh --cuda (configure,
# compile and link against the CUDA LibTorch 2.6), scripts/fuzz.sh (every libFuzzer harness,
# 20 s each) and scripts/sanitize.sh --all (every unit test, mpi.equivalence and the MPI
# contract under ASan+UBSan).
# Environment: LORASUB_SKIP_DEPS=1 skips the installer; LORASUB_DEBIAN13=0 skips the
# Debian 13 leg, LORASUB_DEBIAN13_CUDA=0 its CUDA link check (--cuda); LORASUB_FUZZ_SECONDS (0: no fuzzing); LORASUB_SANITIZE=0 skips the
# sanitizer build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${LORASUB_SKIP_DEPS:-0}" != 1 ]; then scripts/install-deps.sh --with-services; fi
scripts/build.sh
start=$(date +%s)
status=0
ctest --preset release "$@" || status=$?
echo "tests: $(( $(date +%s) - start )) s, ctest exit $status"
# The whole suite (no ctest arguments) also builds and tests against LibTorch 2.x, as
# users build it.
if [ $# -eq 0 ] && [ "${LORASUB_DEBIAN13:-1}" != 0 ]; then
  start=$(date +%s)
  scripts/check-debian13.sh || status=1
  echo "debian13: $(( $(date +%s) - start )) s"
  # ... and configures, compiles and links against the CUDA LibTorch 2.6 (2.6 GB).
  if [ "${LORASUB_DEBIAN13_CUDA:-1}" != 0 ]; then
    start=$(date +%s)
    scripts/check-debian13.sh --cuda || status=1
    echo "debian13 --cuda: $(( $(date +%s) - start )) s"
  fi
fi
# The whole suite (no ctest arguments) also fuzzes every parser of outside input for
# LORASUB_FUZZ_SECONDS each (default 20; 0 skips), replaying every past finding first.
fuzz_seconds="${LORASUB_FUZZ_SECONDS:-20}"
if [ $# -eq 0 ] && [ "$fuzz_seconds" != 0 ]; then
  start=$(date +%s)
  scripts/fuzz.sh --seconds "$fuzz_seconds" || status=1
  echo "fuzzing: $(( $(date +%s) - start )) s"
fi
if [ $# -eq 0 ] && [ "${LORASUB_SANITIZE:-1}" != 0 ]; then
  start=$(date +%s)
  scripts/sanitize.sh --all || status=1
  echo "sanitizers: $(( $(date +%s) - start )) s"
fi
exit $status
