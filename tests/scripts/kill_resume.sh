#!/usr/bin/env bash
# kill -9 of one rank at a random moment of a 2-rank run: the job must end within 30 s,
# and `--resume auto` from whatever checkpoint survived must finish with adapters,
# heads and prototypes bit-identical to an uninterrupted run (checkpoints every 3 steps,
# so some kills land while rank 0 is writing one).
# Usage: kill_resume.sh LORASUB_BIN WORK_DIR [KILLS] [SEED]
#   ctest runs 2 kills; the stress run in the issue note used 12:
#   OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 tests/scripts/kill_resume.sh build/lorasub /tmp/kill 12 1
set -uo pipefail
bin="$1"; work="$2"; kills="${3:-2}"; RANDOM="${4:-1}"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
make_backbone
export LORASUB_PROGRESS=lines
long=(--set data.synthetic_per_class=300 --set train.init_epochs=3 --set train.epochs=3
      --set ckpt.every_steps=3 --set ckpt.keep=2 --set train.log_every=1)

t0=$(now_ms); train_run 2 full "${long[@]}"; expect_rc 0 $? "uninterrupted run"
span=$(( $(now_ms) - t0 ))
echo "uninterrupted run: ${span} ms"
matched=0; tried=0; missed=0
while [ "$tried" -lt "$kills" ] && [ "$missed" -lt $(( 3 * kills )) ]; do
  name="kill$((tried + missed))"
  # A moment between the first training step and the end (start-up takes ~1 s).
  rank=$(( RANDOM % 2 )); delay=$(( RANDOM % (span > 2000 ? span - 1500 : 500) ))
  train_bg 2 "$name" "${long[@]}"; mp=$MP
  pid=$(rank_pid "$mp" "$rank") || { echo "FAIL: no rank $rank"; exit 1; }
  wait_for "$work/$name.out" "step 1/" || { echo "FAIL: run did not start"; exit 1; }
  sleep "$(printf '%d.%03d' $((delay / 1000)) $((delay % 1000)))"
  step=$(grep -o "task [0-9]/2 epoch [0-9]/3  step [0-9]*" "$work/$name.out" | tail -1)
  # A zombie (the run already over) still takes a kill without error: look first.
  if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] || ! kill -9 "$pid" 2>/dev/null; then
    wait "$mp"; missed=$((missed + 1)); echo "     (run over before the kill at ${delay} ms; not counted)"; continue
  fi
  t1=$(now_ms); wait "$mp"; rc=$?; ms=$(( $(now_ms) - t1 ))
  tried=$((tried + 1))
  if [ "$rc" -eq 0 ] || [ "$ms" -ge 30000 ]; then
    echo "FAIL: kill -9 rank $rank ${delay} ms in: job exit $rc after ${ms} ms"; fail=1; continue
  fi
  train_run 2 "$name" "${long[@]}" --resume auto
  rc=$?
  from=$(grep -o "resuming from [^ ]*\|starting from the beginning" "$work/$name.out" | tail -1)
  if [ "$rc" -eq 0 ] && compare "$work/runs/$name/checkpoints/task_001.h5" "$work/runs/full/checkpoints/task_001.h5" 0 >/dev/null; then
    matched=$((matched + 1))
    echo "ok   kill -9 rank $rank ${delay} ms in (last progress: ${step}): job ended in ${ms} ms; resumed from ${from##*/}: bit-identical"
  else
    echo "FAIL: kill -9 rank $rank ${delay} ms in: resume exit $rc (${from}), result differs"; fail=1
  fi
done
echo "kill points tried: $tried, matched: $matched"
[ "$tried" -eq "$kills" ] || { echo "FAIL: only $tried kill points landed"; fail=1; }
exit $fail
