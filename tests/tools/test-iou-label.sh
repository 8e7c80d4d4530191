# test-iou-label.sh — iou-label on real generated data (synthgen + uibe/eddp)
# and on a hand-made file with 2× annotation maps, a feature-resolution
# category and an image-level category, each compared with an independent
# NumPy recomputation (tests/tools/iou_reference.py); the table on stdout;
# determinism; and every failure mode. Run from the repository root.
source tests/tools/lib.sh

SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe EDDP=bin/eddp IOU=bin/iou-label
$SG --seed 3 --per-class 60 -o "$TMP/f.h5" && $SG --seed 3 --per-class 60 --split test -o "$TMP/ft.h5" &&
    $TH --seed 3 --epochs 100 "$TMP/f.h5" -o "$TMP/h.h5" &&
    $UIBE --threads 1 --seed 3 --detectors 3 --epochs 40 --batch 32 --lr 1e-3 --objective constrained \
        --weight s=2.6 --weight uur=0.25 --bound ma=0.8 --bound mm=8 --bound ic=0.1 --al-every 5 \
        "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a.h5" 2>/dev/null &&
    $EDDP --step c "$TMP/a.h5" "$TMP/f.h5" -o "$TMP/c.h5" ||
    { fail "synthgen, trainhead, uibe and eddp make the inputs"; finish; }

REF='import sys; sys.path.insert(0, "tests/tools"); import iou_reference as R, h5py, numpy as np'

check "the reference's bilinear upsampling reproduces torch (align_corners=False)" py <<EOF
$REF
# torch.nn.functional.interpolate(x, size, mode="bilinear", align_corners=False)
up = R.bilinear(np.array([[1., 2.], [3., 4.]]), 4, 4)
torch_4x4 = [[1.0, 1.25, 1.75, 2.0], [1.5, 1.75, 2.25, 2.5], [2.5, 2.75, 3.25, 3.5], [3.0, 3.25, 3.75, 4.0]]
assert np.allclose(up, torch_4x4, atol=1e-15), up
assert np.allclose(R.bilinear(np.array([[0., 1., 2.]]), 1, 5), [[0, 0.4, 1, 1.6, 2]], atol=1e-15)
assert np.allclose(R.bilinear(np.array([[5., 7.]]), 1, 2), [[5, 7]])     # same size: identity
# sklearn's average_precision_score on its documented example
assert abs(R.average_precision(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) - 0.8333333333) < 1e-9
EOF

# ---------------------------------------------------------- synthetic data
desc "iou-label on eddp step (c) directions, split of FEATURES"
expect_ok $IOU --seed 4 "$TMP/c.h5" "$TMP/f.h5" -o "$TMP/e.h5"
cp "$_LIB_WORK/stdout" "$TMP/e.txt"
check "format, provenance, split, and every dataset named in the man page" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/e.h5", "r")
assert f.attrs["format"] == "eddp-evaluation" and f.attrs["format_version"] == 1
assert f.attrs["tool"] == "iou-label" and f.attrs["directions_step"] == "c"
inputs = f.attrs["inputs"].splitlines()
assert len(inputs) == 2 and inputs[0].startswith(t + "/c.h5\t") and inputs[1].startswith(t + "/f.h5\t")
v = f["val_images"][:]
assert len(v) == 90 and len(set(v)) == 90 and v.min() >= 0 and v.max() < 180 and np.all(np.diff(v) > 0)
assert f.attrs["n_val_images"] == 90 and f.attrs["n_train_images"] == 90 and f.attrs["val_fraction"] == 0.5
names = [n.decode() if isinstance(n, bytes) else n for n in f["concept_names"][:]]
assert names == ["concept0", "concept1", "concept2"], names
assert [c.decode() if isinstance(c, bytes) else c for c in f["concept_category"][:]] == ["concept"] * 3
assert f["iou/train"].shape == (3, 3) and f["iou/val"].shape == (3, 3) and f["label"].dtype == np.int32
for g in ("individual", "linear_or"):
    for k in ("precision", "recall", "f1", "iou", "ap", "tp", "fp", "fn"):
        assert f[g + "/" + k].ndim == 1, (g, k)
    for k in ("s1", "s2", "mean_precision", "mean_recall", "mean_f1", "mean_iou", "mean_ap", "count"):
        assert k in f[g].attrs, (g, k)
