#!/usr/bin/env bash
# Runs lorasub on this machine under OpenMPI's mpirun.
#
# Usage: launch/mpirun.sh [-n RANKS] [--bin PATH] [--] SUBCOMMAND [ARGS...]
#   -n RANKS    MPI ranks (default 2; LORASUB_RANKS)
#   --bin PATH  the lorasub binary (default build/lorasub; LORASUB_BIN)
# Example: launch/mpirun.sh -n 2 train -c configs/demo.yaml --set method.name=seq-lora
#
# What it sets for you: --oversubscribe (more ranks than cores is allowed, each rank gets
# cores/ranks intra-op threads), --bind-to none (binding every rank to one core would
# starve its threads), the root permission variables when run as root, and
# LORASUB_PROGRESS from this script's own stdout (mpirun hands rank 0 a pty even when
# the output goes to a file, so the rank cannot tell by itself).
# The exit status is lorasub's: 0 ok, 1 runtime failure, 2 bad config or command line,
# 75 stopped by Ctrl-C/TERM with a checkpoint, 76 stopped at once by a second one.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ranks="${LORASUB_RANKS:-2}"
bin="${LORASUB_BIN:-$here/../build/lorasub}"
while [ $# -gt 0 ]; do
  case "$1" in
    -n) [ $# -ge 2 ] || { echo "mpirun.sh: -n needs a number" >&2; exit 2; }; ranks="$2"; shift 2 ;;
    --bin) [ $# -ge 2 ] || { echo "mpirun.sh: --bin needs a path" >&2; exit 2; }; bin="$2"; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
case "$ranks" in ''|*[!0-9]*|0) echo "mpirun.sh: -n must be a positive integer, got '$ranks'" >&2; exit 2 ;; esac
[ $# -gt 0 ] || { echo "mpirun.sh: no lorasub subcommand given (try --help)" >&2; exit 2; }
if [ ! -x "$bin" ]; then
  echo "mpirun.sh: '$bin' is not an executable; build first (cmake --preset release && cmake --build build) or pass --bin" >&2
  exit 2
fi
command -v mpirun >/dev/null || { echo "mpirun.sh: mpirun not found; run scripts/install-deps.sh" >&2; exit 2; }

if [ -z "${LORASUB_PROGRESS:-}" ]; then
  if [ -t 1 ]; then export LORASUB_PROGRESS=tty; else export LORASUB_PROGRESS=lines; fi
fi
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
# mpirun runs in its own session: Ctrl-C and TERM reach this script only (mpirun itself
# would abort the job on them and exit 1 after the ranks checkpointed). The first one is
# passed to the ranks as USR1: they agree on a step, checkpoint and exit 75; a second
# makes them exit at once (76, the last good checkpoint intact). This script exits with
# the ranks' code.
setsid mpirun -np "$ranks" --oversubscribe --bind-to none -x LORASUB_PROGRESS \
  ${LORASUB_DATA_CACHE:+-x LORASUB_DATA_CACHE} "$bin" "$@" &
mp=$!
stops=0
stop() {
  stops=$((stops + 1))
  if [ "$stops" -eq 1 ]; then
    echo "mpirun.sh: SIG$1: the ranks stop at the next step and checkpoint (send it again to exit at once)" >&2
  else
    echo "mpirun.sh: SIG$1 again: the ranks exit now" >&2
  fi
  kill -USR1 "$mp" 2>/dev/null
}
trap 'stop INT' INT
trap 'stop TERM' TERM
while :; do
  rc=0
  wait "$mp" || rc=$?   # a trapped signal ends `wait` early (set -e must not end us)
  kill -0 "$mp" 2>/dev/null || break
done
exit "$rc"
