#!/usr/bin/env bash
# Methods x seeds (x backbones) on one config, then one comparison: a table of mean +-
# sample std per method (A_last, A_avg, forgetting, feature drift, wall time) and one
# report.html over every run. Needs a built tree; the demo config also needs the demo
# backbone (scripts/demo.sh once), or --backbones to pre-train its own.
#
# Usage: scripts/compare.sh [OPTIONS] [--set KEY=VALUE ...]
#   -c CONFIG        the config (default configs/demo.yaml, with the demo backbone)
#   -o DIR           where the runs and report.html go (default runs/compare)
#   --seeds "S..."   seeds (default "1 2 3")
#   --methods "M..." methods (default "lora-drs seq-lora ncm"); a method may carry
#                    overrides after '+': lora-drs+drs.project=false
#   --ablations      also lora-drs+drs.project=false and lora-drs+drs.subtract=false
#   --backbones "P..." (demo config) pre-train one demo backbone per seed P
#                    (configs/demo-pretrain.yaml, run.seed=P; kept in DIR and reused)
#                    and run every method x seed on each; default: the demo backbone
#   --overwrite      replace the runs of an earlier comparison in DIR
#   --set KEY=VALUE  passed to every run
# Environment: LORASUB_RANKS (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
config=configs/demo.yaml out=runs/compare seeds="1 2 3" methods="lora-drs seq-lora ncm" overwrite=() extra=()
backbones=""
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
    --backbones) backbones="${2:?--backbones needs a list}"; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (try --help)" ;;
  esac
done
[ -f "$config" ] || die "config '$config' not found"
[ -x build/lorasub ] || die "build/lorasub not found: build first (scripts/build.sh lorasub_cli)"
[ -z "$backbones" ] || [ "$config" = configs/demo.yaml ] || die "--backbones pre-trains demo backbones: it needs -c configs/demo.yaml"
# One backbone set-up per entry: "tag weights" (tag empty: the demo backbone).
setups=()
if [ -n "$backbones" ]; then
  for p in $backbones; do setups+=("b$p $out/backbone-$p.safetensors"); done
elif [ "$config" = configs/demo.yaml ]; then
  [ -f runs/demo-backbone.safetensors ] || die "runs/demo-backbone.safetensors missing: run scripts/demo.sh once first"
  setups+=(" runs/demo-backbone.safetensors")
else
  setups+=(" ")
fi
run_name() {  # METHOD SEED TAG
  local n="${1//[+=.]/_}"; [ -n "$3" ] && n="$n-$3"; echo "$n-s$2"
}
# A run directory of an earlier comparison is refused by lorasub itself without
# --overwrite, before it trains: check them all first, so that nothing runs half.
if [ ${#overwrite[@]} -eq 0 ]; then
  for su in "${setups[@]}"; do for m in $methods; do for s in $seeds; do
    d="$out/$(run_name "$m" "$s" "${su%% *}")"
    [ -e "$d/results.json" ] && die "'$d' holds an earlier run: pass --overwrite to replace the comparison in '$out'"
  done; done; done
fi
mkdir -p "$out"
start=$(date +%s) n=0 total=$(( ${#setups[@]} * $(wc -w <<<"$methods") * $(wc -w <<<"$seeds") ))
runs=()
for su in "${setups[@]}"; do
  tag="${su%% *}" weights="${su#* }" wset=()
  if [ -n "$tag" ] && [ ! -f "$weights" ]; then
    echo "== pre-training backbone $tag (configs/demo-pretrain.yaml, run.seed=${tag#b})"
    launch/mpirun.sh -n "${LORASUB_RANKS:-2}" pretrain -c configs/demo-pretrain.yaml --set "run.seed=${tag#b}" \
      --set "pretrain.output=$weights" | grep -E "accuracy|^lorasub: (error|cannot)" || true
    [ -f "$weights" ] || die "pre-training backbone $tag wrote no $weights (its output is above)"
  fi
  [ -n "$weights" ] && wset=(--set "model.weights=$weights")
  for s in $seeds; do
    for m in $methods; do
      n=$((n + 1))
      name="$(run_name "$m" "$s" "$tag")"
      sets=(--set "method.name=${m%%+*}")
      rest="${m#*+}"; [ "$rest" = "$m" ] && rest=""
      IFS=+ read -ra ov <<<"$rest"
      for kv in "${ov[@]}"; do [ -n "$kv" ] && sets+=(--set "$kv"); done
      echo "== [$n/$total] $m, seed $s${tag:+, backbone $tag} ($(( $(date +%s) - start )) s so far)"
      launch/mpirun.sh -n "${LORASUB_RANKS:-2}" train -c "$config" "${wset[@]}" "${extra[@]}" "${sets[@]}" \
        --set "run.seed=$s" --set "run.dir=$out" --set "run.name=$name" "${overwrite[@]}" |
        grep -E "A_last|^lorasub: (error|cannot)" || true
      [ -f "$out/$name/results.json" ] || die "run $name wrote no results.json (its output is above)"
      runs+=("$out/$name")
    done
  done
done
build/lorasub report "${runs[@]}" -o "$out/report.html" --overwrite >/dev/null
py=/usr/bin/python3; [ -x "$py" ] || py=python3
"$py" - "$methods" "${runs[@]}" <<'PY'
import json, statistics, sys
methods = sys.argv[1].split()
rows = {m: [] for m in methods}
key = lambda m: m.replace("+", "_").replace("=", "_").replace(".", "_")
for run in sys.argv[2:]:
    r = json.load(open(f"{run}/results.json"))
    base = run.rsplit("/", 1)[-1]
    # the longest method key the run name starts with (seq-lora vs seq-lora+x)
    m = max((m for m in methods if base.startswith(key(m) + "-")), key=lambda m: len(key(m)))
    last = max((d["after_task"] for d in r.get("feature_drift", [])), default=None)
    fin = [d for d in r.get("feature_drift", []) if d["after_task"] == last]
    r["drift"] = statistics.mean(d["mean_cosine_distance"] for d in fin) if fin else float("nan")
    r["stale"] = statistics.mean(d["stale_accuracy_drop"] for d in fin) if fin else float("nan")
    r["name"] = base
    rows[m].append(r)
def ms(v, f="{:.2f}"):
    sd = statistics.stdev(v) if len(v) > 1 else float("nan")
    return (f + " ± " + f).format(statistics.mean(v), sd)
print(f"\n| method | A_last | A_avg | forgetting | drift (1-cos) | stale-prototype loss | wall s | runs |")
print("|---|---|---|---|---|---|---|---|")
for m in methods:
    rs = rows[m]
    print(f"| {m} | {ms([r['A_last'] for r in rs])} | {ms([r['A_avg'] for r in rs])} | "
          f"{ms([r['forgetting'] for r in rs])} | {ms([r['drift'] for r in rs], '{:.4f}')} | "
          f"{ms([r['stale'] for r in rs])} | {ms([r['wall_seconds'] for r in rs], '{:.0f}')} | {len(rs)} |")
print("\nA_last per run: " + "; ".join(f"{m} " + " ".join(f"{r['A_last']:.2f}" for r in rows[m]) for m in methods))
PY
echo "report: $out/report.html"
echo "compare: $(( $(date +%s) - start )) s"
