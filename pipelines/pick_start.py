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
finite objective."""
import os
import shutil
import sys

import h5py


def final_objective(path):
    with h5py.File(path, "r") as f:
        if "history/objective" not in f:
            sys.exit(f"pick_start.py: {path}: no dataset '/history/objective' (not eddp --step d's output?)")
        value = float(f["history/objective"][-1])
    if value != value or value in (float("inf"), float("-inf")):
        print(f"pick_start.py: {path}: the final objective is {value}", file=sys.stderr)
        sys.exit(65)
    return value


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: pick_start.py OUT D0.h5 D1.h5 ...")
    out, inputs = sys.argv[1], sys.argv[2:]
    values = [final_objective(p) for p in inputs]
    best = min(range(len(inputs)), key=lambda k: (values[k], k))
    tmp = f"{out}.{os.getpid()}.tmp"
    shutil.copyfile(inputs[best], tmp)
    os.replace(tmp, out)
    print(f"kept start {best} ({inputs[best]}): final objectives "
          + ", ".join(f"start {k} {v:.6f}" for k, v in enumerate(values)))


if __name__ == "__main__":
    main()
