"""Tests of book.generative.langevin: gradients against closed forms, the MALA acceptance
against the formula written out with scipy, ULA on a Gaussian against its exact law."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from book import training
from book.generative import langevin


def quartic(x):
    return (x**4).sum(-1) / 4 - x[..., 0] * x[..., -1]


def test_grad_energy_matches_the_closed_form():
    x = torch.randn(3, 5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    u, g = langevin.grad_energy(quartic, x)
    expected = x**3
    expected[..., 0] -= x[..., -1]
    expected[..., -1] -= x[..., 0]
    torch.testing.assert_close(g, expected)
    torch.testing.assert_close(u, quartic(x))
    assert u.shape == (3, 5) and not u.requires_grad


def test_grad_energy_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match="one value per chain"):
        langevin.grad_energy(lambda x: x.sum(), torch.zeros(4, 2))


def test_ula_step_is_the_euler_maruyama_step():
    x = torch.tensor([[0.3, -1.2], [2.0, 0.5]], dtype=torch.float64)
    eta, T = 0.05, 0.7
    got = langevin.ula_step(quartic, x, eta, T, generator=torch.Generator().manual_seed(3))
    xi = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    _, g = langevin.grad_energy(quartic, x)
    torch.testing.assert_close(got, x - eta * g + math.sqrt(2 * eta * T) * xi)


def test_mala_acceptance_matches_the_formula():
    """Rebuild the proposal from the same noise and accept with scipy's Gaussian densities."""
    gen_seed, eta, T = 7, 0.3, 0.8
    x = torch.randn(200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    new, acc, (u_new, g_new) = langevin.mala_step(quartic, x, eta, T,
                                                  generator=torch.Generator().manual_seed(gen_seed))
    gen = torch.Generator().manual_seed(gen_seed)
    xi = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    uniform = torch.rand(200, generator=gen, dtype=torch.float64).numpy()
    xn, un = x.numpy(), quartic(x).numpy()
    grad = lambda z: z**3 - z[:, ::-1]                                 # noqa: E731
    y = xn - eta * grad(xn) + math.sqrt(2 * eta * T) * xi.numpy()
    uy = quartic(torch.from_numpy(y)).numpy()
    sd = math.sqrt(2 * eta * T)
    log_q_yx = stats.norm.logpdf(y, xn - eta * grad(xn), sd).sum(1)
    log_q_xy = stats.norm.logpdf(xn, y - eta * grad(y), sd).sum(1)
    alpha = np.minimum(1.0, np.exp(-(uy - un) / T + log_q_xy - log_q_yx))
    expected_acc = uniform < alpha
    np.testing.assert_array_equal(acc.numpy(), expected_acc)
    np.testing.assert_allclose(new.numpy(), np.where(expected_acc[:, None], y, xn))
    torch.testing.assert_close(u_new, quartic(new))
    assert 0 < expected_acc.mean() < 1


def test_mala_keeps_a_gaussian_exact_where_ula_is_biased():
    """U = x^2 / 2 at eta = 0.5: ULA's variance is 1 / (1 - eta / 2) = 4/3, MALA's stays 1."""
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(20000, 1, dtype=torch.float64, generator=gen)    # already exact
    half_sq = lambda x: x[..., 0] ** 2 / 2                             # noqa: E731
    mala = langevin.langevin(half_sq, x0, 0.5, 40, mala=True, generator=gen)
    ula = langevin.langevin(half_sq, x0, 0.5, 40, generator=gen)
    assert abs(float(mala.x.var()) - 1) < 0.05 and 0.5 < mala.accept < 1
    assert abs(float(ula.x.var()) - 4 / 3) < 0.06


def test_observe_averages_after_burn_in():
    x0 = torch.zeros(4, 1)
    ch = langevin.langevin(lambda x: 0 * x[..., 0], x0, 0.1, 10, burn=4,
                           observe=lambda x: torch.ones(x.shape[0]))
    torch.testing.assert_close(ch.mean, torch.ones(4))
    assert ch.accept is None


def test_ula_stationary_is_the_exact_gaussian_ar1_law():
    grid = np.linspace(-6, 6, 801)
    for eta, T in ((0.1, 1.0), (0.4, 0.5)):
        p = langevin.ula_stationary(lambda x: x, grid, eta, T)
        dx = grid[1] - grid[0]
        var = 2 * eta * T / (1 - (1 - eta) ** 2)
        np.testing.assert_allclose(p, stats.norm.pdf(grid, 0, math.sqrt(var)), atol=1e-8)
        assert abs(p.sum() * dx - 1) < 1e-12


def test_a_too_large_step_raises_diverged():
    with pytest.raises(training.Diverged, match="step size"):
        langevin.langevin(lambda x: x[..., 0] ** 2 / 2, torch.ones(3, 1), 4.0, 200)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=0.0), "step size"), (dict(temperature=-1.0), "temperature"),
    (dict(steps=0), "steps"), (dict(burn=10), "burn")])
def test_bad_arguments_raise(kwargs, match):
    args = dict(eta=0.1, steps=10) | kwargs
    eta, steps = args.pop("eta"), args.pop("steps")
    with pytest.raises(ValueError, match=match):
        langevin.langevin(lambda x: x[..., 0], torch.zeros(2, 1), eta, steps, **args)


def test_ula_stationary_rejects_an_uneven_grid():
    with pytest.raises(ValueError, match="evenly spaced"):
        langevin.ula_stationary(lambda x: x, np.array([0.0, 0.1, 0.3]), 0.1)
