"""O-GAN: the discriminator as an encoder (chapter ``o_gan``).

The discriminator outputs a vector ``E(x)`` in R^nz. Its score is the component along the
all-ones direction, ``avg(E(x))``, which the GAN loss uses; the part orthogonal to it is tied
to the noise by the Pearson correlation rho(z, E(G(z))) across the nz coordinates, which
both players maximise. The standardised ``E(x)`` is then a code that ``G`` decodes.

Several runs (variants of the correlation term and seeds) train as one model: the weights of
the M generators and M discriminators are stacked (``book.stacked.StackedMLP``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from book import checks, seeding, training
from book.generative import gan, gan_losses
from book.stacked import StackedMLP

__all__ = ["TERMS", "OGANConfig", "OGANRun", "mean_part", "orthogonal_part", "standardise",
           "pearson", "latent_term", "discriminator_loss", "generator_loss", "train", "merge",
           "encode", "decode", "sample"]

#: the term tying E(G(z)) to z: O-GAN's Pearson correlation, none (a plain GAN), and the
#: unstandardised variant that regresses E(G(z)) on z (it also moves the score)
TERMS = ("pearson", "none", "mse")
HINT = "lower the learning rates (or the weight of the term)"


def _vectors(e: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(e, torch.Tensor) or e.ndim < 1 or e.shape[-1] < 2:
        raise ValueError(f"{name} must be a tensor (..., nz) with nz >= 2 coordinates, got "
                         f"{getattr(e, 'shape', type(e))}")
    return e


def mean_part(e: torch.Tensor) -> torch.Tensor:
    """Projection on the all-ones direction: (1 1^T / nz) e = avg(e) 1, shape of ``e``."""
    _vectors(e, "e")
    return e.mean(-1, keepdim=True).expand_as(e)


def orthogonal_part(e: torch.Tensor) -> torch.Tensor:
    """The rest, (I - 1 1^T / nz) e = e - avg(e) 1: orthogonal to 1, shape of ``e``."""
    return e - mean_part(e)


def standardise(e: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(e - avg(e)) / std(e) per vector (population std over the last axis): mean 0, std 1."""
    c = orthogonal_part(e)
    return c / (c.pow(2).mean(-1, keepdim=True) + eps).sqrt()


