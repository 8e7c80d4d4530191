# test-torch-bridge.sh — the PyTorch bridge against a real PyTorch: trainnet's
# network rebuilt in PyTorch from the eddp-net file (torch_bridge.py), its last
# layer's activations and head exported as .npy and imported with featdump,
# must give trainnet --features' features (1e-5) and the same predictions.
# Skipped, saying why, where Debian's python3-torch is not installed.
source tests/tools/lib.sh

# TORCH_PYTHON: the interpreter with torch (Debian's by default).
TORCH_PYTHON=${TORCH_PYTHON:-/usr/bin/python3}
skip_without_torch test-torch-bridge "$TORCH_PYTHON"

TN=bin/trainnet
FD=bin/featdump
TH=bin/trainhead
mkdir -p "$TMP/npy" "$TMP/heads"

check "make the image sets" bash -c "/usr/bin/python3 tests/tools/make_images.py '$TMP/train.h5' 100 1 &&
    /usr/bin/python3 tests/tools/make_images.py '$TMP/test.h5' 100 2"
expect_ok $TN --epochs 10 --seed 4 "$TMP/train.h5" -o "$TMP/net.h5"
expect_ok $TN --features "$TMP/net.h5" "$TMP/test.h5" -o "$TMP/feat.h5" --head-out "$TMP/heads/head.h5"

check "PyTorch runs trainnet's network and exports .npy" "$TORCH_PYTHON" tests/tools/torch_bridge.py \
    "$TMP/net.h5" "$TMP/test.h5" "$TMP/npy"
expect_ok $FD --features "$TMP/npy/features.npy" --labels "$TMP/npy/labels.npy" \
    --class-names "$TMP/npy/classes.txt" -o "$TMP/torch_feat.h5"
expect_ok $FD --head-weight "$TMP/npy/weight.npy" --head-bias "$TMP/npy/bias.npy" \
    --class-names "$TMP/npy/classes.txt" -o "$TMP/torch_head.h5"

check "PyTorch's features (through featdump) = trainnet --features' (1e-5)" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
a = h5py.File(t + "/feat.h5", "r")["features"][:]
b = h5py.File(t + "/torch_feat.h5", "r")["features"][:]
assert a.shape == b.shape == (300, 16, 2, 2), (a.shape, b.shape)
err = np.abs(a - b).max() / max(1.0, np.abs(a).max())
assert err < 1e-5, err
assert (a > 0).mean() > 0.1            # not a dead network
EOF
check "PyTorch's predictions = the predictions of trainnet's features and head" py <<'EOF'
import h5py, numpy as np, sys
t = sys.argv[1]
f = h5py.File(t + "/feat.h5", "r")["features"][:].astype(np.float64).mean(axis=(2, 3))
h = h5py.File(t + "/heads/head.h5", "r")
ours = (f @ h["weight"][:].T + h["bias"][:]).argmax(1)
torch_pred = np.load(t + "/npy/predictions.npy")
assert np.array_equal(ours, torch_pred), (ours != torch_pred).sum()
assert len(set(ours)) == 3
EOF
check "trainhead --eval: PyTorch's head on PyTorch's features = trainnet --eval" bash -c "
    a=\$($TN --eval '$TMP/net.h5' '$TMP/test.h5' | head -1) &&
    b=\$($TH --eval '$TMP/torch_head.h5' '$TMP/torch_feat.h5' | head -1) && echo \"\$a | \$b\" && [[ \$a == \$b ]]"
finish
