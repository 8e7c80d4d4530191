#!/usr/bin/python3
"""torch_whole — the whole synthetic experiment after the data (what `make
synthetic` runs after synthgen: pipelines/synthetic.mk), written in plain
PyTorch on the CPU, for bench/bench_torch.sh part 1.

    torch_whole.py TRAIN.h5 TEST.h5 --flags DIR [--sae-lambdas 0,0.001,0.01,0.1]
                   [--threads T] [--seed S] [--start-a DUMP]

TRAIN.h5 and TEST.h5 are synthgen's files (the same data as the tools');
DIR holds the pipeline's flags files (head.flags, a.flags, d.flags,
sae.flags, rcav.flags: the settings of each step, as the tools got them).
Stages, each timed: the head (trainhead: Adam on standardised pooled
features, cross-entropy), step (a) (uibe: Householder-orthonormal
detectors, the augmented Lagrangian), step (c) (Eq. 1), step (d) (eddp:
free detectors and signal vectors), the re-estimates of Ŝ from step (d)
(Eq. 1 and the FastICA filter), Pattern-CAV, the SAEs (one per λ), the
evaluations the report holds (regress: IoU with Hungarian matching,
cosines, Eq.-17 RMSE, leakage, of d, eq1, ica, c, a, the ideal detectors,
Pattern-CAV and the SAEs; iou-label's table of step d; the full-data
diagnostics of step d and the ideal detectors) and the RCAV influence
tables of d, eq1 and Pattern-CAV (noise vectors: logistic regressions on
permuted labels, then Eq. 1; p-values; S3).

Step (a) starts from a seeded basis of torch's own (the same construction
as uibe's: the Householder vectors of the QR factorisation of a Gaussian
matrix), or with --start-a DUMP from uibe's own starting parameters
(build/bench/torch_ref --step a writes them; bench_torch.sh uses it, so
that both sides' results can be compared).

The training steps are bench/torch_eddp.py's (the same losses, autograd,
torch.optim.Adam; --coverage mean, reward or union and --sparsity entropy
or overlap, the others refused); everything runs in float64 as the tools do, except the
noise classifiers (float32, as rcav's). Batch orders, κ draws and starting
points come from torch's own generator (seeded), so trajectories differ
from the tools' while the settings are the same.

Prints "torch_import_seconds S" (measured around `import torch`), one
"stage NAME SECONDS" line per stage, and "figure NAME VALUE" lines for the
loose cross-check against the tools' outputs.
"""
import time

_t_import = time.perf_counter()
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
_t_import = time.perf_counter() - _t_import

import argparse  # noqa: E402
import itertools  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402

import h5py  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_eddp as te  # noqa: E402

D64 = torch.float64


# ---------------------------------------------------------------- settings

def read_flags(path):
    """The words of a pipeline flags file (as pipelines/step.sh splits them)."""
    with open(path) as f:
        return shlex.split(f.read())


def training_settings(words, seed):
    """uibe/eddp training options → the attributes torch_eddp's Problem holds."""
    ap = argparse.ArgumentParser(add_help=False)
    for name, kind in (("lr", float), ("batch", int), ("epochs", int), ("al-every", int), ("al-penalty", float),
                       ("al-growth", float), ("al-penalty-max", float), ("gamma", float), ("tau", float),
                       ("rho", float), ("nu", float), ("detectors", int), ("threads", int)):
        ap.add_argument("--" + name, type=kind)
    ap.add_argument("--objective", default="constrained")
    ap.add_argument("--kappa", default="0.5:0.9")
    ap.add_argument("--coverage", default="mean")
    ap.add_argument("--sparsity", default="entropy")
    ap.add_argument("--losses")
    ap.add_argument("--weight", action="append", default=[])
    ap.add_argument("--bound", action="append", default=[])
    o, rest = ap.parse_known_args(words)
    if rest:
        sys.exit(f"torch_whole: options this implementation does not model: {' '.join(rest)}")
    losses = o.losses.split(",")
    weight = dict((k, float(v)) for k, v in (w.split("=") for w in o.weight))
    bound = dict((k, float(v)) for k, v in (b.split("=") for b in o.bound))
    lo, hi = (float(x) for x in o.kappa.split(":"))
    constrained = o.objective == "constrained"
    te.modelled("torch_whole", o.coverage, o.sparsity)
    return o, dict(gamma=o.gamma, tau=o.tau, rho=o.rho, nu=o.nu, kappa_lo=lo, kappa_hi=hi, lr=o.lr,
                   batch=o.batch, al_every=o.al_every, al_penalty=o.al_penalty, al_growth=o.al_growth,
                   al_penalty_max=o.al_penalty_max, constrained_run=constrained, seed=seed,
                   coverage=o.coverage, sparsity=o.sparsity,
                   enabled=[t in losses for t in te.TERMS],
                   constrained=[constrained and t in losses and t in bound for t in te.TERMS],
                   weight=[weight.get(t, 1.0) for t in te.TERMS], bound=[bound.get(t, 0.0) for t in te.TERMS])


