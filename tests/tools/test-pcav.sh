# test-pcav.sh — Pattern-CAVs on the paper's synthetic data (cosine with the
# true signal directions ≈ 0.5817, method-spec §1.3), the directions
# contract, a hand-made file with unannotated images and unlabelled pixels,
# and the failure modes. Run from the repository root.
source tests/tools/lib.sh

SG=bin/synthgen PCAV=bin/pcav
$SG --seed 5 --per-class 20000 -o "$TMP/big.h5" && $SG --seed 3 --per-class 60 -o "$TMP/f.h5" ||
    { fail "synthgen makes the inputs"; finish; }

desc "pcav on 120000 synthetic pixels"
expect_ok $PCAV "$TMP/big.h5" -o "$TMP/p.h5"
check "cosines with /truth/S are 0.5817 ± 0.01 (the population value of §1.3)" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
S, T = h5py.File(t + "/p.h5", "r")["S"][:], h5py.File(t + "/big.h5", "r")["truth/S"][:]
cos = np.sum(S * T, axis=1) / np.linalg.norm(S, axis=1) / np.linalg.norm(T, axis=1)
# population Pattern-CAV 2.5 s_i - 1.25 (s_j + s_k) from the transcribed Table 6
pop = np.array([2.5 * T[i] - 1.25 * (T.sum(0) - T[i]) for i in range(3)])
pop_cos = np.sum(pop * T, axis=1) / np.linalg.norm(pop, axis=1)
assert np.allclose(pop_cos, 0.5817, atol=2e-4), pop_cos
assert np.all(np.abs(cos - 0.5817) <= 0.01), cos
EOF
check "/S is mu+ - mu- of the pixels; unit, margin 1, threshold 0, center = data mean; W x - b = unit.(x - center)" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f, g = h5py.File(t + "/p.h5", "r"), h5py.File(t + "/big.h5", "r")
assert f.attrs["format"] == "eddp-directions" and f.attrs["step"] == "pcav" and f.attrs["tool"] == "pcav"
assert f.attrs["category"] == "concept" and f.attrs["inputs"].startswith(t + "/big.h5\t")
x = g["features"][:].astype(np.float64).transpose(0, 2, 3, 1).reshape(-1, 16)
c = g["concepts/concept"][:].reshape(-1)
V = np.array([x[c == k].mean(0) - x[c != k].mean(0) for k in (1, 2, 3)])
S, u, W, b = f["S"][:], f["unit"][:], f["W"][:], f["b"][:]
assert np.allclose(S, V, rtol=1e-10, atol=1e-12), np.abs(S - V).max()
assert np.allclose(u, V / np.linalg.norm(V, axis=1, keepdims=True), atol=1e-14)
assert np.all(f["margin"][:] == 1) and np.all(f["threshold"][:] == 0) and np.array_equal(W, u)
assert np.allclose(b, u @ f["center"][:], rtol=1e-14, atol=0)
assert np.allclose(f["center"][:], x.mean(0), rtol=1e-12)
assert np.allclose(W, u, atol=1e-14) and np.allclose(x @ W.T - b, (x - f["center"][:]) @ u.T, atol=1e-9)
assert np.array_equal(f["pcav/n_positive"][:], [40000] * 3) and np.array_equal(f["pcav/n_negative"][:], [80000] * 3)
assert [n.decode() for n in f["concept_names"][:]] == ["concept0", "concept1", "concept2"]
EOF
expect_ok $PCAV --threads 1 "$TMP/big.h5" -o "$TMP/p1.h5"
check "one thread gives identical vectors" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a, b = h5py.File(t + "/p.h5", "r"), h5py.File(t + "/p1.h5", "r")
assert all(np.array_equal(a[k][:], b[k][:]) for k in ("S", "W", "b", "unit", "center", "threshold"))
EOF
desc "iou-label reads a pcav file (the directions contract)"
expect_ok bin/iou-label --table none "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/pe.h5"

# ---------------------------------------------------------- hand-made file
# 'a' at feature resolution (named; image 2 not annotated, zeros elsewhere
# are unlabelled pixels that count as negatives), 'b' at 2× resolution,
# 'scene' image-level.
check "make the hand-made files" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
rng = np.random.default_rng(3)
N, C, H, W = 6, 4, 2, 3
x = rng.normal(0, 1, (N, C, H, W)).astype(np.float32)
a = rng.integers(0, 3, (N, H, W)); a[2] = 0; a[0, 0, 0] = 1; a[1, 0, 0] = 2
def write(path, x, cats, names=None):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
        f["features"] = x
        for k, v in cats.items():
            f["concepts/" + k] = v.astype(np.int32)
        for k, v in (names or {}).items():
            f["concepts/" + k].attrs["names"] = v
