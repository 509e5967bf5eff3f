"""Tests of book.generative.gan: every loss against its definition written out with
torch.nn.functional.

The reference critic is D(x) = v . tanh(A x + c) + b, whose input gradient
A^T (v * (1 - tanh^2(A x + c))) is written by hand, so the gradient penalties are checked
without the autograd path the library takes.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from book import training
from book.generative import gan, toy2d

B = 64


class TanhCritic(torch.nn.Module):
    def __init__(self, seed=0, hidden=16):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.A = torch.nn.Parameter(torch.randn(hidden, 2, generator=g))
        self.c = torch.nn.Parameter(torch.randn(hidden, generator=g))
        self.v = torch.nn.Parameter(torch.randn(hidden, generator=g))
        self.b = torch.nn.Parameter(torch.randn(1, generator=g))

    def forward(self, x):  # (B, 2) -> (B, 1)
        return (torch.tanh(F.linear(x, self.A, self.c)) @ self.v + self.b)[:, None]

    def input_grad(self, x):  # (B, 2), by hand
        h = torch.tanh(F.linear(x, self.A, self.c))
        return (self.v * (1 - h**2)) @ self.A


@pytest.fixture
def batch():
    g = torch.Generator().manual_seed(1)
    return torch.randn(B, 2, generator=g), 1.5 + torch.randn(B, 2, generator=g)


def _interp(x_r, x_f, seed):
    eps = torch.rand(B, 1, generator=torch.Generator().manual_seed(seed))
    return eps * x_r + (1 - eps) * x_f


def _reference(name, critic, x_r, x_f, cfg, seed):
    """(critic loss, generator loss) straight from the definitions."""
    with torch.no_grad():
        d_r, d_f = critic(x_r)[:, 0], critic(x_f)[:, 0]
        ones, zeros = torch.ones(B), torch.zeros(B)
        bce = F.binary_cross_entropy_with_logits
        if name in ("sgan", "sgan-sat"):
            c = bce(d_r, ones) + bce(d_f, zeros)
            g = bce(d_f, ones) if name == "sgan" else torch.log(1 - torch.sigmoid(d_f)).mean()
        elif name == "rsgan":
            c, g = bce(d_r - d_f, ones), bce(d_f - d_r, ones)
        elif name == "gan-qp":
            delta = d_r - d_f
            dist = F.pairwise_distance(x_r, x_f, eps=0.0)
            c = (-delta + delta**2 / (2 * cfg.qp_lambda * dist)).mean()
            g = delta.mean()
        else:
            norm = critic.input_grad(_interp(x_r, x_f, seed)).norm(dim=1)
            pen = (cfg.gp_weight * ((norm - 1) ** 2).mean() if name == "wgan-gp"
                   else cfg.div_k * (norm ** cfg.div_p).mean())
            c = d_f.mean() - d_r.mean() + pen
            g = -d_f.mean()
    return c, g


@pytest.mark.parametrize("name", gan.LOSSES)
def test_losses_match_their_definitions(name, batch):
    x_r, x_f = batch
    cfg = gan.LossConfig(gp_weight=0.7, div_k=2.0, div_p=6.0, qp_lambda=3.0)
    critic = TanhCritic()
    ref_c, ref_g = _reference(name, critic, x_r, x_f, cfg, seed=5)
    got_c = gan.critic_loss(name, critic, x_r, x_f, cfg, torch.Generator().manual_seed(5))
    got_g = gan.generator_loss(name, critic, x_r, x_f, cfg)
    torch.testing.assert_close(got_c, ref_c, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_g, ref_g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", gan.LOSSES)
def test_gradients_flow_where_they_should(name, batch):
    x_r, x_f = (t.clone().requires_grad_(True) for t in batch)
    critic = TanhCritic()
    gan.critic_loss(name, critic, x_r, x_f).backward()
    assert x_f.grad is None, "the critic step must not reach the generator"
    assert critic.A.grad is not None
    critic.zero_grad()
    x_r.grad = None
    gan.generator_loss(name, critic, x_r, x_f).backward()
    assert x_f.grad is not None and torch.isfinite(x_f.grad).all()
    assert x_r.grad is None, "real samples carry no generator gradient"


def _table_critic(values):
    """A critic that is a free table over points 0, 1, ..., n-1 placed on the x-axis."""
    def critic(x):
        return values[x[:, 0].round().long()][:, None]
    return critic


def test_sgan_optimal_discriminator_is_p_over_p_plus_q():
    p = torch.tensor([0.5, 0.3, 0.2, 0.0])
    q = torch.tensor([0.1, 0.2, 0.3, 0.4])
    # real and fake batches whose empirical laws are exactly p and q (20 samples each)

    def pts(w):
        return torch.repeat_interleave(torch.arange(4.0), (20 * w).round().long())
    x_r = torch.stack([pts(p), torch.zeros(20)], 1)
    x_f = torch.stack([pts(q), torch.zeros(20)], 1)
    t = torch.zeros(4, requires_grad=True)
    opt = torch.optim.LBFGS([t], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = gan.critic_loss("sgan", _table_critic(t), x_r, x_f)
        loss.backward()
        return loss
    opt.step(closure)
    got = torch.sigmoid(t.detach())[:3]  # point 3 has p = 0: its optimum is D = -inf
    want = (p / (p + q))[:3]
    torch.testing.assert_close(got, want, atol=1e-3, rtol=0)


def test_gan_qp_optimal_difference_is_the_closed_form():
    # a free pairwise critic T(x, y) on 3 points of a line, trained with the library's loss
    # on all pairs of a real batch with law p and a fake batch with law q (10 samples each)
    p = torch.tensor([0.6, 0.3, 0.1])
    q = torch.tensor([0.2, 0.3, 0.5])
    pts = torch.tensor([0.0, 1.0, 3.0])
    lam = 2.0
    real = torch.repeat_interleave(torch.arange(3), (10 * p).round().long())
    fake = torch.repeat_interleave(torch.arange(3), (10 * q).round().long())
    i, j = torch.meshgrid(real, fake, indexing="ij")
    keep = i != j                    # equal points pair up with Delta = 0 and d = 0
    i, j = i[keep], j[keep]
    dist = (pts[i] - pts[j]).abs()
    T = torch.zeros(3, 3, requires_grad=True)
    opt = torch.optim.LBFGS([T], max_iter=500, tolerance_grad=1e-10,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = gan.gan_qp_critic(T[i, j], T[j, i], dist, lam)
        loss.backward()
        return loss
    opt.step(closure)
    a, b = p[:, None] * q[None, :], p[None, :] * q[:, None]   # p(x)q(y), p(y)q(x)
    d = (pts[:, None] - pts[None, :]).abs()
    want = lam * d * (a - b) / (a + b)
    got = (T - T.T).detach()
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def test_gan_qp_losses_match_numpy():
    d_r, d_f = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 1.0])
    dist = torch.tensor([2.0, 4.0])
    got = gan.gan_qp_critic(d_r, d_f, dist, lam=1.5)
    delta = np.array([0.5, -3.0])
    want = np.mean(-delta + delta**2 / (2 * 1.5 * np.array([2.0, 4.0])))
    assert float(got) == pytest.approx(want)
    assert float(gan.gan_qp_generator(d_r, d_f)) == pytest.approx(delta.mean())


def test_train_returns_frames_and_is_seeded():
    cfg = gan.GANConfig(loss="wgan-gp", steps=6, batch=32, width=16, critic_width=16)
    runs = [gan.train(cfg, toy2d.ring8(), seed=4, snapshots=(0, 3, 6), n_show=50,
                      progress=False) for _ in range(2)]
    a, b = runs
    assert [f.step for f in a.frames] == [0, 3, 6] and a.steps == 6
    assert a.frames[1].samples.shape == (50, 2) and a.frames[1].critic.shape == (48, 48)
    np.testing.assert_array_equal(a.frames[2].samples, b.frames[2].samples)
    assert len(a.d_loss) == len(a.g_loss) == 6 and a.diverged is None


def test_train_stops_on_nan_with_a_message():
    def bad(n, generator):
        x = torch.randn(n, 2, generator=generator)
        x[0, 0] = float("nan")
        return x
    cfg = gan.GANConfig(loss="sgan", steps=5, batch=8, width=8, critic_width=8)
    with pytest.raises(training.Diverged, match="critic loss became nan at step 0"):
        gan.train(cfg, bad, progress=False)
    run = gan.train(cfg, bad, progress=False, keep_partial=True)
    assert run.steps == 0 and isinstance(run.diverged, training.Diverged)


def test_train_respects_a_time_budget():
    cfg = gan.GANConfig(loss="gan-qp", steps=10_000, batch=16, width=8, critic_width=8)
    run = gan.train(cfg, toy2d.ring8(), max_seconds=0.2, progress=False)
    assert 0 < run.steps < 10_000


def test_train_runs_on_the_configured_threads_and_restores_them():
    before = torch.get_num_threads()
    seen = []

    def draw(n, generator):
        seen.append(torch.get_num_threads())
        return torch.randn(n, 2, generator=generator)
    gan.train(gan.GANConfig(steps=2, batch=8, width=8, critic_width=8), draw, progress=False)
    assert seen and set(seen) == {1}
    assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads must be >= 1"):
        gan.GANConfig(threads=0)


def test_bad_input_raises(batch):
    x_r, x_f = batch
    with pytest.raises(ValueError, match="unknown loss 'lsgan'; known: sgan, sgan-sat, "
                                         "wgan-gp, wgan-div, rsgan, gan-qp"):
        gan.critic_loss("lsgan", TanhCritic(), x_r, x_f)
    with pytest.raises(ValueError, match="unknown loss"):
        gan.generator_loss("wgan", TanhCritic(), x_r, x_f)
    with pytest.raises(ValueError, match="unknown loss"):
        gan.GANConfig(loss="gan_qp")
    with pytest.raises(ValueError, match="same shape"):
        gan.critic_loss("sgan", TanhCritic(), x_r, x_f[:3])
    with pytest.raises(ValueError, match=r"lambda must be a number in \(0.0, inf\)"):
        gan.gan_qp_critic(x_r[:, 0], x_f[:, 0], torch.ones(B), lam=0.0)
    with pytest.raises(ValueError, match="unknown activation"):
        gan.mlp(2, 1, 8, 2, activation="gelu")
    with pytest.raises(ValueError, match="steps must be >= 1"):
        gan.GANConfig(steps=0)
    with pytest.raises(ValueError, match="data must be"):
        gan.train(gan.GANConfig(steps=1), data=42, progress=False)
    assert math.isfinite(float(gan.critic_loss("sgan", TanhCritic(), x_r, x_f).detach()))


def test_fit_critic_reaches_the_optimal_values():
    # point masses at 0 and at 3 e1: SGAN's optimum is 0, GAN-QP's critic loss is
    # -(Delta - Delta^2 / (2 lam d)) at Delta = lam d, i.e. -lam d / 2
    x_r = torch.zeros(32, 2)
    x_f = torch.tensor([3.0, 0.0]).repeat(32, 1)
    torch.manual_seed(0)
    assert gan.fit_critic("sgan", gan.mlp(2, 1, 16, 2), x_r, x_f, steps=300, lr=1e-2) < 1e-3
    cfg = gan.LossConfig(qp_lambda=2.0)
    torch.manual_seed(0)
    got = gan.fit_critic("gan-qp", gan.mlp(2, 1, 16, 2), x_r, x_f, steps=400, lr=1e-2, cfg=cfg)
    assert got == pytest.approx(-2.0 * 3.0 / 2, abs=1e-3)
    with pytest.raises(ValueError, match="steps >= 1"):
        gan.fit_critic("sgan", gan.mlp(2, 1, 4, 1), x_r, x_f, steps=0)


def test_helpers_shapes_and_copies():
    cfg = gan.GANConfig()
    assert gan.with_loss(cfg, "rsgan").loss == "rsgan" and cfg.loss == "gan-qp"
    with pytest.raises(ValueError, match="unknown loss"):
        gan.with_loss(cfg, "nope")
    G = gan.mlp(3, 2, 8, 1)
    assert gan.sample(G, 7, 3).shape == (7, 2)
