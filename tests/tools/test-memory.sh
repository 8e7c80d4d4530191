# test-memory.sh — uibe/eddp --memory: a training set larger than the budget
# is streamed from the file batch by batch (libcore/data/batchsrc) and the
# run ends bit-identical to the in-memory one (same seed and threads), in
# float64 and float32, from a features file and from a cache (float32 and
# float16); a float32 batch too large for the budget beside the set is
# gathered in chunks, with the same bits; the note on stderr; bad --memory
# values.
source tests/tools/lib.sh

SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe EDDP=bin/eddp CG=bin/cachegpu
$SG --seed 4 --split train --per-class 80 -o "$TMP/f.h5" &&
    $TH --seed 4 --epochs 100 --lr 0.005 "$TMP/f.h5" -o "$TMP/h.h5" &&
    $CG "$TMP/f.h5" -o "$TMP/c.h5" && $CG --half "$TMP/f.h5" -o "$TMP/c16.h5" ||
    { fail "synthgen, trainhead and cachegpu make the inputs"; finish; }

# pipelines/synthetic.mk's settings on a short schedule; batches of 50 images
# (several per epoch, so the streamed batches are drawn from the whole file)
COMMON=(--threads 2 --seed 1 --lr 5e-5 --batch 50 --objective constrained --al-every 5 --al-penalty 1
        --al-growth 10 --al-penalty-max 1e4 --gamma 1.1 --tau 1 --rho 0.5 --nu 4 --kappa 0.5:0.9 --epochs 12)
A=("${SYN_A[@]}")
D=("${SYN_D[@]}")

for p in float64 float32; do
    for m in memory stream; do
        MEM=() && [ $m = stream ] && MEM=(--memory 1K)
        desc "--precision $p, $m: steps a, c, d"
        EDDP_BATCH_BYTES=20000 expect_ok $UIBE "${COMMON[@]}" "${A[@]}" "${MEM[@]}" --device cpu --precision $p \
            "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a-$p-$m.h5"
        expect_ok $EDDP --step c "${MEM[@]}" "$TMP/a-$p-$m.h5" "$TMP/f.h5" -o "$TMP/c-$p-$m.h5"
        expect_ok $EDDP --step d "${COMMON[@]}" "${D[@]}" "${MEM[@]}" --device cpu --precision $p \
            "$TMP/c-$p-$m.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/d-$p-$m.h5"
    done
done
for c in c c16; do
    for m in memory stream; do
        MEM=() && [ $m = stream ] && MEM=(--memory 1K)
        desc "cache $c, $m: step a in float64 and float32"
        expect_ok $UIBE "${COMMON[@]}" "${A[@]}" "${MEM[@]}" --device cpu "$TMP/$c.h5" "$TMP/h.h5" \
            -o "$TMP/a-$c-$m.h5"
        expect_ok $UIBE "${COMMON[@]}" "${A[@]}" "${MEM[@]}" --device cpu --precision float32 "$TMP/$c.h5" \
            "$TMP/h.h5" -o "$TMP/a32-$c-$m.h5"
    done
done
desc "a budget the set fits in: in memory, no note"
expect_ok $UIBE "${COMMON[@]}" "${A[@]}" --memory 1G --device cpu --epochs 2 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a-fits.h5"

check "streamed runs are bit-identical to in-memory ones (W, b, S, history, margins)" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
pairs = [f"{s}-{p}-{{}}" for s in "acd" for p in ("float64", "float32")]
pairs += [f"a-{c}-{{}}" for c in ("c", "c16")] + [f"a32-{c}-{{}}" for c in ("c", "c16")]
for name in pairs:
    f, g = (h5py.File(f"{t}/{name.format(m)}.h5", "r") for m in ("memory", "stream"))
    keys = []
    f.visit(lambda k: keys.append(k) if isinstance(f[k], h5py.Dataset) else None)
    assert "W" in keys and "b" in keys, keys
    for k in keys:
        assert k in g, (name, k)
        a, b = f[k][()], g[k][()]
        assert a.shape == b.shape and a.tobytes() == b.tobytes(), (name, k)
    for k in ("precision", "device"):
        if k in f.attrs:
            assert f.attrs[k] == g.attrs[k], (name, k)
# the float16 cache trains on its rounded pixels: another result than float32
assert h5py.File(t + "/a-c-memory.h5")["W"][()].tobytes() != h5py.File(t + "/a-c16-memory.h5")["W"][()].tobytes()
EOF

desc "float32, batches of 67,500 pixels: a budget that holds the set (5.28 MB) but not a batch beside it"
$SG --seed 4 --split train --per-class 2500 --height 3 --width 3 \
    --classes "0,1,2,0,1,2,0,1,2;1,2,0,1,2,0,1,2,0;2,0,1,2,0,1,2,0,1" -o "$TMP/big.h5" &&
    $TH --seed 4 --epochs 20 --lr 0.005 "$TMP/big.h5" -o "$TMP/bigh.h5" || fail "synthgen and trainhead: 3x3 set"
for m in whole lean; do
    MEM=() && [ $m = lean ] && MEM=(--memory 5400K)
    expect_ok $UIBE "${COMMON[@]}" "${A[@]}" "${MEM[@]}" --batch 7500 --epochs 3 --device cpu --precision float32 \
        "$TMP/big.h5" "$TMP/bigh.h5" -o "$TMP/big-$m.h5"
done
check "batches gathered in chunks end bit-identical to whole ones" py <<'EOF'
import h5py, sys
t = sys.argv[1]
f, g = (h5py.File(f"{t}/big-{m}.h5", "r") for m in ("whole", "lean"))
for k in ("W", "b", "history/objective"):
    assert f[k][()].tobytes() == g[k][()].tobytes(), k
EOF

desc "the streamed run says so on stderr"
$UIBE "${COMMON[@]}" "${A[@]}" --memory 1K --epochs 1 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a-note.h5" 2>"$TMP/note.txt"
check "note names the file and the budget" grep -Eq "f\.h5: the training set takes .* GiB, more than --memory .* GiB: batches are read from the file" "$TMP/note.txt"
$UIBE "${COMMON[@]}" "${A[@]}" --memory 1G --epochs 1 "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a-nonote.h5" 2>"$TMP/nonote.txt"
check "no note when the set fits" bash -c "! grep -q 'batches are read' '$TMP/nonote.txt'"

desc "bad --memory values"
for bad in 0 -5 12X 1.5P 6GBx abc ""; do
    expect_fail 64 "--memory: expected a size in bytes" $UIBE "${COMMON[@]}" "${A[@]}" --memory "$bad" \
        "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/bad.h5"
done
expect_fail 64 "--memory: expected a size in bytes" $EDDP --step d "${COMMON[@]}" "${D[@]}" --memory 2Q \
    "$TMP/c-float64-memory.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/bad.h5"
finish
