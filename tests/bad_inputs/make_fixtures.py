#!/usr/bin/env python3
"""Writes the bad inputs of tests/bad_inputs/cases.tsv under FX (python3 with numpy only).

Usage: make_fixtures.py FX   (FX/ok holds valid datasets the driver prepares itself)
"""
import gzip, json, os, struct, sys, zlib
import numpy as np

fx = sys.argv[1]
def path(*p):
    f = os.path.join(fx, *p)
    os.makedirs(os.path.dirname(f), exist_ok=True)
    return f
def write(data, *p):
    mode = "wb" if isinstance(data, bytes) else "w"
    with open(path(*p), mode) as f:
        f.write(data)

# ---- configs
write("", "cfg", "empty.yaml")
write("# nothing but a comment\n\n", "cfg", "comments.yaml")
write("train:\n  batch_size: 4\n---\ntrain:\n  batch_size: 8\n", "cfg", "twodocs.yaml")
write("just a string\n", "cfg", "scalar.yaml")
write("- train\n- drs\n", "cfg", "list.yaml")
write("train:\n  batch_size: many\n", "cfg", "badtype.yaml")
write("trian:\n  batch_size: 4\n", "cfg", "unknown_section.yaml")
write("train:\n  batch_size: 4\n  batch_size: 8\n", "cfg", "dupkey.yaml")
write("train: {batch_size: [1, 2\n", "cfg", "syntax.yaml")
write(b"train:\n  fail_kind: \xff\xfe\n", "cfg", "nonutf8.yaml")
write("drs:\n  energy: 1.5\n", "cfg", "range.yaml")
write("model:\n  dim: 30\n  heads: 4\n", "cfg", "heads.yaml")

# ---- safetensors (tiny ViT: dim 16, depth 2, mlp 32, 14 px, patch 7 -> 5 tokens)
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from vit_shapes import vit_shapes  # noqa: E402
d = 16
shapes = vit_shapes()
def safetensors(tensors, header_extra=None):
    header, blobs, off = {}, [], 0
    for name, a in tensors.items():
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b); off += len(b)
    if header_extra: header.update(header_extra)
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)
good = {n: np.full(s, 0.01, np.float32) for n, s in shapes.items()}
write(safetensors(good), "st", "ok.safetensors")
nan = dict(good); nan["blocks.1.attn.qkv.weight"] = good["blocks.1.attn.qkv.weight"].copy(); nan["blocks.1.attn.qkv.weight"][3, 4] = np.nan
write(safetensors(nan), "st", "nan.safetensors")
inf = dict(good); inf["norm.weight"] = np.full([d], np.inf, np.float32)
write(safetensors(inf), "st", "inf.safetensors")
write(b"\x01\x02\x03\x04", "st", "short.safetensors")
write(struct.pack("<Q", 10 ** 6) + b"{}", "st", "headerlen.safetensors")
write(struct.pack("<Q", 8) + b"not json", "st", "notjson.safetensors")
wrong = dict(good); wrong["blocks.0.attn.qkv.weight"] = np.zeros([3 * d, d + 1], np.float32)
write(safetensors(wrong), "st", "misshaped.safetensors")
missing = {k: v for k, v in good.items() if not k.startswith("blocks.1.")}
write(safetensors(missing), "st", "missing.safetensors")
bad = safetensors(good)
bad_hdr = json.loads(bad[8:8 + struct.unpack("<Q", bad[:8])[0]])
bad_hdr["norm.bias"]["dtype"] = "Q7"
h = json.dumps(bad_hdr).encode()
write(struct.pack("<Q", len(h)) + h + bad[8 + struct.unpack("<Q", bad[:8])[0]:], "st", "dtype.safetensors")
os.makedirs(path("st", "adir", "x"), exist_ok=True)

# ---- Fashion-MNIST IDX directories
def idx_images(n, h, w, px): return struct.pack(">IIII", 0x803, n, h, w) + bytes(px)
def idx_labels(lab, magic=0x801): return struct.pack(">II", magic, len(lab)) + bytes(lab)
def fmnist(name, tr_img, tr_lab, gz=True):
    for split, img, lab in (("train", tr_img, tr_lab), ("t10k", tr_img, tr_lab)):
        if gz:
            write(gzip.compress(img), "idx", name, f"{split}-images-idx3-ubyte.gz")
            write(gzip.compress(lab), "idx", name, f"{split}-labels-idx1-ubyte.gz")
        else:
            write(img, "idx", name, f"{split}-images-idx3-ubyte")
            write(lab, "idx", name, f"{split}-labels-idx1-ubyte")
