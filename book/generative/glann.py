"""GLO and IMLE, the two halves of GLANN: the code of the chapter ``glann``.

GLO (generative latent optimisation) gives every training image x_i a latent z_i on the unit
sphere and trains a generator G with the latents, minimising sum_i |G(z_i) - x_i|^2 over both.
IMLE (implicit maximum likelihood estimation) then trains a map T from Gaussian noise e to
that latent space so that every z_i has a sample T(e) near it: for each z_i the nearest of
many samples is pulled towards it. A new image is G(T(e)). The 1-D functions at the end give
the IMLE objective of a linear map on Gaussian data by quadrature, for the chapter's toy check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import integrate, optimize, special
from torch import nn

from book import checks, seeding, training
from book.stacked import StackedMLP

__all__ = ["GLOConfig", "IMLEConfig", "GLO", "IMLE", "to_sphere", "pca_latents", "train_glo",
           "fit_gaussian", "nearest", "Sampler", "train_imle", "objective_1d", "optimum_1d",
           "train_linear_1d"]


def to_sphere(z: torch.Tensor) -> torch.Tensor:
    """z / |z| row by row: (N, d) -> (N, d) on the unit sphere."""
    norm = z.norm(dim=-1, keepdim=True)
    if (norm == 0).any():
        raise ValueError("cannot project a zero vector onto the sphere")
    return z / norm


def _mlp(d_in: int, hidden: int, d_out: int, last: nn.Module) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                         nn.ReLU(), nn.Linear(hidden, d_out), last)


def _pixels(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"images must be an (N, pixels) tensor with N >= 2, got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("the input contains NaN or infinity")
    return x


def pca_latents(x: torch.Tensor, d: int) -> torch.Tensor:
    """The GLO papers' start: the top-d principal-component coefficients, on the sphere.
    (N, p) -> (N, d)."""
    x = _pixels(x)
    checks.integer(d, "the latent dimension", least=1)
    if d > min(x.shape):
        raise ValueError(f"latent dimension {d} exceeds min(N, pixels) = {min(x.shape)}")
    centred = x - x.mean(0)
    _, _, vt = torch.linalg.svd(centred, full_matrices=False)   # vt: (min(N, p), p)
    return to_sphere(centred @ vt[:d].T)


@dataclass(frozen=True)
class GLOConfig:
    """GLO on 8x8 digits: latent size, generator width, full-batch Adam steps and rates."""

    latent_dim: int = 8
    hidden: int = 128
    steps: int = 600
    lr_net: float = 3e-3
    lr_latent: float = 3e-2   # the latent table moves faster than the network


@dataclass
class GLO:
    """A trained GLO: the generator G (d -> pixels in [0, 1]) and the latent table (N, d)."""

    generator: nn.Sequential
    latents: torch.Tensor
    losses: list[float] = field(default_factory=list)


def train_glo(x: torch.Tensor, cfg: GLOConfig = GLOConfig(), stream: int = 0) -> GLO:
    """min over G and z_1..z_N of mean_i |G(z_i) - x_i|^2 / pixels, each z_i put back on the
    unit sphere after every step. Full batch, Adam with a cosine-decayed rate."""
    x = _pixels(x)
    if cfg.steps < 1 or cfg.lr_net <= 0 or cfg.lr_latent <= 0:
        raise ValueError(f"steps must be >= 1 and learning rates > 0, got {cfg}")
    seeding.everything(stream)                      # the generator's initial weights
    z = pca_latents(x, cfg.latent_dim).clone().requires_grad_(True)   # (N, d)
    gen = _mlp(cfg.latent_dim, cfg.hidden, x.shape[1], nn.Sigmoid())
    opt = torch.optim.Adam([{"params": gen.parameters(), "lr": cfg.lr_net},
                            {"params": [z], "lr": cfg.lr_latent}])
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    losses = []
    for step in range(cfg.steps):
        loss = ((gen(z) - x) ** 2).mean()
        losses.append(training.check_finite(loss, step, "GLO loss", "lower the learning rates"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
        with torch.no_grad():                       # z_i <- z_i / |z_i|
            z.copy_(to_sphere(z))
    for p in gen.parameters():
        p.requires_grad_(False)
    return GLO(gen.eval(), z.detach(), losses)


def fit_gaussian(z: torch.Tensor):
    """The GLO paper's sampler: a full-covariance Gaussian fitted to the latents.
    Returns ``sample(n, generator) -> (n, d)``."""
    z = _pixels(z).double()
    mean, cov = z.mean(0), torch.cov(z.T)
    chol = torch.linalg.cholesky(cov + 1e-9 * torch.eye(len(cov), dtype=cov.dtype))

    def sample(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        e = torch.randn(n, len(mean), generator=generator, dtype=mean.dtype)
        return (mean + e @ chol.T).float()          # mean + L e,  L L^T = cov
    return sample


def nearest(data: torch.Tensor, samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row of ``data`` (N, d) the index of its nearest row of ``samples`` (M, d) and
    the Euclidean distance to it: (N,), (N,)."""
    if data.ndim != 2 or samples.ndim != 2 or data.shape[1] != samples.shape[1]:
        raise ValueError(f"need (N, d) and (M, d), got {tuple(data.shape)}, "
                         f"{tuple(samples.shape)}")
    dist, idx = torch.cdist(data, samples).min(dim=1)
    return idx, dist


