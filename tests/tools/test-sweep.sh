# test-sweep.sh — the synthetic sweep (pipelines/sweep.mk): the configuration
# generator keeps issue 13's constraints and is reproducible; make
# synthetic-sweep SWEEP=quick (3 configurations, 1 seed, a short schedule)
# runs the recipe on each, writes the summary table, its aggregates and the
# figure, recovers the concepts above a lower bar, does nothing when rerun,
# and a VARIANT's extra flags reach its own training steps only. Run from the
# repository root.
source tests/tools/lib.sh

check "the generator keeps the constraints on 300 configurations and is reproducible" py <<'EOF2'
import subprocess, sys
def draw(*args):
    return subprocess.run(["/usr/bin/python3", "pipelines/sweep_configs.py", *args], check=True,
                          capture_output=True, text=True).stdout.split()
words = draw("--seed", "7", "--count", "300")
assert words == draw("--seed", "7", "--count", "300"), "same seed, other configurations"
assert words != draw("--seed", "8", "--count", "300"), "another seed, the same configurations"
assert words[5:8] == draw("--seed", "7", "--count", "3", "--first", "5"), "configuration k depends on the count"
shapes, empty_somewhere = set(), 0
for k, w in enumerate(words):
    name, I, F, D, H, W, K, per_class, spec = w.split(":")
    I, F, D, H, W, K, per_class = map(int, (I, F, D, H, W, K, per_class))
    assert name == f"c{k:02d}" and 3 <= I <= 8 and 2 <= F <= 8 and 16 <= D <= 64 and I + F <= D, w
    assert (H, W) in ((1, 2), (2, 2), (3, 3)) and 4 <= K <= 8 and per_class == round(3000 / K), w
    shapes.add((H, W))
    classes = [[int(v) for v in c.split(",")] for c in spec.split(";")]
    assert len(classes) == K and all(len(c) == H * W for c in classes), w
    flat = [v for c in classes for v in c]
    counts = [flat.count(j) for j in range(I)]
    assert all(v >= -1 and v < I for v in flat) and min(counts) >= 1 and max(counts) <= 3 * min(counts), w
    assert len({tuple(sorted(c)) for c in classes}) == K, f"{w}: two classes with the same pooled concepts"
    assert all(len({c.count(j) for c in classes}) > 1 for j in range(I)), f"{w}: a concept in every class alike"
    empty_somewhere += -1 in flat
assert len(shapes) == 3 and empty_somewhere > 150, (shapes, empty_somewhere)
EOF2

S="$TMP/sweep"
M() { make --no-print-directory SWEEP=quick SWEEP_BASE="$S" "$@"; }
check "make synthetic-sweep SWEEP=quick" bash -c "$(declare -f M); S='$S'; M -s synthetic-sweep > '$TMP/out' 2> '$TMP/err'"
check "summary: one row per configuration-seed with its parameters, frequencies and figures" py <<'EOF2'
import sys
t = sys.argv[1] + "/sweep"
rows = [line.rstrip("\n").split("\t") for line in open(f"{t}/rows.tsv")]
header, rows = rows[0], [dict(zip(rows[0], r)) for r in rows[1:]]
for column in ("config", "seed", "D", "I", "F", "pixels", "K", "empty", "imbalance", "head_acc", "iou_a_min",
               "iou_d_min", "freqs", "cos_c_mean", "cos_d_mean", "cos_eq1_mean", "cos_eq1_min", "cos_ica_mean", "cos_pcav_min"):
    assert column in header, column
assert len(rows) == 3 and all(r["seed"] == "0" for r in rows), rows
configs = [r["config"] for r in rows]
open(sys.argv[1] + "/configs", "w").write(" ".join(configs))
for r in rows:
    freqs = [float(v) for v in r["freqs"].split(",")]
    assert len(freqs) == int(r["I"]) and abs(sum(freqs) + float(r["empty"]) - 1) < 0.01, r
    assert abs(max(freqs) / min(freqs) - float(r["imbalance"])) < 0.01 and float(r["imbalance"]) <= 3.0001, r
    assert 0.5 < float(r["head_acc"]) <= 1 and float(r["cos_pcav_min"]) > 0.8, r
