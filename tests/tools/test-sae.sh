# test-sae.sh — the sparse-autoencoder baseline on real generated data: the
# directions contract (decoder columns → /S, encoder rows and thresholds →
# /W, /b), the reported loss against a NumPy forward pass, the L1 weight,
# determinism, and the failure modes. Run from the repository root.
source tests/tools/lib.sh

SG=bin/synthgen SAE=bin/sae
$SG --seed 3 --per-class 60 -o "$TMP/f.h5" || { fail "synthgen makes the input"; finish; }

desc "sae, hidden units from /concepts (3)"
expect_ok $SAE --seed 1 --epochs 300 --lr 1e-2 "$TMP/f.h5" -o "$TMP/s.h5"
check "contract: /S = decoder columns, /W = encoder rows, /b = W_e b_d - b_e; geometry consistent" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/s.h5", "r")
assert f.attrs["format"] == "eddp-directions" and f.attrs["step"] == "sae" and f.attrs["tool"] == "sae"
assert f.attrs["hidden"] == 3 and f.attrs["lambda"] == 0 and f.attrs["epochs"] == 300 and f.attrs["batch"] == 1024
We, be, Wd, bd = (f["sae/" + k][:] for k in ("encoder_weight", "encoder_bias", "decoder_weight", "decoder_bias"))
assert We.shape == (3, 16) and be.shape == (3,) and Wd.shape == (16, 3) and bd.shape == (16,)
assert f["sae/lambda"][()] == 0 and f["sae/lambda"].shape == ()
assert np.allclose(np.linalg.norm(Wd, axis=0), 1, atol=1e-12)            # unit decoder columns
assert np.array_equal(f["S"][:], Wd.T)
W, b, u, M, thr, c = (f[k][:] for k in ("W", "b", "unit", "margin", "threshold", "center"))
assert np.array_equal(W, We) and np.allclose(b, We @ bd - be, rtol=1e-13, atol=1e-12)
assert np.allclose(W, u / M[:, None], rtol=1e-13) and np.allclose(M * b - u @ c, thr, atol=1e-12)
x = h5py.File(t + "/f.h5", "r")["features"][:].astype(np.float64).transpose(0, 2, 3, 1).reshape(-1, 16)
assert np.allclose(c, x.mean(0), rtol=1e-12)
EOF
check "f_i > 0 exactly where W x - b > 0; final loss = NumPy forward pass; history falls" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/s.h5", "r")
We, be, Wd, bd = (f["sae/" + k][:] for k in ("encoder_weight", "encoder_bias", "decoder_weight", "decoder_bias"))
x = h5py.File(t + "/f.h5", "r")["features"][:].astype(np.float64).transpose(0, 2, 3, 1).reshape(-1, 16)
pre = (x - bd) @ We.T + be
a = x @ f["W"][:].T - f["b"][:]
assert np.allclose(a, pre, atol=1e-9), np.abs(a - pre).max()
clear = np.abs(pre) > 1e-9
assert np.array_equal((a > 0)[clear], (pre > 0)[clear]) and 0 < (pre > 0).mean() < 1
code = np.maximum(pre, 0)
mse = np.mean(np.sum((code @ Wd.T + bd - x) ** 2, axis=1))
l1 = np.mean(np.sum(code, axis=1))
assert np.isclose(f.attrs["final_mse"], mse, rtol=1e-10) and np.isclose(f.attrs["final_l1"], l1, rtol=1e-10)
assert np.isclose(f.attrs["final_loss"], mse, rtol=1e-10)
h = f["history/loss"][:]
assert h.shape == (300,) and f["history/mse"].shape == (300,) and f["history/l1"].shape == (300,)
assert h[-1] < 0.5 * h[0], (h[0], h[-1])
EOF

