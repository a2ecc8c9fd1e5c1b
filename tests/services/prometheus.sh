#!/usr/bin/env bash
# A real Prometheus server finds a 2-rank training through file_sd and scrapes both ranks.
#  1. prometheus on 127.0.0.1 (temporary TSDB), configured from monitoring/prometheus.yml
#     with the file_sd directory pointed at this test's and 1 s intervals;
#  2. lorasub train on 2 MPI ranks: tasks 1 and 2 short, without metrics (the feature drift
#     of task 1 is measured after task 2); then the run resumes with metrics.enabled and
#     metrics.file_sd_dir, shows task 2's accuracies and that drift again, and task 3 is
#     long (a covariance pass, a checkpoint every 10 steps);
#  3. the HTTP API is queried until both ranks' targets are up, lorasub_steps_total of both
#     ranks is growing, and every metric the dashboard uses has a series;
#  4. SIGUSR1 to rank 1: the run stops (exit 75) and rank 0 removes its file_sd file.
# Every process started here is stopped by pid, also on failure.
# Usage: prometheus.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$src/tests/services/lib.sh"
need prometheus mpirun curl
rm -rf "$work"; mkdir -p "$work/tsdb" "$work/sd"
pids=()
trap 'stop_pids pids' EXIT

pport=$(free_port 1); mport=$(free_port 2)
sed -e "s|/var/lib/prometheus/lorasub/\*.json|$work/sd/*.json|" \
    -e "s|scrape_interval: 15s|scrape_interval: 1s|" -e "s|evaluation_interval: 15s|evaluation_interval: 1s|" \
    -e "s|refresh_interval: 30s|refresh_interval: 1s|" "$src/monitoring/prometheus.yml" >"$work/prometheus.yml"
cp "$src/monitoring/alerts.yml" "$work/alerts.yml"
grep -q "$work/sd/\*.json" "$work/prometheus.yml" || { bad "file_sd path not found in monitoring/prometheus.yml"; finish; }
setsid prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" --web.enable-lifecycle >"$work/prometheus.log" 2>&1 &
pids+=($!)
api="http://127.0.0.1:$pport"
for _ in $(seq 100); do curl -sf "$api/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "$api/-/ready" >/dev/null && ok "prometheus ready on 127.0.0.1:$pport" || { bad "prometheus not ready"; cat "$work/prometheus.log"; finish; }

# query EXPR -> the number of series in the result
query() {
  curl -s "$api/api/v1/query" --data-urlencode "query=$1" |
    "$PY" -c 'import json,sys; d=json.load(sys.stdin); print(len(d["data"]["result"]) if d.get("status")=="success" else -1)'
}

export LORASUB_PROGRESS=lines
common=(-c "$src/tests/mpi/tiny.yaml" --set run.dir="$work/runs" --set run.name=prom
        --set data.synthetic_classes=6 --set train.init_epochs=1)
mpirun -np 2 --oversubscribe --bind-to none "$bin" train "${common[@]}" --set train.epochs=1 --tasks 2 \
  >"$work/first.out" 2>"$work/first.err" || { bad "the first two tasks failed"; cat "$work/first.err"; finish; }
mpirun -np 2 --oversubscribe --bind-to none "$bin" train "${common[@]}" --set train.epochs=100000 \
  --resume auto --allow-config-change --set ckpt.every_steps=10 \
  --set metrics.enabled=true --set metrics.port="$mport" --set metrics.file_sd_dir="$work/sd" \
  >"$work/train.out" 2>"$work/train.err" &
mp=$!; pids+=("$mp")
sd="$work/sd/lorasub-prom.json"
for _ in $(seq 300); do [ -f "$sd" ] && break; sleep 0.1; done
if [ -f "$sd" ]; then
  ok "rank 0 wrote $(basename "$sd"): $(tr -d ' \n' <"$sd")"
  grep -q "127.0.0.1:$mport\"" "$sd" && grep -q "127.0.0.1:$((mport + 1))\"" "$sd" \
    && ok "it lists both ranks (ports $mport and $((mport + 1)))" || bad "file_sd targets: $(cat "$sd")"
