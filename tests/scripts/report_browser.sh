#!/usr/bin/env bash
# HTML reports in a real browser (Debian's headless chromium):
#  - every `lorasub train` leaves <run dir>/report.html and prints its path;
#  - `lorasub report` over three runs (lora-drs seeds 1 and 2, seq-lora) writes one
#    file; an existing output is refused without --overwrite; a bad run dir is exit 2;
#  - chromium loads the 1-run and the 3-run report with no console message at all
#    (a probe page with a console.error proves such messages are seen), and the DOM
#    it built holds the expected plots, counted from the runs' results.json;
#  - a screenshot of the 3-run report: WORK_DIR/report.png.
# Exit 77 (skipped) without chromium. Usage: report_browser.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then echo "SKIP: no chromium (scripts/install-deps.sh installs it)"; exit 77; fi
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
profile="$(mktemp -d /tmp/lsb-chr.XXXXXX)"  # short: chromium's sockets live under it
trap 'rm -rf "$profile"' EXIT
# chrome ARGS...: headless, offline, a fresh profile; console messages on stderr.
chrome() {
  timeout 180 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$profile" \
    --enable-logging=stderr --v=0 "$@"
}
# console_clean NAME LOG: no console message, uncaught error or refused load in LOG.
console_clean() {
  if grep -E "CONSOLE|Uncaught|Refused to" "$2" >/dev/null; then
    echo "FAIL: $1: browser console:"; grep -E "CONSOLE|Uncaught|Refused to" "$2" | sed 's/^/    /'; fail=1
  else echo "ok   $1: no console messages"; fi
}
# expected_plots RUN_DIR...: what the report must hold, from results.json alone.
expected_plots() {
  "$PY" - "$@" <<'PY'
import json, sys
runs = [json.load(open(d + "/results.json")) for d in sys.argv[1:]]
n = 2 if len(runs) > 1 else 0  # overlaid A_t, throughput per run
for r in runs:
    tasks = r["tasks"]
    drift = r.get("feature_drift") or []
    n += 4  # accuracy matrix, A_t, each task over time, time per phase
    n += len(tasks) >= 2
    n += any(t.get("drs_kept_dims") for t in tasks)
    n += bool(drift) + any("stale_accuracy_drop" in d for d in drift)
    n += all("train_images" in t for t in tasks)
print(n)
PY
}
# plots_in DOM_FILE: the <svg data-plot> elements chromium built.
plots_in() { grep -o '<svg[^>]*data-plot="[^"]*"' "$1" | wc -l; }

cfg="$src/tests/mpi/tiny.yaml"
runs="$work/runs"
for spec in "drs-s1 1 lora-drs" "drs-s2 2 lora-drs" "seq-s1 1 seq-lora"; do
  set -- $spec
  "$bin" train -c "$cfg" --set "run.dir=$runs" --set "run.name=$1" --set "run.seed=$2" --set "method.name=$3" \
    >"$work/$1.out" 2>"$work/$1.err"
  expect_rc 0 $? "train $1"
  expect_in "$work/$1.out" "^report: $runs/$1/report.html" "train $1 prints its report's path"
  [ -s "$runs/$1/report.html" ] || { echo "FAIL: $runs/$1/report.html missing"; fail=1; }
done

out="$work/report.html"
"$bin" report "$runs/drs-s1" "$runs/drs-s2" "$runs/seq-s1" -o "$out" >"$work/report.out" 2>&1
expect_rc 0 $? "lorasub report over 3 runs"
want3=$(expected_plots "$runs/drs-s1" "$runs/drs-s2" "$runs/seq-s1")
expect_in "$work/report.out" "report: 3 run(s), $want3 plots -> $out" "says how many plots"
"$bin" report "$runs/drs-s1" -o "$out" >"$work/again.out" 2>&1; expect_rc 2 $? "an existing output, no --overwrite"
expect_in "$work/again.out" "'$out' exists; pass --overwrite" "names the output and --overwrite"
"$bin" report "$runs/drs-s1" "$runs/drs-s2" "$runs/seq-s1" -o "$out" --overwrite >/dev/null 2>&1
expect_rc 0 $? "--overwrite"
"$bin" report "$runs/drs-s1" "$work/nowhere" -o "$work/bad.html" >"$work/bad.out" 2>&1; expect_rc 2 $? "a missing run dir"
expect_in "$work/bad.out" "run directory '$work/nowhere'" "names the missing run dir"
[ ! -e "$work/bad.html" ] && echo "ok   nothing written for a bad run dir" || { echo "FAIL: bad.html written"; fail=1; }
if grep -qi "<script" "$out" "$runs/drs-s1/report.html"; then echo "FAIL: a report holds a script"; fail=1; fi

# The probe: a console.error must show up in what console_clean reads.
printf '<!DOCTYPE html><html><body><script>console.error("probe-7431")</script></body></html>\n' >"$work/probe.html"
chrome --dump-dom "file://$work/probe.html" >/dev/null 2>"$work/probe.log"
if grep -q "CONSOLE.*probe-7431" "$work/probe.log"; then echo "ok   probe: console messages are captured"
else echo "FAIL: probe: chromium's console output not captured:"; tail -5 "$work/probe.log"; fail=1; fi

chrome --dump-dom "file://$runs/drs-s1/report.html" >"$work/one.dom" 2>"$work/one.log"
expect_rc 0 $? "chromium loads the 1-run report"
console_clean "1-run report" "$work/one.log"
want1=$(expected_plots "$runs/drs-s1"); got1=$(plots_in "$work/one.dom")
[ "$got1" -eq "$want1" ] && echo "ok   1-run report: $got1 plots" || { echo "FAIL: 1-run report: $got1 plots, want $want1"; fail=1; }

chrome --dump-dom "file://$out" >"$work/three.dom" 2>"$work/three.log"
expect_rc 0 $? "chromium loads the 3-run report"
console_clean "3-run report" "$work/three.log"
got3=$(plots_in "$work/three.dom")
[ "$got3" -eq "$want3" ] && echo "ok   3-run report: $got3 plots" || { echo "FAIL: 3-run report: $got3 plots, want $want3"; fail=1; }
for p in accuracy-matrix a-t task-accuracy forgetting drs-kept-dims phase-seconds compare-a-t compare-throughput; do
  grep -q "data-plot=\"$p\"" "$work/three.dom" || { echo "FAIL: no $p plot"; fail=1; }
done
expect_in "$work/three.dom" "lora-drs</td><td>2</td>" "the comparison groups the two lora-drs seeds"

chrome --screenshot="$work/report.png" --window-size=1280,4000 "file://$out" >/dev/null 2>"$work/shot.log"
expect_rc 0 $? "chromium screenshot"
"$PY" - "$work/report.png" <<'PY' || fail=1
import struct, sys
png = open(sys.argv[1], "rb").read()
assert png[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", png[16:24])
assert (w, h) == (1280, 4000), (w, h)
print(f"ok   screenshot {sys.argv[1]}: {w}x{h}, {len(png)} bytes")
PY
[ "$fail" -eq 0 ] && echo "PASS: reports in chromium" || echo "FAILED"
exit "$fail"
