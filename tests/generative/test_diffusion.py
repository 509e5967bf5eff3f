"""Tests of book.generative.diffusion and book.generative.denoiser against independent
references: explicit loops and products, dense Gaussian conditioning, Bayes' rule on a grid."""

import math

import numpy as np
import pytest
import torch

from book.generative import denoiser, diffusion


@pytest.fixture
def sched():
    return diffusion.linear_schedule(50)


def test_schedule_against_explicit_products(sched):
    b = sched.betas.numpy()
    ab = np.array([np.prod(1 - b[: t + 1]) for t in range(len(b))])
    np.testing.assert_allclose(sched.alpha_bar.numpy(), ab, rtol=1e-12)
    np.testing.assert_allclose(sched.alpha_bar_prev.numpy(), np.r_[1.0, ab[:-1]], rtol=1e-12)
    bt = np.r_[(1 - 1.0) / (1 - ab[0]) * b[0], (1 - ab[:-1]) / (1 - ab[1:]) * b[1:]]
    np.testing.assert_allclose(sched.beta_tilde.numpy(), bt, rtol=1e-12)
    # DDPM's ends, scaled by 1000 / T
    assert math.isclose(b[0], 1e-4 * 20) and math.isclose(b[-1], 0.02 * 20)


def test_bad_input_raises(sched):
    with pytest.raises(ValueError):
        diffusion.linear_schedule(1)
    with pytest.raises(ValueError):
        diffusion.Schedule(torch.tensor([0.1, 1.5], dtype=torch.float64))
    with pytest.raises(ValueError):
        diffusion.q_sample(torch.zeros(3, 2), 0, sched, torch.zeros(3, 2))
    with pytest.raises(ValueError):
        diffusion.q_sample(torch.zeros(3, 2), 51, sched, torch.zeros(3, 2))
    with pytest.raises(ValueError):
        diffusion.sample(lambda x, t: x, (2, 2), sched, torch.Generator(), sigma="zero")
    with pytest.raises(ValueError):
        denoiser.train(torch.zeros(5), denoiser.DenoiserConfig(steps=1), [0])


def test_forward_chain_with_shared_noise_matches_the_closed_form(sched):
    # with the same noise draws, the chain's x_t is sqrt(ab) x0 + a weighted sum of them
    x0 = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    out = diffusion.forward_chain(x0, sched, torch.Generator().manual_seed(0), keep={0, 7})
    g = torch.Generator().manual_seed(0)
    eps = [torch.randn(x0.shape, generator=g, dtype=torch.float64) for _ in range(7)]
    a, b = sched.alphas.numpy(), sched.betas.numpy()
    expected = x0.clone()
    for t in range(7):
        expected = math.sqrt(a[t]) * expected + math.sqrt(b[t]) * eps[t]
    torch.testing.assert_close(out[7], expected)
    torch.testing.assert_close(out[0], x0)
    # and the weights of the noises have squared sum 1 - ab_7
    w2 = sum(b[s] * np.prod(a[s + 1:7]) for s in range(7))
    assert math.isclose(w2, 1 - float(sched.alpha_bar[6]), rel_tol=1e-12)


def test_posterior_by_bayes_on_a_grid(sched):
    t, x0, xt = 4, 0.7, 0.3
    y = np.linspace(-3, 3, 200_001)
    ab_prev = float(sched.alpha_bar_prev[t - 1])
    a, b = float(sched.alphas[t - 1]), float(sched.betas[t - 1])
    logp = -(xt - math.sqrt(a) * y) ** 2 / (2 * b) - (y - math.sqrt(ab_prev) * x0) ** 2 / (
        2 * (1 - ab_prev))
    p = np.exp(logp - logp.max())
    p /= p.sum()
    mean, var = (p * y).sum(), (p * y ** 2).sum() - (p * y).sum() ** 2
    m, v = diffusion.posterior(torch.tensor(x0, dtype=torch.float64),
                               torch.tensor(xt, dtype=torch.float64), t, sched)
    assert math.isclose(float(m), mean, rel_tol=1e-6)
    assert math.isclose(v, var, rel_tol=1e-4)


