#!/usr/bin/python3
"""torch_eddp — the EDDP training step of the toolkit's CPU backend, written
in plain PyTorch (autograd for the gradient), for bench/bench_torch.sh and
tests/tools/test-torch-crosscheck.sh.

    torch_eddp.py check DUMP [--tol-value 1e-6] [--tol-grad 1e-8]
        Recomputes from build/bench/torch_ref's DUMP (same parameters, same
        batch, same augmented-Lagrangian state) every enabled term, the AL
        total and its gradient w.r.t. the flat parameters, prints them beside
        the C values and exits 1 when a term or the total differs by more than
        --tol-value relative, or the gradient by more than --tol-grad relative
        to its largest component (max-norm).
    torch_eddp.py time DUMP FEATURES --epochs E [--threads T] [--dtype float64]
        Trains E epochs from DUMP's parameters on the images of FEATURES the
        way train_run does (shuffled batches of whole images, κ uniform per
        image, Adam, multiplier updates every al_every epochs from a full-data
        pass); prints "torch_seconds S" (data loading not timed) and
        "torch_objective X" (mean objective of the last epoch).

The maths follows libcore (losses.c, ura.c, objective.c, detectors.c,
param.c, optim.c), written the natural PyTorch way: logsigmoid, softmax
entropies, linalg.solve; no fused passes, no hand-written backward.
"""
import argparse
import math
import sys
import time

import h5py
import numpy as np
import torch
import torch.nn.functional as F

LN2 = math.log(2.0)
S_MIN = 1e-12      # LOSS_S_MIN (losses.h)
FSO_EPS = 1e-12    # LOSS_FSO_EPS (losses.h)
TERMS = ["s", "sb", "ma", "mm", "ic", "eac", "uur", "cur", "fso", "cnn"]
KIND_STANDARDISED, KIND_FREE = 1, 2
# --coverage and --sparsity (trainopts) modelled here; per-detector and soft
# (the R_SW soft maximum of the deficits, floors from the soft assignment)
# are not.
COVERAGES = ("mean", "reward", "union")
SPARSITIES = ("entropy", "overlap")


def modelled(where, coverage, sparsity):
    """coverage, sparsity if this implementation models them; else exits."""
    if coverage not in COVERAGES:
        sys.exit(f"{where}: --coverage {coverage} is not modelled (only {', '.join(COVERAGES)})")
    if sparsity not in SPARSITIES:
        sys.exit(f"{where}: --sparsity {sparsity} is not modelled (only {', '.join(SPARSITIES)})")
    return coverage, sparsity


def attr_string(attrs, name, default):
    """A string root attribute (str or bytes, as h5py gives it), default when absent."""
    v = attrs.get(name, default)
    return v.decode() if isinstance(v, bytes) else str(v)


