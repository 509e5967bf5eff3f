"""book.optim.dynamics: test problems, flows, integrators and their shared loop.

Every function is compared with an independent reference: closed-form solutions
(matrix exponentials, linear recursions), torch autograd and torch.optim.
"""

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from book.optim import dynamics
from book.training import Diverged

from tests.helpers import quad_from, spd

RNG = np.random.default_rng(1234)


# ----------------------------------------------------------------------------- problems
def test_quadratic_matches_its_definition():
    Q = dynamics.rotation_2d(0.3)
    c = np.array([0.5, -1.0])
    q = dynamics.quadratic([2.0, 7.0], rotation=Q, center=c)
    H = Q @ np.diag([2.0, 7.0]) @ Q.T
    np.testing.assert_allclose(q.H, H, atol=1e-14)
    th = np.array([1.3, 0.4])
    assert q.loss(th) == pytest.approx(0.5 * (th - c) @ H @ (th - c))
    eps = 1e-6
    fd = [(q.loss(th + eps * e) - q.loss(th - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(q.grad(th), fd, rtol=1e-7)
    np.testing.assert_allclose(q.hess(th), H)
    batch = np.stack([th, c])                                  # (2, d) at once
    np.testing.assert_allclose(q.loss(batch), [q.loss(th), 0.0], atol=1e-14)


def test_quadratic_exact_flow_is_the_matrix_exponential():
    H = spd(4)
    q = quad_from(H)
    th0 = RNG.normal(size=4)
    for t in (0.0, 0.3, 2.0):
        np.testing.assert_allclose(q.exact_flow(th0, [t])[0], expm(-H * t) @ th0, atol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eigenvalues=[1.0, -2.0]), "eigenvalues"),
    (dict(eigenvalues=[]), "eigenvalues"),
    (dict(eigenvalues=[1.0, 2.0], rotation=np.ones((2, 2))), "orthogonal"),
    (dict(eigenvalues=[1.0, 2.0], center=[0.0, 1.0, 2.0]), "center"),
])
def test_quadratic_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        dynamics.quadratic(**kwargs)


def test_rotation_2d():
    R = dynamics.rotation_2d(np.pi / 3)
    np.testing.assert_allclose(R.T @ R, np.eye(2), atol=1e-15)
    np.testing.assert_allclose(R @ [1.0, 0.0], [0.5, np.sqrt(3) / 2])


def test_banana_grad_and_hessian_against_autograd():
    b = dynamics.Banana(a=0.7, b=3.0)

    def loss_t(t):
        return 0.5 * (0.7 - t[0]) ** 2 + 1.5 * (t[1] - t[0] ** 2) ** 2

    for th in RNG.normal(size=(3, 2)):
        t = torch.tensor(th, dtype=torch.float64, requires_grad=True)
        (g,) = torch.autograd.grad(loss_t(t), t)
        assert b.loss(th) == pytest.approx(float(loss_t(t).detach()))
        np.testing.assert_allclose(b.grad(th), g.numpy(), rtol=1e-12)
        Ht = torch.autograd.functional.hessian(loss_t, t.detach())
        np.testing.assert_allclose(b.hess(th), Ht.numpy(), rtol=1e-12)
    np.testing.assert_allclose(b.grad(np.array([0.7, 0.49])), [0.0, 0.0], atol=1e-15)


def test_stability_bound():
    H = np.array([[3.0, 1.0], [1.0, 3.0]])               # eigenvalues 2 and 4
    assert dynamics.stability_bound(H) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="positive eigenvalue"):
        dynamics.stability_bound(np.zeros((2, 2)))


# -------------------------------------------------------------------------------- flows
def test_gradient_flow_against_closed_forms():
    H = spd(3, seed=1)
    q = quad_from(H)
    th0 = RNG.normal(size=3)
    times = np.linspace(0, 1.5, 7)
    np.testing.assert_allclose(dynamics.gradient_flow(q, th0, times),
                               [expm(-H * t) @ th0 for t in times], atol=1e-9)
    # modified flow of a quadratic: theta' = -(H + lr/2 H^2) theta
    lr = 0.05
    Hm = H + 0.5 * lr * H @ H
    np.testing.assert_allclose(dynamics.gradient_flow(q, th0, times, lr=lr),
                               [expm(-Hm * t) @ th0 for t in times], atol=1e-9)


