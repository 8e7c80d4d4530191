# test-rcav.sh — RCAV influence testing (rcav(1), method-spec §6.4, §6.5):
# the eddp-influence contract, SC recomputed independently in numpy by
# perturbing and re-pooling every image, same seed → same file, shard +
# merge == one run, S³'s known answer, a many-class case with a significant
# and a non-significant result, and the failure modes. Run from the
# repository root.
source tests/tools/lib.sh

SG=bin/synthgen RCAV=bin/rcav
$SG --seed 3 --per-class 60 -o "$TMP/tr.h5" && $SG --seed 3 --split test --per-class 30 -o "$TMP/te.h5" &&
    bin/trainhead --quiet --epochs 200 --lr 0.01 "$TMP/tr.h5" -o "$TMP/head.h5" &&
    bin/pcav --quiet "$TMP/tr.h5" -o "$TMP/p.h5" || { fail "synthgen, trainhead and pcav make the inputs"; finish; }
IN=("$TMP/p.h5" "$TMP/te.h5" "$TMP/head.h5" "$TMP/tr.h5")
FAST=(--noise 20 --noise-epochs 30)

desc "rcav on the synthetic set (3 Pattern-CAVs, 3 classes)"
expect_ok $RCAV "${FAST[@]}" --seed 4 --pairs "${IN[@]}" -o "$TMP/r.h5"
$RCAV "${FAST[@]}" --seed 4 --pairs "${IN[@]}" -o - >"$TMP/r.txt" 2>/dev/null
check "stdout: Table 8, the three-class note and the pairs" grep -q 'with 3 classes every direction' "$TMP/r.txt"
check "stdout: SDC row and 9 pairs" bash -c "grep -q 'significant direction count (SDC) *0' '$TMP/r.txt' &&
    [[ \$(grep -cE '^[0-9]+ +[0-9]+ +-?[0-9.]+ ' '$TMP/r.txt') == 9 ]]"
check "the contract: shapes, settings, p counts, significance, SC recomputed by re-pooling in numpy" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
r, d, e, h = (h5py.File(t + f, "r") for f in ("/r.h5", "/p.h5", "/te.h5", "/head.h5"))
assert r.attrs["format"] == "eddp-influence" and r.attrs["format_version"] == 1 and r.attrs["tool"] == "rcav"
I, K, N, D = 3, 3, 20, 16
assert r["SC"].shape == (I, K) and r["p"].shape == (I, K) and r["significant"].shape == (I, K)
assert r["noise/S"].shape == (I, N, D) and r["noise/S"].dtype == np.float32 and r["noise/SC"].shape == (I, N, K)
assert r["noise/alive"].shape == (I, N) and r["noise/sample_size"].shape == (I,)
assert r.attrs["alpha"] == 5 and r.attrs["n_noise"] == N and r.attrs["level"] == 0.05
assert r.attrs["normalisation"] == "tensor" and r.attrs["comparison"] == ">="
assert abs(r.attrs["threshold"] - 0.05 / 9) < 1e-15 and "shard" not in r.attrs
SC, p, nSC = r["SC"][:], r["p"][:], r["noise/SC"][:]
alive = r["noise/alive"][:].astype(bool)
assert np.array_equal(p, ((np.abs(nSC) >= np.abs(SC)[:, None, :]) & alive[:, :, None]).sum(1) / alive.sum(1)[:, None])
assert np.array_equal(r["significant"][:], (p < 0.05 / 9).astype(np.int32))
assert r.attrs["sdc"] == 0 and r.attrs["scdp"] == 0
# every direction scores +1 / -1 on the classes of its largest / smallest logit shift
Wh = h["weight"][:]
x = e["features"][:].astype(np.float64)                   # [n, C, H, W]
lab = e["labels"][:]
hw = x.shape[2] * x.shape[3]
def sc_repooled(v):
    if not np.any(v): return np.zeros(K)
    V = 5 * v / (np.linalg.norm(v) * np.sqrt(hw))             # per pixel: the tensor normalised
    base = x.mean((2, 3)) @ Wh.T + h["bias"][:]
    pert = (x + V[None, :, None, None]).mean((2, 3)) @ Wh.T + h["bias"][:]
    lp = lambda l: l - np.log(np.exp(l - l.max(1, keepdims=True)).sum(1, keepdims=True)) - l.max(1, keepdims=True)
    up = lp(pert)[np.arange(len(lab)), lab] >= lp(base)[np.arange(len(lab)), lab]
    return np.array([2 * up[lab == k].mean() - 1 for k in range(K)])
