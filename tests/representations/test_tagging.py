"""book.representations.tagging against independent references: the rule written as a Python
loop, Bayes accuracies by enumeration, conv receptive fields by autograd, a dict-free table."""

import itertools

import pytest
import torch

from book import training
from book.representations import tagging as tg


def test_rule_matches_a_python_loop():
    rule = tg.CoupletRule(vocab=8, offsets=(1, -2), seed=3)
    first, second = rule.sample(5, 9, torch.Generator().manual_seed(0))
    for b in range(5):
        x = first[b].tolist()
        for i in range(9):
            shift = (x[(i + 1) % 9] % 2) + 2 * (x[(i - 2) % 9] % 2)
            assert second[b, i].item() == (rule.perm[x[i]].item() + shift) % 8


def test_bayes_accuracy_by_enumerating_the_hidden_bits():
    rule = tg.CoupletRule(vocab=8, offsets=(1, -2, 3))
    for h in range(5):
        unseen = [o for o in rule.offsets if abs(o) > h]
        # every assignment of the unseen bits is equally likely and gives a different answer
        answers = {sum(2 ** rule.offsets.index(o) * bit for o, bit in zip(unseen, bits))
                   for bits in itertools.product([0, 1], repeat=len(unseen))}
        assert rule.bayes_accuracy(h) == 1 / len(answers)


def test_bad_rules_are_refused():
    with pytest.raises(ValueError, match="even vocab"):
        tg.CoupletRule(vocab=7)
    with pytest.raises(ValueError, match="distinct and non-zero"):
        tg.CoupletRule(vocab=8, offsets=(0, 1))
    with pytest.raises(ValueError, match="at least 5 tokens"):
        tg.CoupletRule(vocab=8, offsets=(1, -2)).sample(3, 4, torch.Generator())


@pytest.mark.parametrize("layers", [0, 1, 2, 3])
def test_influence_is_nonzero_exactly_within_the_receptive_field(layers):
    torch.manual_seed(layers)
    model = tg.ConvTagger(vocab=8, dim=6, layers=layers)
    tokens = torch.randint(0, 8, (15,))
    reach = (tg.receptive_field(layers) - 1) // 2
    inf = tg.influence(model, tokens, position=7)
    inside = torch.tensor([abs(j - 7) <= reach for j in range(15)])
    assert (inf[inside] > 0).all() and (inf[~inside] == 0).all()
    with pytest.raises(ValueError, match="kernel must be odd"):
        tg.receptive_field(2, kernel=4)


def test_gated_block_is_the_convex_mix_of_input_and_convolution():
    torch.manual_seed(0)
    block = tg.GatedResidualConv(4)
    x = torch.randn(2, 4, 7)
    conv = torch.nn.functional.conv1d(torch.cat([x[..., -1:], x, x[..., :1]], -1),
                                      block.conv.weight, block.conv.bias)
    h, g = conv[:, :4], torch.sigmoid(conv[:, 4:])
    torch.testing.assert_close(block(x), (1 - g) * x + g * h)


def test_table_accuracy_reaches_bayes_with_enough_data_and_falls_back():
    rule = tg.CoupletRule(vocab=4, offsets=(1,))
    g = torch.Generator().manual_seed(1)
    x, y = rule.sample(400, 8, g)
    xt, yt = rule.sample(200, 8, g)
    assert tg.table_accuracy(x, y, xt, yt, 1) == 1.0
    assert abs(tg.table_accuracy(x, y, xt, yt, 0) - 0.5) < 0.05
    # every test window of width 3 is unseen: the per-token table answers
    x, y = torch.tensor([[0, 1, 2, 3]]), torch.tensor([[1, 2, 3, 0]])
    xt = torch.tensor([[0, 2, 1, 3]])
    assert tg.table_accuracy(x, y, xt, torch.tensor([[1, 3, 2, 0]]), 1) == 1.0
    assert tg.table_accuracy(x, y, xt, torch.tensor([[1, 3, 2, 1]]), 1) == 0.75
    with pytest.raises(ValueError, match="no training lines"):
        tg.table_accuracy(x[:0], y[:0], xt, xt, 1)


def test_training_learns_a_local_rule_and_reports_divergence():
    rule = tg.CoupletRule(vocab=4, offsets=(1,))
    g = torch.Generator().manual_seed(2)
    x, y = rule.sample(300, 8, g)
    model = tg.train_tagger(x, y, 4, layers=1, config=tg.TagConfig(dim=8, steps=150), seed=0)
    assert tg.accuracy(model, x, y) > 0.95
    with pytest.raises(training.Diverged):
        tg.train_tagger(x, y, 4, layers=1, config=tg.TagConfig(dim=8, steps=50, lr=1e30), seed=0)
