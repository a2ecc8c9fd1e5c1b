# Shared by the checkpoint script tests. Source after setting bin, work and src.
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
CFG="$src/tests/scripts/ckpt.yaml"
fail=0

# lorasub on N ranks: run N ARGS...   (exit status of mpirun)
run() {
  local n="$1"; shift
  mpirun -np "$n" --oversubscribe --bind-to none "$bin" "$@"
}

# A backbone pre-trained on the synthetic classes (a random ViT maps every image to
# nearly the same feature, which makes 1-rank vs 2-rank comparisons ill-conditioned).
make_backbone() {
  BACKBONE="$work/backbone.safetensors"
  run 2 pretrain -c "$CFG" --set "pretrain.output=$BACKBONE" >"$work/pretrain.log" 2>&1 || {
    echo "FAIL: pretraining the test backbone"; cat "$work/pretrain.log"; exit 1; }
}

# train on N ranks into run NAME: train_run N NAME ARGS... ; stdout/stderr in $work/NAME.*
train_run() {
  local n="$1" name="$2"; shift 2
  run "$n" train -c "$CFG" --set "run.dir=$work/runs" --set "run.name=$name" \
    --set "model.weights=$BACKBONE" "$@" >>"$work/$name.out" 2>>"$work/$name.err"
}

# expect_rc WANT GOT WHAT
expect_rc() {
  if [ "$2" -ne "$1" ]; then echo "FAIL: $3: exit $2, want $1"; fail=1; else echo "ok   $3: exit $2"; fi
}

# expect_in FILE PATTERN WHAT
expect_in() {
  if grep -q -- "$2" "$1"; then echo "ok   $3"; else echo "FAIL: $3: '$2' not in $1:"; sed 's/^/    /' "$1" | tail -20; fail=1; fi
}

# compare A.h5 B.h5 TOL: adapters, heads, prototypes and the method's own state; TOL 0 = bit-identical, else
# ||a-b|| / ||b|| over all of them as one vector (float64). Norm-based: a dataset whose
# entries are all small cannot blow the error up as max|a-b| / max|b| per dataset could
# (the bound's argument: tests/mpi/equivalence_main.cpp).
compare() {
  "$PY" - "$1" "$2" "$3" <<'PY'
import sys
import h5py, numpy as np
a_path, b_path, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
diff2, norm2, names, bad = 0.0, 0.0, [], []
with h5py.File(a_path, "r") as a, h5py.File(b_path, "r") as b:
    def visit(name, obj):
        if isinstance(obj, h5py.Dataset) and name.split("/")[0] in ("adapters", "heads", "prototypes", "method"):
            names.append(name)
    a.visititems(visit)
    for n in names:
        x, y = a[n][()], b[n][()]
        if x.shape != y.shape:
            bad.append(n); continue
        if tol == 0:
            if not np.array_equal(x, y): bad.append(n)
        else:
            d = x.astype(np.float64) - y.astype(np.float64)
            diff2 += float((d * d).sum())
            norm2 += float((y.astype(np.float64) ** 2).sum())
worst = (diff2 / norm2) ** 0.5 if norm2 > 0 else diff2 ** 0.5
ok = not bad and (tol == 0 or worst < tol)
kind = "bit-identical" if tol == 0 else f"||a-b||/||b|| {worst:.3g} (limit {tol:g})"
print(f"{'ok  ' if ok else 'FAIL:'} {len(names)} datasets compared, {kind}" + (f"; differing: {bad}" if bad else ""))
sys.exit(0 if ok and names else 1)
PY
  [ $? -eq 0 ] || fail=1
}

# The pid of rank R among the children of mpirun MP (waits up to 20 s for it).
rank_pid() {
  local mp="$1" r="$2" i pid
  for i in $(seq 200); do
    for pid in $(pgrep -P "$mp" 2>/dev/null); do
      if tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$r"; then
        echo "$pid"; return 0
      fi
    done
    sleep 0.1
  done
  return 1
}

# Waits until FILE has a line matching PATTERN (up to 60 s).
wait_for() {
  local i
  for i in $(seq 600); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  return 1
}

# Milliseconds since the epoch.
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# train_run in the background; MP is mpirun's pid.
train_bg() {
  local n="$1" name="$2"; shift 2
  mpirun -np "$n" --oversubscribe --bind-to none "$bin" train -c "$CFG" --set "run.dir=$work/runs" \
    --set "run.name=$name" --set "model.weights=$BACKBONE" "$@" >>"$work/$name.out" 2>>"$work/$name.err" &
  MP=$!
}
