# test-coverage.sh — the coverage variants of L^ic (uibe/eddp --coverage,
# --tau-schedule) and step (a)'s hand-over report (/history/overlap,
# /history/coverage): outputs, attributes, the overlap against a direct
# recount, a resumed scheduled run, and the failure paths.
source tests/tools/lib.sh

SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe EDDP=bin/eddp
$SG --seed 4 --per-class 60 -o "$TMP/f.h5" && $TH --seed 4 --epochs 100 "$TMP/f.h5" -o "$TMP/h.h5" ||
    { fail "synthgen and trainhead make the inputs"; finish; }
A=(--threads 1 --seed 4 --detectors 3 --epochs 30 --batch 32 --lr 1e-3 --objective constrained
   --weight s=2.6 --weight uur=0.25 --bound ma=0.8 --bound mm=8 --bound ic=0.01 --al-every 5)
D=(--threads 1 --seed 4 --epochs 20 --batch 32 --lr 1e-3 --objective constrained --weight s=0.85
   --weight sb=2.6 --weight cur=0.25 --bound ma=0.8 --bound mm=8 --bound ic=0.01 --bound eac=0.1
   --bound fso=0.1 --al-every 5)
SAME=tests/tools/same-datasets.py
O="$TMP/out.h5"

desc "uibe --coverage per-detector"
$UIBE "${A[@]}" --coverage per-detector "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/pd.h5" 2>"$TMP/pd.err"
check "uibe names the detectors' coverage and largest overlap on stderr" bash -c "
    grep -Eq '^uibe: coverage \(share of pixels each detector fires on\):( [01]\.[0-9]{3}){3}\$' '$TMP/pd.err' &&
    grep -Eq '^uibe: (largest overlap: detectors [0-9] and [0-9], IoU [01]\.[0-9]{3}|no two detectors)' '$TMP/pd.err'"
check "coverage attribute; /history/overlap and /history/coverage equal a direct recount" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/pd.h5", "r")
assert f.attrs["coverage"] == "per-detector", f.attrs["coverage"]
W, b = f["W"][:], f["b"][:]
x = h5py.File(t + "/f.h5", "r")["features"][:].transpose(0, 2, 3, 1).reshape(-1, 16).astype(np.float64)
fire = (x @ W.T - b) > 0
cov, ov = f["history/coverage"][:], f["history/overlap"][:]
assert cov.shape == (3,) and ov.shape == (3, 3)
assert np.allclose(cov, fire.mean(axis=0), atol=1e-12), (cov, fire.mean(axis=0))
for i in range(3):
    for j in range(3):
        u = np.sum(fire[:, i] | fire[:, j])
        want = np.sum(fire[:, i] & fire[:, j]) / u if u else 0.0
        assert abs(ov[i, j] - want) < 1e-12, (i, j, ov[i, j], want)
EOF
desc "uibe --quiet"
$UIBE "${A[@]}" --quiet --coverage per-detector "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/pdq.h5" 2>"$TMP/pdq.err"
check "uibe --quiet says nothing on stderr" test ! -s "$TMP/pdq.err"

desc "uibe --coverage soft"
expect_ok $UIBE "${A[@]}" --quiet --coverage soft --tau 0.9 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/soft.h5"
check "soft: attribute and a finite L^ic history" py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/soft.h5", "r")
assert f.attrs["coverage"] == "soft" and f.attrs["tau"] == 0.9
lic = f["history/L_ic"][:]
assert lic.shape == (30,) and np.all(np.isfinite(lic)) and np.all(lic >= 0)
EOF
expect_ok $EDDP --step c "$TMP/soft.h5" "$TMP/f.h5" -o "$TMP/c.h5"
desc "eddp --step d --coverage soft"
expect_ok $EDDP --step d "${D[@]}" --quiet --coverage soft --tau 0.9 "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d.h5"

desc "uibe/eddp --coverage reward"
# A weighted term (no bound on L^ic); float64 and the cpu32 path.
R=(--threads 1 --seed 4 --detectors 3 --epochs 30 --batch 32 --lr 1e-3 --objective constrained
   --losses s,mm,ic,uur --weight s=2.6 --weight uur=0.25 --weight ic=2 --bound mm=8 --al-every 5)