assert f.attrs["s1"] == f["individual"].attrs["s1"]
EOF
check "every number equals the NumPy recomputation (train/val IoU, labels, S1, S2, P/R/F1/IoU/AP, Linear-OR)" py <<EOF
$REF
t = sys.argv[1]
ref = R.evaluate(t + "/c.h5", t + "/f.h5", val_images=h5py.File(t + "/e.h5", "r")["val_images"][:])
R.compare(t + "/e.h5", ref)
assert ref["s1"] > 1.0, ref["s1"]        # the detectors found something to label
EOF
check "stdout: the IoU table (validation, two decimals) and the summary" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/e.h5", "r")
lines = open(t + "/e.txt").read().splitlines()
head = lines.index(next(l for l in lines if l.startswith("detector")))
assert lines[head].split() == ["detector", "concept0", "concept1", "concept2", "label", "IoU"], lines[head]
iou, label, phi = f["iou/val"][:], f["label"][:], f["label_iou_val"][:]
for i in range(3):
    cells = lines[head + 1 + i].split()
    assert cells[0] == str(i)
    assert cells[1:4] == [f"{x:.2f}" for x in iou[i]], (cells, iou[i])
    assert cells[4] == f"concept{label[i]}" and cells[5] == f"{phi[i]:.2f}"
rows = {l.split()[0]: l.split()[1:] for l in lines[head + 4:] if l.strip()}
ind, lor = rows["individual"], rows["linear-or"]
assert ind[0] == "3" and float(ind[1]) == round(f.attrs["s1"], 4) and float(ind[2]) == round(f.attrs["s2"], 4)
g = f["individual"].attrs
assert [float(x) for x in ind[3:]] == [round(g[k], 4) for k in ("mean_iou", "mean_precision", "mean_recall", "mean_f1", "mean_ap")]
assert int(lor[0]) == f["linear_or/label"].shape[0]
EOF

desc "--val-from: validation images from the test split"
expect_ok $IOU "$TMP/c.h5" "$TMP/f.h5" --val-from "$TMP/ft.h5" -o "$TMP/e2.h5"
check "--val-from equals the NumPy recomputation; no /val_images" py <<EOF
$REF
t = sys.argv[1]
R.compare(t + "/e2.h5", R.evaluate(t + "/c.h5", t + "/f.h5", val_path=t + "/ft.h5"))
f = h5py.File(t + "/e2.h5", "r")
assert "val_images" not in f and f.attrs["val_from"] == t + "/ft.h5" and f.attrs["n_val_images"] == 180
assert len(f.attrs["inputs"].splitlines()) == 3
EOF

desc "--val-fraction 0.2 and another seed"
expect_ok $IOU --seed 9 --val-fraction 0.2 --table none "$TMP/c.h5" "$TMP/f.h5" -o "$TMP/e3.h5"
check "--val-fraction 0.2: 36 validation images, other ones than seed 4; --table none prints nothing" py <<EOF
$REF
t = sys.argv[1]
a, b = h5py.File(t + "/e.h5", "r")["val_images"][:], h5py.File(t + "/e3.h5", "r")["val_images"][:]
assert len(b) == 36 and set(b) - set(a)
R.compare(t + "/e3.h5", R.evaluate(t + "/c.h5", t + "/f.h5", val_images=b))
EOF
check "--table none prints nothing" test ! -s "$_LIB_WORK/stdout"

SAME='import h5py, numpy as np, sys
def data(p):
    out = {}
    h5py.File(p, "r").visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b = data(sys.argv[1]), data(sys.argv[2])
assert a.keys() == b.keys()
bad = [k for k in a if not np.array_equal(a[k], b[k])]
assert not bad, bad'
expect_ok $IOU --seed 4 --threads 1 --memory 1K "$TMP/c.h5" "$TMP/f.h5" -o "$TMP/e4.h5"
check "one thread and one unit per AP pass (--memory 1K) give identical results" \
    /usr/bin/python3 -c "$SAME" "$TMP/e.h5" "$TMP/e4.h5"
