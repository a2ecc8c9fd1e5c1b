#!/usr/bin/env bash
# Nothing lost: a run directory holds one run at a time, and bad output paths or bad
# weights are refused before the first step, with exit 2 and the path or tensor named:
#  - a plain rerun of a finished run is refused and leaves every file byte for byte;
#    --overwrite replaces it; --overwrite with --resume is a usage error;
#  - a second lorasub on a run directory in use is refused (flock), the first finishes;
#  - run.dir that is a file or under /proc, run.name empty or with '..', pretrain.output
#    that is a directory: refused before training;
#  - NaN in the backbone weights: refused at load, naming the tensor.
# Usage: run_dir_safety.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
cfg="$src/tests/mpi/tiny.yaml"
tiny() { local name="$1"; shift; run 2 train -c "$cfg" --set "run.dir=$work/runs" --set "run.name=$name" "$@" \
           >"$work/$name.out" 2>"$work/$name.err"; }
digest() { (cd "$1" && find . -type f ! -name .lock -exec sha256sum {} + | sort); }
# refused NAME PATTERN ARGS...: exit 2 with PATTERN on stderr, nothing trained.
refused() {
  local name="$1" pattern="$2"; shift 2
  run 2 train -c "$cfg" "$@" >"$work/$name.out" 2>"$work/$name.err"; expect_rc 2 $? "$name"
  expect_in "$work/$name.err" "$pattern" "$name: says '$pattern'"
  if grep -qE "stop signal|checkpointing|ORTE_ERROR_LOG|MPI_ABORT" "$work/$name.err"; then
    echo "FAIL: $name: the other rank did not exit quietly:"; sed 's/^/    /' "$work/$name.err"; fail=1; fi
  if grep -q "epoch" "$work/$name.out"; then echo "FAIL: $name: trained before refusing"; fail=1; fi
}

tiny first; expect_rc 0 $? "a first run"
before=$(digest "$work/runs/first")
tiny first; expect_rc 2 $? "the same run.name again"
expect_in "$work/first.err" "run directory '$work/runs/first' already holds a run.*--resume auto.*--overwrite" \
  "rerun: says how to continue or replace it"
[ "$before" = "$(digest "$work/runs/first")" ] && echo "ok   rerun: every file unchanged" \
  || { echo "FAIL: rerun changed the run directory"; fail=1; }
tiny first --overwrite --set run.seed=4; expect_rc 0 $? "--overwrite"
expect_in "$work/first.out" "--overwrite: removed .* files of the earlier run" "--overwrite says what it removed"
[ "$before" != "$(digest "$work/runs/first")" ] && echo "ok   --overwrite: a new run in place" \
  || { echo "FAIL: --overwrite left the old files"; fail=1; }
tiny first --overwrite --resume auto; expect_rc 2 $? "--overwrite with --resume"

# Two runs on one directory at once: the second is refused while the first runs on. The
# first trains until it is stopped below (40 epochs once ended before the second one had
# started, on a loaded machine, and the second then met its checkpoints instead).
# mpirun itself in the background (not the `run` function's subshell), so that the TERM
# below reaches it and through it the ranks.
mpirun -np 2 --oversubscribe --bind-to none "$bin" train -c "$cfg" --set "run.dir=$work/runs" --set run.name=busy \
  --set data.synthetic_per_class=400 --set train.init_epochs=1000000 >"$work/busy-a.out" 2>"$work/busy-a.err" &
a=$!
# It holds the lock once its pid is in the lock file (before its first step).
for _ in $(seq 3000); do [ -s "$work/runs/busy/.lock" ] && break; sleep 0.1; done
[ -s "$work/runs/busy/.lock" ] || { echo "FAIL: the first run did not take its run directory in 300 s"; fail=1; }
tiny busy --resume auto; expect_rc 2 $? "a second lorasub on a run directory in use"
expect_in "$work/busy.err" "run directory '$work/runs/busy' is in use by another lorasub (pid [0-9]*)" "busy: names the holder"
kill -TERM "$a" 2>/dev/null; wait "$a" 2>/dev/null

touch "$work/afile"
refused dir_is_file "cannot create directory '$work/afile/tiny': mkdir '$work/afile': Not a directory" --set "run.dir=$work/afile"
refused dir_in_proc "cannot create directory '/proc/lorasub-runs/tiny'" --set run.dir=/proc/lorasub-runs
refused name_empty "run name '' must be non-empty" --set "run.dir=$work/runs" --set "run.name="
refused name_dotdot "run name '../escape' must be non-empty and hold no '..' component" --set "run.dir=$work/runs" \
  --set "run.name=../escape"
mkdir -p "$work/outdir"
run 2 pretrain -c "$cfg" --set "pretrain.output=$work/outdir" --set pretrain.dataset=synthetic \
  >"$work/pre.out" 2>"$work/pre.err"; expect_rc 2 $? "pretrain.output is a directory"
expect_in "$work/pre.err" "pretrain.output '$work/outdir' is a directory" "pretrain.output: names it"
grep -q "pretrain epoch" "$work/pre.out" && { echo "FAIL: pretrained before refusing"; fail=1; }

# A backbone with one NaN: refused at load, naming the tensor.
"$PY" - "$work/nan.safetensors" "$src/tests/tools" <<'PY'
import json, struct, sys
import numpy as np
sys.path.insert(0, sys.argv[2])
from vit_shapes import vit_shapes
shapes = vit_shapes()
header, blobs, off = {}, [], 0
for name, s in shapes.items():
    a = np.full(s, 0.01, np.float32)
    if name == "blocks.1.attn.qkv.weight": a[3, 4] = np.nan
    b = a.tobytes(); header[name] = {"dtype": "F32", "shape": s, "data_offsets": [off, off + len(b)]}; blobs.append(b); off += len(b)
h = json.dumps(header).encode()
open(sys.argv[1], "wb").write(struct.pack("<Q", len(h)) + h + b"".join(blobs))
PY
refused nan_weights "tensor 'blocks.1.attn.qkv.weight' holds 1 NaN or infinite values" --set "run.dir=$work/runs" \
  --set run.name=nanw --set "model.weights=$work/nan.safetensors"
exit $fail