S = d["S"][:]
for i in range(I):
    assert np.array_equal(SC[i], sc_repooled(S[i])), (i, SC[i], sc_repooled(S[i]))
    delta = Wh @ S[i]
    assert SC[i, np.argmax(delta)] == 1 and SC[i, np.argmin(delta)] == -1
nS = r["noise/S"][:].astype(np.float64)
for i in range(I):
    for n in range(0, N, 7):
        assert np.array_equal(nSC[i, n], sc_repooled(nS[i, n])), (i, n)
EOF

desc "same seed, second run"
expect_ok $RCAV "${FAST[@]}" --seed 4 "${IN[@]}" -o "$TMP/r2.h5"
desc "another seed"
expect_ok $RCAV "${FAST[@]}" --seed 5 "${IN[@]}" -o "$TMP/r3.h5"
cat >"$TMP/same.py" <<'EOF'
import h5py, numpy as np, sys
# every dataset and every attribute but the provenance ones are identical
PROV = {"history", "command_line", "created", "inputs", "tool_version", "threads", "slurm_job_id", "seed", "tool", "device"}
a, b = h5py.File(sys.argv[2], "r"), h5py.File(sys.argv[3], "r")
names = lambda f: sorted(n for n in [] + list(f.keys()) + [g + "/" + k for g in f if isinstance(f[g], h5py.Group) for k in f[g]])
assert names(a) == names(b), (names(a), names(b))
for n in names(a):
    if isinstance(a[n], h5py.Dataset):
        assert a[n].dtype == b[n].dtype and np.array_equal(a[n][:], b[n][:]), n
ka, kb = set(a.attrs) - PROV, set(b.attrs) - PROV
assert ka == kb, ka ^ kb
for k in ka:
    assert np.array_equal(a.attrs[k], b.attrs[k]), k
EOF
check "same seed -> same datasets and settings, bit for bit" py "$TMP/r.h5" "$TMP/r2.h5" <"$TMP/same.py"
check "another seed -> other noise vectors" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a, b = h5py.File(t + "/r.h5", "r"), h5py.File(t + "/r3.h5", "r")
assert np.array_equal(a["SC"][:], b["SC"][:]) and not np.array_equal(a["noise/S"][:], b["noise/S"][:])
EOF

# ------------------------------------------------------------ caches
bin/cachegpu --quiet "$TMP/te.h5" -o "$TMP/te.cache.h5" >/dev/null && bin/cachegpu --quiet "$TMP/tr.h5" -o "$TMP/tr.cache.h5" >/dev/null ||
    fail "cachegpu makes the caches"
desc "EVAL and CONCEPTS as caches (cachegpu)"
expect_ok $RCAV "${FAST[@]}" --seed 4 "$TMP/p.h5" "$TMP/te.cache.h5" "$TMP/head.h5" "$TMP/tr.cache.h5" -o "$TMP/rc.h5"
check "a float32 cache gives the features file's results bit for bit" py <<'EOF2'
import h5py, numpy as np, sys
t = sys.argv[1]
a, b = h5py.File(t + "/r.h5", "r"), h5py.File(t + "/rc.h5", "r")
for k in ("SC", "p", "significant", "noise/S", "noise/SC", "noise/sample_size"):
    assert np.array_equal(a[k][:], b[k][:]), k
