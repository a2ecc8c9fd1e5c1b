#!/usr/bin/env bash
# `lorasub train` on 2 ranks writes a complete run directory: config.yaml (loads back to
# the same hash), results.json (metrics that agree with the accuracy matrix),
# accuracy_matrix.csv, and task-end HDF5 checkpoints that h5py reads and whose CRC-32
# checksums verify, with the layout docs/checkpoint-format.md documents.
# Usage: run_outputs.sh LORASUB_BIN WORK_DIR
set -euo pipefail
bin="$1"; work="$2"
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
mpirun -np 2 --oversubscribe --bind-to none "$bin" train -c "$src/tests/mpi/tiny.yaml" \
  --set "run.dir=$work" --set run.name=out >"$work/stdout.txt" 2>"$work/stderr.txt" || {
  echo "FAIL: lorasub train exited $?"; cat "$work/stderr.txt"; exit 1; }
run="$work/out"
for f in config.yaml results.json accuracy_matrix.csv checkpoints/task_000.h5 checkpoints/task_001.h5; do
  [ -s "$run/$f" ] || { echo "FAIL: $run/$f missing or empty"; exit 1; }
done
if ls "$run" "$run/checkpoints" | grep -q '\.tmp-'; then echo "FAIL: temporary files left behind"; exit 1; fi
grep -q "A_last" "$work/stdout.txt" || { echo "FAIL: no summary printed"; exit 1; }
# The saved config is a complete config: it loads back and trains the same run.
"$bin" train -c "$run/config.yaml" --tasks 1 --set "run.dir=$work" --set run.name=again \
  >/dev/null 2>"$work/again.txt" || { echo "FAIL: saved config.yaml does not load:"; cat "$work/again.txt"; exit 1; }
# Debian's python3 has python3-h5py (scripts/install-deps.sh); a pyenv/venv one may not.
py=/usr/bin/python3; [ -x "$py" ] || py=python3
"$py" - "$run" <<'PY'
import json, math, sys, zlib
import h5py, numpy as np
run = sys.argv[1]
res = json.load(open(f"{run}/results.json"))
R = res["accuracy_matrix"]
T = len(R)
assert T == 2 and len(res["tasks"]) == 2, res
assert abs(res["A_last"] - res["tasks"][-1]["A"]) < 1e-9
assert abs(res["A_avg"] - sum(round(t["A"], 2) for t in res["tasks"]) / T) < 1e-9, res["A_avg"]
forget = sum(max(R[i][j] for i in range(j, T)) - R[T - 1][j] for j in range(T - 1)) / (T - 1)
assert abs(res["forgetting"] - forget) < 1e-9, (res["forgetting"], forget)
csv = [l for l in open(f"{run}/accuracy_matrix.csv").read().splitlines() if l]
assert len(csv) >= T, csv
path = f"{run}/checkpoints/task_001.h5"
with h5py.File(path, "r") as f, open(path, "rb") as raw:
    def check(name, obj):
        if isinstance(obj, h5py.Dataset):
            off = obj.id.get_offset()
            data = b""
            if off is not None:
                raw.seek(off); data = raw.read(obj.id.get_storage_size())
            assert zlib.crc32(data) == int(obj.attrs["crc32"]), f"crc mismatch in {name}"
    f.visititems(check)
    assert f.attrs["format"] == "lorasub-checkpoint" and int(f.attrs["format_version"]) == 3
    assert int(f.attrs["task"]) == 1 and int(f.attrs["task_done"]) == 1 and f.attrs["kind"] == "task_end"
    r, d, L = 3, 16, 2
    for s in range(2):
        for l in range(L):
            g = f[f"adapters/task_{s}/block_{l}"]
            assert g["a_k"].shape == (r, d) and g["b_v"].shape == (d, r), g
        assert f[f"heads/task_{s}/weight"].shape == (2, d)
    assert f["prototypes/means"].shape == (4, d)
    assert list(f["prototypes/counts"][()]) == [32] * 4
    assert list(f["plan/class_order"][()]) == [0, 1, 2, 3]
    assert len(f["drs/kept_dims"][()]) == L and all(0 < k <= d for k in f["drs/kept_dims"][()])
    M = f["accuracy/matrix"][()]
    assert M.shape == (2, 2) and math.isnan(M[0, 1]) and abs(M[1, 0] - R[1][0]) < 1e-9
    cfg = f["config_yaml"][()].decode()
    assert "name: out" in cfg and "dataset: synthetic" in cfg, cfg
# The whole-file seal in the 512-byte user block, checked independently of lorasub.
blob = open(path, "rb").read()
seal = blob[:512].rstrip(b"\0").decode().splitlines()
assert seal[0] == "LORASUB-SEAL 1" and seal[1] == f"bytes {len(blob)}", seal
assert seal[2] == f"crc32 {zlib.crc32(blob[512:]):08x}", seal
print("PASS: run directory and checkpoints complete;", f"A_last {res['A_last']:.2f}")
PY
