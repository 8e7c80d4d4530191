# torch_bridge.py NET.h5 IMAGES.h5 OUTDIR — rebuilds trainnet's network in
# PyTorch from the eddp-net file, runs it on an eddp-images set and writes,
# for featdump(1):
#   OUTDIR/features.npy  float32 [N,16,2,2]  the last convolution after its ReLU
#                                            (a forward hook, as one would on any network)
#   OUTDIR/labels.npy    int32 [N]
#   OUTDIR/weight.npy    float32 [K,16], OUTDIR/bias.npy float32 [K]  the head (nn.Linear)
#   OUTDIR/classes.txt   class names, one per line
#   OUTDIR/predictions.npy int64 [N]  argmax of PyTorch's own logits
# The network is trainnet's: five 3x3 convolutions, padding 1, stride 2 but the
# last, ReLU after each, dropout after each but the last (inactive in eval()),
# global average pooling, linear; inputs are uint8 pixels / 255.
import sys

import h5py
import numpy as np
import torch
from torch import nn

net_path, images_path, out = sys.argv[1:4]
torch.set_num_threads(1)
net = h5py.File(net_path, "r")
layers = []
for l in range(int(net.attrs["layers"])):
    g = net[f"conv{l}"]
    w = torch.from_numpy(g["weight"][:])
    conv = nn.Conv2d(w.shape[1], w.shape[0], int(g.attrs["kernel"]), stride=int(g.attrs["stride"]),
                     padding=int(g.attrs["padding"]))
    with torch.no_grad():
        conv.weight.copy_(w)
        conv.bias.copy_(torch.from_numpy(g["bias"][:]))
    layers += [conv, nn.ReLU()]
    if l + 1 < int(net.attrs["layers"]):
        layers.append(nn.Dropout(float(net.attrs["dropout"])))
body = nn.Sequential(*layers)
head = nn.Linear(net["head/weight"].shape[1], net["head/weight"].shape[0])
with torch.no_grad():
    head.weight.copy_(torch.from_numpy(net["head/weight"][:]))
    head.bias.copy_(torch.from_numpy(net["head/bias"][:]))
model = nn.Sequential(body, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head).eval()

saved = []
hook = body[-1].register_forward_hook(lambda module, inputs, output: saved.append(output.detach().numpy()))
images = h5py.File(images_path, "r")
x = torch.from_numpy(images["images"][:].astype(np.float32) / 255)
with torch.no_grad():
    logits = torch.cat([model(x[k:k + 64]) for k in range(0, len(x), 64)])
hook.remove()
np.save(f"{out}/features.npy", np.concatenate(saved).astype(np.float32))
np.save(f"{out}/labels.npy", images["labels"][:].astype(np.int32))
np.save(f"{out}/weight.npy", head.weight.detach().numpy())
np.save(f"{out}/bias.npy", head.bias.detach().numpy())
np.save(f"{out}/predictions.npy", logits.argmax(1).numpy())
with open(f"{out}/classes.txt", "w") as f:
    for name in images["class_names"][:]:
        f.write((name.decode() if isinstance(name, bytes) else name) + "\n")