check "-o - writes the HDF5 image to stdout and no table" bash -c "
    $IOU --seed 4 '$TMP/c.h5' '$TMP/f.h5' -o - > '$TMP/stdout.h5' &&
    /usr/bin/python3 -c \"\$1\" '$TMP/e.h5' '$TMP/stdout.h5'" _ "$SAME"

# ---------------------------------------------------------- hand-made file
# 16 images of 3 channels on a 2×3 feature map; 'object' maps at 4×6 (2×,
# named), 'part' maps at 2×3 (unnamed), 'scene' image-level labels
# (unnamed); some images not annotated for a category (all-zero map, or no
# image-level label). Detectors 0 and 1 are nearly equal, so they share a
# label and form a Linear-OR unit of two.
check "make the hand-made files" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
rng = np.random.default_rng(7)
N, C, H, W = 16, 3, 2, 3
x = rng.normal(0, 1, (N, C, H, W)).astype(np.float32)
def features(path, x, objects, parts, scenes, names=True):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
        f["features"] = x
        f["concepts/object"] = objects.astype(np.int32)
        if names:
            f["concepts/object"].attrs["names"] = ["sky", "tree", "road"]
        f["concepts/part"] = parts.astype(np.int32)
        f["concepts/scene"] = scenes.astype(np.int32)
u = rng.normal(0, 1, (4, C)); u[1] = u[0] + 0.05 * rng.normal(0, 1, C)
u /= np.linalg.norm(u, axis=1, keepdims=True)
def directions(path, u, margin, threshold, center):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "eddp-directions"; f.attrs["format_version"] = 1; f.attrs["step"] = "c"
        f["unit"] = u; f["margin"] = margin; f["threshold"] = threshold; f["center"] = center
        W = u / margin[:, None]
        f["W"] = W; f["b"] = (u @ center + threshold) / margin
directions(t + "/hd.h5", u, np.array([0.5, 0.7, 1.0, 2.0]), np.array([0.1, 0.0, -0.3, 0.2]), np.zeros(C))
# objects follow detector 0 (upsampled logit > 0 → 1 'sky', else 2 or 3 at random), with noise
def logit_up(img, i):
    import importlib, sys as s; s.path.insert(0, "tests/tools"); R = importlib.import_module("iou_reference")
    Wd, bd = R.directions(t + "/hd.h5")
    a = (x[img].reshape(C, -1).T.astype(np.float64) @ Wd.T - bd).T.reshape(-1, H, W)
    return R.bilinear(a[i], 2 * H, 2 * W)
objects = np.zeros((N, 2 * H, 2 * W), int)
for n in range(N):
    if n % 5 == 4:
        continue                                     # not annotated for 'object'
    objects[n] = np.where(logit_up(n, 0) > 0, 1, rng.integers(2, 4, (2 * H, 2 * W)))
    flip = rng.random((2 * H, 2 * W)) < 0.15
    objects[n][flip] = rng.integers(0, 4, flip.sum())
parts = rng.integers(0, 3, (N, H, W)); parts[::3] = 0     # images 0, 3, 6, … without parts
scenes = np.zeros((N, 2), int)
for n in range(N):
    if n % 4 != 1:                                   # images 1, 5, 9, 13 without a scene label
        scenes[n, rng.integers(0, 2)] = 1
        if n % 7 == 0:
            scenes[n] = 1                            # two scene labels at once
features(t + "/hf.h5", x, objects, parts, scenes)
features(t + "/hv.h5", rng.normal(0, 1, (9, C, H, W)).astype(np.float32), np.where(rng.random((9, 4, 6)) < 0.5, rng.integers(1, 4, (9, 4, 6)), 0),
         rng.integers(0, 3, (9, H, W)), np.eye(2, dtype=int)[rng.integers(0, 2, 9)], names=False)
