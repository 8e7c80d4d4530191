# test-featdump.sh — featdump's round trips and its refusals of bad input.
# Run from the repository root: bash tests/tools/test-featdump.sh
source tests/tools/lib.sh

FD=bin/featdump
SG=bin/synthgen
if [[ ! -x $FD || ! -x $SG ]]; then
    fail "bin/featdump and bin/synthgen are built (run make)"
    finish
fi

# ------------------------------------------------------------------ inputs
$SG --seed 1 -o "$TMP/s1.h5" && $SG --seed 2 -o "$TMP/s2.h5" &&
    $SG --seed 1 --per-class 2 -o "$TMP/small.h5" ||
    { fail "synthgen makes the test inputs"; finish; }

check "python makes the .npy inputs" py <<'EOF'
import numpy as np, sys
t = sys.argv[1]
rng = np.random.default_rng(7)
n, c, h, w = 37, 5, 3, 4
x = (rng.standard_normal((n, c, h, w)) * 3).astype(np.float32)
np.save(f"{t}/f32.npy", x)
# float16 with subnormals, the largest finite half and signed zeros
x16 = x.astype(np.float16)
x16.flat[0] = np.float16(6e-8); x16.flat[1] = np.float16(-3e-6); x16.flat[2] = np.float16(65504)
x16.flat[3] = np.float16(-0.0)
np.save(f"{t}/f16.npy", x16)
np.save(f"{t}/f64.npy", x.astype(np.float64) * (1 + 1e-9))
np.save(f"{t}/nhwc.npy", np.ascontiguousarray(x.transpose(0, 2, 3, 1)))
np.save(f"{t}/pooled.npy", x.mean(axis=(2, 3)))
np.save(f"{t}/labels.npy", (np.arange(n) % 3).astype(np.int64))
np.save(f"{t}/labels_u8.npy", (np.arange(n) % 3).astype(np.uint8))
np.save(f"{t}/pixmap.npy", rng.integers(0, 5, (n, 6, 8)).astype(np.uint8))
np.save(f"{t}/multihot.npy", rng.integers(0, 2, (n, 4)).astype(bool))
np.save(f"{t}/pixmap_i16.npy", rng.integers(0, 300, (n, 2, 2)).astype(np.int16))
# bad inputs
nan = x.copy(); nan[29, 2, 1, 3] = np.nan; np.save(f"{t}/nan.npy", nan)
inf = x.copy(); inf[11, 0, 0, 0] = -np.inf; np.save(f"{t}/inf.npy", inf)
np.save(f"{t}/empty.npy", np.zeros((0, 5, 3, 4), np.float32))
np.save(f"{t}/rank3.npy", x[:, :, :, 0])
np.save(f"{t}/ints.npy", x.astype(np.int32))
np.save(f"{t}/fortran.npy", np.asfortranarray(x))
np.save(f"{t}/labels_short.npy", np.zeros(36, np.int32))
np.save(f"{t}/labels_float.npy", np.zeros(n, np.float32))
np.save(f"{t}/labels_2d.npy", np.zeros((n, 1), np.int32))
np.save(f"{t}/labels_neg.npy", np.r_[np.zeros(n - 1), -1].astype(np.int32))
np.save(f"{t}/labels_big.npy", np.r_[np.zeros(n - 1), 2**40].astype(np.int64))
np.save(f"{t}/labels_k5.npy", np.r_[np.zeros(n - 1), 5].astype(np.int32))
np.save(f"{t}/pixmap_short.npy", np.zeros((n + 1, 6, 8), np.uint8))
np.save(f"{t}/pixmap_neg.npy", -np.ones((n, 6, 8), np.int8))
np.save(f"{t}/multihot_2.npy", np.full((n, 4), 2, np.int32))
np.save(f"{t}/big_endian.npy", x.astype(">f4"))
# a head: K=4 classes over C=5 channels
np.save(f"{t}/W.npy", rng.standard_normal((4, c)).astype(np.float64))
np.save(f"{t}/b.npy", rng.standard_normal(4).astype(np.float32))
np.save(f"{t}/b3.npy", np.zeros(3, np.float32))
np.save(f"{t}/W1.npy", np.zeros(4 * c, np.float32))
Wnan = np.zeros((4, c), np.float32); Wnan[1, 2] = np.nan; np.save(f"{t}/Wnan.npy", Wnan)
# corrupt .npy files from a good one
good = open(f"{t}/f32.npy", "rb").read()
open(f"{t}/badmagic.npy", "wb").write(b"\x93NUMPX" + good[6:])
open(f"{t}/badversion.npy", "wb").write(good[:6] + b"\x07\x00" + good[8:])
open(f"{t}/truncdata.npy", "wb").write(good[:-5])
open(f"{t}/extradata.npy", "wb").write(good + b"\0\0\0\0")
open(f"{t}/truncheader.npy", "wb").write(good[:40])
hl = good[8] | good[9] << 8
hdr = good[10:10 + hl].replace(b"'shape'", b"'shope'")
open(f"{t}/badkey.npy", "wb").write(good[:10] + hdr + good[10 + hl:])
hdr = good[10:10 + hl].replace(b"'descr': '<f4'", b"'descr': '<c8'")
open(f"{t}/baddtype.npy", "wb").write(good[:10] + hdr + good[10 + hl:])
hdr = good[10:10 + hl].replace(b"{", b"[")
open(f"{t}/baddict.npy", "wb").write(good[:10] + hdr + good[10 + hl:])
open(f"{t}/notes.txt", "w").write("these are not numbers\n")
open(f"{t}/names3.txt", "w").write("cat\ndog\r\nbird\n\n")
open(f"{t}/names4.txt", "w").write("zero\none\ntwo\nthree\n")
open(f"{t}/names_gap.txt", "w").write("a\n\nb\n")
EOF
head -c 5000 "$TMP/s1.h5" >"$TMP/trunc.h5"
mkdir "$TMP/out"
O=$TMP/out

