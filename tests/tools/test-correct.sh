# test-correct.sh — Eq. 18 on synthetic features with Pattern-CAV detectors
# (pcav writes directions with signal vectors): the corrected values against
# a NumPy reference, the three directions and their lengths, the detector by
# iou-label's label, the copied annotations, trainhead --eval on the output,
# and the failure modes. Run from the repository root.
source tests/tools/lib.sh

CR=bin/correct
bin/synthgen --seed 3 --per-class 60 -o "$TMP/f.h5" && bin/pcav "$TMP/f.h5" -o "$TMP/p.h5" &&
    bin/iou-label --table none "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/e.h5" >/dev/null &&
    bin/trainhead --epochs 300 "$TMP/f.h5" -o "$TMP/head.h5" || { fail "make the inputs"; finish; }

desc "signal direction of detector 0, k = 2"
expect_ok $CR --detector 0 --strength 2 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/c.h5"
expect_ok $CR --detector 0 --strength 2 --no-relu "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/c-norelu.h5"
expect_ok $CR --detector 2 --strength 40 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/c-strong.h5"
expect_ok $CR --detector 2 --strength 40 --threads 1 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/c-strong1.h5"
expect_ok $CR --detector 2 --strength 40 --direction filter "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/c-filter.h5"
expect_ok $CR --detector 2 --strength 40 --direction random --seed 5 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/r0.h5"
expect_ok $CR --detector 2 --strength 40 --direction random --seed 5 --trial 1 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/r1.h5"
expect_ok $CR --detector 2 --strength 40 --direction random --seed 5 --trial 0 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/r0b.h5"
check "x' = ReLU(x - m k v), m = sigmoid(w.x - b), v = s / (w.s); directions of equal length" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f, p = h5py.File(t + "/f.h5", "r"), h5py.File(t + "/p.h5", "r")
u, M, th, ctr, S = (p[k][:] for k in ("unit", "margin", "threshold", "center", "S"))
W = u / M[:, None]; b = (th + u @ ctr) / M
x = f["features"][:].astype(np.float64).transpose(0, 2, 3, 1)          # [N, H, W, C]
def expect(i, k, v, relu=True):
    m = 1 / (1 + np.exp(-(x @ W[i] - b[i])))
    y = x - k * m[..., None] * v
    return (np.maximum(y, 0) if relu else y).transpose(0, 3, 1, 2), m
def sig(i):
    return S[i] / (W[i] @ S[i])
def close(name, want, m=None):
    g = h5py.File(f"{t}/{name}", "r")
    got = g["features"][:]
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.allclose(got, want, rtol=1e-5, atol=1e-5), (name, np.abs(got - want).max())
    if m is not None:
        assert np.allclose(g["correction/mask"][:], m, atol=1e-6), name
    return g
want, m = expect(0, 2, sig(0))
g = close("c.h5", want, m)
assert g.attrs["format"] == "eddp-features" and g.attrs["correction_direction"] == "signal"
assert g.attrs["correction_detector"] == 0 and g.attrs["correction_strength"] == 2 and g.attrs["correction_relu"] == 1
assert np.allclose(g["correction/vector"][:], sig(0), rtol=1e-12)
assert np.isclose(g.attrs["mask_mean"], m.mean(), rtol=1e-6) and np.isclose(g.attrs["masked_fraction"], (m > 0.5).mean())
assert g.attrs["inputs"].startswith(t + "/f.h5\t") and "p.h5\t" in g.attrs["inputs"]
for k in ("labels", "class_names"):
    assert np.array_equal(g[k][:], f[k][:]), k
assert np.array_equal(g["concepts/concept"][:], f["concepts/concept"][:])
assert list(g["concepts/concept"].attrs["names"]) == list(f["concepts/concept"].attrs["names"])
close("c-norelu.h5", expect(0, 2, sig(0), relu=False)[0])
strong = expect(2, 40, sig(2))[0]
assert np.any(strong == 0) and not np.any(f["features"][:] == 0), "k = 40 makes the ReLU clamp"
close("c-strong.h5", strong)
assert np.array_equal(h5py.File(t + "/c-strong.h5", "r")["features"][:], h5py.File(t + "/c-strong1.h5", "r")["features"][:])
L = np.linalg.norm(sig(2))
fil = close("c-filter.h5", expect(2, 40, W[2] / np.linalg.norm(W[2]) * L)[0])
assert np.isclose(fil.attrs["correction_length"], 40 * L)
vs = []
for name in ("r0.h5", "r1.h5", "r0b.h5"):
    g = h5py.File(f"{t}/{name}", "r")
    v = g["correction/vector"][:]
    assert np.isclose(np.linalg.norm(v), L, rtol=1e-12), name
    close(name, expect(2, 40, v)[0])
    vs.append(v)
assert np.array_equal(vs[0], vs[2]) and not np.allclose(vs[0], vs[1]), "trial 0 reproducible, trial 1 another"
EOF

