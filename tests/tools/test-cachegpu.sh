# test-cachegpu.sh — cachegpu's cache (layout, float16 storage, statistics),
# its memory report, uibe and eddp on a cache (bit-identical to the features
# file in float32) and every refusal of bad input.
source tests/tools/lib.sh

CG=bin/cachegpu SG=bin/synthgen TH=bin/trainhead UIBE=bin/uibe EDDP=bin/eddp
$SG --seed 3 --per-class 60 -o "$TMP/f.h5" && $TH --seed 3 --epochs 100 "$TMP/f.h5" -o "$TMP/h.h5" ||
    { fail "synthgen and trainhead make the inputs"; finish; }

# ------------------------------------------------------- the cache
desc "float32 cache"
expect_ok $CG "$TMP/f.h5" -o "$TMP/c.h5"
desc "float16 cache"
expect_ok $CG --half "$TMP/f.h5" -o "$TMP/c16.h5"
desc "float32 cache streamed in batches of a few images"
EDDP_BATCH_BYTES=1000 expect_ok $CG "$TMP/f.h5" -o "$TMP/c-batched.h5"
desc "float16 cache streamed in batches of a few images"
EDDP_BATCH_BYTES=1000 expect_ok $CG --half "$TMP/f.h5" -o "$TMP/c16-batched.h5"

check "the cache: format, layout, statistics to 1e-12, labels" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/f.h5", "r"); c = h5py.File(t + "/c.h5", "r")
x = f["features"][:]; N, C, H, W = x.shape
assert c.attrs["format"] == "eddp-cache" and c.attrs["format_version"] == 1
assert c.attrs["height"] == H and c.attrs["width"] == W and c.attrs["storage"] == "float32"
assert c.attrs["tool"] == "cachegpu" and "f.h5" in c.attrs["inputs"] and c.attrs["n_classes"] == 3
p = c["pixels"]
assert p.dtype == np.dtype("<f4") and p.shape == (N, H * W, C), (p.dtype, p.shape)
assert p.chunks[1:] == (H * W, C), p.chunks            # chunked by whole images
assert np.array_equal(p[:], x.transpose(0, 2, 3, 1).reshape(N, H * W, C))
x64 = x.astype(np.float64)
for name, want in (("pooled", x64.mean(axis=(2, 3))), ("mean", x64.mean(axis=(0, 2, 3))),
                   ("std", x64.std(axis=(0, 2, 3)))):
    got = c[name][:]
    assert got.dtype == np.float64 and got.shape == want.shape, name
    err = np.abs(got - want).max() / max(1, np.abs(want).max())
    assert err <= 1e-12, (name, err)
assert np.array_equal(c["labels"][:], f["labels"][:]) and list(c["class_names"][:]) == list(f["class_names"][:])
EOF
check "the float16 cache: h5py reads '<f2', within half precision (rel 1e-3), round to nearest even" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
c = h5py.File(t + "/c.h5", "r"); h = h5py.File(t + "/c16.h5", "r")
p16, p32 = h["pixels"], c["pixels"][:]
assert p16.dtype == np.dtype("<f2"), p16.dtype
assert h.attrs["storage"] == "float16"
v = p16[:].astype(np.float64)
rel = np.abs(v - p32) / np.maximum(np.abs(p32), 1e-30)
assert rel.max() <= 1e-3, rel.max()
assert np.array_equal(p16[:], p32.astype(np.float16))   # NumPy's rounding, bit for bit
for name in ("pooled", "mean", "std"):                     # from the float32 source, not the halves
    assert np.array_equal(h[name][:], c[name][:]), name
EOF
# The datasets of two files (not their attributes: provenance differs) are
# equal bit for bit, dtypes included.
SAME=tests/tools/same-datasets.py
check "streaming in small batches gives the same float32 cache" /usr/bin/python3 "$SAME" "$TMP/c.h5" "$TMP/c-batched.h5"
check "streaming in small batches gives the same float16 cache" /usr/bin/python3 "$SAME" "$TMP/c16.h5" "$TMP/c16-batched.h5"

