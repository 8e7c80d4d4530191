# test-learn.sh — uibe and eddp on real generated data: outputs, the exact
# step (a) → raw conversion, diagnostics, determinism, checkpoints and
# resumption, and every failure mode of direction learning.
source tests/tools/lib.sh

SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe EDDP=bin/eddp
$SG --seed 3 --per-class 60 -o "$TMP/f.h5" && $TH --seed 3 --epochs 100 "$TMP/f.h5" -o "$TMP/h.h5" ||
    { fail "synthgen and trainhead make the inputs"; finish; }

A=(--threads 1 --seed 3 --detectors 3 --epochs 40 --batch 32 --lr 1e-3 --objective constrained
   --weight s=2.6 --weight uur=0.25 --bound ma=0.8 --bound mm=8 --bound ic=0.1 --al-every 5)
D=(--threads 1 --seed 3 --epochs 30 --batch 32 --lr 1e-3 --objective constrained --weight s=0.85
   --weight sb=2.6 --weight cur=0.25 --bound ma=0.8 --bound mm=8 --bound ic=0.1 --bound eac=0.1
   --bound fso=0.1 --al-every 5)

desc "uibe: step (a)"
expect_ok $UIBE "${A[@]}" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a.h5"
check "step (a) output: datasets, history, exact raw conversion (1e-6)" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/a.h5", "r")
assert f.attrs["format"] == "eddp-directions" and f.attrs["step"] == "a"
W, b, u, M, thr, c = (f[k][:] for k in ("W", "b", "unit", "margin", "threshold", "center"))
assert W.shape == (3, 16) and b.shape == (3,) and np.allclose(np.linalg.norm(u, axis=1), 1)
assert np.allclose(W, u / M[:, None]) and np.allclose(M * b - u @ c, thr)
for k in ("objective", "L_s", "L_ma", "L_mm", "L_ic", "L_uur", "multiplier_ma", "penalty", "lr"):
    assert f["history/" + k].shape == (40,), k
assert f["history/margin"].shape == (40, 3)
x = h5py.File(t + "/f.h5", "r")["features"][:].transpose(0, 2, 3, 1).reshape(-1, 16).astype(np.float64)
mu, sd, Wt = f["standardised/mean"][:], f["standardised/std"][:], f["standardised/filters"][:]
Ms, ts = f["standardised"].attrs["margin"], f["standardised"].attrs["threshold"]
assert np.allclose(Wt @ Wt.T, np.eye(3), atol=1e-10)                 # orthonormal
std_logits = (((x - mu) / sd) @ Wt.T - ts) / Ms
raw_logits = x @ W.T - b
err = np.abs(1 / (1 + np.exp(-std_logits)) - 1 / (1 + np.exp(-raw_logits))).max()
assert err <= 1e-6, err
EOF
check "uibe --diagnose prints every term as TSV" bash -c "
    $UIBE ${A[*]} --diagnose '$TMP/a.h5' '$TMP/f.h5' '$TMP/h.h5' > '$TMP/diag.tsv' &&
    head -1 '$TMP/diag.tsv' | grep -qx \$'term\tvalue\tbound\tsatisfied' &&
    [[ \$(cut -f1 '$TMP/diag.tsv' | tail -n +2 | tr '\n' ' ') == 'L_s L_ma L_mm L_ic L_uur ' ]]"

desc "uibe: CBE (L^cnn)"
expect_ok $UIBE "${A[@]}" --losses s,ma,mm,ic,cnn --weight cnn=0.25 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/cbe.h5"
check "CBE history has L_cnn" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/cbe.h5", "r")
assert f["history/L_cnn"].shape == (40,) and np.all(np.isfinite(f["history/L_cnn"][:]))
EOF
expect_fail 64 "--losses: 'cnn' is not a loss of this step" $EDDP --step d "${D[@]}" --losses s,cnn "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/out.h5"

