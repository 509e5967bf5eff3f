"""GAN losses, each written once (the training loop is in ``gan``).

The chapter ``gan_zoo`` derives every loss. A critic (discriminator) ``D`` maps a point
to a real score; real samples ``x_r`` and fake samples ``x_f = G(z)`` come in batches of
the same size, paired row by row (GAN-QP and RSGAN use the pairs). Each loss is a pair
(critic loss, generator loss), both minimised:

=========  ==========================================  =====================================
name       critic loss                                  generator loss
=========  ==========================================  =====================================
sgan       E softplus(-D(x_r)) + E softplus(D(x_f))     E softplus(-D(x_f))   (non-saturating)
sgan-sat   same                                         -E softplus(D(x_f)) = E log(1 - s(D))
wgan-gp    E D(x_f) - E D(x_r) + lam E (|grad D|-1)^2   -E D(x_f)
wgan-div   E D(x_f) - E D(x_r) + k E |grad D|^p         -E D(x_f)
rsgan      E softplus(-(D(x_r) - D(x_f)))               E softplus(-(D(x_f) - D(x_r)))
gan-qp     E[-Delta + Delta^2 / (2 lam |x_r - x_f|)]    E Delta,   Delta = D(x_r) - D(x_f)
=========  ==========================================  =====================================

The gradient penalties are taken at random interpolations eps x_r + (1 - eps) x_f.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from book import checks
from book.generative import penalties

__all__ = ["LOSSES", "LossConfig", "check_loss", "gan_qp_critic", "gan_qp_generator",
           "critic_loss", "generator_loss", "critic_loss_of_scores", "generator_loss_of_scores"]

LOSSES = ("sgan", "sgan-sat", "wgan-gp", "wgan-div", "rsgan", "gan-qp")


@dataclass
class LossConfig:
    """Weights of the losses: WGAN-GP's lambda, WGAN-div's k and p, GAN-QP's lambda."""

    gp_weight: float = 1.0
    div_k: float = 2.0
    div_p: float = 6.0
    qp_lambda: float = 1.0


def check_loss(name: str) -> str:
    """Return ``name`` if it is a known loss, else raise ValueError listing the known ones."""
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    return name


def gan_qp_critic(d_real: torch.Tensor, d_fake: torch.Tensor, dist: torch.Tensor,
                  lam: float) -> torch.Tensor:
    """GAN-QP critic loss: mean of -Delta + Delta^2 / (2 lam d), Delta = d_real - d_fake."""
    checks.positive(lam, "GAN-QP's lambda")
    delta = d_real - d_fake
    return (-delta + delta.pow(2) / (2 * lam * dist)).mean()


def gan_qp_generator(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """GAN-QP generator loss: mean of Delta = d_real - d_fake."""
    return (d_real - d_fake).mean()


def _pair_check(x_real: torch.Tensor, x_fake: torch.Tensor) -> None:
    if x_real.shape != x_fake.shape or x_real.ndim != 2:
        raise ValueError("real and fake batches must both be (B, D) with the same shape, got "
                         f"{tuple(x_real.shape)} and {tuple(x_fake.shape)}")


def critic_loss_of_scores(name: str, d_real: torch.Tensor, d_fake: torch.Tensor,
                          dist: torch.Tensor | None = None, norms: torch.Tensor | None = None,
                          cfg: LossConfig | None = None) -> torch.Tensor:
    """The critic loss of ``name`` from its scores on paired batches, (B,) each: ``dist`` is
    |x_r - x_f| per pair (GAN-QP), ``norms`` the critic's gradient norms at interpolations
    (the two Wasserstein losses). The formulas of the module table."""
    cfg = cfg or LossConfig()
    if name in ("sgan", "sgan-sat"):
        # -E log s(D(x_r)) - E log(1 - s(D(x_f))), with -log s(t) = softplus(-t)
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
    if name == "rsgan":
        # -E log s(D(x_r) - D(x_f))
        return F.softplus(-(d_real - d_fake)).mean()
    if name == "gan-qp":
        return gan_qp_critic(d_real, d_fake, dist, cfg.qp_lambda)
    check_loss(name)
    # the two Wasserstein critics: -(E D(x_r) - E D(x_f)) + penalty at interpolations
    if name == "wgan-gp":
        penalty = cfg.gp_weight * (norms - 1).pow(2).mean()
    else:  # wgan-div
        penalty = cfg.div_k * norms.pow(cfg.div_p).mean()
    return d_fake.mean() - d_real.mean() + penalty


def generator_loss_of_scores(name: str, d_real: torch.Tensor,
                             d_fake: torch.Tensor) -> torch.Tensor:
    """The generator loss of ``name`` from the critic's scores, (B,) each (``d_real`` is
    used by the relativistic losses only). The formulas of the module table."""
    if name == "rsgan":
        return F.softplus(-(d_fake - d_real)).mean()  # -E log s(D(x_f) - D(x_r))
    if name == "gan-qp":
        return gan_qp_generator(d_real, d_fake)
    if name == "sgan":
        return F.softplus(-d_fake).mean()         # -E log s(D(x_f))
    if name == "sgan-sat":
        return -F.softplus(d_fake).mean()         # E log(1 - s(D(x_f)))
    check_loss(name)
    return -d_fake.mean()                         # wgan-gp, wgan-div


def critic_loss(name: str, critic: Callable, x_real: torch.Tensor, x_fake: torch.Tensor,
                cfg: LossConfig | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """The critic's (discriminator's) loss of ``name``, to minimise; see the module table."""
    check_loss(name)
    _pair_check(x_real, x_fake)
    x_fake = x_fake.detach()
    # one pass over both batches: (2B, 1) -> (B,), (B,)
    d_real, d_fake = critic(torch.cat([x_real, x_fake])).squeeze(-1).chunk(2)
    dist = norms = None
    if name == "gan-qp":
        dist = (x_real - x_fake).norm(dim=1)
    elif name.startswith("wgan"):
        norms = penalties.grad_norm(critic, penalties.interpolate(x_real, x_fake, generator))
    return critic_loss_of_scores(name, d_real, d_fake, dist, norms, cfg)


def generator_loss(name: str, critic: Callable, x_real: torch.Tensor, x_fake: torch.Tensor,
                   cfg: LossConfig | None = None) -> torch.Tensor:
    """The generator's loss of ``name``, to minimise through ``x_fake``; see the module table."""
    check_loss(name)
    _pair_check(x_real, x_fake)
    if name in ("rsgan", "gan-qp"):  # relativistic: both batches, one pass
        d_real, d_fake = critic(torch.cat([x_real.detach(), x_fake])).squeeze(-1).chunk(2)
    else:
        d_real, d_fake = None, critic(x_fake).squeeze(-1)  # (B,)
    return generator_loss_of_scores(name, d_real, d_fake)
