#!/usr/bin/env bash
# scripts/gpu-check.sh --prepare: here (Debian 12, network), everything the GPU machine
# needs and cannot download, into carry/ (git-ignored; the device tool carries it):
#  - carry/gpu-debs: the Debian 12 packages it lacks (scripts/fetch-gpu-deps.sh);
#  - carry/fashion-mnist-demo: the demo's Fashion-MNIST, cut to what configs/demo.yaml
#    reads (the first 2000 train and 500 test images of each class);
#  - carry/demo-backbone.safetensors: the demo's pre-trained backbone.
# Fails when carry/ would pass the device tool's 64 MiB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
carry="${LORASUB_CARRY:-$PWD/carry}"
scripts/fetch-gpu-deps.sh "$carry/gpu-debs"
/usr/bin/python3 - "$carry/fashion-mnist-demo" <<'PY'
import gzip, os, sys, numpy as np
src, dst = "/usr/share/datasets/fashion-mnist", sys.argv[1]
os.makedirs(dst, exist_ok=True)
for split, per in (("train", 2000), ("t10k", 500)):
    with gzip.open(f"{src}/{split}-labels-idx1-ubyte.gz") as f: lab = np.frombuffer(f.read(), np.uint8, offset=8)
    with gzip.open(f"{src}/{split}-images-idx3-ubyte.gz") as f: img = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 784)
    keep = np.sort(np.concatenate([np.flatnonzero(lab == c)[:per] for c in range(10)]))
    n = len(keep)
    with gzip.open(f"{dst}/{split}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(np.array([0x801, n], ">u4").tobytes() + lab[keep].tobytes())
    with gzip.open(f"{dst}/{split}-images-idx3-ubyte.gz", "wb") as f:
        f.write(np.array([0x803, n, 28, 28], ">u4").tobytes() + img[keep].tobytes())
    print(f"gpu-prepare: {split}: {n} images -> {dst}")
PY
if [ ! -f runs/demo-backbone.safetensors ]; then
  scripts/build.sh lorasub_cli
  launch/mpirun.sh -n 2 pretrain -c configs/demo-pretrain.yaml --set pretrain.output=runs/demo-backbone.safetensors
fi
cp runs/demo-backbone.safetensors "$carry/demo-backbone.safetensors"
rm -rf "$carry/prefix"  # unpacked there, not carried
mib=$(( $(du -sb "$carry" | cut -f1) / 1048576 ))
echo "gpu-prepare: $carry is $mib MiB (the device tool carries at most 64 MiB)"
[ "$mib" -lt 64 ] || { echo "gpu-prepare: too large to carry" >&2; exit 1; }
