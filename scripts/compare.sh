#!/usr/bin/env bash
# Methods x seeds on one config, then one comparison: a table of mean +- sample std per
# method (A_last, A_avg, forgetting, feature drift) and one report.html over every run.
# Needs a built tree; the demo config also needs the demo backbone (scripts/demo.sh once).
#
# Usage: scripts/compare.sh [OPTIONS] [--set KEY=VALUE ...]
#   -c CONFIG        the config (default configs/demo.yaml, with the demo backbone)
#   -o DIR           where the runs and report.html go (default runs/compare)
#   --seeds "S..."   seeds (default "1 2 3")
#   --methods "M..." methods (default "lora-drs seq-lora ncm"); a method may carry
#                    overrides after '+': lora-drs+drs.project=false
#   --ablations      also lora-drs+drs.project=false and lora-drs+drs.subtract=false
#   --overwrite      replace the runs of an earlier comparison in DIR
#   --set KEY=VALUE  passed to every run
# Environment: LORASUB_RANKS (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
config=configs/demo.yaml out=runs/compare seeds="1 2 3" methods="lora-drs seq-lora ncm" overwrite=() extra=()
die() { echo "compare.sh: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -c) config="${2:?-c needs a file}"; shift 2 ;;
    -o) out="${2:?-o needs a directory}"; shift 2 ;;
    --seeds) seeds="${2:?--seeds needs a list}"; shift 2 ;;
    --methods) methods="${2:?--methods needs a list}"; shift 2 ;;
    --ablations) methods="$methods lora-drs+drs.project=false lora-drs+drs.subtract=false"; shift ;;
    --overwrite) overwrite=(--overwrite); shift ;;
    --set) extra+=(--set "${2:?--set needs KEY=VALUE}"); shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[ -f "$config" ] || die "config '$config' not found"
[ -x build/lorasub ] || die "build/lorasub not found: build first (scripts/build.sh lorasub_cli)"
if [ "$config" = configs/demo.yaml ]; then
  backbone=runs/demo-backbone.safetensors
  [ -f "$backbone" ] || die "$backbone missing: run scripts/demo.sh once first"
  extra=(--set "model.weights=$backbone" "${extra[@]}")
fi
# A run directory of an earlier comparison is refused by lorasub itself without
# --overwrite, before it trains: check them all first, so that nothing runs half.
if [ ${#overwrite[@]} -eq 0 ]; then
  for m in $methods; do for s in $seeds; do
    d="$out/${m//[+=.]/_}-s$s"
    [ -e "$d/results.json" ] && die "'$d' holds an earlier run: pass --overwrite to replace the comparison in '$out'"
  done; done
fi
mkdir -p "$out"
start=$(date +%s) n=0 total=$(( $(wc -w <<<"$methods") * $(wc -w <<<"$seeds") ))
for s in $seeds; do
  for m in $methods; do
    n=$((n + 1))
    name="${m//[+=.]/_}-s$s"
    sets=(--set "method.name=${m%%+*}")
    rest="${m#*+}"; [ "$rest" = "$m" ] && rest=""
    IFS=+ read -ra ov <<<"$rest"
    for kv in "${ov[@]}"; do [ -n "$kv" ] && sets+=(--set "$kv"); done
    echo "== [$n/$total] $m, seed $s ($(( $(date +%s) - start )) s so far)"
    launch/mpirun.sh -n "${LORASUB_RANKS:-2}" train -c "$config" "${extra[@]}" "${sets[@]}" \
      --set "run.seed=$s" --set "run.dir=$out" --set "run.name=$name" "${overwrite[@]}" |
      grep -E "A_last|^lorasub: (error|cannot)" || true
    [ -f "$out/$name/results.json" ] || die "run $name wrote no results.json (its output is above)"
  done
done
runs=()
for s in $seeds; do for m in $methods; do runs+=("$out/${m//[+=.]/_}-s$s"); done; done
build/lorasub report "${runs[@]}" -o "$out/report.html" --overwrite >/dev/null
py=/usr/bin/python3; [ -x "$py" ] || py=python3
"$py" - "$methods" "${runs[@]}" <<'PY'
import json, statistics, sys
methods = sys.argv[1].split()
rows = {m: [] for m in methods}
for run in sys.argv[2:]:
    r = json.load(open(f"{run}/results.json"))
    m = next(m for m in methods if run.rsplit("/", 1)[-1].startswith(m.replace("+", "_").replace("=", "_").replace(".", "_") + "-s"))
    last = max((d["after_task"] for d in r.get("feature_drift", [])), default=None)
    fin = [d for d in r.get("feature_drift", []) if d["after_task"] == last]
    r["drift"] = statistics.mean(d["mean_cosine_distance"] for d in fin) if fin else float("nan")
    r["stale"] = statistics.mean(d["stale_accuracy_drop"] for d in fin) if fin else float("nan")
    rows[m].append(r)
def ms(v, f="{:.2f}"):
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    return (f + " ± " + f).format(statistics.mean(v), sd)
print(f"\n| method | A_last | A_avg | forgetting | drift (1-cos) | stale-prototype loss | seeds |")
print("|---|---|---|---|---|---|---|")
for m in methods:
    rs = rows[m]
    print(f"| {m} | {ms([r['A_last'] for r in rs])} | {ms([r['A_avg'] for r in rs])} | "
          f"{ms([r['forgetting'] for r in rs])} | {ms([r['drift'] for r in rs], '{:.4f}')} | "
          f"{ms([r['stale'] for r in rs])} | {len(rs)} |")
print("\nA_last per seed: " + "; ".join(f"{m} " + " ".join(f"{r['A_last']:.2f}" for r in rows[m]) for m in methods))
PY
echo "report: $out/report.html"
echo "compare: $(( $(date +%s) - start )) s"
