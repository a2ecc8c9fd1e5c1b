#!/usr/bin/env python3
"""A safetensors reader with nothing but json and struct, as any consumer of a
`lorasub export` file could write it: an 8-byte little-endian header length N, N bytes
of JSON {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the data buffer the offsets point into.

    read_safetensors.py FILE            prints the metadata and every tensor's name, dtype, shape

As a module: load(path) -> (metadata, {name: Tensor(dtype, shape, values)}), values a flat
row-major list of Python floats or ints.
"""
import json
import struct
import sys
from collections import namedtuple

Tensor = namedtuple("Tensor", "dtype shape values")

# struct format letter and bytes per element (little-endian); F16/BF16 via "e" and a shift.
_FORMATS = {"F64": ("d", 8), "F32": ("f", 4), "F16": ("e", 2), "I64": ("q", 8), "I32": ("i", 4),
            "I16": ("h", 2), "I8": ("b", 1), "U8": ("B", 1), "BOOL": ("?", 1), "BF16": ("H", 2)}


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def load(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + n].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    base = 8 + n
    tensors = {}
    for name, entry in header.items():
        dtype, shape = entry["dtype"], entry["shape"]
        begin, end = entry["data_offsets"]
        letter, size = _FORMATS[dtype]
        count = _numel(shape)
        if end - begin != count * size:
            raise ValueError(f"{path}: tensor '{name}': {end - begin} bytes for shape {shape} of {dtype}")
        values = list(struct.unpack_from(f"<{count}{letter}", data, base + begin))
        if dtype == "BF16":  # the upper half of a float32
            values = [struct.unpack("<f", struct.pack("<I", v << 16))[0] for v in values]
        tensors[name] = Tensor(dtype, shape, values)
    return metadata, tensors


def main(argv):
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    metadata, tensors = load(argv[1])
    for key in sorted(metadata):
        print(f"__metadata__ {key} = {metadata[key]}")
    for name in sorted(tensors):
        t = tensors[name]
        print(f"{name} {t.dtype} {t.shape}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
