"""Tests of book/regularise/orthogonality.py against loops over pairs, scipy's integrals and
Beta law, closed-form frames and single runs trained alone."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

from book import training
from book.regularise import orthogonality as orth


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _simplex(d):
    """The d + 1 vertices of a regular simplex in R^d, as the columns of a (d, d+1) matrix:
    e_i - mean, expressed in an orthonormal basis of the hyperplane sum = 0."""
    e = np.eye(d + 1) - 1.0 / (d + 1)
    basis = np.linalg.svd(e)[2][:d]            # (d, d+1), orthonormal rows spanning sum = 0
    return torch.from_numpy(basis @ e)


# ---------------------------------------------------------------- cosines and angles

def test_pair_cosines_and_angles_match_loops():
    w = _randn(3, 7, 5, seed=1)                               # 3 banks of 5 filters in R^7
    c, theta = orth.pair_cosines(w), orth.pair_angles(w)
    assert c.shape == theta.shape == (3, 10)
    for b in range(3):
        cols = w[b].numpy().T
        ref = [cols[i] @ cols[j] / np.linalg.norm(cols[i]) / np.linalg.norm(cols[j])
               for i in range(5) for j in range(i + 1, 5)]
        np.testing.assert_allclose(c[b].numpy(), ref, rtol=1e-12)
        np.testing.assert_allclose(theta[b].numpy(), [math.acos(v) for v in ref], rtol=1e-12)


def test_cosines_of_a_linear_layer_use_its_rows():
    lin = torch.nn.Linear(6, 4).double()
    g = orth.cosines(lin.weight.T)
    rows = torch.nn.functional.normalize(lin.weight, dim=1)
    torch.testing.assert_close(g, rows @ rows.T)


# ---------------------------------------------------------------- the penalty

@pytest.mark.parametrize("mean_weight, var_weight", [(1.0, 1.0), (2.0, 0.5), (0.0, 1.0)])
def test_angle_penalty_is_mean_and_variance_of_the_angles(mean_weight, var_weight):
    w = _randn(2, 9, 6, seed=2)
    got = orth.penalty(w, mean_weight, var_weight)
    for b in range(2):
        theta = np.array([math.acos(v) for v in orth.pair_cosines(w[b]).numpy()])
        ref = mean_weight * (theta.mean() - math.pi / 2) ** 2 + var_weight * theta.var()
        assert got[b].item() == pytest.approx(ref, rel=1e-10)


def test_cosine_penalty_with_equal_weights_is_mean_square_cosine():
    w = _randn(12, 20, seed=3)
    g = orth.cosines(w)
    # sum_{i != j} c_ij^2 = ||G||_F^2 - k  over the k(k - 1) ordered pairs
    ref = (torch.linalg.matrix_norm(g) ** 2 - 20) / (20 * 19)
    assert orth.penalty(w, form="cosine").item() == pytest.approx(ref.item(), rel=1e-12)
    assert orth.penalty(w, form="cosine").item() == pytest.approx(
        (orth.pair_cosines(w) ** 2).mean().item(), rel=1e-12)


def test_penalty_vanishes_on_orthonormal_filters_and_ignores_their_norms():
    q, _ = torch.linalg.qr(_randn(10, 6, seed=4))              # 6 orthonormal columns in R^10
    scaled = q * torch.tensor([0.1, 1.0, 3.0, 7.0, 0.5, 2.0], dtype=torch.float64)
    for form in orth.FORMS:
        assert orth.penalty(scaled, form=form).item() == pytest.approx(0.0, abs=1e-20)
    w = _randn(8, 5, seed=5)
    scale = torch.tensor([0.2, 1.0, 5.0, 3.0, 0.7], dtype=torch.float64)
    torch.testing.assert_close(orth.penalty(w * scale), orth.penalty(w))


def test_penalty_gradient_is_orthogonal_to_every_filter():
    w = _randn(16, 24, seed=6).requires_grad_(True)
    orth.penalty(w).backward()
    radial = (w.grad * w.detach()).sum(0)                       # w_i . dR/dw_i, one per filter
    assert radial.abs().max().item() < 1e-14
    assert w.grad.abs().max().item() > 1e-4


def test_regular_simplex_attains_both_bounds():
    for d in (2, 3, 7):
        s = _simplex(d)                                          # k = d + 1 equiangular vectors
        np.testing.assert_allclose(orth.pair_cosines(s).numpy(), -1.0 / d, atol=1e-12)
        mu = orth.welch_bound(d + 1, d)
        assert mu == pytest.approx(1 / d**2)
        assert orth.penalty(s, form="cosine").item() == pytest.approx(mu, rel=1e-12)
        assert orth.penalty(s).item() == pytest.approx(math.asin(math.sqrt(mu)) ** 2, rel=1e-12)


def test_welch_bound_holds_for_random_frames_and_rejects_bad_sizes():
    for k, d in [(5, 3), (40, 8), (9, 9), (3, 10)]:
        w = _randn(d, k, seed=k)
        assert (orth.pair_cosines(w) ** 2).mean().item() >= orth.welch_bound(k, d) - 1e-15
    assert orth.welch_bound(4, 8) == 0.0
    for bad in [(1, 3), (3, 0), (2.5, 3)]:
        with pytest.raises(ValueError):
            orth.welch_bound(*bad)


def test_variance_alone_is_blind_to_collapse():
    same = torch.ones(5, 4, dtype=torch.float64)                 # four identical filters
    assert orth.penalty(same, mean_weight=0.0).item() == pytest.approx(0.0, abs=1e-12)
    assert orth.penalty(same).item() > 2.0                        # (pi/2)^2 with the mean term


@pytest.mark.parametrize("bad, match", [
    (torch.ones(3), "tensor"),
    (torch.ones(4, 1), "2 filters"),
    (np.ones((3, 3)), "tensor"),
])
def test_bad_filters_are_rejected(bad, match):
    with pytest.raises(ValueError, match=match):
        orth.cosines(bad)


def test_penalty_rejects_bad_arguments():
    w = _randn(4, 3)
    with pytest.raises(ValueError, match="form"):
        orth.penalty(w, form="angles")
    with pytest.raises(ValueError, match="mean_weight"):
        orth.penalty(w, mean_weight=-1.0)


# ---------------------------------------------------------------- random directions

@pytest.mark.parametrize("d", [2, 3, 5, 16, 200])
def test_angle_density_integrates_to_one_and_matches_the_beta_law(d):
    total, _ = scipy.integrate.quad(lambda t: float(orth.angle_density(t, d)), 0, math.pi)
    assert total == pytest.approx(1.0, abs=1e-9)
    theta = np.linspace(0.05, math.pi - 0.05, 50)
    a = (d - 1) / 2
    # u = (1 + cos theta)/2 ~ Beta(a, a), |du/dtheta| = sin(theta)/2
    ref = scipy.stats.beta(a, a).pdf((1 + np.cos(theta)) / 2) * np.sin(theta) / 2
    np.testing.assert_allclose(orth.angle_density(theta, d), ref, rtol=1e-9)
    assert orth.angle_density(-0.1, d) == 0.0 and orth.angle_density(4.0, d) == 0.0


@pytest.mark.parametrize("d", [2, 4, 33])
def test_angle_cdf_is_the_integral_of_the_density(d):
    for t in [0.3, 1.0, math.pi / 2, 2.5]:
        ref, _ = scipy.integrate.quad(lambda s: float(orth.angle_density(s, d)), 0, t)
        assert float(orth.angle_cdf(t, d)) == pytest.approx(ref, abs=1e-9)
    assert float(orth.angle_cdf(math.pi / 2, d)) == pytest.approx(0.5)


def test_random_directions_are_unit_and_their_angles_follow_the_density():
    d = 10
    gen = torch.Generator().manual_seed(0)
    u, v = orth.random_directions(40_000, d, gen), orth.random_directions(40_000, d, gen)
    torch.testing.assert_close(u.norm(dim=1), torch.ones(40_000, dtype=torch.float64))
    theta = torch.arccos((u * v).sum(1)).numpy()
    assert scipy.stats.kstest(theta, lambda t: orth.angle_cdf(t, d)).pvalue > 1e-3
    assert scipy.stats.kstest(theta, lambda t: orth.angle_cdf(t, d + 2)).pvalue < 1e-6
    assert np.mean(np.cos(theta) ** 2) == pytest.approx(1 / d, rel=0.03)    # E cos^2 = 1/d


def test_density_rejects_dimension_one():
    with pytest.raises(ValueError, match="dimension"):
        orth.angle_density(1.0, 1)
    with pytest.raises(ValueError, match="dimension"):
        orth.angle_cdf(1.0, 1)


# ---------------------------------------------------------------- training

def _toy(n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 12, generator=g)
    y = (x[:, :3].sum(1) > 1.5).long() + (x[:, 3] > 0.5).long()
    return x, y


CFG = orth.DigitsConfig(hidden=16, steps=30, batch=32, lr=1e-2)


def test_a_run_in_a_stack_is_the_run_trained_alone():
    x, y = _toy()
    stack, init = orth.train_digits(x, y, [0.0, 1.0, 0.0], [0.0, 0.0, 0.5], [3, 4, 5], CFG,
                                    n_classes=3, progress=False)
    for m, (lam, decay, seed) in enumerate([(0.0, 0.0, 3), (1.0, 0.0, 4), (0.0, 0.5, 5)]):
        alone, init1 = orth.train_digits(x, y, [lam], [decay], [seed], CFG, n_classes=3,
                                         progress=False)
        torch.testing.assert_close(init[0][m], init1[0][0])
        for ws, wa in zip(stack.weights, alone.weights):
            torch.testing.assert_close(ws[m], wa[0], rtol=1e-4, atol=1e-5)


def test_the_penalty_lowers_the_mean_square_cosine():
    x, y = _toy()
    cfg = orth.DigitsConfig(hidden=24, steps=60, batch=64, lr=1e-2)
    net, init = orth.train_digits(x, y, [0.0, 10.0], [0.0, 0.0], [1, 1], cfg, n_classes=3,
                                  progress=False)
    c2 = (orth.pair_cosines(net.weights[0].detach()) ** 2).mean(-1)
    assert c2[1] < 0.5 * c2[0]
    acc = orth.accuracy(net, x, y)
    assert acc.shape == (2,) and (acc > 0.5).all()


def test_training_reports_divergence_and_bad_runs():
    x, y = _toy()
    x_bad = x.clone()
    x_bad[0, 0] = float("nan")
    cfg = orth.DigitsConfig(hidden=8, steps=3, batch=len(x))
    with pytest.raises(training.Diverged):
        orth.train_digits(x_bad, y, [0.0], [0.0], [0], cfg, n_classes=3, progress=False)
    with pytest.raises(ValueError, match="one lam"):
        orth.train_digits(x, y, [0.0], [0.0, 0.0], [0], cfg, progress=False)
    with pytest.raises(ValueError, match="every lam"):
        orth.train_digits(x, y, [-1.0], [0.0], [0], cfg, progress=False)
    with pytest.raises(ValueError, match="form"):
        orth.train_digits(x, y, [0.0], [0.0], [0], orth.DigitsConfig(form="x"), progress=False)