# ------------------------------------------------------------------ round trips
desc "float32 .npy -> h5 -> .npy is bit-identical"
expect_ok $FD --features "$TMP/f32.npy" -o "$O/f32.h5"
expect_ok $FD --export /features "$O/f32.h5" -o "$O/f32.back.npy"
check "f32 round trip identical, h5 /features float32 NCHW chunked by images" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
a = np.load(f"{t}/f32.npy"); b = np.load(f"{t}/out/f32.back.npy")
assert b.dtype == np.float32 and b.shape == a.shape and np.array_equal(a, b)
with h5py.File(f"{t}/out/f32.h5") as f:
    d = f["features"]
    assert d.dtype == np.float32 and d.shape == a.shape
    assert d.chunks is not None and d.chunks[1:] == a.shape[1:], d.chunks
    assert f.attrs["format"] == "eddp-features" and f.attrs["format_version"] == 1
    lines = f.attrs["npy_inputs"].strip().split("\n")
    assert len(lines) == 1 and lines[0].split("\t")[0] == f"{t}/f32.npy" and len(lines[0].split("\t")[1]) == 16
    assert f.attrs["tool"] == "featdump" and "--features" in f.attrs["command_line"]
EOF

expect_ok $FD --features "$TMP/f16.npy" -o "$O/f16.h5"
expect_ok $FD --export features "$O/f16.h5" -o "$O/f16.back.npy"
expect_ok $FD --features "$TMP/f64.npy" -o "$O/f64.h5"
expect_ok $FD --export /features "$O/f64.h5" -o "$O/f64.back.npy"
check "float16 and float64 are converted to float32 exactly as numpy does" py <<'EOF'
import numpy as np, sys
t = sys.argv[1]
for src, back in (("f16", "f16.back"), ("f64", "f64.back")):
    a = np.load(f"{t}/{src}.npy").astype(np.float32); b = np.load(f"{t}/out/{back}.npy")
    assert b.dtype == np.float32 and np.array_equal(a, b), src
    assert np.array_equal(np.signbit(a), np.signbit(b)), src
EOF

# Small batches (a few images each) exercise the streaming paths.
export EDDP_BATCH_BYTES=1000
expect_ok $FD --features "$TMP/nhwc.npy" --layout nhwc -o "$O/nhwc.h5"
expect_ok $FD --features "$TMP/f32.npy" --layout nchw -o "$O/nchw.h5"
check "NHWC input transposed == NCHW input" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
with h5py.File(f"{t}/out/nhwc.h5") as a, h5py.File(f"{t}/out/nchw.h5") as b:
    assert a["features"].shape == b["features"].shape == (37, 5, 3, 4)
    assert np.array_equal(a["features"][:], b["features"][:])
EOF
expect_ok $FD --features "$TMP/pooled.npy" -o "$O/pooled.h5"
check "pooled [N,C] features import as [N,C,1,1]" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
with h5py.File(f"{t}/out/pooled.h5") as f:
    assert f["features"].shape == (37, 5, 1, 1)
    assert np.array_equal(f["features"][:, :, 0, 0], np.load(f"{t}/pooled.npy"))
