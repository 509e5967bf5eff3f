"""Angles between the filters of a layer, and a regulariser on them (chapter
``self_orthogonality``).

A layer y = W^T x with W = (w_1, ..., w_k) in R^{d x k} has k *filters* w_i in R^d, the
columns of W. Everything here takes weights in that form, (..., d, k), with any leading
dimensions (stacked runs): pass ``linear.weight.T`` for an ``nn.Linear`` (whose rows are the
filters); a :class:`~book.stacked.StackedMLP` already stores (M, d, k).

* :func:`cosines` and :func:`pair_cosines` give c_ij = w_i^T w_j / (||w_i|| ||w_j||), and
  :func:`pair_angles` the angles theta_ij = arccos c_ij, over the pairs i < j.
* :func:`penalty` is the self-orthogonality regulariser, a weighted sum of the squared gap
  of the mean angle to 90 degrees and of the variance of the angles.
* :func:`welch_bound` is the smallest mean of c_ij^2 that k unit vectors in R^d can reach.
* :func:`angle_density` and :func:`angle_cdf` give the law of the angle between two
  independent uniform directions in R^d, density proportional to sin^(d-2) theta.
* :func:`train_digits` trains small digit classifiers side by side, each with its own
  regulariser weight, weight decay and seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.special
import torch
import torch.nn.functional as F

from book import checks, seeding, training
from book.stacked import StackedMLP
from book.regularise import lipschitz

FORMS = ("angle", "cosine")


def _check_filters(w) -> torch.Tensor:
    if not isinstance(w, torch.Tensor) or w.ndim < 2:
        shape = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
        raise ValueError(f"weights must be a tensor (..., d, k) with k filters in R^d, got {shape}")
    if w.shape[-1] < 2 or w.shape[-2] < 1:
        raise ValueError(f"need at least 2 filters of dimension >= 1, got (d, k) = {tuple(w.shape[-2:])}")
    return w


def cosines(w: torch.Tensor) -> torch.Tensor:
    """The Gram matrix of the normalised filters, W_hat^T W_hat: (..., d, k) -> (..., k, k)."""
    # \hat w_i = w_i / ||w_i||
    wn = F.normalize(_check_filters(w), dim=-2)
    return wn.transpose(-1, -2) @ wn


def pair_cosines(w: torch.Tensor) -> torch.Tensor:
    """c_ij for the k(k-1)/2 pairs i < j, row by row: (..., d, k) -> (..., k(k-1)/2)."""
    g = cosines(w)
    i, j = torch.triu_indices(g.shape[-1], g.shape[-1], 1)
    return g[..., i, j]


def pair_angles(w: torch.Tensor) -> torch.Tensor:
    """theta_ij = arccos c_ij in radians, pairs i < j: (..., d, k) -> (..., k(k-1)/2)."""
    return torch.arccos(pair_cosines(w).clamp(-1.0, 1.0))


def penalty(w: torch.Tensor, mean_weight: float = 1.0, var_weight: float = 1.0,
            form: str = "angle") -> torch.Tensor:
    """Self-orthogonality regulariser of each filter bank, (..., d, k) -> (...).

    ``angle``: mean_weight (mean theta - pi/2)^2 + var_weight Var(theta) over the pairs;
    ``cosine``: the same with c_ij in place of theta_ij - pi/2 (mean c^2 for equal weights).
    """
    if form not in FORMS:
        raise ValueError(f"unknown form {form!r}; known: {', '.join(FORMS)}")
    checks.number(mean_weight, "mean_weight", 0.0)
    checks.number(var_weight, "var_weight", 0.0)
    g = cosines(w)
    k = g.shape[-1]
    off = 1.0 - torch.eye(k, dtype=g.dtype)                  # (k, k), zero on the diagonal
    # theta_ij - pi/2 = -arcsin c_ij; the diagonal (c = 1) is masked out before arcsin
    # (clamped a hair inside [-1, 1]: rounding can push |c| of parallel filters past 1)
    a = torch.arcsin((g * off).clamp(-1 + 1e-6, 1 - 1e-6)) if form == "angle" else g * off
    n_pairs = k * (k - 1)                                    # ordered pairs i != j
    mean = a.sum((-1, -2)) / n_pairs                         # -(mean theta - pi/2)
    mean_sq = (a * a).sum((-1, -2)) / n_pairs
    # Var = E[a^2] - (E a)^2
    return mean_weight * mean**2 + var_weight * (mean_sq - mean**2)


def welch_bound(k: int, d: int) -> float:
    """min over k unit vectors in R^d of the mean c_ij^2 over pairs: max(0, (k-d) / (d(k-1)))."""
    checks.integer(k, "k", least=2)
    checks.integer(d, "d")
    return max(0.0, (k - d) / (d * (k - 1)))


def _check_dim(d) -> int:
    return checks.integer(d, "the dimension d", least=2)


def angle_density(theta, d: int) -> np.ndarray:
    """Density of the angle between two independent uniform directions in R^d:
    p(theta) = Gamma(d/2) / (sqrt(pi) Gamma((d-1)/2)) sin^(d-2) theta on [0, pi]."""
    d = _check_dim(d)
    theta = np.asarray(theta, dtype=float)
    log_norm = scipy.special.gammaln(d / 2) - scipy.special.gammaln((d - 1) / 2) - 0.5 * math.log(math.pi)
    inside = (theta >= 0) & (theta <= math.pi)
    with np.errstate(divide="ignore"):
        log_sin = np.log(np.sin(np.clip(theta, 0.0, math.pi)))
    p = np.exp(log_norm + (d - 2) * log_sin) if d > 2 else np.full(theta.shape, 1 / math.pi)
    return np.where(inside, p, 0.0)


def angle_cdf(theta, d: int) -> np.ndarray:
    """P(angle <= theta) = I_{(1 - cos theta)/2}((d-1)/2, (d-1)/2), a regularised incomplete beta
    function, since (1 + cos angle)/2 ~ Beta((d-1)/2, (d-1)/2)."""
    d = _check_dim(d)
    a = (d - 1) / 2
    theta = np.clip(np.asarray(theta, dtype=float), 0.0, math.pi)
    return scipy.special.betainc(a, a, (1 - np.cos(theta)) / 2)


def random_directions(n: int, d: int, generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """n independent directions uniform on the unit sphere of R^d: normalised Gaussians, (n, d)."""
    checks.integer(n, "n")
    d = _check_dim(d)
    return F.normalize(torch.randn(n, d, generator=generator, dtype=dtype), dim=1)


@dataclass
class DigitsConfig:
    """A one-hidden-layer MLP (``lipschitz.mlp``), mini-batch Adam, shared by all runs."""

    hidden: int = 128
    steps: int = 300
    batch: int = 128
    lr: float = 3e-3
    form: str = "angle"         # of the penalty, see :func:`penalty`


def train_digits(x: torch.Tensor, y: torch.Tensor, lams: list[float], decays: list[float],
                 seeds: list[int], cfg: DigitsConfig = DigitsConfig(), n_classes: int = 10,
                 progress: bool = True) -> tuple[StackedMLP, list[torch.Tensor]]:
    """Train run m with loss CE + lams[m] * sum_layers penalty(W_l), decoupled weight decay
    W <- W - lr * decays[m] * W on the weights after each Adam step, from ``seeds[m]``.

    The runs are one stacked model (Adam is elementwise and run m's loss depends on its slice
    only, so each run is trained as if alone). Returns the stack in eval mode and the initial
    weights of each layer, (M, d, k).
    """
    m_runs = len(seeds)
    if m_runs == 0 or len(lams) != m_runs or len(decays) != m_runs:
        raise ValueError(f"need one lam, one decay and one seed per run (>= 1 run), got "
                         f"{len(lams)}, {len(decays)} and {m_runs}")
    for v in list(lams) + list(decays):
        checks.number(v, "every lam and decay", 0.0)
    if cfg.form not in FORMS:
        raise ValueError(f"unknown form {cfg.form!r}; known: {', '.join(FORMS)}")
    checks.integer(cfg.steps, "steps")
    gens, nets = [], []
    for s in seeds:
        gens.append(seeding.everything(s))
        nets.append(lipschitz.mlp(x.shape[1], n_classes, cfg.hidden, 1))
    net = StackedMLP(nets)
    initial = [w.detach().clone() for w in net.weights]
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    lam = torch.tensor(lams, dtype=x.dtype)
    shrink = (1.0 - cfg.lr * torch.tensor(decays, dtype=x.dtype))[:, None, None]  # (M, 1, 1)
    reg_runs = torch.nonzero(lam > 0).flatten()
    size = min(cfg.batch, len(x))
    steps = range(cfg.steps)
    for step in training.progress(steps, desc=f"training {m_runs} runs") if progress else steps:
        idx = torch.stack([torch.randperm(len(x), generator=g)[:size] for g in gens])  # (M, B)
        logits = net(x[idx])                                                         # (M, B, C)
        ce = F.cross_entropy(logits.flatten(0, 1), y[idx].flatten(), reduction="none")
        loss = ce.view(m_runs, size).mean(1)                                         # (M,)
        if len(reg_runs):
            reg = sum(penalty(w[reg_runs], form=cfg.form) for w in net.weights)
            loss = loss.index_add(0, reg_runs, lam[reg_runs] * reg)
        if not torch.isfinite(loss).all():
            m = int(torch.nonzero(~torch.isfinite(loss))[0])
            training.check_finite(loss[m], step, f"loss of run {m}", "try a smaller lr or lam")
        opt.zero_grad(set_to_none=True)
        loss.sum().backward()
        opt.step()
        with torch.no_grad():
            for w in net.weights:
                w.mul_(shrink)
    return net.eval(), initial


def accuracy(net: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Accuracy of each run of the stack on the shared (x, y), (M,)."""
    with torch.no_grad():
        return (net(x.expand(len(net), *x.shape)).argmax(-1) == y).float().mean(-1)
