#!/usr/bin/env bash
# Damaged, foreign and unwritable checkpoints (ARCHITECTURE invariant 4):
#  - retention: at most ckpt.keep step checkpoints, task-end ones kept;
#  - truncated, a flipped byte in a dataset (both caught by the whole-file seal before
#    HDF5 reads the file), a missing dataset, a wrong format version (both resealed, so
#    the checkpoint's own checks must catch them),
#    each refused by `lorasub inspect` (exit 1) and `train --resume PATH` (exit 2) with its
#    own message; `--resume auto` skips it, names it, resumes from the next good one and
#    ends bit-identical to the uninterrupted run;
#  - another config: --resume auto and --resume PATH refuse (exit 2), naming the
#    checkpoint and the keys that differ, and leave the run directory as it was;
#  - NaN in the loss: exit 3 naming the step, the last good checkpoint intact;
#  - the disk filling up while checkpointing (a small tmpfs, when this machine lets us
#    mount one) and an unwritable checkpoint directory: clear error, earlier checkpoints
#    intact.
# Usage: checkpoint_faults.sh LORASUB_BIN WORK_DIR
set -uo pipefail
bin="$1"; work="$2"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if mountpoint -q "$work/small" 2>/dev/null; then umount "$work/small"; fi
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
make_backbone

# The reference: checkpoints every 6 steps, 3 kept (40 steps: 6..36 written).
train_run 2 ref --set ckpt.every_steps=6 --set ckpt.keep=3; expect_rc 0 $? "reference run"
ck="$work/runs/ref/checkpoints"
got=$(ls "$ck" | tr '\n' ' ')
[ "$got" = "step_000000024.h5 step_000000030.h5 step_000000036.h5 task_000.h5 task_001.h5 " ] \
  && echo "ok   retention: $got" || { echo "FAIL: retention kept: $got"; fail=1; }
full="$ck/task_001.h5"

# damage NAME HOW: a copy of the run whose newest step checkpoint is damaged, plus its
# task_001.h5 removed so that resuming has work left to do.
damage() {
  local name="$1" how="$2"
  rm -rf "$work/runs/$name"; cp -r "$work/runs/ref" "$work/runs/$name"
  rm -f "$work/runs/$name/checkpoints/task_001.h5"
  local f="$work/runs/$name/checkpoints/step_000000036.h5"
  "$PY" - "$f" "$how" <<'PY'
import os, sys, zlib
import h5py
path, how = sys.argv[1], sys.argv[2]

def reseal(p):
    # A damage that happened before the file was sealed: the seal matches, the inner checks must speak.
    data = open(p, "rb").read()
    block = f"LORASUB-SEAL 1\nbytes {len(data)}\ncrc32 {zlib.crc32(data[512:]):08x}\n".encode().ljust(512, b"\0")
    open(p, "r+b").write(block)

if how == "truncate":
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
elif how == "flip":
    with h5py.File(path, "r") as f:
        d = f["adapters/task_1/block_0/a_k"]
        offset = d.id.get_offset() + 5
    with open(path, "r+b") as f:
        f.seek(offset); b = f.read(1); f.seek(offset); f.write(bytes([b[0] ^ 0x10]))
elif how == "missing":
    with h5py.File(path, "r+") as f:
        del f["prototypes/counts"]
    reseal(path)
elif how == "version":
    with h5py.File(path, "r+") as f:
        f.attrs["format_version"] = 1
    reseal(path)
PY
}

# refused NAME MESSAGE: inspect and --resume PATH refuse the damaged file with MESSAGE;
# --resume auto skips it and finishes like the uninterrupted run.
refused() {
  local name="$1" msg="$2" f="$work/runs/$1/checkpoints/step_000000036.h5"
  "$bin" inspect "$f" >"$work/$name.inspect" 2>&1; expect_rc 1 $? "$name: inspect"
  expect_in "$work/$name.inspect" "$msg" "$name: inspect says '$msg'"
  train_run 2 "$name" --resume "$f"; expect_rc 2 $? "$name: --resume PATH refused"
  expect_in "$work/$name.err" "$msg" "$name: --resume PATH says '$msg'"
  train_run 2 "$name" --resume auto; expect_rc 0 $? "$name: --resume auto"
  expect_in "$work/$name.out" "skipping '$f'.*$msg" "$name: auto names the skipped file"
  expect_in "$work/$name.out" "resuming from .*step_000000030.h5" "$name: auto falls back to step 30"
  compare "$work/runs/$name/checkpoints/task_001.h5" "$full" 0
}

