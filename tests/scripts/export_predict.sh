#!/usr/bin/env bash
# lorasub export and predict end to end, on 1 rank:
#  1. Split Fashion-MNIST (IDX) on a backbone pre-trained on the synthetic classes: the
#     export read back by a json+struct reader (tests/tools/read_safetensors.py) has
#     every timm key at its shape, its qkv weights equal the backbone's W0 plus
#     sum_s B_s A_s of the checkpoint's adapters (h5py, float64), every other tensor is
#     the backbone's, prototypes and class order are the checkpoint's; a numpy ViT
#     (tests/tools/numpy_vit.py) over the exported tensors predicts as predict does;
#     predict on the run's own test set (the t10k IDX files) gives exactly the run's
#     A_last, and for --task 0 exactly its A_1.
#  1b. The same run with method.name=inflora and sd-lora (they predict with their heads):
#     the export's qkv rows equal the method's fold of the checkpoint (numpy, float64:
#     InfLoRA W0 + sum B A on k and v; SD-LoRA W0 + sum alpha_j B_j A_j / (|B_j| |A_j|)
#     + alpha_t B_t A_t on q and v), the heads ride along, and predict on the test set
#     gives exactly the run's A_last.
#  2. ImageNet-R folders (JPEG + PNG, the resize + centre-crop test transform, a random-
#     init backbone): predict on the test split's files gives exactly the run's A_last.
#  3. Refusals (exit 2, a message naming the path, nothing written or overwritten).
# Usage: export_predict.sh LORASUB_BIN WORK_DIR MAKE_IMAGE_DATASET
set -uo pipefail
bin="$1"; work="$2"; gen="$3"; src="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
rm -rf "$work"; mkdir -p "$work"
. "$src/tests/scripts/lib.sh"
export PYTHONPATH="$src/tests/tools${PYTHONPATH:+:$PYTHONPATH}"
CFG="$src/tests/scripts/export_predict.yaml"
FM=/usr/share/datasets/fashion-mnist
BACKBONE="$work/backbone.safetensors"

"$bin" pretrain -c "$CFG" --set "pretrain.output=$BACKBONE" >"$work/pretrain.log" 2>&1 \
  || { echo "FAIL: pretraining the backbone"; tail "$work/pretrain.log"; exit 1; }
"$bin" train -c "$CFG" --set "run.dir=$work/runs" --set "model.weights=$BACKBONE" >"$work/fm.log" 2>&1 \
  || { echo "FAIL: the Fashion-MNIST run"; tail "$work/fm.log"; exit 1; }
RUN="$work/runs/fm"

"$bin" export "$RUN" -o "$work/fm.safetensors" >"$work/export.log" 2>&1
expect_rc 0 $? "export the last task"
expect_in "$work/export.log" "export: task 1 (10 classes" "export names the task and its classes"
"$bin" export "$RUN" --task 0 -o "$work/fm0.safetensors" >"$work/export0.log" 2>&1
expect_rc 0 $? "export --task 0"
"$PY" "$src/tests/tools/read_safetensors.py" "$work/fm.safetensors" >"$work/keys.txt"
expect_rc 0 $? "read_safetensors.py lists the export"
expect_in "$work/keys.txt" "^blocks.0.attn.qkv.weight F32 \[96, 32\]" "timm key blocks.0.attn.qkv.weight [3d, d]"
expect_in "$work/keys.txt" "^lorasub.class_order I64 \[10\]" "class order as int64"

# The export against independent computations.
for t in 0 1; do
  out="$work/fm.safetensors"; [ $t = 0 ] && out="$work/fm0.safetensors"
  "$PY" - "$out" "$BACKBONE" "$RUN/checkpoints/task_00$t.h5" $t <<'PY'
import sys
import h5py, numpy as np
from read_safetensors import load
path, backbone, ckpt, task = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
meta, ex = load(path)
_, w0 = load(backbone)
d, depth, c, p, tokens, mlp = 32, 2, 1, 7, 17, 64
shapes = {"patch_embed.proj.weight": [d, c, p, p], "patch_embed.proj.bias": [d], "cls_token": [1, 1, d],
          "pos_embed": [1, tokens, d], "norm.weight": [d], "norm.bias": [d]}
