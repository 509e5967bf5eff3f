"""An energy model E_theta(x) on the plane, trained by contrastive divergence with short-run
Langevin chains from a persistent buffer (chapter ``energy_langevin``).

The model's density is p_theta(x) = exp(-E_theta(x) / T) / Z_theta at a fixed temperature T,
and T times the gradient of the negative log-likelihood of the data is

    grad_theta E_data[E_theta(x)] - grad_theta E_{x ~ p_theta}[E_theta(x)],

whose second term needs samples of the model: Langevin chains (:mod:`book.generative.langevin`)
started from a persistent buffer, a share of them restarted from uniform noise at every step
(Du & Mordatch, 2019). The loss adds alpha (E(x_data)^2 + E(x_model)^2), which keeps the
energies near zero. M energies of the same shape (one per seed) are trained as one stacked
model (:class:`book.stacked.StackedMLP`), an (M, N, 2) batch at a time.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from book import checks, seeding, training
from book.stacked import StackedMLP
from book.generative import gan, langevin

__all__ = ["EBMConfig", "stacked_energy", "energy_fn", "frozen", "EBMRun", "train"]


@dataclass(frozen=True)
class EBMConfig:
    """Settings of the energy model and of its contrastive-divergence training."""

    width: int = 64          # hidden units per layer
    depth: int = 2           # hidden layers
    steps: int = 400         # parameter updates
    batch: int = 128         # data points and model samples per update and per run
    lr: float = 3e-3         # Adam's learning rate
    alpha: float = 0.1       # weight of the E^2 regulariser
    eta: float = 1e-2        # Langevin step size
    temperature: float = 1e-2  # the model's density is exp(-E / temperature)
    k: int = 10              # Langevin steps per update (short run)
    buffer: int = 2048       # persistent chains per run
    restart: float = 0.05    # share of the chains restarted from uniform noise per update
    box: float = 3.0         # the noise is uniform on [-box, box]^2
    input_scale: float = 6.0  # first-layer weights times this at initialisation

    def __post_init__(self):
        for name in ("width", "depth", "steps", "batch", "k", "buffer"):
            checks.integer(getattr(self, name), name)
        for name in ("lr", "eta", "temperature", "box", "input_scale"):
            checks.positive(getattr(self, name), name)
        checks.number(self.alpha, "alpha", 0.0)
        checks.number(self.restart, "restart", 0.0, high=1.0, high_ok=True)


def stacked_energy(cfg: EBMConfig, seeds: list[int]) -> StackedMLP:
    """M SiLU networks 2 -> width -> ... -> 1, network m initialised from stream seeds[m]."""
    nets = []
    for s in seeds:
        with torch.random.fork_rng():
            torch.manual_seed(seeding.seed(s))
            net = gan.mlp(2, 1, cfg.width, cfg.depth, "silu")
            with torch.no_grad():
                net[0].weight.mul_(cfg.input_scale)
            nets.append(net)
    return StackedMLP(nets)


def energy_fn(net: StackedMLP):
    """E_theta as a function of an (M, N, 2) batch, returning (M, N)."""
    return lambda x: net(x)[..., 0]


@contextmanager
def frozen(net: nn.Module):
    """Within the block the parameters need no gradient (Langevin steps differentiate in x only)."""
    flags = [p.requires_grad for p in net.parameters()]
    for p in net.parameters():
        p.requires_grad_(False)
    try:
        yield net
    finally:
        for p, f in zip(net.parameters(), flags):
            p.requires_grad_(f)


def _noise(shape, box: float, generator: torch.Generator) -> torch.Tensor:
    return (2 * torch.rand(shape, generator=generator) - 1) * box


@dataclass
class EBMRun:
    """A trained stack of energies, its buffer of chains and its losses per update."""

    net: StackedMLP
    buffer: torch.Tensor   # (M, buffer, 2)
    cd: torch.Tensor       # (steps, M): E(data) - E(model samples), batch means


def train(cfg: EBMConfig, data, seeds: list[int], stream: int) -> EBMRun:
    """Train one energy per seed on samples of ``data`` (a ``toy2d.Mixture``) by CD.

    loss_m = mean E(x_data) - mean E(x_model) + alpha mean(E(x_data)^2 + E(x_model)^2),
    with x_model the state of ``cfg.batch`` buffer chains after ``cfg.k`` Langevin steps.
    """
    if not seeds:
        raise ValueError("need at least one seed")
    gen = seeding.generator(stream)
    net = stacked_energy(cfg, seeds)
    energy = energy_fn(net)
    M = len(seeds)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.0, 0.999))
    buf = _noise((M, cfg.buffer, 2), cfg.box, gen)                       # (M, B_buf, 2)
    cd = torch.empty(cfg.steps, M)
    for step in training.progress(range(cfg.steps), desc="contrastive divergence"):
        idx = torch.randint(cfg.buffer, (cfg.batch,), generator=gen)
        x = buf[:, idx]                                                   # (M, batch, 2)
        fresh = torch.rand(M, cfg.batch, 1, generator=gen) < cfg.restart
        x = torch.where(fresh, _noise(x.shape, cfg.box, gen), x)
        with frozen(net):
            for _ in range(cfg.k):                                        # short-run Langevin
                x = langevin.ula_step(energy, x, cfg.eta, cfg.temperature, generator=gen)
        buf[:, idx] = x
        x_data = torch.stack([data.sample(cfg.batch, generator=gen) for _ in range(M)])
        e_data, e_model = energy(x_data), energy(x)                       # (M, batch) each
        # CD: E(x_data) - E(x_model), plus alpha (E(x_data)^2 + E(x_model)^2)
        gap = e_data.mean(1) - e_model.mean(1)                            # (M,)
        reg = (e_data.square() + e_model.square()).mean(1)
        loss = (gap + cfg.alpha * reg).sum()
        training.check_finite(loss, step, "the CD loss", hint="lower lr or eta")
        opt.zero_grad()
        loss.backward()
        opt.step()
        cd[step] = gap.detach()
    return EBMRun(net=net, buffer=buf, cd=cd)
