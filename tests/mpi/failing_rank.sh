#!/usr/bin/env bash
# A rank that throws mid-step must bring the whole 2-rank job down promptly: non-zero
# exit, the error named on stderr, and no hang (the other rank is blocked in the
# gradient all-reduce when its peer dies). Checked for a failure on rank 1 and on rank 0.
# Usage: failing_rank.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
rm -rf "$work"; mkdir -p "$work"
fail=0
for rank in 1 0; do
  start=$(date +%s%N)
  timeout -s KILL 60 mpirun -np 2 --oversubscribe --bind-to none "$bin" train -c "$here/tiny.yaml" \
    --set "run.dir=$work" --set train.fail_step=5 --set "train.fail_rank=$rank" \
    >"$work/out-$rank.txt" 2>"$work/err-$rank.txt"
  rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "fail_rank=$rank: exit $rc after ${ms} ms"
  if [ "$rc" -eq 0 ]; then echo "  FAIL: the job succeeded although rank $rank threw"; fail=1; fi
  if [ "$rc" -eq 137 ]; then echo "  FAIL: the job hung and was killed after 60 s"; fail=1; fi
  if [ "$ms" -ge 30000 ]; then echo "  FAIL: took ${ms} ms (limit 30 s)"; fail=1; fi
  if ! grep -q "rank $rank .*injected failure at global step 5" "$work/err-$rank.txt"; then
    echo "  FAIL: stderr does not name rank $rank and the failure:"; sed 's/^/    /' "$work/err-$rank.txt"; fail=1
  fi
done
exit $fail