expect_ok $UIBE "${R[@]}" --quiet --coverage reward "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/rw.h5"
expect_ok $UIBE "${R[@]}" --quiet --coverage reward --precision float32 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/rw32.h5"
check "reward: attribute, and L^ic = 1 - mean coverage in (0, 1) on both paths" py <<'EOF2'
import h5py, numpy as np, sys
for name in ("rw", "rw32"):
    f = h5py.File(sys.argv[1] + f"/{name}.h5", "r")
    assert f.attrs["coverage"] == "reward", f.attrs["coverage"]
    lic = f["history/L_ic"][:]
    assert lic.shape == (30,) and np.all((lic > 0) & (lic < 1)), (name, lic)
EOF2
expect_ok $EDDP --step c "$TMP/rw.h5" "$TMP/f.h5" -o "$TMP/rwc.h5"
expect_ok $EDDP --step d --threads 1 --seed 4 --epochs 20 --batch 32 --lr 1e-3 --objective constrained \
    --losses s,sb,mm,ic,eac,cur,fso --weight ic=2 --bound mm=8 --bound eac=0.1 --bound fso=0.1 --al-every 5 \
    --quiet --coverage reward "$TMP/rwc.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/rwd.h5"
expect_fail 64 "--coverage reward: L\^ic is then a weighted term" $UIBE "${A[@]}" --coverage reward "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--tau-schedule: --coverage reward does not use tau" $UIBE "${R[@]}" --coverage reward --tau-schedule 0.5:10 \
    "$TMP/f.h5" "$TMP/h.h5" -o "$O"

desc "uibe/eddp --coverage union"
# The share of pixels no detector claims: a weighted term or a bound on
# that share, on the float64 path; refused in float32 (exit 69).
expect_ok $UIBE "${R[@]}" --quiet --coverage union "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/un.h5"
check "union: attribute, and L^ic in (0, 1), the share no detector claims at the end" py <<'EOF2'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/un.h5", "r")
assert f.attrs["coverage"] == "union", f.attrs["coverage"]
lic = f["history/L_ic"][:]
assert lic.shape == (30,) and np.all((lic > 0) & (lic < 1)), lic
# E_p[prod_i (1 - y_pi)] recomputed from the file's detectors on the set
d = h5py.File(t + "/f.h5", "r")["features"][()]
x = d.transpose(0, 2, 3, 1).reshape(-1, d.shape[1])
W, b = f["W"][()], f["b"][()]
u = np.prod(1 - 1 / (1 + np.exp(-(x @ W.T - b))), axis=1).mean()
assert 0 < u < 1 and abs(u - lic[-1]) < 0.2, (u, lic[-1])
EOF2
expect_ok $EDDP --step c "$TMP/un.h5" "$TMP/f.h5" -o "$TMP/unc.h5"
expect_ok $EDDP --step d --threads 1 --seed 4 --epochs 20 --batch 32 --lr 1e-3 --objective constrained \
    --losses s,mm,ic,eac,cur,fso --weight ic=3 --bound mm=64 --bound eac=0.1 --bound fso=0.1 --al-every 5 \
    --quiet --coverage union "$TMP/unc.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/und.h5"
expect_fail 69 "--coverage union is not implemented in float32 on the CPU" $UIBE "${R[@]}" --coverage union \
    --precision float32 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_ok $UIBE "${A[@]}" --quiet --coverage union --bound ic=0.05 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/unb.h5"
check "union as a constraint: its bound and multiplier in the file" py <<'EOF2'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/unb.h5", "r")
assert f.attrs["coverage"] == "union" and f.attrs["bound_ic"] == 0.05, dict(f.attrs)
m = f["history/multiplier_ic"][:]
assert np.all(np.isfinite(m)) and np.all(m >= 0), m
EOF2
expect_fail 64 "--tau-schedule: --coverage union does not use tau" $UIBE "${R[@]}" --coverage union --tau-schedule 0.5:10 \
    "$TMP/f.h5" "$TMP/h.h5" -o "$O"

