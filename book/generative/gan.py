"""A small GAN training loop for 2-D data (chapter ``gan_zoo``), and the losses of
``gan_losses`` under the same names (``gan.critic_loss``, ``gan.LOSSES``, ...).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
import torch
from torch import nn

from book import seeding, training
from book.generative import film
from book.generative.gan_losses import (LOSSES, LossConfig, check_loss, critic_loss,  # noqa: F401
                                        critic_loss_of_scores, gan_qp_critic, gan_qp_generator,
                                        generator_loss, generator_loss_of_scores)

__all__ = ["LOSSES", "LossConfig", "check_loss", "gan_qp_critic", "gan_qp_generator",
           "critic_loss", "generator_loss", "critic_loss_of_scores", "generator_loss_of_scores",
           "fit_critic", "mlp", "GANConfig", "GANRun", "sample", "train", "with_loss"]

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh,
               "silu": nn.SiLU}


def fit_critic(name: str, critic: nn.Module, x_real: torch.Tensor, x_fake: torch.Tensor,
               steps: int = 500, lr: float = 1e-3, cfg: LossConfig | None = None,
               seed: int = 0) -> float:
    """Train ``critic`` alone on fixed batches (full batch, Adam) towards its optimum.

    Returns the final critic loss. Used to study the generator's gradient against an
    (almost) optimal critic.
    """
    if steps < 1 or lr <= 0:
        raise ValueError(f"need steps >= 1 and lr > 0, got {steps}, {lr}")
    gen = seeding.generator(seed)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9), fused=True)
    with training.torch_threads(1):  # a small critic: one thread is faster
        for step in range(steps):
            loss = critic_loss(name, critic, x_real, x_fake, cfg, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            training.check_finite(loss, step, "critic loss")
        return float(critic_loss(name, critic, x_real, x_fake, cfg, gen).detach())


# ---------------------------------------------------------------------------------------
# networks and training

def mlp(n_in: int, n_out: int, width: int, depth: int, activation: str = "relu") -> nn.Module:
    """A plain MLP: ``depth`` hidden layers of ``width`` units, then a linear output."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; known: {', '.join(ACTIVATIONS)}")
    if width < 1 or depth < 0:
        raise ValueError(f"need width >= 1 and depth >= 0, got {width}, {depth}")
    layers, d = [], n_in
    for _ in range(depth):
        layers += [nn.Linear(d, width), ACTIVATIONS[activation]()]
        d = width
    layers.append(nn.Linear(d, n_out))
    return nn.Sequential(*layers)


