# test-imgset.sh — imgset on tiny IDX files made here (gzip'd and plain; the
# Debian Fashion-MNIST package is not needed): class selection, the
# stratified split, reproducibility, watermark poisoning in every mode and
# its annotation, the eddp-images contract, the PNG grid, and the failure
# modes. Run from the repository root.
source tests/tools/lib.sh

IS=bin/imgset
check "make the IDX files" py <<'EOF'
import gzip, numpy as np, sys
t = sys.argv[1]
rng = np.random.default_rng(4)
def idx(a):
    magic = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape)
    return magic + a.astype(np.uint8).tobytes()
# 10 classes (Fashion-MNIST's labels), 10 + 7 images each, 28x28, in two pairs
lab1 = np.repeat(np.arange(10), 10); rng.shuffle(lab1)
lab2 = np.repeat(np.arange(10), 7); rng.shuffle(lab2)
img1 = rng.integers(1, 255, (100, 28, 28)); img2 = rng.integers(1, 255, (70, 28, 28))
for name, a in (("i1", img1), ("l1", lab1), ("i2", img2), ("l2", lab2)):
    open(f"{t}/{name}", "wb").write(idx(a))
    open(f"{t}/{name}.gz", "wb").write(gzip.compress(idx(a)))
b = idx(img1)
open(f"{t}/short.gz", "wb").write(gzip.compress(b[:-5]))
open(f"{t}/short", "wb").write(b[:1000])
open(f"{t}/magic", "wb").write(bytes([0, 0, 8, 1]) + b[4:])          # rank-1 magic on images
open(f"{t}/long-labels", "wb").write(idx(np.zeros(101, np.uint8)))
open(f"{t}/bad-labels", "wb").write(idx(np.where(lab1 == 3, 12, lab1)))
open(f"{t}/five-classes", "wb").write(idx(lab1 % 5))
open(f"{t}/small", "wb").write(idx(img1[:, :6, :6]))
EOF
ARGS=("$TMP/i1.gz" "$TMP/l1.gz" "$TMP/i2.gz" "$TMP/l2.gz")

desc "the default split: Sandal, Sneaker, Ankle boot; train"
expect_ok $IS --seed 3 "${ARGS[@]}" -o "$TMP/train.h5"
expect_ok $IS --seed 3 --split test "${ARGS[@]}" -o "$TMP/test.h5"
desc "plain (uncompressed) IDX files give the same set"
expect_ok $IS --seed 3 "$TMP/i1" "$TMP/l1" "$TMP/i2" "$TMP/l2" -o "$TMP/train-plain.h5"
expect_ok $IS --seed 3 "${ARGS[@]}" -o "$TMP/train-again.h5"
expect_ok $IS --seed 4 "${ARGS[@]}" -o "$TMP/train-seed4.h5"
check "contract, class selection, stratified split, disjoint train/test, reproducible" py <<'EOF'
import h5py, numpy as np, sys, gzip
t = sys.argv[1]
def raw(name, shape):
    return np.frombuffer(open(f"{t}/{name}", "rb").read()[4 + 4 * len(shape):], np.uint8).reshape(shape)
img = np.concatenate([raw("i1", (100, 28, 28)), raw("i2", (70, 28, 28))])
lab = np.concatenate([raw("l1", (100,)), raw("l2", (70,))])
tr, te = h5py.File(t + "/train.h5", "r"), h5py.File(t + "/test.h5", "r")
for f in (tr, te):
    assert f.attrs["format"] == "eddp-images" and f.attrs["format_version"] == 1 and f.attrs["tool"] == "imgset"
    assert f["images"].dtype == np.uint8 and f["labels"].dtype == np.int32
    assert [n.decode() for n in f["class_names"][:]] == ["Sandal", "Sneaker", "Ankle boot"]
    assert f["images"].shape[1:] == (1, 28, 28) and f["labels"].shape == (f["images"].shape[0],)
    src = f["source_index"][:]
    assert np.array_equal(f["images"][:, 0], img[src]), "images are the source images"
    assert np.array_equal(np.array([5, 7, 9])[f["labels"][:]], lab[src]), "labels 0,1,2 = Sandal, Sneaker, Ankle boot"
    assert np.all(np.diff(src) > 0), "pool order"
    assert not np.any(f["watermarked"][:]) and "concepts" not in f and f.attrs["poison"] == "none"
    assert "idx_inputs" in f.attrs and f.attrs["idx_inputs"].count("\n") == 4
