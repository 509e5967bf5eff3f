"""book.representations.networks against independent references: numel of torch modules,
NumPy's interpolation, the closed-form sawtooth, separately trained networks."""

import numpy as np
import pytest
import torch
from torch import nn

from book import training
from book.representations import networks as nw


@pytest.mark.parametrize("sizes", [[64, 10], [64, 32, 10], [1, 2, 2, 2, 1], [8, 64, 64, 10]])
def test_parameter_count_is_the_numel_of_the_perceptron(sizes):
    net = nw.mlp(sizes, seed=0)
    assert nw.parameter_count(sizes) == sum(p.numel() for p in net.parameters())


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="at least an input and an output"):
        nw.parameter_count([3])
    with pytest.raises(ValueError, match="a layer size must be an integer >= 1"):
        nw.parameter_count([3, 0, 2])


def test_mlp_is_seeded_and_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    before = torch.rand(3)
    torch.manual_seed(5)
    a, b = nw.mlp([2, 4, 1], seed=7), nw.mlp([2, 4, 1], seed=7)
    assert torch.equal(torch.rand(3), before)
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_padded_shallow_trains_like_each_network_alone():
    x = torch.linspace(-1, 1, 64)[:, None]
    y = torch.sin(3 * x)
    config = nw.FitConfig(steps=150, lr=1e-2)
    padded = nw.padded_shallow([2, 5], [11, 12])
    nw.fit(padded, x, y, config)
    xs = torch.linspace(-1, 1, 33)[:, None]
    out = padded(xs.expand(4, -1, -1))[..., 0]
    for i, (w, s) in enumerate([(2, 11), (2, 12), (5, 11), (5, 12)]):
        alone = nw.stacked([1, w, 1], [s])
        nw.fit(alone, x, y, config)
        torch.testing.assert_close(out[i], alone(xs[None])[0, :, 0], atol=1e-5, rtol=1e-4)


def test_fit_cross_entropy_matches_the_functional_loss_and_refuses_unknown_losses():
    g = torch.Generator().manual_seed(0)
    x, labels = torch.randn(30, 4, generator=g), torch.randint(0, 3, (30,), generator=g)
    model = nw.stacked([4, 3], [1, 2])
    with torch.no_grad():
        expected = torch.stack([nn.functional.cross_entropy(model(x.expand(2, -1, -1))[m], labels)
                                for m in range(2)])
    # one step at a vanishing learning rate reports the loss before the step
    loss = nw.fit(model, x, labels, nw.FitConfig(steps=1, lr=1e-12, loss="cross_entropy"))
    torch.testing.assert_close(loss, expected)
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        nw.fit(model, x, labels, nw.FitConfig(loss="hinge"))
    with pytest.raises(ValueError, match="need x of shape"):
        nw.fit(model, x[:5], labels, nw.FitConfig(loss="cross_entropy"))


def test_fit_raises_diverged_on_a_huge_learning_rate():
    x = torch.linspace(0, 1, 16)[:, None]
    with pytest.raises(training.Diverged, match="lower the learning rate"):
        nw.fit(nw.stacked([1, 8, 1], [0]), x, 1e30 * x, nw.FitConfig(steps=50, lr=1e3))


def test_interpolant_net_is_numpy_interp():
    knots = torch.tensor([-1.0, -0.3, 0.1, 0.2, 0.9], dtype=torch.float64)
    values = torch.tensor([0.5, -1.0, 2.0, 2.0, 0.0], dtype=torch.float64)
    net = nw.interpolant_net(knots, values)
    x = torch.linspace(-1, 0.9, 500, dtype=torch.float64)
    ref = np.interp(x.numpy(), knots.numpy(), values.numpy())
    np.testing.assert_allclose(net(x[:, None])[:, 0].detach().numpy(), ref, atol=1e-12)
    assert net[0].out_features == len(knots) - 1
    with pytest.raises(ValueError, match="strictly increasing"):
        nw.interpolant_net(knots.flip(0), values)


@pytest.mark.parametrize("depth", [1, 2, 4, 7])
def test_tent_net_is_the_sawtooth_with_two_to_the_depth_pieces(depth):
    x = torch.linspace(0, 1, 2 ** 10 + 1, dtype=torch.float64)
    y = nw.tent_net(depth)(x[:, None])[:, 0].detach()
    # independent reference: compose the tent map itself
    t = x.clone()
    for _ in range(depth):
        t = torch.where(t < 0.5, 2 * t, 2 - 2 * t)
    torch.testing.assert_close(y, t)
    torch.testing.assert_close(nw.sawtooth(x, depth), t)
    assert nw.count_pieces(x, y) == 2 ** depth
    assert nw.parameter_count([1] + [2] * depth + [1]) == 6 * depth + 1


def test_count_pieces_merges_a_kink_between_grid_points():
    x = torch.linspace(0, 1, 101, dtype=torch.float64)
    y = (x - 0.505).clamp_min(0) - 2 * (x - 0.2371).clamp_min(0)    # kinks off the grid
    assert nw.count_pieces(x, y) == 3
    assert nw.count_pieces(x, 3 * x + 1) == 1
    with pytest.raises(ValueError, match="same length >= 3"):
        nw.count_pieces(x, y[:-1])


def test_shallow_l1_bound_against_a_brute_force_line_fit():
    # one tooth: no line is closer than 1/4 in L1 (grid search over lines)
    x = torch.linspace(0, 1, 2001, dtype=torch.float64)
    tooth = nw.sawtooth(x, 1)
    a = torch.linspace(0, 1, 101, dtype=torch.float64)
    b = torch.linspace(-1, 1, 101, dtype=torch.float64)
    lines = a[:, None, None] + b[None, :, None] * x
    best = (lines - tooth).abs().mean(-1).min().item()
    assert abs(best - 0.25) < 1e-3
    assert nw.shallow_l1_bound(5, 11) == pytest.approx((16 - 10) / 16 / 4)
    assert nw.shallow_l1_bound(3, 100) == 0.0


@pytest.mark.parametrize("depth,units", [(1, 2), (3, 8), (5, 10), (5, 3), (6, 40)])
def test_sawtooth_knots_respect_the_width_and_the_bound(depth, units):
    knots, values = nw.sawtooth_knots(depth, units)
    net = nw.interpolant_net(knots, values)
    assert net[0].out_features <= units
    x = torch.linspace(0, 1, 2 ** 12 + 1, dtype=torch.float64)
    y = net(x[:, None])[:, 0].detach()
    assert nw.count_pieces(x, y) <= units
    l1 = (y - nw.sawtooth(x, depth)).abs().mean().item()
    assert l1 >= nw.shallow_l1_bound(depth, units + 1) - 1e-9
    if units >= 2 ** depth:
        assert l1 < 1e-12