for i in range(depth):
    shapes.update({f"blocks.{i}.norm1.weight": [d], f"blocks.{i}.norm1.bias": [d],
                   f"blocks.{i}.attn.qkv.weight": [3 * d, d], f"blocks.{i}.attn.qkv.bias": [3 * d],
                   f"blocks.{i}.attn.proj.weight": [d, d], f"blocks.{i}.attn.proj.bias": [d],
                   f"blocks.{i}.norm2.weight": [d], f"blocks.{i}.norm2.bias": [d],
                   f"blocks.{i}.mlp.fc1.weight": [mlp, d], f"blocks.{i}.mlp.fc1.bias": [mlp],
                   f"blocks.{i}.mlp.fc2.weight": [d, mlp], f"blocks.{i}.mlp.fc2.bias": [d]})
classes = 5 * (task + 1)
shapes.update({"lorasub.prototypes": [classes, d], "lorasub.class_order": [classes],
               "lorasub.prototype_counts": [classes]})
assert set(ex) == set(shapes), sorted(set(ex) ^ set(shapes))
for name, shape in shapes.items():
    assert ex[name].shape == shape, (name, ex[name].shape, shape)
arr = lambda t: np.asarray(t.values, dtype=np.float64).reshape(t.shape)
worst, moved = 0.0, 0
with h5py.File(ckpt, "r") as f:
    for name in shapes:
        if name.startswith("lorasub.") or name.endswith("attn.qkv.weight"):
            continue
        assert ex[name].values == w0[name].values, f"{name} is not the backbone's"
    for i in range(depth):
        got, base = arr(ex[f"blocks.{i}.attn.qkv.weight"]), arr(w0[f"blocks.{i}.attn.qkv.weight"])
        want = base.copy()
        for s in range(task + 1):
            g = f[f"adapters/task_{s}/block_{i}"]
            want[d:2 * d] += g["b_k"][()].astype(np.float64) @ g["a_k"][()].astype(np.float64)
            want[2 * d:] += g["b_v"][()].astype(np.float64) @ g["a_v"][()].astype(np.float64)
        assert np.array_equal(got[:d], base[:d]), "q rows changed"
        worst = max(worst, float(np.max(np.abs(got - want) / (1 + np.abs(want)))))
        moved += int(np.count_nonzero(got[d:] != base[d:]))
    means, order = f["prototypes/means"][()], f["plan/class_order"][()]
assert worst < 1e-6, f"W0 + sum B A differs by {worst:.3g}"
assert moved > 0, "the k/v rows equal W0: no delta merged"
assert np.array_equal(arr(ex["lorasub.prototypes"]).astype(np.float32), means[:classes])
assert ex["lorasub.class_order"].values == [int(x) for x in order[:classes]], ex["lorasub.class_order"].values
assert meta["lorasub.task"] == str(task) and meta["lorasub.run"] == "fm" and meta["lorasub.dataset"] == "fashion-mnist"
print(f"ok   task {task}: {len(shapes)} tensors at their timm shapes; k/v rows = W0 + sum B A "
      f"(max rel. error {worst:.2g}, {moved} entries moved), q rows and other tensors = the backbone's; "
      f"prototypes and class order = the checkpoint's")
PY
  [ $? -eq 0 ] || fail=1
done

# predict on the run's own test set: its accuracy is the run's evaluation, exactly. The
# same numerics as the run's: the same batches (the run's eval batch, 1 rank, its test
# images in order) on as many threads (train.threads 1); other thread counts round
# the matmuls differently, which can flip a near-tie.
LBL="$FM/t10k-labels-idx1-ubyte.gz"
"$bin" predict -m "$work/fm.safetensors" "$FM/t10k-images-idx3-ubyte.gz" --labels "$LBL" --top-k 3 --threads 1 \
  >"$work/pred.jsonl" 2>"$work/pred.err"
expect_rc 0 $? "predict on the t10k IDX file"
# After task 0 the run evaluated the test images of its first 5 classes: those, in order.
"$PY" - "$work/fm0.safetensors" "$FM/t10k-images-idx3-ubyte.gz" "$LBL" "$work/t0" <<'PY'
import gzip, struct, sys
from read_safetensors import load
order = set(load(sys.argv[1])[1]["lorasub.class_order"].values)
images, labels = gzip.open(sys.argv[2]).read(), gzip.open(sys.argv[3]).read()
keep = [i for i in range(10000) if labels[8 + i] in order]
with open(sys.argv[4] + "-images-idx3-ubyte", "wb") as f:
    f.write(struct.pack(">IIII", 0x803, len(keep), 28, 28) + b"".join(images[16 + 784 * i:16 + 784 * (i + 1)] for i in keep))
with open(sys.argv[4] + "-labels-idx1-ubyte", "wb") as f:
    f.write(struct.pack(">II", 0x801, len(keep)) + bytes(labels[8 + i] for i in keep))