# ------------------------------------------------------- uibe and eddp on a cache
A=(--threads 1 --seed 3 --detectors 3 --epochs 5 --batch 32 --lr 1e-3 --objective constrained
   --weight s=2.6 --weight uur=0.25 --bound ma=0.8 --bound mm=8 --bound ic=0.1 --al-every 2)
D=(--threads 1 --seed 3 --epochs 3 --batch 32 --lr 1e-3 --weight s=0.85 --weight sb=2.6 --weight cur=0.25)
desc "uibe on the features file"
expect_ok $UIBE "${A[@]}" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/a-f.h5"
desc "uibe on the float32 cache"
expect_ok $UIBE "${A[@]}" "$TMP/c.h5" "$TMP/h.h5" -o "$TMP/a-c.h5"
check "uibe: float32 cache and features file give bit-identical results" /usr/bin/python3 "$SAME" "$TMP/a-f.h5" "$TMP/a-c.h5"
desc "eddp --step c on both"
expect_ok $EDDP --step c "$TMP/a-f.h5" "$TMP/f.h5" -o "$TMP/sc-f.h5"
expect_ok $EDDP --step c "$TMP/a-f.h5" "$TMP/c.h5" -o "$TMP/sc-c.h5"
check "eddp --step c: bit-identical" /usr/bin/python3 "$SAME" "$TMP/sc-f.h5" "$TMP/sc-c.h5"
desc "eddp --step d on both"
expect_ok $EDDP --step d "${D[@]}" "$TMP/sc-f.h5" "$TMP/f.h5" "$TMP/h.h5" -o "$TMP/sd-f.h5"
expect_ok $EDDP --step d "${D[@]}" "$TMP/sc-f.h5" "$TMP/c.h5" "$TMP/h.h5" -o "$TMP/sd-c.h5"
check "eddp --step d: bit-identical" /usr/bin/python3 "$SAME" "$TMP/sd-f.h5" "$TMP/sd-c.h5"
check "h5diff finds no difference in the datasets" bash -c "h5diff -q '$TMP/a-f.h5' '$TMP/a-c.h5' /W /W && h5diff -q '$TMP/a-f.h5' '$TMP/a-c.h5' /history /history"

desc "uibe on the float16 cache"
expect_ok $UIBE "${A[@]}" "$TMP/c16.h5" "$TMP/h.h5" -o "$TMP/a-c16.h5"
check "uibe on a float16 cache says so on stderr" bash -c "
    $UIBE ${A[*]} --overwrite '$TMP/c16.h5' '$TMP/h.h5' -o '$TMP/a-c16.h5' 2>&1 >/dev/null |
    grep -q 'c16\.h5 stores its features at half precision (float16)'"
check "... and not with --quiet" bash -c "
    [[ -z \$($UIBE ${A[*]} --quiet --overwrite '$TMP/c16.h5' '$TMP/h.h5' -o '$TMP/a-c16.h5' 2>&1) ]]"
check "the provenance records the storage" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a16, a32, af = (h5py.File(t + n, "r") for n in ("/a-c16.h5", "/a-c.h5", "/a-f.h5"))
assert a16.attrs["features_storage"] == "float16" and a32.attrs["features_storage"] == "float32"
assert "features_storage" not in af.attrs
assert "c16.h5" in a16.attrs["inputs"]
# standardised with the float32 statistics of the source
assert np.array_equal(a16["standardised/mean"][:], af["standardised/mean"][:])
assert np.all(np.isfinite(a16["W"][:]))
EOF

# ------------------------------------------------------- the memory report
check "--device-memory auto: the device's free memory, or no CUDA device here and what a run needs" bash -c "
    $CG --overwrite '$TMP/f.h5' -o '$TMP/c.h5' 2>'$TMP/report.txt' &&
    grep -Eq '^(no CUDA device here; a run needs [0-9.]+ MiB|(fits|does not fit): .* free on cuda:0 )' '$TMP/report.txt' &&
    grep -q '180 images of 1×2 pixels × 16 channels, float32 storage' '$TMP/report.txt'"