fmnist("badmagic", idx_images(2, 28, 28, [0] * 1568)[:3] + b"\x99" + idx_images(2, 28, 28, [0] * 1568)[4:], idx_labels([0, 1]))
fmnist("zero", idx_images(0, 28, 28, []), idx_labels([]))
fmnist("mismatch", idx_images(3, 28, 28, [0] * 2352), idx_labels([0, 1]))
fmnist("truncated", idx_images(4, 28, 28, [0] * 1000), idx_labels([0, 1, 2, 3]))
fmnist("label_magic", idx_images(2, 28, 28, [0] * 1568), idx_labels([0, 1], magic=0x12345678))
write(b"\x1f\x8b\x08\x00garbage", "idx", "badgzip", "train-images-idx3-ubyte.gz")
write(gzip.compress(idx_labels([0])), "idx", "badgzip", "train-labels-idx1-ubyte.gz")

# ---- MNIST JSON digit folders
for name, text in (("notjson", "{data: [0.1"), ("nodata", '{"pixels": [0.5]}'), ("ragged", '{"data": [0.5, 0.5, 0.5]}'),
                   ("string", '{"data": ["a"]}')):
    for k in range(10):
        write(text if k == 3 else json.dumps({"data": [0.5] * 784}), "mnist", name, f"{k}.json")
os.makedirs(path("mnist", "empty", "x"), exist_ok=True)

# ---- ImageNet-R split files
write("just a scalar\n", "split", "scalar.yaml")
write("data: [n0/a.jpg]\ntargets: [0, 1]\n", "split", "lengths.yaml")
write("data: [nowhere/missing.jpg]\ntargets: [0]\n", "split", "missing.yaml")
write("paths: [a.jpg]\n", "split", "keys.yaml")
# tests/tools/make_image_dataset names the 3 classes n01440764, n01440861, n01440958
write("data: [n01440861/imagenet-r_1.jpg]\ntargets: [500]\n", "split", "target.yaml")

# ---- DomainNet lists
for split in ("train", "test"):  # lorasub reads both lists
    write("clipart/x/a.jpg 0\nclipart/x/b.jpg\n", "dn", "badline", f"clipart_{split}.txt")
    write("clipart/x/a.jpg 999\n", "dn", "badlabel", f"clipart_{split}.txt")
    write("clipart/x/a.jpg zero\n", "dn", "nonint", f"clipart_{split}.txt")

# ---- CIFAR-100 binary
write(bytes(3074 + 100), "cifar", "partial", "train.bin")
write(bytes(3074), "cifar", "partial", "test.bin")
write(bytes([0, 250]) + bytes(3072), "cifar", "badlabel", "train.bin")
write(bytes([0, 1]) + bytes(3072), "cifar", "badlabel", "test.bin")

# ---- CIFAR-100 python version: pickled dicts as pickle.dumps(..., protocol=2) writes them
import pickle  # noqa: E402
def cifar_py(labels):
    n = len(labels)
    return pickle.dumps({b"filenames": [b"x_%d.png" % i for i in range(n)], b"batch_label": b"training batch 1 of 1",
                         b"fine_labels": labels, b"coarse_labels": [0] * n,
                         b"data": np.zeros((n, 3072), np.uint8)}, protocol=2)
cifar_meta = pickle.dumps({b"fine_label_names": [b"class%d" % k for k in range(100)],
                           b"coarse_label_names": [b"super%d" % k for k in range(20)]}, protocol=2)
full = cifar_py([3, 7])
write(full[:len(full) - 700], "cifarpy", "truncated", "train")  # cut inside the pixel data
write(cifar_py([3]), "cifarpy", "truncated", "test")
write(cifar_meta, "cifarpy", "truncated", "meta")
write(cifar_py([3, 7]), "cifarpy", "nometa", "train")
write(cifar_py([3]), "cifarpy", "nometa", "test")
write(cifar_py([3, 100]), "cifarpy", "badlabel", "train")
write(cifar_py([3]), "cifarpy", "badlabel", "test")
write(cifar_meta, "cifarpy", "badlabel", "meta")

# ---- raw bytes for checkpoints and caches
write(bytes(range(256)) * 40, "bin", "random.h5")
write(b"\x89HDF\r\n\x1a\n" + bytes(600), "bin", "hdf5magic.h5")
os.makedirs(path("bin", "adir.h5", "x"), exist_ok=True)
