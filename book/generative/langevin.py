"""Langevin samplers for a density p(x) proportional to exp(-U(x) / T) (chapter ``energy_langevin``).

The unadjusted Langevin algorithm (ULA) is the Euler-Maruyama step of the SDE
dx = -grad U dt + sqrt(2 T) dW,

    x' = x - eta grad U(x) + sqrt(2 eta T) xi,    xi ~ N(0, I),

whose stationary law is exp(-U/T) only as eta -> 0 (its bias is O(eta)). The
Metropolis-adjusted Langevin algorithm (MALA) uses that step as a proposal y and accepts it
with probability min(1, exp(-(U(y) - U(x))/T) q(x | y) / q(y | x)), where
q(y | x) = N(y; x - eta grad U(x), 2 eta T I): the chain then leaves exp(-U/T) exactly invariant.

Everything acts on the last axis of x and broadcasts over the leading ones: N chains in D
dimensions are an (N, D) tensor, M stacked energies with N chains each an (M, N, D) tensor.
``energy(x)`` returns one value per chain, shape x.shape[:-1]; its gradient is taken by autograd.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from book import checks, training

__all__ = ["grad_energy", "ula_step", "mala_step", "Chains", "langevin", "ula_stationary"]

Energy = Callable[[torch.Tensor], torch.Tensor]


def grad_energy(energy: Energy, x: torch.Tensor, create_graph: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """U(x) (shape x.shape[:-1]) and grad U(x) (shape of x), by autograd."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        u = energy(x)
        if u.shape != x.shape[:-1]:
            raise ValueError(f"energy must return one value per chain, shape {tuple(x.shape[:-1])}, "
                             f"got {tuple(u.shape)}")
        (g,) = torch.autograd.grad(u.sum(), x, create_graph=create_graph)
    return (u if create_graph else u.detach()), (g if create_graph else g.detach())