assert tr.attrs["split"] == "train" and te.attrs["split"] == "test" and tr.attrs["train_fraction"] == 0.7
# 17 images per class: round(0.7 * 17) = 12 train, 5 test
assert np.array_equal(np.bincount(tr["labels"][:]), [12, 12, 12]) and np.array_equal(np.bincount(te["labels"][:]), [5, 5, 5])
assert not set(tr["source_index"][:]) & set(te["source_index"][:]), "train and test disjoint"
assert len(set(tr["source_index"][:]) | set(te["source_index"][:])) == 51
for other in ("train-plain.h5", "train-again.h5"):
    g = h5py.File(f"{t}/{other}", "r")
    for k in ("images", "labels", "source_index"):
        assert np.array_equal(tr[k][:], g[k][:]), (other, k)
assert not np.array_equal(tr["source_index"][:], h5py.File(t + "/train-seed4.h5", "r")["source_index"][:])
EOF

desc "classes by name (any case) and index, counts, --split all"
expect_ok $IS --classes "coat,0,Bag" --train-count 4 --test-count 3 "${ARGS[@]}" -o "$TMP/counts.h5"
expect_ok $IS --classes all --split all "${ARGS[@]}" -o "$TMP/all.h5"
expect_ok $IS --class-names "zero,one,two,three,four,five,six,seven,eight,nine" --classes "nine,one" \
    --split test --train-count 10 "${ARGS[@]}" -o "$TMP/named.h5"
check "counts per class, order of --classes, every image with --split all, own names" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
c = h5py.File(t + "/counts.h5", "r")
assert [n.decode() for n in c["class_names"][:]] == ["Coat", "T-shirt/top", "Bag"]
assert np.array_equal(np.bincount(c["labels"][:]), [4, 4, 4]) and c.attrs["train_count"] == 4
a = h5py.File(t + "/all.h5", "r")
assert a["images"].shape[0] == 170 and np.array_equal(a["source_index"][:], np.arange(170)) and a.attrs["split"] == "all"
n = h5py.File(t + "/named.h5", "r")
assert [x.decode() for x in n["class_names"][:]] == ["nine", "one"] and np.array_equal(np.bincount(n["labels"][:]), [7, 7])
EOF

# ------------------------------------------------------------ watermarks
W=(--seed 3 --watermark FM --watermark-class Sneaker)
desc "train set: half of Sneaker's images watermarked, with a PNG grid"
mkdir "$TMP/png"   # expect_ok wants no other new file beside the output
expect_ok $IS "${W[@]}" --png "$TMP/png/grid.png" "${ARGS[@]}" -o "$TMP/wm.h5"
expect_ok $IS "${W[@]}" --annotate glyphs "${ARGS[@]}" -o "$TMP/wm-glyphs.h5"
expect_ok $IS "${W[@]}" --fraction 1 "${ARGS[@]}" -o "$TMP/wm-all-sneakers.h5"
expect_ok $IS --seed 3 --split test --watermark FM --poison none "${ARGS[@]}" -o "$TMP/clean.h5"
expect_ok $IS --seed 3 --split test --watermark FM --poison all "${ARGS[@]}" -o "$TMP/poisoned.h5"
expect_ok $IS --seed 3 --split test --watermark FM --poison union "${ARGS[@]}" -o "$TMP/union.h5"
expect_ok $IS --seed 3 --split test --watermark FM --watermark-scale 2 --poison all "${ARGS[@]}" -o "$TMP/scale2.h5"
check "the stamp: 3x5 glyphs of 'FM', white on a black 7x9 box at the top-left, nothing else changed" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
F, M = [7, 4, 6, 4, 4], [5, 7, 7, 5, 5]
def render(scale):
    box = np.zeros((7, 9), np.uint8)
    for k, g in enumerate((F, M)):
        for r in range(5):
            for c in range(3):
                if g[r] >> (2 - c) & 1:
                    box[1 + r, 1 + 4 * k + c] = 255
    return np.kron(box, np.ones((scale, scale), np.uint8))
