"""iou_reference — an independent NumPy recomputation of what iou-label writes
(method-spec §6.1, §6.2, §6.6), for the tool tests. Plain loops over images,
written from the spec, sharing no code with the C implementation.

    ev = evaluate(directions_path, features_path, val_images=None, val_path=None)

With val_images (indices into FEATURES) the remaining images are the train
split; with val_path all of FEATURES is train and all of VAL is validation.
Returns a dict with the arrays iou-label writes (same names)."""
import h5py
import numpy as np


def bilinear(a, hm, wm):
    """torch.nn.functional.interpolate(mode='bilinear', align_corners=False)
    of a 2-D array a [h, w] to [hm, wm] (half-pixel centres, source index
    clamped at 0, edge repeated)."""
    h, w = a.shape

    def taps(n_in, n_out):
        src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(int), n_in - 1)
        i1 = np.where(i0 < n_in - 1, i0 + 1, i0)
        l1 = src - i0
        return i0, i1, 1.0 - l1, l1

    y0, y1, wy0, wy1 = taps(h, hm)
    x0, x1, wx0, wx1 = taps(w, wm)
    top = a[y0][:, x0] * wx0 + a[y0][:, x1] * wx1
    bottom = a[y1][:, x0] * wx0 + a[y1][:, x1] * wx1
    return wy0[:, None] * top + wy1[:, None] * bottom


def average_precision(positive, score):
    """sklearn.metrics.average_precision_score: one PR point per distinct
    score, AP = sum_k (R_k - R_{k-1}) P_k; 0 without positives."""
    positive = np.asarray(positive, bool)
    if positive.sum() == 0:
        return 0.0
    order = np.argsort(-score, kind="mergesort")
    s, y = score[order], positive[order]
    last = np.r_[np.where(np.diff(s))[0], y.size - 1]
    tp = np.cumsum(y)[last]
    fp = last + 1 - tp
    precision = tp / (tp + fp)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def _names(ds):
    if "names" not in ds.attrs:
        return None
    return [n.decode() if isinstance(n, bytes) else str(n) for n in ds.attrs["names"]]


class Source:
    """One features file: pixel vectors per image and its annotations."""

    def __init__(self, path):
        f = h5py.File(path, "r")
        self.x = f["features"][:].astype(np.float64)          # [N, C, H, W]
        self.n, self.c, self.h, self.w = self.x.shape
        self.cats = sorted(f["concepts"].keys())
        self.data = {k: f["concepts/" + k][:] for k in self.cats}
        self.names = {k: _names(f["concepts/" + k]) for k in self.cats}
        pixel = [k for k in self.cats if self.data[k].ndim == 3]
        first = self.data[pixel[0]].shape[1:] if pixel else (self.h, self.w)
        # image-level labels are counted at the resolution of the first pixel category
        self.res = {k: (self.data[k].shape[1:] if self.data[k].ndim == 3 else first) for k in self.cats}

    def annotated(self, k, x):
        return bool(np.any(self.data[k][x] != 0))


def _vocabulary(sources):
    cats = sources[0].cats
    offset, n_lab, names, cat_of = {}, {}, ["none"], [None]
    for k in cats:
        named = next((s.names[k] for s in sources if s.names[k] is not None), None)
        if named is not None:
            n = len(named)
        else:
            n = max(int(s.data[k].max()) if s.data[k].ndim == 3 else s.data[k].shape[1] for s in sources)
        offset[k], n_lab[k] = len(names) - 1, n
        for l in range(1, n + 1):
            names.append(named[l - 1] if named is not None else f"{k}:{l}")
            cat_of.append(k)
    return cats, offset, n_lab, names, cat_of


def _logit_maps(src, x, W, b):
    pixels = src.x[x].reshape(src.c, -1).T                     # [hw, C]
    return (pixels @ W.T - b).T.reshape(-1, src.h, src.w)       # [I, H, W]


def _unit_maps(src, x, W, b, groups, res):
    """Score maps of units (lists of detectors) at resolution res: max over
    the members' upsampled logits."""
    a = _logit_maps(src, x, W, b)
    up = np.stack([bilinear(a[i], *res) for i in range(a.shape[0])])
    return np.stack([up[list(g)].max(axis=0) for g in groups])


def _counts(images, W, b, groups, cats, offset, n_lab, n_con):
    """Σ|M∩L_c|, Σ_{x annotated for cat}|M| and Σ|L_c| over (source, image) pairs."""
    n_unit = len(groups)
    inter = np.zeros((n_unit, n_con))
    fired_in = {k: np.zeros(n_unit) for k in cats}
    label = np.zeros(n_con)
    for src, x in images:
        maps = {}
        for k in cats:
            if not src.annotated(k, x):
                continue
            res = tuple(src.res[k])
            if res not in maps:
                maps[res] = _unit_maps(src, x, W, b, groups, res) > 0
            fired = maps[res]
            fired_in[k] += fired.reshape(n_unit, -1).sum(axis=1)
            d = src.data[k][x]
            for l in range(1, n_lab[k] + 1):
                c = offset[k] + l
                if d.ndim == 2:
                    mask = d == l
                elif d[l - 1]:
                    mask = np.ones(res, bool)
                else:
                    continue
                label[c] += mask.sum()
                inter[:, c] += (fired & mask).reshape(n_unit, -1).sum(axis=1)
    return inter, fired_in, label


def _iou(inter, fired_in, label, cat_of):
    n_unit, n_con = inter.shape
    iou = np.zeros((n_unit, n_con))
    for c in range(1, n_con):
        den = fired_in[cat_of[c]] + label[c] - inter[:, c]
        iou[:, c] = np.where(den > 0, inter[:, c] / np.where(den > 0, den, 1), 0)
    return iou


