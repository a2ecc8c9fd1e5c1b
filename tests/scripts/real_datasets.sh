#!/usr/bin/env bash
# The real-benchmark pipelines end to end on tiny datasets written in their exact
# on-disk formats (tests/tools/make_image_dataset.cpp): ImageNet-R folders (seeded
# 80/20 split, then a CODA split yaml), DomainNet lists, CIFAR-100 binary and python
# version (the same images: bit-identical checkpoints); each trains
# 2 tasks on 2 ranks with a tiny ViT at 32 px through the reference transforms.
# ImageNet-R also through `lorasub prepare`'s cache, with the image folders moved away
# (so the epoch reads no JPEG) and a corrupt JPEG (error, then on_bad_image: skip).
# Usage: real_datasets.sh LORASUB_BIN WORK_DIR MAKE_IMAGE_DATASET
set -uo pipefail
bin="$1"; work="$2"; gen="$3"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3
tiny=(--set model.image_size=32 --set model.patch=8 --set model.dim=32 --set model.depth=2 --set model.heads=2
      --set model.mlp_dim=64 --set model.weights= --set method.rank=4 --set data.init_cls=2 --set data.increment=2
      --set train.batch_size=16 --set train.init_epochs=1 --set train.epochs=1 --set data.workers=2
      --set train.threads=1 --set "run.dir=$work/runs" --set ckpt.every_minutes=0)

# results NAME TASKS: the run finished and wrote TASKS rows.
results() {
  "$PY" - "$work/runs/$1/results.json" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r["accuracy_matrix"]) == int(sys.argv[2]), r["accuracy_matrix"]
print(f"ok   {sys.argv[1].split('/')[-2]}: {len(r['accuracy_matrix'])} tasks, A_last {r['A_last']:.1f}")
PY
  [ $? -eq 0 ] || fail=1
}

"$gen" imagenet-r "$work/imagenet-r" 4 20 || exit 1
"$gen" domainnet "$work/domainnet" 4 10 || exit 1
"$gen" cifar100 "$work/cifar" 4 40 || exit 1
"$gen" cifar100-python "$work/cifar-py" 4 40 || exit 1

run 2 train -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/imagenet-r" \
  --set run.name=inr >"$work/inr.out" 2>&1
expect_rc 0 $? "ImageNet-R (seeded split), 2 ranks"; results inr 2

# The same images through a CODA-format split file written by the shipped script.
mkdir -p "$work/split"
"$PY" "$src/data/make_imagenet_r_split.py" "$work/imagenet-r" --seed 1993 --out-dir "$work/split" >"$work/split.out" 2>&1
expect_rc 0 $? "make_imagenet_r_split.py"
run 2 train -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/imagenet-r" \
  --set "data.split_train=$work/split/imagenet-r_train.yaml" --set "data.split_test=$work/split/imagenet-r_test.yaml" \
  --set run.name=inr-yaml >"$work/inr-yaml.out" 2>&1
expect_rc 0 $? "ImageNet-R (split yaml), 2 ranks"; results inr-yaml 2
cmp -s <(grep "after task" "$work/inr.out") <(grep "after task" "$work/inr-yaml.out") \
  && echo "ok   the split file reproduces the seeded split (same accuracy matrix)" \
  || { echo "FAIL: split yaml run differs from the seeded split run"; fail=1; }

# The decode/augment path is rank-count invariant: 1 rank == 2 ranks (ATL off: on a
# random backbone its hard-example mining amplifies fp32 rounding, see tests/mpi).
for n in 1 2; do
  run $n train -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/imagenet-r" \
    --set loss.atl_weight=0 --set run.name=inr-np$n >"$work/inr-np$n.out" 2>&1
  expect_rc 0 $? "ImageNet-R without ATL on $n rank(s)"
done
compare "$work/runs/inr-np2/checkpoints/task_001.h5" "$work/runs/inr-np1/checkpoints/task_001.h5" 1e-5

run 2 train -c "$src/configs/domainnet-5.yaml" "${tiny[@]}" --set "data.root=$work/domainnet" \
  --set data.domains=clipart,real --set run.name=dn >"$work/dn.out" 2>&1
expect_rc 0 $? "DomainNet (2 domains), 2 ranks"; results dn 2

run 2 train -c "$src/configs/cifar100-10.yaml" "${tiny[@]}" --set "data.root=$work/cifar" \
  --set run.name=cifar >"$work/cifar.out" 2>&1
expect_rc 0 $? "CIFAR-100 binary, 2 ranks"; results cifar 2
run 2 train -c "$src/configs/cifar100-10.yaml" "${tiny[@]}" --set "data.root=$work/cifar-py" \
  --set run.name=cifar-py >"$work/cifar-py.out" 2>&1
expect_rc 0 $? "CIFAR-100 python version, 2 ranks"; results cifar-py 2
# The same images and labels: the same training, bit for bit.
compare "$work/runs/cifar-py/checkpoints/task_001.h5" "$work/runs/cifar/checkpoints/task_001.h5" 0

# prepare -> cache; then the image folders are moved away: the run must not need them.
run 1 prepare -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/imagenet-r" \
  --set data.cache_short_side=40 -o "$work/inr-cache.h5" >"$work/prepare.out" 2>&1
expect_rc 0 $? "lorasub prepare"
expect_in "$work/prepare.out" "prepare: 80 images" "prepare wrote all 80 images"
mv "$work/imagenet-r" "$work/imagenet-r.away"
run 2 train -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/imagenet-r" \
  --set "data.cache=$work/inr-cache.h5" --set run.name=inr-cache >"$work/inr-cache.out" 2>&1
expect_rc 0 $? "ImageNet-R from the cache, image folders gone"; results inr-cache 2
mv "$work/imagenet-r.away" "$work/imagenet-r"

# A corrupt JPEG: a clear error naming it; with on_bad_image: skip the run goes on.
bad=$(ls "$work"/imagenet-r/*/*.jpg | head -1)
head -c 300 "$bad" > "$bad.tmp" && mv "$bad.tmp" "$bad"
run 2 train -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/imagenet-r" \
  --set run.name=bad >"$work/bad.out" 2>&1
expect_rc 2 $? "a corrupt JPEG stops the run (bad input: exit 2)"
expect_in "$work/bad.out" "$bad" "the error names the file"
run 2 train -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/imagenet-r" \
  --set data.on_bad_image=skip --set run.name=skip >"$work/skip.out" 2>&1
expect_rc 0 $? "on_bad_image: skip"; results skip 2
expect_in "$work/skip.out" "unreadable image loads were replaced by grey images" "skipped loads are reported"
"$PY" -c "import json; n=json.load(open('$work/runs/skip/results.json'))['skipped_image_loads']; assert n > 0, n" \
  && echo "ok   results.json counts the skipped loads" || { echo "FAIL: skipped loads not counted"; fail=1; }

# No data.root: the message says what to set.
run 2 train -c "$src/configs/imagenet-r-5.yaml" "${tiny[@]}" --set "data.root=$work/nowhere" --set run.name=none \
  >"$work/none.out" 2>&1
expect_rc 2 $? "missing data.root"
expect_in "$work/none.out" "directory '$work/nowhere' does not exist (set data.root" "message names the directory"
exit $fail