desc "uibe/eddp --sparsity overlap"
# L^s as the detectors' pairwise overlap, with the reward coverage it is
# meant for, on the float64 path; refused in float32 (exit 69).
expect_ok $UIBE "${R[@]}" --quiet --coverage reward --sparsity overlap "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/ov.h5"
check "overlap: attribute, and the last epoch's L^s near (S^2 - sum y^2)/I of the file's detectors" py <<'EOF2'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/ov.h5", "r")
assert f.attrs["sparsity"] == "overlap" and f.attrs["coverage"] == "reward", dict(f.attrs)
ls = f["history/L_s"][:]
assert ls.shape == (30,) and np.all((ls >= 0) & (ls <= 2)), ls
d = h5py.File(t + "/f.h5", "r")["features"][()]
x = d.transpose(0, 2, 3, 1).reshape(-1, d.shape[1])
y = 1 / (1 + np.exp(-(x @ f["W"][()].T - f["b"][()])))
ov = ((y.sum(1) ** 2 - (y * y).sum(1)) / 3).mean()
assert abs(ov - ls[-1]) < 0.1, (ov, ls[-1])
assert h5py.File(t + "/rw.h5", "r").attrs["sparsity"] == "entropy"
EOF2
expect_ok $EDDP --step c "$TMP/ov.h5" "$TMP/f.h5" -o "$TMP/ovc.h5"
OVD=(--step d --threads 1 --seed 4 --epochs 20 --batch 32 --lr 1e-3 --objective constrained --losses s,mm,ic,eac,cur,fso
     --weight s=3 --weight ic=1 --weight cur=0.03 --bound mm=64 --bound eac=0.1 --bound fso=0.1 --al-every 5 --quiet
     --coverage reward "$TMP/ovc.h5" "$TMP/f.h5" "$TMP/h.h5")
expect_ok $EDDP "${OVD[@]}" --sparsity overlap -o "$TMP/ovd.h5"
expect_ok $EDDP "${OVD[@]}" --sparsity entropy -o "$TMP/ove.h5"
check "eddp: overlap and entropy give different detectors" bash -c "! /usr/bin/python3 '$SAME' '$TMP/ovd.h5' '$TMP/ove.h5' 2>/dev/null"
expect_fail 69 "--sparsity overlap is not implemented in float32 on the CPU" $UIBE "${R[@]}" --sparsity overlap \
    --precision float32 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--sparsity: expected entropy or overlap, got 'max'" $UIBE "${R[@]}" --sparsity max "$TMP/f.h5" "$TMP/h.h5" -o "$O"

desc "uibe --tau-schedule"
expect_ok $UIBE "${A[@]}" --quiet --tau-schedule 2.5:20 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/sch.h5"
check "schedule attributes" py <<'EOF'
import h5py, sys
f = h5py.File(sys.argv[1] + "/sch.h5", "r")
assert f.attrs["tau"] == 1.0 and f.attrs["tau_final"] == 2.5 and f.attrs["tau_schedule_epochs"] == 20
EOF
mkdir -p "$TMP/ck" "$TMP/run"
EDDP_TEST_STOP_AT_EPOCH=13 $UIBE "${A[@]}" --quiet --tau-schedule 2.5:20 --checkpoint "$TMP/ck/s.ckpt" \
    "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/sch.h5" 2>/dev/null
$UIBE "${A[@]}" --quiet --tau-schedule 2.5:20 --checkpoint "$TMP/ck/s.ckpt" --resume "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/run/sch.h5"
check "a scheduled run resumed mid-ramp is bit-identical to an uninterrupted one" /usr/bin/python3 "$SAME" "$TMP/sch.h5" "$TMP/run/sch.h5"
$UIBE "${A[@]}" --quiet "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/plain.h5"
# L^ic is 0 from the start here (every detector claims a third), so the
# schedule rises to a floor the detectors do not meet.
check "the schedule changes the result" bash -c "! /usr/bin/python3 '$SAME' '$TMP/sch.h5' '$TMP/plain.h5' 2>/dev/null"

desc "bad coverage options"
expect_fail 64 "--coverage: expected mean, per-detector, soft, reward or union, got 'max'" $UIBE "${A[@]}" --coverage max "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--tau-schedule: expected TO:EPOCHS" $UIBE "${A[@]}" --tau-schedule 0.25 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--tau-schedule: expected TO:EPOCHS" $UIBE "${A[@]}" --tau-schedule 0:10 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--tau-schedule: expected TO:EPOCHS" $EDDP --step d "${D[@]}" --tau-schedule 0.5:0 "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 64 "--tau-schedule: L\^ic \(ic\) is not in --losses" $UIBE --detectors 3 --losses s,ma,mm,uur --tau-schedule 0.5:10 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 69 "--coverage soft is not implemented in float32 on the CPU" $UIBE "${A[@]}" --coverage soft --precision float32 "$TMP/f.h5" "$TMP/h.h5" -o "$O"
expect_fail 69 "--coverage soft is not implemented in float32 on the CPU" $EDDP --step d "${D[@]}" --coverage soft --precision float32 "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$O"
finish
