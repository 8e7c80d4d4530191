# test-torch-crosscheck.sh — the PyTorch implementation of the training step
# (bench/torch_eddp.py, autograd) against the C objective (objective_eval
# through build/bench/torch_ref) on the same parameters, batch and
# augmented-Lagrangian state: every term of step (d) (s, sb, ma, mm, ic, eac,
# cur, fso) and of step (a) (uur with s, ma, mm, ic) and the AL total to 1e-6
# relative, the gradient w.r.t. the flat parameters to 1e-8 of its largest
# component; the paper's L^ic and L^s and the pipelines' --coverage reward
# and --sparsity overlap, and --coverage union (weighted and as a bound).
# Skipped when python3-torch is not installed.
source tests/tools/lib.sh

PY=/usr/bin/python3
skip_without_torch test-torch-crosscheck
REF=build/bench/torch_ref CHECK="$PY bench/torch_eddp.py check"
[[ -x $REF ]] || { fail "$REF is built (make build/bench/torch_ref)"; finish; }
bin/synthgen --seed 3 --per-class 60 -o "$TMP/f.h5" && bin/trainhead --quiet --seed 3 --epochs 100 "$TMP/f.h5" -o "$TMP/h.h5" &&
    bin/uibe --quiet --seed 3 --detectors 3 --epochs 30 --batch 64 --lr 1e-3 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a.h5" &&
    bin/eddp --quiet --step c "$TMP/a.h5" "$TMP/f.h5" -o "$TMP/c.h5" ||
    { fail "synthgen, trainhead, uibe and eddp --step c make the inputs"; finish; }

# The pipeline's settings (pipelines/synthetic.mk: AL_FLAGS, LOSS_FLAGS, A_FLAGS, D_FLAGS).
COMMON=(--objective constrained --al-every 50 --al-penalty 1 --al-growth 10 --al-penalty-max 1e4
        --gamma 1.1 --tau 1 --rho 0.5 --nu 4 --kappa 0.5:0.9 --lr 5e-5)
# A_TERMS/D_TERMS without L^ic's setting: --coverage reward makes it a weighted term.
A_TERMS=(--step a --detectors 3 --losses s,ma,mm,ic,uur --weight s=2.6 --weight uur=0.25 --bound ma=0.8 --bound mm=8)
D_TERMS=(--step d --losses s,sb,ma,mm,ic,eac,cur,fso --weight s=0.85 --weight sb=2.6 --weight cur=0.25
         --bound ma=0.8 --bound mm=8 --bound eac=0.1 --bound fso=0.1)
A=("${A_TERMS[@]}" --bound ic=0.01)
D=("${D_TERMS[@]}" --bound ic=0.01)

desc "step (a) at uibe's start (seeded orthonormal basis, threshold 0)"
expect_ok $REF --seed 3 "${COMMON[@]}" "${A[@]}" --batch 64 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a0.dump"
desc "step (a) with a threshold that leaves detectors inactive (L^ic > 0)"
expect_ok $REF --seed 4 --init-threshold 1 "${COMMON[@]}" "${A[@]}" --batch 64 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a1.dump"
desc "step (d) from eddp --step c's detectors and signals"
expect_ok $REF --seed 3 "${COMMON[@]}" "${D[@]}" --batch 64 --directions "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d0.dump"
desc "step (d) from random detectors and signals"
expect_ok $REF --seed 5 "${COMMON[@]}" "${D[@]}" --batch 64 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d1.dump"
desc "a Broden-shaped set (512 channels, 7x7)"
expect_ok $REF --make-broden 4 --seed 7 "$TMP/b.h5" "$TMP/bh.h5"
desc "step (d) at Broden shape: 500 detectors on 512 channels"
expect_ok $REF --seed 7 "${COMMON[@]}" "${D[@]}" --detectors 500 --batch 4096 "$TMP/b.h5" "$TMP/bh.h5" -o "$TMP/b.dump"

desc "step (a) with --coverage reward (L^ic weighted)"
expect_ok $REF --seed 3 "${COMMON[@]}" "${A_TERMS[@]}" --coverage reward --weight ic=1 --batch 64 \
    "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/ar.dump"
desc "step (d) with --coverage reward --sparsity overlap, from eddp --step c's detectors"
expect_ok $REF --seed 3 "${COMMON[@]}" "${D_TERMS[@]}" --coverage reward --sparsity overlap --weight s=3 --weight ic=1 \
    --batch 64 --directions "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/dr.dump"
desc "step (a) with --coverage union weighted, detectors mostly inactive"
expect_ok $REF --seed 4 --init-threshold 1 "${COMMON[@]}" "${A_TERMS[@]}" --coverage union --weight ic=1 --batch 64 \
    "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/au.dump"
desc "step (d) with --coverage union as a bound and --sparsity overlap, random detectors"
expect_ok $REF --seed 5 "${COMMON[@]}" "${D_TERMS[@]}" --coverage union --sparsity overlap --weight s=3 --bound ic=0.05 \
    --batch 64 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/du.dump"

DUMPS=(a0 a1 d0 d1 b ar dr au du)
for d in "${DUMPS[@]}"; do
    check "$d: every term and the AL total to 1e-6 relative, the gradient to 1e-8" $CHECK "$TMP/$d.dump"
