#!/usr/bin/python3
"""pick_start.py — keep the step (d) result of lowest final objective
(pipelines/synthetic.mk, STARTS > 1).

  pick_start.py OUT D0.h5 D1.h5 ...

Each input is eddp --step d's output from another start of steps (a) → (c)
→ (d) (uibe --seed), trained with the same settings, so their objectives are
comparable: the last epoch's mean batch objective, /history/objective[-1]
(the augmented Lagrangian with --objective constrained). The input of the
lowest one is copied to OUT (through a temporary file and a rename, so that
an interrupted copy leaves no OUT); one line on stdout names every start's
objective and the one kept. Exit 65 naming the file when an input has no
final objective or a non-finite one, 64 on a wrong command line."""
import math
import os
import shutil
import sys

import h5py


def fail(code, message):
    print(f"pick_start.py: {message}", file=sys.stderr)
    sys.exit(code)


def final_objective(path):
    try:
        with h5py.File(path, "r") as f:
            if "history/objective" not in f:
                fail(65, f"{path}: no dataset '/history/objective' (not eddp --step d's output?)")
            value = float(f["history/objective"][-1])
    except OSError as e:
        fail(65, f"{path}: not a readable HDF5 file ({e})")
    if not math.isfinite(value):
        fail(65, f"{path}: the final objective is {value}")
    return value


def main():
    if len(sys.argv) < 3:
        fail(64, "usage: pick_start.py OUT D0.h5 D1.h5 ...")
    out, inputs = sys.argv[1], sys.argv[2:]
    if os.path.realpath(out) in {os.path.realpath(p) for p in inputs}:
        fail(64, f"{out}: the output is one of the inputs")
    values = [final_objective(p) for p in inputs]
    best = min(range(len(inputs)), key=lambda k: (values[k], k))
    tmp = f"{out}.{os.getpid()}.tmp"
    shutil.copyfile(inputs[best], tmp)
    os.replace(tmp, out)
    print(f"kept start {best} ({inputs[best]}): final objectives "
          + ", ".join(f"start {k} {v:.6f}" for k, v in enumerate(values)))


if __name__ == "__main__":
    main()
