"""Three GAN generators for the 8x8 digits and the loop that trains them (chapter
``gan_architectures``): DCGAN's transposed convolutions, a residual generator of upsampling
blocks, and the residual generator with self-modulated batch normalisation, whose scale and
shift are computed from the noise z. One critic and one loss (from ``gan_losses``) serve all.

Both normalisations use the statistics of the batch they are given, in training and in
sampling alike (no running averages): samples are drawn in batches of hundreds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from book import checks, seeding, training
from book.generative import gan_losses

ARCHITECTURES = ("dcgan", "resnet", "selfmod")
EPS = 1e-5


def check_architecture(name: str) -> str:
    """Return ``name`` if it is a known architecture, else raise ValueError listing them."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(ARCHITECTURES)}")
    return name


def standardise(h: torch.Tensor) -> torch.Tensor:
    """Batch normalisation without affine part: (h - mu_c) / sqrt(var_c + eps), with the mean
    and (biased) variance of channel c over the batch and the positions. (B, C, H, W)."""
    return F.batch_norm(h, None, None, training=True, eps=EPS)      # fused, (B, C, H, W)


class BatchNorm(nn.Module):
    """Plain batch normalisation: gamma_c * standardise(h) + beta_c, the same for every z."""

    def __init__(self, channels: int, latent: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def scale_shift(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gamma and beta for each row of z: (B, C) each, every row the same."""
        n = len(z)
        return self.gamma.expand(n, -1), self.beta.expand(n, -1)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return standardise(h) * self.gamma[:, None, None] + self.beta[:, None, None]


class SelfModBatchNorm(nn.Module):
    """Self-modulated batch normalisation (Chen et al. 2019):
    gamma_c(z) * standardise(h) + beta_c(z), gamma and beta one-hidden-layer MLPs of z.

    The output layers start at weight 0, bias 1 (gamma) and 0 (beta): at initialisation the
    layer is plain batch normalisation, and every dependence on z is learned.
    """

    def __init__(self, channels: int, latent: int, hidden: int = 32):
        super().__init__()
        self.hidden = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU())
        self.to_gamma = nn.Linear(hidden, channels)
        self.to_beta = nn.Linear(hidden, channels)
        for lin, start in ((self.to_gamma, 1.0), (self.to_beta, 0.0)):
            nn.init.zeros_(lin.weight)
            nn.init.constant_(lin.bias, start)

    def scale_shift(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gamma(z) and beta(z): (B, latent) -> (B, C), (B, C)."""
        u = self.hidden(z)                                              # (B, hidden)
        return self.to_gamma(u), self.to_beta(u)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.scale_shift(z)                               # (B, C) each
        return standardise(h) * gamma[:, :, None, None] + beta[:, :, None, None]


class UpBlock(nn.Module):
    """Residual block doubling the side: x -> up(conv1x1 x) + conv(relu(n(conv(up(relu(n x))))))
    with n a normalisation that may read z."""

    def __init__(self, c_in: int, c_out: int, latent: int, norm: type[nn.Module]):
        super().__init__()
        self.n1, self.n2 = norm(c_in, latent), norm(c_out, latent)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1)

    def forward(self, h: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        main = self.conv1(up(F.relu(self.n1(h, z))))                    # (B, c_out, 2H, 2W)
        main = self.conv2(F.relu(self.n2(main, z)))
        return main + self.skip(up(h))


@dataclass
class ArchConfig:
    """Generator sizes (latent, channels at 2x2), critic width, and the training run:
    WGAN-GP with the paper's lambda = 10 and Adam betas (0, 0.9), one critic step per
    generator step, both learning rates 2e-3."""

    latent: int = 32
    channels: int = 16
    critic_width: int = 256
    loss: str = "wgan-gp"
    gp_weight: float = 10.0
    steps: int = 600
    batch: int = 128
    lr_g: float = 2e-3
    lr_d: float = 2e-3
    betas: tuple[float, float] = (0.0, 0.9)
    decay: bool = True          # learning rates fall linearly to zero over the run


class Generator(nn.Module):
    """z (B, latent) -> digits (B, 64) in [0, 1]: a linear map to ``channels`` maps of 2x2,
    two doublings to 8x8, a 3x3 convolution and a sigmoid."""

    def __init__(self, arch: str, cfg: ArchConfig):
        super().__init__()
        self.arch, c, d = check_architecture(arch), cfg.channels, cfg.latent
        self.inp = nn.Linear(d, c * 4)
        if arch == "dcgan":  # transposed convolutions, each followed by BN and ReLU
            self.norms = nn.ModuleList([BatchNorm(k, d) for k in (c, c // 2, c // 4)])
            self.ups = nn.ModuleList([nn.ConvTranspose2d(c, c // 2, 4, 2, 1),
                                      nn.ConvTranspose2d(c // 2, c // 4, 4, 2, 1)])
        else:
            norm = SelfModBatchNorm if arch == "selfmod" else BatchNorm
            self.blocks = nn.ModuleList([UpBlock(c, c // 2, d, norm),
                                         UpBlock(c // 2, c // 4, d, norm)])
            self.norms = nn.ModuleList([norm(c // 4, d)])
        self.out = nn.Conv2d(c // 4, 1, 3, padding=1)

    def norm_layers(self) -> list[nn.Module]:
        """Every normalisation layer, in the order the forward pass meets them."""
        if self.arch == "dcgan":
            return list(self.norms)
        return [n for b in self.blocks for n in (b.n1, b.n2)] + [self.norms[0]]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.inp(z).view(len(z), -1, 2, 2)                          # (B, c, 2, 2)
        if self.arch == "dcgan":
            for norm, up in zip(self.norms, self.ups):
                h = up(F.relu(norm(h, z)))                              # side doubles
            h = F.relu(self.norms[-1](h, z))                            # (B, c/4, 8, 8)
        else:
            for block in self.blocks:
                h = block(h, z)
            h = F.relu(self.norms[0](h, z))
        return torch.sigmoid(self.out(h)).flatten(1)                    # (B, 64)


def critic(cfg: ArchConfig) -> nn.Sequential:
    """The critic of every run: an MLP on the 64 pixels, (B, 64) -> (B, 1), two hidden layers
    of leaky ReLUs and no normalisation (the gradient penalty acts per sample)."""
    k = cfg.critic_width
    return nn.Sequential(nn.Linear(64, k), nn.LeakyReLU(0.2), nn.Linear(k, k),
                         nn.LeakyReLU(0.2), nn.Linear(k, 1))


@dataclass
class ArchRun:
    """A trained generator, its samples from fixed noise at the snapshot steps, the losses."""

    arch: str
    generator: Generator
    z_show: torch.Tensor                                  # (n_show, latent), fixed
    frames: dict[int, np.ndarray] = field(default_factory=dict)   # step -> (n_show, 64)
    d_loss: list[float] = field(default_factory=list)
    g_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0


def sample(G: Generator, z: torch.Tensor) -> torch.Tensor:
    """G(z) without gradients: (B, 64), normalised with the statistics of this batch."""
    with torch.no_grad():
        return G(z)


def norm_outputs(G: Generator, z: torch.Tensor) -> list[torch.Tensor]:
    """The output of every normalisation layer of G on the batch z: (B, C, H, W) each."""
    outs = []
    hooks = [n.register_forward_hook(lambda m, args, y: outs.append(y.detach()))
             for n in G.norm_layers()]
    try:
        sample(G, z)
    finally:
        for h in hooks:
            h.remove()
    return outs


def train(arch: str, x: torch.Tensor, cfg: ArchConfig = ArchConfig(), stream: int = 0,
          snapshots: tuple[int, ...] = (), n_show: int = 256) -> ArchRun:
    """Train the generator ``arch`` against ``critic(cfg)`` on digits ``x`` (N, 64) with the
    loss ``cfg.loss``, one critic step per generator step; randomness from ``stream``.
    Keeps G(z_show) at the steps ``snapshots`` (0 = before training)."""
    check_architecture(arch)
    gan_losses.check_loss(cfg.loss)
    checks.integer(cfg.steps, "steps")
    checks.integer(cfg.batch, "batch")
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim != 2 or x.shape[1] != 64:
        raise ValueError(f"digits must be (N, 64), got {tuple(x.shape)}")
    gen = seeding.everything(stream)
    G, D = Generator(arch, cfg), critic(cfg)
    run = ArchRun(arch, G, torch.randn(n_show, cfg.latent, generator=gen))
    loss_cfg = gan_losses.LossConfig(gp_weight=cfg.gp_weight)
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas, fused=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas, fused=True)
    # lr_t = lr (1 - t / steps) when cfg.decay, else constant
    sched = [torch.optim.lr_scheduler.LambdaLR(
        o, lambda t: 1 - t / cfg.steps if cfg.decay else 1.0) for o in (opt_g, opt_d)]
    start = time.process_time()
    with training.torch_threads(1):
        for step in range(cfg.steps + 1):
            if step in snapshots:
                run.frames[step] = sample(G, run.z_show).numpy()
            if step == cfg.steps:
                break
            real = x[torch.randint(len(x), (cfg.batch,), generator=gen)]   # (B, 64)
            fake = G(torch.randn(cfg.batch, cfg.latent, generator=gen))
            d_loss = gan_losses.critic_loss(cfg.loss, D, real, fake, loss_cfg, gen)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            g_loss = gan_losses.generator_loss(cfg.loss, D, real, fake, loss_cfg)
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            for sc in sched:
                sc.step()
            hint = f"{arch} with {cfg.loss}: lower the learning rates"
            run.d_loss.append(training.check_finite(d_loss, step, "critic loss", hint))
            run.g_loss.append(training.check_finite(g_loss, step, "generator loss", hint))
    run.seconds = time.process_time() - start
    return run