# ---------------------------------------------------------------- data

class Data:
    """A synthgen file: features [N × C × HW] (float32 as stored), pixel rows
    X [N·HW × C] (float64, pixel n·HW + p), pooled [N × C], labels, the
    concept map [N·HW] (0 = none) and the generator's truth."""

    def __init__(self, path):
        with h5py.File(path, "r") as f:
            feats = torch.from_numpy(f["features"][:])
            self.labels = torch.from_numpy(f["labels"][:]).long()
            self.concept = torch.from_numpy(f["concepts/concept"][:]).reshape(-1).long()
            self.concept_names = [str(x) for x in f["concepts/concept"].attrs["names"]]
            t = f["truth"]
            self.S, self.D = torch.from_numpy(t["S"][:]).double(), torch.from_numpy(t["D"][:]).double()
            self.alpha = torch.from_numpy(t["alpha"][:]).double()          # [N × I × H × W]
            self.offset = torch.from_numpy(t["offset"][:]).double()
            self.alpha_off, self.alpha_on = f.attrs["alpha_off"], f.attrs["alpha_on"]
        n, c = feats.shape[:2]
        self.feats = feats.reshape(n, c, -1)
        self.hw = self.feats.shape[2]
        self.X = self.feats.double().transpose(1, 2).reshape(-1, c)
        self.pooled = self.feats.double().mean(2)
        self.mean = self.X.mean(0)
        std = self.X.std(0, unbiased=False)
        self.std = torch.where(std > 0, std, torch.ones_like(std))
        self.alpha = self.alpha.reshape(n, self.alpha.shape[1], -1).transpose(1, 2).reshape(-1, self.alpha.shape[1])
        # An image whose concept map is all 0 is not annotated (iou-label, regress).
        self.annotated = (self.concept.view(n, -1) > 0).any(1).repeat_interleave(self.hw)


class Dirs:
    """A directions result: logits X Wᵀ − b; signal vectors S (or None);
    the refined filters of the ICA estimator (or None)."""

    def __init__(self, W, b, S=None, signal_filter=None):
        self.W, self.b, self.S, self.signal_filter = W, b, S, signal_filter

    def logits(self, X):
        return X @ self.W.T - self.b


# ---------------------------------------------------------------- head (trainhead)

def train_head(data, words, seed):
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--batch", type=int, default=1024)
    o = ap.parse_args(words)
    m = data.pooled
    mu, sd = m.mean(0), m.std(0, unbiased=False)
    sd = torch.where(sd > 0, sd, torch.ones_like(sd))
    z = (m - mu) / sd
    k = int(data.labels.max()) + 1
    linear = torch.nn.Linear(m.shape[1], k).double()
    torch.nn.init.zeros_(linear.weight)
    torch.nn.init.zeros_(linear.bias)
    adam = torch.optim.Adam(linear.parameters(), lr=o.lr)
    gen = torch.Generator().manual_seed(seed)
    n = m.shape[0]
    for _ in range(o.epochs):
        order = torch.randperm(n, generator=gen)
        loss_sum = 0.0
        for b0 in range(0, n, o.batch):
            idx = order[b0:b0 + o.batch]
            loss = F.cross_entropy(linear(z[idx]), data.labels[idx])
            adam.zero_grad()
            loss.backward()
            adam.step()
            loss_sum += float(loss) * len(idx)
    with torch.no_grad():     # fold the standardisation back: the head acts on raw pooled features
        weight = linear.weight / sd
        bias = linear.bias - (linear.weight * mu / sd).sum(1)
    return weight, bias, loss_sum / n


