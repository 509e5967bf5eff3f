"""Tests for book/representations/infomax.py: the loss pieces against their definitions written
out with torch.nn.functional and torch.distributions, the stacked models' independence,
the probes against brute force, and the ValueErrors for bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from book import training
from book.representations import infomax


def small(betas=(0.0, 2.0), seeds=1, **kw):
    torch.manual_seed(0)
    config = infomax.InfomaxConfig(code=4, channels=(3, 5), hidden=8, betas=betas, seeds=seeds, **kw)
    return config, infomax.InfoMax(config)


def batch(n=10, seed=1):
    return torch.rand(n, 64, generator=torch.Generator().manual_seed(seed))


def test_gaussian_kl_against_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    d = torch.distributions
    ref = d.kl_divergence(d.Normal(mu, (0.5 * logvar).exp()), d.Normal(0.0, 1.0)).sum(-1)
    torch.testing.assert_close(infomax.gaussian_kl(mu, logvar), ref)


def test_loss_terms_against_written_out_definitions():
    config, model = small()
    x = batch()
    terms = infomax.loss_terms(model, x, torch.Generator().manual_seed(5))
    local, mu, logvar = model.encode(x)
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(5))
    z = mu + torch.exp(logvar / 2) * eps
    z_neg = torch.cat([z[:, -1:], z[:, :-1]], 1)        # x_i with the code of x_{i-1}
    for m in range(model.m):
        def t_global(zz):
            h = torch.cat([x, zz[m]], 1) @ model.global1.weight[m] + model.global1.bias[m]
            return (F.relu(h) @ model.global2.weight[m] + model.global2.bias[m])[:, 0]

        def t_local(zz):
            pair = torch.cat([local[m], zz[m][:, None].expand(-1, 16, -1)], -1)
            h = pair @ model.local1.weight[m] + model.local1.bias[m]
            return (F.relu(h) @ model.local2.weight[m] + model.local2.bias[m])[..., 0]

        ref_g = F.logsigmoid(t_global(z)).mean() + F.logsigmoid(-t_global(z_neg)).mean()
        ref_l = F.logsigmoid(t_local(z)).mean() + F.logsigmoid(-t_local(z_neg)).mean()
        torch.testing.assert_close(terms["global"][m], ref_g)
        torch.testing.assert_close(terms["local"][m], ref_l)
        kl = 0.5 * (mu[m] ** 2 + logvar[m].exp() - 1 - logvar[m]).sum(1).mean()
        torch.testing.assert_close(terms["kl"][m], kl)
    expected = sum(-config.alpha * terms["global"][m] - b * terms["local"][m]
                   + config.gamma * terms["kl"][m] for m, b in enumerate(config.betas))
    torch.testing.assert_close(infomax.total_loss(terms, config), expected)


def test_encoder_reads_the_image_as_8x8_and_local_map_is_4x4():
    _, model = small()
    x = batch(3)
    local, mu, _ = model.encode(x)
    assert local.shape == (2, 3, 16, 5) and mu.shape == (2, 3, 4)
    conv = F.conv2d(x.reshape(3, 1, 8, 8), model.conv1.weight[:3], model.conv1.bias[:3], padding=1)
    h = F.conv2d(F.relu(conv), model.conv2.weight[:5], model.conv2.bias[:5], padding=1, stride=2)
    torch.testing.assert_close(local[0], F.relu(h).reshape(3, 5, 16).transpose(1, 2))


def test_stacked_models_are_independent():
    config, model = small()
    terms = infomax.loss_terms(model, batch(), torch.Generator().manual_seed(0))
    (-terms["global"][0] - terms["local"][0]).backward()
    assert model.conv1.weight.grad[:3].abs().sum() > 0
    assert model.conv1.weight.grad[3:].abs().sum() == 0
    assert model.head.weight.grad[1].abs().sum() == 0


def test_global_infonce_against_a_loop():
    _, model = small()
    x = batch(6)
    mu = infomax.codes(model, x)
    with torch.no_grad():
        for m in range(model.m):
            s = torch.stack([model.global_scores(x, mu[:, j:j + 1].expand(-1, 6, -1))[m]
                             for j in range(6)], 1)                  # s[i, j] = T(x_i, z_j)
            ref = (s.diagonal() - torch.logsumexp(s, 1)).mean() + math.log(6)
            torch.testing.assert_close(infomax.global_infonce(model, x)[m], ref)


def test_training_lowers_the_loss_and_raises_on_nan():
    config, _ = small(epochs=3, batch=32)
    x = batch(128)
    run = infomax.train(x, config, desc="")
    first, last = run.history[0]["global"], run.history[-1]["global"]
    assert len(run.history) == 3 and np.mean(last) > np.mean(first)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(training.Diverged, match="Deep InfoMax"):
        infomax.train(bad, config, desc="")


def test_probes_against_brute_force():
    g = torch.Generator().manual_seed(2)
    train, queries = torch.randn(40, 3, generator=g), torch.randn(5, 3, generator=g)
    cos = (queries / queries.norm(dim=1, keepdim=True)) @ (train / train.norm(dim=1, keepdim=True)).T
    ref = np.argsort(-cos.numpy(), axis=1)[:, :4]
    assert (np.sort(infomax.neighbours(train, queries, 4).numpy(), 1) == np.sort(ref, 1)).all()
    labels, qlabels = torch.arange(40) % 3, torch.tensor([0, 1, 2, 0, 1])
    share = (labels[torch.from_numpy(ref)] == qlabels[:, None]).double().mean().item()
    assert infomax.neighbour_share(train, labels, queries, qlabels, 4) == pytest.approx(share)
    # a separable problem: the probe must find it, and C comes from the grid
    y = (train[:, 0] > 0).long()
    acc, c = infomax.linear_probe(train, y, train, y, cs=(1.0, 10.0))
    assert acc > 0.9 and c in (1.0, 10.0)


def test_bad_input():
    with pytest.raises(ValueError, match="betas"):
        infomax.InfomaxConfig(betas=())
    with pytest.raises(ValueError, match="every beta"):
        infomax.InfomaxConfig(betas=(1.0, -1.0))
    with pytest.raises(ValueError, match="gamma"):
        infomax.InfomaxConfig(gamma=float("nan"))
    with pytest.raises(ValueError, match="code"):
        infomax.InfomaxConfig(code=0)
    _, model = small()
    with pytest.raises(ValueError, match=r"\(N, 64\)"):
        model.encode(torch.zeros(3, 8, 8))
    with pytest.raises(ValueError, match="same d"):
        infomax.neighbours(torch.zeros(4, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="same d"):
        infomax.linear_probe(torch.zeros(4, 3), torch.zeros(4), torch.zeros(2, 2), torch.zeros(2))
    with pytest.raises(ValueError, match="two digits"):
        infomax.global_infonce(model, torch.zeros(1, 64))