damage trunc truncate; refused trunc "damaged lorasub checkpoint: the file has .* bytes, its seal says"
damage flip flip; refused flip "damaged lorasub checkpoint: whole-file checksum mismatch"
damage missing missing; refused missing "missing dataset 'prototypes/counts'"
damage version version; refused version "checkpoint format version 1, this lorasub"

# Another config: refused, unless --allow-config-change, which results.json records.
rm -rf "$work/runs/other"; cp -r "$work/runs/ref" "$work/runs/other"; rm "$work/runs/other/checkpoints/task_001.h5"
before=$(cd "$work/runs/other" && find . -type f ! -name .lock -exec sha256sum {} + | sort)
train_run 2 other --resume auto --set loss.margin=1.5 --set ckpt.keep=10
expect_rc 2 $? "another config: --resume auto refused"
expect_in "$work/other.err" "cannot resume from '.*step_000000036.h5': written by a run with another config" \
  "another config: auto names the checkpoint"
expect_in "$work/other.err" "loss.margin: 2.0 -> 1.5" "another config: auto names the key that differs"
after=$(cd "$work/runs/other" && find . -type f ! -name .lock -exec sha256sum {} + | sort)
[ "$before" = "$after" ] && echo "ok   another config: the run directory is unchanged" \
  || { echo "FAIL: another config: the run directory changed"; fail=1; }
train_run 2 other2 --resume "$ck/step_000000036.h5" --set loss.margin=1.5
expect_rc 2 $? "another config: --resume PATH refused"
expect_in "$work/other2.err" "written by a run with another config" "another config: message"
train_run 2 other2 --resume "$ck/step_000000036.h5" --set loss.margin=1.5 --allow-config-change
expect_rc 0 $? "another config: --allow-config-change"
"$PY" -c "import json; r=json.load(open('$work/runs/other2/results.json'))['resumes']; assert r[0]['config_changed'] is True, r" \
  && echo "ok   the config change is recorded in results.json" || { echo "FAIL: config change not recorded"; fail=1; }

# NaN at step 8: exit 3 naming the step; checkpoint 6 intact, none after it.
train_run 2 nan --set ckpt.every_steps=6 --set train.fail_kind=nan --set train.fail_step=8 --set train.fail_rank=1
expect_rc 3 $? "NaN in the loss"
expect_in "$work/nan.err" "non-finite loss or gradient in task 0.*at global step 8" "NaN: message names task and step"
[ "$(ls "$work/runs/nan/checkpoints")" = "step_000000006.h5" ] && echo "ok   NaN: only step 6 on disk" \
  || { echo "FAIL: NaN left: $(ls "$work/runs/nan/checkpoints")"; fail=1; }
"$bin" inspect "$work/runs/nan/checkpoints/step_000000006.h5" >/dev/null; expect_rc 0 $? "NaN: step 6 intact"

# An unwritable checkpoint directory (a file is in its way): refused before training, exit 2.
mkdir -p "$work/runs/blocked"; touch "$work/runs/blocked/checkpoints"
train_run 2 blocked --set ckpt.every_steps=6; expect_rc 2 $? "unwritable checkpoint directory"
grep -q "epoch" "$work/blocked.out" && { echo "FAIL: unwritable: it trained before refusing"; fail=1; } \
  || echo "ok   unwritable: refused before the first step"
expect_in "$work/blocked.err" "cannot create directory '$work/runs/blocked/checkpoints'" "unwritable: message names the directory"

# The disk filling up: a 100 KiB tmpfs holds two ~35 KiB checkpoints, not a third.
mkdir -p "$work/small"
if mount -t tmpfs -o size=100k tmpfs "$work/small" 2>/dev/null; then
  run 2 train -c "$CFG" --set "run.dir=$work/small" --set run.name=full --set "model.weights=$BACKBONE" \
    --set ckpt.every_steps=2 --set ckpt.keep=5 >"$work/full.out" 2>"$work/full.err"
  expect_rc 1 $? "disk full"
  expect_in "$work/full.err" "checkpoint not written (the previous ones are intact)" "disk full: message"
  for f in "$work"/small/full/checkpoints/*.h5; do
    "$bin" inspect "$f" >/dev/null || { echo "FAIL: disk full: $f damaged"; fail=1; }
  done
  n=$(ls "$work"/small/full/checkpoints/*.h5 | wc -l)
  echo "ok   disk full: $n earlier checkpoints verify"
  if ls "$work/small/full/checkpoints" | grep -q tmp-; then echo "FAIL: disk full: temporary left"; fail=1; fi
  umount "$work/small"
else
  echo "skip disk-full case: cannot mount a tmpfs here (needs CAP_SYS_ADMIN)"
fi
exit $fail