@pytest.mark.parametrize("kwargs, match", [
    (dict(lr=-0.1), "lr"), (dict(times=[0.0, 1.0, 0.5]), "times"),
    (dict(times=[-1.0, 1.0]), "times"), (dict(theta0=[np.nan, 0.0]), "theta0"),
])
def test_gradient_flow_rejects_bad_input(kwargs, match):
    args = dict(problem=dynamics.Banana(), theta0=[0.0, 0.0], times=[0.0, 1.0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        dynamics.gradient_flow(**args)


def test_integrate_a_linear_system():
    A = np.array([[0.0, 1.0], [-2.0, -0.3]])
    t = np.linspace(0, 2, 5)
    np.testing.assert_allclose(dynamics.integrate(lambda y: A @ y, [1.0, 0.0], t),
                               [expm(A * s) @ [1.0, 0.0] for s in t], atol=1e-10)
    with pytest.raises(ValueError, match="y0"):
        dynamics.integrate(lambda y: y, [[1.0]], t)


def test_damped_flow_is_a_damped_oscillator():
    k, gamma = 4.0, 1.0                   # x'' + x' + 4x = 0, x(0) = 1, x'(0) = 0
    q = dynamics.quadratic([k])
    t = np.linspace(0, 5, 11)
    w = np.sqrt(k - gamma**2 / 4)
    exact = np.exp(-gamma * t / 2) * (np.cos(w * t) + gamma / (2 * w) * np.sin(w * t))
    np.testing.assert_allclose(dynamics.damped_flow(q, [1.0], t, gamma)[:, 0], exact,
                               atol=1e-9)
    with pytest.raises(ValueError, match="friction"):
        dynamics.damped_flow(q, [1.0], t, -1.0)


# -------------------------------------------------------------------------- integrators
def test_euler_on_linear_decay():
    out = dynamics.euler(lambda th: -3.0 * th, [2.0], 0.1, 5)
    np.testing.assert_allclose(out[:, 0], 2.0 * 0.7 ** np.arange(6))
    with pytest.raises(ValueError, match="h must be"):
        dynamics.euler(lambda th: th, [1.0], 0.0, 3)
    with pytest.raises(ValueError, match="steps must be"):
        dynamics.euler(lambda th: th, [1.0], 0.1, 2.5)


def test_iterate_runs_a_step_function_and_guards_it():
    q = dynamics.quadratic([1.0, 4.0])
    seen = []

    def step(n, theta, g):  # a decaying step size, to see n, θ_{n-1} and its gradient
        seen.append((n, theta.copy(), g.copy()))
        return theta - (0.2 / n) * g

    out = dynamics.iterate(q, [1.0, -1.0], 4, step)
    ref = [np.array([1.0, -1.0])]
    for n in range(1, 5):
        ref.append(ref[-1] - (0.2 / n) * q.grad(ref[-1]))
    np.testing.assert_array_equal(out, np.array(ref))
    assert [s[0] for s in seen] == [1, 2, 3, 4]
    np.testing.assert_array_equal(seen[2][2], q.grad(ref[2]))
    with pytest.raises(Diverged, match=r"training diverged: \|θ\| became 243") as err:
        dynamics.iterate(q, [1.0, 0.0], 50, lambda n, theta, g: 3.0 * theta, blowup=100)
    assert err.value.step == 5  # 3^5 = 243 > 100 x max(1, |θ0|)
    with pytest.raises(Diverged, match=r"loss became (nan|inf) at step 1"):
        dynamics.iterate(q, [1.0, 0.0], 5, lambda n, theta, g: theta + np.inf)


def test_gd_matches_the_linear_recursion_and_reports_divergence():
    H = spd(3, seed=2)
    q = quad_from(H)
    th0 = RNG.normal(size=3)
    lr = 0.5 * dynamics.stability_bound(H)
    out = dynamics.gd(q, th0, lr, 20)
    A = np.eye(3) - lr * H
    np.testing.assert_allclose(out[20], np.linalg.matrix_power(A, 20) @ th0, atol=1e-12)
    with pytest.raises(Diverged) as err:
        dynamics.gd(q, th0, 1.2 * dynamics.stability_bound(H), 10_000, blowup=1e3)
    assert 1 < err.value.step < 10_000
    with pytest.raises(ValueError, match="lr must be"):
        dynamics.gd(q, th0, -0.1, 3)


def test_heavy_ball_matches_the_companion_matrix():
    lam, lr, beta = 2.0, 0.1, 0.7
    q = dynamics.quadratic([lam])
    out = dynamics.heavy_ball(q, [1.0], lr, beta, 15)[:, 0]
    C = np.array([[1 + beta - lr * lam, -beta], [1.0, 0.0]])   # (x_{n+1}, x_n) = C (x_n, x_{n-1})
    state, ref = np.array([1.0, 1.0]), [1.0]
    for _ in range(15):
        state = C @ state
        ref.append(state[0])
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_array_equal(dynamics.heavy_ball(q, [1.0], lr, 0.0, 5),
                                  dynamics.gd(q, [1.0], lr, 5))
    with pytest.raises(ValueError, match="beta"):
        dynamics.heavy_ball(q, [1.0], lr, 1.0, 5)


def test_heavy_ball_as_ode():
    h, gamma = dynamics.heavy_ball_as_ode(0.04, 0.9)
    assert (h, gamma) == pytest.approx((0.2, 0.5))
    with pytest.raises(ValueError, match="beta"):
        dynamics.heavy_ball_as_ode(0.04, -0.1)


def test_fit_slope():
    x = np.array([0.1, 0.2, 0.4, 0.8])
    assert dynamics.fit_slope(x, 3 * x**2) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="positive"):
        dynamics.fit_slope(x, -x)
    with pytest.raises(ValueError, match="equal length"):
        dynamics.fit_slope(x, x[:3])


def test_heavy_ball_rate_against_iteration_matrix_eigenvalues():
    lam = np.array([0.5, 2.0, 9.0])
    for lr, beta in [(0.1, 0.0), (0.15, 0.5), (0.2, 0.9)]:
        # block companion matrix of (x_{n+1}, x_n) per eigenvalue
        radii = [np.abs(np.linalg.eigvals(np.array([[1 + beta - lr * l, -beta], [1.0, 0.0]]))).max()
                 for l in lam]
        assert abs(dynamics.heavy_ball_rate(lam, lr, beta) - max(radii)) < 1e-10
    grid = dynamics.heavy_ball_rate(lam, np.array([[0.1], [0.2]]), np.array([0.0, 0.5]))
    assert grid.shape == (2, 2)
    with pytest.raises(ValueError, match="beta in"):
        dynamics.heavy_ball_rate(lam, 0.1, 1.0)


def test_tuned_rates_are_the_grid_optimum_and_are_observed():
    lam = np.geomspace(1.0, 100.0, 6)
    lr_gd, rate_gd = dynamics.tuned_gd(1.0, 100.0)
    lr_hb, beta_hb, rate_hb = dynamics.tuned_heavy_ball(1.0, 100.0)
    assert abs(rate_gd - 99 / 101) < 1e-12 and abs(rate_hb - 9 / 11) < 1e-12
    assert abs(dynamics.heavy_ball_rate(lam, lr_gd, 0.0) - rate_gd) < 1e-12
    assert abs(dynamics.heavy_ball_rate(lam, lr_hb, beta_hb) - rate_hb) < 1e-6
    lrs, betas = np.meshgrid(np.linspace(1e-3, 0.05, 200), np.linspace(0, 0.99, 200))
    assert dynamics.heavy_ball_rate(lam, lrs, betas).min() >= rate_hb - 1e-3
    assert dynamics.heavy_ball_rate(lam, lrs[0], 0.0).min() >= rate_gd - 1e-9
    # the observed contraction of a run matches
    quad = dynamics.quadratic(lam)
    path = dynamics.heavy_ball(quad, np.ones(6), lr_hb, beta_hb, 400)
    measured = (np.linalg.norm(path[-1]) / np.linalg.norm(path[200])) ** (1 / 200)
    assert abs(measured - rate_hb) < 0.01
    with pytest.raises(ValueError, match="lam_min <= lam_max"):
        dynamics.tuned_gd(2.0, 1.0)


def test_minibatch_sgd_on_one_sample_is_gd():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1, 3))
    y = np.array([0.7])
    # one sample: every mini-batch is that sample, so SGD is exactly GD on it
    paths = dynamics.minibatch_sgd(X, y, np.zeros(3), 0.1, 4, 20, 2, rng)
    H, c = X.T @ X, X.T @ y
    theta = np.zeros(3)
    for n in range(20):
        theta = theta - 0.1 * (H @ theta - c)
    np.testing.assert_allclose(paths[-1, 0], theta, atol=1e-12)
    assert paths.shape == (21, 2, 3) and np.array_equal(paths[:, 0], paths[:, 1])
    with pytest.raises(ValueError, match="X must be"):
        dynamics.minibatch_sgd(X, np.zeros(2), np.zeros(3), 0.1, 1, 1, 1, rng)
