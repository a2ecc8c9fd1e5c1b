#!/usr/bin/env bash
# The agreed stop under real signals (ARCHITECTURE invariant 6):
#  - SIGUSR1 to one rank of a 2-rank run: both ranks stop at the same step, one
#    checkpoint is written, exit code 75; `--resume auto` then finishes the run with the
#    adapters of an uninterrupted one;
#  - SIGTERM twice to one rank: the job exits promptly with 76 (or is torn down by
#    mpirun after that rank's exit) and every checkpoint on disk still verifies.
# Usage: signal.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
make_backbone
# Long enough to be signalled mid-task: 2 x 250 steps; no task-end checkpoints, so
# the stop's checkpoint is the only file.
long=(--set data.synthetic_per_class=300 --set train.init_epochs=4 --set train.epochs=4
      --set ckpt.task_end=false --set train.log_every=5)
export LORASUB_PROGRESS=lines

train_run 2 full "${long[@]}" --set ckpt.task_end=true; expect_rc 0 $? "uninterrupted run"

train_bg 2 usr1 "${long[@]}"; mp=$MP
pid=$(rank_pid "$mp" 1) || { echo "FAIL: no rank 1 found"; exit 1; }
wait_for "$work/usr1.out" "task 1/2 epoch 2/4  step 20/" || { echo "FAIL: run did not get going"; exit 1; }
kill -USR1 "$pid"; t0=$(now_ms)
wait "$mp"; rc=$?; ms=$(( $(now_ms) - t0 ))
expect_rc 75 "$rc" "SIGUSR1 to rank 1: exit 75 after ${ms} ms"
s0=$(grep -o "rank 0 stopped at global step [0-9]*" "$work/usr1.err" | grep -o "[0-9]*$")
s1=$(grep -o "rank 1 stopped at global step [0-9]*" "$work/usr1.err" | grep -o "[0-9]*$")
[ -n "$s0" ] && [ "$s0" = "$s1" ] && echo "ok   both ranks stopped at step $s0" || { echo "FAIL: ranks stopped at '$s0' and '$s1'"; fail=1; }
files=$(ls "$work/runs/usr1/checkpoints")
[ "$files" = "$(printf 'step_%09d.h5' "$s0")" ] && echo "ok   one checkpoint: $files" || { echo "FAIL: checkpoints: $files"; fail=1; }
train_run 2 usr1 "${long[@]}" --set ckpt.task_end=true --resume auto; expect_rc 0 $? "resume after SIGUSR1"
compare "$work/runs/usr1/checkpoints/task_001.h5" "$work/runs/full/checkpoints/task_001.h5" 0

# A forced stop while the agreed one cannot finish: rank 0 is frozen (SIGSTOP), so
# rank 1 waits in the all-reduce after its first SIGTERM; the second one must end it.
train_bg 2 term "${long[@]}" --set ckpt.every_steps=7; mp=$MP
pid=$(rank_pid "$mp" 1) || { echo "FAIL: no rank 1 found"; exit 1; }
pid0=$(rank_pid "$mp" 0) || { echo "FAIL: no rank 0 found"; exit 1; }
wait_for "$work/term.out" "task 1/2 epoch 3/4  step 10/" || { echo "FAIL: run did not get going"; exit 1; }
kill -STOP "$pid0"; kill -TERM "$pid"; sleep 0.5; kill -TERM "$pid"; t0=$(now_ms)
wait "$mp"; rc=$?; ms=$(( $(now_ms) - t0 ))
[ "$rc" -eq 76 ] && [ "$ms" -lt 30000 ] && echo "ok   SIGTERM twice: job ended with 76 after ${ms} ms" \
  || { echo "FAIL: SIGTERM twice: exit $rc after ${ms} ms (want 76)"; fail=1; }
expect_in "$work/term.err" "second stop signal: exiting now" "SIGTERM twice: says it exits at once"
for f in "$work"/runs/term/checkpoints/*.h5; do
  "$bin" inspect "$f" >/dev/null && echo "ok   $(basename "$f") verifies" || { echo "FAIL: $f damaged"; fail=1; }
done

# The stop deadline: same frozen peer, one SIGUSR1, ckpt.stop_deadline_seconds = 2.
train_bg 2 deadline "${long[@]}" --set ckpt.stop_deadline_seconds=2; mp=$MP
pid=$(rank_pid "$mp" 1) || { echo "FAIL: no rank 1 found"; exit 1; }
pid0=$(rank_pid "$mp" 0) || { echo "FAIL: no rank 0 found"; exit 1; }
wait_for "$work/deadline.out" "task 1/2 epoch 2/4  step 10/" || { echo "FAIL: run did not get going"; exit 1; }
kill -STOP "$pid0"; kill -USR1 "$pid"; t0=$(now_ms)
wait "$mp"; rc=$?; ms=$(( $(now_ms) - t0 ))
[ "$rc" -eq 76 ] && [ "$ms" -ge 2000 ] && [ "$ms" -lt 30000 ] && echo "ok   stop deadline: exit 76 after ${ms} ms" \
  || { echo "FAIL: stop deadline: exit $rc after ${ms} ms (want 76 after 2-30 s)"; fail=1; }
expect_in "$work/deadline.err" "did not finish within ckpt.stop_deadline_seconds = 2 s" "stop deadline: message"
exit $fail
