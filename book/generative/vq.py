"""Vector quantisation for autoencoders: nearest-code lookup, straight-through gradient,
codebook and commitment losses, EMA codebook updates, codebook usage.

Derived in the chapter ``vq_vae`` (after van den Oord et al. 2017 and Su Jianlin's
article). Shapes: ``z`` is (..., d), any number of vectors of dimension d, and the codebook
is (K, d); or, for M models trained side by side, ``z`` is (M, ..., d) and the codebook
(M, K, d), and model m may use only its first ``sizes[m]`` codes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import nn

from book import seeding, training
from book.generative.vae import ensemble_mlp


def _check(z: torch.Tensor, codebook: torch.Tensor) -> None:
    if codebook.dim() not in (2, 3):
        raise ValueError(f"codebook must be (K, d) or (M, K, d), got {tuple(codebook.shape)}")
    if z.shape[-1] != codebook.shape[-1]:
        raise ValueError(f"z has vectors of size {z.shape[-1]} but the codes have size "
                         f"{codebook.shape[-1]}")
    if codebook.dim() == 3 and (z.dim() < 2 or z.shape[0] != codebook.shape[0]):
        raise ValueError(f"with a codebook for {codebook.shape[0]} models z must be (M, ..., d) "
                         f"with M = {codebook.shape[0]}, got {tuple(z.shape)}")


def nearest_code(z: torch.Tensor, codebook: torch.Tensor,
                 sizes: torch.Tensor | None = None) -> torch.Tensor:
    """Index k = argmin_j |z - e_j|² of the nearest code for every vector of z: (...,) int64."""
    _check(z, codebook)
    cb = codebook if codebook.dim() == 3 else codebook[None]
    flat = z.reshape(cb.shape[0], -1, z.shape[-1])                          # (M, n, d)
    # |z - e|² = |z|² - 2 z·e + |e|²; |z|² is the same for every code and is dropped
    dist = (cb * cb).sum(-1)[:, None, :] - 2 * flat @ cb.transpose(1, 2)    # (M, n, K)
    if sizes is not None:
        unusable = torch.arange(cb.shape[1]) >= torch.as_tensor(sizes)[:, None]
        dist = dist.masked_fill(unusable[:, None, :], float("inf"))
    return dist.argmin(-1).reshape(z.shape[:-1])


def quantise(z: torch.Tensor, codebook: torch.Tensor,
             sizes: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_q, codes): every vector of z replaced by its nearest code."""
    codes = nearest_code(z, codebook, sizes)
    d = codebook.shape[-1]
    # gather, not codebook[codes]: its backward is deterministic on CPU (index_put's is not)
    if codebook.dim() == 2:
        z_q = torch.gather(codebook, 0, codes.reshape(-1, 1).expand(-1, d))
    else:
        z_q = torch.gather(codebook, 1, codes.reshape(len(codebook), -1, 1).expand(-1, -1, d))
    return z_q.reshape(*codes.shape, d), codes


