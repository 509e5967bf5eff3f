"""Lower bounds on mutual information, checked on correlated Gaussians: the chapter ``infomax``.

``d`` independent pairs (x_i, y_i), each standard bivariate normal with correlation rho, have
I(X; Y) = -d/2 log(1 - rho^2) and the log density ratio log p(x, y) / (p(x) p(y)) in closed
form. Given a critic's scores, :func:`infonce` (van den Oord et al. 2018), :func:`nwj`
(Nguyen, Wainwright and Jordan 2010) and :func:`jsd` (the Jensen-Shannon objective of
Deep InfoMax) are the estimators; :class:`SeparableCritic` is a small learnt critic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from book import checks, seeding, training


def gaussian_mi(rho: float, d: int = 1) -> float:
    """I(X; Y) = -d/2 log(1 - rho^2) nats for d independent pairs of correlation rho."""
    rho = checks.number(rho, "rho", -1.0, low_ok=False, high=1.0)
    return -0.5 * checks.integer(d, "d") * math.log1p(-rho * rho)


def correlated_gaussians(n: int, rho: float, d: int = 1,
                         generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n draws of d pairs: x ~ N(0, I), y = rho x + sqrt(1 - rho^2) e; each (n, d)."""
    checks.number(rho, "rho", -1.0, low_ok=False, high=1.0)
    n, d = checks.integer(n, "n"), checks.integer(d, "d")
    x = torch.randn(n, d, generator=generator, dtype=torch.float64)
    e = torch.randn(n, d, generator=generator, dtype=torch.float64)
    return x, rho * x + math.sqrt(1 - rho * rho) * e


def gaussian_log_ratio(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    """log p(x, y) / (p(x) p(y)) summed over the d pairs, broadcasting x against y:
    sum_i [-1/2 log(1 - rho^2) - (rho^2 x_i^2 - 2 rho x_i y_i + rho^2 y_i^2) / (2 (1 - rho^2))]."""
    checks.number(rho, "rho", -1.0, low_ok=False, high=1.0)
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"x and y must have the same last axis, got {x.shape} and {y.shape}")
    quad = (rho * rho * (x * x + y * y) - 2 * rho * x * y) / (2 * (1 - rho * rho))
    return (-0.5 * math.log1p(-rho * rho) - quad).sum(-1)


def _square(scores: torch.Tensor) -> int:
    if scores.ndim < 2 or scores.shape[-1] != scores.shape[-2] or scores.shape[-1] < 2:
        raise ValueError(f"scores must be (..., N, N) with N >= 2, scores[i, j] = T(x_i, y_j); "
                         f"got shape {tuple(scores.shape)}")
    return scores.shape[-1]


def infonce(scores: torch.Tensor) -> torch.Tensor:
    """InfoNCE bound from an (N, N) score matrix T(x_i, y_j), positives on the diagonal:
    mean_i [T_ii - log sum_j e^{T_ij}] + log N  (<= I(X; Y) in expectation, and <= log N)."""
    n = _square(scores)
    # log softmax over the candidates y_j, read at the positive j = i
    return scores.log_softmax(-1).diagonal(0, -2, -1).mean(-1) + math.log(n)


def nwj(scores: torch.Tensor) -> torch.Tensor:
    """NWJ bound, E_p[T + 1] - E_{p(x)p(y)}[e^T], with the off-diagonal pairs of the (N, N)
    score matrix as draws from the product of marginals (<= I for every critic T)."""
    n = _square(scores)
    off = ~torch.eye(n, dtype=torch.bool)
    return scores.diagonal(0, -2, -1).mean(-1) + 1 - scores[..., off].exp().mean(-1)


def jsd(positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
    """Deep InfoMax's Jensen-Shannon objective E_p[-softplus(-T)] - E_q[softplus(T)]
    (= E_p log sigma(T) + E_q log(1 - sigma(T)); its maximum is 2 JSD(p, q) - log 4)."""
    return -F.softplus(-positive).mean(-1) - F.softplus(negative).mean(-1)


class SeparableCritic(nn.Module):
    """T(x, y) = f(x) . g(y) with two small ReLU perceptrons; ``scores`` gives (N, N)."""

    def __init__(self, d: int, hidden: int = 64, embed: int = 16):
        super().__init__()
        d, hidden, embed = (checks.integer(v, name) for v, name in
                            ((d, "d"), (hidden, "hidden"), (embed, "embed")))
        self.f = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, embed))
        self.g = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, embed))

    def scores(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(N, d), (N, d) -> (N, N), entry [i, j] = T(x_i, y_j)."""
        return self.f(x) @ self.g(y).T


@dataclass
class CriticConfig:
    """Training of a critic on fresh correlated-Gaussian batches, Adam, full batches."""

    rho: float = 0.8
    d: int = 2
    batch: int = 256
    steps: int = 300
    lr: float = 3e-3
    bound: str = "infonce"   # the objective maximised: "infonce" or "jsd"


BOUNDS = ("infonce", "jsd")


def train_critic(config: CriticConfig, seed: int = 0) -> SeparableCritic:
    """Maximise the chosen bound over a SeparableCritic; ``seed`` is a book.seeding stream."""
    if config.bound not in BOUNDS:
        raise ValueError(f"bound must be one of {BOUNDS}, got {config.bound!r}")
    torch.manual_seed(seeding.seed(seed))
    gen = seeding.generator(seed + 1)
    critic = SeparableCritic(config.d).double()
    opt = torch.optim.Adam(critic.parameters(), lr=config.lr)
    for step in range(config.steps):
        x, y = correlated_gaussians(config.batch, config.rho, config.d, gen)
        s = critic.scores(x, y)   # (N, N)
        if config.bound == "infonce":
            objective = infonce(s)
        else:  # positives on the diagonal, every off-diagonal pair a negative
            off = ~torch.eye(len(s), dtype=torch.bool)
            objective = jsd(s.diagonal(), s[off])
        training.check_finite(objective, step, "the critic's objective")
        opt.zero_grad()
        (-objective).backward()
        opt.step()
    return critic
