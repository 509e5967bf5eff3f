"""Tests of book/regularise/robust_training.py: stacked runs train as if alone, the methods
do what they say, and bad input is rejected."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from book import training
from book.regularise import adversarial, robust_training


def _toy(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 6, generator=g)
    y = (x[:, :3].sum(1) > x[:, 3:].sum(1)).long() + (x[:, 0] > 0.8).long()   # 3 classes
    return x, y


CFG = robust_training.StackConfig(hidden=8, depth=1, steps=25, batch=32, lr=1e-2)


def _weights(net, m):
    return [w[m].detach().clone() for w in net.weights] + [b[m].detach().clone() for b in net.biases]


@pytest.mark.parametrize("method", ["plain", "noise", "fgm", "fgsm", "gp"])
def test_a_stacked_run_equals_the_same_run_alone(method):
    x, y = _toy()
    methods = ["plain", "noise", "fgm", "fgsm", "gp"]
    stack = robust_training.train_adversarial(x, y, methods, [1, 2, 3, 4, 5], 0.3, CFG, 3,
                                              progress=False)
    m = methods.index(method)
    alone = robust_training.train_adversarial(x, y, [method], [m + 1], 0.3, CFG, 3, progress=False)
    for a, b in zip(_weights(stack, m), _weights(alone, 0)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fgm_run_follows_its_definition_for_one_step():
    """One step of 'fgm' = one Adam step on 1/2 (l(x) + l(x + eps g/||g||)) at the first batch."""
    x, y = _toy()
    cfg = robust_training.StackConfig(hidden=8, depth=1, steps=1, batch=32, lr=1e-2)
    net = robust_training.train_adversarial(x, y, ["fgm"], [7], 0.3, cfg, 3, progress=False)
    ref, opt, gens = robust_training._stack(6, 3, [7], cfg)
    idx = robust_training._batch(gens, len(x), 32)
    xb, yb = x[idx], y[idx]
    loss = adversarial.cross_entropy_rows(ref, yb)
    g = adversarial.input_gradient(loss, xb)
    delta = 0.3 * g / g.norm(dim=-1, keepdim=True)
    value = 0.5 * (loss(xb).mean() + loss(xb + delta).mean())
    opt.zero_grad()
    value.backward()
    opt.step()
    for a, b in zip(_weights(net, 0), _weights(ref, 0)):
        torch.testing.assert_close(a, b)


def test_adversarial_training_makes_a_model_more_robust():
    x, y = _toy(200)
    cfg = robust_training.StackConfig(hidden=16, depth=1, steps=150, batch=64, lr=1e-2)
    net = robust_training.train_adversarial(x, y, ["plain", "fgm"], [0, 0], 0.2, cfg, 3,
                                            progress=False)
    assert not net.training
    xs, ys = x.expand(2, -1, -1), y.expand(2, -1)
    robust = robust_training.accuracy(net, adversarial.pgd(net, xs, ys, 0.2), ys)
    assert robust[1] > robust[0] + 0.05


@pytest.mark.parametrize("kwargs, match", [
    (dict(methods=["plain", "wild"], seeds=[0, 1]), r"unknown methods \['wild'\]; known: plain"),
    (dict(methods=["plain"], seeds=[0, 1]), "one seed per method"),
    (dict(eps=0.0), r"eps must be a number in \(0.0, inf\)"),
])
def test_train_adversarial_rejects_bad_input(kwargs, match):
    x, y = _toy(10)
    args = dict(x=x, y=y, methods=["plain"], seeds=[0], eps=0.1, cfg=CFG, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        robust_training.train_adversarial(**args)


def test_train_adversarial_stops_on_nan():
    x, y = _toy(10)
    x[0, 0] = float("nan")
    with pytest.raises(training.Diverged, match="at step 0"):
        robust_training.train_adversarial(x, y, ["plain"], [0], 0.1, CFG, 3, progress=False)


# ---------------------------------------------------------------- semi-supervised

def test_semi_supervised_runs_are_independent_of_their_neighbours():
    x, y = _toy()
    lab = robust_training.labelled_subset(y, 4, torch.Generator().manual_seed(0))
    methods, seeds, eps = ["supervised", "noise", "vat"], [3, 4, 5], [1.0, 0.5, 0.2]
    stack = robust_training.train_semi_supervised(x, y, [lab] * 3, methods, seeds, eps, cfg=CFG,
                                                  n_classes=3, progress=False)
    for m in range(3):
        alone = robust_training.train_semi_supervised(x, y, [lab], [methods[m]], [seeds[m]], eps[m],
                                                      cfg=CFG, n_classes=3, progress=False)
        for a, b in zip(_weights(stack, m), _weights(alone, 0)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_supervised_run_ignores_the_unlabelled_digits():
    """With weight 0 every method is plain cross-entropy on the labelled rows."""
    x, y = _toy()
    lab = robust_training.labelled_subset(y, 4, torch.Generator().manual_seed(1))
    nets = [robust_training.train_semi_supervised(x, y, [lab], [m], [2], 0.5, weight=0.0, cfg=CFG,
                                                  n_classes=3, progress=False)
            for m in ("supervised", "noise", "vat")]
    for other in nets[1:]:
        for a, b in zip(_weights(nets[0], 0), _weights(other, 0)):
            torch.testing.assert_close(a, b)


@pytest.mark.parametrize("kwargs, match", [
    (dict(labelled=[]), "one set of labelled indices per run"),
    (dict(eps=[0.1, 0.2]), r"need one eps per run \(1\)"),
    (dict(methods=["vat2"]), r"unknown methods \['vat2'\]"),
    (dict(weight=-1.0), r"weight must be a number in \[0.0, inf\)"),
])
def test_train_semi_supervised_rejects_bad_input(kwargs, match):
    x, y = _toy(30)
    args = dict(x=x, y=y, labelled=[torch.arange(6)], methods=["vat"], seeds=[0], eps=0.1,
                cfg=CFG, progress=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        robust_training.train_semi_supervised(**args)


def test_labelled_subset_takes_per_class_examples():
    y = torch.tensor([0, 1, 2] * 10)
    idx = robust_training.labelled_subset(y, 4, torch.Generator().manual_seed(0))
    assert len(set(idx.tolist())) == 12
    assert torch.bincount(y[idx]).tolist() == [4, 4, 4]
    with pytest.raises(ValueError, match="class 0 has 10 examples, fewer than per_class=11"):
        robust_training.labelled_subset(y, 11)


# ---------------------------------------------------------------- toy model, accuracy

def test_three_blobs_and_fit_smooth():
    x, y = robust_training.three_blobs(50, generator=torch.Generator().manual_seed(0))
    assert x.shape == (150, 2) and x.dtype == torch.float64 and torch.bincount(y).tolist() == [50] * 3
    net = robust_training.fit_smooth(x, y, hidden=8, steps=200)
    assert not net.training and next(net.parameters()).dtype == torch.float64
    assert any(isinstance(m, torch.nn.Tanh) for m in net)
    assert (net(x).argmax(1) == y).double().mean() > 0.85
    with pytest.raises(ValueError, match="spread must be a number"):
        robust_training.three_blobs(spread=0.0)


def test_accuracy_of_shared_and_per_run_inputs():
    x, y = _toy(40)
    net = robust_training.train_adversarial(x, y, ["plain", "plain"], [0, 1], 0.1, CFG, 3,
                                            progress=False)
    shared = robust_training.accuracy(net, x, y)
    per_run = robust_training.accuracy(net, x.expand(2, -1, -1), y.expand(2, -1))
    torch.testing.assert_close(shared, per_run)
    ref = (net.unstack(1)(x).argmax(1) == y).float().mean()
    torch.testing.assert_close(shared[1], ref)
    assert F.one_hot(y).shape == (40, 3)