def straight_through(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """z + sg(z_q - z): the value of z_q going forward, the identity going backward."""
    return z + (z_q - z).detach()


def codebook_loss(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """|sg(z) - e|² per vector (summed over d): pulls the codes towards the encoder outputs."""
    return ((z.detach() - z_q) ** 2).sum(-1)


def commitment_loss(z: torch.Tensor, z_q: torch.Tensor) -> torch.Tensor:
    """|z - sg(e)|² per vector (summed over d): keeps the encoder near its codes."""
    return ((z - z_q.detach()) ** 2).sum(-1)


def ema_update(codebook: torch.Tensor, counts: torch.Tensor, sums: torch.Tensor,
               z: torch.Tensor, codes: torch.Tensor, decay: float = 0.99,
               eps: float = 1e-5) -> None:
    """In place, for one codebook (K, d): N_i <- γN_i + (1-γ)n_i, m_i <- γm_i + (1-γ)Σ_{k_j=i} z_j,
    e_i = m_i / N_i (N Laplace-smoothed by eps). With γ = 0, eps = 0 it is a k-means step."""
    _check(z, codebook)
    if codebook.dim() != 2:
        raise ValueError("ema_update takes one codebook (K, d); loop over models")
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    k = codebook.shape[0]
    flat, idx = z.detach().reshape(-1, z.shape[-1]), codes.reshape(-1)
    n = torch.bincount(idx, minlength=k).to(z.dtype)                          # (K,)
    s = torch.zeros_like(codebook).index_add_(0, idx, flat)                   # (K, d)
    counts.mul_(decay).add_(n, alpha=1 - decay)
    sums.mul_(decay).add_(s, alpha=1 - decay)
    total = counts.sum()
    smoothed = (counts + eps) / (total + k * eps) * total
    used = smoothed > 0
    codebook[used] = sums[used] / smoothed[used, None]


def usage(codes: torch.Tensor, n_codes: int) -> tuple[float, int]:
    """(perplexity exp(H(p)) of the code frequencies p, number of codes never used)."""
    if n_codes < 1:
        raise ValueError(f"n_codes must be positive, got {n_codes}")
    if codes.numel() == 0 or codes.min() < 0 or codes.max() >= n_codes:
        raise ValueError(f"codes must be a non-empty tensor of indices in 0..{n_codes - 1}")
    p = torch.bincount(codes.reshape(-1), minlength=n_codes).double()
    p = p[p > 0] / p.sum()
    return float(torch.exp(-(p * p.log()).sum())), n_codes - len(p)


@dataclass(frozen=True)
class Codebook:
    """How one model of the ensemble keeps its codes."""

    n_codes: int = 64
    ema: bool = False        # EMA updates instead of the codebook loss
    restarts: bool = True    # a code unused for a whole epoch restarts at an encoder output


class VQAutoencoder(nn.Module):
    """M models side by side: x (N, D) -> ``slots`` vectors z of size ``code_dim`` -> nearest
    codes z_q -> x̂; model m has ``sizes[m]`` codes. Tensors carry a leading models axis."""

    def __init__(self, sizes: list[int], data_dim: int = 64, slots: int = 4,
                 code_dim: int = 8, hidden: int = 128):
        super().__init__()
        if not sizes or min(sizes) < 1 or min(data_dim, slots, code_dim, hidden) < 1:
            raise ValueError("sizes, data_dim, slots, code_dim and hidden must be positive")
        m = len(sizes)
        self.slots, self.code_dim = slots, code_dim
        self.register_buffer("sizes", torch.tensor(sizes))
        self.encoder = ensemble_mlp(m, [data_dim, hidden, hidden, slots * code_dim])
        self.decoder = ensemble_mlp(m, [slots * code_dim, hidden, hidden, data_dim])
        self.codebook = nn.Parameter(torch.randn(m, max(sizes), code_dim))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D) -> z (M, N, slots, code_dim)."""
        z = self.encoder(x.expand(len(self.sizes), *x.shape))
        return z.reshape(*z.shape[:2], self.slots, self.code_dim)

    def decode(self, z_q: torch.Tensor) -> torch.Tensor:
        """(M, N, slots, code_dim) -> pixel means in [0, 1], (M, N, D)."""
        return torch.sigmoid(self.decoder(z_q.flatten(2)))

    def forward(self, x: torch.Tensor):
        """(x̂, z, z_q, codes): x̂ decoded from z_q with the gradient passed straight through."""
        z = self.encode(x)
        z_q, codes = quantise(z, self.codebook, self.sizes)
        return self.decode(straight_through(z, z_q)), z, z_q, codes


@dataclass
class VQConfig:
    """Training set-up of :func:`train_vq`: one model per entry of ``codebooks``."""

    codebooks: tuple[Codebook, ...] = (Codebook(),)
    slots: int = 4
    code_dim: int = 8
    hidden: int = 128
    beta: float = 0.25       # weight of the commitment loss
    decay: float = 0.99      # EMA decay γ
    epochs: int = 80
    batch_size: int = 128
    lr: float = 3e-3
    seed: int = 0


#: The codebook-size sweep of the chapter ``vq_vae`` plus two variants at K = 64: without
#: restarts, and with EMA codes. The first K = 64 model is the one ``bench_vae`` reports.
DIGITS_VQ = VQConfig(codebooks=tuple(Codebook(k) for k in (4, 8, 16, 32, 64, 128, 256))
                     + (Codebook(64, restarts=False), Codebook(64, ema=True)), epochs=60)


@dataclass
class VQRun:
    model: VQAutoencoder
    config: VQConfig
    history: list[list[float]] = field(default_factory=list)  # per epoch: loss per model
    restarted: list[int] = field(default_factory=list)        # codes restarted, per model
    seconds: float = 0.0


def train_vq(x_train: torch.Tensor, config: VQConfig, desc: str = "training VQ-VAEs") -> VQRun:
    """Minimise |x - x̂|² + |sg(z) - e|² + β|z - sg(e)|² per model with Adam (an EMA model
    drops the codebook term and moves its codes by :func:`ema_update`)."""
    if x_train.dim() != 2:
        raise ValueError(f"x_train must be (N, D), got shape {tuple(x_train.shape)}")
    if config.beta < 0 or not config.codebooks:
        raise ValueError("beta must be non-negative and codebooks non-empty")
    gen = seeding.everything(config.seed)
    books = config.codebooks
    model = VQAutoencoder([b.n_codes for b in books], x_train.shape[1], config.slots,
                          config.code_dim, config.hidden)
    with torch.no_grad():  # codes start at N(0, 1), not at the data
        model.codebook.copy_(torch.randn(model.codebook.shape, generator=gen))
    ema = [m for m, b in enumerate(books) if b.ema]
    loss_weight = torch.tensor([0.0 if b.ema else 1.0 for b in books])[:, None]  # (M, 1)
    counts = torch.ones(model.codebook.shape[:2])  # EMA state: every code starts as one vector
    sums = model.codebook.detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    run, n, step = VQRun(model, config, restarted=[0] * len(books)), len(x_train), 0
    start = time.perf_counter()
    for _ in training.progress(range(config.epochs), desc=desc):
        used = torch.zeros(model.codebook.shape[:2], dtype=torch.long)     # (M, K)
        totals = torch.zeros(len(books))
        perm = torch.randperm(n, generator=gen)
        for i in range(0, n, config.batch_size):
            x = x_train[perm[i:i + config.batch_size]]
            x_hat, z, z_q, codes = model(x)
            per_model = (((x_hat - x) ** 2).sum(-1).mean(1)                  # (M,)
                         + config.beta * commitment_loss(z, z_q).sum(-1).mean(1)
                         + (loss_weight * codebook_loss(z, z_q).sum(-1)).mean(1))
            training.check_finite(per_model.sum(), step)
            opt.zero_grad()
            per_model.sum().backward()  # the models share no parameters
            opt.step()
            with torch.no_grad():
                for m in ema:
                    ema_update(model.codebook.data[m], counts[m], sums[m], z[m], codes[m],
                               config.decay)
                k = used.shape[1]  # count per (model, code) with one bincount
                flat = (codes + k * torch.arange(len(books))[:, None, None]).reshape(-1)
                used += torch.bincount(flat, minlength=used.numel()).reshape(used.shape)
            totals += per_model.detach() * len(x)
            step += 1
        run.history.append((totals / n).tolist())
        with torch.no_grad():  # restart the codes no vector chose during the epoch
            z_all = model.encode(x_train[perm[:256]])
            for m, book in enumerate(books):
                dead = (used[m, :book.n_codes] == 0).nonzero().flatten()
                if book.restarts and len(dead):
                    zs = z_all[m].reshape(-1, config.code_dim)
                    pick = zs[torch.randint(len(zs), (len(dead),), generator=gen)]
                    model.codebook.data[m, dead] = pick
                    sums[m, dead], counts[m, dead] = pick, 1.0
                    run.restarted[m] += len(dead)
    run.seconds = time.perf_counter() - start
    return run


@torch.no_grad()
def evaluate(model: VQAutoencoder, x: torch.Tensor) -> list[dict]:
    """Per model: per-pixel MSE, perplexity and unused codes on x, codes (N, slots), x̂."""
    x_hat, _, _, codes = model(x)
    out = []
    for m, size in enumerate(model.sizes.tolist()):
        perplexity, unused = usage(codes[m], size)
        out.append({"mse": ((x_hat[m] - x) ** 2).mean().item(), "perplexity": perplexity,
                    "unused": unused, "codes": codes[m], "x_hat": x_hat[m]})
    return out


@dataclass
class ProductQuantiser:
    """The linear baseline of the chapter ``vq_vae``: PCA to ``slots * code_dim`` dimensions,
    the coefficients split into ``slots`` groups (component j goes to group j mod slots, so
    every group gets large and small ones), k-means with K centres in each group. An image
    costs slots·log2 K bits, as in a VQ-VAE with the same slots and K."""

    mean: np.ndarray               # (D,)
    basis: np.ndarray              # (D, p), orthonormal PCA directions, p = slots * code_dim
    centres: list[np.ndarray]      # per group (K, p / slots)

    @classmethod
    def fit(cls, x: torch.Tensor, slots: int = 4, code_dim: int = 8, n_codes: int = 64,
            seed: int = 0) -> "ProductQuantiser":
        if x.dim() != 2 or slots * code_dim > x.shape[1] or min(slots, code_dim) < 1:
            raise ValueError(f"x must be (N, D) with D >= slots * code_dim >= 1, got "
                             f"{tuple(x.shape)}, slots {slots}, code_dim {code_dim}")
        if not 1 <= n_codes <= len(x):
            raise ValueError(f"n_codes must be in 1..{len(x)} (the rows of x), got {n_codes}")
        xd = x.double().numpy()
        mean = xd.mean(0)
        basis = np.linalg.svd(xd - mean, full_matrices=False)[2][:slots * code_dim].T
        coef = (xd - mean) @ basis                                            # (N, p)
        centres = [KMeans(n_codes, n_init=1, random_state=seed).fit(coef[:, j::slots])
                   .cluster_centers_ for j in range(slots)]
        return cls(mean, basis, centres)

    def codes(self, x: torch.Tensor) -> np.ndarray:
        """The nearest centre of every group: (N, slots) integers."""
        coef = (x.double().numpy() - self.mean) @ self.basis
        s = len(self.centres)
        return np.stack([((coef[:, j::s, None] - c.T[None]) ** 2).sum(1).argmin(1)
                         for j, c in enumerate(self.centres)], 1)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """x̂ = mean + basis · (the chosen centres put back in their places), (N, D)."""
        codes, s = self.codes(x), len(self.centres)
        coef = np.zeros((len(codes), self.basis.shape[1]))
        for j, c in enumerate(self.centres):
            coef[:, j::s] = c[codes[:, j]]
        return torch.from_numpy(self.mean + coef @ self.basis.T).to(x.dtype)
