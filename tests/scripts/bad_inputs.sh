#!/usr/bin/env bash
# The bad-input corpus (tests/bad_inputs/cases.tsv): every case must end with its exit
# code (2 for bad input), a message that names the file or key, and nothing left
# behind: no new run directory, no *.tmp-* file, every earlier output and fixture
# unchanged byte for byte.
# Usage: bad_inputs.sh LORASUB_BIN WORK_DIR MAKE_IMAGE_DATASET [CASE...]
set -uo pipefail
BIN="$1"; W="$2"; mkds="$3"; shift 3
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; src="$SRC" bin="$BIN" work="$W"
only=("$@")
rm -rf "$W"; mkdir -p "$W"
[ "$(id -u)" = 0 ] && export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
. "$SRC/tests/scripts/lib.sh"
FX="$W/fx"; TINY="$SRC/tests/mpi/tiny.yaml"; OKW="$FX/st/ok.safetensors"
RUN="--set run.dir=$W/runs --set run.name=bad"
INRT="--set model.image_size=32 --set model.patch=8 --set model.dim=32 --set model.depth=2 --set model.heads=2
      --set model.mlp_dim=64 --set model.weights= --set method.rank=4 --set data.init_cls=2 --set data.increment=2
      --set train.batch_size=16 --set train.init_epochs=1 --set train.epochs=1 --set data.workers=1
      --set train.threads=1 $RUN"

# ---- fixtures: bad files, valid datasets, a finished run, its checkpoint and a cache
"$PY" "$SRC/tests/bad_inputs/make_fixtures.py" "$FX" || { echo "FAIL: fixtures"; exit 1; }
"$mkds" imagenet-r "$W/inr" 3 6 >/dev/null || { echo "FAIL: make_image_dataset"; exit 1; }
cp -r "$W/inr" "$W/inr_hole"; hole=$(ls "$W/inr_hole" | sed -n 2p); rm -f "$W/inr_hole/$hole"/*
cp -r "$W/inr" "$W/inr_bad"; for f in "$W"/inr_bad/*/*.jpg; do head -c 300 "$f" >"$f.x" && mv "$f.x" "$f"; done
mkdir -p "$W/emptyroot" "$W/dn_nolist" "$W/predir" "$W/blocked/tiny" "$W/bad"
touch "$W/blocked/tiny/checkpoints"
"$BIN" train -c "$TINY" --set "run.dir=$W/runs" --set run.name=keep --set "model.weights=$OKW" >"$W/keep.log" 2>&1 \
  || { echo "FAIL: the reference run"; tail "$W/keep.log"; exit 1; }
CK="$W/runs/keep/checkpoints/task_001.h5"
"$BIN" export "$W/runs/keep" -o "$W/keep.safetensors" >"$W/export.log" 2>&1 || { echo "FAIL: export"; tail "$W/export.log"; exit 1; }
"$BIN" prepare -c "$SRC/configs/imagenet-r-5.yaml" --set "data.root=$W/inr" --set data.cache_short_side=16 \
  -o "$W/cache.h5" >"$W/prepare.log" 2>&1 || { echo "FAIL: prepare"; tail "$W/prepare.log"; exit 1; }
CACHE="$W/cache.h5"
for f in ck:"$CK" cache:"$CACHE"; do
  name="${f%%:*}" src_file="${f#*:}"
  head -c $(( $(stat -c %s "$src_file") / 2 )) "$src_file" >"$W/bad/$name-trunc.h5"
  cp "$src_file" "$W/bad/$name-flip.h5"
  printf '\x55' | dd of="$W/bad/$name-flip.h5" bs=1 seek=$(( $(stat -c %s "$src_file") - 100 )) conv=notrunc 2>/dev/null
done

state() {  # what must not change: the run directories, every earlier output, the fixtures
  (cd "$W" && ls runs && find runs fx bad inr cache.h5 -type f ! -name .lock -exec sha256sum {} + | sort
   find . -name '*.tmp-*'; ls pre 2>/dev/null)
}
before=$(state)
cases=0 failed=0
while IFS=$'\t' read -r name want pattern args; do
  [ -z "$name" ] || [ "${name:0:1}" = "#" ] && continue
  if [ ${#only[@]} -gt 0 ] && [[ ! " ${only[*]} " == *" $name "* ]]; then continue; fi
  cases=$((cases + 1))
  eval "set -- $args"
  if [ "$1" = mpirun2 ]; then shift; cmd=(mpirun -np 2 --oversubscribe --bind-to none "$BIN" "$@"); else cmd=("$BIN" "$@"); fi
  timeout 120 "${cmd[@]}" >"$W/$name.out" 2>&1 </dev/null
  rc=$?
  pat=$(eval "printf '%s' \"$pattern\"")
  problems=()
  [ "$rc" -eq "$want" ] || problems+=("exit $rc, want $want")
  grep -qE -- "$pat" "$W/$name.out" || problems+=("no message matching '$pat'")
  grep -qE "AddressSanitizer|terminate called|Segmentation fault|core dumped|Backtrace|c10::Error" "$W/$name.out" \
    && problems+=("crashed or leaked a raw backtrace")
  after=$(state)
  if [ "$after" != "$before" ]; then
    problems+=("left something behind: $(diff <(echo "$before") <(echo "$after") | grep '^[<>]' | head -3 | tr '\n' ' ')")
    rm -rf "$W/runs/bad" "$W/pre"; find "$W" -name '*.tmp-*' -delete; before=$(state)
  fi
  if [ ${#problems[@]} -eq 0 ]; then
    echo "ok   $name: exit $rc: $(grep -m1 -oE -- "$pat" "$W/$name.out" | head -c 150)"
  else
    failed=$((failed + 1)); fail=1
    echo "FAIL $name: ${problems[*]}"; sed 's/^/       /' "$W/$name.out" | grep -v "^ *$" | head -6
  fi
done <"$SRC/tests/bad_inputs/cases.tsv"
echo "$cases cases, $failed failed"
[ "$cases" -ge 60 ] || [ ${#only[@]} -gt 0 ] || { echo "FAIL: the corpus has fewer than 60 cases"; fail=1; }
exit $fail