desc "eddp: step (c)"
expect_ok $EDDP --step c "$TMP/a.h5" "$TMP/f.h5" -o "$TMP/c.h5"
check "step (c): Eq. 1 gives ū_iᵀŝ_i = 1" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/c.h5", "r")
assert f.attrs["step"] == "c" and f["S"].shape == (3, 16)
assert np.allclose(np.sum(f["unit"][:] * f["S"][:], axis=1), 1, atol=1e-8)
EOF
desc "eddp: step (d)"
expect_ok $EDDP --step d "${D[@]}" "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d.h5"
check "step (d): unit signal vectors, every term in the history" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/d.h5", "r")
assert f.attrs["step"] == "d" and np.allclose(np.linalg.norm(f["S"][:], axis=1), 1)
for k in ("L_s", "L_sb", "L_ma", "L_mm", "L_ic", "L_eac", "L_cur", "L_fso", "ura_condition"):
    assert f["history/" + k].shape == (30,), k
EOF
check "eddp --diagnose prints the step (d) terms" bash -c "
    $EDDP --step d ${D[*]} --diagnose '$TMP/d.h5' '$TMP/f.h5' '$TMP/h.h5' | cut -f1 | tail -n +2 | tr '\n' ' ' |
    grep -qx 'L_s L_sb L_ma L_mm L_ic L_eac L_cur L_fso '"
desc "eddp --step d --signals fixed"
expect_ok $EDDP --step d "${D[@]}" --signals fixed "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d-fixed.h5"
check "--signals fixed: /S is the input's, in unit rows; the detectors train; learned is the default" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
c, fixed, learned = (h5py.File(f"{t}/{n}.h5", "r") for n in ("c", "d-fixed", "d"))
S = c["S"][:] / np.linalg.norm(c["S"][:], axis=1, keepdims=True)
assert fixed.attrs["signals"] == "fixed" and learned.attrs["signals"] == "learned"
assert np.abs(fixed["S"][:] - S).max() < 1e-15 and np.abs(learned["S"][:] - S).max() > 1e-6
assert np.abs(fixed["W"][:] - c["W"][:]).max() > 1e-6 and np.isfinite(fixed["history/L_fso"][:]).all()
EOF
expect_fail 64 "--signals: only step d has signal vectors" $EDDP --step b "${D[@]}" --signals fixed "$TMP/a.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/out.h5"
expect_fail 64 "--signals: expected learned or fixed, got .held." $EDDP --step d "${D[@]}" --signals held "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/out.h5"
desc "eddp --step d --space raw"
expect_ok $EDDP --step d "${D[@]}" --space raw "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d-raw.h5"

desc "same seed and threads, same result"
expect_ok $UIBE "${A[@]}" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a2.h5"
SAME=tests/tools/same-datasets.py
check "uibe is deterministic" /usr/bin/python3 "$SAME" "$TMP/a.h5" "$TMP/a2.h5"

# ------------------------------------------------------- checkpoints
# Checkpoints go to their own folder so that the output folder stays clean.
mkdir -p "$TMP/ck" "$TMP/run"
desc "a signal stops uibe after writing a checkpoint (exit 75)"
EDDP_TEST_STOP_AT_EPOCH=17 expect_fail 75 'stopped by a signal after epoch 17; checkpoint .*ck/r\.ckpt' \
    $UIBE "${A[@]}" --checkpoint-every 10 --checkpoint "$TMP/ck/r.ckpt" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/r.h5"