EOF2

# ------------------------------------------------------------ shard + merge
desc "--shard 0/2"
expect_ok $RCAV "${FAST[@]}" --seed 4 --shard 0/2 "${IN[@]}" -o "$TMP/s0.h5"
desc "--shard 1/2"
expect_ok $RCAV "${FAST[@]}" --seed 4 --shard 1/2 "${IN[@]}" -o "$TMP/s1.h5"
desc "--merge (slices in either order)"
expect_ok $RCAV --merge "$TMP/s1.h5" "$TMP/s0.h5" -o "$TMP/m.h5"
check "merge of the slices == one run, bit for bit (datasets and settings)" py "$TMP/r.h5" "$TMP/m.h5" <"$TMP/same.py"
check "slice 1/2 holds detectors 1..2" py <<'EOF'
import h5py, sys
s = h5py.File(sys.argv[1] + "/s1.h5", "r")
assert s.attrs["shard"] == 1 and s.attrs["n_shards"] == 2 and s.attrs["det_lo"] == 1 and s.attrs["det_hi"] == 3
assert s["SC"].shape == (2, 3) and "significant" not in s and "sdc" not in s.attrs
EOF
$RCAV "${FAST[@]}" --seed 9 --shard 1/2 "${IN[@]}" -o "$TMP/s1-other.h5" 2>/dev/null
$RCAV "${FAST[@]}" --seed 4 --alpha 2 --shard 1/2 "${IN[@]}" -o "$TMP/s1-alpha.h5" 2>/dev/null
expect_fail 65 's1-other\.h5.*different runs' $RCAV --merge "$TMP/s0.h5" "$TMP/s1-other.h5" -o "$TMP/bad.h5"
expect_fail 65 's1-alpha\.h5.*different runs or settings' $RCAV --merge "$TMP/s0.h5" "$TMP/s1-alpha.h5" -o "$TMP/bad.h5"
expect_fail 65 's0\.h5.*slice 0 of 2 but 1' $RCAV --merge "$TMP/s0.h5" -o "$TMP/bad.h5"
expect_fail 65 'both slice 0' $RCAV --merge "$TMP/s0.h5" "$TMP/s0.h5" -o "$TMP/bad.h5"
expect_fail 65 'r\.h5.*not a slice' $RCAV --merge "$TMP/r.h5" -o "$TMP/bad.h5"