text = open(f"{t}/summary.txt").read()
for needle in ("configuration-seeds: 3", "at IoU >= 0.9 (step d)", "min matched IoU over all", "mean Eq.-1 cosine"):
    assert needle in text, needle
assert text == open(sys.argv[1] + "/out").read(), "make synthetic-sweep prints the summary"
EOF2
SWEEP_QUICK_IOU=${SWEEP_QUICK_IOU:-0.95}
# The lower bar of the quick schedule on today's default recipe (the full
# sweep's bar is issue 13's; raise this one with the recipe): measured on the
# two-pass overlap recipe at min 0.980, mean of the minima 0.982 (its first
# pass alone: min 0.911; the paper's step (d): 0.35), so every concept matched
# by its own detector at 0.95, and the mean over concepts too; the signal
# vectors of d.h5 (ICA, held in the second pass) and Eq. 1 on its detectors at
# cosine 0.95 on the mean.
check "quick bar: every concept at IoU >= $SWEEP_QUICK_IOU, mean >= 0.95, cosines of d and Eq. 1 >= 0.95 on the mean" py "$SWEEP_QUICK_IOU" <<'EOF2'
import sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1] + "/sweep/rows.tsv")]
rows = [dict(zip(rows[0], r)) for r in rows[1:]]
bar = float(sys.argv[2])
low = [(r["config"], r["iou_d_min"], r["iou_d_mean"]) for r in rows
       if float(r["iou_d_min"]) < bar or float(r["iou_d_mean"]) < 0.95]
assert not low, f"matched IoU below {bar} (min) or 0.95 (mean): {low}"
for estimator in ("d", "eq1"):
    mean_cos = sum(float(r[f"cos_{estimator}_mean"]) for r in rows) / len(rows)
    assert mean_cos >= 0.95, f"mean cosine of {estimator}: {mean_cos}"
EOF2
check "summary.png is a PNG" bash -c "head -c 8 '$S/summary.png' | od -An -tx1 | grep -q '89 50 4e 47'"
check "every configuration-seed ran head, a, c, d and the evaluations" bash -c "
    for c in \$(cat '$TMP/configs'); do for f in head.h5 a.h5 c.h5 d.h5 eq1.h5 ica.h5 pcav.h5 eval-d.h5 head-eval.txt; do
        test -s '$S'/\$c/seed0/\$f || { echo missing \$c/\$f; exit 1; }; done; done
    for c in \$(cat '$TMP/configs'); do I=\$(awk -v c=\$c '\$1 == c { print \$4 }' '$S/rows.tsv')
        grep -q -- \"--detectors \$I --epochs\" '$S'/\$c/seed0/a.flags && grep -q -- \"--concepts \$I \" '$S'/\$c/seed0/data.flags || exit 1; done"
check "two starts per configuration-seed (SWEEP_STARTS=2): d1.h5 is the one of lower final objective" py "$(cat "$TMP/configs")" <<'EOF2'
import filecmp, h5py, sys
t, configs = sys.argv[1], sys.argv[2].split()
for c in configs:
    seed = f"{t}/sweep/{c}/seed0"
    starts = [f"{seed}/d-start0.h5", f"{seed}/start1/d.h5"]
    values = [float(h5py.File(p, "r")["history/objective"][-1]) for p in starts]
    best = min(range(2), key=lambda k: (values[k], k))
    assert filecmp.cmp(f"{seed}/d1.h5", starts[best], shallow=False), (c, values)
    assert h5py.File(f"{seed}/start1/a.h5", "r").attrs["seed"] == 1000, c   # start k of seed N: k00N
    line = open(f"{seed}/d-starts.txt").read()
    assert line.startswith(f"kept start {best} ") and "start 1 " in line, line