check "--device cpu: no CUDA device here, and what a run needs" bash -c "
    $CG --device cpu --overwrite '$TMP/f.h5' -o '$TMP/c.h5' 2>'$TMP/report.txt' &&
    grep -q '^device: --device cpu names no CUDA device' '$TMP/report.txt' &&
    grep -q '^no CUDA device here; a run needs [0-9.]* MiB ([0-9.]* MiB with batches streamed)' '$TMP/report.txt'"
check "--quiet silences the report, --report puts it on stdout" bash -c "
    [[ -z \$($CG --quiet --overwrite '$TMP/f.h5' -o '$TMP/c.h5' 2>&1) ]] &&
    $CG --report --quiet --overwrite '$TMP/f.h5' -o '$TMP/c.h5' 2>/dev/null | grep -q '^  total  '"
check "--device-memory 100G: fits" bash -c "
    $CG --report --device-memory 100G --overwrite '$TMP/f.h5' -o '$TMP/c.h5' | grep -q '^fits: .* of 100.00 GiB free'"
check "too little memory: says which part does not fit and what batch would" bash -c "
    $CG --report --device-memory 256.2M --overwrite '$TMP/f.h5' -o '$TMP/c.h5' > '$TMP/r.txt' &&
    grep -q '^does not fit: .* the batches of 180 images take .* (batches of up to [0-9]* images fit resident)' '$TMP/r.txt' &&
    grep -q 'streamed batches of up to [0-9]* images fit' '$TMP/r.txt'"
check "far too little: the resident set alone does not fit" bash -c "
    $CG --report --device-memory 1M --overwrite '$TMP/f.h5' -o '$TMP/c.h5' > '$TMP/r.txt' &&
    grep -q 'the resident set alone takes' '$TMP/r.txt' && grep -q 'not even batches of one image fit' '$TMP/r.txt'"
check "--detectors and --batch enter the plan" bash -c "
    $CG --report --detectors 7 --batch 50 --device-memory 1G --overwrite '$TMP/f.h5' -o '$TMP/c.h5' |
    grep -q '^planned run: 7 detectors, 3 classes, batches of 50 images'"
desc "the cache can go to stdout (-o -)"
check "-o - writes the cache image to stdout" bash -c "
    $CG --quiet '$TMP/f.h5' -o - > '$TMP/stdout.h5' && /usr/bin/python3 '$SAME' '$TMP/c.h5' '$TMP/stdout.h5'"

# ------------------------------------------------------- bad input
check "make the bad inputs" py <<'EOF'
import h5py, numpy as np, sys, shutil
t = sys.argv[1]
for name, value, where in (("nan", np.nan, (4, 3, 0, 1)), ("inf", -np.inf, (9, 0, 0, 0)),
                           ("big", 70000.0, (5, 2, 0, 1)), ("bigneg", -65505.0, (0, 0, 0, 0))):
    shutil.copy(t + "/f.h5", t + "/" + name + ".h5")
    with h5py.File(t + "/" + name + ".h5", "r+") as f:
        x = f["features"][:]; x[where] = value; f["features"][:] = x
shutil.copy(t + "/c.h5", t + "/c-nan.h5")
with h5py.File(t + "/c-nan.h5", "r+") as f:
    p = f["pixels"][:]; p[17, 1, 3] = np.nan; f["pixels"][:] = p
shutil.copy(t + "/c.h5", t + "/c-grid.h5")
with h5py.File(t + "/c-grid.h5", "r+") as f:
    f.attrs["width"] = 3
shutil.copy(t + "/c.h5", t + "/c-nostd.h5")
with h5py.File(t + "/c-nostd.h5", "r+") as f:
    del f["std"]
shutil.copy(t + "/c.h5", t + "/c-v2.h5")
with h5py.File(t + "/c-v2.h5", "r+") as f:
    f.attrs["format_version"] = 2
