#!/usr/bin/env bash
# Resume equals uninterrupted for a comparison method (method.name=$3: inflora, sd-lora):
# a 2-task run stopped mid-task 2 by SIGUSR1 and resumed on 2 ranks ends bit-identical
# to the uninterrupted run, the method's own checkpoint state (method/) included; one
# stopped in task 1 on 1 rank and resumed on 2 ends within 1e-5 (tests/scripts/resume.sh
# argues the bound). The checkpoint's method/ datasets are read back with h5py.
# Usage: resume_method.sh LORASUB_BIN WORK_DIR METHOD
set -uo pipefail
bin="$1"; work="$2"; method="$3"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
make_backbone
m=(--set "method.name=$method")

train_run 2 full "${m[@]}"; expect_rc 0 $? "$method: uninterrupted 2-rank run"
full="$work/runs/full/checkpoints/task_001.h5"

train_run 2 two "${m[@]}" --set train.fail_kind=signal --set train.fail_step=31 --set train.fail_rank=1
expect_rc 75 $? "$method: SIGUSR1 on rank 1 in task 2, exit 75"
train_run 2 two "${m[@]}" --resume auto; expect_rc 0 $? "$method: resume on 2 ranks"
expect_in "$work/two.out" "resuming from .*step_000000032.h5" "$method: resumed from the stop checkpoint"
compare "$work/runs/two/checkpoints/task_001.h5" "$full" 0

train_run 1 one "${m[@]}" --set train.fail_kind=signal --set train.fail_step=13 --set train.fail_rank=0
expect_rc 75 $? "$method: SIGUSR1 on a 1-rank run in task 1, exit 75"
train_run 2 one "${m[@]}" --resume auto; expect_rc 0 $? "$method: resume on 2 ranks of a 1-rank run"
compare "$work/runs/one/checkpoints/task_001.h5" "$full" 1e-5

"$PY" - "$work/runs/full/checkpoints/task_000.h5" "$method" <<'PY' || fail=1
import sys, h5py, numpy as np
path, method = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    names = sorted(f["method"].keys())
    if method == "inflora":
        kinds, cols = f["method/gpm_kind"][()], f["method/gpm_columns"][()]
        for b, k in enumerate(cols):
            m = f[f"method/gpm_basis_block_{b}"][()]
            assert m.shape == (16, k) and np.allclose(m.T @ m, np.eye(k), atol=1e-10), (b, m.shape)
        print(f"ok   {method}: method/ holds {names}; memory columns {list(cols)}, kinds {list(kinds)}")
    else:
        a = f["method/magnitudes"][()]
        assert a.shape == (1,) and a.dtype == np.float32 and a[0] != np.float32(0.8), a
        print(f"ok   {method}: method/ holds {names}; magnitudes after task 1 {a}")
PY
exit $fail