@dataclass(frozen=True)
class IMLEConfig:
    """IMLE on GLO latents: ``runs`` independent samplers T trained side by side (stacked),
    noise size, width of T, rounds of (nearest-sample search, then ``inner_steps`` Adam steps
    on the matched pairs), samples per round = pool_factor x N, rate decayed by a cosine."""

    runs: int = 4
    noise_dim: int = 16
    hidden: int = 64
    rounds: int = 40
    inner_steps: int = 5
    pool_factor: int = 2
    lr: float = 2e-3


class Sampler(nn.Module):
    """``runs`` samplers T_r(e) = sphere(MLP_r(e)) evaluated together:
    noise (runs, n, k), or (n, k) given to every run, -> latents (runs, n, d)."""

    def __init__(self, nets: list[nn.Sequential]):
        super().__init__()
        self.stack = StackedMLP(nets)

    def __len__(self) -> int:
        return len(self.stack)

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        if e.ndim == 2:
            e = e.expand(len(self), *e.shape)
        return to_sphere(self.stack(e))


@dataclass
class IMLE:
    """Trained samplers, the matched squared distance of each run after each round
    (rounds, runs), and the latents T(probe) after the rounds in ``snapshot_rounds``."""

    mapping: Sampler
    losses: list[torch.Tensor] = field(default_factory=list)
    snapshots: dict[int, torch.Tensor] = field(default_factory=dict)


def train_imle(latents: torch.Tensor, cfg: IMLEConfig = IMLEConfig(), stream: int = 0,
               probe: torch.Tensor | None = None, snapshot_rounds=()) -> IMLE:
    """min over T of sum_i min_j |z_i - T(e_j)|^2, e_j ~ N(0, I): each round draws
    pool_factor * N noises per run, matches every z_i to its nearest sample, then takes
    ``inner_steps`` Adam steps on sum_i |z_i - T(e_(i))|^2 with the matches held fixed.
    The runs share nothing but the batched arithmetic (each has its own weights and noise)."""
    z = _pixels(latents)                                               # (N, d)
    if min(cfg.runs, cfg.rounds, cfg.inner_steps, cfg.pool_factor) < 1 or cfg.lr <= 0:
        raise ValueError(f"runs, rounds, inner_steps, pool_factor must be >= 1 and lr > 0, "
                         f"got {cfg}")
    bad = [r for r in snapshot_rounds if not 0 <= r <= cfg.rounds]
    if bad:
        raise ValueError(f"snapshot rounds must lie in [0, {cfg.rounds}], got {bad}")
    gen = seeding.everything(stream)                # the initial weights, then the noise
    mapping = Sampler([_mlp(cfg.noise_dim, cfg.hidden, z.shape[1], nn.Identity())[:-1]
                       for _ in range(cfg.runs)])
    opt = torch.optim.Adam(mapping.parameters(), lr=cfg.lr)
    total = cfg.rounds * cfg.inner_steps
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / total)))
    run, M, N = IMLE(mapping), cfg.runs, len(z)
    zs = z.expand(M, N, z.shape[1])                                     # (M, N, d)

    def snapshot(r):
        if probe is not None and r in snapshot_rounds:
            with torch.no_grad():
                run.snapshots[r] = mapping(probe).clone()               # (M, n, d)
    snapshot(0)
    for r in range(cfg.rounds):
        with torch.no_grad():
            e = torch.randn(M, cfg.pool_factor * N, cfg.noise_dim, generator=gen)  # (M, P, k)
            idx = torch.cdist(zs, mapping(e)).argmin(-1)                # (M, N): nearest sample
        matched = e[torch.arange(M)[:, None], idx]                      # (M, N, k)
        for step in range(cfg.inner_steps):
            # per run: mean_i |z_i - T(e_(i))|^2, the nearest sample pulled to its latent
            per_run = ((mapping(matched) - zs) ** 2).sum(-1).mean(-1)   # (M,)
            training.check_finite(per_run.sum(), r * cfg.inner_steps + step, "IMLE loss",
                                  "lower the learning rate")
            opt.zero_grad()
            per_run.sum().backward()                # runs are independent: one backward
            opt.step()
            schedule.step()
        run.losses.append(per_run.detach())
        snapshot(r + 1)
    for p in mapping.parameters():
        p.requires_grad_(False)
    run.mapping = mapping.eval()
    return run


