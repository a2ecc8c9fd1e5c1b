#!/usr/bin/env bash
# The demo, from a clean clone: installs what is missing, builds, pre-trains the small
# ViT on the MNIST digits (once; reused while runs/demo-backbone.safetensors exists),
# then runs LoRA-/DRS on Split Fashion-MNIST (5 tasks x 2 classes) on 2 MPI ranks.
#
# Usage: scripts/demo.sh [--set KEY=VALUE ...]   (extra arguments go to `lorasub train`)
#   e.g. scripts/demo.sh --set method.name=seq-lora --set run.name=demo-seq
# Environment: LORASUB_RANKS (default 2), LORASUB_SKIP_DEPS=1 skips the installer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ "${LORASUB_SKIP_DEPS:-0}" != 1 ]; then scripts/install-deps.sh; fi
scripts/build.sh lorasub_cli

ranks="${LORASUB_RANKS:-2}"
backbone=runs/demo-backbone.safetensors
start=$(date +%s)
if [ ! -f "$backbone" ]; then
  echo "== pre-training the demo backbone on the MNIST digits ($ranks ranks)"
  launch/mpirun.sh -n "$ranks" pretrain -c configs/demo-pretrain.yaml --set "pretrain.output=$backbone"
else
  echo "== reusing $backbone (delete it to pre-train again)"
fi
echo "== continual learning on Split Fashion-MNIST ($ranks ranks)"
launch/mpirun.sh -n "$ranks" train -c configs/demo.yaml --set "model.weights=$backbone" "$@"
echo "== demo done in $(( $(date +%s) - start )) s (after the build)"
