"""Where the gradient penalties of a GAN critic are taken, and what they measure (chapter
``gan_zoo``): random points on the segments between paired real and fake samples, and the
norm of the critic's input gradient there, differentiable so that a penalty on it trains
the critic (WGAN-GP pushes it towards 1, WGAN-div penalises a power of it).
"""

from __future__ import annotations

from typing import Callable

import torch


def interpolate(x_real: torch.Tensor, x_fake: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Random points on the segments between paired samples: eps x_r + (1 - eps) x_f."""
    eps = torch.rand(x_real.shape[0], 1, generator=generator)  # (B, 1)
    return eps * x_real + (1 - eps) * x_fake


def grad_norm(critic: Callable, x: torch.Tensor) -> torch.Tensor:
    """|grad_x D(x)| for each row of ``x``, (B,), differentiable (for a penalty)."""
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x).sum(), x, create_graph=True)
    return g.norm(dim=1)