check "the checkpoint is there" test -f "$TMP/ck/r.ckpt"
desc "--resume finishes the run"
expect_ok $UIBE "${A[@]}" --checkpoint-every 10 --checkpoint "$TMP/ck/r.ckpt" --resume "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/r.h5"
check "a resumed uibe run is bit-identical to an uninterrupted one" /usr/bin/python3 "$SAME" "$TMP/a.h5" "$TMP/run/r.h5"
check "the finished run removed its checkpoint" test ! -e "$TMP/ck/r.ckpt"
EDDP_TEST_STOP_AT_EPOCH=9 $EDDP --step d "${D[@]}" "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/rd.h5" 2>/dev/null
$EDDP --step d "${D[@]}" --resume "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/rd.h5"
check "a resumed eddp step (d) is bit-identical too" /usr/bin/python3 "$SAME" "$TMP/d.h5" "$TMP/rd.h5"
desc "a signal in the last epoch lets the run finish"
EDDP_TEST_STOP_AT_EPOCH=40 expect_ok $UIBE "${A[@]}" --checkpoint "$TMP/ck/last.ckpt" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/last.h5"
check "... with the same result as an uninterrupted run" /usr/bin/python3 "$SAME" "$TMP/a.h5" "$TMP/run/last.h5"
EDDP_TEST_STOP_AT_EPOCH=30 $UIBE "${A[@]}" --checkpoint "$TMP/ck/short.ckpt" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/short.h5" 2>/dev/null
desc "resuming with fewer --epochs than the checkpoint holds is refused"
expect_fail 64 'short\.ckpt: the checkpoint is at epoch 30, past --epochs 20' \
    $UIBE "${A[@]}" --epochs 20 --resume --checkpoint "$TMP/ck/short.ckpt" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/short.h5"
desc "a checkpoint of other settings is refused"
EDDP_TEST_STOP_AT_EPOCH=5 $UIBE "${A[@]}" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/o.h5" 2>/dev/null
expect_fail 65 'o\.h5\.ckpt: checkpoint of a run with other settings' \
    $UIBE "${A[@]}" --lr 2e-3 --resume "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/o.h5"

desc "NaN during training: exit 70 naming the epoch, last checkpoint kept"
EDDP_TEST_NAN_AT_EPOCH=12 expect_fail 70 'epoch 13, batch 0: the parameters became NaN/Inf' \
    $UIBE "${A[@]}" --checkpoint-every 10 --checkpoint "$TMP/ck/n.ckpt" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/n.h5"
check "the last good checkpoint (epoch 10) is kept" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/ck/n.ckpt", "r")
assert f["scalars"][0] == 10 and np.all(np.isfinite(f["params"][:]))
EOF

# ------------------------------------------------------- failure modes
check "make the bad inputs" py <<'EOF'
import h5py, numpy as np, sys, shutil
t = sys.argv[1]
with h5py.File(t + "/h17.h5", "w") as f:
    f.attrs["format"] = "eddp-head"; f.attrs["format_version"] = 1
    f["weight"] = np.zeros((3, 17), np.float32); f["bias"] = np.zeros(3, np.float32)
shutil.copy(t + "/c.h5", t + "/same-s.h5")
with h5py.File(t + "/same-s.h5", "r+") as f:
    S = f["S"][:]; S[1] = S[0]; S[2] = S[0]; f["S"][:] = S          # W Sᵀ has rank 1
shutil.copy(t + "/c.h5", t + "/dead.h5")
with h5py.File(t + "/dead.h5", "r+") as f:
    f["threshold"][1] = 1e6                                          # detector 1 never fires
shutil.copy(t + "/dead.h5", t + "/dead-no-s.h5")
with h5py.File(t + "/dead-no-s.h5", "r+") as f:
    del f["S"]                                                       # step (a)'s kind: no previous S
shutil.copy(t + "/a.h5", t + "/no-s.h5")
shutil.copy(t + "/c.h5", t + "/nan-w.h5")
with h5py.File(t + "/nan-w.h5", "r+") as f:
    f["unit"][0, 0] = np.nan
with h5py.File(t + "/many.h5", "w") as f:                            # 20 detectors in 16 dims
    a = h5py.File(t + "/a.h5", "r")
    for k, v in a.attrs.items(): f.attrs[k] = v
    rng = np.random.default_rng(0)
    u = rng.standard_normal((20, 16)); u /= np.linalg.norm(u, axis=1, keepdims=True)
    f["unit"] = u; f["margin"] = np.ones(20); f["threshold"] = np.zeros(20); f["center"] = a["center"][:]
    f["W"] = u; f["b"] = u @ a["center"][:]