EOF

expect_ok $FD --features "$TMP/f32.npy" --labels "$TMP/labels.npy" --concepts "object=$TMP/pixmap.npy" \
    --concepts "scene=$TMP/multihot.npy" --concepts "part=$TMP/pixmap_i16.npy" \
    --class-names "$TMP/names3.txt" -o "$O/labelled.h5"
expect_ok $FD --export /labels "$O/labelled.h5" -o "$O/labels.back.npy"
check "labels, concept maps, multi-hot and class names import" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
with h5py.File(f"{t}/out/labelled.h5") as f:
    assert f["labels"].dtype == np.int32 and np.array_equal(f["labels"][:], np.load(f"{t}/labels.npy"))
    for name, src in (("object", "pixmap"), ("scene", "multihot"), ("part", "pixmap_i16")):
        d = f["concepts/" + name]
        assert d.dtype == np.int32 and np.array_equal(d[:], np.load(f"{t}/{src}.npy").astype(np.int32)), name
    assert [s.decode() for s in f["class_names"][:]] == ["cat", "dog", "bird"]
    inputs = [l.split("\t")[0] for l in f.attrs["npy_inputs"].strip().split("\n")]
    assert inputs == [f"{t}/{n}.npy" for n in ("f32", "labels", "pixmap", "multihot", "pixmap_i16")], inputs
    assert f.attrs["class_names_file"].startswith(f"{t}/names3.txt\t")
    assert "object=" in f.attrs["command_line"]
b = np.load(f"{t}/out/labels.back.npy")
assert b.dtype == np.int32 and np.array_equal(b, np.load(f"{t}/labels.npy"))
EOF
expect_ok $FD --features "$TMP/f32.npy" --labels "$TMP/labels_u8.npy" -o "$O/labels_u8.h5"

# ------------------------------------------------------------------ concatenation
expect_ok $FD --concat "$TMP/s1.h5" "$TMP/s2.h5" -o "$O/s12.h5"
check "synthgen seeds 1 + 2 concatenate dataset by dataset" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
with h5py.File(f"{t}/s1.h5") as a, h5py.File(f"{t}/s2.h5") as b, h5py.File(f"{t}/out/s12.h5") as c:
    for name in ("features", "labels", "concepts/concept", "truth/alpha", "truth/beta"):
        want = np.concatenate([a[name][:], b[name][:]])
        assert c[name].dtype == a[name].dtype and np.array_equal(c[name][:], want), name
    for name in ("truth/S", "truth/D", "truth/offset", "class_names"):
        assert np.array_equal(c[name][:], a[name][:]), name
    assert list(c["concepts/concept"].attrs["names"]) == list(a["concepts/concept"].attrs["names"])
    assert c.attrs["format"] == "eddp-features" and c.attrs["split"] == "train"
    assert c.attrs["inputs"].count("\n") == 2 and c.attrs["tool"] == "featdump"
    assert a.attrs["command_line"] in c.attrs["history"]
    assert c["features"].shape[0] == 6000
EOF

check "python cuts s1.h5 into three shards" py <<'EOF'
import h5py, sys
t = sys.argv[1]
with h5py.File(f"{t}/s1.h5") as src:
    per_image = ["features", "labels", "concepts/concept", "truth/alpha", "truth/beta"]
    for k, (lo, hi) in enumerate([(0, 1000), (1000, 1001), (1001, 3000)]):
        with h5py.File(f"{t}/shard{k}.h5", "w") as dst:
            for key, value in src.attrs.items():
                dst.attrs[key] = value
            def copy(name, obj):
                if isinstance(obj, h5py.Dataset):
                    data = obj[lo:hi] if name in per_image else obj[()]
                    d = dst.create_dataset(name, data=data)
                    for key, value in obj.attrs.items():
                        d.attrs[key] = value
            src.visititems(copy)
EOF
expect_ok $FD --concat "$TMP/shard0.h5" "$TMP/shard1.h5" "$TMP/shard2.h5" -o "$O/rejoined.h5"
check "shards -> concatenation == the unsharded file" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
with h5py.File(f"{t}/s1.h5") as a, h5py.File(f"{t}/out/rejoined.h5") as b:
    names = []
    a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    other = []
    b.visititems(lambda n, o: other.append(n) if isinstance(o, h5py.Dataset) else None)
    assert names == other, (names, other)
    for n in names:
        assert a[n].shape == b[n].shape and a[n].dtype == b[n].dtype, n
        assert np.array_equal(a[n][()], b[n][()]), n
    for key in ("split", "classes", "per_class", "offset", "truth_source"):
        assert np.array_equal(a.attrs[key], b.attrs[key]), key
