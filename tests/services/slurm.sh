#!/usr/bin/env bash
# The project's sbatch template on a real single-node Slurm cluster (munge, slurmctld,
# slurmd in temporary directories on loopback), in CPU mode (LORASUB_CPU=1, --gres=none)
# with 2 tasks (srun --mpi=pmix):
#  A. a run with a generous time limit completes; results.json exists;
#  B. the same run, sent USR1 the way `--signal=B:USR1@...` sends it (to the batch shell
#     only: `scancel --batch --signal=USR1`) once its first task's checkpoint exists, so
#     mid-way through the second task whatever the machine's speed: the batch shell
#     forwards it, the ranks checkpoint and exit 75, the job requeues itself, restarts
#     (SLURM_RESTART_COUNT=1) with --resume auto and completes, and its final adapters
#     equal A's bit for bit; its output is appended across restarts.
#  slurmctld's own time-limit signal (--time/--signal, which comes 30-60 s into an
#  attempt) is what service.multinode stops its job with; here it would only make B's
#  work longer than a minute on the fastest machine.
# Everything started here is stopped by pid, also on failure.
# Usage: slurm.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
unset SLURM_CONF   # slurm_stop must never shut down a cluster this test did not start
. "$src/tests/scripts/lib.sh"      # compare
. "$src/tests/services/lib.sh"
. "$src/tests/services/slurm_lib.sh"
need slurmctld slurmd munged mungekey sbatch scontrol srun sinfo
[ "$(id -u)" = 0 ] || { echo "SKIP: the test cluster runs as root (SlurmUser=root)"; exit 77; }
rm -rf "$work"; mkdir -p "$work"
pids=()
trap slurm_stop EXIT
slurm_start || finish
ok "slurm cluster up: $(sinfo -h -o '%N %c CPUs %T')"

# 2 tasks of 60 epochs x 75 steps: the second task lasts ~25 s here with both jobs
# sharing 2 cores, far more than the signal takes to arrive.
run_args=(-c "$src/tests/mpi/tiny.yaml" --set run.dir="$work/runs" --set data.synthetic_per_class=300
          --set train.init_epochs=60 --set train.epochs=60 --set train.log_every=200)
export LORASUB_CPU=1 LORASUB_BIN="$bin" LORASUB_ROOT="$src"
common=(--parsable --gres=none --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --oversubscribe --time=15)
cd "$work"
ja=$(sbatch "${common[@]}" --job-name=full --output="$work/full.out" \
       "$src/slurm/lorasub.sbatch" "${run_args[@]}" --set run.name=full) || { bad "sbatch A"; finish; }
jb=$(sbatch "${common[@]}" --job-name=sig --output="$work/sig.out" \
       "$src/slurm/lorasub.sbatch" "${run_args[@]}" --set run.name=sig) || { bad "sbatch B"; finish; }
ok "submitted slurm/lorasub.sbatch twice: job $ja and job $jb"

# Wait for both; a requeued job waits ~2 min for its begin time: start it now.
# Not StartTime=now: a job started again within the second of its requeue is killed as
# "non-startable: Job credential revoked" (the old allocation's credential is still
# being revoked); 5 s later it starts cleanly. Once per restart.
sa="" sb="" restarts=0 hurried=0 signalled=0
for _ in $(seq 2400); do
  sa=$(job_field "$ja" JobState); sb=$(job_field "$jb" JobState)
  if [ "$signalled" = 0 ] && [ -f "$work/runs/sig/checkpoints/task_000.h5" ]; then
    scancel --batch --signal=USR1 "$jb" && signalled=1 && ok "job B: task 0 done, USR1 sent to its batch shell"
  fi
  if [ "$sb" = PENDING ] && [ "$(job_field "$jb" Restarts)" -ge 1 ] 2>/dev/null; then
    restarts=$(job_field "$jb" Restarts)
    if [ "$restarts" -gt "$hurried" ] && [ "$(job_field "$jb" Reason)" = BeginTime ]; then
      scontrol update JobId="$jb" StartTime=now+5 >/dev/null 2>&1 && hurried=$restarts
    fi
  fi
  case "$sa" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) ;; *) sleep 0.5; continue ;; esac
  case "$sb" in
    COMPLETED) break ;;
    # A requeue passes through an ended state (the batch shell is cancelled) before the
    # job shows PENDING again: an ended state counts only when it lasts.
    FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)
      sleep 5
      case "$(job_field "$jb" JobState)" in FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac ;;
  esac
  sleep 0.5
done
restarts=$(job_field "$jb" Restarts)

[ "$sa" = COMPLETED ] && ok "job A: COMPLETED" || bad "job A: state '$sa'"
grep -q "lorasub exited with 0" "$work/full.out" && ok "job A: lorasub exited with 0" || bad "job A: lorasub did not exit with 0"
[ -f "$work/runs/full/results.json" ] && ok "job A: results.json exists" || bad "job A: no results.json"
grep -q "2 ranks on" "$work/full.out" && grep -q "(CPU)" "$work/full.out" && ok "job A: 2 ranks, CPU mode" || bad "job A: header"

[ "$sb" = COMPLETED ] && ok "job B: COMPLETED after $restarts restart(s)" || bad "job B: state '$sb'"
[ "$signalled" = 1 ] || bad "job B: USR1 was never sent (no task_000.h5 while it ran)"
[ "${restarts:-0}" -ge 1 ] || bad "job B was never requeued"
grep -q "got SIGUSR1: forwarding it to the ranks" "$work/sig.out" && ok "job B: the batch shell got USR1 and forwarded it" || bad "job B: no USR1"
grep -q "lorasub exited with 75" "$work/sig.out" && ok "job B: lorasub checkpointed and exited 75" || bad "job B: no exit 75"
grep -q "requeueing job $jb" "$work/sig.out" && ok "job B: requeued itself" || bad "job B: did not requeue"
grep -q "restart 1:" "$work/sig.out" && ok "job B: restarted with SLURM_RESTART_COUNT=1, output appended" || bad "job B: no restart in the (appended) output"
grep -q "resuming from " "$work/sig.out" && ok "job B: resumed from its checkpoint" || bad "job B: did not resume from a checkpoint"
tail -3 "$work/sig.out" | grep -q "lorasub exited with 0" && ok "job B: the last attempt exited with 0" || bad "job B: last attempt did not exit 0"
[ -f "$work/runs/sig/results.json" ] && ok "job B: results.json exists" || bad "job B: no results.json"
if [ -f "$work/runs/sig/checkpoints/task_001.h5" ] && [ -f "$work/runs/full/checkpoints/task_001.h5" ]; then
  compare "$work/runs/sig/checkpoints/task_001.h5" "$work/runs/full/checkpoints/task_001.h5" 0
else
  bad "final task checkpoints missing"
fi
if [ "$fail" != 0 ]; then
  for f in full.out sig.out; do echo "--- $f"; tail -25 "$work/$f"; done
  tail -20 "$cluster/log/slurmctld.log"
fi
slurm_stop
ok "cluster stopped"
finish
