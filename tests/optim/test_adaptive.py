"""book.optim.adaptive: error-controlled GD, RMSprop and Adam.

Compared with independent references: the exact local error (matrix exponentials) and
torch.optim's RMSprop and Adam.
"""

import numpy as np
import pytest
import torch
from scipy.linalg import expm

from book.optim import adaptive, dynamics
from tests.helpers import quad_from, spd

RNG = np.random.default_rng(1234)


def test_euler_error_estimate_equals_the_exact_local_error_to_leading_order():
    H = spd(3, seed=3)
    q = quad_from(H)
    th = RNG.normal(size=3)
    g = q.grad(th)
    for h in (1e-2, 1e-3):
        est = adaptive.euler_error_estimate(g, q.grad(th - h * g), h)
        assert est == pytest.approx(0.5 * h**2 * np.linalg.norm(H @ g), rel=1e-12)
        exact = np.linalg.norm(expm(-H * h) @ th - (th - h * g))
        assert est == pytest.approx(exact, rel=20 * h * np.linalg.eigvalsh(H)[-1])


def test_error_controlled_gd_keeps_the_error_and_is_scale_free():
    q = dynamics.quadratic(np.logspace(0, 2, 5))
    th0 = np.ones(5)
    res = adaptive.error_controlled_gd(q, th0, tol=1e-3, max_grads=400)
    assert np.all(res.errors <= 1e-3)
    assert q.loss(res.thetas[-1]) < 1e-3 * q.loss(th0)
    assert res.grad_evals[-1] <= 400 and len(res.steps) == len(res.thetas) - 1
    # L -> cL: the same iterates with steps h/c
    c = 50.0
    qc = dynamics.quadratic(c * np.logspace(0, 2, 5))
    res_c = adaptive.error_controlled_gd(qc, th0, tol=1e-3, max_grads=400, h0=1e-3 / c)
    np.testing.assert_allclose(res_c.thetas, res.thetas, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="tol"):
        adaptive.error_controlled_gd(q, th0, tol=0.0, max_grads=10)


def _torch_run(opt_cls, q, th0, steps, **kw):
    p = torch.tensor(th0, dtype=torch.float64, requires_grad=True)
    opt = opt_cls([p], **kw)
    out = [p.detach().clone().numpy()]
    for _ in range(steps):
        opt.zero_grad()
        p.grad = torch.tensor(q.grad(p.detach().numpy()))
        opt.step()
        out.append(p.detach().clone().numpy())
    return np.array(out)


def test_rmsprop_and_adam_match_torch_optim():
    q = dynamics.quadratic([0.5, 3.0, 40.0], rotation=None)
    th0 = np.array([1.0, -2.0, 0.5])
    ours = adaptive.rmsprop(q, th0, lr=0.01, beta=0.95, steps=50, eps=1e-8)
    ref = _torch_run(torch.optim.RMSprop, q, th0, 50, lr=0.01, alpha=0.95, eps=1e-8)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    ours = adaptive.adam(q, th0, lr=0.02, steps=50, beta1=0.8, beta2=0.99, eps=1e-8)
    ref = _torch_run(torch.optim.Adam, q, th0, 50, lr=0.02, betas=(0.8, 0.99), eps=1e-8)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="beta"):
        adaptive.rmsprop(q, th0, lr=0.01, beta=1.0, steps=3)
    with pytest.raises(ValueError, match="beta1"):
        adaptive.adam(q, th0, lr=0.01, steps=3, beta1=-0.5)
