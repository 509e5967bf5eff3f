"""Tests of book/regularise/adversarial.py against linear programs, autograd and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.optimize import linprog
from torch import nn

from book.regularise import adversarial


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _smooth_net(n_in=4, n_out=3, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(n_in, 8), nn.Tanh(), nn.Linear(8, n_out)).double()


# ---------------------------------------------------------------- the first-order step

@pytest.mark.parametrize("norm", ["l2", "linf", "l1"])
def test_first_order_step_solves_the_linear_problem(norm):
    """max <g, d> over ||d|| <= eps: a linear program for linf and l1, Cauchy-Schwarz for l2."""
    g = _randn(6, seed=1)
    eps = 0.3
    step = adversarial.first_order_step(g[None], eps, norm)[0]
    value = float(g @ step)
    if norm == "l2":
        best = eps * float(g.norm())
    elif norm == "linf":
        best = -linprog(-g.numpy(), bounds=[(-eps, eps)] * 6).fun
    else:  # |d|_1 <= eps with d = u - v, u, v >= 0
        c = np.concatenate([-g.numpy(), g.numpy()])
        best = -linprog(c, A_ub=np.ones((1, 12)), b_ub=[eps], bounds=[(0, None)] * 12).fun
    assert value == pytest.approx(best, rel=1e-9)
    assert float(adversarial.row_norm(step[None], norm)[0]) == pytest.approx(eps)
    dual = {"l2": 2, "linf": 1, "l1": math.inf}[norm]
    assert value == pytest.approx(eps * float(torch.linalg.vector_norm(g, ord=dual)))


def test_first_order_step_forms_and_zero_gradient():
    g = torch.tensor([[3.0, -4.0], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(adversarial.first_order_step(g, 0.5, "l2"),
                               torch.tensor([[0.3, -0.4], [0.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(adversarial.first_order_step(g, 0.5, "linf"),
                               torch.tensor([[0.5, -0.5], [0.0, 0.0]], dtype=torch.float64))
    torch.testing.assert_close(adversarial.first_order_step(g, 0.5, "l1")[0],
                               torch.tensor([0.0, -0.5], dtype=torch.float64))


def test_first_order_step_rows_of_two_dimensions():
    g = _randn(3, 5, 4, seed=2)                     # 3 sentences of 5 words in 4 dimensions
    step = adversarial.first_order_step(g, 2.0, "l2", dims=2)
    torch.testing.assert_close(step.flatten(1).norm(dim=1), torch.full((3,), 2.0, dtype=torch.float64))
    torch.testing.assert_close(step, 2.0 * g / g.flatten(1).norm(dim=1)[:, None, None])


@pytest.mark.parametrize("kwargs, match", [
    (dict(norm="l3"), "unknown norm 'l3'; known: l2, linf, l1"),
    (dict(eps=-1.0), r"eps must be a number in \[0.0, inf\)"),
    (dict(dims=0), "dims must be an integer >= 1"),
    (dict(dims=3), "no rows of 3 dimensions"),
])
def test_first_order_step_rejects_bad_input(kwargs, match):
    args = dict(grad=torch.ones(2, 2), eps=1.0, norm="l2", dims=1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        adversarial.first_order_step(**args)


# ---------------------------------------------------------------- gradients and attacks

def test_input_gradient_matches_autograd_functional_per_row():
    net, x = _smooth_net(), _randn(5, 4, seed=3)
    y = torch.tensor([0, 1, 2, 0, 1])
    loss = adversarial.cross_entropy_rows(net, y)
    g = adversarial.input_gradient(loss, x)
    for i in range(5):
        ref = torch.autograd.functional.jacobian(
            lambda z: F.cross_entropy(net(z[None]), y[i:i + 1]), x[i])
        torch.testing.assert_close(g[i], ref)


def test_cross_entropy_rows_of_a_stack():
    logits = _randn(2, 3, 4, seed=4)                 # (runs, N, classes)
    y = torch.tensor([[0, 1, 3], [2, 2, 1]])
    rows = adversarial.cross_entropy_rows(lambda x: x, y)(logits)
    ref = torch.stack([F.cross_entropy(logits[m], y[m], reduction="none") for m in range(2)])
    torch.testing.assert_close(rows, ref)


def test_attack_is_x_plus_the_step_and_raises_the_loss():
    net, x = _smooth_net(), _randn(20, 4, seed=5)
    y = torch.randint(0, 3, (20,), generator=torch.Generator().manual_seed(0))
    loss = adversarial.cross_entropy_rows(net, y)
    for norm in ("l2", "linf"):
        x_adv = adversarial.attack(net, x, y, 1e-3, norm)
        g = adversarial.input_gradient(loss, x)
        torch.testing.assert_close(x_adv, x + adversarial.first_order_step(g, 1e-3, norm))
        with torch.no_grad():
            assert (loss(x_adv) > loss(x)).all()


def test_project_onto_the_balls():
    d = torch.tensor([[3.0, 4.0], [0.1, 0.2], [0.0, 0.0]])
    torch.testing.assert_close(adversarial.project(d, 1.0, "l2"),
                               torch.tensor([[0.6, 0.8], [0.1, 0.2], [0.0, 0.0]]))
    torch.testing.assert_close(adversarial.project(d, 0.15, "linf"),
                               torch.tensor([[0.15, 0.15], [0.1, 0.15], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="project supports the norms l2 and linf"):
        adversarial.project(d, 1.0, "l1")


def test_pgd_stays_in_the_ball_and_matches_fgm_on_a_linear_model():
    lin = nn.Linear(4, 2).double()
    x, y = _randn(30, 4, seed=6), torch.randint(0, 2, (30,), generator=torch.Generator().manual_seed(1))
    loss = adversarial.cross_entropy_rows(lin, y)
    x_pgd = adversarial.pgd(lin, x, y, 0.5, steps=30)
    assert ((x_pgd - x).norm(dim=1) <= 0.5 + 1e-12).all()
    x_fgm = adversarial.attack(lin, x, y, 0.5)
    with torch.no_grad():
        # two classes: the loss is monotone in the margin, which is linear in x: FGM is exact
        assert (loss(x_pgd) <= loss(x_fgm) + 1e-9).all()
        assert (loss(x_pgd) >= loss(x_fgm) - 1e-3).all()
    x_inf = adversarial.pgd(lin, x, y, 0.1, steps=10, norm="linf")
    assert ((x_inf - x).abs() <= 0.1 + 1e-12).all()


def test_gradient_norm_value_and_its_gradient():
    net, x = _smooth_net(seed=7), _randn(6, 4, seed=8)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = adversarial.cross_entropy_rows(net, y)
    g = adversarial.input_gradient(loss, x)
    for norm, dual in (("l2", 2), ("linf", 1), ("l1", math.inf)):
        torch.testing.assert_close(adversarial.gradient_norm(loss, x, norm),
                                   torch.linalg.vector_norm(g, ord=dual, dim=1))
    # d/dtheta sum ||g||_2 against central finite differences in one weight
    w = net[0].weight
    value = adversarial.gradient_norm(loss, x).sum()
    grad = torch.autograd.grad(value, w)[0][1, 2].item()
    h = 1e-6

    def shifted(delta):
        with torch.no_grad():
            w[1, 2] += delta
        out = adversarial.gradient_norm(loss, x).sum().item()
        with torch.no_grad():
            w[1, 2] -= delta
        return out

    assert grad == pytest.approx((shifted(h) - shifted(-h)) / (2 * h), rel=1e-6)


# ---------------------------------------------------------------- brute force

def test_ball_search_finds_the_maximum_of_a_quadratic():
    # f(z) = -(z - c)^2: inside the disc the max is at c, outside it at the nearest boundary point
    x = torch.zeros(2, dtype=torch.float64)
    inside, outside = torch.tensor([0.05, -0.03], dtype=torch.float64), torch.tensor([1.0, 1.0], dtype=torch.float64)
    for c in (inside, outside):
        best, value = adversarial.ball_search(lambda z, c=c: -((z - c) ** 2).sum(1), x, 0.1, "l2")
        expect = c if c.norm() <= 0.1 else 0.1 * c / c.norm()
        assert (best - expect).norm() < 2e-3
    best, _ = adversarial.ball_search(lambda z: z @ torch.tensor([1.0, -2.0], dtype=torch.float64),
                                      x, 0.2, "linf", n=5)
    torch.testing.assert_close(best, torch.tensor([0.2, -0.2], dtype=torch.float64))
    best, _ = adversarial.ball_search(lambda z: z @ torch.tensor([1.0, -2.0], dtype=torch.float64),
                                      x, 0.2, "l1", n=41)
    torch.testing.assert_close(best, torch.tensor([0.0, -0.2], dtype=torch.float64))


def test_ball_search_needs_a_point_in_the_plane():
    with pytest.raises(ValueError, match=r"x must have shape \(2,\)"):
        adversarial.ball_search(lambda z: z.sum(1), torch.zeros(3), 0.1)


# ---------------------------------------------------------------- virtual adversarial

def test_kl_logits_matches_torch_kl_div():
    p, q = _randn(5, 4, seed=9), _randn(5, 4, seed=10)
    ref = F.kl_div(F.log_softmax(q, -1), F.log_softmax(p, -1), reduction="none", log_target=True).sum(-1)
    torch.testing.assert_close(adversarial.kl_logits(p, q), ref)
    torch.testing.assert_close(adversarial.kl_logits(p, p), torch.zeros(5, dtype=torch.float64))


def test_kl_hessian_matches_autograd_hessian():
    net, x = _smooth_net(seed=11), _randn(3, 4, seed=12)
    H = adversarial.kl_hessian(net, x)
    for i in range(3):
        with torch.no_grad():
            p_logits = net(x[i:i + 1])
        ref = torch.autograd.functional.hessian(
            lambda r: adversarial.kl_logits(p_logits, net(x[i:i + 1] + r))[0],
            torch.zeros(4, dtype=torch.float64))
        torch.testing.assert_close(H[i], ref, rtol=1e-8, atol=1e-12)
    with pytest.raises(ValueError, match=r"x must be an \(N, d\) batch"):
        adversarial.kl_hessian(net, x[0])


def test_vat_direction_is_the_top_eigenvector_for_a_linear_softmax():
    # logits W x: H = W^T (diag p - p p^T) W, computed here with NumPy
    lin = nn.Linear(6, 4, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(_randn(4, 6, seed=13))
    x = _randn(5, 6, seed=14)
    d = adversarial.vat_direction(lin, x, n_iter=100, xi=1e-6, generator=torch.Generator().manual_seed(0))
    w = lin.weight.detach().numpy()
    for i in range(5):
        z = w @ x[i].numpy()
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        h = w.T @ (np.diag(p) - np.outer(p, p)) @ w
        vals, vecs = np.linalg.eigh(h)
        assert abs(float(d[i].numpy() @ vecs[:, -1])) > 1 - 1e-6
    torch.testing.assert_close(d.norm(dim=1), torch.ones(5, dtype=torch.float64))


def test_vat_direction_one_step_from_a_given_start_and_bad_input():
    lin = nn.Linear(3, 2, bias=False).double()
    x, d0 = _randn(2, 3, seed=15), _randn(2, 3, seed=16)
    one = adversarial.vat_direction(lin, x, n_iter=1, xi=1e-6, d0=d0)
    H = adversarial.kl_hessian(lin, x)
    ref = F.normalize(torch.einsum("nij,nj->ni", H, F.normalize(d0, dim=1)), dim=1)
    torch.testing.assert_close(one, ref, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="n_iter must be an integer >= 1"):
        adversarial.vat_direction(lin, x, n_iter=0)
    with pytest.raises(ValueError, match=r"xi must be a number in \(0.0, inf\)"):
        adversarial.vat_direction(lin, x, xi=0.0)
