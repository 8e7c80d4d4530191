#!/usr/bin/python3
"""watermark_report.py RUN_DIR "TRIALS" "SIGNALS" — the watermark experiment's report
(pipelines/watermark.mk): the paper's Tables 9 and 10 (row-normalised
confusion matrices of the original and the corrected network on the clean,
poisoned and union test sets), the controls (filter direction, random
vectors), the watermark detector and its influence, and the data of the
figures (confusion.tsv, firing.dat) for gnuplot. Only formatting: every
number comes from the tools' outputs (trainhead --eval, iou-label, rcav,
correct). Writes the report to stdout."""
import sys

import h5py
import numpy as np

RUN, TRIALS, SIGNALS = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
SIGNAL_TITLES = {"d": "learned S of step d", "eq1": "Eq. 1 on step d's final detectors"}
TESTS = ("clean", "poisoned", "union")
TEST_TITLES = ("Clean", "Poisoned", "Clean & Poisoned")


def read_eval(name):
    """trainhead --eval's text: accuracy line, then the count matrix."""
    lines = open(f"{RUN}/eval-{name}.txt").read().split("\n")
    accuracy = float(lines[0].split("\t")[1])
    counts = np.array([[float(v) for v in line.split("\t")] for line in lines[2:] if line.strip()])
    return accuracy, counts / np.maximum(counts.sum(1, keepdims=True), 1)


def names(path, dataset):
    return [n.decode() if isinstance(n, bytes) else n for n in h5py.File(path, "r")[dataset][:]]


CLASSES = names(f"{RUN}/feat-clean.h5", "class_names")


def table(title, prefix):
    evals = [read_eval(f"{prefix}-{t}") for t in TESTS]
    print(f"\n{title}")
    print(f"{'':12}" + "".join(f"   {f'{n} (acc {a:.2f})':<26}" for n, (a, _) in zip(TEST_TITLES, evals)))
    for k, cls in enumerate(CLASSES):
        print(f"{cls:12}" + "".join(f"   {'  '.join(f'{v:.2f}' for v in m[k]):<26}" for _, m in evals))
    return evals


def watermark_detector():
    corrected = h5py.File(f"{RUN}/corr-{SIGNALS[0]}-signal-poisoned.h5", "r")
    return int(corrected.attrs["correction_detector"]), corrected


def influence_rows(kind, detector):
    infl = h5py.File(f"{RUN}/influence-{kind}.h5", "r")
    sc, p, sig = infl["SC"][detector], infl["p"][detector], infl["significant"][detector]
    return "   ".join(f"{c} SC {s:+.3f} p {q:.2f}{' *' if g else ''}" for c, s, q, g in zip(CLASSES, sc, p, sig))


def write_firing(path):
    """firing.dat: one RGB canvas ("x y r g b" rows, every pixel) of one
    test image per class, clean (bottom row) and watermarked (top row), each
    pixel reddened by the watermark detector's m on its feature cell."""
    union = h5py.File(f"{RUN}/test-union.h5", "r")
    mask = h5py.File(f"{RUN}/corr-{SIGNALS[0]}-signal-union.h5", "r")["correction/mask"]
    half = union["images"].shape[0] // 2
    examples = [int(np.flatnonzero(union["labels"][:half] == c)[0]) for c in range(len(CLASSES))]
    h, w = union["images"].shape[2:]
    gap = 2
    canvas = np.ones((2 * (h + gap), len(examples) * (w + gap), 3))
    for row, offset in enumerate((half, 0)):
        for col, n in enumerate(examples):
            gray = union["images"][n + offset, 0].astype(float) / 255
            m = mask[n + offset]
            cell = np.kron(m, np.ones((-(-h // m.shape[0]), -(-w // m.shape[1]))))[:h, :w]
            rgb = np.stack([gray + 0.8 * cell * (1 - gray), gray * (1 - 0.6 * cell),
                            gray * (1 - 0.6 * cell)], axis=-1)
            canvas[row * (h + gap):row * (h + gap) + h, col * (w + gap):col * (w + gap) + w] = rgb
    with open(path, "w") as out:
        rows = canvas.shape[0]
        for y in range(rows):
            for x in range(canvas.shape[1]):
                r, g, b = (int(255 * v) for v in canvas[y, x])
                out.write(f"{x} {rows - 1 - y} {r} {g} {b}\n")


def main():
    detector, corrected_file = watermark_detector()
    iou = h5py.File(f"{RUN}/iou-{SIGNALS[0]}.h5", "r")
    concepts = names(f"{RUN}/iou-{SIGNALS[0]}.h5", "concept_names")
    column = concepts.index("watermark")
    print(f"== the watermark experiment ({RUN}): classes {', '.join(CLASSES)}")
    print(f"watermark detector: {detector} (IoU with the watermark: train "
          f"{iou['iou/train'][detector, column]:.3f}, validation {iou['iou/val'][detector, column]:.3f}; "
          f"highest among the {iou['iou/val'].shape[0]} detectors: {iou['iou/val'][:, column].max():.3f})")
    k = corrected_file.attrs["correction_strength"]
    original = table("Table 9 — original network (rows: true class, columns: predicted, row-normalised)",
                     "feat")
    corrected = {kind: table(f"Table 10 — corrected by the watermark detector's signal vector (Eq. 18, "
                             f"k = {k:g}; {SIGNAL_TITLES[kind]})", f"corr-{kind}-signal") for kind in SIGNALS}

    print("\nControls (accuracy: clean / poisoned / union)")
    row = lambda evals: " / ".join(f"{a:.3f}" for a, _ in evals)
    print(f"  original network                   {row(original)}")
    for kind in SIGNALS:
        print(f"  signal vector ({kind:3})                {row(corrected[kind])}")
        filt = [read_eval(f"corr-{kind}-filter-{t}") for t in TESTS]
        print(f"  filter direction ({kind:3})             {row(filt)}")
        rand = np.array([[read_eval(f"corr-{kind}-random-{n}-{t}")[0] for t in TESTS] for n in TRIALS])
        change = np.abs(rand - np.array([a for a, _ in original])).max()
        print(f"  random vectors ({kind:3}, {len(TRIALS):2} trials)    "
              + " / ".join(f"{m:.3f} ± {s:.3f}" for m, s in zip(rand.mean(0), rand.std(0)))
              + f"   (largest change {change:.3f})")

    print("\nInfluence of the watermark detector's signal vector (rcav, clean test images; * significant)")
    for kind in ("d", "eq1"):
        print(f"  {kind:4} {influence_rows(kind, detector)}")

    # Figure data: the six confusion matrices (original, corrected) and the
    # detector's firing on example test images, clean and watermarked.
    # confusion.tsv: one block per panel (gnuplot index 0-2: original on the
    # clean, poisoned, union sets; 3-5: corrected), rows "x y value".
    with open(f"{RUN}/confusion.tsv", "w") as out:
        for evals in (original, corrected[SIGNALS[0]]):
            for _, m in evals:
                for i in range(len(CLASSES)):
                    for j in range(len(CLASSES)):
                        out.write(f"{j} {i} {m[i, j]:.4f}\n")
                out.write("\n\n")
    write_firing(f"{RUN}/firing.dat")
    print(f"\nFigures: {RUN}/confusion.png (Tables 9 and 10 as heat maps), {RUN}/firing.png (the watermark "
          f"detector's m on one clean and one watermarked test image per class, red = firing), "
          f"{RUN}/examples.png (training images)")


main()