# bad inputs
features(t + "/hv-badn.h5", x[:9], objects[:9], parts, scenes[:9])             # 'part' has N=16, features N=9
features(t + "/hv-badc.h5", np.zeros((9, 4, H, W), np.float32), objects[:9], parts[:9], scenes[:9])
with h5py.File(t + "/hv-badcat.h5", "w") as f:
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    f["features"] = x; f["concepts/object"] = objects.astype(np.int32)
with h5py.File(t + "/noconcepts.h5", "w") as f:
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    f["features"] = x
features(t + "/bad-scene.h5", x, objects, parts, scenes * 2)
features(t + "/bad-neg.h5", x, objects - 1, parts, scenes)
features(t + "/bad-names.h5", x, objects, parts, scenes)
with h5py.File(t + "/bad-names.h5", "r+") as f:
    f["concepts/scene"].attrs["names"] = ["beach", "forest", "city"]
xn = x.copy(); xn[5, 2, 1, 0] = np.nan
features(t + "/hf-nan.h5", xn, objects, parts, scenes)
u_nan = u.copy(); u_nan[2, 1] = np.nan
directions(t + "/hd-nan.h5", u_nan, np.ones(4), np.zeros(4), np.zeros(C))
EOF

desc "hand-made file: 2× object maps, feature-resolution parts, image-level scenes"
expect_ok $IOU --seed 1 "$TMP/hd.h5" "$TMP/hf.h5" -o "$TMP/he.h5"
cp "$_LIB_WORK/stdout" "$TMP/he.txt"
check "hand-made: every number equals the NumPy recomputation (bilinear 2×, category-aware union)" py <<EOF
$REF
t = sys.argv[1]
f = h5py.File(t + "/he.h5", "r")
ref = R.evaluate(t + "/hd.h5", t + "/hf.h5", val_images=f["val_images"][:])
R.compare(t + "/he.h5", ref)
assert ref["concept_names"] == ["sky", "tree", "road", "part:1", "part:2", "scene:1", "scene:2"], ref["concept_names"]
assert [c.decode() for c in f["concept_category"][:]] == ["object"] * 3 + ["part"] * 2 + ["scene"] * 2
# the test exercises what it claims: a two-member Linear-OR unit, an image-level
# label among the columns with non-zero IoU, unannotated images in the split
assert 2 in list(f["linear_or/members"][:]), f["linear_or/members"][:]
assert f["iou/val"][:, 5:].max() > 0 and f["iou/val"][:, :3].max() > 0.3
EOF
check "hand-made: the category-aware union differs from a plain union (the rule matters here)" py <<EOF
$REF
t = sys.argv[1]
# plain union: every validation image's fired pixels count against every concept
f = h5py.File(t + "/he.h5", "r")
src = R.Source(t + "/hf.h5")
Wd, bd = R.directions(t + "/hd.h5")
val = f["val_images"][:]
fired = sum((R._unit_maps(src, x, Wd, bd, [[0]], (4, 6))[0] > 0).sum() for x in val)
tp, fp = f["individual/tp"][0], f["individual/fp"][0]
assert f["label"][0] in (0, 1, 2) and tp + fp < fired, (tp, fp, fired)
EOF
desc "hand-made, --val-from a file without concept names"
expect_ok $IOU "$TMP/hd.h5" "$TMP/hf.h5" --val-from "$TMP/hv.h5" --table labels -o "$TMP/hev.h5"
check "hand-made --val-from equals the NumPy recomputation" py <<EOF
$REF
t = sys.argv[1]
R.compare(t + "/hev.h5", R.evaluate(t + "/hd.h5", t + "/hf.h5", val_path=t + "/hv.h5"))
EOF
cp "$_LIB_WORK/stdout" "$TMP/hev.txt"
check "--table labels: the columns are the labels in concept order" py <<'EOF'
import h5py, sys
t = sys.argv[1]
f = h5py.File(t + "/hev.h5", "r")
names = [n.decode() for n in f["concept_names"][:]]
want = [names[c] for c in sorted(set(int(l) for l in f["label"][:] if l >= 0))]
head = next(l for l in open(t + "/hev.txt").read().splitlines() if l.startswith("detector")).split()
assert head == ["detector"] + want + ["label", "IoU"], (head, want)
EOF
expect_ok $IOU --seed 1 --threads 1 --memory 1K "$TMP/hd.h5" "$TMP/hf.h5" -o "$TMP/he2.h5"
check "hand-made: one thread, one unit per AP pass: identical" /usr/bin/python3 -c "$SAME" "$TMP/he.h5" "$TMP/he2.h5"

