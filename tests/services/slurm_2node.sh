#!/usr/bin/env bash
# slurm/lorasub-multinode.sbatch on a real two-node Slurm cluster: node1 and node2 are
# network + UTS namespaces joined by a bridge (netns_lib.sh), each running its own slurmd;
# munged, slurmctld and a Prometheus server run in the root namespace. CPU mode
# (LORASUB_CPU=1, --gres=none), one rank per node (--nodes=2 --ntasks-per-node=1, srun
# --mpi=pmix), the run directory shared (node2 sees it read-only: rank 1 must write nothing).
#  0. launch/bind-gpu.sh under srun, 2 nodes x 2 ranks: each node's local rank 0 gets
#     device 0;
#  M. metrics: metrics.bind=<the nodes' network> and file_sd: the targets are each node's
#     own address, Prometheus scrapes both ranks through the bridge; the ranks run as
#     node1 and node2, and their MPI connection goes over the nodes' addresses (ss) and
#     the veths; USR1 stops the job (no requeue) and the target file goes away;
#  A. a run completes; its accuracy matrix and adapters are bit-identical to the same
#     config on 2 ranks of one host (mpirun here), its outputs written once, by rank 0;
#  B. the same run with a 2-minute limit and --signal=B:USR1@60: slurmctld sends it at its
#     first 30-s check where the time left is <= 60 + 30 s, i.e. 30-60 s into the attempt
#     (with @90 or more it would come at the first check, possibly before the batch shell
#     has started: Slurm 22.05 job_mgr.c send_job_warn_signal); the test holds B's ranks (SIGSTOP)
#     from the end of task 1 until the batch shell has it, so that B is mid-run whatever the
#     machine's speed; both ranks stop at the same step, checkpoint, exit 75, the job
#     requeues, restarts with its limit raised (one stop is the point), resumes, and ends
#     bit-identical to A.
# Everything started here is stopped by pid, the namespaces, veths and bridge removed,
# also on failure. Skips (77) where namespaces cannot be made or not root.
# Usage: slurm_2node.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$(realpath "$1")"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
. "$src/tests/scripts/lib.sh"      # compare
. "$src/tests/services/lib.sh"
. "$src/tests/services/netns_lib.sh"
. "$src/tests/services/slurm_lib.sh"
. "$src/tests/services/slurm_2node_lib.sh"
need slurmctld slurmd munged mungekey sbatch scontrol scancel srun sinfo prometheus curl mpirun ss
[ "$(id -u)" = 0 ] || { echo "SKIP: the test cluster runs as root (namespaces, SlurmUser=root)"; exit 77; }
unset SLURM_CONF   # never a real cluster's: slurm_stop shuts down whatever it names
rm -rf "$work"; mkdir -p "$work/runs" "$work/sd" "$work/tsdb"
pids=() side=()   # side: prometheus and mpirun, stopped after the cluster
held=() hold=0
cleanup() {
  # B's ranks, if the test stopped them and did not release them yet.
  [ "$hold" != 2 ] && [ -s "$work/held.pids" ] && kill -CONT $(cat "$work/held.pids") 2>/dev/null
  slurm2_stop
  stop_pids side
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
slurm2_start "$work/runs"; rc=$?
[ "$rc" = 77 ] && exit 77
[ "$rc" = 0 ] || finish
ok "cluster up: $(sinfo -h -N -o '%N %T' | tr '\n' ' ')(node1 ${node_addr[1]}, node2 ${node_addr[2]}, slurmctld on $head_addr)"
net="${node_addr[1]%.*}.0/24"

# --- helpers ------------------------------------------------------------------------
comm=$(basename "$bin" | cut -c1-15)   # the ranks' process name
# job_ranks JOB: "pid rank" of each lorasub process of JOB (found by its environment).
job_ranks() {
  local p e
  for p in $(pgrep -x "$comm"); do
    e=$(tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null) || continue
    grep -qx "SLURM_JOB_ID=$1" <<<"$e" || continue
    echo "$p $(sed -n 's/^SLURM_PROCID=//p' <<<"$e")"
  done
}
# where_ranks JOB: "rank R: host H (namespace of node N), pid P" per rank, sorted; the
# host is the rank's own UTS hostname, the node the one whose network namespace it is in.
where_ranks() {
  local p r i node
  job_ranks "$1" | while read -r p r; do
    node="?"
    for i in 1 2; do
      [ "$(readlink "/proc/$p/ns/net")" = "$(readlink "/proc/${node_pid[i]}/ns/net")" ] && node="node$i"
    done
    echo "rank $r: host $(nsenter -t "$p" -u hostname 2>/dev/null) (network namespace of $node), pid $p"
  done | sort
}
# check_where JOB NAME TEXT: TEXT (from where_ranks) shows rank i on node(i+1), with that hostname.
check_where() {
  if grep -q "^rank 0: host node1 (network namespace of node1)" <<<"$3" &&
     grep -q "^rank 1: host node2 (network namespace of node2)" <<<"$3" && [ "$(wc -l <<<"$3")" = 2 ]; then
    ok "$2: one rank per node, each with its node's hostname: $(tr '\n' ';' <<<"$3")"
  else
    bad "$2: ranks not one per node: '$3'"
  fi
}
veth_bytes() { echo $(( $(cat "/sys/class/net/${net_veth[$1]}/statistics/rx_bytes") + $(cat "/sys/class/net/${net_veth[$1]}/statistics/tx_bytes") )); }
# forget PID: drop a reaped child from `side` (its pid may be reused).
forget() { local keep=() p; for p in "${side[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done; side=("${keep[@]}"); }
ended() { case "$1" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE|PREEMPTED) return 0 ;; esac; return 1; }

export LORASUB_CPU=1 LORASUB_BIN="$bin" LORASUB_ROOT="$src"
# OpenMPI's TCP transport on the nodes' network only (a multi-node user's duty: README).
common=(--parsable --gres=none --nodes=2 --ntasks-per-node=1 --cpus-per-task=1
        --export="ALL,OMPI_MCA_btl_tcp_if_include=$net")
cd "$work"

# --- launch/bind-gpu.sh under srun on both nodes: each node's first rank, device 0 -----
# (no GPUs here: LORASUB_GPUS_PER_NODE stands in for nvidia-smi's count)
bg=$(env -u CUDA_VISIBLE_DEVICES -u LORASUB_CPU LORASUB_GPUS_PER_NODE=2 timeout 120 srun --mpi=none --nodes=2 --ntasks-per-node=2 \
       --cpus-per-task=1 "$src/launch/bind-gpu.sh" \
       sh -c 'echo "rank $SLURM_PROCID on $(hostname): local rank $SLURM_LOCALID, device $CUDA_VISIBLE_DEVICES"' 2>&1 | sort)
want_bg="rank 0 on node1: local rank 0, device 0
rank 1 on node1: local rank 1, device 1
rank 2 on node2: local rank 0, device 0
rank 3 on node2: local rank 1, device 1"
[ "$bg" = "$want_bg" ] && ok "bind-gpu.sh under srun, 2 nodes x 2 ranks: $(tr '\n' ';' <<<"$bg")" || bad "bind-gpu.sh under srun: '$bg'"

# --- M: metrics across nodes ----------------------------------------------------------
pport=$(free_port 1); mport=$(free_port 1)
sed -e "s|/var/lib/prometheus/lorasub/\*.json|$work/sd/*.json|" \
    -e "s|scrape_interval: 15s|scrape_interval: 1s|" -e "s|evaluation_interval: 15s|evaluation_interval: 1s|" \
    -e "s|refresh_interval: 30s|refresh_interval: 1s|" "$src/monitoring/prometheus.yml" >"$work/prometheus.yml"
cp "$src/monitoring/alerts.yml" "$work/alerts.yml"
setsid prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/tsdb" \
  --web.listen-address="127.0.0.1:$pport" >"$work/prometheus.log" 2>&1 &
side+=($!)
api="http://127.0.0.1:$pport"
# query EXPR -> "instance instance ..." of the result's series (sorted), "-" on error
query() {
  curl -s "$api/api/v1/query" --data-urlencode "query=$1" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(" ".join(sorted(r["metric"].get("instance", "") for r in d["data"]["result"])) if d.get("status") == "success" else "-")'
}
v0=$(( $(veth_bytes 1) + $(veth_bytes 2) ))
jm=$(sbatch "${common[@]}" --export="ALL,OMPI_MCA_btl_tcp_if_include=$net,LORASUB_NO_REQUEUE=1" --job-name=metrics \
       --time=10 --output="$work/metrics.out" "$src/slurm/lorasub-multinode.sbatch" -c "$src/tests/mpi/tiny.yaml" \
       --set run.dir="$work/runs" --set run.name=metrics --set train.init_epochs=1 --set train.epochs=100000 \
       --set metrics.enabled=true --set metrics.port="$mport" --set metrics.bind="$net" \
       --set metrics.file_sd_dir="$work/sd") || { bad "sbatch M"; finish; }
sd="$work/sd/lorasub-metrics.json"
for _ in $(seq 600); do [ -f "$sd" ] && break; ended "$(job_field "$jm" JobState)" && break; sleep 0.2; done
want="${node_addr[1]}:$mport ${node_addr[2]}:$mport" got=""
if [ -f "$sd" ]; then
  got=$("$PY" -c 'import json,sys; print(" ".join(sorted(t for g in json.load(open(sys.argv[1])) for t in g["targets"])))' "$sd")
  [ "$got" = "$want" ] && ok "M: file_sd targets are the nodes' own addresses: $got" || bad "M: file_sd targets '$got', want '$want'"
else
  bad "M: no file_sd file $sd"; tail -20 "$work/metrics.out"
fi
up="" growing=""
for _ in $(seq 240); do
  up=$(query 'up{job="lorasub",run="metrics"} == 1')
  growing=$(query 'rate(lorasub_steps_total{job="lorasub",run="metrics"}[5s]) > 0')
  [ "$up" = "$want" ] && [ "$growing" = "$want" ] && break
  ended "$(job_field "$jm" JobState)" && break
  sleep 0.5
done
[ "$up" = "$want" ] && [ "$growing" = "$want" ] \
  && ok "M: Prometheus (root namespace) scrapes both ranks through the bridge, step counters growing: $up" \
  || bad "M: Prometheus: up on '$up', growing steps on '$growing' (want '$want')"
w=$(where_ranks "$jm"); check_where "$jm" M "$w"
# The ranks' MPI connection (OpenMPI's TCP transport; PMIx is on loopback): rank 0's
# established TCP sockets to node2's address, with the bytes they carried.
conn=$(on_node 1 ss -tnpi state established dst "${node_addr[2]}" 2>/dev/null | grep -A1 "\"$comm\"" |
       sed -n 's/.* \([0-9.]*:[0-9]*\) *\([0-9.]*:[0-9]*\) .*/\1 -> \2/p; s/.*\(bytes_sent:[0-9]*\).*\(bytes_received:[0-9]*\).*/  \1 \2/p' | tr '\n' ' ')
[ -n "$conn" ] && ok "M: rank 0 (node1) has TCP connections to node2 over the bridge: $conn" \
  || bad "M: no TCP connection of lorasub from node1 to ${node_addr[2]}"
scancel --batch --signal=USR1 "$jm"
for _ in $(seq 600); do ended "$(job_field "$jm" JobState)" && break; sleep 0.2; done
v1=$(( $(veth_bytes 1) + $(veth_bytes 2) ))
ok "M: the veths carried $(( (v1 - v0) / 1024 )) KiB during job M (MPI, PMIx and Slurm traffic)"
grep -q "lorasub exited with 75" "$work/metrics.out" && ok "M: USR1: the ranks stopped with 75 (no requeue)" \
  || { bad "M: no exit 75 after USR1"; tail -20 "$work/metrics.out"; }
[ -n "$got" ] && { [ ! -e "$sd" ] && ok "M: rank 0 removed its file_sd file" || bad "M: $sd still there"; }

# --- A, B and the single-host reference -------------------------------------------------
# Task 2 is 8 epochs (600 steps) so that holding B at the end of task 1 stops it with
# most of its work left whatever the machine's speed.
run_args=(-c "$src/tests/mpi/tiny.yaml" --set run.dir="$work/runs" --set data.synthetic_per_class=300
          --set train.init_epochs=4 --set train.epochs=8 --set train.log_every=1000)
ja=$(sbatch "${common[@]}" --job-name=full --time=15 --output="$work/full.out" \
       "$src/slurm/lorasub-multinode.sbatch" "${run_args[@]}" --set run.name=full) || { bad "sbatch A"; finish; }
jb=$(sbatch "${common[@]}" --job-name=requeue --time=2 --signal=B:USR1@60 --output="$work/requeue.out" \
       "$src/slurm/lorasub-multinode.sbatch" "${run_args[@]}" --set run.name=requeue) || { bad "sbatch B"; finish; }
# run.sh's CPU-mode settings, on one host.
LORASUB_PROGRESS=lines mpirun -np 2 --oversubscribe --bind-to none "$bin" train "${run_args[@]}" --set run.name=ref \
  --set dist.backend=mpi --set train.device=cpu >"$work/ref.out" 2>&1 &
mp=$!; side+=("$mp")
ok "submitted job $ja (full), job $jb (requeue: 2 min limit, USR1 60 s before); reference on 2 ranks of this host"

# B's ranks are held (SIGSTOP) from the end of its task 1 until its batch shell has the
# time-limit USR1. The watcher finds B's two ranks first (reading /proc can take seconds
# on a loaded machine), then polls every 0.05 s, so that B stops within a few steps of
# task 1's end, with task 2 ahead of it.
(
  p=""
  while :; do
    grep -q "got SIGUSR1" "$work/requeue.out" 2>/dev/null && exit 0
    [ -z "$p" ] && { p=$(job_ranks "$jb" | awk '{printf "%s ", $1}'); [ "$(wc -w <<<"$p")" = 2 ] || p=""; }
    [ -n "$p" ] && grep -q "^task 1/2: A_t" "$work/requeue.out" 2>/dev/null && break
    sleep 0.05
  done
  kill -STOP $p && echo $p >"$work/held.pids"
  echo "$(date +%T.%N) held $p; output then: $(tail -1 "$work/requeue.out")" >"$work/watcher.log"
) &
watcher=$!; side+=("$watcher")

# Poll: record where A's ranks run; release B's ranks once the signal is there; start
# B's requeued attempt 5 s after its requeue (not at once: the old allocation's
# credential is still being revoked, see slurm.sh) with a 15-minute limit, so that the
# signal does not come again (one stop is what this job is for).
sa="" sb="" wa="" hurried=0 rc_ref=""
# Give up 780 s into the test (ctest's TIMEOUT is 1200 s): the cleanup must run before it.
while [ "$(elapsed_ms)" -lt 780000 ]; do
  sa=$(job_field "$ja" JobState); sb=$(job_field "$jb" JobState)
  if [ -z "$wa" ] && [ "$sa" = RUNNING ] && [ "$(job_ranks "$ja" | wc -l)" = 2 ]; then
    # A is short: under load its end can come between finding a rank and reading its
    # namespaces (seen: "rank 1: host  (network namespace of ?)"). A sample in which a
    # rank has already exited (gone, or a zombie: no namespace links) says nothing: take
    # it again at the next poll. A live rank in a wrong namespace still fails below.
    w=$(where_ranks "$ja") gone=0
    for p in $(sed -n 's/.*, pid \([0-9]*\)$/\1/p' <<<"$w"); do readlink "/proc/$p/ns/net" >/dev/null 2>&1 || gone=1; done
    [ "$gone" = 0 ] && wa="$w"
  fi
  if [ "$hold" = 0 ] && [ -s "$work/held.pids" ]; then
    held=($(cat "$work/held.pids")); hold=1
    ok "B: task 1 done, ranks held (SIGSTOP ${held[*]}) until the time-limit signal; $(cut -d' ' -f2- "$work/watcher.log")"
  fi
  if [ "$hold" = 1 ] && grep -q "got SIGUSR1" "$work/requeue.out"; then
    kill -CONT "${held[@]}" 2>/dev/null; held=(); hold=2; ok "B: the batch shell got USR1: ranks released"
  fi
  if [ "$sb" = PENDING ] && [ "$(job_field "$jb" Restarts)" -gt "$hurried" ] 2>/dev/null &&
     [ "$(job_field "$jb" Reason)" = BeginTime ]; then
    scontrol update JobId="$jb" StartTime=now+5 TimeLimit=15 >/dev/null 2>&1 && hurried=$(job_field "$jb" Restarts)
  fi
  if [ -z "$rc_ref" ] && ! kill -0 "$mp" 2>/dev/null; then wait "$mp"; rc_ref=$?; forget "$mp"; fi
  if ended "$sa" && [ -n "$rc_ref" ]; then
    [ "$sb" = COMPLETED ] && break
    # A requeue passes through an ended state before PENDING: only a lasting one counts.
    if ended "$sb"; then sleep 5; ended "$(job_field "$jb" JobState)" && break; fi
  fi
  sleep 0.2
done
kill "$watcher" 2>/dev/null; wait "$watcher" 2>/dev/null; forget "$watcher"
[ "$hold" = 1 ] && bad "B: never got USR1 while held"
[ "$hold" != 2 ] && [ -s "$work/held.pids" ] && kill -CONT $(cat "$work/held.pids") 2>/dev/null && hold=2
restarts=$(job_field "$jb" Restarts)

# A: the end-to-end run.
[ "$sa" = COMPLETED ] && ok "A: COMPLETED" || bad "A: state '$sa'"
grep -q "lorasub exited with 0" "$work/full.out" && ok "A: lorasub exited with 0" || bad "A: lorasub did not exit with 0"
grep -q "2 ranks on node\[1-2\] (CPU)" "$work/full.out" && ok "A: 2 ranks on node[1-2], CPU mode" || bad "A: header"
check_where "$ja" A "$wa"
[ "$rc_ref" = 0 ] && ok "reference (mpirun, 2 ranks on this host): exit 0" || { bad "reference: exit $rc_ref"; tail -20 "$work/ref.out"; }
# Written once, by rank 0: the same files as the one-host run (rank 1, on node2, sees the
# run directory read-only), and one outputs line.
files_a=$(cd "$work/runs/full" 2>/dev/null && find . -type f | sort | tr '\n' ' ')
files_r=$(cd "$work/runs/ref" 2>/dev/null && find . -type f | sort | tr '\n' ' ')
[ -n "$files_a" ] && [ "$files_a" = "$files_r" ] && ok "A: the run directory holds what a one-host run writes: $files_a" \
  || bad "A: run directory '$files_a', one-host run '$files_r'"
[ "$(grep -c "^outputs: " "$work/full.out")" = 1 ] && ok "A: outputs written once (by rank 0; node2 sees the run directory read-only)" \
  || bad "A: $(grep -c "^outputs: " "$work/full.out") outputs lines"
matrix() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["accuracy_matrix"])' "$1" 2>/dev/null; }
ma=$(matrix "$work/runs/full/results.json"); mr=$(matrix "$work/runs/ref/results.json")
[ -n "$ma" ] && [ "$ma" = "$mr" ] && ok "A: accuracy matrix equals the one-host run's: $ma" || bad "A: accuracy matrix '$ma', one-host '$mr'"
last=checkpoints/task_001.h5
if [ -f "$work/runs/full/$last" ] && [ -f "$work/runs/ref/$last" ]; then
  echo -n "A vs one-host run: "; compare "$work/runs/full/$last" "$work/runs/ref/$last" 0