clean = h5py.File(t + "/clean.h5", "r")
for name, scale in (("poisoned.h5", 1), ("scale2.h5", 2)):
    p = h5py.File(f"{t}/{name}", "r")
    x, y = clean["images"][:, 0], p["images"][:, 0]
    b = render(scale); h, w = b.shape
    assert np.all(y[:, :h, :w] == b), name
    keep = np.ones((28, 28), bool); keep[:h, :w] = False
    assert np.array_equal(x[:, keep], y[:, keep]), name
    assert np.all(p["watermarked"][:] == 1) and p.attrs["n_watermarked"] == len(y)
    assert list(p.attrs["watermark_box"]) == [h, w] and p.attrs["watermark"] == "FM"
    cmap = p["concepts/watermark"][:]
    assert cmap.dtype == np.int32 and cmap.shape == (len(y), 28, 28)
    assert np.all(cmap[:, :h, :w] == 2) and np.all(cmap[:, keep] == 1), "box annotated 2, the rest 1"
    assert list(p["concepts/watermark"].attrs["names"]) == ["clean", "watermark"]
assert np.all(clean["concepts/watermark"][:] == 1) and not np.any(clean["watermarked"][:])
u = h5py.File(t + "/union.h5", "r")
n = clean["images"].shape[0]
p = h5py.File(t + "/poisoned.h5", "r")
assert u["images"].shape[0] == 2 * n
for k in ("images", "labels", "source_index", "watermarked"):
    assert np.array_equal(u[k][:n], clean[k][:]) and np.array_equal(u[k][n:], p[k][:]), k
assert np.array_equal(u["concepts/watermark"][:n], clean["concepts/watermark"][:])
assert np.array_equal(u["concepts/watermark"][n:], p["concepts/watermark"][:])
assert u.attrs["poison"] == "union" and p.attrs["poison"] == "all"
EOF
check "class poisoning: round(F n) of the class's training images only, reproducible; glyph annotation" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f, plain = h5py.File(t + "/wm.h5", "r"), h5py.File(t + "/train.h5", "r")
lab, stamped = f["labels"][:], f["watermarked"][:]
assert stamped.sum() == 6 and np.all(lab[stamped == 1] == 1), "6 of the 12 Sneakers"
assert f.attrs["watermark_class"] == "Sneaker" and f.attrs["fraction"] == 0.5 and f.attrs["poison"] == "class"
assert np.array_equal(f["source_index"][:], plain["source_index"][:]), "poisoning does not move the split"
x, y = plain["images"][:, 0], f["images"][:, 0]
assert np.array_equal(x[stamped == 0], y[stamped == 0]) and not np.array_equal(x[stamped == 1], y[stamped == 1])
c = f["concepts/watermark"][:]
assert np.all(c[stamped == 0] == 1) and np.all(c[stamped == 1][:, :7, :9] == 2)
g = h5py.File(t + "/wm-glyphs.h5", "r")
cg, yg = g["concepts/watermark"][:], g["images"][:, 0]
assert np.array_equal(g["watermarked"][:], stamped), "same images chosen"
assert np.array_equal(cg[stamped == 1] == 2, yg[stamped == 1] * 0 + (np.arange(28)[None, :, None] < 7) & (np.arange(28)[None, None, :] < 9) & (yg[stamped == 1] == 255))
assert (cg == 2).sum() == 6 * 20, "20 glyph pixels of 'FM' per image"
a = h5py.File(t + "/wm-all-sneakers.h5", "r")
assert a["watermarked"][:].sum() == 12
EOF
check "no temporary PNG is left" test "$(ls -A "$TMP/png")" = grid.png
check "the PNG grid is a PNG of 3 rows of 8 cells (84 px + 2 px gaps)" py <<'EOF'
import struct, sys, zlib
t = sys.argv[1]
d = open(t + "/png/grid.png", "rb").read()
assert d[:8] == b"\x89PNG\r\n\x1a\n" and d[12:16] == b"IHDR"
w, h = struct.unpack(">II", d[16:24])
assert (w, h) == (8 * 86 + 2, 3 * 86 + 2), (w, h)
EOF

# ------------------------------------------------------------ iou-label
# The annotation as iou-label reads it: a 1-channel "feature map" at 2x2
# whose logit is high on the top-left cell of watermarked images only; the
# bilinear upsampling to 28x28 (align_corners=False) can match the 9x7 box
# exactly, so the detector's IoU with 'watermark' is 1 and clean images
# count as negatives.
check "features and a detector over the union set" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
u = h5py.File(t + "/union.h5", "r")
n = u["images"].shape[0]
x = np.full((n, 1, 2, 2), -30, np.float32)
x[u["watermarked"][:] == 1, 0] = [[1, -6], [-30, -30]]
with h5py.File(t + "/wf.h5", "w") as f:
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    f["features"] = x
    f["labels"] = u["labels"][:]
    f["concepts/watermark"] = u["concepts/watermark"][:]
    f["concepts/watermark"].attrs["names"] = u["concepts/watermark"].attrs["names"]