class Problem:
    """Everything torch_ref wrote: layout, parameters, head, settings."""

    def __init__(self, path, dtype=torch.float64):
        if path is None:     # Problem.build fills the attributes
            return
        f = h5py.File(path, "r")
        a = f.attrs
        if a["format"] != "eddp-torch-ref":
            sys.exit(f"torch_eddp: {path}: not a torch_ref dump (format {a['format']!r})")
        self.dtype = dtype
        self.kind = int(a["kind"])
        self.n_det, self.n_dim, self.hw = int(a["n_det"]), int(a["n_dim"]), int(a["hw"])
        self.has_signals = bool(a["has_signals"])
        for k in ("gamma", "tau", "rho", "nu", "kappa_lo", "kappa_hi", "lr", "al_penalty", "al_growth",
                  "al_penalty_max"):
            setattr(self, k, float(a[k]))
        self.batch, self.al_every = int(a["batch"]), int(a["al_every"])
        self.constrained_run, self.seed = bool(a["constrained"]), int(a["seed"])
        # dumps written before torch_ref recorded them ran the paper's terms
        self.coverage, self.sparsity = modelled(f"torch_eddp: {path}", attr_string(a, "coverage", "mean"),
                                                attr_string(a, "sparsity", "entropy"))
        t = lambda x: torch.tensor(np.asarray(x), dtype=dtype)
        self.center, self.scale = t(f["center"][:]), t(f["scale"][:])
        self.params = torch.tensor(f["params"][:], dtype=torch.float64)
        self.head_w, self.head_b = t(f["head/weight"][:]), t(f["head/bias"][:])
        self.enabled = [bool(x) for x in f["terms/enabled"][:]]
        self.constrained = [bool(x) for x in f["terms/constrained"][:]]
        self.weight, self.bound = list(f["terms/weight"][:]), list(f["terms/bound"][:])
        # AL indices in objective_constraints order: enabled and constrained terms.
        self.al_ids = [j for j in range(len(TERMS)) if self.enabled[j] and self.constrained[j]]
        if "al" in f:
            self.check_mult = list(f["al/multipliers"][:])
            self.check_penalty = float(f["al"].attrs["penalty"])
        c = f["check"]
        self.check = dict(X=t(c["X"][:]), pooled=t(c["pooled"][:]), kappa=t(c["kappa"][:]),
                          values=list(c["values"][:]), grad=c["grad"][:], total=float(c.attrs["total"]))
        f.close()
        nd = self.n_det * self.n_dim
        self.off_margin = nd
        self.off_threshold = nd + (1 if self.kind == KIND_STANDARDISED else self.n_det)
        self.off_signal = self.off_threshold + (1 if self.kind == KIND_STANDARDISED else self.n_det)

    def on(self, name):
        return self.enabled[TERMS.index(name)]

    @classmethod
    def build(cls, kind, n_det, hw, center, scale, head_w, head_b, settings, dtype=torch.float64):
        """A problem from settings instead of a dump (bench/torch_whole.py):
        center, scale [n_dim] (the per-channel pixel mean and deviation),
        head [K × n_dim], [K]; settings: a dict with the keys a dump's root
        attributes hold (gamma ... seed, coverage and sparsity: mean and
        entropy when absent) and enabled, constrained, weight, bound (lists
        in TERMS order)."""
        P = cls(None)
        P.dtype, P.kind, P.n_det, P.n_dim, P.hw = dtype, kind, n_det, int(center.numel()), hw
        P.has_signals = kind == KIND_FREE
        P.coverage, P.sparsity = "mean", "entropy"
        for k, v in settings.items():
            setattr(P, k, v)
        modelled("torch_eddp", P.coverage, P.sparsity)
        P.center, P.scale = center.to(dtype), scale.to(dtype)
        P.head_w, P.head_b = head_w.to(dtype), head_b.to(dtype)
        P.al_ids = [j for j in range(len(TERMS)) if P.enabled[j] and P.constrained[j]]
        nd = n_det * P.n_dim
        P.off_margin = nd
        P.off_threshold = nd + (1 if kind == KIND_STANDARDISED else n_det)
        P.off_signal = P.off_threshold + (1 if kind == KIND_STANDARDISED else n_det)
        return P


# ---------------------------------------------------------------- detectors

def householder_rows(vectors, n_det, n_dim):
    """Rows of (H_1 ⋯ H_n E)ᵀ, H_k = I − 2 v vᵀ/‖v‖² (param.c): R ← R H_k for k = n..1."""
    rows = torch.eye(n_det, n_dim, dtype=vectors.dtype)
    for k in range(n_det - 1, -1, -1):
        v = vectors[k]
        rows = rows - (2.0 / (v @ v)) * torch.outer(rows @ v, v)
    return rows


def detectors(P, params):
    """Flat parameters → unit directions, margins M, thresholds t, effective
    raw W [n_det × n_dim], b [n_det] (a = W x − b) and signals S (detectors.c)."""
    n_det, n_dim = P.n_det, P.n_dim
    vectors = params[: n_det * n_dim].view(n_det, n_dim)
    if P.kind == KIND_STANDARDISED:
        unit = householder_rows(vectors, n_det, n_dim)
        M = torch.exp(params[P.off_margin]).expand(n_det)
        t = params[P.off_threshold].expand(n_det)
        S = None
    else:
        unit = vectors / vectors.norm(dim=1, keepdim=True)
        M = torch.exp(params[P.off_margin: P.off_margin + n_det])
        t = params[P.off_threshold: P.off_threshold + n_det]
        S = params[P.off_signal:].view(n_det, n_dim) if P.has_signals else None
    W = unit / (P.scale[None, :] * M[:, None])
    b = (unit @ (P.center / P.scale) + t) / M
    return dict(unit=unit, M=M, t=t, W=W, b=b, S=S)