PY
"$bin" predict -m "$work/fm0.safetensors" "$work/t0-images-idx3-ubyte" --labels "$work/t0-labels-idx1-ubyte" --threads 1 \
  >"$work/pred0.jsonl" 2>"$work/pred0.err"
expect_rc 0 $? "predict with the task-0 export on task 0's test images"
"$PY" - "$work" "$RUN/results.json" "$LBL" "$FM/t10k-images-idx3-ubyte.gz" <<'PY'
import gzip, json, re, struct, sys
import numpy as np
from read_safetensors import load
import numpy_vit
work, results, labels_path, images_path = sys.argv[1:]
res = json.load(open(results))
ok = True
for name, want, classes in (("pred", res["A_last"], 10), ("pred0", res["tasks"][0]["A"], 5)):
    raw = (gzip.open(labels_path) if name == "pred" else open(f"{work}/t0-labels-idx1-ubyte", "rb")).read()
    labels = list(raw[8:8 + struct.unpack(">I", raw[4:8])[0]])
    lines = [json.loads(l) for l in open(f"{work}/{name}.jsonl")]
    assert len(lines) == len(labels) == (10000 if name == "pred" else 5000), (len(lines), len(labels))
    order = load(f"{work}/fm{'0' if name == 'pred0' else ''}.safetensors")[1]["lorasub.class_order"].values
    seen = [i for i, l in enumerate(labels) if l in order]
    correct = sum(lines[i]["top"][0]["class"] == labels[i] for i in seen)
    acc = 100.0 * correct / len(seen)
    first = lines[0]
    assert first["input"].endswith("-images-idx3-ubyte" + (".gz" if name == "pred" else "")), first
    assert first["index"] == 0 and first["item"] == 0 and first["label"] == labels[0], first
    assert all(len(l["top"]) == (3 if name == "pred" else 5) for l in lines)
    assert all(l["top"][j]["score"] >= l["top"][j + 1]["score"] for l in lines for j in range(len(l["top"]) - 1))
    m = re.search(r"predict: accuracy ([0-9.]+)% = (\d+)/(\d+)", open(f"{work}/{name}.err").read())
    assert m and (int(m.group(2)), int(m.group(3))) == (correct, len(seen)), (m and m.groups(), correct, len(seen))
    same = acc == want  # both are 100.0 * correct / total in float64
    ok &= same
    print(f"{'ok  ' if same else 'FAIL:'} {name}: predict {correct}/{len(seen)} = {acc!r}% on the {classes} classes' "
          f"test images; the run's evaluation {want!r}%")
# A numpy ViT (timm semantics) over the exported tensors predicts what predict does.
_, ex = load(f"{work}/fm.safetensors")
raw = gzip.open(images_path).read()
n = 2000
images = np.frombuffer(raw[16:16 + n * 784], dtype=np.uint8).reshape(n, 1, 28, 28) / 255.0
protos = np.asarray(ex["lorasub.prototypes"].values, dtype=np.float64).reshape(ex["lorasub.prototypes"].shape)
pos = numpy_vit.ncm(numpy_vit.features(ex, images, heads=2), protos)
lines = [json.loads(l) for l in open(f"{work}/pred.jsonl")][:n]
agree = sum(ex["lorasub.class_order"].values[p] == l["top"][0]["class"] for p, l in zip(pos, lines))
print(f"{'ok  ' if agree >= 0.995 * n else 'FAIL:'} a float64 numpy ViT over the exported timm tensors agrees "
      f"with predict on {agree}/{n} images")
sys.exit(0 if ok and agree >= 0.995 * n else 1)
PY
[ $? -eq 0 ] || fail=1

# 1b. The methods that predict with their heads.
for m in inflora sd-lora; do
  "$bin" train -c "$CFG" --set "run.dir=$work/runs" --set "run.name=fm-$m" --set "method.name=$m" \
    --set "model.weights=$BACKBONE" --set train.init_lr=0.005 --set train.lrate=0.005 >"$work/fm-$m.log" 2>&1 \
    || { echo "FAIL: the $m run"; tail "$work/fm-$m.log"; exit 1; }
  "$bin" export "$work/runs/fm-$m" -o "$work/fm-$m.safetensors" >"$work/export-$m.log" 2>&1
  expect_rc 0 $? "export a $m run"
  "$bin" predict -m "$work/fm-$m.safetensors" "$FM/t10k-images-idx3-ubyte.gz" --labels "$LBL" --threads 1 \
    >"$work/pred-$m.jsonl" 2>"$work/pred-$m.err"
  expect_rc 0 $? "predict with the $m export"
  "$PY" - "$m" "$work/fm-$m.safetensors" "$BACKBONE" "$work/runs/fm-$m" "$LBL" "$work/pred-$m.jsonl" <<'PY'
