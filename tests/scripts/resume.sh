#!/usr/bin/env bash
# Resume equals uninterrupted (ARCHITECTURE invariant 3): a 2-task run stopped mid-task
# by SIGUSR1 and resumed ends with the same adapters, heads and prototypes, bit for
# bit on the same rank count, and to 1e-5 when stopped on 1 rank and resumed on 2.
# Usage: resume.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
make_backbone

train_run 2 full; expect_rc 0 $? "uninterrupted 2-rank run"
full="$work/runs/full/checkpoints/task_001.h5"

# 20 steps per task. Stopped after step 32 (task 2, epoch 1: the DRS projectors and
# optimizer moments must come back) by SIGUSR1 on rank 1, resumed on 2 ranks.
train_run 2 two --set train.fail_kind=signal --set train.fail_step=31 --set train.fail_rank=1
expect_rc 75 $? "SIGUSR1 on rank 1: agreed stop, exit 75"
n=$(ls "$work/runs/two/checkpoints" | grep -c step_)
[ "$n" -eq 1 ] && echo "ok   one stop checkpoint written" || { echo "FAIL: $n stop checkpoints, want 1"; fail=1; }
expect_in "$work/two.err" "rank 0 stopped at global step 32" "rank 0 stopped at step 32"
expect_in "$work/two.err" "rank 1 stopped at global step 32" "rank 1 stopped at step 32"
train_run 2 two --resume auto; expect_rc 0 $? "resume on 2 ranks"
expect_in "$work/two.out" "resuming from .*step_000000032.h5" "resumed from the stop checkpoint"
compare "$work/runs/two/checkpoints/task_001.h5" "$full" 0

# Stopped in task 1 (epoch 2) on 1 rank, resumed on 2 ranks.
train_run 1 one --set train.fail_kind=signal --set train.fail_step=13 --set train.fail_rank=0
expect_rc 75 $? "SIGUSR1 on a 1-rank run: exit 75"
train_run 2 one --resume auto; expect_rc 0 $? "resume on 2 ranks of a 1-rank run"
compare "$work/runs/one/checkpoints/task_001.h5" "$full" 1e-5
"$PY" -c "import json,sys; r=json.load(open('$work/runs/one/results.json'))['resumes']; assert r[0]['ranks']==2 and r[0]['written_by_ranks']==1, r" \
  && echo "ok   results.json records the resume (1 -> 2 ranks)" || { echo "FAIL: resume not recorded"; fail=1; }

# Time-based checkpoints: every 0.001 minutes (60 ms) of a ~1.5 s run.
train_run 2 timed --set ckpt.every_minutes=0.001 --set ckpt.keep=100 --set data.synthetic_per_class=300
expect_rc 0 $? "run with ckpt.every_minutes"
n=$(ls "$work/runs/timed/checkpoints" | grep -c '^step_')
[ "$n" -ge 2 ] && echo "ok   ckpt.every_minutes wrote $n step checkpoints" || { echo "FAIL: ckpt.every_minutes wrote $n"; fail=1; }

# --resume auto with nothing to resume from starts fresh, and says so.
train_run 2 fresh --resume auto --tasks 1; expect_rc 0 $? "--resume auto without checkpoints"
expect_in "$work/fresh.out" "no checkpoint in .*starting from the beginning" "fresh start announced"
exit $fail