# ---------------------------------------------------------------- losses

def rsw(x, nu):
    """R_SW(x) = Σ x₊^{ν+1} / Σ x₊^ν, computed on x/max (the max only scales)."""
    top = x.detach().max().clamp(min=0)
    if top == 0:
        return x.sum() * 0
    r = (x / top).clamp(min=0)
    return top * (r ** (nu + 1)).sum() / (r ** nu).sum()


def pixel_terms(P, A, values):
    """L^s, L^sb (per pixel: the entropy of q in bits, or the detectors'
    overlap), L^ma (bits) and the coverage L^ic and L^eac of logits A
    [n_pix × n_det] (losses.h: LOSS_SPARSITY_*, LOSS_COVERAGE_*)."""
    ln_y = F.logsigmoid(A)
    y = torch.exp(ln_y)
    S = y.sum(1)
    ln_s = torch.log(S.clamp(min=S_MIN))              # S̃ = max(S, S_MIN), constant when clamped
    ln_q = ln_y - ln_s[:, None]
    q = torch.exp(ln_q)
    if P.sparsity == "overlap":                       # (1/I) Σ_{i≠j} y_i y_j = (S² − Σ y²)/I
        per_pixel = (S * S - (y * y).sum(1)) / P.n_det
    else:                                             # entropy of q per pixel, bits
        per_pixel = -(q * ln_q).sum(1) / LN2
    values["s"] = per_pixel.mean()
    if P.on("sb"):
        values["sb"] = rsw(per_pixel, P.nu)
    if P.on("ma"):
        values["ma"] = (-(q * ln_y).sum(1) / LN2).mean()
    if P.on("ic") and P.coverage == "union":          # E_p Π_i (1 − y_i), ln(1 − y) = logsigmoid(−a)
        values["ic"] = torch.exp(F.logsigmoid(-A).sum(1)).mean()
    if (P.on("ic") and P.coverage != "union") or P.on("eac"):
        g = torch.exp(P.gamma * ln_y).mean(0)         # g_i = mean_p y^γ
        nu_ic = P.tau / P.n_det
        if P.on("ic") and P.coverage == "reward":     # the floor at the whole set: 1 − mean_i g_i
            values["ic"] = 1.0 - g.mean()
        elif P.on("ic") and P.coverage == "mean":
            values["ic"] = (F.relu(nu_ic - g) / nu_ic).mean()
        if P.on("eac"):
            values["eac"] = rsw(F.relu(g - P.rho) / (1.0 - P.rho), P.nu)


def head_loss(P, moved):
    """−mean entropy (bits) of the head's softmax on moved pooled features."""
    logp = torch.log_softmax(moved @ P.head_w.T + P.head_b, dim=1)
    return (torch.exp(logp) * logp).sum(1).mean() / LN2


def ura_terms(P, det, pooled, kappa, values):
    """L^uur (step a: the projection in the standardised space) and L^cur (ura.c)."""
    if P.on("uur"):
        if P.kind == KIND_STANDARDISED:
            xs = (pooled - P.center) / P.scale
            unit, t = det["unit"], det["t"]
            u = torch.linalg.solve(unit @ unit.T, (xs @ unit.T - t).T).T
            moved = pooled - kappa[:, None] * P.scale * (u @ unit)
        else:
            W, b = det["W"], det["b"]
            u = torch.linalg.solve(W @ W.T, (pooled @ W.T - b).T).T
            moved = pooled - kappa[:, None] * (u @ W)
        values["uur"] = head_loss(P, moved)
    if P.on("cur"):
        W, b, S = det["W"], det["b"], det["S"]
        u = torch.linalg.solve(W @ S.T, (pooled @ W.T - b).T).T
        values["cur"] = head_loss(P, pooled - kappa[:, None] * (u @ S))


