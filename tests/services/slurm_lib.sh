# A single-node Slurm cluster with munge, in temporary directories on loopback (the
# recipe measured in ENV.md), and the pieces slurm_2node_lib.sh shares with it. Source
# after lib.sh; set work. Adds its pids to `pids`.
# slurm_start: munged, slurmctld, slurmd; waits for the node to be idle.
# slurm_stop:  scontrol shutdown, then everything by pid; removes the cluster directory
#              and unsets SLURM_CONF (so a second call does nothing).
# Sockets and daemon state live in a short `mktemp -d` directory ($cluster), never under
# the build tree: a Unix socket path is limited to 108 bytes, and munged's and slurmstepd's
# sockets would not fit under a long clone path.
cluster=""
# munge_start DIR: munged with a fresh key, its socket DIR/munge.sock; adds its pid to pids.
munge_start() {
  local m="$1"
  mkdir -p "$m" && chmod 0755 "$m"
  mungekey --create --keyfile="$m/munge.key" >/dev/null 2>&1 || { bad "mungekey"; return 1; }
  chmod 0400 "$m/munge.key"
  munged --socket="$m/munge.sock" --key-file="$m/munge.key" --log-file="$m/munged.log" \
    --pid-file="$m/munged.pid" --seed-file="$m/munged.seed" --force || { bad "munged did not start"; return 1; }
  for _ in $(seq 50); do [ -s "$m/munged.pid" ] && break; sleep 0.1; done
  pids+=("$(cat "$m/munged.pid")")
}
# slurm_conf_common DIR CTLHOST CTLADDR: the slurm.conf lines every test cluster shares
# (munge socket DIR/munge/munge.sock); the caller adds the scheduler parameters, the
# slurmd files, the nodes and the partition.
slurm_conf_common() {
  local d="$1"
  cat <<CONF
ClusterName=lorasubtest
SlurmctldHost=$2($3)
SlurmctldPort=$(free_port 1)
SlurmdPort=$(free_port 1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$d/munge/munge.sock
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
MailProg=/bin/true
JobRequeue=1
JobCompType=jobcomp/filetxt
JobCompLoc=$d/log/jobcomp.txt
StateSaveLocation=$d/state
SlurmctldPidFile=$d/slurmctld.pid
SlurmctldLogFile=$d/log/slurmctld.log
ReturnToService=2
MinJobAge=600
KillWait=30
InactiveLimit=0
CONF
}
slurm_start() {
  cluster=$(mktemp -d /tmp/lsu.XXXXXX) || { bad "mktemp"; return 1; }
  local d="$cluster" host mem
  mkdir -p "$d/state" "$d/spool" "$d/log"
  host=$(hostname -s)
  mem=$(( $(free -m | awk '/^Mem:/{print $2}') - 1024 ))
  munge_start "$d/munge" || return 1
  export SLURM_CONF="$d/slurm.conf"
  {
    slurm_conf_common "$d" "$host" 127.0.0.1
    cat <<CONF
SlurmdSpoolDir=$d/spool
SlurmdPidFile=$d/slurmd.pid
SlurmdLogFile=$d/log/slurmd.log
# Backfill every second (default 30 s): a requeued job whose begin time the test moved up
# starts within seconds.
SchedulerParameters=bf_interval=1
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  } >"$SLURM_CONF"
  setsid slurmctld -D -c -f "$SLURM_CONF" >"$d/log/slurmctld.out" 2>&1 &
  pids+=($!)
  setsid slurmd -D -f "$SLURM_CONF" >"$d/log/slurmd.out" 2>&1 &
  pids+=($!)
  local state=""
  for _ in $(seq 300); do
    state=$(sinfo -h -o %T 2>/dev/null | head -1)
    [ "$state" = idle ] && return 0
    sleep 0.1
  done
  bad "the node did not become idle (state '$state')"; tail -5 "$d/log/slurmctld.log" "$d/log/slurmd.log"
  return 1
}
slurm_stop() {
  [ -n "${SLURM_CONF:-}" ] && scontrol shutdown >/dev/null 2>&1
  for _ in $(seq 50); do
    local alive=0 p
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break; sleep 0.1
  done
  stop_pids pids
  if [ -n "$cluster" ]; then
    # Keep the daemons' logs beside the test's other outputs, then drop the short directory.
    mkdir -p "$work/cluster" && cp -r "$cluster/log" "$work/cluster/" 2>/dev/null
    rm -rf "$cluster"; cluster=""
  fi
  # Stopped: a second call (the EXIT trap after an explicit stop) must not wait a minute
  # for `scontrol shutdown` to give up on a controller that is gone.
  unset SLURM_CONF
}
# job_field JOBID FIELD: a field of `scontrol show job` ("" once the job is gone).
job_field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
