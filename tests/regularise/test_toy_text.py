"""Tests of book/regularise/toy_text.py: the task is what it says, the bag model computes
mean-of-embeddings logits, standardisation fixes the scale, embedding FGM trains."""

from __future__ import annotations

import pytest
import torch

from book import training
from book.regularise import adversarial, toy_text


def _task(**kw):
    args = dict(vocab=60, polar=8, length=6, n_train=120, n_test=300,
                generator=torch.Generator().manual_seed(0))
    args.update(kw)
    return toy_text.sentiment_task(**args)


def test_sentiment_task_labels_are_the_sign_of_the_polarity():
    task = _task()
    assert task.tokens.shape == (120, 6) and task.test_tokens.shape == (300, 6)
    for tokens, labels in ((task.tokens, task.labels), (task.test_tokens, task.test_labels)):
        total = task.polarity[tokens].sum(1)
        assert (total != 0).all()
        assert torch.equal(labels, (total > 0).long())
    assert int((task.polarity == 1).sum()) == 8 and int((task.polarity == -1).sum()) == 8
    assert (task.polarity[:10] == 0).all()                     # the most frequent words are neutral
    ranks = torch.arange(1, 61, dtype=torch.float64)
    torch.testing.assert_close(task.frequency.double(), (1 / ranks) / (1 / ranks).sum(),
                               rtol=1e-6, atol=0)


@pytest.mark.parametrize("kwargs, match", [
    (dict(polar=30), "2 \\* polar must be at most vocab - neutral_top"),
    (dict(length=0), "length must be an integer >= 1"),
    (dict(neutral_top=-1), "neutral_top must be an integer >= 0"),
])
def test_sentiment_task_rejects_bad_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        _task(**kwargs)


def test_stacked_bag_computes_mean_embedding_logits():
    gens = [torch.Generator().manual_seed(s) for s in (1, 2)]
    bag = toy_text.StackedBag(2, 20, 4, n_classes=3, generators=gens)
    tokens = torch.randint(0, 20, (5, 7), generator=torch.Generator().manual_seed(3))
    out = bag(tokens)
    assert out.shape == (2, 5, 3)
    for m in range(2):
        ref = bag.table[m][tokens].mean(1) @ bag.weight[m] + bag.bias[m]
        torch.testing.assert_close(out[m], ref)
    # the gradient of one word's embedding is the same for every position: W (p - 1_y) / T
    emb = bag.lookup(tokens).detach().requires_grad_(True)
    y = torch.zeros(2, 5, dtype=torch.long)
    g = adversarial.input_gradient(adversarial.cross_entropy_rows(bag.classify, y), emb)
    torch.testing.assert_close(g, g[:, :, :1].expand_as(g))


def test_standardised_table_has_weighted_mean_zero_and_unit_variance():
    weights = torch.arange(1.0, 31.0)
    bag = toy_text.StackedBag(3, 30, 5, standardise=[True, False, True], weights=weights,
                              generators=[torch.Generator().manual_seed(s) for s in range(3)])
    with torch.no_grad():
        bag.table.mul_(7.0).add_(2.0)                          # any scale and offset
    emb = bag.embeddings()
    w = (weights / weights.sum())[None, :, None]
    for m in (0, 2):
        torch.testing.assert_close((w[0] * emb[m]).sum(0), torch.zeros(5), atol=1e-5, rtol=0)
        torch.testing.assert_close((w[0] * emb[m] ** 2).sum(0), torch.ones(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(emb[1], bag.table[1])
    scale = bag.scale()
    torch.testing.assert_close(scale[[0, 2]], torch.full((2,), 5**0.5), rtol=1e-5, atol=0)
    torch.testing.assert_close(scale[1], ((w[0, :, 0] * bag.table[1].square().sum(1)).sum()).sqrt())


def test_stacked_bag_rejects_mismatched_runs():
    with pytest.raises(ValueError, match="one generator and one standardise flag per run"):
        toy_text.StackedBag(2, 10, 3, standardise=[True])
    with pytest.raises(ValueError, match="dim must be an integer >= 1"):
        toy_text.StackedBag(1, 10, 0)


def test_train_bags_learns_and_fgm_grows_a_raw_table():
    task = _task(vocab=80, polar=10, n_train=300)
    bag = toy_text.train_bags(task, ["plain", "fgm", "plain", "fgm"], [0, 0, 1, 1], 2.0,
                              standardise=[False, False, True, True], steps=150, lr=5e-2)
    assert not bag.training
    acc = (bag(task.test_tokens).argmax(-1) == task.test_labels).float().mean(1)
    assert (acc > 0.8).all(), acc
    scale = bag.scale().detach()
    assert scale[1] > 1.3 * scale[0]                            # the raw table grows under FGM
    torch.testing.assert_close(scale[2:], torch.full((2,), 8**0.5), rtol=1e-4, atol=0)


def test_train_bags_runs_are_independent_and_plain_ignores_eps():
    task = _task()
    both = toy_text.train_bags(task, ["plain", "fgm"], [4, 5], 1.0, steps=20)
    alone = toy_text.train_bags(task, ["plain"], [4], 3.0, steps=20)
    torch.testing.assert_close(both.table[0], alone.table[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(both.weight[0], alone.weight[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    (dict(methods=["plain", "pgd"], seeds=[0, 1]), r"unknown methods \['pgd'\]; known: plain, fgm"),
    (dict(seeds=[0, 1]), "one seed per method"),
    (dict(eps=0.0), r"eps must be a number in \(0.0, inf\)"),
    (dict(standardise=[True, False]), "one generator and one standardise flag per run"),
])
def test_train_bags_rejects_bad_input(kwargs, match):
    args = dict(task=_task(), methods=["plain"], seeds=[0], eps=1.0, steps=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        toy_text.train_bags(**args)


def test_train_bags_stops_on_nan():
    task = _task()
    with pytest.raises(training.Diverged, match="training diverged: loss of run 0"):
        toy_text.train_bags(task, ["fgm"], [0], 1e300, steps=5)     # the step overflows float32
