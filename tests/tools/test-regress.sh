# test-regress.sh — regress against the closed-form ideal detectors (the
# golden: IoU 1 on the diagonal, 0 elsewhere, cosines 1, RMSE and leakage
# 0), and every number of its report on perturbed detectors against an
# independent numpy computation (IoU, Hungarian matching, Eq. 17 RMSE,
# cosines, leakage); then the failure paths. Run from the repository root.
source tests/tools/lib.sh

SG=bin/synthgen RG=bin/regress
$SG --quiet --seed 4 --per-class 300 -o "$TMP/f.h5" &&
    $SG --quiet --seed 4 --random-truth --dims 20 --concepts 4 --distractors 3 --per-class 200 \
        --classes '0,1;0,2;1,3;2,3' -o "$TMP/r.h5" ||
    { fail "synthgen makes the inputs"; finish; }

desc "regress --ideal writes the closed-form detectors"
expect_ok $RG --quiet --ideal "$TMP/f.h5" -o "$TMP/ideal.h5"
desc "regress evaluates the ideal detectors"
expect_ok $RG --quiet "$TMP/ideal.h5" "$TMP/f.h5" -o "$TMP/ideal-eval.h5"
check "ideal detectors: IoU identity, cosines 1, RMSE 0, leakage 0 (the golden)" py <<'EOF'
import h5py, numpy as np, sys
e = h5py.File(sys.argv[1] + "/ideal-eval.h5", "r")
assert e.attrs["format"] == "eddp-evaluation"
assert np.array_equal(e["iou"][:], np.eye(3)), e["iou"][:]
assert np.array_equal(e["match"][:], [0, 1, 2])
assert np.allclose(e["cosine"][:], 1, atol=1e-12)
assert e.attrs["rmse"] < 1e-4, e.attrs["rmse"]
assert np.all(e["leak_signal"][:] < 1e-10) and np.all(e["leak_distractor"][:] < 1e-10)
EOF

# Perturbed detectors, shuffled rows: matching, IoU, RMSE, cosines and leakage
# must equal numpy's, computed here from the files alone.
check "make perturbed, shuffled detectors" py <<'EOF'
import h5py, numpy as np, sys, shutil
t = sys.argv[1]
for src in ("f", "r"):
    if src == "r":
        import subprocess
        subprocess.run(["bin/regress", "--quiet", "--ideal", t + "/r.h5", "-o", t + "/ideal-r.h5"], check=True)
    name = t + ("/ideal.h5" if src == "f" else "/ideal-r.h5")
    shutil.copy(name, t + f"/noisy-{src}.h5")
    f = h5py.File(t + f"/noisy-{src}.h5", "r+")
    rng = np.random.default_rng(7)
    n = f["W"].shape[0]
    perm = rng.permutation(n)
    # tools read /unit, /margin, /threshold, /center; /W, /b follow from them
    u, M, th, c, S = (f[k][:] for k in ("unit", "margin", "threshold", "center", "S"))
    u, M, th, S = u[perm], M[perm], th[perm], S[perm]
    u += 0.05 * rng.standard_normal(u.shape)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    th += 0.1 * rng.standard_normal(n)
    S += 0.1 * rng.standard_normal(S.shape)
    W = u / M[:, None]
    b = (u @ c + th) / M
    for k, v in (("unit", u), ("margin", M), ("threshold", th), ("S", S), ("W", W), ("b", b)):
        f[k][...] = v
EOF
for s in f r; do
    desc "regress on perturbed detectors ($s)"
    expect_ok $RG --quiet "$TMP/noisy-$s.h5" "$TMP/$s.h5" -o "$TMP/noisy-$s-eval.h5"
    check "every reported number equals numpy's ($s)" py "$s" <<'EOF'
