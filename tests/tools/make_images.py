# make_images.py OUT.h5 N_PER_CLASS SEED — a small eddp-images set for the
# tool tests (the contract imgset(1) writes): three classes of 28x28 uint8
# patterns (horizontal bars, vertical bars, a centred blob) with noise, and a
# concept category "watermark": 1 = clean pixel, 2 = a white mark 5 rows high
# at the top-left of every third image, 12 or 17 columns wide (the wider one
# reaches into the second 14x14 block, to tell cell rules apart).
import sys

import h5py
import numpy as np

out, n_per, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)
n = 3 * n_per
labels = np.repeat(np.arange(3, dtype=np.int32), n_per)
yy, xx = np.mgrid[0:28, 0:28]
x = rng.normal(60, 25, (n, 1, 28, 28))
for i, c in enumerate(labels):
    phase = rng.integers(0, 4)
    if c == 0:
        x[i, 0][(yy + phase) % 6 < 2] += 150
    elif c == 1:
        x[i, 0][(xx + phase) % 6 < 2] += 150
    else:
        x[i, 0][(yy - 14) ** 2 + (xx - 14) ** 2 < 40 + 10 * phase] += 150
concept = np.ones((n, 28, 28), np.int32)
for i in range(0, n, 3):
    width = 12 if i % 2 else 17
    concept[i, 2:7, 2:2 + width] = 2
    x[i, 0, 2:7, 2:2 + width] = 255
with h5py.File(out, "w") as f:
    f.attrs["format"] = "eddp-images"
    f.attrs["format_version"] = 1
    f["images"] = np.clip(x, 0, 255).astype(np.uint8)
    f["labels"] = labels
    f.create_dataset("class_names", data=["bars", "stripes", "blob"], dtype=h5py.string_dtype())
    d = f.create_dataset("concepts/watermark", data=concept)
    d.attrs["names"] = ["clean", "watermark"]
