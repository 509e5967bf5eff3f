"""book.optim.steepest: steepest-descent directions, dual norms, steps and flows.

Each is compared with scipy.optimize solving the defining problem (min gᵀd over the unit
ball, min gᵀΔ + ½‖Δ‖²) directly, with scipy.optimize.linprog for the polyhedral norms, and
with closed-form flows (matrix exponentials).
"""

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import linprog, minimize

from book.optim import dynamics, steepest

from tests.helpers import quad_from, spd

RNG = np.random.default_rng(4321)


def _unit_ball_min(g, norm_fn):
    """min g.d over norm_fn(d) <= 1, by SLSQP from several starts (independent reference)."""
    best = None
    for s in range(4):
        x0 = np.random.default_rng(s).normal(size=g.size) * 0.1
        r = minimize(lambda d: g @ d, x0, method="SLSQP",
                     constraints=[{"type": "ineq", "fun": lambda d: 1 - norm_fn(d)}],
                     options={"ftol": 1e-12, "maxiter": 500})
        if best is None or r.fun < best.fun:
            best = r
    return best.x


@pytest.mark.parametrize("norm, p, ord_", [("l2", None, 2), ("lp", 3.0, 3), ("lp", 1.5, 1.5)])
def test_steepest_direction_smooth_norms_against_slsqp(norm, p, ord_):
    g = np.array([0.8, -1.5, 0.3])
    d = steepest.steepest_direction(g, norm, p=p)
    ref = _unit_ball_min(g, lambda v: np.sum(np.abs(v) ** ord_) ** (1 / ord_))
    np.testing.assert_allclose(d, ref, atol=2e-4)
    assert np.sum(np.abs(d) ** ord_) ** (1 / ord_) == pytest.approx(1.0)
    q = ord_ / (ord_ - 1)
    assert steepest.dual_norm(g, norm, p=p) == pytest.approx(np.linalg.norm(g, ord=q))
    assert g @ d == pytest.approx(-steepest.dual_norm(g, norm, p=p))


def test_steepest_direction_quadratic_norm():
    M = spd(3, seed=5)
    g = np.array([0.8, -1.5, 0.3])
    d = steepest.steepest_direction(g, "quadratic", M=M)
    ref = _unit_ball_min(g, lambda v: np.sqrt(v @ M @ v))
    np.testing.assert_allclose(d, ref, atol=2e-4)
    Lc = np.linalg.cholesky(M)                               # |g|_* = |L^{-1} g|
    assert steepest.dual_norm(g, "quadratic", M=M) == pytest.approx(
        np.linalg.norm(np.linalg.solve(Lc, g)))


@pytest.mark.parametrize("norm, bounds", [("linf", (-1, 1)), ("l1", None)])
def test_steepest_direction_polyhedral_norms_against_linprog(norm, bounds):
    g = np.array([0.8, -1.5, 0.3])
    n = g.size
    if norm == "linf":
        ref = linprog(g, bounds=[bounds] * n).x
    else:     # d = u - v, u, v >= 0, sum(u + v) <= 1
        r = linprog(np.concatenate([g, -g]), A_ub=np.ones((1, 2 * n)), b_ub=[1],
                    bounds=[(0, None)] * (2 * n))
        ref = r.x[:n] - r.x[n:]
    np.testing.assert_allclose(steepest.steepest_direction(g, norm), ref, atol=1e-9)
    assert steepest.dual_norm(g, norm) == pytest.approx(-g @ ref)


@pytest.mark.parametrize("norm, p, M", [("l2", None, None), ("lp", 3.0, None),
                                        ("quadratic", None, spd(3, seed=6))])
def test_steepest_step_minimises_linear_plus_half_norm_squared(norm, p, M):
    g = np.array([0.8, -1.5, 0.3])
    if norm == "quadratic":
        def nrm(v): return np.sqrt(v @ M @ v)
    else:
        o = 2 if norm == "l2" else p
        def nrm(v): return np.sum(np.abs(v) ** o) ** (1 / o)
    ref = minimize(lambda v: g @ v + 0.5 * nrm(v) ** 2, np.zeros(3) + 0.01, method="BFGS",
                   options={"gtol": 1e-10}).x
    np.testing.assert_allclose(steepest.steepest_step(g, norm, p=p, M=M), ref, atol=1e-5)
    if norm == "l2":
        np.testing.assert_allclose(steepest.steepest_step(g), -g)
    if norm == "quadratic":
        np.testing.assert_allclose(steepest.steepest_step(g, norm, M=M), -np.linalg.solve(M, g))


def test_steepest_direction_of_zero_gradient_is_zero():
    np.testing.assert_array_equal(steepest.steepest_direction(np.zeros(3), "linf"), np.zeros(3))


@pytest.mark.parametrize("kwargs, match", [
    (dict(norm="l3"), "unknown norm 'l3'; known: l2, l1, linf, lp, quadratic"),
    (dict(norm="lp"), "finite p > 1"), (dict(norm="lp", p=1.0), "finite p > 1"),
    (dict(norm="quadratic"), "positive definite"),
    (dict(norm="quadratic", M=-np.eye(3)), "positive definite"),
])
def test_steepest_rejects_bad_norms(kwargs, match):
    g = np.array([1.0, 2.0, 3.0])
    for fn in (steepest.steepest_direction, steepest.dual_norm, steepest.steepest_step):
        with pytest.raises(ValueError, match=match):
            fn(g, **kwargs)


def test_steepest_flow_against_closed_forms():
    H = spd(3, seed=7)
    q = quad_from(H)
    th0 = RNG.normal(size=3)
    times = np.linspace(0, 1.0, 5)
    np.testing.assert_allclose(steepest.steepest_flow(q, th0, times),
                               dynamics.gradient_flow(q, th0, times), atol=1e-9)
    M = spd(3, seed=8)
    ref = [expm(-np.linalg.solve(M, H) * t) @ th0 for t in times]   # theta' = -M^{-1} H theta
    np.testing.assert_allclose(steepest.steepest_flow(q, th0, times, "quadratic", M=M), ref,
                               atol=1e-8)
    # separable l_p flow in 1-D is the gradient flow: |g|^{q-1} |g|^{2-q} sign g = g
    q1 = dynamics.quadratic([2.0])
    np.testing.assert_allclose(steepest.steepest_flow(q1, [1.0], times, "lp", p=3.0),
                               dynamics.gradient_flow(q1, [1.0], times), atol=1e-8)
    with pytest.raises(ValueError, match="discontinuous"):
        steepest.steepest_flow(q, th0, times, "linf")


@pytest.mark.parametrize("norm, p", [("l2", None), ("lp", 1.1), ("lp", 8.0), ("linf", None),
                                     ("quadratic", None)])
def test_steepest_is_scale_safe(norm, p):
    """Tiny or huge gradients give the same direction and a dual norm scaled exactly."""
    M = spd(3, seed=9) if norm == "quadratic" else None
    g = np.array([0.8, -1.5, 0.3])
    d = steepest.steepest_direction(g, norm, p=p, M=M)
    for s in (1e-200, 1e200):
        np.testing.assert_allclose(steepest.steepest_direction(s * g, norm, p=p, M=M), d,
                                   rtol=1e-12)
        assert steepest.dual_norm(s * g, norm, p=p, M=M) == pytest.approx(
            s * steepest.dual_norm(g, norm, p=p, M=M), rel=1e-12)
