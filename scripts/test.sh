#!/usr/bin/env bash
# The whole test suite, from a clean clone: installs what is missing, builds everything
# and runs ctest (unit tests, MPI tests under mpirun -np 2, script tests).
#
# Usage: scripts/test.sh [CTEST ARGS...]   e.g. scripts/test.sh -L unit
# Environment: LORASUB_SKIP_DEPS=1 skips the installer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${LORASUB_SKIP_DEPS:-0}" != 1 ]; then scripts/install-deps.sh --with-services; fi
scripts/build.sh
start=$(date +%s)
status=0
ctest --preset release "$@" || status=$?
echo "tests: $(( $(date +%s) - start )) s, ctest exit $status"
exit $status