EOF2
check "second pass: d.h5 is step (d) from d1.h5's detectors with d1-ica.h5's signal vectors held (unit rows)" py "$(cat "$TMP/configs")" <<'EOF2'
import h5py, numpy as np, sys
t, configs = sys.argv[1], sys.argv[2].split()
for c in configs:
    seed = f"{t}/sweep/{c}/seed0"
    d, ica, d1 = (h5py.File(f"{seed}/{n}.h5", "r") for n in ("d", "d1-ica", "d1"))
    assert d.attrs["signals"] == "fixed" and d.attrs["bound_fso"] == 0.02 and d1.attrs["signals"] == "learned", c
    assert ica.attrs["estimator"] == "ica" and np.allclose(ica["W"][()], d1["W"][()], rtol=0, atol=1e-12), c
    S = ica["S"][()] / np.linalg.norm(ica["S"][()], axis=1, keepdims=True)
    assert np.abs(d["S"][()] - S).max() < 1e-12, c
    assert not np.allclose(d["W"][()], d1["W"][()]), c
EOF2
c0=$(cut -d' ' -f1 "$TMP/configs")
expect_fail 65 "c\.h5: no dataset '/history/objective'" /usr/bin/python3 pipelines/pick_start.py "$TMP/picked.h5" \
    "$S/$c0/seed0/d-start0.h5" "$S/$c0/seed0/c.h5"
check "pick_start.py leaves no output when it refuses" test ! -e "$TMP/picked.h5"

M synthetic-sweep > "$TMP/rerun.out" 2> "$TMP/rerun.err"
check "a rerun trains nothing" bash -c "! grep -E '^sweep/' '$TMP/rerun.err' && ! grep -E 'bin/(uibe|eddp|trainhead|synthgen)' '$TMP/rerun.out'"

M -s sweep-ablation VARIANTS=default > "$TMP/ablation.out" 2> "$TMP/ablation.err"
check "sweep-ablation: one line of aggregates per variant, from the finished sweep (nothing trained)" bash -c "
    head -1 '$S/ablation.txt' | grep -q \$'^variant\tconfig_seeds\tfrac_iou_ge_0.9' &&
    test \$(wc -l < '$S/ablation.txt') = 2 && grep -q \$'^default\t3\t' '$S/ablation.txt' &&
    cmp -s '$S/ablation.txt' '$TMP/ablation.out' && ! grep -E '^sweep/' '$TMP/ablation.err'"

C=$(cut -d' ' -f1 "$TMP/configs")
M -n synthetic-sweep VARIANT=v1 SWEEP_D_EXTRA='--bound ic=0.1' > "$TMP/plan-v1" 2>&1
check "VARIANT=v1: its own folder, SWEEP_D_EXTRA in its step d only" bash -c "
    grep -q -- '--bound ic=0.1 --epochs' '$S/v1/$C/seed0/d.flags' && ! grep -q -- 'ic=0.1' '$S/v1/$C/seed0/a.flags' &&
    ! grep -q -- 'ic=0.1' '$S/$C/seed0/d.flags' && grep -q 'bin/eddp --quiet --overwrite --step d .*$S/v1/$C/seed0' '$TMP/plan-v1'"
M -n synthetic-sweep SWEEP_D_EXTRA='--bound ic=0.1' > "$TMP/plan-d" 2>&1
check "a new step-d flag reruns step d and its evaluations, not the data, head or step a" bash -c "
    grep -q 'bin/eddp --quiet --overwrite --step d' '$TMP/plan-d' && grep -q 'eval-d.h5' '$TMP/plan-d' &&
    ! grep -q 'bin/uibe' '$TMP/plan-d' && ! grep -q 'bin/synthgen' '$TMP/plan-d' && ! grep -q 'bin/trainhead --quiet' '$TMP/plan-d'"
finish
