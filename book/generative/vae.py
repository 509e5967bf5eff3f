"""Variational autoencoders and their linear and factorised baselines, in nats.

Derived in the chapter ``vae_information_bottleneck``. Notation follows the chapter (and
Su Jianlin's article): ``p(z|x)`` is the encoder, ``q(x|z)`` the decoder, ``q(z) = N(0, I)``
the prior. All densities are over *dequantised* pixels (:func:`dequantise`), so the three
models of the chapter -- a diagonal and a full-covariance Gaussian, probabilistic PCA and the
VAE -- are scored
with the same continuous likelihood, in nats per image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from book import seeding, training
from book.stacked import EnsembleLinear  # noqa: F401  (vae.EnsembleLinear, as before)

LOG_2PI = math.log(2 * math.pi)


def _check_2d(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor (N, D), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")


def dequantise(x: torch.Tensor, levels: int = 17,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Pixels ``k/(levels-1)`` to ``(k + u)/levels`` with ``u ~ U[0, 1)``: a point in [0, 1)^D.

    A density p on the result gives the discrete image a probability >= exp(E log p) /
    levels^D (Jensen), so continuous nats + D log(levels) bound the discrete code length.
    """
    if levels < 2:
        raise ValueError(f"levels must be at least 2, got {levels}")
    k = torch.round(x * (levels - 1))
    if (k < 0).any() or (k > levels - 1).any() or not torch.allclose(
            k, x * (levels - 1), atol=1e-4):
        raise ValueError(f"x must hold pixels on the grid k/{levels - 1}, k = 0..{levels - 1}")
    u = torch.rand(x.shape, generator=generator, dtype=x.dtype)
    return (k + u) / levels


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, mu_p: torch.Tensor | float = 0.0,
                logvar_p: torch.Tensor | float = 0.0) -> torch.Tensor:
    """Elementwise KL(N(mu, e^logvar) || N(mu_p, e^logvar_p)) in nats:
    ½[(e^lv + (mu - mu_p)^2) / e^lv_p - 1 + lv_p - lv]."""
    mu_p = torch.as_tensor(mu_p, dtype=mu.dtype)
    logvar_p = torch.as_tensor(logvar_p, dtype=mu.dtype)
    return 0.5 * ((logvar.exp() + (mu - mu_p) ** 2) / logvar_p.exp() - 1 + logvar_p - logvar)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """-log N(x; mean, diag e^logvar), summed over the last axis (nats)."""
    return 0.5 * ((x - mean) ** 2 / logvar.exp() + logvar + LOG_2PI).sum(-1)


@dataclass
class DiagGaussian:
    """Independent pixels: x_i ~ N(mean_i, var_i), the maximum-likelihood fit."""

    mean: torch.Tensor
    logvar: torch.Tensor

    @classmethod
    def fit(cls, x: torch.Tensor) -> "DiagGaussian":
        _check_2d(x)
        return cls(x.mean(0), torch.log(x.var(0, unbiased=False)))

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """-log p(x) per row (nats)."""
        _check_2d(x)
        return gaussian_nll(x, self.mean, self.logvar)


@dataclass
class FullGaussian:
    """x ~ N(mean, C) with a full covariance: the maximum-likelihood fit (C = sample covariance)."""

    mean: torch.Tensor  # (D,)
    cov: torch.Tensor   # (D, D)

    @classmethod
    def fit(cls, x: torch.Tensor) -> "FullGaussian":
        _check_2d(x)
        xd = x.double()
        mean = xd.mean(0)
        return cls(mean, (xd - mean).T @ (xd - mean) / len(xd))

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """-log N(x; mean, C) per row (nats), by a Cholesky factor of C."""
        _check_2d(x)
        L = torch.linalg.cholesky(self.cov)
        r = torch.linalg.solve_triangular(L, (x.double() - self.mean).T, upper=False)  # (D, N)
        logdet = 2 * torch.log(torch.diagonal(L)).sum()
        return 0.5 * ((r * r).sum(0) + logdet + len(self.mean) * LOG_2PI)


