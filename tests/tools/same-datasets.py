#!/usr/bin/python3
"""same-datasets.py A.h5 B.h5 — the two files hold the same datasets (names,
dtypes, shapes) with bit-identical contents (floats compared as bytes, so
-0.0 differs from 0.0 and NaNs must match bit for bit); attributes are
provenance and are left aside. Exits 1 naming the datasets that differ."""
import sys

import h5py
import numpy as np


def datasets(path):
    found = {}
    h5py.File(path, "r").visititems(
        lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return found


def same(x, y):
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    return np.array_equal(x.view(np.uint8), y.view(np.uint8)) if x.dtype.kind == "f" else np.array_equal(x, y)


a, b = datasets(sys.argv[1]), datasets(sys.argv[2])
if a.keys() != b.keys():
    sys.exit(f"different datasets: {sorted(a.keys() ^ b.keys())}")
bad = [name for name in a if not same(a[name], b[name])]
if bad:
    sys.exit(f"different contents: {bad}")
