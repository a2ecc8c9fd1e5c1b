#!/usr/bin/env python3
"""Write a seeded 80/20 ImageNet-R train/test split in the CODA-Prompt yaml format.

Usage: make_imagenet_r_split.py ROOT [--seed N] [--train-fraction 0.8] [--out-dir DIR]

ROOT is the extracted imagenet-r/ folder (ROOT/<wnid>/<file>.{jpg,jpeg,png}). Writes
OUT_DIR/imagenet-r_train.yaml and OUT_DIR/imagenet-r_test.yaml (OUT_DIR defaults to the
current directory), each a map with parallel lists `data` ("<wnid>/<file>", relative to
ROOT) and `targets` (rank of the wnid among the sorted wnid folders). Files under ROOT
are only listed, never moved or modified. Standard library only.

The split is the same as lorasub's built-in one (split_imagenet_r in
src/lorasub/data/file_datasets.cpp) for the same seed: images sorted by path (bytewise),
a Fisher-Yates permutation drawn from splitmix64, the first floor(n * fraction) of the
permuted order are train, both halves written sorted by path.
"""
import argparse
import math
import os
import re
import sys

MASK = (1 << 64) - 1
IMAGE_EXTS = {"jpg", "jpeg", "png"}


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def split_random(seed, k):
    s0 = splitmix64((seed & MASK) ^ 0x494D4147454E4552)
    return splitmix64((s0 + k) & MASK)


def list_images(root):
    wnids = sorted(
        n for n in os.listdir(root)
        if not n.startswith(".") and os.path.isdir(os.path.join(root, n)))
    if not wnids:
        sys.exit(f"{root}: no class folders (<wnid>/) found")
    entries = []
    for label, w in enumerate(wnids):
        for n in os.listdir(os.path.join(root, w)):
            if n.startswith(".") or "." not in n:
                continue
            if n.rsplit(".", 1)[1].lower() not in IMAGE_EXTS:
                continue
            if os.path.isfile(os.path.join(root, w, n)):
                entries.append((w + "/" + n, label))
    key = lambda e: e[0].encode("utf-8")
    entries.sort(key=key)
    return wnids, entries


def split(entries, seed, fraction):
    n = len(entries)
    order = list(range(n))
    k = 0
    for i in range(n - 1, 0, -1):
        j = split_random(seed, k) % (i + 1)
        k += 1
        order[i], order[j] = order[j], order[i]
    n_train = int(math.floor(n * fraction + 1e-9))
    key = lambda e: e[0].encode("utf-8")
    train = sorted((entries[order[i]] for i in range(n_train)), key=key)
    test = sorted((entries[order[i]] for i in range(n_train, n)), key=key)
    return train, test


PLAIN = re.compile(r"^[A-Za-z0-9_./-]+$")


def yaml_str(s):
    if PLAIN.match(s):
        return s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write(path, entries):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("data:\n")
        for p, _ in entries:
            f.write("- " + yaml_str(p) + "\n")
        f.write("targets:\n")
        for _, t in entries:
            f.write("- " + str(t) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-fraction", type=float, default=0.8)
    ap.add_argument("--out-dir", default=".")
    a = ap.parse_args()
    if not 0.0 < a.train_fraction < 1.0:
        sys.exit("--train-fraction must be in (0, 1)")
    wnids, entries = list_images(a.root)
    train, test = split(entries, a.seed, a.train_fraction)
    os.makedirs(a.out_dir, exist_ok=True)
    write(os.path.join(a.out_dir, "imagenet-r_train.yaml"), train)
    write(os.path.join(a.out_dir, "imagenet-r_test.yaml"), test)
    print(f"{len(wnids)} classes, {len(entries)} images: {len(train)} train, "
          f"{len(test)} test (seed {a.seed}) -> {a.out_dir}")


if __name__ == "__main__":
    main()
