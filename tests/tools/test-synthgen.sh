# test-synthgen.sh — the paper preset's figures, the generator's options,
# determinism, streaming, and refusals. Run from the repository root.
source tests/tools/lib.sh

SG=bin/synthgen

desc "paper preset"
expect_ok $SG --seed 1 -o "$TMP/paper.h5"
check "paper preset: shapes, str attributes, Table 6 norms, the generator's equation" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/paper.h5", "r")
assert f["features"].shape == (3000, 16, 1, 2) and f["features"].dtype == np.float32
assert f["labels"].shape == (3000,) and f["labels"].dtype == np.int32
assert f["concepts/concept"].shape == (3000, 1, 2)
assert f["truth/alpha"].shape == (3000, 3, 1, 2) and f["truth/beta"].shape == (3000, 2, 1, 2)
assert f["truth/S"].shape == (3, 16) and f["truth/D"].shape == (2, 16)
for name in ("format", "history", "tool", "command_line", "split", "classes"):
    assert isinstance(f.attrs[name], str), name
assert f.attrs["format"] == "eddp-features" and f.attrs["format_version"] == 1
names = [s.decode() if isinstance(s, bytes) else s for s in f["class_names"][:]]
assert names == ["a", "b", "c"], names
C = np.vstack([f["truth/S"][:], f["truth/D"][:]])
assert np.all(np.abs(np.linalg.norm(C, axis=1) - 1) <= 1e-4), np.linalg.norm(C, axis=1)
c = f["concepts/concept"][:].reshape(3000, 2) - 1
lab = f["labels"][:]
comp = {0: (0, 1), 1: (0, 2), 2: (1, 2)}
assert all(tuple(c[n]) == comp[lab[n]] for n in range(3000))
a = f["truth/alpha"][:].reshape(3000, 3, 2)
on = np.take_along_axis(a, c[:, None, :], axis=1)[:, 0, :]
assert on.min() >= 2.5 and on.max() <= 5.0
mask = np.ones_like(a, bool); np.put_along_axis(mask, c[:, None, :], False, axis=1)
assert a[mask].min() >= 0 and a[mask].max() <= 2.5
x = f["features"][:].transpose(0, 2, 3, 1).reshape(-1, 16)
S, D = f["truth/S"][:], f["truth/D"][:]
al = a.transpose(0, 2, 1).reshape(-1, 3)
be = f["truth/beta"][:].reshape(3000, 2, 2).transpose(0, 2, 1).reshape(-1, 2)
assert np.allclose(x, al @ S + be @ D + 10, atol=1e-4)
EOF

desc "paper preset, 30000 images"
expect_ok $SG --seed 2 --per-class 10000 -o "$TMP/big.h5"
check "pixel α mean is 2.083 ± 0.02 (method-spec §1.3)" py <<'EOF'
import h5py, sys
a = h5py.File(sys.argv[1] + "/big.h5", "r")["truth/alpha"][:]
assert abs(a.mean() - 2.0833) <= 0.02, a.mean()
assert abs(a.var() - 1.910) <= 0.05, a.var()
EOF

expect_ok $SG --seed 1 -o "$TMP/again.h5"
expect_ok $SG --seed 1 --split test -o "$TMP/test.h5"
expect_ok $SG --seed 1 --threads 1 -o "$TMP/one-thread.h5"
check "same seed gives the same data; the test split is independent" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a, b, c, d = (h5py.File(f"{t}/{n}.h5", "r")["features"][:] for n in ("paper", "again", "test", "one-thread"))
assert np.array_equal(a, b) and np.array_equal(a, d)
assert not np.array_equal(a, c)
EOF

desc "general options"
expect_ok $SG --seed 4 --random-truth --dims 32 --concepts 4 --distractors 3 --height 2 --width 3 \
    --classes "0,1,2,3,-1,0;1,1,2,2,3,3" --on 1:2 --off 0:0.5 --beta 0:1 --offset 0 --per-class 7 -o "$TMP/general.h5"
