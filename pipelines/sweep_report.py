#!/usr/bin/python3
"""sweep_report.py — the synthetic sweep's summary (pipelines/sweep.mk).

  sweep_report.py --rows ROWS.tsv SWEEP_DIR "SEEDS" "SPECS"
      one row per configuration-seed (its parameters, concept frequencies,
      head accuracy, matched IoU of steps a and d, mean/min cosine of every
      estimator; with SWEEP_EXTRA_TARGETS=eval-d-ideal.h5 also the matched
      IoU of step d started from the ideal detectors, iou_stay_min: does the
      objective keep the truth?) and the aggregate lines, to stdout; the rows also as TSV
      (ROWS.tsv, for gnuplot and the ablation table).
      --available: only the configuration-seeds finished so far, the others
      named (to look at a sweep in progress).
  sweep_report.py --ablation NAME=ROWS.tsv...
      one line of aggregates per variant (sweep-ablation).

Only formatting and arithmetic over the tools' outputs: the matching of
detectors to concepts (Hungarian on IoU: a distinct detector per concept) and
the cosines are regress(1)'s evaluation files on the test split; accuracies
are trainhead --eval's; frequencies are the test split's concept map."""
import argparse
import math
import os
import sys

# Estimators with encoding directions whose cosine with the true s_i the
# synthetic report shows (regress: eval-*.h5): Eq. 1 on step (a)'s detectors
# (step c), step (d)'s S (learned; in the recipe's second pass, held at ICA's
# on the first pass's detectors), Eq. 1 and ICA on step (d)'s detectors, and
# Pattern-CAVs from the true labels.
ESTIMATORS = ("c", "d", "eq1", "ica", "pcav")
IOU_PASS, IOU_FLOOR = 0.9, 0.85


def spec_fields(word):
    name, n_concepts, n_distractors, dims, height, width, n_classes, per_class, classes = word.split(":")
    return {"config": name, "D": int(dims), "I": int(n_concepts), "F": int(n_distractors),
            "pixels": f"{height}x{width}", "K": int(n_classes), "per_class": int(per_class), "classes": classes}


def concept_frequencies(path, n_concepts):
    """Fraction of the pixels of each concept and of none (map value 0)."""
    import h5py
    import numpy as np
    with h5py.File(path, "r") as f:
        cmap = f["concepts/concept"][:].ravel()
    counts = np.bincount(cmap, minlength=n_concepts + 1) / cmap.size
    return [float(v) for v in counts[1:]], float(counts[0])


def head_accuracy(path):
    with open(path) as f:
        return float(f.readline().split("\t")[1])


def matched_ious(path):
    """IoU of the detector matched to each concept (0 where none is)."""
    import h5py
    with h5py.File(path, "r") as f:
        iou, match = f["iou"][:], f["match"][:]
    per_concept = [0.0] * iou.shape[1]
    for row, concept in enumerate(match):
        if concept >= 0:
            per_concept[concept] = float(iou[row, concept])
    return per_concept


def cosines(path):
    import h5py
    with h5py.File(path, "r") as f:
        values = [float(v) for v in f["cosine"][:]]
    return sum(values) / len(values), min(values)


def finished(run, spec, seed):
    folder = f"{run}/{spec['config']}/seed{seed}"
    return all(os.path.exists(f"{folder}/{name}") for name in
               ["head-eval.txt", "test.h5", "eval-a.h5", "eval-d.h5"] + [f"eval-{e}.h5" for e in ESTIMATORS])


def row_of(run, spec, seed):
    folder = f"{run}/{spec['config']}/seed{seed}"
    freqs, empty = concept_frequencies(f"{folder}/test.h5", spec["I"])
    iou_a, iou_d = matched_ious(f"{folder}/eval-a.h5"), matched_ious(f"{folder}/eval-d.h5")
    row = {k: spec[k] for k in ("config", "D", "I", "F", "pixels", "K", "per_class")}
    row.update(seed=seed, empty=empty, freqs=",".join(f"{v:.3f}" for v in freqs),
               imbalance=max(freqs) / min(freqs), head_acc=head_accuracy(f"{folder}/head-eval.txt"),
               iou_a_min=min(iou_a), iou_d_min=min(iou_d), iou_d_mean=sum(iou_d) / len(iou_d),
               iou_d=",".join(f"{v:.3f}" for v in iou_d))
    stay = f"{folder}/eval-d-ideal.h5"
    row["iou_stay_min"] = min(matched_ious(stay)) if os.path.exists(stay) else float("nan")
    for est in ESTIMATORS:
        row[f"cos_{est}_mean"], row[f"cos_{est}_min"] = cosines(f"{folder}/eval-{est}.h5")
    return row


