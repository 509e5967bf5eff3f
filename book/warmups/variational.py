"""Three classical problems of the calculus of variations, exactly and discretised
(chapter ``extremum_analysis``).

Exact minimisers: the great circle on the unit sphere, the cycloid through a point
(brachistochrone), the catenary of given length. Discretised functionals: polygons through
nodes, whose length, sliding time or potential energy are torch functions of the nodes, and an
L-BFGS minimiser over the interior nodes (with an augmented Lagrangian for a constraint).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from scipy.integrate import quad
from scipy.optimize import brentq

from book import checks

#: gravitational acceleration, m/s^2
G = 9.81


@dataclass(frozen=True)
class Cycloid:
    """x = R (theta - sin theta), y = R (1 - cos theta) for theta in [0, theta_end], with y
    pointing down: the path a bead rolls down fastest from the origin to its end point."""

    R: float
    theta_end: float

    def xy(self, theta):
        theta = np.asarray(theta, dtype=float)
        # 1 - cos(theta) = 2 sin^2(theta / 2), without cancellation near the start
        return self.R * (theta - np.sin(theta)), 2 * self.R * np.sin(theta / 2) ** 2

    def y_at(self, x) -> np.ndarray:
        """The height y(x) of the cycloid: x = R (theta - sin theta) inverted by bisection
        (x is increasing in theta on [0, 2 pi])."""
        x = np.asarray(x, dtype=float)
        lo, hi = np.zeros_like(x), np.full_like(x, 2 * math.pi)
        for _ in range(60):
            mid = (lo + hi) / 2
            left = self.R * (mid - np.sin(mid)) < x
            lo, hi = np.where(left, mid, lo), np.where(left, hi, mid)
        return self.R * (1 - np.cos((lo + hi) / 2))

    def time(self, g: float = G) -> float:
        """Travel time from the origin, T = theta_end sqrt(R / g)."""
        return self.theta_end * math.sqrt(self.R / g)


def cycloid_through(X: float, Y: float) -> Cycloid:
    """The cycloid from the origin through (X, Y), X, Y > 0 (y down): theta_end solves
    (theta - sin theta) / (1 - cos theta) = X / Y, then R = Y / (1 - cos theta_end)."""
    X, Y = checks.positive(X, "X"), checks.positive(Y, "Y")
    ratio = lambda th: (th - math.sin(th)) / (1 - math.cos(th)) - X / Y  # noqa: E731
    theta = brentq(ratio, 1e-3, 2 * math.pi - 1e-3, xtol=1e-15)
    return Cycloid(Y / (1 - math.cos(theta)), theta)


def great_circle(phi_end: float, theta0: float, theta1: float) -> tuple[float, float]:
    """(a, b) of the great circle tan(theta) = a sin(phi) + b cos(phi) through the points
    (longitude 0, latitude theta0) and (phi_end, theta1) of the unit sphere."""
    phi_end = checks.number(phi_end, "phi_end", 0.0, low_ok=False, high=math.pi)
    for name, th in (("theta0", theta0), ("theta1", theta1)):
        checks.number(th, name, -math.pi / 2, low_ok=False, high=math.pi / 2)
    b = math.tan(theta0)
    return (math.tan(theta1) - b * math.cos(phi_end)) / math.sin(phi_end), b


def catenary(half_width: float, length: float) -> float:
    """The parameter c of the chain of ``length`` hung from (-a, 0) and (a, 0):
    y = c cosh(x / c) - c cosh(a / c), with 2 c sinh(a / c) = length."""
    a = checks.positive(half_width, "half_width")
    length = checks.number(length, "length", 2 * a, low_ok=False)
    return brentq(lambda c: 2 * c * math.sinh(a / c) - length, a / 50, 1e6 * a, xtol=1e-15)


def travel_time(curve: Callable, tau_end: float, g: float = G) -> float:
    """Sliding time from rest at y = 0 along a curve (x(tau), y(tau)), y down, tau in
    [0, tau_end]; ``curve(tau)`` returns (x, y, dx/dtau, dy/dtau).

    T = int sqrt((x'^2 + y'^2) / (2 g y)) dtau, with tau = tau_end u^2 to tame the 1/sqrt(y)
    of the start.
    """
    def integrand(u):
        _, y, dx, dy = curve(tau_end * u * u)
        return math.sqrt((dx * dx + dy * dy) / (2 * g * y)) * 2 * tau_end * u

    return quad(integrand, 0.0, 1.0, epsabs=1e-14, epsrel=1e-13, limit=200)[0]


# --- discretised functionals: nodes (x_i, y_i), straight segments in between ----------


def polygon_time(x: torch.Tensor, y: torch.Tensor, g: float = G) -> torch.Tensor:
    """Sliding time along the polygon through (x_i, y_i) from rest at y = 0, exactly: on a
    segment, v = sqrt(2 g y) and y is linear in arc length, so its time is
    ds * 2 / (sqrt(2 g) (sqrt(y_i) + sqrt(y_{i+1})))."""
    ds = torch.sqrt(torch.diff(x) ** 2 + torch.diff(y) ** 2)
    root = torch.sqrt(y.clamp_min(0.0))
    return (2 * ds / (math.sqrt(2 * g) * (root[1:] + root[:-1]))).sum()


def sphere_length(phi: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Length of the path (phi_i, theta_i) on the unit sphere, ds^2 = dtheta^2 +
    cos^2(theta) dphi^2, with cos(theta) taken at each segment's midpoint (error O(h^2))."""
    mid = (theta[1:] + theta[:-1]) / 2
    return torch.sqrt(torch.diff(theta) ** 2 + torch.cos(mid) ** 2 * torch.diff(phi) ** 2).sum()