# ------------------------------------------------------------ S³ and --png
desc "iou-label labels the Pattern-CAV directions"
expect_ok bin/iou-label --table none "$TMP/p.h5" "$TMP/tr.h5" -o "$TMP/pe.h5"
desc "S3 with --labels and --pcav"
expect_ok $RCAV "${FAST[@]}" --labels "$TMP/pe.h5" --pcav "$TMP/p.h5" "${IN[@]}" -o "$TMP/s3.h5"
check "S3 = 0 when the signal vectors are the Pattern-CAVs themselves (|S_j| >= |S_P| always)" py <<'EOF'
import h5py, sys
f = h5py.File(sys.argv[1] + "/s3.h5", "r")
assert f.attrs["s3"] == 0 and f.attrs["s3_pairs"] == 9 and f.attrs["s3_theta"] == 0.05, dict(f.attrs)
EOF
mkdir -p "$TMP/png"
desc "--png draws the heat map"
expect_ok $RCAV "${FAST[@]}" --png "$TMP/png/sc.png" "${IN[@]}" -o "$TMP/r-png.h5"
check "the heat map is a PNG, and nothing else was left beside it" py <<'EOF2'
import os, sys
t = sys.argv[1]
assert open(t + "/png/sc.png", "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.listdir(t + "/png") == ["sc.png"]
EOF2

# ------------------------------------------------------------ many classes
# K = 40 classes, C = 48: head row 0 = 0.5 e0 (only u = e0 moves class 0),
# rows 1..39 larger and orthogonal to e0; evaluation images confident of
# their class and confused with one other (class 0: with each other class
# in turn); pooled features solve W x + b = the wanted logits. Detector 0's
# signal vector is u, detector 1's a random direction.
check "make the many-class files" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
rng = np.random.default_rng(7)
K, C, H, W = 40, 48, 2, 2
Wh = np.zeros((K, C)); Wh[0, 0] = 0.5; Wh[1:, 1:] = 0.75 * rng.normal(size=(K - 1, C - 1))
b = np.zeros(K)
labels, logits = [], []
for i in range(60 + 10 * (K - 1)):
    k = 0 if i < 60 else 1 + (i - 60) // 10
    other = 1 + i % (K - 1) if k == 0 else (k + 1 + rng.integers(K - 1)) % K
    l = -9 + 0.5 * rng.normal(size=K); l[k] = 4; l[other] = 2.5
    labels.append(k); logits.append(l)
pooled = np.linalg.lstsq(Wh, (np.array(logits) - b).T, rcond=None)[0].T
x = pooled[:, :, None, None] + 0.1 * np.array([1, -1, 1, -1]).reshape(1, 1, H, W) * rng.normal(size=(len(labels), C, 1, 1))
def meta(f, fmt):
    f.attrs["format"] = fmt; f.attrs["format_version"] = 1
with h5py.File(t + "/mc-eval.h5", "w") as f:
    meta(f, "eddp-features"); f["features"] = x.astype(np.float32); f["labels"] = np.array(labels, np.int32)
with h5py.File(t + "/mc-head.h5", "w") as f:
    meta(f, "eddp-head"); f["weight"] = Wh; f["bias"] = b
with h5py.File(t + "/mc-concepts.h5", "w") as f:
    meta(f, "eddp-features"); f["features"] = rng.normal(size=(200, C, H, W)).astype(np.float32)
unit = rng.normal(size=(2, C)); unit /= np.linalg.norm(unit, axis=1, keepdims=True)
S = np.zeros((2, C)); S[0, 0] = 1; S[1] = rng.normal(size=C)
with h5py.File(t + "/mc-dirs.h5", "w") as f:
    meta(f, "eddp-directions"); f.attrs["step"] = "d"
    f["unit"] = unit; f["margin"] = np.ones(2); f["threshold"] = np.zeros(2); f["center"] = np.zeros(C); f["S"] = S
EOF
MC=("$TMP/mc-dirs.h5" "$TMP/mc-eval.h5" "$TMP/mc-head.h5" "$TMP/mc-concepts.h5")
desc "rcav with 40 classes"
expect_ok $RCAV --seed 1 "${MC[@]}" -o "$TMP/mc.h5"
check "u's SC = +1 on class 0 is significant; its SC = -1 elsewhere is not, nor is the random direction" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/mc.h5", "r")
SC, p, sig = f["SC"][:], f["p"][:], f["significant"][:]
assert f.attrs["threshold"] == 0.05 / 80
assert SC[0, 0] == 1 and p[0, 0] == 0 and sig[0, 0] == 1, (SC[0, 0], p[0, 0])
assert np.all(SC[0, 1:] == -1) and np.any(sig[0, 1:] == 0), sig[0]
assert not sig[1].any(), (SC[1], p[1])
assert f.attrs["sdc"] == 1 and f.attrs["scdp"] == sig.sum() and f.attrs["directions_positive"] == 1
assert f.attrs["classes_positive"] == 1
EOF

# ------------------------------------------------------------ failures
check "make the broken inputs" py <<'EOF'
import h5py, numpy as np, shutil, sys
t = sys.argv[1]
shutil.copy(t + "/p.h5", t + "/noS.h5")
with h5py.File(t + "/noS.h5", "a") as f: del f["S"]
h = h5py.File(t + "/head.h5", "r")
def head(path, w, b):
    with h5py.File(path, "w") as f:
        f.attrs["format"] = "eddp-head"; f.attrs["format_version"] = 1; f["weight"] = w; f["bias"] = b
head(t + "/head-c.h5", h["weight"][:, :8], h["bias"][:])
head(t + "/head-k2.h5", h["weight"][:2], h["bias"][:2])
head(t + "/head-k4.h5", np.vstack([h["weight"][:], h["weight"][:1]]), np.append(h["bias"][:], 0))
shutil.copy(t + "/te.h5", t + "/nolabels.h5")
with h5py.File(t + "/nolabels.h5", "a") as f: del f["labels"]
EOF
B=("$TMP/te.h5" "$TMP/head.h5" "$TMP/tr.h5")
expect_fail 65 'noS\.h5.*/S' $RCAV "$TMP/noS.h5" "${B[@]}" -o "$TMP/bad.h5"
expect_fail 65 'head-c\.h5.*C=8' $RCAV "$TMP/p.h5" "$TMP/te.h5" "$TMP/head-c.h5" "$TMP/tr.h5" -o "$TMP/bad.h5"
expect_fail 65 'te\.h5.*head-k2\.h5' $RCAV "$TMP/p.h5" "$TMP/te.h5" "$TMP/head-k2.h5" "$TMP/tr.h5" -o "$TMP/bad.h5"
expect_fail 65 'te\.h5: class 3 .* no image' $RCAV "$TMP/p.h5" "$TMP/te.h5" "$TMP/head-k4.h5" "$TMP/tr.h5" -o "$TMP/bad.h5"
expect_fail 65 'nolabels\.h5.*/labels' $RCAV "$TMP/p.h5" "$TMP/nolabels.h5" "$TMP/head.h5" "$TMP/tr.h5" -o "$TMP/bad.h5"
expect_fail 65 'mc-concepts\.h5 has 48 channels' $RCAV "${IN[@]:0:3}" "$TMP/mc-concepts.h5" -o "$TMP/bad.h5"
expect_fail 65 "head\\.h5: format is 'eddp-head', expected 'eddp-features'" $RCAV "$TMP/p.h5" "$TMP/head.h5" "$TMP/head.h5" "$TMP/tr.h5" -o "$TMP/bad.h5"
echo "not hdf5" >"$TMP/text.h5"
expect_fail 65 'text\.h5: not an HDF5 file' $RCAV "$TMP/text.h5" "${B[@]}" -o "$TMP/bad.h5"
expect_fail 66 'missing\.h5: cannot open' $RCAV "$TMP/missing.h5" "${B[@]}" -o "$TMP/bad.h5"
expect_fail 64 '--alpha' $RCAV --alpha 0 "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 '--alpha' $RCAV --alpha -1 "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 '--alpha' $RCAV --alpha nan "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 '--noise' $RCAV --noise 0 "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 '--level' $RCAV --level 0 "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 "--shard '2/2'" $RCAV --shard 2/2 "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 "--shard 'x'" $RCAV --shard x "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 '--shard 4/5: .*p\.h5 has only 3 detectors' $RCAV --shard 4/5 "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 'S3 needs both' $RCAV --labels "$TMP/pe.h5" "${IN[@]}" -o "$TMP/bad.h5"
expect_fail 64 'expected DIRECTIONS EVAL HEAD CONCEPTS' $RCAV "$TMP/p.h5" -o "$TMP/bad.h5"
expect_fail 64 'no output' $RCAV "${IN[@]}"
expect_fail 73 'nowhere' $RCAV "${FAST[@]}" "${IN[@]}" -o "$TMP/nowhere/r.h5"
expect_fail 73 'r\.h5' $RCAV "${FAST[@]}" "${IN[@]}" -o "$TMP/r.h5"
check "--help" bash -c "$RCAV --help | grep -q -- --shard"
finish
