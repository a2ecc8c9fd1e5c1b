#!/usr/bin/env bash
# The demo, from a clean clone: installs what is missing, builds, pre-trains the small
# ViT on the MNIST digits (once; reused while runs/demo-backbone.safetensors exists),
# then runs LoRA-/DRS on Split Fashion-MNIST (4 classes, then 3 tasks of 2) on 2 MPI ranks,
# and the frozen-backbone baseline (ncm) on the same tasks, and prints both.
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
# The reference line: the same backbone frozen, class means and cosine NCM, no training.
name=demo dir=runs
for a in "$@"; do case "$a" in run.name=*) name="${a#run.name=}" ;; run.dir=*) dir="${a#run.dir=}" ;; esac; done
echo "== the frozen-backbone baseline on the same tasks (method.name=ncm)"
launch/mpirun.sh -n "$ranks" train -c configs/demo.yaml --set "model.weights=$backbone" "$@" \
  --set method.name=ncm --set "run.name=$name-ncm" | grep -E "A_last|report:"
build/lorasub report "$dir/$name" "$dir/$name-ncm" -o "$dir/$name-comparison.html" --overwrite >/dev/null
py=/usr/bin/python3; [ -x "$py" ] || py=python3
"$py" - "$dir/$name" "$dir/$name-ncm" <<'PY'
import json, sys
print(f"\n{'run':12} {'method':10} {'A_last':>7} {'A_avg':>7} {'forget':>7} {'drift':>7}")
for d in sys.argv[1:]:
    r = json.load(open(f"{d}/results.json"))
    fd = r.get("feature_drift", [])
    last = [x["mean_cosine_distance"] for x in fd if x["after_task"] == max(y["after_task"] for y in fd)] if fd else []
    drift = sum(last) / len(last) if last else float("nan")
    print(f"{d.split('/')[-1]:12} {r['method']:10} {r['A_last']:7.2f} {r['A_avg']:7.2f} {r['forgetting']:7.2f} {drift:7.4f}")
PY
echo "comparison report: $dir/$name-comparison.html (3 seeds of every method: scripts/compare.sh)"
echo "== demo done in $(( $(date +%s) - start )) s (after the build)"