check "general options shape the data" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/general.h5", "r")
assert f["features"].shape == (14, 32, 2, 3)
assert f["truth/S"].shape == (4, 32) and f["truth/D"].shape == (3, 32)
assert np.allclose(np.linalg.norm(f["truth/S"][:], axis=1), 1)
c = f["concepts/concept"][:].reshape(14, 6)
assert list(c[0]) == [1, 2, 3, 4, 0, 1] and list(c[13]) == [2, 2, 3, 3, 4, 4]
a = f["truth/alpha"][:]
assert a.max() <= 2 and a.min() >= 0
x = f["features"][:].transpose(0, 2, 3, 1).reshape(-1, 32)
al = a.transpose(0, 2, 3, 1).reshape(-1, 4); be = f["truth/beta"][:].transpose(0, 2, 3, 1).reshape(-1, 3)
assert np.allclose(x, al @ f["truth/S"][:] + be @ f["truth/D"][:], atol=1e-5)
EOF

CLASSES=$(/usr/bin/python3 -c 'print(";".join(",".join(str((k + p) % 10) for p in range(49)) for k in range(10)))')
desc "streaming: more images than one write batch, 2 threads"
expect_ok $SG --seed 5 --random-truth --dims 512 --concepts 10 --distractors 5 --height 7 --width 7 \
    --classes "$CLASSES" --per-class 70 --threads 2 -o "$TMP/stream2.h5"
desc "streaming, 1 thread"
expect_ok $SG --seed 5 --random-truth --dims 512 --concepts 10 --distractors 5 --height 7 --width 7 \
    --classes "$CLASSES" --per-class 70 --threads 1 -o "$TMP/stream1.h5"
check "batched writing is exact and thread-independent" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a = h5py.File(f"{t}/stream1.h5", "r"); b = h5py.File(f"{t}/stream2.h5", "r")
assert a["features"].shape == (700, 512, 7, 7)
for k in ("features", "labels", "concepts/concept", "truth/alpha", "truth/beta"):
    assert np.array_equal(a[k][:], b[k][:]), k
assert list(np.bincount(a["labels"][:])) == [70] * 10
EOF

check "synthgen -o - writes an HDF5 image to stdout" bash -c "$SG --seed 1 --per-class 3 -o - > '$TMP/piped.h5' && /usr/bin/python3 -c 'import h5py,sys; assert h5py.File(sys.argv[1])[\"features\"].shape==(9,16,1,2)' '$TMP/piped.h5'"

# ------------------------------------------------------------------ refusals
expect_fail 73 'paper\.h5.*exists.*--overwrite' $SG --seed 1 -o "$TMP/paper.h5"
desc "--overwrite replaces"
expect_ok $SG --seed 9 --per-class 2 --overwrite -o "$TMP/paper.h5"
mkdir -p "$TMP/ro" && chmod 555 "$TMP/ro"
if [[ $(id -u) == 0 ]]; then
    # root may write into a read-only folder: a missing folder stands in
    expect_fail 73 'cannot create output' $SG -o "$TMP/missing/out.h5"
else
    expect_fail 73 'cannot create output' $SG -o "$TMP/ro/out.h5"
fi
expect_fail 64 'no output file' $SG --seed 1
expect_fail 64 '--classes' $SG --classes "0,1;0" -o "$TMP/x.h5"
expect_fail 64 '--classes' $SG --classes "0,1;0,7" -o "$TMP/x.h5"
expect_fail 64 '--dims.*--random-truth' $SG --dims 8 -o "$TMP/x.h5"
expect_fail 64 '--concepts \+ --distractors' $SG --random-truth --dims 4 --concepts 3 --distractors 2 -o "$TMP/x.h5"
expect_fail 64 '--on' $SG --on 5:2 -o "$TMP/x.h5"
expect_fail 64 '--per-class' $SG --per-class 0 -o "$TMP/x.h5"
expect_fail 64 '--split' $SG --split validation -o "$TMP/x.h5"
expect_fail 66 'nothere\.tsv' $SG --table "$TMP/nothere.tsv" -o "$TMP/x.h5"
printf 's0\td0\n0.5\tabc\n' > "$TMP/bad.tsv"
expect_fail 65 'bad\.tsv.*row 1.*abc' $SG --table "$TMP/bad.tsv" -o "$TMP/x.h5"
finish