desc "--lambda 0.1"
expect_ok $SAE --seed 1 --epochs 300 --lr 1e-2 --lambda 0.1 "$TMP/f.h5" -o "$TMP/s-l1.h5"
check "the L1 weight buys sparser codes; loss = mse + lambda l1" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a, b = h5py.File(t + "/s.h5", "r").attrs, h5py.File(t + "/s-l1.h5", "r").attrs
assert b["final_l1"] < 0.7 * a["final_l1"], (a["final_l1"], b["final_l1"])
assert np.isclose(b["final_loss"], b["final_mse"] + 0.1 * b["final_l1"], rtol=1e-12)
assert h5py.File(t + "/s-l1.h5", "r")["sae/lambda"][()] == 0.1
EOF
expect_ok $SAE --seed 1 --epochs 300 --lr 1e-2 "$TMP/f.h5" -o "$TMP/s-again.h5"
check "same seed, same result" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a, b = h5py.File(t + "/s.h5", "r"), h5py.File(t + "/s-again.h5", "r")
for k in ("W", "b", "S", "unit", "threshold", "sae/encoder_weight", "sae/decoder_bias", "history/loss"):
    assert np.array_equal(a[k][:], b[k][:]), k
EOF
desc "--hidden 16 --batch 100"
expect_ok $SAE --seed 2 --epochs 20 --hidden 16 --batch 100 "$TMP/f.h5" -o "$TMP/s16.h5"
check "--hidden 16: 16 directions" py <<'EOF'
import h5py, sys
f = h5py.File(sys.argv[1] + "/s16.h5", "r")
assert f["W"].shape == (16, 16) and f["S"].shape == (16, 16) and f["sae/decoder_weight"].shape == (16, 16)
assert f.attrs["hidden"] == 16 and f.attrs["batch"] == 100
EOF
desc "iou-label reads an sae file (the directions contract)"
expect_ok bin/iou-label --table none "$TMP/s.h5" "$TMP/f.h5" -o "$TMP/se.h5"

check "make the bad inputs" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
x = h5py.File(t + "/f.h5", "r")["features"][:20]
with h5py.File(t + "/noconcepts.h5", "w") as f:
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    f["features"] = x
x[7, 3, 0, 1] = np.inf
with h5py.File(t + "/inf.h5", "w") as f:
    f.attrs["format"] = "eddp-features"; f.attrs["format_version"] = 1
    f["features"] = x
EOF
O="$TMP/out.h5"
expect_fail 64 "noconcepts\.h5 has no '/concepts' to count concepts from: give --hidden M" $SAE --epochs 2 "$TMP/noconcepts.h5" -o "$O"
desc "--hidden makes /concepts unnecessary"
expect_ok $SAE --epochs 2 --hidden 2 "$TMP/noconcepts.h5" -o "$TMP/nc.h5"
expect_fail 65 "inf\.h5: dataset '/features' holds Inf at image 7" $SAE --epochs 2 --hidden 2 "$TMP/inf.h5" -o "$O"
expect_fail 64 "--hidden: expected an integer in \[1, " $SAE --hidden 0 "$TMP/f.h5" -o "$O"
expect_fail 64 "--lambda: expected a number in \[0, " $SAE --lambda -1 "$TMP/f.h5" -o "$O"
expect_fail 64 "--epochs: expected an integer in \[1, " $SAE --epochs 0 "$TMP/f.h5" -o "$O"
expect_fail 64 "--batch: expected an integer in \[1, " $SAE --batch 0 "$TMP/f.h5" -o "$O"
expect_fail 64 "--lr: expected a number" $SAE --lr 0 "$TMP/f.h5" -o "$O"
expect_fail 64 "expected one FEATURES file" $SAE -o "$O"
expect_fail 66 "missing\.h5: cannot open" $SAE "$TMP/missing.h5" -o "$O"
expect_fail 73 "no/such/dir/s\.h5: cannot create output" $SAE --epochs 2 "$TMP/f.h5" -o "$TMP/no/such/dir/s.h5"
expect_fail 73 "s\.h5: output exists; use --overwrite to replace it" $SAE --epochs 2 "$TMP/f.h5" -o "$TMP/s.h5"
check "sae --help and --version" bash -c "$SAE --help | grep -q 'usage: sae' && $SAE --version | grep -q 'sae (eddp-toolkit)'"
finish