def pearson(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson correlation of a and b across their last axis, one per vector: (...,); ``eps``
    guards the division by a zero spread."""
    _vectors(a, "a"), _vectors(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    # rho = mean_i a~_i b~_i, with a~, b~ the standardised vectors
    return (standardise(a, eps) * standardise(b, eps)).mean(-1)


def latent_term(term: str, z: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """The quantity both players maximise, per run (batch axis -2, coordinates -1):
    E_z rho(z, E(G(z))) (``pearson``), 0 (``none``), or -E_z |E(G(z)) - z|^2 / nz (``mse``)."""
    if term == "pearson":
        return pearson(z, e_fake).mean(-1)
    if term == "none":
        return e_fake.sum((-2, -1)) * 0.0
    if term == "mse":
        return -(e_fake - z).pow(2).mean((-2, -1))
    raise ValueError(f"unknown latent term {term!r}; known: {', '.join(TERMS)}")


def _terms(terms: list[str], z: torch.Tensor, e_fake: torch.Tensor) -> torch.Tensor:
    """The latent term of each run m, terms[m] on z[m], e_fake[m]: (M,)."""
    out = torch.zeros(len(terms))
    for term in set(terms):
        mask = torch.tensor([t == term for t in terms])
        out = out + mask * latent_term(term, z, e_fake)
    return out


@dataclass
class OGANConfig:
    """Networks (MLPs), optimiser (Adam), steps, the GAN loss and the weight of the term."""

    latent: int = 16            # nz: the noise dimension and E's output dimension
    width: int = 64
    depth: int = 2
    steps: int = 2000
    batch: int = 64
    loss: str = "sgan"
    weight: float = 0.5         # lambda, the weight of the latent term in both losses
    lr_g: float = 2e-3
    lr_e: float = 2e-3
    betas: tuple[float, float] = (0.5, 0.9)
    lr_end: float = 0.1         # learning rates decay linearly to lr * lr_end
    ema: float = 0.998          # if > 0, return the exponential moving average of G
    losses: gan_losses.LossConfig = field(default_factory=gan_losses.LossConfig)

    def __post_init__(self):
        gan_losses.check_loss(self.loss)
        if self.loss.startswith("wgan"):
            raise ValueError("the Wasserstein losses need gradient penalties, not wired here; "
                             "use sgan, sgan-sat, rsgan or gan-qp")
        for name in ("latent", "width", "depth", "steps", "batch"):
            checks.integer(getattr(self, name), name, least=2 if name == "latent" else 1)
        checks.number(self.weight, "weight", 0.0)
        checks.positive(self.lr_g, "lr_g"), checks.positive(self.lr_e, "lr_e")
        checks.number(self.lr_end, "lr_end", 0.0, high=1.0, high_ok=True)
        checks.number(self.ema, "ema", 0.0, high=1.0)


@dataclass
class OGANRun:
    """What :func:`train` returns: the stacked networks of the M runs and their history."""

    config: OGANConfig
    terms: list[str]
    seeds: list[int]
    generator: StackedMLP          # (M, N, nz) -> (M, N, 64) logits of the pixels
    encoder: StackedMLP            # (M, N, 64) -> (M, N, nz)
    corr: torch.Tensor             # (steps, M) rho(z, E(G(z))) on the training batches
    seconds: float


def decode(gen: StackedMLP, z: torch.Tensor) -> torch.Tensor:
    """Pixels in [0, 1]: sigmoid(G(z)), (M, N, nz) -> (M, N, 64)."""
    return torch.sigmoid(gen(z))


def discriminator_loss(cfg: OGANConfig, terms: list[str], E: StackedMLP, x_r: torch.Tensor,
                       x_f: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Sum over the M runs of  L_D(avg E(x_r), avg E(G(z))) - lambda * term(z, E(G(z))),
    for real digits x_r, fakes x_f = G(z) (M, B, 64) and their noise z (M, B, nz)."""
    x_f = x_f.detach()                                       # the generator is held fixed
    e_r, e_f = E(torch.cat([x_r, x_f], 1)).chunk(2, dim=1)   # (M, B, nz) each
    dist = (x_r - x_f).norm(dim=-1)                          # (M, B), used by GAN-QP only
    # scores avg(E(x)), (M, B); a mean over all M x B of them is the mean of the M runs'
    # losses, hence the factor M
    gan_loss = gan_losses.critic_loss_of_scores(cfg.loss, e_r.mean(-1), e_f.mean(-1), dist,
                                                cfg=cfg.losses)
    return len(terms) * gan_loss - cfg.weight * _terms(terms, z, e_f).sum()


def generator_loss(cfg: OGANConfig, terms: list[str], E: StackedMLP, x_r: torch.Tensor,
                   x_f: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum over the M runs of  L_G(avg E(x_r), avg E(G(z))) - lambda * term(z, E(G(z))),
    and E(G(z)) (M, B, nz); gradients reach the generator through x_f."""
    if cfg.loss in ("rsgan", "gan-qp"):                      # relativistic: real scores too
        e_r, e_f = E(torch.cat([x_r, x_f], 1)).chunk(2, dim=1)
        s_r = e_r.detach().mean(-1)
    else:
        e_f, s_r = E(x_f), None
    gan_loss = gan_losses.generator_loss_of_scores(cfg.loss, s_r, e_f.mean(-1))
    return len(terms) * gan_loss - cfg.weight * _terms(terms, z, e_f).sum(), e_f


def train(x: torch.Tensor, terms: list[str], seeds: list[int],
          cfg: OGANConfig | None = None, stream: int = 0, progress: bool = True) -> OGANRun:
    """Train M = len(terms) O-GANs on the digits ``x`` (N, 64) side by side; run m uses the
    latent term ``terms[m]`` and initial weights from seed ``seeds[m]``."""
    cfg = cfg or OGANConfig()
    checks.runs(terms, seeds, TERMS)
    if x.ndim != 2 or x.shape[1] != 64 or not torch.isfinite(x).all():
        raise ValueError(f"x must be finite (N, 64) digits, got shape {tuple(x.shape)}")
    m, nz, b = len(terms), cfg.latent, cfg.batch
    nets_g, nets_e = [], []
    for s in seeds:
        seeding.everything(s)
        nets_g.append(gan.mlp(nz, 64, cfg.width, cfg.depth, "leaky_relu"))
        nets_e.append(gan.mlp(64, nz, cfg.width, cfg.depth, "leaky_relu"))
    G, E = StackedMLP(nets_g), StackedMLP(nets_e)
    G_avg = StackedMLP(nets_g)                  # theta_avg <- ema theta_avg + (1 - ema) theta
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    opt_e = torch.optim.Adam(E.parameters(), lr=cfg.lr_e, betas=cfg.betas)
    decay = lambda step: 1.0 - (1.0 - cfg.lr_end) * step / cfg.steps  # noqa: E731
    scheds = [torch.optim.lr_scheduler.LambdaLR(o, decay) for o in (opt_g, opt_e)]
    gen = seeding.generator(stream)
    corr = torch.zeros(cfg.steps, m)
    start = time.perf_counter()
    steps = training.progress(range(cfg.steps), desc="O-GAN") if progress else range(cfg.steps)
    with training.torch_threads(1):  # small networks: one thread is fastest
        for step in steps:
            x_r = x[torch.randint(len(x), (m, b), generator=gen)]        # (M, B, 64)
            z = torch.randn(m, b, nz, generator=gen)                      # (M, B, nz)
            x_f = decode(G, z)                                            # (M, B, 64)
            loss_e = discriminator_loss(cfg, terms, E, x_r, x_f, z)
            training.check_finite(loss_e, step, "discriminator loss", HINT)
            opt_e.zero_grad(set_to_none=True)
            loss_e.backward()
            opt_e.step()
            loss_g, e_f = generator_loss(cfg, terms, E, x_r, x_f, z)
            training.check_finite(loss_g, step, "generator loss", HINT)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            for s in scheds:
                s.step()
            with torch.no_grad():
                for p_avg, p in zip(G_avg.parameters(), G.parameters()):
                    p_avg.lerp_(p, 1.0 - cfg.ema)
            with torch.no_grad():
                corr[step] = pearson(z, e_f).mean(-1)
    G = G_avg if cfg.ema > 0 else G
    for p in (*G.parameters(), *E.parameters()):
        p.requires_grad_(False)
    return OGANRun(cfg, list(terms), list(seeds), G, E, corr, time.perf_counter() - start)


def merge(runs: list[OGANRun]) -> OGANRun:
    """Runs of the same configuration and length (trained apart, e.g. in two processes) as
    one stacked run, their models in order."""
    if not runs or any(r.config != runs[0].config for r in runs):
        raise ValueError("merge needs at least one run, all with the same configuration")
    nets = lambda which: [getattr(r, which).unstack(k)  # noqa: E731
                          for r in runs for k in range(len(r.terms))]
    G, E = StackedMLP(nets("generator")), StackedMLP(nets("encoder"))
    for p in (*G.parameters(), *E.parameters()):
        p.requires_grad_(False)
    return OGANRun(runs[0].config, [t for r in runs for t in r.terms],
                   [s for r in runs for s in r.seeds], G, E,
                   torch.cat([r.corr for r in runs], 1), max(r.seconds for r in runs))


def encode(run: OGANRun, x: torch.Tensor, raw: bool = False) -> torch.Tensor:
    """The codes of digits x (N, 64) under every run: the standardised E(x), (M, N, nz)
    (``raw``: E(x) itself, the wrong code)."""
    if x.ndim != 2 or x.shape[1] != 64:
        raise ValueError(f"x must be (N, 64) digits, got {tuple(x.shape)}")
    with torch.no_grad():
        e = run.encoder(x.expand(len(run.terms), -1, -1))
    return e if raw else standardise(e)


def sample(run: OGANRun, n: int, stream: int) -> torch.Tensor:
    """n samples G(z), z ~ N(0, I), of every run: (M, n, 64)."""
    checks.integer(n, "n")
    z = torch.randn(len(run.terms), n, run.config.latent, generator=seeding.generator(stream))
    with torch.no_grad():
        return decode(run.generator, z)