EOF
unset EDDP_BATCH_BYTES

# ------------------------------------------------------------------ info
info_pipe() { $SG --seed 1 -o - | $FD --info - >"$TMP/info_pipe.txt"; }
expect_ok info_pipe
check "synthgen -o - | featdump --info - describes the file" grep -q '^format: *eddp-features, version 1' "$TMP/info_pipe.txt"
check "--info lists /features with shape and dtype" grep -Eq '^ +/features +float32 +\[3000,16,1,2\]' "$TMP/info_pipe.txt"
check "--info lists root attributes" grep -Eq '^ +split +train' "$TMP/info_pipe.txt"
EDDP_BATCH_BYTES=5000 $FD --info "$TMP/s1.h5" >"$TMP/info.txt" 2>"$TMP/info.err"
check "--info exits 0 with nothing on stderr" test ! -s "$TMP/info.err"
check "--info statistics match numpy (mean, std, min, max per channel)" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
lines = open(f"{t}/info.txt").read().splitlines()
start = next(k for k, l in enumerate(lines) if l.split()[:1] == ["channel"]) + 1
got = np.array([[float(v) for v in l.split()[1:5]] for l in lines[start:start + 16]])
with h5py.File(f"{t}/s1.h5") as f:
    x = f["features"][:].astype(np.float64).transpose(1, 0, 2, 3).reshape(16, -1)
want = np.stack([x.mean(1), x.std(1), x.min(1), x.max(1)], 1)
assert got.shape == want.shape
assert np.allclose(got, want, rtol=2e-7, atol=1e-9), np.abs(got - want).max()
EOF

# ------------------------------------------------------------------ head, pipes
expect_ok $FD --head-weight "$TMP/W.npy" --head-bias "$TMP/b.npy" --class-names "$TMP/names4.txt" -o "$O/head.h5"
check "head import: /weight [K,C], /bias [K], /class_names, format eddp-head" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
with h5py.File(f"{t}/out/head.h5") as f:
    assert f.attrs["format"] == "eddp-head" and f.attrs["format_version"] == 1
    assert f["weight"].dtype == np.float32 and f["bias"].dtype == np.float32
    assert np.array_equal(f["weight"][:], np.load(f"{t}/W.npy").astype(np.float32))
    assert np.array_equal(f["bias"][:], np.load(f"{t}/b.npy"))
    assert [s.decode() for s in f["class_names"][:]] == ["zero", "one", "two", "three"]
    assert len(f.attrs["npy_inputs"].strip().split("\n")) == 2
EOF
expect_ok $FD --head-weight "$TMP/W.npy" --head-bias "$TMP/b.npy" -o "$O/head_nonames.h5"

import_pipe() { $FD --features "$TMP/f32.npy" -o - | $FD --info - >"$TMP/info_import.txt"; }
expect_ok import_pipe
check "featdump -o - writes an HDF5 image that --info - reads" grep -Eq '/features +float32 +\[37,5,3,4\]' "$TMP/info_import.txt"
export_pipe() { $FD --export /truth/S "$TMP/s1.h5" -o - >"$O/S.stdout.npy"; }
expect_ok export_pipe
check "--export -o - writes .npy to stdout; float64 exports as float32" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
s = np.load(f"{t}/out/S.stdout.npy")
with h5py.File(f"{t}/s1.h5") as f:
    assert s.dtype == np.float32 and np.array_equal(s, f["truth/S"][:].astype(np.float32))
EOF
export_stdin() { $FD --export /labels - -o "$O/labels_stdin.npy" <"$TMP/small.h5"; }
expect_ok export_stdin

# ------------------------------------------------------------------ output handling
expect_fail 73 'f32\.h5.*exists.*--overwrite' $FD --features "$TMP/f32.npy" -o "$O/f32.h5"
expect_ok $FD --features "$TMP/f64.npy" --overwrite -o "$O/f32.h5"
expect_fail 73 'nodir/x\.h5.*cannot create' $FD --features "$TMP/f32.npy" -o "$O/nodir/x.h5"
expect_fail 73 'nodir/x\.npy.*cannot create' $FD --export /labels "$TMP/s1.h5" -o "$O/nodir/x.npy"
expect_fail 73 'notes\.txt/x\.h5.*cannot create' $FD --concat "$TMP/s1.h5" -o "$TMP/notes.txt/x.h5"
expect_fail 73 'labels\.back\.npy.*exists' $FD --export /labels "$O/labelled.h5" -o "$O/labels.back.npy"

