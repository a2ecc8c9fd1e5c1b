# A two-node Slurm cluster on one machine: munged and slurmctld in the root namespace,
# one slurmd in each of node1's and node2's network + UTS namespaces (netns_lib.sh), all
# state in a short `mktemp -d` directory. Source after lib.sh, netns_lib.sh and
# slurm_lib.sh; set work. Adds its pids to `pids`.
# slurm2_start [RO_DIR]: namespaces, munged, slurmctld, the two slurmds; waits for both
#               nodes to be idle. Returns 77 (message printed) where namespaces cannot be
#               made. RO_DIR (an existing directory): read-only on node2 (below).
# slurm2_stop:  cancels the jobs left, slurm_stop (scontrol shutdown, everything by pid,
#               logs kept in $work/cluster), then whatever still runs in the namespaces,
#               the namespaces, veths and bridge.
slurm2_start() {
  local rc ro_dir="${1:-}"
  netns_up; rc=$?
  [ "$rc" = 0 ] || return "$rc"
  cluster=$(mktemp -d /tmp/lsu.XXXXXX) || { bad "mktemp"; return 1; }
  local d="$cluster" mem i
  mkdir -p "$d/state" "$d/log" "$d/run" "$d"/spool/node{1,2} "$d"/tmp/node{1,2}
  munge_start "$d/munge" || return 1
  # Both nodes are this machine: each offers all its CPUs, and half its memory.
  mem=$(( ($(free -m | awk '/^Mem:/{print $2}') - 1024) / 2 ))
  export SLURM_CONF="$d/slurm.conf"
  {
    slurm_conf_common "$d" "$(hostname -s)" "$head_addr"
    # Every slurmd in its own network namespace: the same port on each node's address.
    # %n: the node's name, so that the two slurmds share no file. TmpFS too: Slurm's PMIx
    # plugin makes <TmpFS>/spmix_appdir_<uid>_<job>.<step> on every node, and the second
    # node fails the step ("File exists") where both share /tmp.
    cat <<CONF
# Backfill every second and the main scheduler every 2 s (defaults 30 and 60): a
# requeued job whose begin time the test moved up starts within seconds, not a minute.
SchedulerParameters=bf_interval=1,sched_interval=2
SlurmdSpoolDir=$d/spool/%n
SlurmdPidFile=$d/run/slurmd-%n.pid
SlurmdLogFile=$d/log/slurmd-%n.log
TmpFS=$d/tmp/%n
NodeName=node1 NodeAddr=${node_addr[1]} CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
NodeName=node2 NodeAddr=${node_addr[2]} CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
  } >"$SLURM_CONF"
  setsid slurmctld -D -c -f "$SLURM_CONF" >"$d/log/slurmctld.out" 2>&1 &
  pids+=($!)
  # nsenter execs slurmd (no fork without -p): $! is slurmd's pid. slurmd finds its node
  # name from the hostname of its UTS namespace.
  # With RO_DIR, node2's slurmd (and so every process of a job there) runs in a mount
  # namespace of its own where RO_DIR is read-only: whatever a rank on node2 tried to
  # write there would fail.
  setsid nsenter -t "${node_pid[1]}" -n -u slurmd -D -f "$SLURM_CONF" >"$d/log/slurmd-node1.out" 2>&1 &
  pids+=($!)
  if [ -n "$ro_dir" ]; then
    setsid nsenter -t "${node_pid[2]}" -n -u unshare -m sh -c 'mount --bind -o ro "$1" "$1" && exec slurmd -D -f "$2"' \
      sh "$ro_dir" "$SLURM_CONF" >"$d/log/slurmd-node2.out" 2>&1 &
  else
    setsid nsenter -t "${node_pid[2]}" -n -u slurmd -D -f "$SLURM_CONF" >"$d/log/slurmd-node2.out" 2>&1 &
  fi
  pids+=($!)
  local states=""
  for _ in $(seq 300); do
    states=$(sinfo -h -N -o '%N=%T' 2>/dev/null | sort | tr '\n' ' ')
    [ "$states" = "node1=idle node2=idle " ] && return 0
    sleep 0.1
  done
  bad "the nodes did not become idle (states: '$states')"
  tail -5 "$d/log/slurmctld.log" "$d/log"/slurmd-*
  return 1
}
slurm2_stop() {
  local jobs
  # Jobs still there (a failed run) are cancelled first, so that slurmstepd ends them.
  if [ -n "$cluster" ]; then
    jobs=$(squeue -h -o %i 2>/dev/null)
    if [ -n "$jobs" ]; then
      scancel $jobs 2>/dev/null
      for _ in $(seq 100); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
    fi
  fi
  slurm_stop
  netns_down
}