import gzip, json, sys
import h5py, numpy as np
from read_safetensors import load
m, path, backbone, run, labels_path, pred = sys.argv[1:]
meta, ex = load(path)
_, w0 = load(backbone)
d, depth = 32, 2
arr = lambda t: np.asarray(t.values, dtype=np.float64).reshape(t.shape)
assert meta["lorasub.predict"] == "heads" and ex["lorasub.head.weight"].shape == [10, d], meta.get("lorasub.predict")
with h5py.File(f"{run}/checkpoints/task_001.h5", "r") as f:
    alpha = f["method/magnitudes"][()].astype(np.float64) if m == "sd-lora" else None
    worst = 0.0
    for i in range(depth):
        got, want = arr(ex[f"blocks.{i}.attn.qkv.weight"]), arr(w0[f"blocks.{i}.attn.qkv.weight"]).copy()
        for s in range(2):
            g = f[f"adapters/task_{s}/block_{i}"]
            for name, rows in (("k", slice(0, d) if m == "sd-lora" else slice(d, 2 * d)), ("v", slice(2 * d, 3 * d))):
                a, b = g[f"a_{name}"][()].astype(np.float32), g[f"b_{name}"][()].astype(np.float32)
                delta = b.astype(np.float64) @ a.astype(np.float64)
                if m == "sd-lora":
                    delta *= alpha[s] / (float(np.linalg.norm(b)) * float(np.linalg.norm(a))) if s == 0 else alpha[s]
                want[rows] += delta
        worst = max(worst, float(np.max(np.abs(got - want) / (1 + np.abs(want)))))
    heads = np.concatenate([f[f"heads/task_{s}/weight"][()] for s in range(2)])
assert worst < 1e-5, f"{m}: the exported qkv differs from the method's fold by {worst:.3g}"
assert np.array_equal(arr(ex["lorasub.head.weight"]).astype(np.float32), heads)
labels = list(gzip.open(labels_path).read()[8:])
lines = [json.loads(l) for l in open(pred)]
acc = 100.0 * sum(l["top"][0]["class"] == y for l, y in zip(lines, labels)) / len(labels)
want = json.load(open(f"{run}/results.json"))["A_last"]
ok = abs(acc - want) < 0.005  # A_last is rounded to 2 decimals
print(f"{'ok  ' if ok else 'FAIL:'} {m}: the export folds as the method does (max rel. error {worst:.2g}), "
      f"carries the heads; predict {acc:.4f}% on the test set, the run's A_last {want}")
sys.exit(0 if ok else 1)
PY
  [ $? -eq 0 ] || fail=1
done

# 2. JPEG/PNG files through the ImageNet-R test transform.
"$gen" imagenet-r "$work/inr" 4 15 >/dev/null || { echo "FAIL: make_image_dataset"; exit 1; }
"$PY" "$src/data/make_imagenet_r_split.py" "$work/inr" --seed 7 --out-dir "$work/split" >/dev/null \
  || { echo "FAIL: make_imagenet_r_split.py"; exit 1; }
"$bin" train -c "$src/configs/imagenet-r-5.yaml" --set model.image_size=32 --set model.patch=8 --set model.dim=32 \
  --set model.depth=2 --set model.heads=2 --set model.mlp_dim=64 --set model.weights= --set method.rank=4 \
  --set data.init_cls=2 --set data.increment=2 --set train.batch_size=16 --set train.init_epochs=1 \
  --set train.epochs=1 --set data.workers=1 --set train.threads=1 --set ckpt.every_minutes=0 \
  --set "data.root=$work/inr" --set "data.split_train=$work/split/imagenet-r_train.yaml" \
  --set "data.split_test=$work/split/imagenet-r_test.yaml" --set "run.dir=$work/runs" --set run.name=inr \
  >"$work/inr.log" 2>&1 || { echo "FAIL: the ImageNet-R run"; tail "$work/inr.log"; exit 1; }