def test_gaussian_eps_is_dense_gaussian_conditioning(sched):
    g = torch.Generator().manual_seed(1)
    d = 4
    mean = torch.randn(d, generator=g, dtype=torch.float64)
    L = torch.randn(d, d, generator=g, dtype=torch.float64)
    cov = L @ L.T + 0.5 * torch.eye(d, dtype=torch.float64)
    f = diffusion.GaussianEps(mean, cov, sched)
    x = torch.randn(6, d, generator=g, dtype=torch.float64)
    t = torch.tensor([1, 5, 10, 20, 40, 50])
    for i in range(6):
        ab = float(sched.alpha_bar[t[i] - 1])
        # joint of (eps, x_t): Cov(eps, x_t) = sqrt(1 - ab) I, Var x_t = ab cov + (1 - ab) I
        Cx = ab * cov + (1 - ab) * torch.eye(d, dtype=torch.float64)
        ref = math.sqrt(1 - ab) * np.linalg.solve(Cx.numpy(), (x[i] - math.sqrt(ab) * mean).numpy())
        np.testing.assert_allclose(f(x[i:i + 1], t[i:i + 1])[0].numpy(), ref, rtol=1e-9)
    torch.testing.assert_close(f(x, 7), f(x, torch.full((6,), 7)))


def test_mixture_eps_with_one_component_is_the_gaussian_one(sched):
    c = torch.tensor([[0.5, -1.0]])
    f_mix = diffusion.MixtureEps(c, 0.3, sched)
    f_gauss = diffusion.GaussianEps(c[0], 0.09 * torch.eye(2), sched)
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    torch.testing.assert_close(f_mix(x, 12), f_gauss(x, 12))


def test_mixture_eps_is_minus_sqrt_var_times_the_autograd_score(sched):
    centers = torch.tensor([[2.0, 0.0], [-1.0, 1.0], [0.0, -2.0]], dtype=torch.float64)
    t, s = 9, 0.2
    ab = float(sched.alpha_bar[t - 1])
    x = torch.randn(4, 2, generator=torch.Generator().manual_seed(3), dtype=torch.float64,
                    requires_grad=True)
    v = ab * s ** 2 + 1 - ab
    logp = torch.logsumexp(-((x[:, None] - math.sqrt(ab) * centers) ** 2).sum(-1) / (2 * v), 1)
    score = torch.autograd.grad(logp.sum(), x)[0]
    got = diffusion.MixtureEps(centers, s, sched)(x.detach(), t)
    torch.testing.assert_close(got, -math.sqrt(1 - ab) * score)


def test_eps_loss_is_zero_for_the_true_noise_and_matches_a_loop(sched):
    x0 = torch.randn(3, 8, 2, generator=torch.Generator().manual_seed(4))
    seen = {}

    def record(xt, t):
        seen["xt"], seen["t"] = xt, t
        return torch.zeros_like(xt)

    loss = diffusion.eps_loss(record, x0, sched, torch.Generator().manual_seed(5))
    g = torch.Generator().manual_seed(5)
    t = torch.randint(1, 51, (3, 8), generator=g)
    eps = torch.randn(x0.shape, generator=g)
    torch.testing.assert_close(seen["t"], t)
    ab = sched.alpha_bar.float()[t - 1][..., None]
    torch.testing.assert_close(seen["xt"], ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    torch.testing.assert_close(loss, eps.square().mean(dim=(1, 2)))   # predictor 0
    assert loss.shape == (3,)


def test_sampler_step_against_a_loop(sched):
    def eps_fn(x, t):
        return 0.1 * x + 0.01 * t[..., None]

    x0, frames = diffusion.sample(eps_fn, (5, 2), sched, torch.Generator().manual_seed(6),
                                  sigma="beta", keep={50, 3, 0})
    g = torch.Generator().manual_seed(6)
    x = torch.randn(5, 2, generator=g)
    assert torch.equal(frames[50], x)
    for t in range(50, 0, -1):
        a, b, ab = (float(v[t - 1]) for v in (sched.alphas, sched.betas, sched.alpha_bar))
        x = (x - b / math.sqrt(1 - ab) * (0.1 * x + 0.01 * t)) / math.sqrt(a)
        if t > 1:
            x = x + math.sqrt(b) * torch.randn(5, 2, generator=g)
        if t - 1 == 3:
            torch.testing.assert_close(frames[3], x)
    torch.testing.assert_close(x0, x)
    torch.testing.assert_close(frames[0], x)


def test_stacked_denoiser_models_are_independent():
    cfg = denoiser.DenoiserConfig(T=25, width=8, depth=2, x_freq=2, steps=3, batch=4)
    data = torch.randn(20, 2, generator=torch.Generator().manual_seed(7))
    model, losses = denoiser.train(data, cfg, [0, 1])
    assert losses == [] and len(model.mlp) == 2
    x = torch.randn(2, 5, 2)
    t = torch.randint(1, 26, (2, 5))
    out = model(x, t)
    x2 = x.clone()
    x2[1] += 1.0   # changing model 1's input leaves model 0's output alone
    torch.testing.assert_close(model(x2, t)[0], out[0])
    assert out.shape == (2, 5, 2)