@dataclass
class PPCA:
    """x = W z + mean + N(0, sigma2 I), z ~ N(0, I): Tipping & Bishop's closed form."""

    mean: torch.Tensor    # (D,)
    W: torch.Tensor       # (D, k)
    sigma2: torch.Tensor  # ()

    @classmethod
    def fit(cls, x: torch.Tensor, k: int) -> "PPCA":
        """Maximum likelihood: W = U_k (Λ_k - σ² I)^½, σ² = mean of the D - k smallest λ."""
        _check_2d(x)
        d = x.shape[1]
        if not 1 <= k < d:
            raise ValueError(f"latent dimension k must be in 1..{d - 1}, got {k}")
        xd = x.double()
        mean = xd.mean(0)
        cov = (xd - mean).T @ (xd - mean) / len(xd)
        lam, u = torch.linalg.eigh(cov)  # ascending
        lam, u = lam.flip(0), u.flip(1)
        sigma2 = lam[k:].mean()
        W = u[:, :k] * torch.sqrt(torch.clamp(lam[:k] - sigma2, min=0.0))
        return cls(mean.to(x.dtype), W.to(x.dtype), sigma2.to(x.dtype))

    @property
    def latent_dim(self) -> int:
        return self.W.shape[1]

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """-log N(x; mean, W Wᵀ + σ² I) per row, by Woodbury and the determinant lemma."""
        _check_2d(x)
        d, k = self.W.shape
        W, s2 = self.W.double(), self.sigma2.double()
        r = x.double() - self.mean.double()                      # (N, D)
        M = W.T @ W + s2 * torch.eye(k, dtype=torch.float64)     # (k, k)
        L = torch.linalg.cholesky(M)
        # rᵀ C⁻¹ r = (|r|² - rᵀW M⁻¹ Wᵀr) / σ²
        a = torch.cholesky_solve((r @ W).T, L).T                 # (N, k) = M⁻¹ Wᵀ r
        quad = ((r * r).sum(1) - (r @ W * a).sum(1)) / s2
        # log det C = (D - k) log σ² + log det M
        logdet = (d - k) * torch.log(s2) + 2 * torch.log(torch.diagonal(L)).sum()
        return (0.5 * (quad + logdet + d * LOG_2PI)).to(x.dtype)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact p(z|x) = N(M⁻¹Wᵀ(x - mean), σ² M⁻¹), M = WᵀW + σ² I: (means (N, k), cov (k, k))."""
        _check_2d(x)
        k = self.latent_dim
        M = self.W.T @ self.W + self.sigma2 * torch.eye(k, dtype=self.W.dtype)
        Minv = torch.linalg.inv(M)
        return (x - self.mean) @ self.W @ Minv.T, self.sigma2 * Minv

    def neg_elbo(self, x: torch.Tensor, m: torch.Tensor, S: torch.Tensor) -> torch.Tensor:
        """-ELBO of the linear VAE with encoder N(m, S), in closed form (no sampling):
        E[-log q(x|z)] + KL(N(m, S) || N(0, I))."""
        _check_2d(x)
        d, k = self.W.shape
        r = x - self.mean - m @ self.W.T
        rec = 0.5 * (((r * r).sum(1) + torch.trace(self.W @ S @ self.W.T)) / self.sigma2
                     + d * torch.log(self.sigma2) + d * LOG_2PI)
        kl = 0.5 * (torch.trace(S) + (m * m).sum(1) - k - torch.logdet(S))
        return rec + kl


def ensemble_mlp(n_models: int, sizes: list[int]) -> nn.Sequential:
    """M independent ReLU perceptrons with layer widths ``sizes`` (no activation at the end)."""
    if len(sizes) < 2 or min(sizes) < 1 or n_models < 1:
        raise ValueError(f"need n_models >= 1 and at least two positive sizes, got "
                         f"{n_models} and {sizes}")
    m = n_models
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [EnsembleLinear(m, a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


class VAE(nn.Module):
    """``n_models`` independent Gaussian VAEs trained side by side (one per β).

    Encoder p(z|x) = N(mu(x), diag e^logvar(x)); decoder q(x|z) = N(f(z), diag σ²) with one
    learned variance per pixel; prior q(z) = N(0, I). Tensors carry a leading models axis M.
    """

    def __init__(self, data_dim: int = 64, latent_dim: int = 8, hidden: int = 128,
                 n_models: int = 1):
        super().__init__()
        if min(data_dim, latent_dim, hidden, n_models) < 1:
            raise ValueError("data_dim, latent_dim, hidden and n_models must be positive")
        self.latent_dim, self.n_models = latent_dim, n_models
        self.encoder = ensemble_mlp(n_models, [data_dim, hidden, hidden, 2 * latent_dim])
        self.decoder = ensemble_mlp(n_models, [latent_dim, hidden, hidden, data_dim])
        self.dec_logvar = nn.Parameter(torch.full((n_models, 1, data_dim), -3.0))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, D) or (M, N, D) -> mu, logvar, each (M, N, k)."""
        if x.dim() == 2:
            x = x.expand(self.n_models, *x.shape)
        return self.encoder(x).chunk(2, dim=-1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(M, ..., k) -> decoder means (M, ..., D)."""
        return torch.sigmoid(self.decoder(z))

    def terms(self, x: torch.Tensor, n_samples: int = 1,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Distortion E_{p(z|x)}[-log q(x|z)] (by n_samples reparametrised draws) and rate
        KL(p(z|x) || q(z)), each (M, N) in nats."""
        mu, logvar = self.encode(x)
        m, n, k = mu.shape
        eps = torch.randn((m, n_samples, n, k), generator=generator)
        z = mu[:, None] + torch.exp(0.5 * logvar[:, None]) * eps  # (M, S, N, k)
        mean = self.decode(z)                                      # (M, S, N, D)
        rec = gaussian_nll(x, mean, self.dec_logvar.unsqueeze(1)).mean(1)
        return rec, gaussian_kl(mu, logvar).sum(-1)


@dataclass
class VAEConfig:
    """Training set-up of :func:`train_vae`; one model per entry of ``betas``."""

    betas: tuple[float, ...] = (1.0,)
    latent_dim: int = 8
    hidden: int = 128
    epochs: int = 200
    batch_size: int = 128
    lr: float = 3e-3
    warmup: float = 0.3  # share of the steps over which β ramps up from 0 (KL warm-up)
    seed: int = 0


#: The β-sweep of the chapter and of ``tools/bench_vae.py``: seven VAEs, one per β.
DIGITS_SWEEP = VAEConfig(betas=(0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0), latent_dim=8,
                         hidden=64, epochs=150)


@dataclass
class VAERun:
    model: VAE
    config: VAEConfig
    loss: list[list[float]] = field(default_factory=list)  # per epoch, per model: D + βR
    seconds: float = 0.0


def train_vae(x_train: torch.Tensor, config: VAEConfig, desc: str = "training VAEs") -> VAERun:
    """Minimise E[D + β R] per model with Adam, β ramped up from 0 (KL warm-up), fresh dequantisation
    noise in every batch; raises :class:`book.training.Diverged` on a non-finite loss."""
    import time

    _check_2d(x_train, "x_train")
    if not config.betas or min(config.betas) < 0:
        raise ValueError(f"betas must be a non-empty tuple of non-negative numbers, "
                         f"got {config.betas}")
    gen = seeding.everything(config.seed)
    model = VAE(x_train.shape[1], config.latent_dim, config.hidden, len(config.betas))
    with torch.no_grad():  # start the decoder at the diagonal Gaussian of the pixels
        start = DiagGaussian.fit(dequantise(x_train, generator=gen))
        model.dec_logvar.copy_(start.logvar.expand_as(model.dec_logvar))
        model.decoder[-1].bias.copy_(torch.logit(start.mean).expand_as(model.decoder[-1].bias))
    beta = torch.tensor(config.betas, dtype=torch.float32)[:, None]   # (M, 1)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    n = len(x_train)
    steps = config.epochs * math.ceil(n / config.batch_size)
    run, step, start = VAERun(model, config), 0, time.perf_counter()
    for _ in training.progress(range(config.epochs), desc=desc):
        perm, totals = torch.randperm(n, generator=gen), torch.zeros(len(config.betas))
        for i in range(0, n, config.batch_size):
            x = dequantise(x_train[perm[i:i + config.batch_size]], generator=gen)
            rec, kl = model.terms(x, generator=gen)
            ramp = min(1.0, step / max(1.0, config.warmup * steps))
            per_model = (rec + ramp * beta * kl).mean(1)                # (M,)
            training.check_finite(per_model.sum(), step)
            opt.zero_grad()
            per_model.sum().backward()  # models share no parameters: independent updates
            opt.step()
            totals += per_model.detach() * len(x)
            step += 1
        run.loss.append((totals / n).tolist())
    run.seconds = time.perf_counter() - start
    return run


@torch.no_grad()
def evaluate(model: VAE, x: torch.Tensor, n_samples: int = 64,
             generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Mean distortion D, rate R and -ELBO = D + R per model (nats per image), and the
    importance-weighted bound -log (1/S) Σ q(x|z)q(z)/p(z|x) (tighter, still >= -log q(x))."""
    _check_2d(x)
    mu, logvar = model.encode(x)
    m, n, k = mu.shape
    mu, logvar = mu[:, None], logvar[:, None]                      # (M, 1, N, k)
    eps = torch.randn((m, n_samples, n, k), generator=generator)
    z = mu + torch.exp(0.5 * logvar) * eps                         # (M, S, N, k)
    rec = gaussian_nll(x, model.decode(z), model.dec_logvar[:, None])  # (M, S, N)
    # log q(z) - log p(z|x) for the importance weights
    log_ratio = 0.5 * (eps ** 2 + logvar - z ** 2).sum(-1)
    iw = -(torch.logsumexp(log_ratio - rec, 1) - math.log(n_samples))  # (M, N)
    D, R = rec.mean((1, 2)), gaussian_kl(mu, logvar).sum(-1).mean((1, 2))
    return {"distortion": D, "rate": R, "neg_elbo": D + R, "iw_nll": iw.mean(-1)}
