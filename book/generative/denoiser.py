"""The noise predictor eps_theta(x_t, t) of the chapter ``ddpm``: an MLP fed x_t, sinusoidal
features of t and (for 2-D data) sinusoidal features of x_t, several seeds trained at once as
one :class:`book.stacked.StackedMLP` on the simplified DDPM objective
:func:`book.generative.diffusion.eps_loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from book import checks, seeding, stacked, training
from book.generative import diffusion, gan

__all__ = ["fourier", "DenoiserConfig", "EpsNet", "train"]


def fourier(u: torch.Tensor, n_freq: int, top: float) -> torch.Tensor:
    """(..., k) -> (..., 2 k n_freq): sin(w_j u_i), cos(w_j u_i) for frequencies w_j geometric
    from 1 to ``top``."""
    w = torch.exp(torch.linspace(0.0, math.log(top), n_freq))   # (n_freq,)
    uw = (u[..., None] * w).flatten(-2)                          # (..., k n_freq)
    return torch.cat([torch.sin(uw), torch.cos(uw)], dim=-1)


@dataclass
class DenoiserConfig:
    """The noise predictor and its training (Adam, cosine decay of the learning rate)."""

    T: int = 100            # diffusion steps, linear schedule (diffusion.linear_schedule)
    width: int = 64
    depth: int = 3          # hidden layers
    activation: str = "relu"  # or "silu"
    t_freq: int = 8         # features of t / T: frequencies 1..200
    x_freq: int = 0         # features of each coordinate of x_t: frequencies 1..x_top
    x_top: float = 30.0
    steps: int = 2000
    batch: int = 256
    lr: float = 2e-3
    threads: int = 1

    def n_inputs(self, d: int) -> int:
        return d + 1 + 2 * self.t_freq + 2 * d * self.x_freq


class EpsNet(nn.Module):
    """M noise predictors of the same shape: x_t (M, N, d) and steps t (M, N) -> (M, N, d)."""

    def __init__(self, nets: list[nn.Sequential], cfg: DenoiserConfig,
                 base: diffusion.GaussianEps | None = None):
        super().__init__()
        self.mlp, self.cfg, self.base = stacked.StackedMLP(nets), cfg, base

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        s = t.to(x.dtype)[..., None] / self.cfg.T                       # (M, N, 1)
        feats = [x, s, fourier(s, self.cfg.t_freq, 200.0)]
        if self.cfg.x_freq:
            feats.append(fourier(x, self.cfg.x_freq, self.cfg.x_top))
        out = self.mlp(torch.cat(feats, dim=-1))
        # with a Gaussian base, the network learns the correction to the Gaussian's predictor
        return out if self.base is None else out + self.base(x, t)


def _mlp(d: int, cfg: DenoiserConfig) -> nn.Sequential:
    if cfg.activation not in ("relu", "silu"):
        raise ValueError(f"activation must be one of ['relu', 'silu'], got {cfg.activation!r}")
    return gan.mlp(cfg.n_inputs(d), d, cfg.width, cfg.depth, cfg.activation)


def train(data: torch.Tensor, cfg: DenoiserConfig, streams: list[int], desc: str = "training",
          gaussian_base: bool = False, progress: bool = True) -> tuple[EpsNet, list[float]]:
    """Train one noise predictor per seed stream on ``data`` (n, d), all as one stacked model;
    each draws its own initial weights, and its own batches, steps and noise. Returns the
    model and the loss (mean over the models) averaged over every 50 steps. With
    ``gaussian_base`` the network learns a correction to the exact predictor of the Gaussian
    fitted to ``data`` (:class:`book.generative.diffusion.GaussianEps`). ``progress=False``
    hides the progress bar (in worker processes, whose output would land in the wrong cell)."""
    if data.ndim != 2 or data.shape[0] < 2:
        raise ValueError(f"data must be (n, d) with n >= 2, got {tuple(data.shape)}")
    if not streams:
        raise ValueError("need at least one seed stream")
    checks.integer(cfg.steps, "steps")
    checks.integer(cfg.batch, "batch")
    checks.positive(cfg.lr, "lr")
    sched = diffusion.linear_schedule(cfg.T)
    nets = []
    for k in streams:
        torch.manual_seed(seeding.seed(k))
        nets.append(_mlp(data.shape[1], cfg))
    base = diffusion.GaussianEps(data.mean(0), torch.cov(data.T), sched) if gaussian_base else None
    model = EpsNet(nets, cfg, base)
    g = seeding.generator(streams[0] + 100)
    M, n = len(streams), data.shape[0]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # cosine decay of the learning rate to zero: the last steps settle the fine detail
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    losses, running = [], 0.0
    with training.torch_threads(cfg.threads):
        steps = training.progress(range(cfg.steps), desc=desc) if progress else range(cfg.steps)
        for step in steps:
            x0 = data[torch.randint(n, (M, cfg.batch), generator=g)]   # (M, B, d)
            # the M losses summed: model m's gradient is that of its own loss
            loss = diffusion.eps_loss(model, x0, sched, g).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            decay.step()
            running += training.check_finite(loss, step, hint="lower the learning rate") / M
            if (step + 1) % 50 == 0:
                losses.append(running / 50)
                running = 0.0
    return model, losses