def ula_step(energy: Energy, x: torch.Tensor, eta: float, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """One unadjusted Langevin step x - eta grad U(x) + sqrt(2 eta T) xi."""
    _, g = grad_energy(energy, x)
    xi = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    # x' = x - eta grad U(x) + sqrt(2 eta T) xi
    return x - eta * g + math.sqrt(2 * eta * temperature) * xi


def mala_step(energy: Energy, x: torch.Tensor, eta: float, temperature: float = 1.0,
              generator: torch.Generator | None = None,
              cache: tuple[torch.Tensor, torch.Tensor] | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    """One MALA step: returns the new x, which chains accepted (bool, x.shape[:-1]) and
    (U, grad U) at the new x, to pass back as ``cache`` (one energy evaluation per step)."""
    u_x, g_x = cache if cache is not None else grad_energy(energy, x)
    xi = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    # proposal y = x - eta grad U(x) + sqrt(2 eta T) xi
    y = x - eta * g_x + math.sqrt(2 * eta * temperature) * xi
    u_y, g_y = grad_energy(energy, y)
    # log q(b | a) = -|b - a + eta grad U(a)|^2 / (4 eta T) + const
    log_q_yx = -(y - x + eta * g_x).square().sum(-1) / (4 * eta * temperature)
    log_q_xy = -(x - y + eta * g_y).square().sum(-1) / (4 * eta * temperature)
    # log alpha = -(U(y) - U(x)) / T + log q(x | y) - log q(y | x)
    log_alpha = -(u_y - u_x) / temperature + log_q_xy - log_q_yx
    uniform = torch.rand(log_alpha.shape, generator=generator, dtype=x.dtype)
    accept = torch.log(uniform) < log_alpha
    keep = accept[..., None]
    new_x = torch.where(keep, y, x)
    new_cache = (torch.where(accept, u_y, u_x), torch.where(keep, g_y, g_x))
    return new_x, accept, new_cache


@dataclass
class Chains:
    """The end of a Langevin run: final states, per-chain time averages, acceptance rate."""

    x: torch.Tensor            # final states, shape of x0
    mean: torch.Tensor | None  # per-chain average of observe(x) over the steps after burn-in
    accept: float | None       # MALA's share of accepted proposals (None for ULA)


def langevin(energy: Energy, x0: torch.Tensor, eta: float, steps: int, *, mala: bool = False,
             temperature: float = 1.0, burn: int = 0,
             observe: Callable[[torch.Tensor], torch.Tensor] | None = None,
             generator: torch.Generator | None = None, progress: str = "") -> Chains:
    """Run ULA (or MALA, ``mala=True``) chains from ``x0`` for ``steps`` steps of size ``eta``.

    If ``observe`` is given, ``Chains.mean`` is the per-chain average of ``observe(x)`` over
    the states after the first ``burn`` steps. A non-finite state raises
    :class:`book.training.Diverged` (the step is too large for the energy's curvature).
    """
    eta = checks.positive(eta, "the step size eta")
    temperature = checks.positive(temperature, "the temperature")
    steps = checks.integer(steps, "steps")
    burn = checks.integer(burn, "burn", least=0)
    if burn >= steps:
        raise ValueError(f"burn must be smaller than steps ({steps}), got {burn}")
    if x0.ndim < 1:
        raise ValueError("x0 must have a last axis of coordinates, shape (..., D)")
    x, cache, total, accepted = x0.detach().clone(), None, None, 0.0
    it = training.progress(range(steps), desc=progress) if progress else range(steps)
    for t in it:
        if mala:
            x, acc, cache = mala_step(energy, x, eta, temperature, generator, cache)
            accepted += float(acc.double().mean())
        else:
            x = ula_step(energy, x, eta, temperature, generator)
        if observe is not None and t >= burn:
            f = observe(x)
            total = f if total is None else total + f
        if t % 50 == 0 or t == steps - 1:
            training.check_finite(x.abs().max(), t, "a Langevin state",
                                  hint=f"step size {eta} too large for this energy")
    mean = None if total is None else total / (steps - burn)
    return Chains(x=x, mean=mean, accept=accepted / steps if mala else None)


def ula_stationary(grad_u: Callable[[np.ndarray], np.ndarray], grid: np.ndarray, eta: float,
                   temperature: float = 1.0) -> np.ndarray:
    """The stationary density of 1-D ULA on an even ``grid``, with no Monte Carlo noise.

    ULA moves x to y with density k(x, y) = N(y; x - eta U'(x), 2 eta T). On the grid the
    chain is the matrix K_ij = k(x_i, x_j) dx (rows renormalised to 1: mass leaving the grid
    is returned to it), and its stationary law solves p K = p with sum(p) = 1. Returns the
    density p / dx on the grid, shape (n,). ``grad_u`` maps an array of x to U'(x).
    """
    eta = checks.positive(eta, "the step size eta")
    temperature = checks.positive(temperature, "the temperature")
    x = np.asarray(grid, dtype=float)
    if x.ndim != 1 or x.size < 3 or not np.allclose(np.diff(x), x[1] - x[0]):
        raise ValueError("grid must be a 1-D array of at least 3 evenly spaced points")
    dx = x[1] - x[0]
    mean = x - eta * grad_u(x)                                   # (n,) drift of each row
    # K_ij = N(x_j; x_i - eta U'(x_i), 2 eta T) dx, rows renormalised
    K = np.exp(-(x[None, :] - mean[:, None]) ** 2 / (4 * eta * temperature))   # (n, n)
    K /= K.sum(axis=1, keepdims=True)
    # p (K - I) = 0 with sum(p) = 1: replace one equation of the transposed system by sum(p) = 1
    A = K.T - np.eye(len(x))
    A[-1] = 1.0
    b = np.zeros(len(x))
    b[-1] = 1.0
    p = np.linalg.solve(A, b)
    return p / dx