import h5py, numpy as np, sys, itertools
t, s = sys.argv[1], sys.argv[2]
d, g, e = (h5py.File(t + n, "r") for n in (f"/noisy-{s}.h5", f"/{s}.h5", f"/noisy-{s}-eval.h5"))
W, b, S = d["W"][:], d["b"][:], d["S"][:]
feat = g["features"][:].astype(np.float64)          # [N, C, H, W]
N, C = feat.shape[:2]
X = feat.transpose(0, 2, 3, 1).reshape(-1, C)       # pixel-major
concept = g["concepts/concept"][:].reshape(-1) - 1
St, Dt = g["truth/S"][:], g["truth/D"][:]
alpha = g["truth/alpha"][:].astype(np.float64)      # [N, n_con, H, W]
n_con = St.shape[0]
fires = X @ W.T - b > 0
iou = np.array([[np.sum(fires[:, i] & (concept == k)) / np.sum(fires[:, i] | (concept == k))
                 for k in range(n_con)] for i in range(W.shape[0])])
assert np.allclose(e["iou"][:], iou, atol=1e-12), np.abs(e["iou"][:] - iou).max()
best = max(itertools.permutations(range(n_con)), key=lambda p: sum(iou[i, p[i]] for i in range(n_con)))
assert list(e["match"][:]) == list(best), (e["match"][:], best)
cos = [S[i] @ St[k] / np.linalg.norm(S[i]) / np.linalg.norm(St[k]) for i, k in enumerate(best)]
assert np.allclose(e["cosine"][:], cos, atol=1e-12)
# Eq. 17 with unit-norm s: a = (w.x - w.E[x]) / (w.s), against alpha - mean alpha
A = alpha.transpose(0, 2, 3, 1).reshape(-1, n_con)
err = []
for i, k in enumerate(best):
    s_unit = S[i] / np.linalg.norm(S[i])
    est = (X @ W[i] - W[i] @ X.mean(0)) / (W[i] @ s_unit)
    err.append(est - (A[:, k] - A[:, k].mean()))
rmse = np.sqrt(np.mean(np.concatenate(err) ** 2))
assert abs(e.attrs["rmse"] - rmse) <= 1e-9 * max(1, rmse), (e.attrs["rmse"], rmse)
for i, k in enumerate(best):
    own = abs(W[i] @ St[k])
    ls = max(abs(W[i] @ St[j]) for j in range(n_con) if j != k) / own
    ld = max(abs(W[i] @ Dt[f]) for f in range(Dt.shape[0])) / own
    assert np.isclose(e["leak_signal"][i], ls, rtol=1e-12), (e["leak_signal"][i], ls)
    assert np.isclose(e["leak_distractor"][i], ld, rtol=1e-12)
assert iou.max() < 1 and rmse > 0.01, "the perturbation must be visible"
EOF
done

# ------------------------------------------------------------------ failures
desc "directions of another dimension"
expect_fail 65 'noisy-r\.h5|r\.h5|f\.h5' $RG --quiet "$TMP/noisy-r.h5" "$TMP/f.h5" -o "$TMP/x.h5"
# copy_without SRC DST DATASET: a copy of SRC lacking DATASET.
copy_without() {
    cp "$1" "$2" && py "$2" "$3" <<'EOF'
import h5py, sys
with h5py.File(sys.argv[2], "r+") as f:
    del f[sys.argv[3]]
EOF
}
copy_without "$TMP/f.h5" "$TMP/notruth.h5" truth
desc "features without /truth"
expect_fail 65 'notruth\.h5.*truth' $RG --quiet "$TMP/ideal.h5" "$TMP/notruth.h5" -o "$TMP/x.h5"
copy_without "$TMP/noisy-f.h5" "$TMP/noS.h5" S
desc "--match cosine without /S"
expect_fail 65 'noS\.h5.*/S' $RG --quiet --match cosine "$TMP/noS.h5" "$TMP/f.h5" -o "$TMP/x.h5"
desc "--ideal without -o"
expect_fail 64 '\-o' $RG --ideal "$TMP/f.h5"
desc "not an HDF5 file"
echo hello > "$TMP/text.h5"
expect_fail 65 'text\.h5' $RG --quiet "$TMP/text.h5" "$TMP/f.h5" -o "$TMP/x.h5"
finish
