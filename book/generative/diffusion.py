"""DDPM's Gaussian diffusion: the noise schedule, the forward process (closed form and step by
step), the posterior q(x_{t-1} | x_t, x_0), the epsilon-prediction loss and the ancestral
sampler (chapter ``ddpm``, which derives each formula).

Time steps run t = 1..T; arrays indexed by time hold entry t - 1 for step t. Everything acts
on the last axis of x and broadcasts over the leading ones, so M stacked models with N
samples each are a (M, N, d) tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

from book import checks

__all__ = ["Schedule", "linear_schedule", "q_sample", "forward_chain", "posterior",
           "GaussianEps", "MixtureEps", "eps_loss", "sample", "SIGMAS"]

#: the two variances of the reverse step that Ho et al. (2020) use
SIGMAS = ("beta", "beta_tilde")


@dataclass(frozen=True)
class Schedule:
    """The noise variances beta_t of the T forward steps and the quantities derived from them."""

    betas: torch.Tensor  # (T,) float64, entry t-1 is beta_t

    def __post_init__(self):
        b = self.betas
        if b.ndim != 1 or b.numel() == 0 or not bool(((b > 0) & (b < 1)).all()):
            raise ValueError("betas must be a non-empty 1-D tensor with every entry in (0, 1)")

    @property
    def T(self) -> int:
        return self.betas.numel()

    @property
    def alphas(self) -> torch.Tensor:
        # \alpha_t = 1 - \beta_t
        return 1.0 - self.betas

    @property
    def alpha_bar(self) -> torch.Tensor:
        # \bar\alpha_t = \prod_{s \le t} \alpha_s
        return torch.cumprod(self.alphas, dim=0)

    @property
    def alpha_bar_prev(self) -> torch.Tensor:
        # \bar\alpha_{t-1}, with \bar\alpha_0 = 1
        return torch.cat([self.betas.new_ones(1), self.alpha_bar[:-1]])

    @property
    def beta_tilde(self) -> torch.Tensor:
        # \tilde\beta_t = (1 - \bar\alpha_{t-1}) / (1 - \bar\alpha_t) \beta_t
        return (1 - self.alpha_bar_prev) / (1 - self.alpha_bar) * self.betas


def linear_schedule(T: int, beta_1: float | None = None, beta_T: float | None = None) -> Schedule:
    """beta_t linear from beta_1 to beta_T; by default DDPM's 1e-4..0.02 at T = 1000, scaled by
    1000 / T so that sum_t beta_t (hence alpha_bar_T) hardly depends on T."""
    T = checks.integer(T, "T", least=2)
    beta_1 = 1e-4 * 1000 / T if beta_1 is None else beta_1
    beta_T = 0.02 * 1000 / T if beta_T is None else beta_T
    checks.number(beta_1, "beta_1", 0.0, low_ok=False, high=1.0)
    checks.number(beta_T, "beta_T", 0.0, low_ok=False, high=1.0)
    return Schedule(torch.linspace(beta_1, beta_T, T, dtype=torch.float64))


def _step(t: int, sched: Schedule) -> int:
    t = checks.integer(t, "t", least=1)
    if t > sched.T:
        raise ValueError(f"t must be a step in 1..T = {sched.T}, got {t}")
    return t


def _coef(values: torch.Tensor, t, like: torch.Tensor) -> torch.Tensor:
    """values[t - 1] shaped to broadcast against ``like``: t an int or a tensor of steps of
    shape like.shape[:-1]."""
    if isinstance(t, int):
        return values[t - 1].to(like.dtype)
    return values[t - 1].to(like.dtype)[..., None]


def q_sample(x0: torch.Tensor, t, sched: Schedule, eps: torch.Tensor) -> torch.Tensor:
    """x_t in closed form: sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps.

    ``t`` is an int in 1..T or a tensor of steps of shape x0.shape[:-1].
    """
    if isinstance(t, int):
        _step(t, sched)
    elif t.shape != x0.shape[:-1] or int(t.min()) < 1 or int(t.max()) > sched.T:
        raise ValueError(f"t must be an int or a tensor of shape {tuple(x0.shape[:-1])} "
                         f"with steps in 1..{sched.T}")
    ab = _coef(sched.alpha_bar, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * eps


def forward_chain(x0: torch.Tensor, sched: Schedule, generator: torch.Generator,
                  keep: set[int] | None = None) -> dict[int, torch.Tensor]:
    """Run x_t = sqrt(alpha_t) x_{t-1} + sqrt(beta_t) eps_t step by step from x_0 (any shape);
    return {t: x_t} for t in ``keep`` (default: every step; 0 gives x_0)."""
    keep = set(range(sched.T + 1)) if keep is None else set(keep)
    out, x = {}, x0
    if 0 in keep:
        out[0] = x0
    for t in range(1, sched.T + 1):
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype)
        # x_t = \sqrt{\alpha_t} x_{t-1} + \sqrt{\beta_t} \varepsilon_t
        x = math.sqrt(sched.alphas[t - 1]) * x + math.sqrt(sched.betas[t - 1]) * eps
        if t in keep:
            out[t] = x
    return out


def posterior(x0: torch.Tensor, xt: torch.Tensor, t: int,
              sched: Schedule) -> tuple[torch.Tensor, float]:
    """Mean and variance of q(x_{t-1} | x_t, x_0) = N(mu_tilde, beta_tilde_t I), for t >= 2:
    mu_tilde = sqrt(ab_{t-1}) beta_t / (1 - ab_t) x_0 + sqrt(alpha_t) (1 - ab_{t-1}) / (1 - ab_t) x_t.
    """
    _step(t, sched)
    ab, ab_prev = sched.alpha_bar[t - 1], sched.alpha_bar_prev[t - 1]
    a, b = sched.alphas[t - 1], sched.betas[t - 1]
    mean = (ab_prev.sqrt() * b / (1 - ab)) * x0 + (a.sqrt() * (1 - ab_prev) / (1 - ab)) * xt
    return mean, float(sched.beta_tilde[t - 1])


class GaussianEps:
    """The exact noise predictor E[eps | x_t] for data N(mean, cov):
    x_t ~ N(sqrt(ab) mean, C_t), C_t = ab cov + (1 - ab) I, and
    E[eps | x_t] = sqrt(1 - ab) C_t^{-1} (x_t - sqrt(ab) mean).
    Called with x (..., d) and t, an int or a tensor of shape x.shape[:-1]."""

    def __init__(self, mean: torch.Tensor, cov: torch.Tensor, sched: Schedule):
        d = mean.shape[-1]
        if mean.ndim != 1 or cov.shape != (d, d):
            raise ValueError(f"need mean (d,) and cov (d, d), got {tuple(mean.shape)}, "
                             f"{tuple(cov.shape)}")
        self.sched, self.mean = sched, mean.double()
        # cov = U diag(lam) U^T, so C_t^{-1} = U diag(1 / (ab lam + 1 - ab)) U^T for every t
        self.lam, self.U = torch.linalg.eigh(cov.double())                      # (d,), (d, d)

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        if isinstance(t, torch.Tensor) and t.numel() and bool((t == t.reshape(-1)[0]).all()):
            t = int(t.reshape(-1)[0])   # one step for every row, as in the sampler
        if isinstance(t, int):  # one (d, d) matrix A_t = sqrt(1 - ab) C_t^{-1} for all rows
            ab = self.sched.alpha_bar[_step(t, self.sched) - 1]
            A = self.U @ torch.diag((1 - ab).sqrt() / (ab * self.lam + 1 - ab)) @ self.U.T
            return (x - (ab.sqrt() * self.mean).to(x.dtype)) @ A.to(x.dtype)
        ab = self.sched.alpha_bar[t - 1][..., None]                             # (..., 1)
        # E[\varepsilon | x_t] = \sqrt{1 - \bar\alpha_t} C_t^{-1} (x_t - \sqrt{\bar\alpha_t} \mu)
        r = (x.double() - ab.sqrt() * self.mean) @ self.U                      # (..., d) eigenbasis
        r = (1 - ab).sqrt() * r / (ab * self.lam + 1 - ab)
        return (r @ self.U.T).to(x.dtype)


class MixtureEps:
    """The exact noise predictor for data from an equal-weight mixture of N(c_k, s^2 I):
    x_t | k ~ N(sqrt(ab) c_k, v I) with v = ab s^2 + 1 - ab, and
    E[eps | x_t] = sqrt(1 - ab) sum_k w_k(x_t) (x_t - sqrt(ab) c_k) / v,
    w_k the posterior probabilities of the components. Called like :class:`GaussianEps`."""

    def __init__(self, centers: torch.Tensor, std: float, sched: Schedule):
        if centers.ndim != 2:
            raise ValueError(f"centers must be (K, d), got {tuple(centers.shape)}")
        self.c, self.s2, self.sched = centers.double(), checks.positive(std, "std") ** 2, sched

    def __call__(self, x: torch.Tensor, t) -> torch.Tensor:
        if isinstance(t, int):
            t = torch.full(x.shape[:-1], _step(t, self.sched), dtype=torch.long)
        ab = self.sched.alpha_bar[t - 1][..., None, None]                     # (..., 1, 1)
        v = ab * self.s2 + 1 - ab
        r = x.double()[..., None, :] - ab.sqrt() * self.c                     # (..., K, d)
        w = torch.softmax(-r.square().sum(-1, keepdim=True) / (2 * v), dim=-2)  # (..., K, 1)
        return ((1 - ab[..., 0]).sqrt() * (w * r / v).sum(-2)).to(x.dtype)


def eps_loss(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
             sched: Schedule, generator: torch.Generator) -> torch.Tensor:
    """The simplified DDPM objective, one Monte Carlo draw per row of x0 (..., d):
    mean over rows of ||eps - eps_theta(sqrt(ab_t) x0 + sqrt(1 - ab_t) eps, t)||^2 / d, with
    t uniform on 1..T. Returns the per-model loss, shape x0.shape[:-2] (a scalar for (N, d))."""
    t = torch.randint(1, sched.T + 1, x0.shape[:-1], generator=generator)    # (..., N)
    eps = torch.randn(x0.shape, generator=generator, dtype=x0.dtype)         # (..., N, d)
    xt = q_sample(x0, t, sched, eps)
    return (eps - eps_model(xt, t)).square().mean(dim=(-2, -1))


def sample(eps_model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], shape: tuple,
           sched: Schedule, generator: torch.Generator, sigma: str = "beta_tilde",
           keep: set[int] = frozenset()) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
    """Ancestral sampling from x_T ~ N(0, I) down to x_0:
    x_{t-1} = (x_t - beta_t / sqrt(1 - ab_t) eps_theta(x_t, t)) / sqrt(alpha_t) + sigma_t z,
    z ~ N(0, I) for t > 1 and z = 0 at t = 1; sigma_t^2 = beta_t or beta_tilde_t.
    ``eps_model(x, t)`` gets t as a tensor of shape x.shape[:-1]. Returns x_0 and
    {t: x_t} for t in ``keep``."""
    if sigma not in SIGMAS:
        raise ValueError(f"sigma must be one of {SIGMAS}, got {sigma!r}")
    var = sched.betas if sigma == "beta" else sched.beta_tilde
    x = torch.randn(shape, generator=generator)
    frames = {sched.T: x} if sched.T in keep else {}
    with torch.no_grad():
        for t in range(sched.T, 0, -1):
            a, b, ab = (float(v[t - 1]) for v in (sched.alphas, sched.betas, sched.alpha_bar))
            eps_hat = eps_model(x, torch.full(shape[:-1], t, dtype=torch.long))
            # x_{t-1} = (x_t - \beta_t / \sqrt{1 - \bar\alpha_t} \hat\varepsilon) / \sqrt{\alpha_t} + \sigma_t z
            x = (x - b / math.sqrt(1 - ab) * eps_hat) / math.sqrt(a)
            if t > 1:
                x = x + math.sqrt(float(var[t - 1])) * torch.randn(shape, generator=generator)
            if t - 1 in keep:
                frames[t - 1] = x
    return x, frames