else bad "A or the reference: no $last"; fi

# B: stopped on both nodes at one step, checkpointed, requeued, resumed, identical.
[ "$sb" = COMPLETED ] && ok "B: COMPLETED after $restarts restart(s)" || bad "B: state '$sb'"
[ "${restarts:-0}" -ge 1 ] || bad "B was never requeued"
grep -q "got SIGUSR1: forwarding it to the ranks" "$work/requeue.out" && ok "B: the batch shell got the time-limit USR1 and forwarded it" || bad "B: no USR1"
s0=$(sed -n 's/^lorasub: rank 0 stopped at global step \([0-9]*\) .*/\1/p' "$work/requeue.out" | head -1)
s1=$(sed -n 's/^lorasub: rank 1 stopped at global step \([0-9]*\) .*/\1/p' "$work/requeue.out" | head -1)
[ -n "$s0" ] && [ "$s0" = "$s1" ] && ok "B: rank 0 (node1) and rank 1 (node2) stopped at the same global step $s0" \
  || bad "B: stop steps: rank 0 '$s0', rank 1 '$s1'"
grep -q "lorasub exited with 75" "$work/requeue.out" && ok "B: checkpointed and exited 75" || bad "B: no exit 75"
grep -q "requeueing job $jb" "$work/requeue.out" && ok "B: requeued itself" || bad "B: did not requeue"
grep -q "restart 1: 2 ranks on node\[1-2\]" "$work/requeue.out" && ok "B: restarted on both nodes (SLURM_RESTART_COUNT=1)" || bad "B: no restart 1 on node[1-2]"
resumed=$(sed -n 's|^lorasub: resuming from \([^ ]*\) .*|\1|p' "$work/requeue.out" | head -1)
[[ "$resumed" == */checkpoints/step_*.h5 ]] && ok "B: resumed from its stop checkpoint ${resumed##*/}" \
  || bad "B: did not resume from a step checkpoint"
tail -3 "$work/requeue.out" | grep -q "lorasub exited with 0" && ok "B: the last attempt exited with 0" || bad "B: last attempt did not exit 0"
mb=$(matrix "$work/runs/requeue/results.json")
[ -n "$mb" ] && [ "$mb" = "$ma" ] && ok "B: accuracy matrix equals A's" || bad "B: accuracy matrix '$mb', A '$ma'"
if [ -f "$work/runs/requeue/$last" ] && [ -f "$work/runs/full/$last" ]; then
  echo -n "B vs A: "; compare "$work/runs/requeue/$last" "$work/runs/full/$last" 0
else bad "B or A: no $last"; fi

if [ "$fail" != 0 ]; then
  for f in metrics.out full.out requeue.out ref.out; do echo "--- $f"; tail -25 "$work/$f"; done
  tail -20 "$cluster/log/slurmctld.log"
fi
cleanup; trap - EXIT
ok "cluster stopped; namespaces, veths and bridge removed"
finish
