#!/usr/bin/env bash
# The monitoring files against Prometheus' own checker, offline:
#  - promtool check config monitoring/prometheus.yml
#  - promtool check rules monitoring/alerts.yml
#  - promtool test rules monitoring/tests/alerts_test.yml
#  - every Grafana dashboard query parses as PromQL (checked as recording rules)
#  - the dashboard and the rules use only metric names lorasub exports (unit_obs
#    MonitoringNames.*, which compares them to obs::metric_names(); metrics_test checks
#    those against a real scrape)
# Usage: promtool.sh UNIT_OBS_BIN WORK_DIR
set -uo pipefail
unit_obs="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$src/tests/services/lib.sh"
need promtool
rm -rf "$work"; mkdir -p "$work"
mon="$src/monitoring"

promtool check config "$mon/prometheus.yml" >"$work/config.log" 2>&1 \
  && ok "promtool check config prometheus.yml" || { bad "promtool check config"; cat "$work/config.log"; }
promtool check rules "$mon/alerts.yml" >"$work/rules.log" 2>&1 \
  && ok "promtool check rules alerts.yml ($(grep -o '[0-9]* rules found' "$work/rules.log"))" \
  || { bad "promtool check rules"; cat "$work/rules.log"; }
(cd "$mon" && promtool test rules tests/alerts_test.yml) >"$work/test.log" 2>&1 \
  && ok "promtool test rules tests/alerts_test.yml" || { bad "promtool test rules"; cat "$work/test.log"; }

# Dashboard queries -> recording rules, with Grafana's variables replaced.
"$PY" - "$mon/grafana/lorasub-dashboard.json" "$work/dashboard_rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in d["panels"] for t in p["targets"]]
with open(sys.argv[2], "w") as out:
    out.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "1m").replace("$run", ".*")
        out.write(f"      - record: dashboard:q{i}\n        expr: {json.dumps(e)}\n")
print(len(exprs), "queries")
PY
promtool check rules "$work/dashboard_rules.yml" >"$work/dash.log" 2>&1 \
  && ok "every dashboard query parses ($(grep -o '[0-9]* rules found' "$work/dash.log"))" \
  || { bad "a dashboard query does not parse"; cat "$work/dash.log"; }

"$unit_obs" --gtest_filter='MonitoringNames.*' >"$work/names.log" 2>&1 \
  && ok "dashboard and rules use only exported metric names" || { bad "metric names"; cat "$work/names.log"; }
finish
