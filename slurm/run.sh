#!/usr/bin/env bash
# The body of every sbatch template: runs `lorasub train ... --resume auto` on the job's
# tasks with `srun --mpi=pmix`, one GPU per rank (launch/bind-gpu.sh), forwards the
# time-limit / preemption signal to the ranks, and requeues the job when lorasub asks
# for it (exit 75: stopped and checkpointed; 76: forced stop, previous checkpoint kept).
#
# Usage (inside an allocation): slurm/run.sh [lorasub train ARGS...]
# Environment:
#   LORASUB_ROOT  the repository (default: SLURM_SUBMIT_DIR, i.e. sbatch from the repo root)
#   LORASUB_BIN   the lorasub binary (default: $LORASUB_ROOT/build/lorasub)
#   LORASUB_CPU=1 CPU ranks: no GPU binding, train.device=cpu, dist.backend=mpi
#   LORASUB_NO_REQUEUE=1  exit with lorasub's code instead of requeueing
# Exit status: lorasub's (0 done; 75/76/138/143 only when not requeued). Sourced by the
# sbatch templates (their trap catches a signal that comes before this script's own).
set -uo pipefail
root="${LORASUB_ROOT:-${SLURM_SUBMIT_DIR:-$(pwd)}}"
bin="${LORASUB_BIN:-$root/build/lorasub}"
[ -x "$bin" ] || { echo "run.sh: '$bin' is not an executable (set LORASUB_BIN or LORASUB_ROOT)" >&2; exit 2; }
args=(train "$@" --resume auto)
[ "${LORASUB_CPU:-0}" = 1 ] && args+=(--set dist.backend=mpi --set train.device=cpu)
export LORASUB_PROGRESS="${LORASUB_PROGRESS:-lines}"

echo "=== $(date -u +%FT%TZ) job ${SLURM_JOB_ID:-?}${SLURM_ARRAY_TASK_ID:+ (array task $SLURM_ARRAY_TASK_ID)}" \
     "restart ${SLURM_RESTART_COUNT:-0}: ${SLURM_NTASKS:-?} ranks on ${SLURM_JOB_NODELIST:-?}" \
     "$([ "${LORASUB_CPU:-0}" = 1 ] && echo '(CPU)')"
srun --mpi=pmix "$root/launch/bind-gpu.sh" "$bin" "${args[@]}" &
step=$!
# Slurm signals only this shell (--signal=B:...): pass it to the ranks, which agree on a
# step, checkpoint and exit 75. `wait` returns early on a trapped signal: wait again.
forward() {
  echo "=== $(date -u +%FT%TZ) got SIG$1: forwarding it to the ranks"
  kill -s "$1" "$step" 2>/dev/null
}
trap 'forward USR1' USR1
trap 'forward TERM' TERM
# A signal that came before these traps (the sbatch template recorded it) is passed on now.
if [ -n "${LORASUB_EARLY_SIGNAL:-}" ]; then
  echo "=== $(date -u +%FT%TZ) SIG$LORASUB_EARLY_SIGNAL came as the job started"
  forward "$LORASUB_EARLY_SIGNAL"
fi
while :; do
  wait "$step"; rc=$?
  kill -0 "$step" 2>/dev/null || break
done
trap - USR1 TERM
echo "=== $(date -u +%FT%TZ) lorasub exited with $rc"
# 75: stopped and checkpointed; 76: forced stop, the previous checkpoint intact; 138/143:
# killed by the forwarded USR1/TERM before lorasub could trap it (it was still starting),
# so nothing was written since the previous checkpoint: all continue with --resume auto.
case "$rc" in 75|76|138|143) stopped=1 ;; *) stopped=0 ;; esac
if [ "$stopped" = 1 ] && [ -n "${SLURM_JOB_ID:-}" ] && [ "${LORASUB_NO_REQUEUE:-0}" != 1 ]; then
  echo "=== requeueing job $SLURM_JOB_ID; it continues with --resume auto"
  scontrol requeue "$SLURM_JOB_ID" && exit 0
  echo "=== scontrol requeue failed (is the job --requeue / JobRequeue=1?)" >&2
fi
exit "$rc"