@dataclass
class GANConfig:
    """A GAN on 2-D data: networks, optimiser (Adam), steps and the loss with its weights.

    The defaults are the book's configuration, shared by every loss and tuned in the
    chapter ``gan_zoo`` so that each run takes a few seconds on a CPU.
    """

    loss: str = "gan-qp"
    steps: int = 2500
    batch: int = 128
    latent: int = 2
    width: int = 64            # generator hidden units
    depth: int = 2             # generator hidden layers
    critic_width: int = 64
    critic_depth: int = 2
    activation: str = "relu"
    critic_steps: int = 1      # critic updates per generator update
    lr_g: float = 4e-3
    lr_d: float = 8e-3         # the critic learns twice as fast (instead of more steps)
    betas: tuple[float, float] = (0.5, 0.9)
    lr_end: float = 0.0        # learning rates decay linearly to lr * lr_end by the last step
    losses: LossConfig = field(default_factory=LossConfig)
    threads: int = 1           # torch threads: small nets run fastest on one

    def __post_init__(self):
        check_loss(self.loss)
        for name in ("steps", "batch", "latent", "critic_steps", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr_g <= 0 or self.lr_d <= 0 or not 0 <= self.lr_end <= 1:
            raise ValueError("learning rates must be positive and lr_end in [0, 1]")


@dataclass
class GANRun:
    """What :func:`train` returns."""

    config: GANConfig
    generator: nn.Module
    critic: nn.Module
    steps: int                     # generator steps done
    seconds: float
    d_loss: np.ndarray
    g_loss: np.ndarray
    frames: list[film.Frame]
    diverged: training.Diverged | None = None


def sample(gen: nn.Module, n: int, latent: int,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """``n`` samples G(z), z ~ N(0, I_latent), without gradients: (n, 2)."""
    with torch.no_grad():
        return gen(torch.randn(n, latent, generator=generator))


def train(cfg: GANConfig, data, seed: int = 0, snapshots: tuple[int, ...] = (),
          extent: float = 3.0, n_show: int = 512, max_seconds: float | None = None,
          keep_partial: bool = False, progress: bool = True) -> GANRun:
    """Train ``cfg.loss`` on ``data`` (a :class:`toy2d.Mixture` or ``f(n, generator)``).

    Each generator step follows ``cfg.critic_steps`` critic steps on fresh batches.
    ``snapshots`` are generator steps (0 = before training) at which a :class:`film.Frame`
    is kept: ``n_show`` samples from a fixed latent batch, the critic on a grid of
    ``[-extent, extent]^2`` and the CPU time of this thread so far (anytime curves).
    ``max_seconds`` stops early on wall time. A NaN or an
    infinite loss raises :class:`book.training.Diverged` (with ``keep_partial`` the run
    stops there and is returned with ``diverged`` set). Runs on ``cfg.threads`` torch
    threads (one by default: the networks are too small for a second one to help).
    """
    with training.torch_threads(cfg.threads):
        draw = data.sample if hasattr(data, "sample") else data
        if not callable(draw):
            raise ValueError("data must be a Mixture or a function f(n, generator) -> (n, 2)")
        gen_torch = seeding.everything(seed)
        G = mlp(cfg.latent, 2, cfg.width, cfg.depth, cfg.activation)
        D = mlp(2, 1, cfg.critic_width, cfg.critic_depth, cfg.activation)
        # fused Adam: the same update as the default, in one kernel (3x cheaper for tiny nets)
        opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=cfg.betas, fused=True)
        opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=cfg.betas, fused=True)
        z_show = torch.randn(n_show, cfg.latent, generator=gen_torch)
        shots = film.Film({int(s) for s in snapshots}, z_show, extent)
        d_hist, g_hist, diverged = [], [], None
        hint = f"{cfg.loss}: try smaller learning rates"
        bar = range(cfg.steps)
        if progress:
            bar = training.progress(bar, desc=f"training {cfg.loss}")
        per_step = cfg.critic_steps + 1   # batches of real data and of noise per generator step
        chunk = 100                       # generator steps sampled at once (fewer, larger calls)
        start, cpu_start = time.perf_counter(), time.thread_time()
        step = 0
        try:
            shots.snap(0, G, D)
            for step in bar:
                if step % chunk == 0:
                    n = min(chunk, cfg.steps - step) * per_step
                    reals = draw(n * cfg.batch, gen_torch).reshape(n, cfg.batch, 2)
                    noises = torch.randn(n, cfg.batch, cfg.latent, generator=gen_torch)
                i = (step % chunk) * per_step
                for c in range(cfg.critic_steps):
                    with torch.no_grad():
                        x_fake = G(noises[i + c])
                    loss_d = critic_loss(cfg.loss, D, reals[i + c], x_fake, cfg.losses, gen_torch)
                    opt_d.zero_grad(set_to_none=True)
                    loss_d.backward()
                    opt_d.step()
                d_hist.append(training.check_finite(loss_d, step, "critic loss", hint))
                x_fake = G(noises[i + cfg.critic_steps])
                loss_g = generator_loss(cfg.loss, D, reals[i + cfg.critic_steps], x_fake,
                                        cfg.losses)
                opt_g.zero_grad(set_to_none=True)
                loss_g.backward()
                opt_g.step()
                g_hist.append(training.check_finite(loss_g, step, "generator loss", hint))
                # linear decay: lr_t = lr (1 - (1 - lr_end) t / steps)
                scale = 1.0 - (1.0 - cfg.lr_end) * (step + 1) / cfg.steps
                opt_g.param_groups[0]["lr"] = cfg.lr_g * scale
                opt_d.param_groups[0]["lr"] = cfg.lr_d * scale
                shots.snap(step + 1, G, D, time.thread_time() - cpu_start)
                if max_seconds is not None and time.perf_counter() - start > max_seconds:
                    step += 1
                    break
            else:
                step = cfg.steps
        except training.Diverged as err:
            if not keep_partial:
                raise
            diverged = err
        finally:
            if progress:
                bar.close()
        return GANRun(cfg, G, D, step, time.perf_counter() - start, np.array(d_hist),
                      np.array(g_hist), shots.frames, diverged)


def with_loss(cfg: GANConfig, loss: str) -> GANConfig:
    """A copy of ``cfg`` with another loss."""
    return replace(cfg, loss=check_loss(loss))
