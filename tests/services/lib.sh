# Shared by the service tests. Source after setting src and work.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
fail=0
svc_t0=$(date +%s%N)
# Milliseconds since the test started.
elapsed_ms() { echo $(( ($(date +%s%N) - svc_t0) / 1000000 )); }
ok() { echo "ok   $* ($(elapsed_ms) ms)"; }
bad() { echo "FAIL: $*"; fail=1; }
# Skip (ctest SKIP_RETURN_CODE 77) when a service binary is missing.
need() {
  local b
  for b in "$@"; do
    command -v "$b" >/dev/null 2>&1 || { echo "SKIP: '$b' not installed (scripts/install-deps.sh --with-services)"; exit 77; }
  done
}
# A free TCP port on 127.0.0.1 with the next `span` ports free too.
free_port() {
  "$PY" - "${1:-1}" <<'PY'
import socket, sys, random
span = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000 - span)
    socks = []
    try:
        for p in range(base, base + span):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
        print(base); break
    except OSError:
        pass
    finally:
        for s in socks: s.close()
PY
}
# Stops (TERM, then KILL after 10 s) every pid in the array named by $1, in reverse order.
stop_pids() {
  local -n _pids="$1"; local i p
  for (( i=${#_pids[@]}-1; i>=0; i-- )); do
    p="${_pids[$i]}"
    kill -0 "$p" 2>/dev/null || continue
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  done
  _pids=()
}
# The whole run's verdict and duration.
finish() {
  local s=$(( $(elapsed_ms) / 1000 ))
  if [ "$fail" -eq 0 ]; then echo "PASS $(basename "$0") in ${s} s"; else echo "FAILED $(basename "$0") after ${s} s"; fi
  exit "$fail"
}