def chain_energy_length(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Potential energy (per unit weight) int y ds and length of the polygon chain: on a
    straight segment int y ds = ds (y_i + y_{i+1}) / 2 exactly."""
    ds = torch.sqrt(torch.diff(x) ** 2 + torch.diff(y) ** 2)
    return (ds * (y[1:] + y[:-1]) / 2).sum(), ds.sum()


# --- minimisers ----------------------------------------------------------------------


def sine_basis(n: int) -> torch.Tensor:
    """Columns v_k / (2 sin(pi k / 2n)), k = 1..n-1, with v_k the orthonormal discrete sine
    modes of the n-1 interior nodes: the second difference has eigenvalues 4 sin^2(pi k/2n)
    on v_k, so in these coordinates a length-like functional has a Hessian close to a
    multiple of I (a preconditioner). Shape (n-1, n-1)."""
    n = checks.integer(n, "n", least=2)
    i = torch.arange(1, n, dtype=torch.float64)[:, None]
    k = torch.arange(1, n, dtype=torch.float64)[None, :]
    modes = torch.sin(math.pi * i * k / n) * math.sqrt(2 / n)
    return modes / (2 * torch.sin(math.pi * k / (2 * n)))


def minimise(loss: Callable[[torch.Tensor], torch.Tensor], y: torch.Tensor,
             tol: float = 1e-12, max_iter: int = 2000) -> tuple[torch.Tensor, int]:
    """Minimise ``loss(nodes)`` over the interior of ``y`` (its two ends stay fixed) with
    L-BFGS and autograd, in the coordinates of :func:`sine_basis` (uniform node spacing in
    the curve's parameter). Returns the nodes and the number of loss evaluations."""
    if not isinstance(y, torch.Tensor) or y.ndim != 1 or len(y) < 3:
        raise ValueError("y must be a 1-D torch tensor of at least 3 nodes, got "
                         f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    y = y.detach().double()
    basis = sine_basis(len(y) - 1)
    coef = torch.zeros(len(y) - 2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([coef], lr=1, max_iter=max_iter, history_size=20,
                            tolerance_grad=tol, tolerance_change=1e-16,
                            line_search_fn="strong_wolfe")

    def nodes(c):
        # y = y_start + B c on the interior, ends unchanged
        return torch.cat([y[:1], y[1:-1] + basis @ c, y[-1:]])

    def closure():
        opt.zero_grad()
        value = loss(nodes(coef))
        value.backward()
        return value

    opt.step(closure)
    return nodes(coef).detach(), opt.state[coef]["func_evals"]


def minimise_constrained(energy: Callable, constraint: Callable, y: torch.Tensor,
                         mu: float = 30.0, tol: float = 1e-8,
                         max_rounds: int = 30) -> tuple[torch.Tensor, float, int]:
    """Minimise energy(nodes) subject to constraint(nodes) = 0 by the augmented Lagrangian
    E - lam g + mu g^2 / 2: minimise over the nodes, then lam <- lam - mu g, until |g| < tol.

    At the solution grad E = lam grad g (lam is the Lagrange multiplier). Returns the nodes,
    lam and the number of rounds.
    """
    mu = checks.positive(mu, "mu")
    lam = 0.0
    for rounds in range(1, max_rounds + 1):
        def lagrangian(nodes, lam=lam):
            g = constraint(nodes)
            return energy(nodes) - lam * g + mu / 2 * g ** 2

        y, _ = minimise(lagrangian, y)
        g = float(constraint(y))
        lam -= mu * g
        if abs(g) < tol:
            break
    return y, lam, rounds