# --- the 1-D toy: data N(mu, s^2), samples a e + b, e ~ N(0, 1) --------------------------

def objective_1d(a: float, m: int, s: float = 1.0, mu: float = 0.0, b: float = 0.0,
                 nodes: int = 40, grid: int = 801) -> float:
    """E_x E min_{j <= m} (x - a e_j - b)^2 for x ~ N(mu, s^2), by quadrature:
    E min_j d_j^2 = int_0^inf 2r P(all |x - y_j| > r) dr, P = (1 - p(x, r))^m."""
    checks.integer(m, "the number of samples m", least=1)
    if a <= 0 or s <= 0:
        raise ValueError(f"need a > 0 and s > 0, got a={a}, s={s}")
    t, w = np.polynomial.hermite_e.hermegauss(nodes)      # nodes for exp(-t^2 / 2)
    x = (mu + s * t)[:, None]                              # (nodes, 1)
    reach = abs(mu - b) + 8 * (s + a)
    u = np.linspace(0.0, np.sqrt(reach), grid)[None]       # r = u^2, fine near r = 0
    r = u ** 2
    # p(x, r) = P(|x - a e - b| <= r) = Phi((x - b + r) / a) - Phi((x - b - r) / a)
    p = special.ndtr((x - b + r) / a) - special.ndtr((x - b - r) / a)
    none_near = np.exp(m * np.log1p(-np.minimum(p, 1.0 - 1e-16)))
    inner = integrate.trapezoid(2 * r * none_near * 2 * u, u, axis=1)  # dr = 2u du
    return float(w @ inner / w.sum())


def optimum_1d(m: int, s: float = 1.0) -> float:
    """The scale a > 0 minimising :func:`objective_1d` (at b = mu, its optimum by symmetry)."""
    res = optimize.minimize_scalar(lambda a: objective_1d(a, m, s), bounds=(1e-4 * s, 3 * s),
                                   method="bounded", options={"xatol": 1e-5 * s})
    return float(res.x)


def train_linear_1d(m: int, s: float = 1.0, mu: float = 0.0, steps: int = 400,
                    batch: int = 4096, lr: float = 0.05, stream: int = 0) -> tuple[float, float]:
    """IMLE by SGD on T(e) = a e + b: each step draws ``batch`` data x and m noises per x and
    descends mean_x min_j (x - a e_j - b)^2. Returns the trained (a, b)."""
    checks.integer(m, "the number of samples m", least=1)
    if steps < 1 or batch < 1 or lr <= 0 or s <= 0:
        raise ValueError("steps and batch must be >= 1, lr > 0 and s > 0")
    gen = seeding.generator(stream)
    a = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    b = torch.tensor(mu + s, dtype=torch.float64, requires_grad=True)   # start off the mean
    opt = torch.optim.Adam([a, b], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for step in range(steps):
        x = mu + s * torch.randn(batch, 1, generator=gen, dtype=torch.float64)   # (B, 1)
        e = torch.randn(batch, m, generator=gen, dtype=torch.float64)           # (B, m)
        loss = ((x - a * e - b) ** 2).min(dim=1).values.mean()
        training.check_finite(loss, step, "1-D IMLE loss", "lower the learning rate")
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return abs(float(a.detach())), float(b.detach())     # a and -a give the same law