done

check "the dumps record --coverage and --sparsity" py <<'EOF'
import h5py, sys
want = dict(a0=("mean", "entropy"), d0=("mean", "entropy"), ar=("reward", "entropy"), dr=("reward", "overlap"),
            au=("union", "entropy"), du=("union", "overlap"))
for d, (cov, spa) in want.items():
    a = h5py.File(f"{sys.argv[1]}/{d}.dump", "r").attrs
    assert (a["coverage"], a["sparsity"]) == (cov, spa), (d, a["coverage"], a["sparsity"])
EOF
# Each setting changes the numbers: read as the paper's terms, those dumps fail the check.
for case in "ar coverage mean" "dr coverage mean" "dr sparsity entropy" "au coverage mean" "du sparsity entropy"; do
    read -r d name value <<<"$case"
    cp "$TMP/$d.dump" "$TMP/relabel.dump"
    py "$name" "$value" <<'EOF'
import h5py, sys
h5py.File(sys.argv[1] + "/relabel.dump", "r+").attrs[sys.argv[2]] = sys.argv[3]
EOF
    if $CHECK "$TMP/relabel.dump" >/dev/null; then fail "$d read with $name $value fails the check"; else pass "$d read with $name $value fails the check"; fi
done
cp "$TMP/d0.dump" "$TMP/old.dump"
py <<'EOF'
import h5py, sys
a = h5py.File(sys.argv[1] + "/old.dump", "r+").attrs
del a["coverage"], a["sparsity"]
EOF
check "a dump without coverage and sparsity (older torch_ref) is read as mean and entropy" $CHECK "$TMP/old.dump"
desc "a dump with a coverage torch_eddp.py does not model"
expect_ok $REF --seed 3 "${COMMON[@]}" "${A[@]}" --coverage per-detector --batch 64 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/pd.dump"
if $CHECK "$TMP/pd.dump" > /dev/null 2> "$TMP/err.txt"; then
    fail "torch_eddp.py refuses --coverage per-detector"
else
    grep -q 'coverage per-detector is not modelled' "$TMP/err.txt" && pass "torch_eddp.py refuses --coverage per-detector" ||
        fail "torch_eddp.py refuses --coverage per-detector" "$(cat "$TMP/err.txt")"
fi

check "no term is checked only at zero: each is non-zero in some dump, every AL multiplier path is taken" py "${DUMPS[@]}" <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
names = ["s", "sb", "ma", "mm", "ic", "eac", "uur", "cur", "fso"]
nonzero, active, inactive = set(), 0, 0
for d in sys.argv[2:]:
    f = h5py.File(f"{t}/{d}.dump", "r")
    v, on = f["check/values"][:], f["terms/enabled"][:]
    nonzero |= {n for j, n in enumerate(names) if on[j] and v[j] != 0}
    ids, mult, rho = f["al/ids"][:], f["al/multipliers"][:], f["al"].attrs["penalty"]
    for k, j in enumerate(ids):
        w = mult[k] + rho * (v[j] - f["terms/bound"][j])
        active += w > 0
        inactive += w <= 0
missing = set(names) - nonzero
assert not missing, f"only ever zero: {missing}"
assert active and inactive, (active, inactive)
EOF

# The check itself must be able to fail: C values or gradient a little off.
cp "$TMP/d0.dump" "$TMP/bad.dump"
py <<'EOF'
import h5py, sys
f = h5py.File(sys.argv[1] + "/bad.dump", "r+")
v = f["check/values"][:]; v[0] *= 1 + 1e-5; f["check/values"][...] = v     # L^s off by 1e-5
EOF
if $CHECK "$TMP/bad.dump" >/dev/null; then fail "the check fails on a term off by 1e-5 relative"; else pass "the check fails on a term off by 1e-5 relative"; fi
cp "$TMP/d0.dump" "$TMP/bad.dump"
py <<'EOF'
import h5py, numpy as np, sys
f = h5py.File(sys.argv[1] + "/bad.dump", "r+")
g = f["check/grad"][:]; g[-1] += 1e-6 * np.abs(g).max(); f["check/grad"][...] = g
EOF
if $CHECK "$TMP/bad.dump" >/dev/null; then fail "the check fails on a gradient off by 1e-6"; else pass "the check fails on a gradient off by 1e-6"; fi

# torch_ref's refusals.
desc "missing features file"
expect_fail 66 'nope\.h5' $REF "${D[@]}" "$TMP/nope.h5" "$TMP/h.h5" -o "$TMP/x.dump"
desc "bad --step"
expect_fail 64 '--step: expected a or d' $REF --step b "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/x.dump"
desc "--directions with step (a)"
expect_fail 64 '--directions is for --step d' $REF "${A[@]}" --directions "$TMP/c.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/x.dump"
desc "directions without signal vectors for step (d)"
expect_fail 65 'a\.h5.*signal' $REF "${D[@]}" --directions "$TMP/a.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/x.dump"
desc "an existing output without --overwrite"
expect_fail 73 'd1\.dump' $REF --seed 5 "${D[@]}" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d1.dump"
finish