def head_accuracy(weight, bias, data):
    return float(((data.pooled @ weight.T + bias).argmax(1) == data.labels).double().mean())


# ---------------------------------------------------------------- steps (a), (c), (d)

def step_a(data, head, words, seed, start=None):
    o, settings = training_settings(words, seed)
    P = te.Problem.build(te.KIND_STANDARDISED, o.detectors, data.hw, data.mean, data.std, head[0], head[1], settings)
    gen = torch.Generator().manual_seed(seed)
    if start is not None:       # uibe's own starting parameters (a torch_ref dump)
        with h5py.File(start, "r") as f:
            if f.attrs["format"] != "eddp-torch-ref" or int(f.attrs["kind"]) != te.KIND_STANDARDISED:
                sys.exit(f"torch_whole: {start}: not a step-(a) torch_ref dump")
            params0 = torch.from_numpy(f["params"][:])
        if params0.numel() != P.n_det * P.n_dim + 2:
            sys.exit(f"torch_whole: {start}: {params0.numel()} parameters, expected {P.n_det * P.n_dim + 2}")
    else:
        # uibe's start: the Householder vectors of the QR factorisation of an
        # n_dim × n_det Gaussian matrix, shared margin 1 (log 0), threshold 0.
        qr, _ = torch.geqrf(torch.randn(P.n_dim, P.n_det, generator=gen, dtype=D64))
        vectors = torch.tril(qr, -1).T + torch.eye(P.n_det, P.n_dim, dtype=D64)
        params0 = torch.cat([vectors.reshape(-1), torch.zeros(2, dtype=D64)])
    params, last = te.fit(P, params0, data.feats, data.pooled, o.epochs, D64, gen)
    return P, params, last


def eq1(X, positive, filt):
    """Eq. 1 on the positive rows of X with filter output z = X filt."""
    x = X[positive]
    z = x @ filt
    xc, zc = x - x.mean(0), z - z.mean()
    return (xc * zc[:, None]).sum(0) / (zc * zc).sum()


def step_c(data, dirs):
    """Signal vectors by Eq. 1 on each detector's positives with its unit filter."""
    A = dirs.logits(data.X)
    S = torch.stack([eq1(data.X, A[:, i] > 0, dirs.W[i] / dirs.W[i].norm()) for i in range(dirs.W.shape[0])])
    return Dirs(dirs.W, dirs.b, S)


def step_d(data, head, P_a, params_a, S, words, seed):
    o, settings = training_settings(words, seed)
    P = te.Problem.build(te.KIND_FREE, P_a.n_det, data.hw, data.mean, data.std, head[0], head[1], settings)
    # eddp --step d's start: step (a)'s detectors with their own margins and
    # thresholds (the same logits), the signal vectors scaled to unit rows.
    det = te.detectors(P_a, params_a)
    params0 = torch.cat([det["unit"].reshape(-1), torch.log(det["M"]), det["t"],
                         (S / S.norm(dim=1, keepdim=True)).reshape(-1)])
    gen = torch.Generator().manual_seed(seed)
    params, last = te.fit(P, params0, data.feats, data.pooled, o.epochs, D64, gen)
    return P, params, last


def free_params(P, W, b, S):
    """Raw-space detectors (logit W x − b) and signals → step (d)'s parameters
    in the standardised space: u = Wσ/‖Wσ‖, M = 1/‖Wσ‖, t = b M − u·(c/σ)."""
    ws = W * P.scale
    M = 1 / ws.norm(dim=1)
    u = ws * M[:, None]
    t = b * M - u @ (P.center / P.scale)
    return torch.cat([u.reshape(-1), torch.log(M), t, S.reshape(-1)])


def dirs_of(P, params):
    det = te.detectors(P, params)
    return Dirs(det["W"], det["b"], det["S"])


# ---------------------------------------------------------------- ICA estimator