# ------------------------------------------------------------------ bad HDF5 inputs
expect_fail 65 'notes\.txt.*not an HDF5' $FD --info "$TMP/notes.txt"
expect_fail 65 'notes\.txt.*not an HDF5' $FD --concat "$TMP/s1.h5" "$TMP/notes.txt" -o "$O/bad.h5"
expect_fail 65 'trunc\.h5.*(truncated|corrupt)' $FD --concat "$TMP/trunc.h5" -o "$O/bad.h5"
expect_fail 65 'trunc\.h5.*(truncated|corrupt)' $FD --export /features "$TMP/trunc.h5" -o "$O/bad.npy"
info_truncated_stdin() { $FD --info - <"$TMP/trunc.h5"; }
expect_fail 65 '^featdump: -: .*(truncated|corrupt)' info_truncated_stdin
expect_fail 66 'missing\.h5.*cannot open' $FD --concat "$TMP/missing.h5" -o "$O/bad.h5"
expect_fail 65 "s1\.h5.*missing dataset '/nope'" $FD --export /nope "$TMP/s1.h5" -o "$O/bad.npy"
expect_fail 65 "s1\.h5.*'/class_names'.*not numeric" $FD --export /class_names "$TMP/s1.h5" -o "$O/bad.npy"
expect_fail 65 "head\.h5.*format is 'eddp-head', expected 'eddp-features'" $FD --concat "$O/head.h5" -o "$O/bad.h5"

check "python makes broken shards" py <<'EOF'
import numpy as np, h5py, sys
t = sys.argv[1]
def shard(name, **datasets):
    with h5py.File(f"{t}/{name}.h5", "w") as f:
        f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
        for k, v in datasets.items():
            f.create_dataset(k, data=v)
x = np.ones((4, 16, 1, 2), np.float32)
shard("rank3", features=np.ones((4, 16, 2), np.float32))
shard("intfeat", features=np.ones((4, 16, 1, 2), np.int32))
shard("empty", features=np.ones((0, 16, 1, 2), np.float32))
shard("c8", features=np.ones((4, 8, 1, 2), np.float32))
x_nan = x.copy(); x_nan[2, 5, 0, 1] = np.nan
shard("nanshard", features=x_nan)
shard("plain", features=x)
names = np.array([b"none", b"wheel", b"door"], dtype=h5py.string_dtype())
shard("named0", features=x, **{"concepts/obj": np.arange(16, dtype=np.int32).reshape(4, 2, 2), "concepts/obj_names": names})
shard("named1", features=x[:1] * 2, **{"concepts/obj": np.full((1, 2, 2), 2, np.int32), "concepts/obj_names": names})
shard("scalars", features=x, **{"meta/count": np.int64(7), "meta/big": np.array([1, 2**40])})
with h5py.File(f"{t}/s1.h5") as s1:
    lab = s1["labels"][:4]
    base = dict(features=x, labels=lab)
    for k in ("concepts/concept", "truth/alpha", "truth/beta", "truth/S", "truth/D", "truth/offset"):
        base[k] = s1[k][:4] if s1[k].shape[0] == 3000 else s1[k][()]
shard("nolabels", **{k: v for k, v in base.items() if k != "labels"})
shard("floatlabels", **dict(base, labels=lab.astype(np.float32)))
shard("shortlabels", **dict(base, labels=lab[:3]))
shard("otherS", **dict(base, **{"truth/S": base["truth/S"] + 1}))
shard("extra", **dict(base, extra=np.zeros(3)))
with h5py.File(f"{t}/s1.h5") as s1, h5py.File(f"{t}/nolabels.h5", "a") as f:
    f.create_dataset("class_names", data=s1["class_names"][()])
for name in ("floatlabels", "shortlabels", "otherS", "extra"):
    with h5py.File(f"{t}/s1.h5") as s1, h5py.File(f"{t}/{name}.h5", "a") as f:
        f.create_dataset("class_names", data=s1["class_names"][()])
EOF
expect_fail 65 "rank3\.h5.*'/features'.*shape" $FD --concat "$TMP/rank3.h5" -o "$O/bad.h5"
expect_fail 65 "intfeat\.h5.*'/features'.*type" $FD --concat "$TMP/intfeat.h5" -o "$O/bad.h5"
expect_fail 65 "rank3\.h5.*'/features'.*shape" $FD --info "$TMP/rank3.h5"
expect_fail 65 "empty\.h5.*'/features'.*empty" $FD --concat "$TMP/s1.h5" "$TMP/empty.h5" -o "$O/bad.h5"
expect_fail 65 "c8\.h5.*'/features'.*\[8,1,2\].*s1\.h5" $FD --concat "$TMP/s1.h5" "$TMP/c8.h5" -o "$O/bad.h5"
EDDP_BATCH_BYTES=300 expect_fail 65 "nanshard\.h5.*'/features'.*NaN at image 2" \
    $FD --concat "$TMP/plain.h5" "$TMP/nanshard.h5" -o "$O/bad.h5"
