#!/usr/bin/env bash
# Rank-to-GPU binding: runs PROG with CUDA_VISIBLE_DEVICES set to this rank's one GPU,
# chosen by its local rank (SLURM_LOCALID under srun, OMPI_COMM_WORLD_LOCAL_RANK under
# mpirun, LOCAL_RANK otherwise).
#
# Usage: launch/bind-gpu.sh PROG [ARGS...]     (one process per rank, e.g. under srun)
#   If the launcher already narrowed CUDA_VISIBLE_DEVICES to several GPUs (Slurm gres),
#   the rank takes the local_rank-th of them; if it is already one GPU (srun
#   --gpus-per-task=1), it is kept; unset: GPU number local_rank.
#   LORASUB_CPU=1: no GPU at all (CUDA_VISIBLE_DEVICES=""), for CPU runs and tests.
#   LORASUB_GPUS_PER_NODE=N: the node's GPU count when CUDA_VISIBLE_DEVICES is unset
#   (default: what nvidia-smi lists).
#   A local rank beyond the node's GPUs exits 2: NCCL refuses two ranks on one GPU (and
#   lorasub itself refuses ranks that share one, however they were bound).
set -euo pipefail
[ $# -gt 0 ] || { echo "bind-gpu.sh: usage: bind-gpu.sh PROG [ARGS...]" >&2; exit 2; }
local_rank="${SLURM_LOCALID:-${OMPI_COMM_WORLD_LOCAL_RANK:-${LOCAL_RANK:-0}}}"
if [ "${LORASUB_CPU:-0}" = 1 ]; then
  export CUDA_VISIBLE_DEVICES=""
else
  if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then
    IFS=, read -r -a gpus <<<"$CUDA_VISIBLE_DEVICES"
  else
    n="${LORASUB_GPUS_PER_NODE:-}"
    if [ -z "$n" ] && command -v nvidia-smi >/dev/null 2>&1; then n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true); fi
    gpus=(); for (( i=0; i<${n:-0}; i++ )); do gpus+=("$i"); done
  fi
  if [ "${#gpus[@]}" -eq 0 ]; then
    echo "bind-gpu.sh: local rank $local_rank: no GPU found (set LORASUB_CPU=1 for a CPU run)" >&2; exit 2
  fi
  if [ "${#gpus[@]}" -gt 1 ] || [ -z "${CUDA_VISIBLE_DEVICES:-}" ]; then
    if [ "$local_rank" -ge "${#gpus[@]}" ]; then
      echo "bind-gpu.sh: local rank $local_rank on $(hostname -s 2>/dev/null || echo this node) has no GPU of its own:" \
           "the node has ${#gpus[@]} (${gpus[*]}), and NCCL refuses two ranks on one GPU;" \
           "run at most ${#gpus[@]} ranks per node (srun --ntasks-per-node / mpirun -npernode)" >&2
      exit 2
    fi
    export CUDA_VISIBLE_DEVICES="${gpus[$local_rank]}"
  fi
fi
export LORASUB_LOCAL_RANK="$local_rank"
exec "$@"
