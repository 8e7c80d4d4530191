# test-trainhead.sh — the head f+ on the paper preset, --eval, bad inputs.
source tests/tools/lib.sh

SG=bin/synthgen
TH=bin/trainhead

$SG --seed 11 -o "$TMP/train.h5" && $SG --seed 11 --split test -o "$TMP/test.h5" ||
    { fail "synthgen makes the inputs"; finish; }

desc "trainhead, paper settings"
expect_ok $TH --seed 11 "$TMP/train.h5" -o "$TMP/head.h5"
check "head file: shapes, history, class names, provenance" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/head.h5", "r")
assert f.attrs["format"] == "eddp-head"
assert f["weight"].shape == (3, 16) and f["weight"].dtype == np.float64 and f["bias"].shape == (3,)
assert f["history/loss"].shape == (2000,) and f["history/accuracy"].shape == (2000,)
assert f["history/loss"][-1] < f["history/loss"][0]
assert [s.decode() if isinstance(s, bytes) else s for s in f["class_names"][:]] == ["a", "b", "c"]
assert "train.h5" in f.attrs["inputs"] and "synthgen" in f.attrs["history"]
assert f.attrs["history"].count("\n") == 2   # trainhead's line above synthgen's
EOF
check "--eval: test accuracy >= 0.90 and a 3x3 confusion matrix" bash -c "
    $TH --eval '$TMP/head.h5' '$TMP/test.h5' > '$TMP/eval.txt' &&
    awk '/^accuracy/ { exit !(\$2 >= 0.90) }' '$TMP/eval.txt' &&
    [[ \$(tail -3 '$TMP/eval.txt' | awk '{ n += NF; s += \$1 + \$2 + \$3 } END { print n, s }') == '9 3000' ]]"

# The issue's bar: >= 92 % on an independent test set for 5 seeds (the
# linear optimum under the paper's generator is about 92.5 %).
for seed in 1 2 3 4 5; do
    check "seed $seed: test accuracy >= 0.92" bash -c "
        $SG --seed $seed -o '$TMP/tr$seed.h5' && $SG --seed $seed --split test -o '$TMP/te$seed.h5' &&
        $TH --seed $seed '$TMP/tr$seed.h5' -o '$TMP/seedhead$seed.h5' &&
        $TH --eval '$TMP/seedhead$seed.h5' '$TMP/te$seed.h5' | awk '/^accuracy/ { print; exit !(\$2 >= 0.92) }'"
done

desc "same seed, same head"
expect_ok $TH --seed 11 --epochs 50 "$TMP/train.h5" -o "$TMP/h1.h5"
expect_ok $TH --seed 11 --epochs 50 "$TMP/train.h5" -o "$TMP/h2.h5"
check "training is reproducible" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
assert np.array_equal(h5py.File(t + "/h1.h5")["weight"][:], h5py.File(t + "/h2.h5")["weight"][:])
EOF

# ------------------------------------------------------------- bad inputs
check "make the bad inputs" py <<'EOF'
import h5py, numpy as np, sys, shutil
t = sys.argv[1]
def copy(name, edit):
    shutil.copy(t + "/train.h5", f"{t}/{name}.h5")
    with h5py.File(f"{t}/{name}.h5", "r+") as f:
        edit(f)
def nan(f): f["features"][5, 3, 0, 1] = np.nan
def inf(f): f["features"][7, 0, 0, 0] = np.inf
def nolabels(f): del f["labels"]
def rank3(f):
    x = f["features"][:, :, 0, :]; del f["features"]; f["features"] = x
def intfeat(f):
    x = f["features"][:].astype(np.int32); del f["features"]; f["features"] = x
def empty(f):
    del f["features"]; f["features"] = np.zeros((0, 16, 1, 2), np.float32)
    del f["labels"]; f["labels"] = np.zeros(0, np.int32)
def badlabel(f): f["labels"][3] = 9
def wrongformat(f): f.attrs["format"] = "eddp-head"
for name, edit in [("nan", nan), ("inf", inf), ("nolabels", nolabels), ("rank3", rank3),
                   ("intfeat", intfeat), ("empty", empty), ("badlabel", badlabel),
                   ("wrongformat", wrongformat)]:
    copy(name, edit)
open(t + "/text.h5", "w").write("not hdf5\n")
data = open(t + "/train.h5", "rb").read()
open(t + "/truncated.h5", "wb").write(data[: len(data) // 2])
with h5py.File(t + "/head17.h5", "w") as f:
    f.attrs["format"] = "eddp-head"; f.attrs["format_version"] = 1
    f["weight"] = np.zeros((3, 17), np.float32); f["bias"] = np.zeros(3, np.float32)
EOF
O="$TMP/out.h5"
expect_fail 66 'missing\.h5.*cannot open' $TH "$TMP/missing.h5" -o "$O"
expect_fail 65 'text\.h5: not an HDF5 file' $TH "$TMP/text.h5" -o "$O"
expect_fail 65 'truncated\.h5.*(truncated|corrupt)' $TH "$TMP/truncated.h5" -o "$O"
expect_fail 65 "nan\.h5: dataset '/features' holds NaN at image 5" $TH "$TMP/nan.h5" -o "$O"
expect_fail 65 "inf\.h5: dataset '/features' holds Inf" $TH "$TMP/inf.h5" -o "$O"
expect_fail 65 "nolabels\.h5: missing dataset '/labels'" $TH "$TMP/nolabels.h5" -o "$O"
expect_fail 65 "rank3\.h5: dataset '/features' has shape \[3000,16,2\], expected \[\*,\*,\*,\*\]" $TH "$TMP/rank3.h5" -o "$O"
expect_fail 65 "intfeat\.h5: dataset '/features' has the wrong type" $TH "$TMP/intfeat.h5" -o "$O"
expect_fail 65 "empty\.h5: dataset '/features' is empty" $TH "$TMP/empty.h5" -o "$O"
expect_fail 65 "badlabel\.h5: dataset '/labels' holds 9 at image 3" $TH "$TMP/badlabel.h5" -o "$O"
expect_fail 65 "wrongformat\.h5: format is 'eddp-head', expected 'eddp-features' \(made by synthgen or featdump\)" $TH "$TMP/wrongformat.h5" -o "$O"
expect_fail 65 "head17\.h5: head '/weight' has C=17 channels but .*test\.h5 has C=16" $TH --eval "$TMP/head17.h5" "$TMP/test.h5"
expect_fail 73 'head\.h5: output exists' $TH "$TMP/train.h5" -o "$TMP/head.h5"
expect_fail 64 "--lr" $TH --lr abc "$TMP/train.h5" -o "$O"
expect_fail 64 'no output file' $TH "$TMP/train.h5"
finish