with h5py.File(t + "/wd.h5", "w") as d:
    d.attrs["format"] = "eddp-directions"; d.attrs["format_version"] = 1; d.attrs["step"] = "c"
    for k, v in (("W", [[1.0]]), ("unit", [[1.0]]), ("S", [[1.0]]), ("b", [0.0]), ("margin", [1.0]),
                 ("threshold", [0.0]), ("center", [0.0])):
        d[k] = np.array(v)
EOF
expect_ok bin/iou-label --table none "$TMP/wd.h5" "$TMP/wf.h5" -o "$TMP/we.h5"
check "iou-label: the detector is labelled 'watermark' with IoU 1 on both splits" py <<'EOF'
import h5py, numpy as np, sys
e = h5py.File(sys.argv[1] + "/we.h5", "r")
names = [s.decode() for s in e["concept_names"][:]]
assert names == ["clean", "watermark"], names
assert names[e["label"][0]] == "watermark"
assert e["label_iou_train"][0] == 1 and e["label_iou_val"][0] == 1, (e["label_iou_train"][:], e["label_iou_val"][:])
assert e["iou/val"][0, 0] < 0.1
EOF

# ------------------------------------------------------------ real data
# Debian's dataset-fashion-mnist, when installed (the tests do not need it).
FM=/usr/share/datasets/fashion-mnist
if [[ -r $FM/train-images-idx3-ubyte.gz ]]; then
    REAL=("$FM/train-images-idx3-ubyte.gz" "$FM/train-labels-idx1-ubyte.gz" "$FM/t10k-images-idx3-ubyte.gz" "$FM/t10k-labels-idx1-ubyte.gz")
    desc "Fashion-MNIST: the experiment's training set"
    expect_ok $IS --seed 1 --watermark FM --watermark-class Sneaker "${REAL[@]}" -o "$TMP/fm-train.h5"
    expect_ok $IS --seed 1 --split test "${REAL[@]}" -o "$TMP/fm-test.h5"
    check "Fashion-MNIST: 7000 images per class pooled, 4900 train and 2100 test each, 2450 Sneakers stamped" py <<'EOF'
import gzip, h5py, numpy as np, sys
t = sys.argv[1]
d = "/usr/share/datasets/fashion-mnist/"
img = np.concatenate([np.frombuffer(gzip.open(d + f"{s}-images-idx3-ubyte.gz").read()[16:], np.uint8).reshape(-1, 28, 28) for s in ("train", "t10k")])
tr, te = h5py.File(t + "/fm-train.h5", "r"), h5py.File(t + "/fm-test.h5", "r")
assert np.array_equal(np.bincount(tr["labels"][:]), [4900] * 3) and np.array_equal(np.bincount(te["labels"][:]), [2100] * 3)
assert tr["watermarked"][:].sum() == 2450 and np.all(tr["labels"][:][tr["watermarked"][:] == 1] == 1)
clean = tr["watermarked"][:] == 0
assert np.array_equal(tr["images"][:, 0][clean], img[tr["source_index"][:][clean]])
assert np.array_equal(te["images"][:, 0], img[te["source_index"][:]])
assert not set(tr["source_index"][:]) & set(te["source_index"][:])
EOF
else
    echo "real Fashion-MNIST: skipped: dataset-fashion-mnist is not installed ($FM)"
fi

