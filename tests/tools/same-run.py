#!/usr/bin/python3
"""same-run.py DIR_A DIR_B — the two run folders hold the same results: the
same .h5 files with bit-identical datasets (names, dtypes, shapes, bytes;
attributes are provenance — command lines, times, hosts — and are left
aside), and the same .txt/.tsv files once each folder's own path is replaced
by a placeholder. Checkpoints, temporaries and logs must be absent from both
(nothing half-written under a final name, nothing left over). Prints each
difference and exits 1 when there is one."""
import os
import sys

import h5py
import numpy as np


def files(root):
    found = set()
    for folder, _, names in os.walk(root):
        for name in names:
            found.add(os.path.relpath(os.path.join(folder, name), root))
    return found


def datasets(path):
    out = {}
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def main(a, b):
    problems = []
    fa, fb = files(a), files(b)
    for rel in sorted(fa | fb):
        base = os.path.basename(rel)
        if "/logs/" in "/" + rel or rel.startswith("logs/"):
            continue
        if base.endswith(".ckpt") or base.endswith(".tmp"):
            problems.append(f"left over: {rel}")
            continue
        if rel not in fa or rel not in fb:
            problems.append(f"only in {a if rel in fa else b}: {rel}")
            continue
        pa, pb = os.path.join(a, rel), os.path.join(b, rel)
        if base.endswith(".h5"):
            da, db = datasets(pa), datasets(pb)
            if sorted(da) != sorted(db):
                problems.append(f"{rel}: datasets {sorted(da)} vs {sorted(db)}")
                continue
            for name in da:
                x, y = np.asarray(da[name]), np.asarray(db[name])
                if x.dtype == object:  # variable-length strings: compare the values
                    same = x.shape == y.shape and x.tolist() == y.tolist()
                else:
                    same = x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
                if not same:
                    problems.append(f"{rel}: dataset {name} differs")
        elif base.endswith((".txt", ".tsv", ".flags")):
            ta = open(pa, "rb").read().replace(os.fsencode(a), b"@RUN@")
            tb = open(pb, "rb").read().replace(os.fsencode(b), b"@RUN@")
            if ta != tb:
                problems.append(f"{rel}: contents differ")
    for p in problems:
        print(p)
    if not fa:
        print(f"{a}: no files")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(os.path.abspath(sys.argv[1]).rstrip("/"), os.path.abspath(sys.argv[2]).rstrip("/")))
