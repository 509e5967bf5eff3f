"""The Fréchet distance against closed forms and scipy, and the cached feature classifier."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from book import data
from book.generative import frechet


def random_psd(rng, d):
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.1 * np.eye(d)


def test_one_dimensional_gaussians_give_the_closed_form():
    # W2^2 between N(m1, s1^2) and N(m2, s2^2) is (m1 - m2)^2 + (s1 - s2)^2
    got = frechet.frechet_gaussians(np.array([1.0]), np.array([[4.0]]), np.array([-0.5]), np.array([[0.25]]))
    assert got == pytest.approx(1.5 ** 2 + (2.0 - 0.5) ** 2)


def test_general_covariances_match_scipy_sqrtm():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    c1, c2 = random_psd(rng, 5), random_psd(rng, 5)
    reference = ((m1 - m2) ** 2).sum() + np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1 @ c2).real)
    assert frechet.frechet_gaussians(m1, c1, m2, c2) == pytest.approx(reference, rel=1e-8)
    assert frechet.frechet_gaussians(m2, c2, m1, c1) == pytest.approx(reference, rel=1e-8)
    assert frechet.frechet_gaussians(m1, c1, m1, c1) == pytest.approx(0.0, abs=1e-8)


def test_a_wrong_formula_is_caught():
    rng = np.random.default_rng(1)
    m, c1, c2 = rng.normal(size=4), random_psd(rng, 4), random_psd(rng, 4)
    wrong = np.trace(c1 + c2 - 2 * scipy.linalg.sqrtm(c1) @ scipy.linalg.sqrtm(c2)).real
    assert abs(frechet.frechet_gaussians(m, c1, m, c2) - wrong) > 1e-3


def test_the_classifier_is_cached_and_retrained_identically(tmp_path, monkeypatch):
    monkeypatch.setattr(frechet, "CACHE", tmp_path)
    cfg = frechet.ClassifierConfig(epochs=2)
    first = frechet.classifier.__wrapped__(cfg)
    files = list(tmp_path.glob("digit_classifier-*.pt"))
    assert len(files) == 1
    loaded = frechet.classifier.__wrapped__(cfg)  # from the file
    files[0].unlink()
    again = frechet.classifier.__wrapped__(cfg)   # trained anew: same fixed seed, same weights
    for a, b, c in zip(first.state_dict().values(), loaded.state_dict().values(),
                       again.state_dict().values()):
        assert torch.equal(a, b) and torch.equal(a, c)


def test_a_missing_cache_is_filled_by_the_first_distance(tmp_path, monkeypatch):
    """On a fresh clone the first call is features() (under no_grad): it must still train."""
    monkeypatch.setattr(frechet, "CACHE", tmp_path)
    frechet.classifier.cache_clear()
    try:
        split = data.digits()
        assert frechet.distance(split.x_test, split.x_train) > 0
        assert len(list(tmp_path.glob("digit_classifier-*.pt"))) == 1
    finally:
        frechet.classifier.cache_clear()


def test_the_distance_orders_real_gaussian_and_noise_digits():
    split = data.digits()
    n = len(split.x_test)
    gen = torch.Generator().manual_seed(0)
    assert frechet.accuracy(split.x_test, split.y_test) > 0.95
    floor = frechet.floor(split)
    m = split.x_train.mean(0)
    chol = torch.linalg.cholesky(torch.cov(split.x_train.T) + 1e-4 * torch.eye(64))
    gaussian = (m + torch.randn(n, 64, generator=gen) @ chol.T).clamp(0, 1)
    noise = torch.rand(n, 64, generator=gen)
    d_gauss, d_noise = frechet.distance(gaussian, split.x_train), frechet.distance(noise, split.x_train)
    assert 0 < floor < d_gauss / 5 < d_noise / 50
    # images as (N, 8, 8) give the same value
    assert frechet.distance(split.x_test.reshape(-1, 8, 8), split.x_train) == pytest.approx(floor)


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(10, 63), "shape"), (torch.zeros(1, 64), "at least 2"),
    (torch.full((5, 64), float("nan")), "NaN"),
])
def test_bad_digits_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        frechet.features(bad)
