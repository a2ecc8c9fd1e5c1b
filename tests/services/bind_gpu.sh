#!/usr/bin/env bash
# launch/bind-gpu.sh: which GPU each local rank gets, on one node or several (no GPU or
# service needed; service.multinode runs it under srun on two nodes).
# Usage: bind_gpu.sh
set -uo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$src/tests/services/lib.sh"
b="$src/launch/bind-gpu.sh"
clean=(env -u CUDA_VISIBLE_DEVICES -u SLURM_LOCALID -u SLURM_PROCID -u SLURM_NODEID -u OMPI_COMM_WORLD_LOCAL_RANK
       -u OMPI_COMM_WORLD_RANK -u LOCAL_RANK -u LORASUB_CPU -u LORASUB_GPUS_PER_NODE)
# expect WANT ENV... : CUDA_VISIBLE_DEVICES seen by the program
expect() {
  local want="$1"; shift
  local got; got=$("${clean[@]}" "$@" "$b" bash -c 'echo "${CUDA_VISIBLE_DEVICES-unset}"' 2>/dev/null)
  [ "$got" = "$want" ] && ok "$* -> '$got'" || bad "$*: got '$got', want '$want'"
}
expect "" LORASUB_CPU=1 SLURM_LOCALID=1 CUDA_VISIBLE_DEVICES=0,1
expect 5 SLURM_LOCALID=2 CUDA_VISIBLE_DEVICES=2,3,5,7
expect 3 SLURM_LOCALID=1 CUDA_VISIBLE_DEVICES=3
expect 3 OMPI_COMM_WORLD_LOCAL_RANK=3 LORASUB_GPUS_PER_NODE=4
expect 0 LOCAL_RANK=0 LORASUB_GPUS_PER_NODE=1
# Several nodes: the local rank picks, not the global one; every node's first rank gets
# its node's first GPU (Slurm narrows CUDA_VISIBLE_DEVICES per node, to its own gres).
expect 0 SLURM_PROCID=4 SLURM_NODEID=1 SLURM_LOCALID=0 CUDA_VISIBLE_DEVICES=0,1,2,3
expect 3 SLURM_PROCID=7 SLURM_NODEID=1 SLURM_LOCALID=3 CUDA_VISIBLE_DEVICES=0,1,2,3
expect 4 SLURM_PROCID=4 SLURM_NODEID=1 SLURM_LOCALID=0 CUDA_VISIBLE_DEVICES=4,5,6,7
expect 0 SLURM_PROCID=1 SLURM_NODEID=1 SLURM_LOCALID=0 LORASUB_GPUS_PER_NODE=1
expect 0 OMPI_COMM_WORLD_RANK=6 OMPI_COMM_WORLD_LOCAL_RANK=0 LORASUB_GPUS_PER_NODE=2
expect 1 OMPI_COMM_WORLD_RANK=7 OMPI_COMM_WORLD_LOCAL_RANK=1 LORASUB_GPUS_PER_NODE=2
"${clean[@]}" OMPI_COMM_WORLD_LOCAL_RANK=2 LORASUB_GPUS_PER_NODE=2 "$b" true 2>/dev/null
[ $? = 2 ] && ok "local rank 2 with 2 GPUs per node: refused" || bad "local rank beyond the GPUs was not refused"
# More ranks than GPUs: refused, never two ranks on one GPU (NCCL would refuse them).
msg=$("${clean[@]}" SLURM_LOCALID=2 CUDA_VISIBLE_DEVICES=0,1 "$b" true 2>&1)
[ $? = 2 ] && ok "local rank 2 with CUDA_VISIBLE_DEVICES=0,1: refused" || bad "local rank 2 of 2 GPUs was not refused"
case "$msg" in *"local rank 2 "*"has no GPU of its own: the node has 2 (0 1)"*"at most 2 ranks per node"*) ok "says why: $msg" ;;
  *) bad "message: '$msg'" ;; esac
"${clean[@]}" PATH=/usr/bin:/bin SLURM_LOCALID=0 "$b" true 2>/dev/null
[ $? = 2 ] || command -v nvidia-smi >/dev/null && ok "no GPU and no LORASUB_CPU: refused (or a GPU exists)" || bad "no GPU was not refused"
"${clean[@]}" SLURM_LOCALID=1 LORASUB_CPU=1 "$b" bash -c '[ "$LORASUB_LOCAL_RANK" = 1 ]' && ok "LORASUB_LOCAL_RANK exported" || bad "LORASUB_LOCAL_RANK"
finish
