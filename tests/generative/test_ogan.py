"""O-GAN's pieces against independent references: NumPy's corrcoef for the Pearson term, the
projector 1 1^T / n for the decomposition, and a short training run."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from book import data, training
from book.generative import ogan


def test_pearson_matches_numpy_corrcoef_row_by_row():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(7, 16)), rng.normal(size=(7, 16))
    b[:3] += 0.8 * a[:3]                       # some strongly correlated rows
    got = ogan.pearson(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    want = np.array([np.corrcoef(a[i], b[i])[0, 1] for i in range(7)])
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_pearson_is_blind_to_shift_and_positive_scale_but_not_to_sign():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(5, 8, generator=g, dtype=torch.float64), torch.randn(5, 8, generator=g,
                                                                               dtype=torch.float64)
    rho = ogan.pearson(a, b)
    torch.testing.assert_close(ogan.pearson(a, 3.0 * b - 7.0), rho)
    torch.testing.assert_close(ogan.pearson(a, -b), -rho)
    torch.testing.assert_close(ogan.pearson(a, a), torch.ones(5, dtype=torch.float64))


def test_decomposition_is_the_projection_on_ones_and_its_complement():
    g = torch.Generator().manual_seed(2)
    e = torch.randn(4, 6, generator=g, dtype=torch.float64)
    ones = torch.ones(6, dtype=torch.float64)
    projector = torch.outer(ones, ones) / 6                        # 1 1^T / n
    torch.testing.assert_close(ogan.mean_part(e), e @ projector)
    torch.testing.assert_close(ogan.orthogonal_part(e), e @ (torch.eye(6, dtype=torch.float64)
                                                             - projector))
    torch.testing.assert_close((ogan.mean_part(e) * ogan.orthogonal_part(e)).sum(1),
                               torch.zeros(4, dtype=torch.float64))


def test_standardised_vectors_have_mean_zero_and_std_one():
    e = torch.randn(3, 10, generator=torch.Generator().manual_seed(3)) * 5 + 2
    s = ogan.standardise(e)
    torch.testing.assert_close(s.mean(1), torch.zeros(3), atol=1e-6, rtol=0)
    torch.testing.assert_close(s.std(1, unbiased=False), torch.ones(3))


def test_pearson_gradient_is_orthogonal_to_ones_and_the_mse_one_is_not():
    g = torch.Generator().manual_seed(4)
    z = torch.randn(1, 32, 8, generator=g)
    e = (torch.randn(1, 32, 8, generator=g) + 1.5).requires_grad_(True)
    (grad,) = torch.autograd.grad(ogan.latent_term("pearson", z, e).sum(), e)
    torch.testing.assert_close(grad.sum(-1), torch.zeros(1, 32), atol=1e-6, rtol=0)
    (grad,) = torch.autograd.grad(ogan.latent_term("mse", z, e).sum(), e)
    assert grad.sum(-1).abs().min() > 1e-3


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="unknown latent term"):
        ogan.latent_term("cosine", torch.zeros(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="same shape"):
        ogan.pearson(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="nz >= 2"):
        ogan.standardise(torch.zeros(5, 1))
    with pytest.raises(ValueError, match="unknown loss"):
        ogan.OGANConfig(loss="hinge")
    with pytest.raises(ValueError, match="gradient penalties"):
        ogan.OGANConfig(loss="wgan-gp")
    with pytest.raises(ValueError, match="latent must be"):
        ogan.OGANConfig(latent=1)
    x = data.digits().x_train
    with pytest.raises(ValueError, match="unknown methods"):
        ogan.train(x, ["pearson", "cosine"], [0, 1], ogan.OGANConfig(steps=1), progress=False)
    for bad in (x[:, :10], x * float("nan")):
        with pytest.raises(ValueError, match=r"finite \(N, 64\)"):
            ogan.train(bad, ["pearson"], [0], ogan.OGANConfig(steps=1), progress=False)


def test_a_diverging_run_raises_diverged():
    x = data.digits().x_train
    cfg = ogan.OGANConfig(steps=50, lr_g=1e10, lr_e=1e10, width=8, batch=8)
    with pytest.raises(training.Diverged, match="lower the learning rates"):
        ogan.train(x, ["mse"], [0], cfg, progress=False)


def test_a_short_run_raises_the_correlation_and_the_codes_decode():
    split = data.digits()
    cfg = ogan.OGANConfig(steps=150, width=32, batch=32)
    run = ogan.train(split.x_train, ["pearson", "none"], [0, 0], cfg, progress=False)
    assert run.corr.shape == (150, 2)
    assert run.corr[-20:, 0].mean() > 0.5 > abs(float(run.corr[-20:, 1].mean())) + 0.3
    codes = ogan.encode(run, split.x_test[:10])
    assert codes.shape == (2, 10, 16)
    pixels = ogan.decode(run.generator, codes)
    assert pixels.shape == (2, 10, 64) and 0 <= float(pixels.min()) <= float(pixels.max()) <= 1
    assert ogan.sample(run, 5, stream=1).shape == (2, 5, 64)


def test_merged_runs_compute_what_each_run_computes():
    split = data.digits()
    cfg = ogan.OGANConfig(steps=20, width=16, batch=16)
    first = ogan.train(split.x_train, ["pearson", "none"], [0, 0], cfg, stream=1, progress=False)
    second = ogan.train(split.x_train, ["mse"], [1], cfg, stream=2, progress=False)
    merged = ogan.merge([first, second])
    assert merged.terms == ["pearson", "none", "mse"] and merged.seeds == [0, 0, 1]
    x = split.x_test[:7]
    torch.testing.assert_close(ogan.encode(merged, x),
                               torch.cat([ogan.encode(first, x), ogan.encode(second, x)]))
    z = torch.randn(3, 5, cfg.latent)
    torch.testing.assert_close(ogan.decode(merged.generator, z),
                               torch.cat([ogan.decode(first.generator, z[:2]),
                                          ogan.decode(second.generator, z[2:])]))
    with pytest.raises(ValueError, match="same configuration"):
        ogan.merge([first, ogan.train(split.x_train, ["none"], [0], ogan.OGANConfig(steps=1),
                                      progress=False)])