def fso(W, S):
    wn = W / W.norm(dim=1, keepdim=True)
    sn = S / S.norm(dim=1, keepdim=True)
    c = wn @ sn.T
    n = c.shape[0]
    off = 1.0 - torch.eye(n, dtype=c.dtype)
    return torch.sqrt((c * c * off).sum() / (n * n) + FSO_EPS)


def terms(P, params, X, pooled, kappa):
    """Every enabled term on one batch (objective.c forward_all)."""
    det = detectors(P, params)
    A = X @ det["W"].T - det["b"]
    values = {}
    pixel_terms(P, A, values)
    if P.on("mm"):
        values["mm"] = (1.0 / det["M"]).mean()
    if P.on("fso"):
        values["fso"] = fso(det["W"], det["S"])
    ura_terms(P, det, pooled, kappa, values)
    return values


def objective(P, values, al):
    """λ-weighted terms plus the PHR penalty Σ (max(0, μ + ρc)² − μ²)/(2ρ) of
    the constrained ones (objective_weights, al_penalty_value); al = (μ, ρ)."""
    total = 0.0
    for j, name in enumerate(TERMS):
        if P.enabled[j] and not (al and P.constrained[j]):
            total = total + P.weight[j] * values[name]
    if al:
        mult, rho = al
        for k, j in enumerate(P.al_ids):
            shifted = torch.clamp(mult[k] + rho * (values[TERMS[j]] - P.bound[j]), min=0.0)
            total = total + (shifted * shifted - mult[k] ** 2) / (2 * rho)
    return total


# ---------------------------------------------------------------- check

def check(args):
    P = Problem(args.dump)
    params = P.params.clone().requires_grad_(True)
    c = P.check
    values = terms(P, params, c["X"], c["pooled"], c["kappa"])
    total = objective(P, values, (P.check_mult, P.check_penalty) if P.al_ids else None)
    total.backward()
    ok = True
    print(f"{'term':8} {'C':>22} {'PyTorch':>22} {'relative':>10}")

    def compare(name, ours, theirs):
        nonlocal ok
        rel = abs(ours - theirs) / abs(theirs) if theirs != 0 else abs(ours)
        bad = not rel <= args.tol_value
        ok &= not bad
        print(f"{name:8} {theirs:22.15g} {ours:22.15g} {rel:10.2e}{'  FAIL' if bad else ''}")

    for j, name in enumerate(TERMS):
        if P.enabled[j]:
            compare(name, float(values[name]), float(c["values"][j]))
    compare("AL total", float(total), c["total"])
    g_c, g_t = c["grad"], params.grad.numpy()
    scale = np.abs(g_c).max()
    rel = np.abs(g_t - g_c).max() / scale
    bad = not rel <= args.tol_grad
    ok &= not bad
    print(f"gradient: {g_c.size} components, max |C| {scale:.3e}, max |PyTorch − C| / max |C| = {rel:.2e}"
          f"{'  FAIL' if bad else ''}")
    return 0 if ok else 1


# ---------------------------------------------------------------- training

def load_features(path, dtype):
    """[N × C × HW] float32 as stored, pooled [N × C] in dtype (mean over HW, in float64)."""
    with h5py.File(path, "r") as f:
        feats = torch.from_numpy(f["features"][:])
    n, c = feats.shape[:2]
    feats = feats.reshape(n, c, -1)
    pooled = torch.empty(n, c, dtype=torch.float64)
    for i0 in range(0, n, 1024):
        pooled[i0:i0 + 1024] = feats[i0:i0 + 1024].double().mean(2)
    return feats, pooled.to(dtype)


def gather(feats, pooled, idx, dtype):
    """Pixel rows X [n·hw × C] (pixel-major within each image) and pooled rows."""
    X = feats[idx].transpose(1, 2).reshape(-1, feats.shape[1]).to(dtype)
    return X, pooled[idx]