def fastica(Z, gen, max_iter=500, tol=1e-10):
    """Symmetric FastICA, g(u) = u³, on whitened rows Z [n × k]: unmix [k × k]."""
    def decorrelate(W):
        ev, V = torch.linalg.eigh(W @ W.T)
        return V @ torch.diag(ev.rsqrt()) @ V.T @ W
    k = Z.shape[1]
    W = decorrelate(torch.randn(k, k, generator=gen, dtype=D64))
    for _ in range(max_iter):
        U = Z @ W.T
        nxt = decorrelate((U ** 3).T @ Z / Z.shape[0] - (3 * U * U).mean(0)[:, None] * W)
        worst = float((1 - (nxt * W).sum(1).abs()).max())
        W = nxt
        if worst < tol:
            break
    return W


ICA_RESTARTS = 4   # libcore/evaluation/ica.c, ica_config_default


def step_ica(data, dirs, seed):
    """eddp --step c --estimator ica: per detector, FastICA on its whitened
    positives from ICA_RESTARTS starts; the source whose mean moves most
    between the positives and the rest, over all starts, gives the filter;
    Eq. 1 with that filter."""
    gen = torch.Generator().manual_seed(seed)
    A = dirs.logits(data.X)
    filters, signals = [], []
    for i in range(dirs.W.shape[0]):
        pos = A[:, i] > 0
        xp = data.X[pos]
        mean_pos, mean_neg = xp.mean(0), data.X[~pos].mean(0)
        cov = torch.cov(xp.T, correction=0)
        ev, V = torch.linalg.eigh(cov)
        keep = torch.flip(ev > 1e-6 * ev[-1], (0,)).nonzero().numel()
        keep = min(keep, 64)
        E = torch.flip(V, (1,))[:, :keep] / torch.flip(ev, (0,))[:keep].sqrt()   # [n_dim × k]
        Z = (xp - mean_pos) @ E
        f, best_shift = None, -1.0
        for _ in range(ICA_RESTARTS):
            Fs = fastica(Z, gen) @ E.T                                        # source filters [k × n_dim]
            shift = Fs @ (mean_pos - mean_neg)
            best = int(shift.abs().argmax())
            if float(shift[best].abs()) > best_shift:
                best_shift = float(shift[best].abs())
                f = torch.sign(shift[best]) * Fs[best] / Fs[best].norm()
        s = cov @ f
        filters.append(f)
        signals.append(s / (f @ s))
    return Dirs(dirs.W, dirs.b, torch.stack(signals), torch.stack(filters))


# ---------------------------------------------------------------- baselines

def pattern_cav(data):
    """v_k = mean of the pixels labelled k − mean of the other pixels of the
    annotated images; detector unit·(x − mean)."""
    S = []
    for k in range(1, len(data.concept_names) + 1):
        pos = data.concept == k
        neg = data.annotated & ~pos
        S.append(data.X[pos].mean(0) - data.X[neg].mean(0))
    S = torch.stack(S)
    unit = S / S.norm(dim=1, keepdim=True)
    return Dirs(unit, unit @ data.mean, S)


class SparseAutoencoder(torch.nn.Module):
    """Bricken et al.: f = ReLU(W_e (x − b_d) + b_e), x̂ = W_d f + b_d."""

    def __init__(self, n_dim, hidden, mean, gen):
        super().__init__()
        self.encoder = torch.nn.Linear(n_dim, hidden).double()
        self.decoder = torch.nn.Linear(hidden, n_dim).double()
        with torch.no_grad():
            d = torch.randn(n_dim, hidden, generator=gen, dtype=D64)
            self.decoder.weight.copy_(d / d.norm(dim=0, keepdim=True))
            self.encoder.weight.copy_(self.decoder.weight.T)
            self.encoder.bias.zero_()
            self.decoder.bias.copy_(mean)

    def forward(self, x):
        f = F.relu(self.encoder(x - self.decoder.bias))
        return self.decoder(f), f