cats = {"a": a, "b": rng.integers(0, 3, (N, 2 * H, 2 * W)), "scene": np.eye(2, dtype=int)[rng.integers(0, 2, N)]}
write(t + "/h.h5", x, cats, {"a": ["cat", "dog"]})
write(t + "/h-unused.h5", x, cats, {"a": ["cat", "dog", "bird"]})     # 'bird' (3) is never used
write(t + "/h-none.h5", x, {"a": np.zeros((N, H, W), int)})
xn = x.copy(); xn[4, 1, 0, 2] = np.nan
write(t + "/h-nan.h5", xn, cats)
with h5py.File(t + "/noconcepts.h5", "w") as f:
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    f["features"] = x
EOF
desc "hand-made file, default category (the first by name)"
expect_ok $PCAV "$TMP/h.h5" -o "$TMP/hp.h5"
check "unannotated images are skipped, unlabelled pixels of annotated images are negatives" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f, g = h5py.File(t + "/hp.h5", "r"), h5py.File(t + "/h.h5", "r")
x = g["features"][:].astype(np.float64).transpose(0, 2, 3, 1)       # [N, H, W, C]
a = g["concepts/a"][:]
keep = np.array([np.any(m != 0) for m in a])
assert not keep[2] and keep.sum() == 5
xs, cs = x[keep].reshape(-1, 4), a[keep].reshape(-1)
V = np.array([xs[cs == k].mean(0) - xs[cs != k].mean(0) for k in (1, 2)])
assert np.allclose(f["S"][:], V, rtol=1e-10, atol=1e-12), (f["S"][:], V)
assert np.array_equal(f["pcav/n_positive"][:] + f["pcav/n_negative"][:], [30, 30])
assert np.allclose(f["center"][:], x.reshape(-1, 4).mean(0), rtol=1e-12)        # all pixels
assert f.attrs["category"] == "a" and [n.decode() for n in f["concept_names"][:]] == ["cat", "dog"]
EOF

O="$TMP/out.h5"
expect_fail 65 "h\.h5: '/concepts/b' maps are 4x6 but the feature maps are 2x3; Pattern-CAVs need maps at the feature resolution" \
    $PCAV --category b "$TMP/h.h5" -o "$O"
expect_fail 65 "h\.h5: '/concepts/scene' holds image-level labels; Pattern-CAVs need pixel maps" $PCAV --category scene "$TMP/h.h5" -o "$O"
expect_fail 65 "h\.h5: no concept category '/concepts/nope'" $PCAV --category nope "$TMP/h.h5" -o "$O"
expect_fail 65 "h-unused\.h5: concept 'bird' \(label 3 of '/concepts/a'\) has no positive pixels: no Pattern-CAV" $PCAV "$TMP/h-unused.h5" -o "$O"
expect_fail 65 "h-none\.h5: '/concepts/a' holds no concept label" $PCAV "$TMP/h-none.h5" -o "$O"
expect_fail 65 "noconcepts\.h5: no concept annotations \('/concepts' is missing\)" $PCAV "$TMP/noconcepts.h5" -o "$O"
expect_fail 65 "h-nan\.h5: dataset '/features' holds NaN at image 4" $PCAV "$TMP/h-nan.h5" -o "$O"
expect_fail 66 "missing\.h5: cannot open" $PCAV "$TMP/missing.h5" -o "$O"
expect_fail 64 "expected one FEATURES file" $PCAV -o "$O"
expect_fail 64 "no output file" $PCAV "$TMP/h.h5"
expect_fail 73 "no/such/dir/p\.h5: cannot create output" $PCAV "$TMP/h.h5" -o "$TMP/no/such/dir/p.h5"
expect_fail 73 "hp\.h5: output exists; use --overwrite to replace it" $PCAV "$TMP/h.h5" -o "$TMP/hp.h5"
check "pcav --help and --version" bash -c "$PCAV --help | grep -q 'usage: pcav' && $PCAV --version | grep -q 'pcav (eddp-toolkit)'"
finish