class AugmentedLagrangian:
    """optim.c's al_state: multipliers, penalty growth when the violation does
    not shrink to a quarter."""

    def __init__(self, P):
        self.P, self.mult = P, [0.0] * len(P.al_ids)
        self.rho, self.last = P.al_penalty, math.inf

    def update(self, values):
        P = self.P
        c = [values[TERMS[j]] - P.bound[j] for j in P.al_ids]
        violation = max([0.0] + [max(ck, -mk / self.rho) for ck, mk in zip(c, self.mult)])
        self.mult = [max(0.0, mk + self.rho * ck) for ck, mk in zip(c, self.mult)]
        if violation > 0.25 * self.last:
            self.rho = min(self.rho * P.al_growth, P.al_penalty_max)
        self.last = violation


def evaluate(P, params, feats, pooled, dtype):
    """train_evaluate: batch values averaged over all images, in one fixed
    shuffled order (the same at every call), κ at the middle of its range."""
    n = feats.shape[0]
    order = torch.randperm(n, generator=torch.Generator().manual_seed(P.seed + 7))
    sums = {}
    with torch.no_grad():
        for b0 in range(0, n, P.batch):
            idx = order[b0:b0 + P.batch]
            X, m = gather(feats, pooled, idx, dtype)
            kappa = torch.full((len(idx),), 0.5 * (P.kappa_lo + P.kappa_hi), dtype=dtype)
            for k, v in terms(P, params, X, m, kappa).items():
                sums[k] = sums.get(k, 0.0) + float(v) * len(idx)
    return {k: v / n for k, v in sums.items()}


def fit(P, params, feats, pooled, epochs, dtype, gen):
    """train_run's loop: E epochs of shuffled batches of whole images, κ
    uniform per image, Adam, multiplier updates every al_every epochs from a
    full-data pass. Returns the trained parameters (detached) and the mean
    objective of the last epoch."""
    params = params.to(dtype).clone().requires_grad_(True)
    adam = torch.optim.Adam([params], lr=P.lr, betas=(0.9, 0.999), eps=1e-8)
    al = AugmentedLagrangian(P) if P.constrained_run and P.al_ids else None
    n = feats.shape[0]
    objective_sum = 0.0
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        objective_sum = 0.0
        for b0 in range(0, n, P.batch):
            idx = order[b0:b0 + P.batch]
            X, m = gather(feats, pooled, idx, dtype)
            kappa = P.kappa_lo + (P.kappa_hi - P.kappa_lo) * torch.rand(len(idx), generator=gen, dtype=dtype)
            total = objective(P, terms(P, params, X, m, kappa), (al.mult, al.rho) if al else None)
            adam.zero_grad()
            total.backward()
            adam.step()
            objective_sum += float(total) * len(idx)
        if al and (epoch + 1) % P.al_every == 0:
            al.update(evaluate(P, params.detach(), feats, pooled, dtype))
    return params.detach(), objective_sum / n


def train(args):
    torch.set_num_threads(args.threads)
    dtype = torch.float32 if args.dtype == "float32" else torch.float64
    P = Problem(args.dump, dtype)
    feats, pooled = load_features(args.features, dtype)
    gen = torch.Generator().manual_seed(P.seed)
    start = time.perf_counter()
    _, last_objective = fit(P, P.params, feats, pooled, args.epochs, dtype, gen)
    seconds = time.perf_counter() - start
    print(f"torch_seconds {seconds:.6f}")
    print(f"torch_objective {last_objective:.10g}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("dump")
    c.add_argument("--tol-value", type=float, default=1e-6)
    c.add_argument("--tol-grad", type=float, default=1e-8)
    t = sub.add_parser("time")
    t.add_argument("dump")
    t.add_argument("features")
    t.add_argument("--epochs", type=int, required=True)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    args = ap.parse_args()
    torch.set_num_threads(getattr(args, "threads", 1))
    return check(args) if args.cmd == "check" else train(args)


if __name__ == "__main__":
    sys.exit(main())