def train_sae(data, lam, words, seed):
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--hidden", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=1024)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int)
    o = ap.parse_args(words)
    gen = torch.Generator().manual_seed(seed)
    sae = SparseAutoencoder(data.X.shape[1], o.hidden, data.mean, gen)
    adam = torch.optim.Adam(sae.parameters(), lr=o.lr)
    X, n = data.X, data.X.shape[0]

    def loss_of(x):
        xr, f = sae(x)
        return ((x - xr) ** 2).sum(1).mean() + lam * f.abs().sum(1).mean()

    for _ in range(o.epochs):
        order = torch.randperm(n, generator=gen)
        for b0 in range(0, n, o.batch):
            loss = loss_of(X[order[b0:b0 + o.batch]])
            adam.zero_grad()
            loss.backward()
            adam.step()
            with torch.no_grad():
                sae.decoder.weight /= sae.decoder.weight.norm(dim=0, keepdim=True)
    with torch.no_grad():
        final = float(loss_of(X))
        W_e, b_e, W_d, b_d = sae.encoder.weight, sae.encoder.bias, sae.decoder.weight, sae.decoder.bias
        return Dirs(W_e.clone(), W_e @ b_d - b_e, W_d.T.clone()), final


# ---------------------------------------------------------------- evaluation (regress)

def iou_table(data, firing):
    """IoU of each detector's firing pixels [n_pix × n_det] with each concept,
    a detector's pixels counting against a concept in annotated images only."""
    n_con = len(data.concept_names)
    labels = torch.stack([data.concept == k + 1 for k in range(n_con)], 1).double()   # [n_pix × n_con]
    fire = firing.double()
    inter = fire.T @ labels
    fired = (fire * data.annotated[:, None]).sum(0)
    union = fired[:, None] + labels.sum(0)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


def best_matching(score):
    """Hungarian matching (maximum total score) by enumeration: the synthetic
    experiment matches 3 to 4 rows (scipy is not a dependency)."""
    n_det, n_con = score.shape
    best, match = -math.inf, [-1] * n_det
    if n_det <= n_con:
        for cols in itertools.permutations(range(n_con), n_det):
            total = sum(float(score[i, c]) for i, c in enumerate(cols))
            if total > best:
                best, match = total, list(cols)
    else:
        for rows in itertools.permutations(range(n_det), n_con):
            total = sum(float(score[r, c]) for c, r in enumerate(rows))
            if total > best:
                best, match = total, [-1] * n_det
                for c, r in enumerate(rows):
                    match[r] = c
    return match


def cosine(a, b):
    return (a / a.norm(dim=-1, keepdim=True)) @ (b / b.norm(dim=-1, keepdim=True)).T


def regress(data, dirs, match="iou"):
    """IoU, matching, cosines, Eq.-17 RMSE and leakage against the truth."""
    iou = iou_table(data, dirs.logits(data.X) > 0)
    n_det, n_con = iou.shape
    if match == "identity":
        m = [i if i < n_con else -1 for i in range(n_det)]
    elif match == "cosine":
        m = best_matching(cosine(dirs.S, data.S).abs())
    else:
        m = best_matching(iou)
    cos = [math.nan] * n_det
    if dirs.S is not None:
        c = cosine(dirs.S, data.S)
        cos = [float(c[i, m[i]].abs() if match == "cosine" else c[i, m[i]]) if m[i] >= 0 else math.nan
               for i in range(n_det)]
    alpha_c = data.alpha - data.alpha.mean(0)

    def rmse(filters):
        if dirs.S is None:
            return math.nan
        s_hat = dirs.S / dirs.S.norm(dim=1, keepdim=True)
        est = (data.X @ filters.T - filters @ data.mean) / (filters * s_hat).sum(1)      # Eq. 17
        errs = [est[:, i] - alpha_c[:, m[i]] for i in range(n_det) if m[i] >= 0]
        return float(torch.cat(errs).pow(2).mean().sqrt()) if errs else math.nan

    own = [data.S[m[i]] if m[i] >= 0 else None for i in range(n_det)]
    leak_s, leak_d = [], []
    for i in range(n_det):
        if own[i] is None:
            leak_s.append(math.nan), leak_d.append(math.nan)
            continue
        w = dirs.W[i]
        on = abs(float(w @ own[i]))
        others = [abs(float(w @ data.S[j])) for j in range(n_con) if j != m[i]]
        leak_s.append(max(others, default=0.0) / on)
        leak_d.append(float((data.D @ w).abs().max()) / on)
    return dict(iou=iou, match=m, cosine=cos, rmse=rmse(dirs.W),
                rmse_refined=rmse(dirs.signal_filter) if dirs.signal_filter is not None else math.nan,
                leak_signal=leak_s, leak_distractor=leak_d)


