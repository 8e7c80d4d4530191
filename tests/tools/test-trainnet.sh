# test-trainnet.sh — the CNN of trainnet: training, the network file,
# reproducibility, --eval, --features/--head-out (checked against an
# independent NumPy forward pass and against trainhead --eval), the concept
# maps on the feature grid, and bad inputs.
source tests/tools/lib.sh
[[ -n ${KEEP:-} ]] && trap - EXIT && echo "TMP=$TMP"

TN=bin/trainnet
TH=bin/trainhead

# Small eddp-images sets (make_images.py: three classes of 28x28 patterns
# and a watermark concept on every third image).
check "make the image sets" bash -c "/usr/bin/python3 tests/tools/make_images.py '$TMP/train.h5' 200 1 &&
    /usr/bin/python3 tests/tools/make_images.py '$TMP/test.h5' 100 2"

desc "train 15 epochs"
expect_ok $TN --epochs 15 --seed 3 --threads 2 "$TMP/train.h5" -o "$TMP/net.h5"
check "network file: architecture, shapes, history, provenance" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/net.h5", "r")
a = f.attrs
assert a["format"] == "eddp-net" and a["format_version"] == 1
assert (a["input_channels"], a["input_height"], a["input_width"], a["layers"], a["channels"]) == (1, 28, 28, 5, 16)
assert abs(a["dropout"] - 0.3) < 1e-12 and a["lr"] == 0.005 and a["epochs"] == 15 and a["batch"] == 64
for l in range(5):
    g = f[f"conv{l}"]
    assert g["weight"].shape == (16, 1 if l == 0 else 16, 3, 3) and g["weight"].dtype == np.float32
    assert g["bias"].shape == (16,)
    assert (g.attrs["stride"], g.attrs["padding"], g.attrs["kernel"]) == ((2 if l < 4 else 1), 1, 3)
assert f["head/weight"].shape == (3, 16) and f["head/bias"].shape == (3,)
assert [s.decode() for s in f["class_names"][:]] == ["bars", "stripes", "blob"]
for h in ("loss", "accuracy", "seconds"):
    assert f["history/" + h].shape == (15,)
assert f["history/loss"][-1] < f["history/loss"][0]
assert a["tool"] == "trainnet" and "train.h5" in a["inputs"] and a["threads"] == 2 and a["seed"] == 3
EOF

desc "same seed and threads: the same network"
expect_ok $TN --epochs 2 --seed 5 --threads 2 "$TMP/train.h5" -o "$TMP/r1.h5"
expect_ok $TN --epochs 2 --seed 5 --threads 2 "$TMP/train.h5" -o "$TMP/r2.h5"
expect_ok $TN --epochs 2 --seed 6 --threads 2 "$TMP/train.h5" -o "$TMP/r3.h5"
check "bit-identical for one seed, different for another" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
r = [h5py.File(f"{t}/r{k}.h5", "r") for k in (1, 2, 3)]
names = [f"conv{l}/{p}" for l in range(5) for p in ("weight", "bias")] + ["head/weight", "head/bias", "history/loss"]
assert all(np.array_equal(r[0][n][:], r[1][n][:]) for n in names)
assert not np.array_equal(r[0]["conv1/weight"][:], r[2]["conv1/weight"][:])
EOF

check "--eval: accuracy >= 0.9 and a row-normalised 3x3 confusion matrix" bash -c "
    $TN --eval '$TMP/net.h5' '$TMP/test.h5' > '$TMP/eval.txt' &&
    awk '/^accuracy/ { exit !(\$2 >= 0.9) }' '$TMP/eval.txt' &&
    [[ \$(sed -n 3p '$TMP/eval.txt') == \$'true\\\\predicted\\tbars\\tstripes\\tblob' ]] &&
    tail -3 '$TMP/eval.txt' | awk -F'\\t' '{ s = \$2 + \$3 + \$4; if (NF != 4 || s < 0.999 || s > 1.001) exit 1 }'"

mkdir -p "$TMP/heads"
desc "--features with --head-out"
expect_ok $TN --features "$TMP/net.h5" "$TMP/test.h5" -o "$TMP/feat.h5" --head-out "$TMP/heads/head.h5"
check "features equal an independent NumPy forward pass (1e-5); labels, names, provenance" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
net = h5py.File(t + "/net.h5", "r"); fe = h5py.File(t + "/feat.h5", "r"); im = h5py.File(t + "/test.h5", "r")
x = im["images"][:].astype(np.float64) / 255
def conv(x, w, b, stride):               # x [N,C,H,W], padding 1, 3x3
    n, c, h, wd = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ho, wo = (h - 1) // stride + 1, (wd - 1) // stride + 1
    out = np.zeros((n, w.shape[0], ho, wo))
    for ky in range(3):
        for kx in range(3):
            patch = xp[:, :, ky:ky + stride * (ho - 1) + 1:stride, kx:kx + stride * (wo - 1) + 1:stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, ky, kx])
    return out + b[None, :, None, None]
