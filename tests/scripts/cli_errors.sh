#!/usr/bin/env bash
# Bad input is a clear message and exit code 2, printed once (rank 0) on 2 ranks, the
# other rank exiting quietly (no abort, no stop message), with nothing left behind: a missing file, an unknown key (with its suggestion), a wrong
# type, a value out of range, a bad --set, a missing dataset directory.
# Usage: cli_errors.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
fail=0
expect() {  # expect NAME PATTERN ARGS...
  local name="$1" pattern="$2"; shift 2
  mpirun -np 2 --oversubscribe --bind-to none "$bin" "$@" >"$work/$name.out" 2>"$work/$name.err"
  local rc=$?
  local n; n=$(grep -c "$pattern" "$work/$name.err")
  if [ "$rc" -ne 2 ] || [ "$n" -ne 1 ]; then
    echo "FAIL $name: exit $rc (want 2), message '$pattern' printed $n times (want 1):"
    sed 's/^/    /' "$work/$name.err"; fail=1
  elif grep -qE "stop signal|checkpointing|ORTE_ERROR_LOG|MPI_ABORT|show_help" "$work/$name.err"; then
    # The other rank refused the same input: it exits quietly, no abort, no stop message.
    echo "FAIL $name: the ranks did not end together quietly:"; sed 's/^/    /' "$work/$name.err"; fail=1
  else
    echo "ok   $name: $(grep "$pattern" "$work/$name.err")"
  fi
}
printf 'train:\n  batchsize: 3\n' >"$work/unknown.yaml"
printf 'train:\n  batch_size: many\n' >"$work/type.yaml"
printf 'drs:\n  energy: 1.5\n' >"$work/range.yaml"
cfg="$src/tests/mpi/tiny.yaml"
expect missing_file "cannot read config file '$work/none.yaml'" train -c "$work/none.yaml"
expect unknown_key "unknown key 'train.batchsize' (did you mean 'train.batch_size'?)" train -c "$work/unknown.yaml"
expect wrong_type "type.yaml:2:.*train.batch_size" train -c "$work/type.yaml"
expect out_of_range "drs.energy' = 1.5 is out of range" train -c "$work/range.yaml"
expect bad_set "unknown key 'drs.enrgy'" train -c "$cfg" --set drs.enrgy=0.5
expect no_dataset "directory '$work/nowhere' does not exist" train -c "$src/configs/demo.yaml" \
  --set "data.root=$work/nowhere" --set "run.dir=$work/runs"
expect bad_flag "The following argument was not expected: --bogus" train -c "$cfg" --bogus
# No GPU here (or a CPU-only LibTorch): asking for one names the cause.
if [ "$(nvidia-smi -L 2>/dev/null | grep -c GPU)" = 0 ]; then
  expect no_cuda "train.device cuda: .*\(CPU-only LibTorch\|no CUDA device visible\)" train -c "$cfg" \
    --set train.device=cuda --set "run.dir=$work/runs"
  expect no_nccl "dist.backend 'nccl'.*\(CPU-only LibTorch\|no CUDA device visible\|without NCCL\)" train -c "$cfg" \
    --set dist.backend=nccl --set "run.dir=$work/runs"
  expect nccl_on_cpu "dist.backend nccl reduces GPU buffers and needs train.device cuda" train -c "$cfg" \
    --set dist.backend=nccl --set train.device=cpu
fi
if [ -e "$work/runs" ]; then echo "FAIL: a failed start left $work/runs behind"; fail=1; fi
# --help is true: every subcommand's options are listed, and exits 0.
for sub in train pretrain bench; do
  "$bin" "$sub" --help >"$work/help.txt" 2>&1 || { echo "FAIL: $sub --help exited non-zero"; fail=1; }
  grep -q -- "--config" "$work/help.txt" || { echo "FAIL: $sub --help lacks --config"; fail=1; }
done
"$bin" --help-config >"$work/help-config.txt"; grep -q "^ *drs.subtract " "$work/help-config.txt" || { echo "FAIL: --help-config lacks drs.subtract"; fail=1; }
exit $fail