else
  bad "no file_sd file in $work/sd"; cat "$work/train.err"; finish
fi

seen=0
for _ in $(seq 120); do
  up=$(query 'up{job="lorasub",run="prom"} == 1')
  steps=$(query 'rate(lorasub_steps_total{job="lorasub",run="prom"}[5s]) > 0')
  if [ "$up" = 2 ] && [ "$steps" = 2 ]; then seen=1; break; fi
  kill -0 "$mp" 2>/dev/null || break
  sleep 0.5
done
[ "$seen" = 1 ] && ok "prometheus scrapes both ranks through file_sd and their step counters grow" \
  || { bad "metrics of both ranks did not appear (up: $up, growing steps: $steps)"; tail -5 "$work/train.err"; }
for r in 0 1; do
  [ "$(query "lorasub_steps_total{run=\"prom\",rank=\"$r\"} > 0")" = 1 ] && ok "lorasub_steps_total of rank $r" || bad "no lorasub_steps_total for rank $r"
done

# Every name the dashboard queries has a series (the first task is done by now).
names=$("$PY" - "$src/monitoring/grafana/lorasub-dashboard.json" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
text = " ".join(t["expr"] for p in d["panels"] for t in p["targets"])
print(" ".join(sorted(set(re.findall(r"lorasub_[a-z0-9_]+", text)))))
PY
)
for _ in $(seq 60); do  # the first task's end (accuracy, checkpoint) may still be coming
  missing=""
  for n in $names; do [ "$(query "$n{run=\"prom\"}")" -ge 1 ] 2>/dev/null || missing="$missing $n"; done
  [ -z "$missing" ] && break
  sleep 0.5
done
[ -z "$missing" ] && ok "every metric the dashboard uses has a series ($(echo $names | wc -w) names)" \
  || bad "no series in Prometheus for:$missing"
[ "$(query 'lorasub_task_accuracy_ratio{run="prom",rank="0",task="1"} > 0')" = 1 ] && ok "task 1 accuracy recorded" || bad "no task 1 accuracy"
# Task 1's feature drift after task 2, from the resumed run's checkpoint, equals results.json's.
drift=$(curl -s "$api/api/v1/query" --data-urlencode 'query=lorasub_feature_drift{run="prom",rank="0",task="1"}' |
  "$PY" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")')
want=$("$PY" -c 'import json,sys; print([d["mean_cosine_distance"] for d in json.load(open(sys.argv[1]))["feature_drift"]][0])' \
  "$work/runs/prom/results.json" 2>/dev/null)
"$PY" -c 'import sys; a, b = sys.argv[1:]; sys.exit(0 if a != "none" and float(b) > 0 and abs(float(a) - float(b)) <= 1e-9 * float(b) else 1)' \
  "$drift" "${want:-nan}" && ok "lorasub_feature_drift{task=\"1\"} scraped: $drift (results.json: $want)" \
  || bad "lorasub_feature_drift{task=\"1\"}: '$drift', results.json of the first two tasks: '$want'"

# The agreed stop: the run ends with 75 and the target file goes away.
pid1=""
for p in $(pgrep -P "$mp"); do
  tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && pid1=$p
done
[ -n "$pid1" ] && kill -USR1 "$pid1"
wait "$mp"; rc=$?
[ "$rc" = 75 ] && ok "SIGUSR1: training stopped with 75" || { bad "training exit $rc (want 75)"; tail -20 "$work/train.err"; }
[ ! -e "$sd" ] && ok "file_sd file removed at exit" || bad "$sd still there after exit"
ls "$work/sd" | grep -q . && bad "left in $work/sd: $(ls -A "$work/sd")"
stop_pids pids
ok "prometheus stopped"
finish