for l in range(5):
    x = np.maximum(conv(x, net[f"conv{l}/weight"][:].astype(np.float64), net[f"conv{l}/bias"][:], 2 if l < 4 else 1), 0)
f = fe["features"][:]
assert f.shape == (300, 16, 2, 2) and f.dtype == np.float32, f.shape
err = np.abs(f - x).max() / max(1.0, np.abs(x).max())   # float32 network vs float64 reference
assert err < 1e-5, (err, np.abs(x).max())
assert fe.attrs["format"] == "eddp-features" and np.array_equal(fe["labels"][:], im["labels"][:])
assert [s.decode() for s in fe["class_names"][:]] == ["bars", "stripes", "blob"]
assert "test.h5" in fe.attrs["inputs"] and "net.h5" in fe.attrs["inputs"]
h = h5py.File(t + "/heads/head.h5", "r")
assert h.attrs["format"] == "eddp-head"
assert np.array_equal(h["weight"][:], net["head/weight"][:].astype(np.float64))
assert np.array_equal(h["bias"][:], net["head/bias"][:].astype(np.float64))
EOF
check "concepts on the 2x2 grid, rule any: a cell holding a watermark pixel is a watermark cell" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
fe = h5py.File(t + "/feat.h5", "r"); im = h5py.File(t + "/test.h5", "r")
c = fe["concepts/watermark"]
full = im["concepts/watermark"][:]
want = np.ones((300, 2, 2), np.int32)
for r in range(2):
    for q in range(2):
        want[:, r, q] = np.where((full[:, 14*r:14*r+14, 14*q:14*q+14] == 2).any(axis=(1, 2)), 2, 1)
assert np.array_equal(c[:], want)
assert want[:, 0, 1].sum() > 300 and (want == 2).sum() > 100       # both kinds of marks occur
assert list(c.attrs["names"]) == ["clean", "watermark"] and c.attrs["cell_rule"] == "any"
EOF
expect_ok $TN --features --cell-rule majority "$TMP/net.h5" "$TMP/test.h5" -o "$TMP/featmaj.h5"
check "rule majority: the label covering most of the cell (a 5x12 mark covers < 50 %)" py <<'EOF'
import h5py, numpy as np, sys
c = h5py.File(sys.argv[1] + "/featmaj.h5", "r")["concepts/watermark"]
assert (c[:] == 1).all() and c.attrs["cell_rule"] == "majority"
EOF

check "trainhead --eval on the exported features and head = trainnet --eval" bash -c "
    a=\$($TN --eval '$TMP/net.h5' '$TMP/test.h5' | head -1) && b=\$($TH --eval '$TMP/heads/head.h5' '$TMP/feat.h5' | head -1) &&
    echo \"\$a | \$b\" && [[ \$a == \$b ]]"

# ------------------------------------------------------------- bad inputs
check "make the bad inputs" py <<'EOF'
import h5py, numpy as np, sys, shutil
t = sys.argv[1]
def copy(src, name, edit):
    shutil.copy(f"{t}/{src}.h5", f"{t}/{name}.h5")
    with h5py.File(f"{t}/{name}.h5", "r+") as f:
        edit(f)
def int32img(f):
    x = f["images"][:].astype(np.int32); del f["images"]; f["images"] = x
def badlabel(f): f["labels"][7] = 3
def nolabels(f): del f["labels"]
def rank3(f):
    x = f["images"][:, 0]; del f["images"]; f["images"] = x
def empty(f):
    del f["images"]; f["images"] = np.zeros((0, 1, 28, 28), np.uint8)
    del f["labels"]; f["labels"] = np.zeros(0, np.int32)
    del f["concepts"]
def small(f):
    x = f["images"][:, :, :20, :20]; del f["images"]; f["images"] = x
def names4(f):
    del f["class_names"]; f.create_dataset("class_names", data=["bars", "stripes", "blob", "x"], dtype=h5py.string_dtype())
def renamed(f):
    del f["class_names"]; f.create_dataset("class_names", data=["bars", "stripes", "dot"], dtype=h5py.string_dtype())
def concept_n(f):
    x = f["concepts/watermark"][:10]; del f["concepts/watermark"]; f["concepts/watermark"] = x
def wrongformat(f): f.attrs["format"] = "eddp-features"
for name, edit in [("int32img", int32img), ("badlabel", badlabel), ("nolabels", nolabels), ("rank3", rank3),
                   ("empty", empty), ("small", small), ("names4", names4), ("renamed", renamed),
                   ("concept_n", concept_n), ("wrongformat", wrongformat)]:
    copy("test", name, edit)