expect_fail 65 "nolabels\.h5.*missing dataset '/labels'.*s1\.h5" $FD --concat "$TMP/s1.h5" "$TMP/nolabels.h5" -o "$O/bad.h5"
expect_fail 65 "extra\.h5.*'/extra'.*not in.*s1\.h5" $FD --concat "$TMP/s1.h5" "$TMP/extra.h5" -o "$O/bad.h5"
expect_fail 65 "floatlabels\.h5.*'/labels'.*type" $FD --concat "$TMP/s1.h5" "$TMP/floatlabels.h5" -o "$O/bad.h5"
expect_fail 65 "shortlabels\.h5.*'/labels'.*3 rows.*4 images" $FD --concat "$TMP/s1.h5" "$TMP/shortlabels.h5" -o "$O/bad.h5"
expect_fail 65 "otherS\.h5.*'/truth/S'.*differs.*s1\.h5" $FD --concat "$TMP/s1.h5" "$TMP/otherS.h5" -o "$O/bad.h5"
expect_fail 65 "-: .*'/truth/S'.*differs" $FD --concat "$TMP/s1.h5" - -o "$O/bad.h5" <"$TMP/otherS.h5"

expect_ok $FD --concat "$TMP/named0.h5" "$TMP/named1.h5" -o "$O/named.h5"
check "string datasets under /concepts are per file, numeric maps per image" py <<'EOF'
import numpy as np, h5py, sys
with h5py.File(f"{sys.argv[1]}/out/named.h5") as f:
    assert f["features"].shape == (5, 16, 1, 2) and f["concepts/obj"].shape == (5, 2, 2)
    assert np.array_equal(f["concepts/obj"][4], np.full((2, 2), 2))
    assert [s.decode() for s in f["concepts/obj_names"][:]] == ["none", "wheel", "door"]
EOF
expect_ok $FD --export meta/count "$TMP/scalars.h5" -o "$O/count.npy"
check "a scalar dataset exports as a 0-d int32 .npy" py <<'EOF'
import numpy as np, sys
c = np.load(f"{sys.argv[1]}/out/count.npy")
assert c.shape == () and c.dtype == np.int32 and c == 7
EOF
expect_fail 65 "scalars\.h5.*'/meta/big'.*1099511627776.*int32" $FD --export /meta/big "$TMP/scalars.h5" -o "$O/bad.npy"
$FD --info "$TMP/nanshard.h5" >"$TMP/info_nan.txt" 2>&1
check "--info counts NaN per channel instead of failing" py <<'EOF'
import sys
lines = open(f"{sys.argv[1]}/info_nan.txt").read().splitlines()
head = next(k for k, l in enumerate(lines) if l.split()[:1] == ["channel"])
assert lines[head].split()[-1] == "nonfinite"
rows = {int(l.split()[0]): l.split() for l in lines[head + 1:]}
assert rows[5][-1] == "1" and rows[4][-1] == "0" and float(rows[5][1]) == 1.0
EOF
$FD --info "$O/head.h5" >"$TMP/info_head.txt"
check "--info describes a head file (no statistics without /features)" \
    bash -c "grep -Eq '^ +/weight +float32 +\[4,5\]' '$TMP/info_head.txt' && ! grep -q 'per-channel' '$TMP/info_head.txt'"

# ------------------------------------------------------------------ interruption
# A large .npy imported one image per batch keeps the import busy; SIGTERM
# must remove the temporary output. (FIFOs are refused as inputs.)
/usr/bin/python3 - "$TMP" <<'EOF'
import numpy as np, sys
np.save(sys.argv[1] + "/slow.npy", np.ones((200000, 4, 2, 2), np.float32))
EOF
EDDP_BATCH_BYTES=64 $FD --features "$TMP/slow.npy" -o "$O/interrupted.h5" 2>/dev/null &
tool=$!
for _ in $(seq 100); do
    ls -A "$O" | grep -q '^\.interrupted\.h5\..*\.tmp$' && break
    sleep 0.1