desc "the detector iou-label labelled concept1"
expect_ok $CR --concept concept1 --labels "$TMP/e.h5" --strength 3 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/cc.h5"
check "--concept picks the detector with that label" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
e, g = h5py.File(t + "/e.h5", "r"), h5py.File(t + "/cc.h5", "r")
names = [n.decode() for n in e["concept_names"][:]]
i = int(np.flatnonzero(e["label"][:] == names.index("concept1"))[0])
assert g.attrs["correction_detector"] == i and g.attrs["correction_concept"] == "concept1"
assert np.isclose(g.attrs["correction_concept_iou"], e["label_iou_val"][i])
EOF
check "an evaluation where no detector is labelled concept1" py <<'EOF'
import h5py, numpy as np, shutil, sys
t = sys.argv[1]
shutil.copy(t + "/e.h5", t + "/e0.h5")
with h5py.File(t + "/e0.h5", "r+") as e:
    e["label"][...] = 0
EOF
desc "--concept without a detector labelled so takes the highest training IoU"
expect_ok $CR --concept concept1 --labels "$TMP/e0.h5" --strength 3 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/c0.h5"
check "... the detector of highest /iou/train with concept1, its /iou/val" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
e, g = h5py.File(t + "/e0.h5", "r"), h5py.File(t + "/c0.h5", "r")
names = [n.decode() for n in e["concept_names"][:]]
c = names.index("concept1")
i = int(np.argmax(e["iou/train"][:, c]))
assert g.attrs["correction_detector"] == i, (g.attrs["correction_detector"], i)
assert np.isclose(g.attrs["correction_concept_iou"], e["iou/val"][i, c])
EOF
check "trainhead --eval scores the corrected features" bash -c \
    "bin/trainhead --eval '$TMP/head.h5' '$TMP/c-strong.h5' | grep -q '^accuracy'"

# ------------------------------------------------------------ failures
check "make the bad inputs" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
with h5py.File(t + "/p.h5", "r") as p, h5py.File(t + "/nos.h5", "w") as q:
    for k in p.attrs:
        q.attrs[k] = p.attrs[k]
    q.attrs["step"] = "a"
    for k in ("W", "b", "unit", "margin", "threshold", "center"):
        q[k] = p[k][:]
    r = h5py.File(t + "/anti.h5", "w")
    for k in p.attrs:
        r.attrs[k] = p.attrs[k]
    for k in ("W", "b", "unit", "margin", "threshold", "center"):
        r[k] = p[k][:]
    r["S"] = -p["S"][:]
    r.close()
with h5py.File(t + "/f8.h5", "w") as f:
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    f["features"] = np.ones((2, 8, 2, 2), np.float32)
EOF
O="$TMP/out.h5"
expect_fail 64 "--detector 3: .*p\.h5 has 3 detectors \(0\.\.2\)" $CR --detector 3 "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--strength: expected a number k > 0, got '0'" $CR --detector 0 --strength 0 "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--strength: expected a number k > 0, got '-450'" $CR --detector 0 --strength -450 "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--strength: expected a number k > 0, got 'nan'" $CR --detector 0 --strength nan "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 65 "p\.h5: directions have D=16 but .*f8\.h5 has C=8 channels" $CR --detector 0 "$TMP/p.h5" "$TMP/f8.h5" -o "$O"
expect_fail 65 "nos\.h5: no signal vectors '/S' \(a step-a file\)" $CR --detector 0 "$TMP/nos.h5" "$TMP/f.h5" -o "$O"
expect_fail 65 "anti\.h5: detector 1: the signal vector does not raise its detector's logit" $CR --detector 1 "$TMP/anti.h5" "$TMP/f.h5" -o "$O"
expect_fail 65 "e\.h5 was not made from .*anti\.h5 \(its 'inputs' do not list a file with that content\)" \
    $CR --concept concept1 --labels "$TMP/e.h5" "$TMP/anti.h5" "$TMP/f.h5" -o "$O"
expect_fail 65 "e\.h5: no concept 'watermark' among its 3 concept names" $CR --concept watermark --labels "$TMP/e.h5" "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 65 "f\.h5: format is 'eddp-features', expected 'eddp-evaluation'" $CR --concept concept1 --labels "$TMP/f.h5" "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "give the detector: --detector I or --concept NAME" $CR "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "give the detector" $CR --detector 0 --concept concept1 --labels "$TMP/e.h5" "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--concept needs --labels EVAL" $CR --concept concept1 "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--trial applies to --direction random only" $CR --detector 0 --trial 2 "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "--direction: expected signal, filter or random, got 'up'" $CR --detector 0 --direction up "$TMP/p.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 "expected DIRECTIONS FEATURES" $CR --detector 0 "$TMP/p.h5" -o "$O"
expect_fail 66 "missing\.h5: cannot open" $CR --detector 0 "$TMP/p.h5" "$TMP/missing.h5" -o "$O"
expect_fail 73 "c\.h5: output exists; use --overwrite to replace it" $CR --detector 0 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/c.h5"
expect_fail 73 "no/such/dir/c\.h5: cannot create output" $CR --detector 0 "$TMP/p.h5" "$TMP/f.h5" -o "$TMP/no/such/dir/c.h5"
check "correct --help and --version" bash -c "$CR --help | grep -q 'usage: correct' && $CR --version | grep -q 'correct (eddp-toolkit)'"
finish