def ideal_dirs(data, softness=0.1):
    """regress --ideal: rows of pinv([S | D]) as filters, threshold midway."""
    P = torch.linalg.pinv(torch.cat([data.S, data.D]).T)[: data.S.shape[0]]
    threshold = 0.5 * (float(data.alpha_on[0]) + float(data.alpha_off[1]))
    return Dirs(P / softness, (threshold + P @ data.offset) / softness, data.S.clone())


# ---------------------------------------------------------------- iou-label

def average_precision(score, positive):
    """scikit-learn's average_precision_score (step form, ties grouped)."""
    order = torch.argsort(score, descending=True)
    s, y = score[order], positive[order].double()
    tp = torch.cumsum(y, 0)
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]                     # the last of each run of equal scores
    tp, k = tp[last], torch.arange(1, len(s) + 1, dtype=D64)[last]
    precision, recall = tp / k, tp / max(float(y.sum()), 1.0)
    return float(((recall - torch.cat([recall.new_zeros(1), recall[:-1]])) * precision).sum())


def iou_label(train, val, dirs):
    """Labels from the train split, the validation table, S1/S2, the individual
    and the Linear-OR metrics (means over detectors, unlabelled ones as 0)."""
    train_iou = iou_table(train, dirs.logits(train.X) > 0)
    A_val = dirs.logits(val.X)
    val_iou = iou_table(val, A_val > 0)
    labels = [int(train_iou[i].argmax()) if float(train_iou[i].max()) > 0 else -1 for i in range(len(train_iou))]
    s1 = sum(float(val_iou[i, l]) for i, l in enumerate(labels) if l >= 0)
    s2 = sum(max(float(val_iou[i, l]) for i in range(len(labels)) if labels[i] == l) for l in set(labels) if l >= 0)

    def unit_metrics(score, label):
        if label < 0:
            return [0.0] * 5
        fire, truth, ann = score > 0, val.concept == label + 1, val.annotated
        tp = float((fire & truth).sum())
        fp = float((fire & ~truth & ann).sum())
        fn = float((~fire & truth).sum())
        p = tp / (tp + fp) if tp + fp else 0.0
        r = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        iou = tp / (tp + fp + fn) if tp + fp + fn else 0.0
        return [iou, p, r, f1, average_precision(score[ann], truth[ann])]

    individual = [unit_metrics(A_val[:, i], l) for i, l in enumerate(labels)]
    units = sorted(set(l for l in labels if l >= 0))
    linear_or = [unit_metrics(A_val[:, [i for i in range(len(labels)) if labels[i] == l]].max(1).values, l)
                 for l in units]
    mean = lambda rows: [sum(c) / len(rows) for c in zip(*rows)] if rows else [0.0] * 5
    return dict(labels=labels, val_iou=val_iou, s1=s1, s2=s2, individual=mean(individual), linear_or=mean(linear_or))


# ---------------------------------------------------------------- influence (rcav)

def sensitivity(val, head, V, alpha):
    """SC [n_dir × K]: 2·(share of each class's images whose p_k does not fall) − 1."""
    weight, bias = head
    q = torch.softmax(val.pooled @ weight.T + bias, 1)                      # [N × K]
    delta = alpha * weight @ (V / (V.norm(dim=1, keepdim=True) * math.sqrt(val.hw))).T   # [K × n_dir]
    g = torch.expm1(delta)
    rises = (q @ g)[:, None, :] <= g[None, :, :]                          # [N × K × n_dir]
    K = weight.shape[0]
    frac = torch.stack([rises[val.labels == k, k, :].double().mean(0) for k in range(K)], 1)   # [n_dir × K]
    return 2 * frac - 1