COLUMNS = (["config", "seed", "D", "I", "F", "pixels", "K", "per_class", "empty", "imbalance", "head_acc",
            "iou_a_min", "iou_d_min", "iou_d_mean", "iou_stay_min"]
           + [f"cos_{e}_{s}" for e in ESTIMATORS for s in ("mean", "min")] + ["freqs", "iou_d"])
TEXT_COLUMNS = {"config", "pixels", "freqs", "iou_d"}
INT_COLUMNS = {"seed", "D", "I", "F", "K", "per_class"}


def fmt(column, value):
    if column in TEXT_COLUMNS or column in INT_COLUMNS:
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return f"{value:.3f}" if column != "imbalance" else f"{value:.2f}"


def write_rows(path, rows):
    with open(path, "w") as f:
        f.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            f.write("\t".join(fmt(c, row[c]) for c in COLUMNS) + "\n")


def read_rows(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = []
        for line in f:
            values = dict(zip(header, line.rstrip("\n").split("\t")))
            rows.append({c: (v if c in TEXT_COLUMNS else int(v) if c in INT_COLUMNS
                             else float("nan") if v == "-" else float(v))
                         for c, v in values.items()})
    return rows


def mean(values):
    return sum(values) / len(values)


def aggregates(rows):
    """The figures issue 13's "Must show" asks for, as (key, value) pairs."""
    n = len(rows)
    passing = sum(r["iou_d_min"] >= IOU_PASS for r in rows)
    floor = sum(r["iou_d_min"] >= IOU_FLOOR for r in rows)
    worst = min(rows, key=lambda r: r["iou_d_min"])
    out = [("config_seeds", n), ("frac_iou_ge_0.9", passing / n), ("frac_iou_ge_0.85", floor / n),
           ("min_iou_d", worst["iou_d_min"]), ("worst", f"{worst['config']}/seed{worst['seed']}"),
           ("mean_min_iou_d", mean([r["iou_d_min"] for r in rows])),
           ("frac_a_iou_ge_0.9", sum(r["iou_a_min"] >= IOU_PASS for r in rows) / n),
           ("min_iou_a", min(r["iou_a_min"] for r in rows))]
    for est in ESTIMATORS:
        out.append((f"cos_{est}_mean", mean([r[f"cos_{est}_mean"] for r in rows])))
        out.append((f"cos_{est}_min", min(r[f"cos_{est}_min"] for r in rows)))
    out.append(("head_acc_min", min(r["head_acc"] for r in rows)))
    stay = [r["iou_stay_min"] for r in rows if not math.isnan(r.get("iou_stay_min", math.nan))]
    out.append(("frac_stay_ge_0.9", sum(v >= IOU_PASS for v in stay) / len(stay) if stay else float("nan")))
    return out


def print_table(rows):
    shown = [c for c in COLUMNS if c != "iou_d"]
    cells = [[fmt(c, r[c]) for c in shown] for r in rows]
    widths = [max(len(c), *(len(row[k]) for row in cells)) for k, c in enumerate(shown)]
    print("  ".join(c.ljust(w) for c, w in zip(shown, widths)).rstrip())
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def print_failures(rows):
    """Every concept below IOU_PASS: its frequency against the others'."""
    failing = [r for r in rows if r["iou_d_min"] < IOU_PASS]
    if not failing:
        return
    print(f"\nconcepts below IoU {IOU_PASS} after step d (frequency; the configuration's range):")
    for r in failing:
        freqs = [float(v) for v in r["freqs"].split(",")]
        ious = [float(v) for v in r["iou_d"].split(",")]
        low = ", ".join(f"concept{j} IoU {v:.3f} (freq {freqs[j]:.3f})" for j, v in enumerate(ious) if v < IOU_PASS)
        print(f"  {r['config']}/seed{r['seed']}: {low}; freqs {min(freqs):.3f}–{max(freqs):.3f}")


def print_aggregates(rows):
    agg = dict(aggregates(rows))
    n = agg["config_seeds"]
    print()
    print(f"configuration-seeds: {n}")
    print(f"every concept matched by a distinct detector at IoU >= {IOU_PASS} (step d): "
          f"{round(agg['frac_iou_ge_0.9'] * n)} of {n} ({agg['frac_iou_ge_0.9']:.3f})")
    print(f"every concept at IoU >= {IOU_FLOOR} (step d): {round(agg['frac_iou_ge_0.85'] * n)} of {n} "
          f"({agg['frac_iou_ge_0.85']:.3f})")
    print(f"min matched IoU over all (step d): {agg['min_iou_d']:.3f} ({agg['worst']}); "
          f"mean of the minima {agg['mean_min_iou_d']:.3f}")
    print(f"step a: every concept at IoU >= {IOU_PASS}: {agg['frac_a_iou_ge_0.9']:.3f}; min {agg['min_iou_a']:.3f}")
    print(f"mean Eq.-1 cosine (eq1, step d's detectors): {agg['cos_eq1_mean']:.3f} (min {agg['cos_eq1_min']:.3f})")
    for est in ESTIMATORS:
        print(f"cosine {est:5s} mean {agg[f'cos_{est}_mean']:.3f}  min {agg[f'cos_{est}_min']:.3f}")
    print(f"head accuracy min {agg['head_acc_min']:.3f}")
    if not math.isnan(agg["frac_stay_ge_0.9"]):
        print(f"step d from the ideal detectors keeps every concept at IoU >= {IOU_PASS}: "
              f"{agg['frac_stay_ge_0.9']:.3f} of the configuration-seeds that ran it")


def ablation(pairs):
    keys = [k for k, _ in aggregates(read_rows(pairs[0].split("=", 1)[1]))]
    print("\t".join(["variant"] + keys))
    for pair in pairs:
        name, path = pair.split("=", 1)
        values = aggregates(read_rows(path))
        print("\t".join([name] + [v if isinstance(v, str) else str(v) if isinstance(v, int) else f"{v:.3f}"
                                  for _, v in values]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", help="write the rows as TSV here")
    parser.add_argument("--ablation", action="store_true")
    parser.add_argument("--available", action="store_true",
                        help="only the configuration-seeds whose evaluations exist (a sweep in progress)")
    parser.add_argument("args", nargs="+")
    args = parser.parse_args()
    if args.ablation:
        ablation(args.args)
        return
    run, seeds, specs = args.args
    pairs = [(spec_fields(word), int(seed)) for word in specs.split() for seed in seeds.split()]
    missing = []
    if args.available:
        missing = [f"{spec['config']}/seed{seed}" for spec, seed in pairs if not finished(run, spec, seed)]
        pairs = [(spec, seed) for spec, seed in pairs if finished(run, spec, seed)]
    rows = [row_of(run, spec, seed) for spec, seed in pairs]
    if args.rows:
        write_rows(args.rows, rows)
    print(f"synthetic sweep: {run} ({len(specs.split())} configurations × seeds {seeds}; test splits)")
    if missing:
        print(f"PARTIAL: {len(rows)} configuration-seeds finished, {len(missing)} not yet: {' '.join(missing)}")
    first = f"{run}/{rows[0]['config']}/seed{rows[0]['seed']}"
    for step in ("a", "d", "d-fixed"):
        if os.path.exists(f"{first}/{step}.flags"):  # d-fixed: the recipe's second pass
            with open(f"{first}/{step}.flags") as f:
                print(f"step {step} ({rows[0]['config']}): {f.read().strip()}")
    print("iou_*: IoU of the detector matched to each concept (Hungarian, a distinct detector per concept), "
          "min/mean over concepts; cos_E: cosine of estimator E's s_i with the truth (c: Eq. 1 on step a's "
          "detectors, d: step d's S, learned, or held in the second pass (ICA on the first pass's "
          "detectors), eq1/ica: on step d's detectors, pcav: Pattern-CAV); "
          "imbalance: max/min concept frequency; empty: pixels without a concept")
    print()
    print_table(rows)
    print_failures(rows)
    print_aggregates(rows)


if __name__ == "__main__":
    sys.exit(main())