def nanweight(f): f["conv2/weight"][1, 2, 0, 0] = np.nan
def nohead(f): del f["head/bias"]
def stride(f): f["conv1"].attrs["stride"] = 1
copy("net", "nannet", nanweight); copy("net", "noheadnet", nohead); copy("net", "stridenet", stride)
open(t + "/text.h5", "w").write("not hdf5\n")
data = open(t + "/test.h5", "rb").read()
open(t + "/truncated.h5", "wb").write(data[: len(data) // 2])
EOF
O="$TMP/out.h5"
expect_fail 66 'missing\.h5.*cannot open' $TN "$TMP/missing.h5" -o "$O"
expect_fail 65 'text\.h5: not an HDF5 file' $TN "$TMP/text.h5" -o "$O"
expect_fail 65 'truncated\.h5.*(truncated|corrupt)' $TN "$TMP/truncated.h5" -o "$O"
expect_fail 65 "wrongformat\.h5: format is 'eddp-features', expected 'eddp-images'" $TN "$TMP/wrongformat.h5" -o "$O"
expect_fail 65 "int32img\.h5: dataset '/images' has the wrong type: expected uint8" $TN "$TMP/int32img.h5" -o "$O"
expect_fail 65 "badlabel\.h5: dataset '/labels' holds 3 at image 7" $TN "$TMP/badlabel.h5" -o "$O"
expect_fail 65 "nolabels\.h5: missing dataset '/labels'" $TN "$TMP/nolabels.h5" -o "$O"
expect_fail 65 "rank3\.h5: dataset '/images' has shape \[300,28,28\]" $TN "$TMP/rank3.h5" -o "$O"
expect_fail 65 "empty\.h5: dataset '/images' is empty" $TN "$TMP/empty.h5" -o "$O"
expect_fail 65 "small\.h5: images are 1x20x20 but .*net\.h5 takes 1x28x28" $TN --eval "$TMP/net.h5" "$TMP/small.h5"
expect_fail 65 "names4\.h5: 4 classes in '/class_names' but .*net\.h5 has 3" $TN --eval "$TMP/net.h5" "$TMP/names4.h5"
expect_fail 65 "renamed\.h5: class 2 is 'dot' but .*net\.h5 calls it 'blob'" $TN --features "$TMP/net.h5" "$TMP/renamed.h5" -o "$O"
expect_fail 65 "concept_n\.h5: dataset '/concepts/watermark' has N=10 images but '/images' has N=300" \
    $TN --features "$TMP/net.h5" "$TMP/concept_n.h5" -o "$O" --head-out "$TMP/h2.h5"
check "a failed --features leaves no head file either" test ! -e "$TMP/h2.h5"
expect_fail 65 "nannet\.h5: dataset '/conv2/weight' holds NaN" $TN --eval "$TMP/nannet.h5" "$TMP/test.h5"
expect_fail 65 "noheadnet\.h5: missing dataset '/head/bias'" $TN --eval "$TMP/noheadnet.h5" "$TMP/test.h5"
expect_fail 65 "stridenet\.h5: '/conv1' has kernel 3, stride 1, padding 1; trainnet's networks have kernel 3, stride 2" \
    $TN --eval "$TMP/stridenet.h5" "$TMP/test.h5"
expect_fail 65 "test\.h5: format is 'eddp-images', expected 'eddp-net'" $TN --eval "$TMP/test.h5" "$TMP/test.h5"
expect_fail 73 'net\.h5: output exists' $TN --epochs 1 "$TMP/train.h5" -o "$TMP/net.h5"
expect_fail 73 "no/such/dir/n\.h5: cannot create output" $TN --epochs 1 "$TMP/train.h5" -o "$TMP/no/such/dir/n.h5"
expect_fail 73 'head\.h5: output exists' $TN --features "$TMP/net.h5" "$TMP/test.h5" -o "$O" --head-out "$TMP/heads/head.h5"
expect_fail 64 "--epochs" $TN --epochs 0 "$TMP/train.h5" -o "$O"
expect_fail 64 "--lr" $TN --lr -1 "$TMP/train.h5" -o "$O"
expect_fail 64 "--batch" $TN --batch x "$TMP/train.h5" -o "$O"
expect_fail 64 'no output file' $TN "$TMP/train.h5"
expect_fail 64 '--eval prints to stdout' $TN --eval "$TMP/net.h5" "$TMP/test.h5" -o "$O"
expect_fail 64 '--eval takes NET IMAGES' $TN --eval "$TMP/net.h5"
expect_fail 64 '--eval and --features exclude each other' $TN --eval --features "$TMP/net.h5" "$TMP/test.h5"
expect_fail 64 'are for training' $TN --eval --epochs 3 "$TMP/net.h5" "$TMP/test.h5"
expect_fail 64 '--head-out and --cell-rule go with --features' $TN "$TMP/train.h5" -o "$O" --head-out "$TMP/h3.h5"
expect_fail 64 "--cell-rule: expected any, majority or image, got 'most'" $TN --features --cell-rule most "$TMP/net.h5" "$TMP/test.h5" -o "$O"
expect_fail 64 '--head-out and -o name the same file' $TN --features "$TMP/net.h5" "$TMP/test.h5" -o "$O" --head-out "$O"
finish