open(t + "/notes.txt", "w").write("not HDF5\n")
EOF
O="$TMP/out/c.h5"
mkdir -p "$TMP/out"
expect_fail 65 'notes\.txt: not an HDF5 file' $CG "$TMP/notes.txt" -o "$O"
expect_fail 65 "h\.h5: format is 'eddp-head', expected 'eddp-features' \(made by synthgen or featdump\)" $CG "$TMP/h.h5" -o "$O"
expect_fail 65 "c\.h5: format is 'eddp-cache', expected 'eddp-features'" $CG "$TMP/c.h5" -o "$O"
expect_fail 66 'missing\.h5: cannot open' $CG "$TMP/missing.h5" -o "$O"
expect_fail 65 "nan\.h5: dataset '/features' holds NaN at image 4" $CG "$TMP/nan.h5" -o "$O"
expect_fail 65 "inf\.h5: dataset '/features' holds Inf at image 9" $CG --half "$TMP/inf.h5" -o "$O"
expect_fail 65 "big\.h5: dataset '/features' holds 70000 at image 5, channel 2 \(pixel 1\), beyond float16's range" \
    $CG --half "$TMP/big.h5" -o "$O"
expect_fail 65 "bigneg\.h5: dataset '/features' holds -65505 at image 0, channel 0 \(pixel 0\)" $CG --half "$TMP/bigneg.h5" -o "$O"
desc "float32 storage keeps 70000"
expect_ok $CG --quiet "$TMP/big.h5" -o "$TMP/out/big.h5"
expect_fail 73 'nodir/c\.h5: cannot create output' $CG "$TMP/f.h5" -o "$TMP/nodir/c.h5"
expect_fail 73 'notes\.txt/c\.h5: cannot create output' $CG "$TMP/f.h5" -o "$TMP/notes.txt/c.h5"
expect_fail 73 'c\.h5: output exists; use --overwrite' $CG "$TMP/f.h5" -o "$TMP/c.h5"
expect_fail 64 '--batch: expected an integer' $CG --batch 0 "$TMP/f.h5" -o "$O"
expect_fail 64 '--detectors: expected an integer' $CG --detectors x "$TMP/f.h5" -o "$O"
expect_fail 64 "--device-memory: expected auto or a number of bytes .* got '12Q'" $CG --device-memory 12Q "$TMP/f.h5" -o "$O"
expect_fail 64 "--device-memory: .* got '-5G'" $CG --device-memory -5G "$TMP/f.h5" -o "$O"
expect_fail 64 "--device: expected auto, cpu or cuda" $CG --device gpu "$TMP/f.h5" -o "$O"
expect_fail 64 'no output file' $CG "$TMP/f.h5"
expect_fail 64 'no input' $CG -o "$O"
expect_fail 64 'expected one FEATURES file' $CG "$TMP/f.h5" "$TMP/f.h5" -o "$O"
expect_fail 64 '--report writes to stdout' $CG --report "$TMP/f.h5" -o -
check "no partial output was left in the output folder" bash -c "[[ \$(ls -A '$TMP/out') == big.h5 ]]"

# a broken cache is refused by the learners, naming file and dataset
expect_fail 65 "c-nan\.h5: dataset '/pixels' holds NaN at image 17, pixel 1, channel 3" $UIBE "${A[@]}" "$TMP/c-nan.h5" "$TMP/h.h5" -o "$O"
expect_fail 65 "c-grid\.h5: attributes height 1 and width 3 do not match the 2 pixels" $UIBE "${A[@]}" "$TMP/c-grid.h5" "$TMP/h.h5" -o "$O"
expect_fail 65 "c-nostd\.h5: missing dataset '/std'" $EDDP --step c "$TMP/a-f.h5" "$TMP/c-nostd.h5" -o "$O"
expect_fail 65 "c-v2\.h5: format 'eddp-cache' version 2 is not supported .* regenerate it with cachegpu" $UIBE "${A[@]}" "$TMP/c-v2.h5" "$TMP/h.h5" -o "$O"
expect_fail 65 "h\.h5: format is 'eddp-head', expected 'eddp-features' or 'eddp-cache'" $UIBE "${A[@]}" "$TMP/h.h5" "$TMP/h.h5" -o "$O"
finish
