#!/usr/bin/env bash
# Runs the demo's continual sequence for several seeds with LoRA-/DRS and the seq-lora
# baseline and prints A_last, A_avg and forgetting per run and their mean +/- std.
# Needs a built tree and the demo backbone (run scripts/demo.sh once first).
#
# Usage: scripts/compare-seeds.sh [SEEDS...]   (default: 1 2 3)
#   extra config overrides: LORASUB_SET="drs.energy=0.95 train.epochs=3"
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
seeds=("$@"); [ ${#seeds[@]} -gt 0 ] || seeds=(1 2 3)
backbone=runs/demo-backbone.safetensors
[ -f "$backbone" ] || { echo "compare-seeds.sh: $backbone missing; run scripts/demo.sh first" >&2; exit 2; }
extra=()
for kv in ${LORASUB_SET:-}; do extra+=(--set "$kv"); done
start=$(date +%s)
for seed in "${seeds[@]}"; do
  for method in lora-drs seq-lora; do
    echo "== $method, seed $seed"
    launch/mpirun.sh -n "${LORASUB_RANKS:-2}" train -c configs/demo.yaml --set "model.weights=$backbone" \
      --set "run.seed=$seed" --set "method.name=$method" --set "run.name=seeds/$method-$seed" \
      "${extra[@]}" | grep -E "A_last"
  done
done
python3 - "${seeds[@]}" <<'PY'
import json, statistics, sys
seeds = sys.argv[1:]
print(f"\n{'method':10} {'seed':>4} {'A_last':>7} {'A_avg':>7} {'forget':>7} {'wall s':>7}")
for method in ("lora-drs", "seq-lora"):
    rows = [json.load(open(f"runs/seeds/{method}-{s}/results.json")) for s in seeds]
    for s, r in zip(seeds, rows):
        print(f"{method:10} {s:>4} {r['A_last']:7.2f} {r['A_avg']:7.2f} {r['forgetting']:7.2f} {r['wall_seconds']:7.1f}")
    def ms(key):
        v = [r[key] for r in rows]
        return f"{statistics.mean(v):6.2f}+-{statistics.stdev(v) if len(v) > 1 else 0:.2f}"
    print(f"{method:10} mean {ms('A_last')} {ms('A_avg')} {ms('forgetting')}")
PY
echo "compare-seeds: $(( $(date +%s) - start )) s"
