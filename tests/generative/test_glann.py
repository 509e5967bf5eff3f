"""GLO and IMLE of ``book.generative.glann`` against brute force, Monte Carlo and closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from book import training
from book.generative import glann


def blobs(n=120, seed=0):
    """Three clusters of 64-pixel 'images' in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(3, 64, generator=g)
    labels = torch.arange(n) % 3
    return (centres[labels] + 0.05 * torch.randn(n, 64, generator=g)).clamp(0, 1)


def test_to_sphere_gives_unit_rows_and_keeps_directions():
    z = torch.tensor([[3.0, 4.0], [0.0, -2.0]])
    out = glann.to_sphere(z)
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.8], [0.0, -1.0]]))
    with pytest.raises(ValueError, match="zero vector"):
        glann.to_sphere(torch.zeros(1, 3))


def test_pca_latents_are_the_normalised_principal_coefficients():
    x = blobs()
    z = glann.pca_latents(x, 4)
    centred = (x - x.mean(0)).double()
    _, vecs = torch.linalg.eigh(centred.T @ centred)              # ascending eigenvalues
    coef = centred @ vecs[:, -4:].flip(1)                         # top four, sign free
    ref = coef / coef.norm(dim=1, keepdim=True)
    assert torch.allclose(z.double().abs(), ref.abs(), atol=1e-4)
    with pytest.raises(ValueError, match="latent dimension"):
        glann.pca_latents(x, 100)


def test_nearest_matches_brute_force():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(50, 5, generator=g), torch.randn(80, 5, generator=g)
    idx, dist = glann.nearest(a, b)
    table = ((a[:, None, :] - b[None]) ** 2).sum(-1)              # (50, 80)
    assert torch.equal(idx, table.argmin(1))
    torch.testing.assert_close(dist, table.min(1).values.sqrt())
    with pytest.raises(ValueError, match=r"\(N, d\) and \(M, d\)"):
        glann.nearest(a, b[:, :4])


def test_glo_keeps_latents_on_the_sphere_and_reconstructs():
    x = blobs()
    run = glann.train_glo(x, glann.GLOConfig(latent_dim=4, hidden=32, steps=150), stream=0)
    assert torch.allclose(run.latents.norm(dim=1), torch.ones(len(x)), atol=1e-5)
    with torch.no_grad():
        mse = float(((run.generator(run.latents) - x) ** 2).mean())
    assert run.losses[-1] < 0.2 * run.losses[0]
    assert mse < 0.2 * float(((x - x.roll(1, 0)) ** 2).mean())


def test_glo_rejects_bad_input_and_reports_divergence():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        glann.train_glo(blobs(), glann.GLOConfig(steps=0))
    with pytest.raises(ValueError, match="images must be"):
        glann.train_glo(torch.rand(64))
    x = blobs()
    x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        glann.train_glo(x)
    with pytest.raises(training.Diverged, match="GLO loss"):
        glann.train_glo(blobs(), glann.GLOConfig(latent_dim=4, hidden=8, steps=20, lr_net=1e30))


def test_fitted_gaussian_has_the_moments_of_its_data():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(4000, 3, generator=g) @ torch.tensor([[1.0, 0.5, 0.0], [0, 1, 0], [0, 0, 2]])
    sample = glann.fit_gaussian(z)(200_000, torch.Generator().manual_seed(3))
    assert torch.allclose(sample.mean(0), z.mean(0), atol=0.02)
    assert torch.allclose(torch.cov(sample.T), torch.cov(z.T), atol=0.03)


def test_imle_covers_two_clusters_better_than_at_start():
    g = torch.Generator().manual_seed(4)
    z = glann.to_sphere(torch.cat([torch.randn(60, 3, generator=g) * 0.1 + torch.tensor([1.0, 0, 0]),
                                   torch.randn(60, 3, generator=g) * 0.1 - torch.tensor([1.0, 0, 0])]))
    cfg = glann.IMLEConfig(runs=2, noise_dim=3, hidden=32, rounds=15, inner_steps=10, lr=3e-3)
    probe = torch.randn(400, 3, generator=g)
    run = glann.train_imle(z, cfg, stream=0, probe=probe, snapshot_rounds=(0, 15))
    assert set(run.snapshots) == {0, 15} and run.snapshots[15].shape == (2, 400, 3)
    assert len(run.losses) == 15 and run.losses[0].shape == (2,)
    assert torch.allclose(run.snapshots[15].norm(dim=-1), torch.ones(2, 400), atol=1e-5)
    for r in range(2):
        start = glann.nearest(z, run.snapshots[0][r])[1].pow(2).mean()
        end = glann.nearest(z, run.snapshots[15][r])[1].pow(2).mean()
        assert end < 0.3 * start
        # both clusters get samples: the first coordinate takes both signs
        share_right = float((run.snapshots[15][r, :, 0] > 0).float().mean())
        assert 0.2 < share_right < 0.8
    with pytest.raises(ValueError, match="snapshot rounds"):
        glann.train_imle(z, cfg, probe=probe, snapshot_rounds=(16,))


def test_objective_1d_against_closed_form_and_monte_carlo():
    # one sample: E (y - a e - b)^2 = (mu - b)^2 + s^2 + a^2
    assert glann.objective_1d(0.5, 1, s=1.5, mu=0.3, b=-0.2) == pytest.approx(0.25 + 2.25 + 0.25,
                                                                            rel=1e-7)
    g = torch.Generator().manual_seed(5)
    y = 0.4 + 2.0 * torch.randn(200_000, 1, generator=g, dtype=torch.float64)
    e = torch.randn(200_000, 8, generator=g, dtype=torch.float64)
    mc = ((y - 1.5 * e - 0.1) ** 2).min(1).values
    quad = glann.objective_1d(1.5, 8, s=2.0, mu=0.4, b=0.1)
    assert abs(float(mc.mean()) - quad) < 4 * float(mc.std()) / math.sqrt(len(mc))
    with pytest.raises(ValueError, match="m"):
        glann.objective_1d(1.0, 0)
    with pytest.raises(ValueError, match="a > 0"):
        glann.objective_1d(-1.0, 3)


def test_optimum_1d_scales_with_s_and_tends_to_sqrt3():
    assert glann.optimum_1d(8, s=2.0) == pytest.approx(2 * glann.optimum_1d(8), rel=1e-3)
    assert glann.optimum_1d(10_000) == pytest.approx(math.sqrt(3), rel=3e-3)


def test_stacked_runs_are_independent_samplers():
    z = glann.to_sphere(torch.randn(40, 3, generator=torch.Generator().manual_seed(6)))
    run = glann.train_imle(z, glann.IMLEConfig(runs=3, noise_dim=2, hidden=8, rounds=2,
                                               inner_steps=2))
    e = torch.randn(5, 2, generator=torch.Generator().manual_seed(7))
    out = run.mapping(e)                                          # (3, 5, 3), e shared
    assert out.shape == (3, 5, 3) and not torch.allclose(out[0], out[1])
    with pytest.raises(ValueError, match="runs"):
        glann.train_imle(z, glann.IMLEConfig(runs=0))


def test_linear_imle_by_sgd_reaches_the_optimum():
    a, b = glann.train_linear_1d(8, steps=300, batch=2048, stream=1)
    assert a == pytest.approx(glann.optimum_1d(8), rel=0.03)
    assert abs(b) < 0.05
