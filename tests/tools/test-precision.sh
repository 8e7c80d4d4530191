# test-precision.sh — uibe/eddp --precision float32 (libcore/cpu32, the
# CUDA backend's arithmetic on the CPU) against the float64 reference on
# the synthetic preset (short schedule): the same detectors (IoU of the
# firing sets >= 0.99), the same Eq.-1 vectors (cosines within 0.01), the
# `precision` attribute, and a bad --precision value.
source tests/tools/lib.sh

SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe EDDP=bin/eddp
$SG --seed 0 --split train --per-class 300 -o "$TMP/f.h5" &&
    $TH --seed 0 --epochs 300 --lr 0.005 --batch 1024 "$TMP/f.h5" -o "$TMP/h.h5" ||
    { fail "synthgen and trainhead make the inputs"; finish; }

# pipelines/synthetic.mk's settings, on a short schedule
COMMON=(--threads 1 --seed 0 --lr 5e-5 --batch 1024 --objective constrained --al-every 50 --al-penalty 1
        --al-growth 10 --al-penalty-max 1e4 --gamma 1.1 --tau 1 --rho 0.5 --nu 4 --kappa 0.5:0.9 --epochs 500)
A=("${SYN_A[@]}")
D=("${SYN_D[@]}")

for p in float64 float32; do
    desc "--precision $p: steps a, c, d"
    expect_ok $UIBE "${COMMON[@]}" "${A[@]}" --device cpu --precision $p "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a-$p.h5"
    expect_ok $EDDP --step c "$TMP/a-$p.h5" "$TMP/f.h5" -o "$TMP/c-$p.h5"
    expect_ok $EDDP --step d "${COMMON[@]}" "${D[@]}" --device cpu --precision $p "$TMP/c-$p.h5" "$TMP/f.h5" \
        "$TMP/h.h5" -o "$TMP/d-$p.h5"
done
desc "no --precision: float64"
expect_ok $UIBE "${COMMON[@]}" "${A[@]}" --device cpu --epochs 2 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a-default.h5"

check "float32 reaches float64's detectors (IoU >= 0.99) and Eq.-1 vectors (cos >= 0.99); attributes" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
x = h5py.File(t + "/f.h5", "r")["features"][:].transpose(0, 2, 3, 1).reshape(-1, 16).astype(np.float64)
assert h5py.File(t + "/a-default.h5", "r").attrs["precision"] == "float64"
for step in "ad":
    f, g = (h5py.File(f"{t}/{step}-{p}.h5", "r") for p in ("float64", "float32"))
    assert f.attrs["precision"] == "float64" and f.attrs["device"] == "cpu"
    assert g.attrs["precision"] == "float32" and g.attrs["device"] == "cpu float32", dict(g.attrs)
    F = x @ f["W"][:].T - f["b"][:] > 0
    G = x @ g["W"][:].T - g["b"][:] > 0
    assert F.any(axis=0).all(), "every float64 detector fires somewhere"
    iou = (F & G).sum(0) / (F | G).sum(0)
    assert np.all(iou >= 0.99), (step, iou)
S, S32 = h5py.File(t + "/d-float64.h5", "r")["S"][:], h5py.File(t + "/d-float32.h5", "r")["S"][:]
cos = np.sum(S * S32, 1) / np.linalg.norm(S, axis=1) / np.linalg.norm(S32, axis=1)
assert np.all(cos >= 0.99), cos
EOF

desc "bad --precision"
expect_fail 64 "--precision: expected float32 or float64" $UIBE "${COMMON[@]}" "${A[@]}" --precision float16 \
    "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/bad.h5"
expect_fail 64 "--precision: expected float32 or float64" $EDDP --step d "${COMMON[@]}" "${D[@]}" --precision double \
    "$TMP/c-float64.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/bad.h5"
desc "float32 refuses L^cnn, naming --precision float64"
expect_fail 69 "not implemented in float32 on the CPU; use --precision float64" $UIBE "${COMMON[@]}" "${A[@]}" \
    --losses s,ma,mm,ic,cnn --device cpu --precision float32 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/bad.h5"
finish