def noise_vectors(train, dirs, cfg, gen):
    """Per detector: the balanced sample of its positive and negative pixels,
    N logistic regressions on permuted labels (trained together: one weight
    matrix, their losses summed), Eq. 1 on each classifier's positives."""
    A = dirs.logits(train.X)
    out = []
    for i in range(A.shape[1]):
        pos, neg = (A[:, i] > 0).nonzero().view(-1), (A[:, i] <= 0).nonzero().view(-1)
        m = min(len(pos), len(neg), cfg.sample // 2)
        if m < 1:
            out.append((torch.zeros(cfg.noise, train.X.shape[1], dtype=D64), torch.zeros(cfg.noise, dtype=torch.bool)))
            continue
        idx = torch.cat([pos[torch.randperm(len(pos), generator=gen)[:m]], neg[torch.randperm(len(neg), generator=gen)[:m]]])
        X = train.X[idx]
        X32 = X.float()
        Y = torch.stack([(torch.randperm(2 * m, generator=gen) < m).float() for _ in range(cfg.noise)], 1)  # [2m × N]
        W = torch.zeros(X.shape[1], cfg.noise, requires_grad=True)
        b = torch.zeros(cfg.noise, requires_grad=True)
        adam = torch.optim.Adam([W, b], lr=cfg.noise_lr)
        for _ in range(cfg.noise_epochs):
            loss = F.binary_cross_entropy_with_logits(X32 @ W + b, Y, reduction="none").mean(0).sum()
            adam.zero_grad()
            loss.backward()
            adam.step()
        W, b = W.detach().double(), b.detach().double()
        logits = X @ W + b
        S, alive = [], []
        for n in range(cfg.noise):
            p = logits[:, n] > 0
            ok = int(p.sum()) >= 2 and float(W[:, n].norm()) > 0
            S.append(eq1(X, p, W[:, n] / W[:, n].norm()) if ok else torch.zeros(X.shape[1], dtype=D64))
            alive.append(ok)
        out.append((torch.stack(S), torch.tensor(alive)))
    return out


def rcav(train, val, head, dirs, cfg, seed, labels=None, sc_pcav=None):
    """SC of each signal vector, its p-value against its detector's noise
    vectors, significance (Bonferroni), the Table-8 statistics and, given
    the labels of the detectors (iou-label) and the SC of the Pattern-CAVs
    (row k: concept k, as the labels count), S3."""
    gen = torch.Generator().manual_seed(seed)
    SC = sensitivity(val, head, dirs.S, cfg.alpha)
    n_det, K = SC.shape
    p = torch.full((n_det, K), math.nan, dtype=D64)
    for i, (S_noise, alive) in enumerate(noise_vectors(train, dirs, cfg, gen)):
        if alive.any():
            sc_noise = sensitivity(val, head, S_noise[alive], cfg.alpha)
            p[i] = (sc_noise.abs() >= SC[i].abs()).double().mean(0)
    sig = p < cfg.level / (n_det * K)
    masked = torch.where(sig, SC, torch.zeros_like(SC))
    pos, neg = (masked > 0).sum(1), (masked < 0).sum(1)
    stats = dict(sdc=int((pos + neg > 0).sum()), scdp=int((pos + neg).sum()), dir_pos=int((pos > 0).sum()),
                 dir_neg=int((neg > 0).sum()), pos_per_class=float(pos.sum()) / K, neg_per_class=float(neg.sum()) / K,
                 cls_pos=int(((masked > 0).sum(0) > 0).sum()), cls_neg=int(((masked < 0).sum(0) > 0).sum()))
    if labels is not None:
        hits = []
        for l in sorted(set(x for x in labels if x >= 0)):
            if l >= len(sc_pcav):
                continue
            members = [j for j in range(n_det) if labels[j] == l]
            for k in range(K):
                p_lk = sum(float(SC[j, k].abs()) >= float(sc_pcav[l, k].abs()) for j in members) / len(members)
                hits.append(p_lk < cfg.s3_theta / len(members))
        stats["s3"] = sum(hits) / len(hits) if hits else math.nan
    return SC, p, stats


def rcav_settings(words):
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--alpha", type=float, default=5.0)
    ap.add_argument("--noise", type=int, default=100)
    ap.add_argument("--sample", type=int, default=5000)
    ap.add_argument("--noise-epochs", type=int, default=100)
    ap.add_argument("--noise-lr", type=float, default=0.01)
    ap.add_argument("--level", type=float, default=0.05)
    ap.add_argument("--s3-theta", type=float, default=0.05)
    return ap.parse_args(words)


# ---------------------------------------------------------------- the experiment

class Stages:
    def __init__(self):
        self.t = time.perf_counter()

    def done(self, name):
        now = time.perf_counter()
        print(f"stage {name} {now - self.t:.3f}", flush=True)
        self.t = now


def figure(name, value):
    print(f"figure {name} {value:.6g}" if isinstance(value, float) else f"figure {name} {value}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("train")
    ap.add_argument("test")
    ap.add_argument("--flags", required=True, help="folder of the pipeline's flags files")
    ap.add_argument("--sae-lambdas", default="0,0.001,0.01,0.1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start-a", metavar="DUMP", help="step (a)'s starting parameters from a torch_ref dump "
                    "(uibe's seeded basis); default: a seeded basis of torch's own")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch_import_seconds {_t_import:.3f}")
    flags = lambda name: read_flags(os.path.join(args.flags, name + ".flags"))
    seed = args.seed
    for step in ("a", "d"):     # refuse what is not modelled before any work
        training_settings(flags(step), seed)
    st = Stages()

    train, test = Data(args.train), Data(args.test)
    st.done("load")

    w, b, head_loss = train_head(train, flags("head"), seed)
    head = (w, b)
    figure("head_last_epoch_loss", head_loss)
    figure("head_test_accuracy", head_accuracy(w, b, test))
    st.done("head")

    P_a, params_a, obj_a = step_a(train, head, flags("a"), seed, args.start_a)
    figure("a_last_epoch_objective", obj_a)
    a = dirs_of(P_a, params_a)
    st.done("a")
    c = step_c(train, a)
    st.done("c")
    P_d, params_d, obj_d = step_d(train, head, P_a, params_a, c.S, flags("d"), seed)
    figure("d_last_epoch_objective", obj_d)
    d = dirs_of(P_d, params_d)
    st.done("d")

    e1 = step_c(train, d)
    ica = step_ica(train, d, seed)
    st.done("eq1+ica")
    pcav = pattern_cav(train)
    st.done("pcav")
    saes = {}
    for lam in args.sae_lambdas.split(","):
        saes[lam], final = train_sae(train, float(lam), flags("sae"), seed)
        figure(f"sae_{lam}_final_loss", final)
    st.done("sae")

    evals = {name: regress(test, dirs) for name, dirs in
             (("d", d), ("eq1", e1), ("ica", ica), ("c", c), ("a", a), ("ideal", ideal_dirs(train)))}
    evals["pcav"] = regress(test, pcav, "identity")
    for lam, dirs in saes.items():
        evals[f"sae-{lam}"] = regress(test, dirs, "cosine")
    table = iou_label(train, test, d)
    diag_d = te.evaluate(P_d, params_d, train.feats, train.pooled, D64)
    ideal = ideal_dirs(train)
    diag_ideal = te.evaluate(P_d, free_params(P_d, ideal.W, ideal.b, ideal.S), train.feats, train.pooled, D64)
    st.done("evaluation")

    cfg = rcav_settings(flags("rcav"))
    SC_pcav, _, stats_pcav = rcav(train, test, head, pcav, cfg, seed)
    _, _, stats_d = rcav(train, test, head, d, cfg, seed, table["labels"], SC_pcav)
    _, _, stats_eq1 = rcav(train, test, head, e1, cfg, seed)
    st.done("influence")

    ev = evals["d"]
    matched = [float(ev["iou"][i, m]) for i, m in enumerate(ev["match"]) if m >= 0]
    figure("d_matched_iou_min", min(matched))
    figure("d_matched_iou_mean", sum(matched) / len(matched))
    for name in ("d", "eq1", "ica", "pcav") + tuple(f"sae-{lam}" for lam in saes):
        cos = [x for x in evals[name]["cosine"] if not math.isnan(x)]
        figure(f"cos_mean_{name}", sum(cos) / len(cos))
    figure("rmse_d", evals["d"]["rmse"])
    figure("iou_label_S1", table["s1"])
    figure("iou_label_mAP", table["individual"][4])
    figure("diagnose_d_L_s", float(diag_d["s"]))
    figure("diagnose_ideal_L_s", float(diag_ideal["s"]))
    if "ic" in diag_ideal:
        figure("diagnose_ideal_L_ic", float(diag_ideal["ic"]))
    figure("rcav_d_S3", stats_d["s3"])
    figure("rcav_sdc_d_eq1_pcav", f"{stats_d['sdc']}/{stats_eq1['sdc']}/{stats_pcav['sdc']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