"$bin" export "$work/runs/inr" -o "$work/inr.safetensors" >"$work/export-inr.log" 2>&1
expect_rc 0 $? "export a random-init run (the backbone regenerated from the seed)"
mapfile -t files < <(sed -n '/^data:/,/^targets:/p' "$work/split/imagenet-r_test.yaml" | sed -n 's/^- //p' | tr -d '"')
"$bin" predict -m "$work/inr.safetensors" "${files[@]/#/$work/inr/}" --top-k 2 --threads 1 >"$work/pred-inr.jsonl" 2>"$work/pred-inr.err"
expect_rc 0 $? "predict on ${#files[@]} JPEG/PNG files"
"$PY" - "$work/pred-inr.jsonl" "$work/split/imagenet-r_test.yaml" "$work/runs/inr/results.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
text = open(sys.argv[2]).read().split("targets:")
targets = [int(l[2:]) for l in text[1].splitlines() if l.startswith("- ")]
want = json.load(open(sys.argv[3]))["A_last"]
assert len(lines) == len(targets) and any(l["input"].endswith(".png") for l in lines), len(lines)
correct = sum(l["top"][0]["class"] == t for l, t in zip(lines, targets))
acc = 100.0 * correct / len(targets)
print(f"{'ok  ' if acc == want else 'FAIL:'} ImageNet-R files: predict {correct}/{len(targets)} = {acc!r}%, "
      f"the run's evaluation {want!r}%")
sys.exit(0 if acc == want else 1)
PY
[ $? -eq 0 ] || fail=1

# 3. Refusals: exit 2, the path named, nothing written or replaced.
refuse() {  # refuse WHAT PATTERN ARGS...
  local what="$1" pat="$2"; shift 2
  "$bin" "$@" >"$work/refuse.out" 2>&1
  expect_rc 2 $? "$what"
  expect_in "$work/refuse.out" "$pat" "$what: the message"
}
refuse "export of a missing run directory" "run directory '$work/runs/none' does not exist" \
  export "$work/runs/none" -o "$work/x.safetensors"
mkdir -p "$work/runs/empty/checkpoints"
refuse "export of a run without a finished task" "'$work/runs/empty' holds no finished task" \
  export "$work/runs/empty" -o "$work/x.safetensors"
refuse "export --task beyond the run" "--task 2 is not a finished task of '$RUN' (task-end checkpoints: 0, 1" \
  export "$RUN" --task 2 -o "$work/x.safetensors"
before=$(sha256sum "$work/fm0.safetensors")
refuse "export over an existing file" "'$work/fm0.safetensors' exists; pass --overwrite" \
  export "$RUN" -o "$work/fm0.safetensors"
[ "$(sha256sum "$work/fm0.safetensors")" = "$before" ] && echo "ok   the existing file is unchanged" \
  || { echo "FAIL: the existing file was changed"; fail=1; }
mv "$BACKBONE" "$BACKBONE.away"
refuse "export without the run's backbone" "backbone '$BACKBONE' (the run's model.weights.*does not exist" \
  export "$RUN" -o "$work/x.safetensors"
cp "$work/fm.safetensors" "$BACKBONE"
refuse "export with another backbone" "backbone '$BACKBONE'.* has SHA-256 .*but the run was trained on" \
  export "$RUN" -o "$work/x.safetensors"
refuse "export --backbone of another file" "backbone '$work/fm.safetensors' (--backbone) has SHA-256" \
  export "$RUN" --backbone "$work/fm.safetensors" -o "$work/x.safetensors"
mv "$BACKBONE.away" "$BACKBONE"
[ -e "$work/x.safetensors" ] && { echo "FAIL: a refused export wrote its output"; fail=1; }
"$bin" export "$RUN" -o "$work/fm0.safetensors" --overwrite >/dev/null 2>&1
expect_rc 0 $? "export --overwrite replaces it"
jpg=$(ls "$work"/inr/*/*.jpg | head -1); head -c 200 "$jpg" >"$work/broken.jpg"
refuse "predict on a truncated JPEG" "$work/broken.jpg" predict -m "$work/inr.safetensors" "$work/broken.jpg"
refuse "predict on a missing file" "'$work/nothere.png': cannot open" predict -m "$work/inr.safetensors" "$work/nothere.png"
refuse "predict with a model that is not an export" "'$BACKBONE': not a model written by lorasub export" \
  predict -m "$BACKBONE" "$FM/t10k-images-idx3-ubyte.gz"
refuse "predict with labels of another count" "'$FM/train-labels-idx1-ubyte.gz' has 60000 labels for 10000 input images" \
  predict -m "$work/fm.safetensors" "$FM/t10k-images-idx3-ubyte.gz" --labels "$FM/train-labels-idx1-ubyte.gz"
if ls "$work" | grep -q '\.tmp-'; then echo "FAIL: temporary files left behind"; fail=1; fi
exit $fail
