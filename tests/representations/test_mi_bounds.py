"""Tests for book/representations/mi_bounds.py against independent references: numerical
integration of the Gaussian densities, scipy's bivariate normal, the bounds written out
with loops, and the ValueErrors for bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import integrate, stats

from book.representations import mi_bounds


@pytest.mark.parametrize("rho", [0.3, -0.6, 0.9])
def test_gaussian_mi_against_numerical_integration(rho):
    c = 1 - rho * rho

    def integrand(y, x):   # the densities written out, not through the package
        p = math.exp(-(x * x - 2 * rho * x * y + y * y) / (2 * c)) / (2 * math.pi * math.sqrt(c))
        q = math.exp(-(x * x + y * y) / 2) / (2 * math.pi)
        return p * math.log(p / q) if p > 0 else 0.0

    value, _ = integrate.dblquad(integrand, -8, 8, -8, 8, epsabs=1e-9)
    assert abs(mi_bounds.gaussian_mi(rho) - value) < 1e-6
    assert mi_bounds.gaussian_mi(rho, 3) == pytest.approx(3 * value, abs=1e-5)


def test_log_ratio_equals_scipy_densities():
    rho = 0.7
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(20, 2, generator=g, dtype=torch.float64), torch.randn(20, 2, generator=g,
                                                                              dtype=torch.float64)
    joint = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]])
    ref = sum(joint.logpdf(np.stack([x[:, i], y[:, i]], 1)) - stats.norm.logpdf(x[:, i])
              - stats.norm.logpdf(y[:, i]) for i in range(2))
    np.testing.assert_allclose(mi_bounds.gaussian_log_ratio(x, y, rho).numpy(), ref, rtol=1e-10)


def test_samples_have_the_asked_correlation():
    x, y = mi_bounds.correlated_gaussians(200_000, 0.8, 2, torch.Generator().manual_seed(1))
    for i in range(2):
        assert abs(np.corrcoef(x[:, i], y[:, i])[0, 1] - 0.8) < 0.005
        assert abs(y[:, i].std().item() - 1) < 0.01


def test_bounds_against_loops():
    g = torch.Generator().manual_seed(2)
    s = torch.randn(6, 6, generator=g, dtype=torch.float64)
    n = 6
    nce = sum(s[i, i] - math.log(sum(math.exp(s[i, j]) for j in range(n)) / n)
              for i in range(n)) / n
    nwj = (sum(s[i, i] + 1 for i in range(n)) / n
           - sum(math.exp(s[i, j]) for i in range(n) for j in range(n) if i != j) / (n * n - n))
    assert mi_bounds.infonce(s).item() == pytest.approx(float(nce), abs=1e-12)
    assert mi_bounds.nwj(s).item() == pytest.approx(float(nwj), abs=1e-12)
    pos, neg = s.diagonal(), s[~torch.eye(n, dtype=torch.bool)]
    ref = F.logsigmoid(pos).mean() + torch.log(1 - torch.sigmoid(neg)).mean()
    assert mi_bounds.jsd(pos, neg).item() == pytest.approx(ref.item(), abs=1e-12)
    # every InfoNCE value is at most log N, whatever the scores
    assert (mi_bounds.infonce(1e3 * torch.randn(50, n, n, generator=g)) <= math.log(n) + 1e-9).all()


def test_optimal_critic_gives_a_bound_close_to_the_truth():
    g = torch.Generator().manual_seed(3)
    x, y = mi_bounds.correlated_gaussians(64 * 300, 0.6, 1, g)
    x, y = x.reshape(300, 64, 1), y.reshape(300, 64, 1)
    s = mi_bounds.gaussian_log_ratio(x[:, :, None], y[:, None], 0.6)
    true = mi_bounds.gaussian_mi(0.6)
    nce = mi_bounds.infonce(s)
    assert true - 0.05 < nce.mean().item() < true


def test_train_critic_learns_and_rejects_unknown_bounds():
    critic = mi_bounds.train_critic(mi_bounds.CriticConfig(rho=0.8, d=1, batch=64, steps=60))
    x, y = mi_bounds.correlated_gaussians(256, 0.8, 1, torch.Generator().manual_seed(4))
    with torch.no_grad():
        assert mi_bounds.infonce(critic.scores(x, y)).item() > 0.2
    with pytest.raises(ValueError, match="bound must be one of"):
        mi_bounds.train_critic(mi_bounds.CriticConfig(bound="dv"))


def test_bad_input():
    for bad in (1.0, -1.0, 1.5, float("nan"), "0.5"):
        with pytest.raises(ValueError, match="rho must be"):
            mi_bounds.gaussian_mi(bad)
    with pytest.raises(ValueError, match="d must be"):
        mi_bounds.gaussian_mi(0.5, 0)
    with pytest.raises(ValueError, match="scores must be"):
        mi_bounds.infonce(torch.zeros(3, 4))
    with pytest.raises(ValueError, match="scores must be"):
        mi_bounds.nwj(torch.zeros(1, 1))
    with pytest.raises(ValueError, match="same last axis"):
        mi_bounds.gaussian_log_ratio(torch.zeros(3, 2), torch.zeros(3, 1), 0.5)
