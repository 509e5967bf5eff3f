"""Tests of book/generative/vae.py against independent references (torch.distributions,
NumPy, SciPy, dense Gaussian algebra, Monte Carlo)."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from book.generative import vae
from book.data import digits


def grid_pixels(n=50, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 17, (n, d), generator=g).float() / 16


# ---------------------------------------------------------------- dequantise
def test_dequantise_stays_in_its_bin():
    x = grid_pixels()
    y = vae.dequantise(x, generator=torch.Generator().manual_seed(1))
    assert y.shape == x.shape and (y >= 0).all() and (y < 1).all()
    assert torch.equal(torch.floor(17 * y), torch.round(16 * x))


def test_dequantise_is_uniform_within_the_bin():
    x = torch.full((20000, 1), 0.5)
    y = vae.dequantise(x, generator=torch.Generator().manual_seed(2))
    u = (17 * y - 8).flatten().numpy()  # should be U[0, 1)
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_dequantise_rejects_bad_input():
    with pytest.raises(ValueError, match="grid"):
        vae.dequantise(torch.tensor([[0.03]]))
    with pytest.raises(ValueError, match="levels"):
        vae.dequantise(torch.zeros(2, 2), levels=1)


# ---------------------------------------------------------------- Gaussian KL and NLL
def test_gaussian_kl_matches_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, lv, mu_p, lv_p = (torch.randn(300, generator=g) for _ in range(4))
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * lv).exp()),
                                            torch.distributions.Normal(mu_p, (0.5 * lv_p).exp()))
    torch.testing.assert_close(vae.gaussian_kl(mu, lv, mu_p, lv_p), ref)
    std_ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, (0.5 * lv).exp()),
                                                torch.distributions.Normal(0.0, 1.0))
    torch.testing.assert_close(vae.gaussian_kl(mu, lv), std_ref)


def test_gaussian_nll_matches_normal_log_prob():
    g = torch.Generator().manual_seed(1)
    x, mean, lv = (torch.randn(40, 7, generator=g) for _ in range(3))
    ref = -torch.distributions.Normal(mean, (0.5 * lv).exp()).log_prob(x).sum(-1)
    torch.testing.assert_close(vae.gaussian_nll(x, mean, lv), ref)


# ---------------------------------------------------------------- diagonal Gaussian
def test_diag_gaussian_is_the_numpy_fit_and_scipy_density():
    x = torch.rand(200, 5, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    model = vae.DiagGaussian.fit(x)
    xn = x.numpy()
    np.testing.assert_allclose(model.mean.numpy(), xn.mean(0))
    np.testing.assert_allclose(model.logvar.exp().numpy(), xn.var(0))
    ref = -stats.norm(xn.mean(0), xn.std(0)).logpdf(xn).sum(1)
    np.testing.assert_allclose(model.nll(x).numpy(), ref, rtol=1e-10)


def test_full_gaussian_is_the_numpy_fit_and_scipy_density():
    x = torch.rand(300, 5, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    x[:, 1] += 0.5 * x[:, 0]                                   # correlated columns
    fit = vae.FullGaussian.fit(x)
    xn = x.numpy()
    np.testing.assert_allclose(fit.cov.numpy(), np.cov(xn.T, bias=True), atol=1e-12)
    ref = -stats.multivariate_normal(xn.mean(0), np.cov(xn.T, bias=True)).logpdf(xn[:7])
    np.testing.assert_allclose(fit.nll(x[:7]).numpy(), ref, rtol=1e-10)
    with pytest.raises(ValueError, match="2-D"):
        vae.FullGaussian.fit(x[0])


def test_diag_gaussian_rejects_1d():
    with pytest.raises(ValueError, match="2-D"):
        vae.DiagGaussian.fit(torch.rand(10))


# ---------------------------------------------------------------- PPCA
@pytest.fixture(scope="module")
def ppca_data():
    g = torch.Generator().manual_seed(4)
    W = torch.randn(10, 3, generator=g, dtype=torch.float64)
    z = torch.randn(400, 3, generator=g, dtype=torch.float64)
    x = z @ W.T + 0.3 * torch.randn(400, 10, generator=g, dtype=torch.float64) + 1.0
    return x, vae.PPCA.fit(x, 3)


def test_ppca_closed_form_matches_numpy_eigendecomposition(ppca_data):
    x, model = ppca_data
    xn = x.numpy()
    lam, u = np.linalg.eigh(np.cov(xn.T, bias=True))
    lam, u = lam[::-1], u[:, ::-1]
    s2 = lam[3:].mean()
    np.testing.assert_allclose(model.sigma2.item(), s2, rtol=1e-10)
    # W is defined up to a sign per column: compare W Wᵀ
    W_ref = u[:, :3] * np.sqrt(lam[:3] - s2)
    np.testing.assert_allclose((model.W @ model.W.T).numpy(), W_ref @ W_ref.T, atol=1e-10)
    assert model.latent_dim == 3


def test_ppca_nll_matches_dense_multivariate_normal(ppca_data):
    x, model = ppca_data
    C = (model.W @ model.W.T + model.sigma2 * torch.eye(10, dtype=torch.float64)).numpy()
    ref = -stats.multivariate_normal(model.mean.numpy(), C).logpdf(x.numpy())
    np.testing.assert_allclose(model.nll(x).numpy(), ref, rtol=1e-9)


def test_ppca_is_a_maximum_of_the_likelihood(ppca_data):
    x, model = ppca_data
    best = model.nll(x).mean()
    for W, s2 in [(1.05 * model.W, model.sigma2), (0.95 * model.W, model.sigma2),
                  (model.W, 1.1 * model.sigma2), (model.W, 0.9 * model.sigma2)]:
        assert vae.PPCA(model.mean, W, s2).nll(x).mean() > best


def test_ppca_posterior_is_gaussian_conditioning(ppca_data):
    x, model = ppca_data
    C = model.W @ model.W.T + model.sigma2 * torch.eye(10, dtype=torch.float64)
    # joint of (z, x): Cov(z, x) = Wᵀ, so p(z|x) = N(Wᵀ C⁻¹ (x - m), I - Wᵀ C⁻¹ W)
    gain = model.W.T @ torch.linalg.inv(C)
    m, S = model.posterior(x)
    torch.testing.assert_close(m, (x - model.mean) @ gain.T)
    torch.testing.assert_close(S, torch.eye(3, dtype=torch.float64) - gain @ model.W)


def test_linear_vae_elbo_is_tight_at_the_posterior_and_a_bound_elsewhere(ppca_data):
    x, model = ppca_data
    m, S = model.posterior(x)
    torch.testing.assert_close(model.neg_elbo(x, m, S), model.nll(x))
    worse = model.neg_elbo(x, 0.8 * m, 2.0 * S)
    assert (worse > model.nll(x)).all()


def test_linear_vae_elbo_matches_monte_carlo(ppca_data):
    x, model = ppca_data
    x = x[:5]
    m, S = 0.7 * model.posterior(x)[0], torch.diag(torch.tensor([0.3, 0.5, 0.2],
                                                                 dtype=torch.float64))
    g = torch.Generator().manual_seed(5)
    eps = torch.randn(200000, 1, 3, generator=g, dtype=torch.float64)
    z = m + eps @ torch.linalg.cholesky(S).T                                # (S, 5, 3)
    dec = torch.distributions.Normal(z @ model.W.T + model.mean, model.sigma2.sqrt())
    samples = -dec.log_prob(x).sum(-1)                                      # (S, 5)
    rec, stderr = samples.mean(0), samples.std(0) / math.sqrt(len(samples))
    q = torch.distributions.MultivariateNormal(m, S)
    kl = torch.distributions.kl_divergence(
        q, torch.distributions.MultivariateNormal(torch.zeros(3, dtype=torch.float64),
                                                  torch.eye(3, dtype=torch.float64)))
    assert ((model.neg_elbo(x, m, S) - (rec + kl)).abs() < 4 * stderr).all()


def test_ppca_rejects_bad_latent_dimension():
    with pytest.raises(ValueError, match="latent dimension"):
        vae.PPCA.fit(torch.rand(30, 4), 4)
    with pytest.raises(ValueError, match="latent dimension"):
        vae.PPCA.fit(torch.rand(30, 4), 0)


# ---------------------------------------------------------------- ensemble layers and the VAE
def test_ensemble_linear_is_m_separate_linear_layers():
    layer = vae.EnsembleLinear(3, 5, 4)
    x = torch.randn(3, 7, 5)
    for m in range(3):
        ref = torch.nn.functional.linear(x[m], layer.weight[m].T, layer.bias[m, 0])
        torch.testing.assert_close(layer(x)[m], ref)
    assert layer(torch.randn(3, 2, 7, 5)).shape == (3, 2, 7, 4)


def test_ensemble_mlp_rejects_bad_sizes():
    with pytest.raises(ValueError, match="sizes"):
        vae.ensemble_mlp(2, [4])
    with pytest.raises(ValueError, match="positive"):
        vae.VAE(latent_dim=0)


def test_vae_terms_match_torch_distributions():
    torch.manual_seed(0)
    model = vae.VAE(data_dim=6, latent_dim=2, hidden=8, n_models=2)
    x = torch.rand(5, 6)
    rec, kl = model.terms(x, n_samples=3, generator=torch.Generator().manual_seed(7))
    mu, logvar = model.encode(x)
    eps = torch.randn((2, 3, 5, 2), generator=torch.Generator().manual_seed(7))
    z = mu[:, None] + (0.5 * logvar[:, None]).exp() * eps
    dec = torch.distributions.Normal(model.decode(z), (0.5 * model.dec_logvar[:, None]).exp())
    torch.testing.assert_close(rec, -dec.log_prob(x).sum(-1).mean(1))
    prior = torch.distributions.Normal(0.0, 1.0)
    ref_kl = torch.distributions.kl_divergence(
        torch.distributions.Normal(mu, (0.5 * logvar).exp()), prior).sum(-1)
    torch.testing.assert_close(kl, ref_kl)


def test_evaluate_single_sample_bound_is_the_elbo_estimate():
    torch.manual_seed(1)
    model = vae.VAE(data_dim=6, latent_dim=2, hidden=8, n_models=1)
    x = torch.rand(4, 6)
    out = vae.evaluate(model, x, n_samples=1, generator=torch.Generator().manual_seed(3))
    mu, logvar = model.encode(x)
    eps = torch.randn((1, 1, 4, 2), generator=torch.Generator().manual_seed(3))
    z = mu[:, None] + (0.5 * logvar[:, None]).exp() * eps
    post = torch.distributions.Normal(mu[:, None], (0.5 * logvar[:, None]).exp())
    prior = torch.distributions.Normal(0.0, 1.0)
    dec = torch.distributions.Normal(model.decode(z), (0.5 * model.dec_logvar[:, None]).exp())
    log_w = dec.log_prob(x).sum(-1) + prior.log_prob(z).sum(-1) - post.log_prob(z).sum(-1)
    torch.testing.assert_close(out["iw_nll"], -log_w.mean((1, 2)))
    torch.testing.assert_close(out["neg_elbo"], out["distortion"] + out["rate"])


def test_train_vae_runs_and_rejects_bad_betas():
    x = digits().x_train[:200]
    cfg = vae.VAEConfig(betas=(0.5, 2.0), latent_dim=2, hidden=16, epochs=2, batch_size=100)
    run = vae.train_vae(x, cfg)
    assert len(run.loss) == 2 and all(math.isfinite(v) for row in run.loss for v in row)
    assert run.model.n_models == 2 and run.seconds > 0
    with pytest.raises(ValueError, match="betas"):
        vae.train_vae(x, vae.VAEConfig(betas=()))
    with pytest.raises(ValueError, match="betas"):
        vae.train_vae(x, vae.VAEConfig(betas=(-1.0,)))
