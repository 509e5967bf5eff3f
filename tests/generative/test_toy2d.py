"""Tests of book.generative.toy2d: the mixtures against their definitions, the metrics against
NumPy."""

import itertools
import math

import numpy as np
import pytest
import torch

from book.generative import toy2d


def test_ring8_centres_on_circle():
    mix = toy2d.ring8()
    angles = np.arange(8) * 2 * np.pi / 8
    expected = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    np.testing.assert_allclose(mix.centers.numpy(), expected, atol=1e-6)
    assert mix.std == 0.02 and mix.n_modes == 8


def test_grid25_centres_are_the_grid():
    mix = toy2d.grid25()
    got = {tuple(round(float(v), 6) for v in c) for c in mix.centers}
    assert got == set(itertools.product([-4.0, -2.0, 0.0, 2.0, 4.0], repeat=2))
    assert mix.std == 0.05 and mix.n_modes == 25


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_have_the_stated_std_and_equal_weights(name):
    mix = toy2d.mixture(name)
    x = mix.sample(40_000, torch.Generator().manual_seed(0)).numpy()
    c = mix.centers.numpy()
    k = np.argmin(((x[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
    resid = x - c[k]
    np.testing.assert_allclose(resid.std(axis=0), mix.std, rtol=0.03)
    np.testing.assert_allclose(resid.mean(axis=0), 0.0, atol=3 * mix.std / 100)
    freq = np.bincount(k, minlength=len(c)) / len(x)
    np.testing.assert_allclose(freq, 1 / len(c), atol=0.01)


def test_sample_is_seeded():
    mix = toy2d.ring8()
    a = mix.sample(10, torch.Generator().manual_seed(3))
    b = mix.sample(10, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)


def test_swiss_roll_radius_equals_angle_over_three():
    x = toy2d.swiss_roll(500, noise=0.0, generator=torch.Generator().manual_seed(0)).numpy()
    r = np.hypot(x[:, 0], x[:, 1])
    t = 3 * r  # t in [1.5 pi, 4.5 pi] and the point is (t cos t, t sin t) / 3
    assert r.min() >= 1.5 * np.pi / 3 - 1e-5 and r.max() <= 4.5 * np.pi / 3 + 1e-5
    np.testing.assert_allclose(x[:, 0], t * np.cos(t) / 3, atol=1e-4)
    np.testing.assert_allclose(x[:, 1], t * np.sin(t) / 3, atol=1e-4)


def test_nearest_mode_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    x = 5 * torch.randn(300, 2, generator=g)
    c = toy2d.grid25().centers
    k, d = toy2d.nearest_mode(x, c)
    dist = np.linalg.norm(x.numpy()[:, None] - c.numpy()[None], axis=-1)
    np.testing.assert_array_equal(k.numpy(), dist.argmin(1))
    np.testing.assert_allclose(d.numpy(), dist.min(1), rtol=1e-5)


def test_mode_metrics_on_a_constructed_sample():
    mix = toy2d.ring8()
    c = mix.centers
    s = mix.std
    # 3 samples on mode 0, 1 on mode 1 (at 2.9 std), 1 near mode 2 at 3.1 std (low
    # quality), 1 far away, 1 NaN
    x = torch.stack([c[0], c[0], c[0] + torch.tensor([0.0, 1.0]) * 2 * s,
                     c[1] + torch.tensor([2.9 * s, 0.0]),
                     c[2] + torch.tensor([0.0, 3.1 * s]),
                     torch.tensor([0.0, 0.0]),
                     torch.tensor([float("nan"), 0.0])])
    m = toy2d.mode_metrics(x, mix)
    assert m.modes == 2
    assert m.hq == pytest.approx(4 / 7)
    assert m.counts == [3, 1, 0, 0, 0, 0, 0, 0]
    h = np.array([3, 1]) / 4
    assert m.kl == pytest.approx(float(np.sum(h * np.log(8 * h))))
    assert m.as_dict() == {"modes": 2, "hq": m.hq, "kl": m.kl}


def test_mode_metrics_extremes():
    mix = toy2d.grid25()
    uniform = mix.centers.repeat(4, 1)
    m = toy2d.mode_metrics(uniform, mix)
    assert (m.modes, m.hq) == (25, 1.0) and m.kl == pytest.approx(0.0, abs=1e-12)
    one = mix.centers[:1].repeat(10, 1)
    assert toy2d.mode_metrics(one, mix).kl == pytest.approx(math.log(25))
    none = toy2d.mode_metrics(torch.full((5, 2), 1.0), mix)
    assert (none.modes, none.hq, none.kl) == (0, 0.0, pytest.approx(math.log(25)))


def test_true_samples_are_high_quality_at_the_rayleigh_rate():
    # |x - c| / std is Rayleigh in 2-D: P(r <= 3) = 1 - exp(-9/2)
    mix = toy2d.ring8()
    m = toy2d.mode_metrics(mix.sample(50_000, torch.Generator().manual_seed(2)), mix)
    assert m.modes == 8
    assert m.hq == pytest.approx(1 - math.exp(-4.5), abs=0.003)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="known: ring8, grid25"):
        toy2d.mixture("moons")
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy2d.ring8().sample(0)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        toy2d.swiss_roll(-3)
    with pytest.raises(ValueError, match="noise"):
        toy2d.swiss_roll(10, noise=-1.0)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        toy2d.mode_metrics(torch.zeros(4, 3), toy2d.ring8())
    with pytest.raises(ValueError, match="n_std"):
        toy2d.mode_metrics(torch.zeros(4, 2), toy2d.ring8(), n_std=0)
    with pytest.raises(ValueError, match="centres"):
        toy2d.nearest_mode(torch.zeros(4, 3), toy2d.ring8().centers)
