"""Two-dimensional toy data for generative models, and the mode metrics used to judge them.

Data: 8 Gaussians on a ring of radius 2 (std 0.02), 25 Gaussians on the grid
{-4, -2, 0, 2, 4}^2 (std 0.05), and a swiss roll. Metrics (the PacGAN / VEEGAN
convention, derived in the chapter ``gan_zoo``): every sample goes to its nearest mode;
it is *high quality* if it lies within ``n_std`` standard deviations of that mode; a mode
is *recovered* if at least one high-quality sample lands on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from book import checks

__all__ = ["Mixture", "ring8", "grid25", "mixture", "MIXTURES", "swiss_roll",
           "nearest_mode", "ModeMetrics", "mode_metrics"]


@dataclass(frozen=True)
class Mixture:
    """An equal-weight mixture of isotropic Gaussians N(c_k, std^2 I) in the plane."""

    name: str
    centers: torch.Tensor  # (K, 2)
    std: float

    @property
    def n_modes(self) -> int:
        return self.centers.shape[0]

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples, (n, 2) float32: a uniformly chosen centre plus std * N(0, I)."""
        n = checks.integer(n, "n")
        k = torch.randint(self.n_modes, (n,), generator=generator)
        noise = torch.randn(n, 2, generator=generator)
        return self.centers[k] + self.std * noise


def ring8(radius: float = 2.0, std: float = 0.02) -> Mixture:
    """8 Gaussians at angles 2 pi k / 8 on a circle of radius 2, std 0.02."""
    angles = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
    centers = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return Mixture("ring8", centers, std)


def grid25(spacing: float = 2.0, std: float = 0.05) -> Mixture:
    """25 Gaussians on the grid {-4, -2, 0, 2, 4}^2, std 0.05."""
    ticks = spacing * torch.arange(-2, 3, dtype=torch.float32)
    gx, gy = torch.meshgrid(ticks, ticks, indexing="ij")
    return Mixture("grid25", torch.stack([gx.flatten(), gy.flatten()], dim=1), std)


MIXTURES = {"ring8": ring8, "grid25": grid25}


def mixture(name: str) -> Mixture:
    """The mixture called ``name`` (``ring8`` or ``grid25``) with its default parameters."""
    if name not in MIXTURES:
        raise ValueError(f"unknown data set {name!r}; known: {', '.join(MIXTURES)}")
    return MIXTURES[name]()


def swiss_roll(n: int, noise: float = 0.05,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` points of a 2-D swiss roll, (n, 2): t (cos t, sin t) / 3 with t in [1.5 pi, 4.5 pi]."""
    n = checks.integer(n, "n")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise}")
    t = 1.5 * math.pi * (1 + 2 * torch.rand(n, generator=generator))
    x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / 3.0
    return x + noise * torch.randn(n, 2, generator=generator)


def nearest_mode(x: torch.Tensor, centers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of the nearest centre of each sample, and the distance to it: (N,), (N,)."""
    if x.ndim != 2 or centers.ndim != 2 or x.shape[1] != centers.shape[1]:
        raise ValueError(f"need samples (N, D) and centres (K, D), got {tuple(x.shape)} "
                         f"and {tuple(centers.shape)}")
    dist = torch.cdist(x.float(), centers.float(),
                       compute_mode="donot_use_mm_for_euclid_dist")  # (N, K), exact
    d, k = dist.min(dim=1)
    return k, d


@dataclass
class ModeMetrics:
    """Modes recovered, share of high-quality samples, KL(mode histogram || uniform)."""

    modes: int
    hq: float
    kl: float
    counts: list[int]  # high-quality samples per mode

    def as_dict(self) -> dict:
        return {"modes": self.modes, "hq": self.hq, "kl": self.kl}


def mode_metrics(x: torch.Tensor, mix: Mixture, n_std: float = 3.0) -> ModeMetrics:
    """The mode metrics of samples ``x`` (N, 2) against the mixture ``mix``.

    A sample is high quality if ``|x - c_nearest| <= n_std * std``. ``modes`` counts the
    modes with at least one high-quality sample; ``hq`` is the share of high-quality
    samples; ``kl = sum_k h_k log(K h_k)`` is the KL divergence of the histogram h of the
    high-quality samples over the K modes from the uniform one (``log K``, the value of a
    single mode, when there is no high-quality sample at all). Non-finite samples count
    as low quality.
    """
    checks.positive(n_std, "n_std")
    if x.ndim != 2 or x.shape[1] != 2 or x.shape[0] == 0:
        raise ValueError(f"samples must have shape (N, 2) with N > 0, got {tuple(x.shape)}")
    x = x.detach().float()
    finite = torch.isfinite(x).all(dim=1)
    k, d = nearest_mode(torch.where(finite[:, None], x, torch.zeros_like(x)), mix.centers)
    good = finite & (d <= n_std * mix.std)
    counts = torch.bincount(k[good], minlength=mix.n_modes)
    n_good = int(good.sum())
    K = mix.n_modes
    if n_good == 0:
        kl = math.log(K)
    else:
        h = counts.double() / n_good
        nz = h > 0
        kl = float((h[nz] * torch.log(K * h[nz])).sum())
    return ModeMetrics(modes=int((counts > 0).sum()), hq=n_good / x.shape[0], kl=kl,
                       counts=counts.tolist())