done
had_temp=$(ls -A "$O" | grep -c '^\.interrupted\.h5\..*\.tmp$')
kill -TERM "$tool"
wait "$tool"
rc=$?
rm -f "$TMP/slow.npy"
check "SIGTERM mid-import exits 143 and removes the temporary output" \
    test "$had_temp" = 1 -a "$rc" = 143 -a ! -e "$O/interrupted.h5" -a -z "$(ls -A "$O" | grep '\.tmp$')"

# ------------------------------------------------------------------ bad .npy inputs
expect_fail 65 "nan\.npy.*NaN at image 29" $FD --features "$TMP/nan.npy" -o "$O/bad.h5"
EDDP_BATCH_BYTES=1000 expect_fail 65 "nan\.npy.*NaN at image 29" $FD --features "$TMP/nan.npy" -o "$O/bad.h5"
expect_fail 65 "inf\.npy.*Inf at image 11" $FD --features "$TMP/inf.npy" -o "$O/bad.h5"
expect_fail 65 "nan\.npy.*NaN at image 29" $FD --features "$TMP/nan.npy" -o -
expect_fail 65 "empty\.npy.*--features.*no data" $FD --features "$TMP/empty.npy" -o "$O/bad.h5"
expect_fail 65 "rank3\.npy.*--features.*shape \(37, 5, 3\)" $FD --features "$TMP/rank3.npy" -o "$O/bad.h5"
expect_fail 65 "ints\.npy.*--features.*'<i4'.*not floating" $FD --features "$TMP/ints.npy" -o "$O/bad.h5"
expect_fail 65 "fortran\.npy.*Fortran order" $FD --features "$TMP/fortran.npy" -o "$O/bad.h5"
expect_fail 65 "big_endian\.npy.*'>f4'.*big-endian" $FD --features "$TMP/big_endian.npy" -o "$O/bad.h5"
expect_fail 65 "badmagic\.npy.*not a \.npy" $FD --features "$TMP/badmagic.npy" -o "$O/bad.h5"
expect_fail 65 "badversion\.npy.*version 7\.0" $FD --features "$TMP/badversion.npy" -o "$O/bad.h5"
expect_fail 65 "truncdata\.npy.*truncated or corrupt" $FD --features "$TMP/truncdata.npy" -o "$O/bad.h5"
expect_fail 65 "extradata\.npy.*truncated or corrupt" $FD --features "$TMP/extradata.npy" -o "$O/bad.h5"
expect_fail 65 "truncheader\.npy.*truncated \.npy header" $FD --features "$TMP/truncheader.npy" -o "$O/bad.h5"
expect_fail 65 "badkey\.npy.*corrupt \.npy header.*'shope'" $FD --features "$TMP/badkey.npy" -o "$O/bad.h5"
expect_fail 65 "baddtype\.npy.*unsupported dtype '<c8'" $FD --features "$TMP/baddtype.npy" -o "$O/bad.h5"
expect_fail 65 "baddict\.npy.*corrupt \.npy header" $FD --features "$TMP/baddict.npy" -o "$O/bad.h5"
expect_fail 65 "notes\.txt.*not a \.npy" $FD --features "$TMP/notes.txt" -o "$O/bad.h5"
expect_fail 66 "nothere\.npy.*cannot open" $FD --features "$TMP/nothere.npy" -o "$O/bad.h5"
expect_fail 65 "labels_short\.npy.*--labels.*36 images.*f32\.npy.*37" \
    $FD --features "$TMP/f32.npy" --labels "$TMP/labels_short.npy" -o "$O/bad.h5"
expect_fail 65 "pixmap_short\.npy.*--concepts obj.*38 images.*f32\.npy.*37" \
    $FD --features "$TMP/f32.npy" --concepts "obj=$TMP/pixmap_short.npy" -o "$O/bad.h5"
expect_fail 65 "labels_float\.npy.*--labels.*floating point" \
    $FD --features "$TMP/f32.npy" --labels "$TMP/labels_float.npy" -o "$O/bad.h5"
expect_fail 65 "labels_2d\.npy.*--labels.*shape \(37, 1\)" \
    $FD --features "$TMP/f32.npy" --labels "$TMP/labels_2d.npy" -o "$O/bad.h5"
expect_fail 65 "labels_neg\.npy.*--labels.*-1 at image 36" \
    $FD --features "$TMP/f32.npy" --labels "$TMP/labels_neg.npy" -o "$O/bad.h5"
expect_fail 65 "labels_big\.npy.*1099511627776 at row 36.*int32" \
    $FD --features "$TMP/f32.npy" --labels "$TMP/labels_big.npy" -o "$O/bad.h5"