EOF
O="$TMP/out.h5"
expect_fail 65 "h17\.h5: head '/weight' has C=17 channels but .*f\.h5 has C=16" $UIBE "${A[@]}" "$TMP/f.h5" "$TMP/h17.h5" -o "$O"
expect_fail 65 "h17\.h5: head '/weight' has C=17 channels" $EDDP --step d "${D[@]}" "$TMP/c.h5" "$TMP/f.h5" "$TMP/h17.h5" -o "$O"
expect_fail 64 'detectors 17 exceeds the 16 channels' $UIBE "${A[@]}" --detectors 17 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 65 'L\^cur: .*singular' $EDDP --step d "${D[@]}" "$TMP/same-s.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 65 'detector 1 has fewer than 2 positive pixels .*f\.h5: no signal vector' \
    $EDDP --step c "$TMP/dead-no-s.h5" "$TMP/f.h5" -o "$O"
desc "a dead detector keeps the input's signal vector (eq1 and ica)"
expect_ok $EDDP --step c "$TMP/dead.h5" "$TMP/f.h5" -o "$TMP/dead-eq1.h5"
expect_ok $EDDP --step c --estimator ica "$TMP/dead.h5" "$TMP/f.h5" -o "$TMP/dead-ica.h5"
$EDDP --step c "$TMP/dead.h5" "$TMP/f.h5" -o "$TMP/dead-eq1b.h5" 2>"$TMP/dead.err"
check "the kept detector is named on stderr" grep -q "detector 1 has fewer than 2 positive pixels .* keeps its signal vector" "$TMP/dead.err"
check "/dead_detectors lists it; its S row is the input's, the others are estimated" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
prev = h5py.File(t + "/dead.h5", "r")["S"][:]              # Eq. 1 on the same detectors (c.h5's)
for name in ("dead-eq1.h5", "dead-ica.h5"):
    f = h5py.File(t + "/" + name, "r")
    assert list(f["dead_detectors"][:]) == [1], (name, f["dead_detectors"][:])
    S = f["S"][:]
    assert np.array_equal(S[1], prev[1]) and np.all(np.isfinite(S)), name
ica = h5py.File(t + "/dead-ica.h5", "r")["S"][:]
assert not np.array_equal(ica[0], prev[0]) and not np.array_equal(ica[2], prev[2]), "ica estimates the others"
assert "dead_detectors" not in h5py.File(t + "/c.h5", "r")
EOF
expect_fail 65 "no-s\.h5: no signal vectors '/S'; run eddp --step c first" $EDDP --step d "${D[@]}" "$TMP/no-s.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 65 "nan-w\.h5: dataset '/unit' holds NaN" $EDDP --step c "$TMP/nan-w.h5" "$TMP/f.h5" -o "$O"
desc "I > D: step (b) handles it by the SVD pseudo-inverse"
expect_ok $EDDP --step b --threads 1 --epochs 3 --batch 32 --space raw "$TMP/many.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/many-b.h5"
check "I > D: G's condition is logged" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/many-b.h5", "r")
assert f["W"].shape == (20, 16) and np.all(np.isfinite(f["history/ura_condition"][:]))
EOF
expect_fail 64 "--losses: unknown loss term 'xyz'" $UIBE "${A[@]}" --losses s,xyz "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--losses: 'cur' is not a loss of this step" $UIBE "${A[@]}" --losses s,cur "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--bound eac=...: the term is not in --losses" $UIBE "${A[@]}" --bound eac=0.1 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "give the number of detectors" $UIBE --epochs 1 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "give the step with --step" $EDDP "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 65 "a\.h5: format is 'eddp-directions', expected 'eddp-features'" $UIBE "${A[@]}" "$TMP/a.h5" "$TMP/h.h5" -o "$O"
finish
