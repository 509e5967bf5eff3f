"""book.generative.gan_stack against the single runs of gan.train and plain autograd."""

import numpy as np
import pytest
import torch

from book import training
from book.generative import gan, gan_stack, toy2d

SMALL = gan.GANConfig(steps=4, batch=16, width=16, critic_width=16)


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_stacked_mlp_matches_each_network_and_unstacks(activation):
    torch.manual_seed(0)
    nets = [gan.mlp(2, 1, 16, 2, activation) for _ in range(3)]
    stack = gan_stack.StackedMLP(nets)
    x = torch.randn(3, 20, 2)
    out = stack(x)
    for m, net in enumerate(nets):
        torch.testing.assert_close(out[m], net(x[m]))
        torch.testing.assert_close(stack.unstack(m)(x[m]), net(x[m]))
    with pytest.raises(ValueError, match="input must be"):
        stack(x[:2])
    with pytest.raises(ValueError, match="same layer shapes"):
        gan_stack.StackedMLP([gan.mlp(2, 1, 16, 2), gan.mlp(2, 1, 8, 2)])


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh"])
def test_input_gradient_and_its_penalty_match_double_backward(activation):
    torch.manual_seed(1)
    nets = [gan.mlp(2, 1, 16, 2, activation) for _ in range(4)]
    stack = gan_stack.StackedMLP(nets)
    x = torch.randn(4, 30, 2)
    for runs in (None, [1, 3]):
        sel = list(range(4)) if runs is None else runs
        got = stack.input_gradient(x[sel], runs)
        for j, m in enumerate(sel):
            xm = x[m].clone().requires_grad_(True)
            (want,) = torch.autograd.grad(nets[m](xm).sum(), xm)
            torch.testing.assert_close(got[j], want)
    # the penalty's gradient with respect to the weights equals double backward's
    penalty = (stack.input_gradient(x).norm(dim=2) - 1).pow(2).mean()
    (got_w,) = torch.autograd.grad(penalty, stack.weights[0])
    xr = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(stack(xr).sum(), xr, create_graph=True)
    (want_w,) = torch.autograd.grad((g.norm(dim=2) - 1).pow(2).mean(), stack.weights[0])
    torch.testing.assert_close(got_w, want_w)


def test_a_stacked_run_is_the_single_run_of_its_seed():
    """Same initial weights, data, noise and penalty points: the first losses agree to
    rounding, for every loss and even with different seeds and data in one stack."""
    names, seeds = ["sgan", "wgan-gp", "wgan-div", "rsgan", "gan-qp"], [0, 3, 0, 1, 2]
    data = [toy2d.ring8(), toy2d.ring8(), toy2d.grid25(), toy2d.ring8(), toy2d.grid25()]
    cfgs = [gan.with_loss(SMALL, n) for n in names]
    stacked = gan_stack.train_stacked(cfgs, data, seeds, snapshots=(0, 2), n_show=10,
                                      progress=False)
    for cfg, mix, seed, run in zip(cfgs, data, seeds, stacked):
        solo = gan.train(cfg, mix, seed=seed, snapshots=(0, 2), n_show=10, progress=False)
        np.testing.assert_allclose(run.d_loss, solo.d_loss, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run.g_loss, solo.g_loss, rtol=1e-4, atol=1e-5)
        assert [f.step for f in run.frames] == [0, 2] and run.steps == 4
        np.testing.assert_allclose(run.frames[1].samples, solo.frames[1].samples, atol=1e-5)
        x = torch.randn(7, 2)
        torch.testing.assert_close(run.generator(x[:, :2]), solo.generator(x[:, :2]),
                                   atol=1e-5, rtol=1e-4)


def test_a_diverging_run_stops_alone():
    def bad(n, generator):
        x = torch.randn(n, 2, generator=generator)
        x[0, 0] = float("nan")
        return x
    cfgs = [gan.with_loss(SMALL, "sgan")] * 2
    good, broken = gan_stack.train_stacked(cfgs, [toy2d.ring8(), bad], [0, 0], progress=False)
    assert broken.diverged is not None and "critic loss became nan at step 0" in str(broken.diverged)
    assert good.diverged is None and good.steps == 4 and np.isfinite(good.g_loss).all()
    solo = gan.train(cfgs[0], toy2d.ring8(), seed=0, progress=False)
    np.testing.assert_allclose(good.g_loss, solo.g_loss, rtol=1e-4, atol=1e-5)
    assert isinstance(broken.diverged, training.Diverged)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="as many configs"):
        gan_stack.train_stacked([SMALL], [toy2d.ring8()] * 2, [0])
    with pytest.raises(ValueError, match="only in their loss"):
        gan_stack.train_stacked([SMALL, gan.GANConfig(steps=5)], [toy2d.ring8()] * 2, [0, 0])
    with pytest.raises(ValueError, match="data must be"):
        gan_stack.train_stacked([SMALL], [42], [0])