expect_fail 65 "labels_k5\.npy.*label 5 at image 36.*names3\.txt.*3 classes" \
    $FD --features "$TMP/f32.npy" --labels "$TMP/labels_k5.npy" --class-names "$TMP/names3.txt" -o "$O/bad.h5"
expect_fail 65 "pixmap_neg\.npy.*--concepts obj.*-1 at image 0" \
    $FD --features "$TMP/f32.npy" --concepts "obj=$TMP/pixmap_neg.npy" -o "$O/bad.h5"
expect_fail 65 "multihot_2\.npy.*--concepts scene.*value 2.*multi-hot" \
    $FD --features "$TMP/f32.npy" --concepts "scene=$TMP/multihot_2.npy" -o "$O/bad.h5"
expect_fail 65 "names_gap\.txt.*line 2 is empty" \
    $FD --features "$TMP/f32.npy" --class-names "$TMP/names_gap.txt" -o "$O/bad.h5"
expect_fail 66 "nonames\.txt.*cannot open" \
    $FD --features "$TMP/f32.npy" --class-names "$TMP/nonames.txt" -o "$O/bad.h5"
expect_fail 65 "b3\.npy.*--head-bias.*3 classes.*W\.npy.*4" \
    $FD --head-weight "$TMP/W.npy" --head-bias "$TMP/b3.npy" -o "$O/bad.h5"
expect_fail 65 "W1\.npy.*--head-weight.*shape \(20,\)" \
    $FD --head-weight "$TMP/W1.npy" --head-bias "$TMP/b.npy" -o "$O/bad.h5"
expect_fail 65 "Wnan\.npy.*--head-weight.*NaN" \
    $FD --head-weight "$TMP/Wnan.npy" --head-bias "$TMP/b.npy" -o "$O/bad.h5"
expect_fail 65 "names3\.txt.*3 classes.*W\.npy.*4" \
    $FD --head-weight "$TMP/W.npy" --head-bias "$TMP/b.npy" --class-names "$TMP/names3.txt" -o "$O/bad.h5"

# ------------------------------------------------------------------ usage
expect_fail 64 'no mode' $FD -o "$O/bad.h5"
expect_fail 64 'one mode' $FD --features "$TMP/f32.npy" --concat "$TMP/s1.h5" -o "$O/bad.h5"
expect_fail 64 'no output.*-o' $FD --features "$TMP/f32.npy"
expect_fail 64 '--layout.*only for --features' $FD --concat "$TMP/s1.h5" --layout nhwc -o "$O/bad.h5"
expect_fail 64 "--layout.*nchw or nhwc.*'hwcn'" $FD --features "$TMP/f32.npy" --layout hwcn -o "$O/bad.h5"
expect_fail 64 '--labels.*only for --features' $FD --head-weight "$TMP/W.npy" --head-bias "$TMP/b.npy" \
    --labels "$TMP/labels.npy" -o "$O/bad.h5"
expect_fail 64 '--concepts.*NAME=MAP' $FD --features "$TMP/f32.npy" --concepts "$TMP/pixmap.npy" -o "$O/bad.h5"
expect_fail 64 "--concepts.*'a/b'" $FD --features "$TMP/f32.npy" --concepts "a/b=$TMP/pixmap.npy" -o "$O/bad.h5"
expect_fail 64 "--concepts.*'obj' given twice" $FD --features "$TMP/f32.npy" --concepts "obj=$TMP/pixmap.npy" \
    --concepts "obj=$TMP/pixmap.npy" -o "$O/bad.h5"
expect_fail 64 'head needs both' $FD --head-weight "$TMP/W.npy" -o "$O/bad.h5"
expect_fail 64 '--info.*no -o' $FD --info "$TMP/s1.h5" -o "$O/bad.txt"
expect_fail 64 '--export.*exactly one file' $FD --export /labels -o "$O/bad.npy"
expect_fail 64 '--concat needs' $FD --concat -o "$O/bad.h5"
expect_fail 64 "stdin.*only once" $FD --concat - - -o "$O/bad.h5"
expect_fail 64 "--features.*stdin" $FD --features - -o "$O/bad.h5"
expect_fail 64 "unexpected argument 'extra'" $FD --features "$TMP/f32.npy" extra -o "$O/bad.h5"
check "--help prints usage to stdout and exits 0" bash -c "$FD --help | grep -q '^usage: featdump'"
check "--version exits 0" $FD --version

check "no temporary files are left in the output folder" bash -c "! ls -A '$O' | grep -q '\.tmp$'"

finish