# ------------------------------------------------------------ failures
O="$TMP/out.h5"
expect_fail 65 "short\.gz: truncated IDX file: data ends after" $IS "$TMP/short.gz" "$TMP/l1" -o "$O"
expect_fail 65 "short: truncated IDX file: data ends after 984 of 78400 bytes" $IS "$TMP/short" "$TMP/l1" -o "$O"
expect_fail 65 "magic: not an IDX file of unsigned bytes of rank 3 \(magic 00 00 08 01" $IS "$TMP/magic" "$TMP/l1" -o "$O"
expect_fail 65 "l1\.gz: not an IDX file of unsigned bytes of rank 3" $IS "$TMP/l1.gz" "$TMP/l1" -o "$O"
expect_fail 65 "i1 holds 100 images but .*long-labels 101 labels" $IS "$TMP/i1" "$TMP/long-labels" -o "$O"
expect_fail 65 "bad-labels: label 12 of image [0-9]+ is not a class \(10 class names\)" $IS "$TMP/i1" "$TMP/bad-labels" -o "$O"
expect_fail 65 "class 'Sandal' \(5\) has no image" $IS "$TMP/i1" "$TMP/five-classes" -o "$O"
expect_fail 65 "small\.gz|small: images are 6x6, but" $IS "$TMP/i1" "$TMP/l1" "$TMP/small" "$TMP/l1" -o "$O"
expect_fail 65 "class 'Sandal' has 17 images, fewer than the 15 train \+ 5 test asked for" \
    $IS --train-count 15 --test-count 5 "${ARGS[@]}" -o "$O"
expect_fail 64 "--classes: no class 'Hat'" $IS --classes Sandal,Hat "${ARGS[@]}" -o "$O"
expect_fail 64 "--classes: no class '10'" $IS --classes 10 "${ARGS[@]}" -o "$O"
expect_fail 64 "--classes: expected a comma-separated list, got 'Sandal,,Bag'" $IS --classes Sandal,,Bag "${ARGS[@]}" -o "$O"
expect_fail 64 "--classes: expected a comma-separated list, got ''" $IS --classes "" "${ARGS[@]}" -o "$O"
expect_fail 64 "--classes: class 'Sandal' is listed twice" $IS --classes Sandal,5 "${ARGS[@]}" -o "$O"
expect_fail 64 "--watermark-class: 'Bag' is not one of the selected classes" $IS --watermark FM --watermark-class Bag "${ARGS[@]}" -o "$O"
expect_fail 64 "--watermark 'ABCDEFG' at scale 1 needs 7x29 pixels, larger than the 28x28 images" \
    $IS --watermark ABCDEFG --poison all "${ARGS[@]}" -o "$O"
expect_fail 64 "--watermark 'FM' at scale 5 needs 35x45 pixels, larger than the 28x28 images" \
    $IS --watermark FM --watermark-scale 5 --poison all "${ARGS[@]}" -o "$O"
expect_fail 64 "--watermark: the font has no glyph for '\*'" $IS --watermark "A*" --poison all "${ARGS[@]}" -o "$O"
expect_fail 64 "--poison all needs --watermark TEXT" $IS --poison all "${ARGS[@]}" -o "$O"
expect_fail 64 "--poison class needs --watermark-class K" $IS --watermark FM "${ARGS[@]}" -o "$O"
expect_fail 64 "--fraction applies to --poison class only" $IS --watermark FM --poison all --fraction 0.3 "${ARGS[@]}" -o "$O"
expect_fail 64 "--fraction: expected a number in \[0, 1\]" $IS --watermark FM --watermark-class 7 --fraction 1.5 "${ARGS[@]}" -o "$O"
expect_fail 64 "--split: expected all, train or test, got 'val'" $IS --split val "${ARGS[@]}" -o "$O"
expect_fail 64 "expected pairs of IDX files IMAGES LABELS" $IS "$TMP/i1" -o "$O"
expect_fail 64 "no output file" $IS "${ARGS[@]}"
expect_fail 66 "missing\.gz: cannot open" $IS "$TMP/missing.gz" "$TMP/l1" -o "$O"
expect_fail 73 "train\.h5: output exists; use --overwrite to replace it" $IS "${ARGS[@]}" -o "$TMP/train.h5"
expect_fail 73 "no/such/dir/x\.h5: cannot create output" $IS "${ARGS[@]}" -o "$TMP/no/such/dir/x.h5"
desc "an unwritable --png fails before any work, leaving no HDF5 output"
expect_fail 73 "no/such/dir/g\.png: cannot create output" $IS --png "$TMP/no/such/dir/g.png" "${ARGS[@]}" -o "$O"
mkdir "$TMP/png2"
expect_fail 65 "class 'Sandal' \(5\) has no image" $IS --png "$TMP/png2/g.png" "$TMP/i1" "$TMP/five-classes" -o "$O"
check "a failed run leaves no PNG (nor its temporary)" test -z "$(ls -A "$TMP/png2")"
check "imgset --help and --version" bash -c "$IS --help | grep -q 'usage: imgset' && $IS --version | grep -q 'imgset (eddp-toolkit)'"
finish