def _prf(inter, fired_in, label, unit_label, cat_of):
    out = {k: np.zeros(len(unit_label)) for k in ("precision", "recall", "f1", "iou", "tp", "fp", "fn")}
    for u, c in enumerate(unit_label):
        if c <= 0:
            continue
        tp = inter[u, c]
        fp = fired_in[cat_of[c]][u] - tp
        fn = label[c] - tp
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        out["precision"][u], out["recall"][u] = p, r
        out["f1"][u] = 2 * p * r / (p + r) if p + r else 0.0
        out["iou"][u] = tp / (tp + fp + fn) if tp + fp + fn else 0.0
        out["tp"][u], out["fp"][u], out["fn"][u] = tp, fp, fn
    return out


def _ap(images, W, b, groups, unit_label, cat_of, offset):
    ap = np.zeros(len(groups))
    for u, c in enumerate(unit_label):
        if c <= 0:
            continue
        k = cat_of[c]
        l = c - offset[k]
        scores, positives = [], []
        for src, x in images:
            if not src.annotated(k, x):
                continue
            res = tuple(src.res[k])
            scores.append(_unit_maps(src, x, W, b, [groups[u]], res)[0].ravel())
            d = src.data[k][x]
            positives.append((d == l).ravel() if d.ndim == 2 else np.full(res[0] * res[1], bool(d[l - 1])))
        if scores:
            ap[u] = average_precision(np.concatenate(positives), np.concatenate(scores))
    return ap


def directions(path):
    """W, b as the toolkit reads a directions file: from unit, margin,
    threshold and center (W = ū/M, b = (ūᵀc + t)/M)."""
    f = h5py.File(path, "r")
    u, m, t, c = f["unit"][:], f["margin"][:], f["threshold"][:], f["center"][:]
    return u / m[:, None], (u @ c + t) / m


def evaluate(directions_path, features_path, val_images=None, val_path=None):
    W, b = directions(directions_path)
    train_src = Source(features_path)
    if val_path is None:
        val_set = set(int(v) for v in val_images)
        train = [(train_src, x) for x in range(train_src.n) if x not in val_set]
        val = [(train_src, x) for x in sorted(val_set)]
        sources = [train_src]
    else:
        val_src = Source(val_path)
        train = [(train_src, x) for x in range(train_src.n)]
        val = [(val_src, x) for x in range(val_src.n)]
        sources = [train_src, val_src]
    cats, offset, n_lab, names, cat_of = _vocabulary(sources)
    n_con, n_det = len(names), W.shape[0]
    single = [[i] for i in range(n_det)]
    tr = _counts(train, W, b, single, cats, offset, n_lab, n_con)
    va = _counts(val, W, b, single, cats, offset, n_lab, n_con)
    iou_train, iou_val = _iou(*tr, cat_of), _iou(*va, cat_of)
    best = np.argmax(iou_train, axis=1)                        # column 0 (none) is 0: ties → none
    phi = iou_val[np.arange(n_det), best]
    out = {"iou/train": iou_train[:, 1:], "iou/val": iou_val[:, 1:], "label": best - 1,
           "label_iou_val": phi, "label_iou_train": iou_train[np.arange(n_det), best],
           "concept_names": names[1:]}
    out["s1"] = phi.sum()
    out["s2"] = sum(phi[best == c].max() for c in set(best.tolist()))
    ind = _prf(*va, best, cat_of)
    ind["ap"] = _ap(val, W, b, single, best, cat_of, offset)
    lor_labels = sorted(set(int(c) for c in best if c > 0))
    lor_groups = [[i for i in range(n_det) if best[i] == c] for c in lor_labels]
    lor = {k: np.zeros(0) for k in ("precision", "recall", "f1", "iou", "tp", "fp", "fn", "ap")}
    if lor_groups:
        lo = _counts(val, W, b, lor_groups, cats, offset, n_lab, n_con)
        lor = _prf(*lo, lor_labels, cat_of)
        lor["ap"] = _ap(val, W, b, lor_groups, lor_labels, cat_of, offset)
    for k, v in ind.items():
        out["individual/" + k] = v
    for k, v in lor.items():
        out["linear_or/" + k] = v
    out["linear_or/label"] = np.array(lor_labels, int) - 1
    out["linear_or/members"] = np.array([len(g) for g in lor_groups], int)
    out["linear_or_s1"] = lor["iou"].sum()
    return out


def compare(path, ref, tol=1e-12):
    """Asserts that the EVAL file at path holds ref's values."""
    f = h5py.File(path, "r")
    for k, want in ref.items():
        if k in ("s1", "s2"):
            got = f.attrs[k]
        elif k == "linear_or_s1":
            got = f["linear_or"].attrs["s1"]
            assert abs(f["linear_or"].attrs["s2"] - got) <= tol
        elif k == "concept_names":
            got = [n.decode() if isinstance(n, bytes) else n for n in f[k][:]]
            assert got == want, (k, got, want)
            continue
        else:
            got = f[k][:]
        want = np.asarray(want, dtype=np.float64)
        got = np.asarray(got, dtype=np.float64)
        assert got.shape == want.shape, (k, got.shape, want.shape)
        assert np.allclose(got, want, rtol=tol, atol=tol), (k, got, want)
    for group in ("individual", "linear_or"):
        for m in ("precision", "recall", "f1", "iou", "ap"):
            v = f[group + "/" + m][:]
            mean = f[group].attrs["mean_" + m]
            assert (len(v) == 0 and np.isnan(mean)) or abs(v.mean() - mean) <= 1e-12, (group, m)