# ---------------------------------------------------------- failure modes
O="$TMP/out.h5"
expect_fail 65 "noconcepts\.h5: no concept annotations \('/concepts' is missing\)" $IOU "$TMP/hd.h5" "$TMP/noconcepts.h5" -o "$O"
expect_fail 65 "hd\.h5: directions have D=3 but .*f\.h5 has C=16 channels" $IOU "$TMP/hd.h5" "$TMP/f.h5" -o "$O"
expect_fail 65 "hv-badc\.h5: has C=4 channels but the directions and .*hf\.h5 have D=3" \
    $IOU "$TMP/hd.h5" "$TMP/hf.h5" --val-from "$TMP/hv-badc.h5" -o "$O"
expect_fail 65 "hv-badn\.h5: dataset '/concepts/part' has N=16 images but '/features' has N=9" \
    $IOU "$TMP/hd.h5" "$TMP/hf.h5" --val-from "$TMP/hv-badn.h5" -o "$O"
expect_fail 65 "hv-badcat\.h5: its concept categories under '/concepts' differ from those of .*hf\.h5" \
    $IOU "$TMP/hd.h5" "$TMP/hf.h5" --val-from "$TMP/hv-badcat.h5" -o "$O"
expect_fail 65 "hd-nan\.h5: dataset '/unit' holds NaN or Inf" $IOU "$TMP/hd-nan.h5" "$TMP/hf.h5" -o "$O"
expect_fail 65 "hf-nan\.h5: dataset '/features' holds NaN at image 5" $IOU "$TMP/hd.h5" "$TMP/hf-nan.h5" -o "$O"
expect_fail 65 "bad-scene\.h5: dataset '/concepts/scene' holds 2 at image 0 \(expected 0 or 1\)" $IOU "$TMP/hd.h5" "$TMP/bad-scene.h5" -o "$O"
expect_fail 65 "bad-neg\.h5: dataset '/concepts/object' holds -1 at image 0 \(expected labels >= 0\)" $IOU "$TMP/hd.h5" "$TMP/bad-neg.h5" -o "$O"
expect_fail 65 "bad-names\.h5: attribute 'names' of '/concepts/scene' has 3 names for 2 image-level labels" $IOU "$TMP/hd.h5" "$TMP/bad-names.h5" -o "$O"
expect_fail 65 "f\.h5: format is 'eddp-features', expected 'eddp-directions'" $IOU "$TMP/f.h5" "$TMP/f.h5" -o "$O"
expect_fail 66 "missing\.h5: cannot open" $IOU "$TMP/missing.h5" "$TMP/f.h5" -o "$O"
for bad in 0 1 1.5 -0.2 abc; do
    expect_fail 64 "--val-fraction: expected a number in \(0, 1\), got '$bad'" $IOU --val-fraction "$bad" "$TMP/c.h5" "$TMP/f.h5" -o "$O"
done
expect_fail 64 "--val-fraction and --val-from exclude each other" $IOU --val-fraction 0.3 --val-from "$TMP/ft.h5" "$TMP/c.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--memory: expected a size in bytes" $IOU --memory 12X "$TMP/c.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--table: expected auto, all, labels or none" $IOU --table some "$TMP/c.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "expected DIRECTIONS FEATURES" $IOU "$TMP/c.h5" -o "$O"
expect_fail 64 "no output file" $IOU "$TMP/c.h5" "$TMP/f.h5"
expect_fail 73 "no/such/dir/e\.h5: cannot create output in '.*no/such/dir'" $IOU "$TMP/c.h5" "$TMP/f.h5" -o "$TMP/no/such/dir/e.h5"
expect_fail 73 "e\.h5: output exists; use --overwrite to replace it" $IOU "$TMP/c.h5" "$TMP/f.h5" -o "$TMP/e.h5"
desc "--overwrite replaces an existing output"
expect_ok $IOU --overwrite --seed 4 "$TMP/c.h5" "$TMP/f.h5" -o "$TMP/e.h5"
check "iou-label --help and --version" bash -c "$IOU --help | grep -q 'usage: iou-label' && $IOU --version | grep -q 'iou-label (eddp-toolkit)'"
finish
