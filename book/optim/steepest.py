"""Steepest descent under a norm: the direction, the dual norm, the step and its flow.

For a norm ‖·‖ the steepest-descent direction minimises gᵀd over ‖d‖ <= 1; the minimum is
-‖g‖_*, the dual norm. l2 gives the gradient, l∞ the sign, l1 coordinate descent, l_p the
family in between, and ‖d‖² = dᵀMd preconditioning by M⁻¹. Derived with Lagrange
multipliers in the chapter why_gradient_descent.
"""

from __future__ import annotations

import numpy as np

from book import checks
from book.optim.dynamics import integrate

NORMS = ("l2", "l1", "linf", "lp", "quadratic")


def _norm_args(norm, p, M, d):
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
    if norm == "lp" and (p is None or not (np.isfinite(p) and p > 1)):
        raise ValueError(f"norm 'lp' needs a finite p > 1 (use 'l1' or 'linf' at the ends), "
                         f"got p={p!r}")
    if norm == "quadratic":
        M = np.asarray(M, dtype=float) if M is not None else None
        if M is None or M.shape != (d, d) or not np.allclose(M, M.T) \
                or np.linalg.eigvalsh(M)[0] <= 0:
            raise ValueError(f"norm 'quadratic' needs M, a symmetric positive definite "
                             f"{d}x{d} matrix")
    return M


def dual_norm(g, norm: str = "l2", p: float | None = None, M=None) -> float:
    """‖g‖_* = max over ‖d‖ <= 1 of gᵀd: l2→l2, l1→l∞, l∞→l1, lp→lq (1/p+1/q=1), M→√(gᵀM⁻¹g)."""
    g = checks.vector(g, "g")
    M = _norm_args(norm, p, M, g.size)
    scale = float(np.abs(g).max())
    if scale == 0:
        return 0.0
    g = g / scale                     # ‖·‖_* is homogeneous: no overflow or underflow in powers
    if norm == "l2":
        out = np.linalg.norm(g)
    elif norm == "l1":
        out = np.abs(g).max()
    elif norm == "linf":
        out = np.abs(g).sum()
    elif norm == "lp":
        q = p / (p - 1)
        out = np.sum(np.abs(g) ** q) ** (1 / q)
    else:
        out = np.sqrt(g @ np.linalg.solve(M, g))
    return float(scale * out)


def steepest_direction(g, norm: str = "l2", p: float | None = None, M=None) -> np.ndarray:
    """The unit vector d (‖d‖ = 1 in ``norm``) minimising gᵀd, so gᵀd = -‖g‖_*.

    l2: -g/‖g‖; l∞: -sign(g); l1: -sign(g_k) e_k at the largest |g_k|; lp:
    -sign(g)|g|^{q-1}/‖g‖_q^{q-1}; quadratic ‖d‖² = dᵀMd: -M⁻¹g/√(gᵀM⁻¹g).
    """
    g = checks.vector(g, "g")
    M = _norm_args(norm, p, M, g.size)
    if not np.any(g):
        return np.zeros_like(g)
    g = g / np.abs(g).max()           # the direction does not depend on the scale of g
    if norm == "l2":
        return -g / np.linalg.norm(g)
    if norm == "linf":
        return -np.sign(g)
    if norm == "l1":
        d = np.zeros_like(g)
        k = int(np.argmax(np.abs(g)))
        d[k] = -np.sign(g[k])
        return d
    if norm == "lp":
        q = p / (p - 1)
        return -np.sign(g) * (np.abs(g) / dual_norm(g, "lp", p)) ** (q - 1)
    Minv_g = np.linalg.solve(M, g)
    return -Minv_g / np.sqrt(g @ Minv_g)


def steepest_step(g, norm: str = "l2", p: float | None = None, M=None) -> np.ndarray:
    """argmin_Δ gᵀΔ + ½‖Δ‖² = ‖g‖_* · steepest_direction: -g (l2), -‖g‖₁ sign g (l∞), -M⁻¹g."""
    return dual_norm(g, norm, p, M) * steepest_direction(g, norm, p, M)


def steepest_flow(problem, theta0, times, norm: str = "l2", p: float | None = None, M=None,
                  rtol: float = 1e-10, atol: float = 1e-12) -> np.ndarray:
    """θ(t) for dθ/dt = steepest_step(∇L(θ)) by ``solve_ivp``; (len(times), d).

    Only for continuous right-hand sides (l2, lp, quadratic): the l1 and l∞ flows switch
    discontinuously and should be integrated with :func:`book.optim.dynamics.euler` and a small step.
    """
    if norm in ("l1", "linf"):
        raise ValueError(f"the {norm} steepest-descent field is discontinuous; integrate it "
                         f"with book.optim.dynamics.euler and a small step instead")
    theta0 = np.asarray(theta0, dtype=float)
    _norm_args(norm, p, M, theta0.size)
    return integrate(lambda th: steepest_step(problem.grad(th), norm, p, M), theta0, times,
                     rtol, atol)
