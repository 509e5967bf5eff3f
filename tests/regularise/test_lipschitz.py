"""Tests of book/regularise/lipschitz.py against NumPy's SVD, autograd and closed forms."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from book import training
from book.regularise import lipschitz


def _randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _with_spectrum(s, m, seed=0):
    """A (m, n) matrix with singular values s, from random orthogonal factors."""
    n = len(s)
    u, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((m, n)))
    v, _ = np.linalg.qr(np.random.default_rng(seed + 1).standard_normal((n, n)))
    return torch.from_numpy(u @ np.diag(s) @ v.T)


# ---------------------------------------------------------------- power iteration

@pytest.mark.parametrize("shape", [(5, 3), (20, 20), (7, 40), (100, 2)])
def test_power_iteration_matches_numpy_svd(shape):
    a = _randn(*shape, seed=sum(shape))
    p = lipschitz.power_iteration(a, n_iter=3000, generator=torch.Generator().manual_seed(1))
    u, s, vt = np.linalg.svd(a.numpy())
    assert p.sigma.item() == pytest.approx(s[0], rel=1e-10)
    assert abs(float(p.u.numpy() @ u[:, 0])) == pytest.approx(1.0, abs=1e-8)
    assert abs(float(p.v.numpy() @ vt[0])) == pytest.approx(1.0, abs=1e-8)
    assert p.sigmas.shape == (3000,) and p.vs.shape == (3001, shape[1])


def test_power_iteration_estimates_rise_to_sigma_from_below():
    a = _randn(30, 12, seed=3)
    p = lipschitz.power_iteration(a, n_iter=50, generator=torch.Generator().manual_seed(0))
    exact = np.linalg.norm(a.numpy(), 2)
    assert (p.sigmas.numpy() <= exact * (1 + 1e-12)).all()
    # sigma_k^2 = m_{2k+1}/m_{2k} with log-convex moments m_j = v0^T (W^T W)^j v0: non-decreasing
    assert (np.diff(p.sigmas.numpy()) >= -1e-12).all()


def test_power_iteration_rates_are_r2_for_direction_and_r4_for_value():
    r = 0.8
    a = _with_spectrum([1.0, r, 0.3, 0.2, 0.1], m=8)
    p = lipschitz.power_iteration(a, n_iter=40, generator=torch.Generator().manual_seed(0))
    v1 = np.linalg.svd(a.numpy())[2][0]
    vs = p.vs.numpy()[1:]
    cos = vs @ v1
    tan = np.linalg.norm(vs - cos[:, None] * v1, axis=1) / np.abs(cos)
    err = 1.0 - p.sigmas.numpy()
    assert tan[30] / tan[29] == pytest.approx(r**2, rel=1e-3)
    assert err[15] / err[14] == pytest.approx(r**4, rel=1e-2)


def test_power_iteration_from_given_start_and_zero_matrix():
    a = torch.diag(torch.tensor([3.0, 1.0], dtype=torch.float64))
    p = lipschitz.power_iteration(a, n_iter=1, v0=torch.tensor([1.0, 1.0], dtype=torch.float64))
    # one step: v1 ∝ A^T A (1, 1) = (9, 1); sigma = ||A v1|| = sqrt(81*9 + 1) / sqrt(82)
    assert p.sigma.item() == pytest.approx(np.sqrt(730 / 82))
    z = lipschitz.power_iteration(torch.zeros(3, 4), n_iter=3)
    assert z.sigma.item() == 0.0


@pytest.mark.parametrize("bad, match", [
    (torch.ones(3), "2-D"),
    (torch.ones(2, 2, 2), "2-D"),
    (np.ones((2, 2)), "2-D"),
    (torch.tensor([[1.0, float("nan")]]), "finite"),
    (torch.ones(0, 3), "non-empty"),
])
def test_power_iteration_rejects_bad_weights(bad, match):
    with pytest.raises(ValueError, match=match):
        lipschitz.power_iteration(bad)


@pytest.mark.parametrize("n_iter", [0, -1, 2.5, True])
def test_power_iteration_rejects_bad_n_iter(n_iter):
    with pytest.raises(ValueError, match="n_iter must be an integer >= 1"):
        lipschitz.power_iteration(torch.ones(2, 2), n_iter=n_iter)


def test_power_iteration_rejects_wrong_start_shape():
    with pytest.raises(ValueError, match=r"v0 must have shape \(3,\)"):
        lipschitz.power_iteration(torch.ones(2, 3), v0=torch.ones(2))


# ---------------------------------------------------------------- the network bound

def test_network_bound_is_product_of_numpy_norms():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Sequential(nn.Linear(5, 4), nn.Tanh()),
                        nn.Linear(4, 3), nn.Sigmoid(), lipschitz.Scale(-2.0))
    norms = [np.linalg.norm(m.weight.detach().numpy(), 2) for m in net.modules()
             if isinstance(m, nn.Linear)]
    assert lipschitz.network_bound(net) == pytest.approx(np.prod(norms) * 0.25 * 2.0, rel=1e-6)
    np.testing.assert_allclose(lipschitz.layer_norms(net).numpy(), norms, rtol=1e-6)
    assert len(lipschitz.linear_weights(net)) == 3


def test_network_bound_holds_on_random_pairs():
    torch.manual_seed(1)
    net = lipschitz.mlp(10, 3, 16, 3)
    x1, x2 = torch.randn(2000, 10), torch.randn(2000, 10)
    with torch.no_grad():
        ratio = (net(x1) - net(x2)).norm(dim=1) / (x1 - x2).norm(dim=1)
    assert ratio.max().item() <= lipschitz.network_bound(net) * (1 + 1e-6)


def test_network_bound_rejects_unknown_layers():
    with pytest.raises(ValueError, match="cannot bound layer BatchNorm1d; known: Linear"):
        lipschitz.network_bound(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)))
    with pytest.raises(ValueError, match="cannot bound layer GELU"):
        lipschitz.layer_norms(nn.Sequential(nn.Linear(2, 2), nn.GELU()))


def test_mlp_shapes_and_bad_sizes():
    net = lipschitz.mlp(64, 10, 32, 2)
    assert [tuple(w.shape) for w in lipschitz.linear_weights(net)] == [(32, 64), (32, 32), (10, 32)]
    with pytest.raises(ValueError, match="depth must be an integer >= 1"):
        lipschitz.mlp(4, 2, 8, 0)


# ---------------------------------------------------------------- penalty and normalisation

def test_spectral_penalty_value_and_gradient_match_svd():
    torch.manual_seed(2)
    net = nn.Sequential(nn.Linear(7, 5), nn.ReLU(), nn.Linear(5, 3)).double()
    penalty = lipschitz.SpectralNormPenalty(net, n_iter=2000)
    value = penalty()
    value.backward()
    expected, grads = 0.0, []
    for m in (net[0], net[2]):
        u, s, vt = np.linalg.svd(m.weight.detach().numpy())
        expected += 0.5 * s[0] ** 2
        grads.append(s[0] * np.outer(u[:, 0], vt[0]))
    assert value.item() == pytest.approx(expected, rel=1e-9)
    np.testing.assert_allclose(net[0].weight.grad.numpy(), grads[0], atol=1e-8)
    np.testing.assert_allclose(net[2].weight.grad.numpy(), grads[1], atol=1e-8)


def test_spectral_penalty_keeps_its_vectors_between_calls():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(6, 6))
    penalty = lipschitz.SpectralNormPenalty(net, n_iter=1)
    values = [penalty.sigmas().item() for _ in range(200)]
    assert values[-1] == pytest.approx(np.linalg.norm(net[0].weight.detach().numpy(), 2), rel=1e-4)


def test_spectral_penalty_rejects_bad_input():
    with pytest.raises(ValueError, match="no Linear layer"):
        lipschitz.SpectralNormPenalty(nn.Sequential(nn.ReLU()))
    with pytest.raises(ValueError, match="n_iter must be an integer >= 1"):
        lipschitz.SpectralNormPenalty(nn.Sequential(nn.Linear(2, 2)), n_iter=0)


def test_spectral_normalise_divides_by_the_norm():
    torch.manual_seed(4)
    net = lipschitz.spectral_normalise(lipschitz.mlp(5, 2, 8, 1), n_power_iterations=50)
    net.train()
    with torch.no_grad():
        net(torch.zeros(1, 5))  # 50 power-iteration steps per layer
    net.eval()
    for m in net.modules():
        if isinstance(m, nn.Linear):
            raw = m.parametrizations.weight.original.detach().numpy()
            np.testing.assert_allclose(m.weight.detach().numpy(), raw / np.linalg.norm(raw, 2),
                                       rtol=1e-4, atol=1e-6)
    assert lipschitz.network_bound(net) == pytest.approx(1.0, rel=1e-3)
    with pytest.raises(ValueError, match="n_power_iterations must be an integer >= 1"):
        lipschitz.spectral_normalise(lipschitz.mlp(2, 2, 2, 1), n_power_iterations=0)


# ---------------------------------------------------------------- sensitivity

def _two_layer(seed=5):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()


def test_input_jacobian_matches_autograd_functional():
    net, x = _two_layer(), _randn(4, 6, seed=6)
    jac = lipschitz.input_jacobian(net, x)
    assert jac.shape == (4, 3, 6)
    for i in range(4):
        ref = torch.autograd.functional.jacobian(lambda z: net(z[None])[0], x[i])
        torch.testing.assert_close(jac[i], ref)
    ref_norms = [np.linalg.norm(j, 2) for j in jac.numpy()]
    np.testing.assert_allclose(lipschitz.local_lipschitz(net, x).numpy(), ref_norms, rtol=1e-10)


def test_sensitivity_of_a_linear_map():
    w = _randn(3, 5, seed=7)
    lin = nn.Linear(5, 3, bias=True).double()
    with torch.no_grad():
        lin.weight.copy_(w)
    x = _randn(10, 5, seed=8)
    gen = torch.Generator().manual_seed(0)
    rand = lipschitz.sensitivity(lin, x, 1e-3, "random", generator=gen)
    d = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    torch.testing.assert_close(rand, (d @ w.T).norm(dim=1) / d.norm(dim=1))
    worst = lipschitz.sensitivity(lin, x, 1e-3, "worst")
    torch.testing.assert_close(worst, torch.full((10,), np.linalg.norm(w.numpy(), 2),
                                                 dtype=torch.float64))


def test_sensitivity_gradient_direction_follows_cross_entropy():
    net, x = _two_layer(), _randn(6, 6, seed=9)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    eps = 1e-4
    got = lipschitz.sensitivity(net, x, eps, "gradient", y=y)
    xg = x.clone().requires_grad_(True)
    g = torch.autograd.grad(F.cross_entropy(net(xg), y, reduction="sum"), xg)[0]
    delta = eps * g / g.norm(dim=1, keepdim=True)
    with torch.no_grad():
        ref = (net(x + delta) - net(x)).norm(dim=1) / eps
    torch.testing.assert_close(got, ref)
    assert (got <= lipschitz.local_lipschitz(net, x) * (1 + 1e-3)).all()


@pytest.mark.parametrize("kwargs, match", [
    (dict(direction="sideways"), "unknown direction 'sideways'; known: random, gradient, worst"),
    (dict(eps=0.0), r"eps must be a number in \(0.0, inf\)"),
    (dict(direction="gradient"), "needs labels y"),
    (dict(x=torch.ones(3)), r"x must be a non-empty \(N, d\) tensor"),
])
def test_sensitivity_rejects_bad_input(kwargs, match):
    args = dict(model=_two_layer(), x=_randn(2, 6), eps=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        lipschitz.sensitivity(**args)


# ---------------------------------------------------------------- training

def _toy_data(n=120, seed=10):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 8, generator=g)
    return x, (x[:, :4].sum(1) > x[:, 4:].sum(1)).long()


def test_train_classifier_learns_and_penalty_lowers_the_bound():
    x, y = _toy_data()
    plain, losses = lipschitz.train_classifier(x, y, lipschitz.TrainConfig(hidden=16, steps=150), 2)
    reg, _ = lipschitz.train_classifier(x, y, lipschitz.TrainConfig(hidden=16, steps=150,
                                                                    penalty=0.3), 2)
    assert not plain.training and losses[-1] < 0.5 * losses[0]
    assert lipschitz.network_bound(reg) < lipschitz.network_bound(plain)
    sn, _ = lipschitz.train_classifier(x, y, lipschitz.TrainConfig(
        hidden=16, steps=20, normalise=True, scale=3.0), 2)
    assert isinstance(sn[-1], lipschitz.Scale) and sn[-1].c == 3.0
    assert lipschitz.network_bound(sn) == pytest.approx(3.0 * np.prod(
        lipschitz.layer_norms(sn).numpy()), rel=1e-6)


@pytest.mark.parametrize("cfg, match", [
    (dict(penalty=-1.0), "penalty must be >= 0"),
    (dict(penalty=0.1, normalise=True), "not both"),
    (dict(scale=0.0), r"scale must be a number in \(0.0, inf\)"),
    (dict(steps=0), "steps must be an integer >= 1"),
])
def test_train_classifier_rejects_bad_config(cfg, match):
    x, y = _toy_data(10)
    with pytest.raises(ValueError, match=match):
        lipschitz.train_classifier(x, y, lipschitz.TrainConfig(**cfg), 2)


def test_train_classifier_stops_on_nan():
    x, y = _toy_data(10)
    x[0, 0] = float("nan")
    with pytest.raises(training.Diverged, match="at step 0"):
        lipschitz.train_classifier(x, y, lipschitz.TrainConfig(steps=5), 2)


def test_fit_critic_recovers_distance_between_point_masses():
    # W1(delta_0, delta_a) = |a|; an SN critic reaches it, an unconstrained one overshoots
    real, fake = torch.zeros(16, 1), torch.full((16, 1), 1.5)
    critic, gaps = lipschitz.fit_critic(real, fake, steps=150, hidden=16)
    bound = lipschitz.network_bound(critic)
    with torch.no_grad():
        gap = (critic(real).mean() - critic(fake).mean()).item()
    assert 0.9 * 1.5 <= gap <= bound * 1.5 + 1e-6
    _, free = lipschitz.fit_critic(real, fake, steps=150, hidden=16, normalise=False)
    assert free[-1] > 10 * 1.5
    with pytest.raises(ValueError, match="differ in dimension"):
        lipschitz.fit_critic(torch.zeros(4, 2), torch.zeros(4, 3))
