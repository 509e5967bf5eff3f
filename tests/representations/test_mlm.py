"""Tests for book/representations/mlm.py, each against an independent reference (closed
forms, direct formulas, torch.nn.functional, NumPy), plus the ValueErrors for bad input."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from book.representations import mlm, mlm_probe


def small_model(vocab=30, d=16, seq_len=8, seed=0):
    torch.manual_seed(seed)
    return mlm.TinyMLM(mlm.MLMConfig(vocab, seq_len=seq_len, d_model=d, n_heads=2, d_ff=32)).eval()


# ------------------------------------------------------------------ dropout and masking

@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_mean_and_variance_match_the_closed_form(p):
    g = torch.Generator().manual_seed(0)
    x = torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64).expand(200_000, 3)
    y = mlm.dropout(x, p, g)
    # E = x, Var = x^2 p / (1 - p); 5 standard errors of tolerance
    var = x[0] ** 2 * p / (1 - p)
    assert torch.all((y.mean(0) - x[0]).abs() < 5 * (var / len(y)).sqrt())
    torch.testing.assert_close(y.var(0), var, rtol=0.03, atol=0)
    # survivors are exactly x / (1 - p), the rest exactly 0
    assert torch.all((y == 0) | torch.isclose(y, x / (1 - p)))
    z = mlm.dropout(x, p, torch.Generator().manual_seed(0), rescale=False)
    torch.testing.assert_close(z, y * (1 - p))


def test_mask_positions_rate_and_bad_rates():
    m = mlm.mask_positions((400, 500), 0.15, torch.Generator().manual_seed(1))
    assert m.dtype == torch.bool and abs(m.float().mean().item() - 0.15) < 0.005
    for bad in (-0.1, 1.0, 1.5, "0.1", True, float("nan")):
        with pytest.raises(ValueError, match="p must be"):
            mlm.mask_positions((3,), bad)
        with pytest.raises(ValueError, match="p must be"):
            mlm.dropout(torch.ones(3), bad)


def test_input_embeddings_follow_the_three_formulas():
    g = torch.Generator().manual_seed(2)
    table = torch.randn(10, 4, generator=g, dtype=torch.float64)
    ids = torch.randint(2, 10, (3, 5), generator=g)
    masked = torch.rand(3, 5, generator=g) < 0.4
    p, m = 0.3, table[mlm.MASK_ID]
    e = table.numpy()[ids.numpy()]
    ref_none = np.where(masked.numpy()[..., None], m.numpy(), e)
    ref_pre = np.where(masked.numpy()[..., None], m.numpy(), (e - p * m.numpy()) / (1 - p))
    np.testing.assert_allclose(mlm.input_embeddings(table, ids, p, masked), ref_none)
    np.testing.assert_allclose(mlm.input_embeddings(table, ids, p, masked, "pretrain"), ref_pre)
    np.testing.assert_allclose(mlm.input_embeddings(table, ids, p, masked, "finetune"), ref_none)
    np.testing.assert_allclose(mlm.input_embeddings(table, ids, p), e)
    np.testing.assert_allclose(mlm.input_embeddings(table, ids, p, None, "finetune"),
                               (1 - p) * e + p * m.numpy())


def test_finetune_correction_is_the_mean_over_masks():
    g = torch.Generator().manual_seed(3)
    table = torch.randn(6, 3, generator=g, dtype=torch.float64)
    ids = torch.tensor([[2, 3, 4, 5]]).expand(40_000, 4)
    masked = mlm.mask_positions(ids.shape, 0.25, g)
    mean = mlm.input_embeddings(table, ids, 0.25, masked).mean(0)
    fixed = mlm.input_embeddings(table, ids[:1], 0.25, None, "finetune")[0]
    torch.testing.assert_close(mean, fixed, atol=0.03, rtol=0)
    mean_pre = mlm.input_embeddings(table, ids, 0.25, masked, "pretrain").mean(0)
    torch.testing.assert_close(mean_pre, table[ids[0]], atol=0.04, rtol=0)


def test_input_embeddings_bad_input():
    table, ids = torch.randn(5, 2), torch.zeros(2, 3, dtype=torch.long)
    with pytest.raises(ValueError, match="unknown correction 'both'; known: none, finetune"):
        mlm.input_embeddings(table, ids, 0.1, None, "both")
    with pytest.raises(ValueError, match="masked has shape"):
        mlm.input_embeddings(table, ids, 0.1, torch.zeros(2, 2, dtype=torch.bool))


# ------------------------------------------------------------------ data

ARTICLES = [["a", "b", "a", "c", "a", "b", "d"], ["b", "a", "e", "a", "c"]]


def test_build_vocab_specials_then_by_frequency():
    vocab = mlm.build_vocab(ARTICLES, 5)
    assert vocab == {"<unk>": 0, "[MASK]": 1, "a": 2, "b": 3, "c": 4}
    with pytest.raises(ValueError, match="size must be an integer >= 3"):
        mlm.build_vocab(ARTICLES, 2)


def test_encode_windows_cuts_each_article_and_maps_unknowns():
    vocab = mlm.build_vocab(ARTICLES, 5)
    ids, doc = mlm.encode_windows(ARTICLES, vocab, 3)
    ref = [[vocab.get(w, 0) for w in art[i:i + 3]]
           for art in ARTICLES for i in range(0, len(art) - 2, 3)]
    assert ids.tolist() == ref and doc.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match="seq_len must be an integer >= 2"):
        mlm.encode_windows(ARTICLES, vocab, 1)
    with pytest.raises(ValueError, match="no article has 9 tokens"):
        mlm.encode_windows(ARTICLES, vocab, 9)


# ------------------------------------------------------------------ model

def test_hidden_states_and_tied_logits():
    model = small_model()
    ids = torch.randint(2, 30, (4, 8))
    states = model.hidden_states(ids, 0.2)
    assert len(states) == model.cfg.n_layers + 2
    torch.testing.assert_close(states[0], model.tok.weight[ids])
    torch.testing.assert_close(states[-1], F.layer_norm(states[-2], (16,), model.norm.weight,
                                                        model.norm.bias))
    torch.testing.assert_close(model.logits(states[-1]),
                               F.linear(states[-1], model.tok.weight, model.bias))
    with pytest.raises(ValueError, match="ids must be"):
        model.hidden_states(torch.zeros(2, 9, dtype=torch.long), 0.2)


def test_pretrain_and_finetune_corrections_are_a_reparametrisation():
    p = 0.3
    a = small_model(seed=5)
    b = copy.deepcopy(a)
    with torch.no_grad():  # table of b: (1 - p) E + p m, which keeps the [MASK] row m
        b.tok.weight.copy_((1 - p) * a.tok.weight + p * a.tok.weight[mlm.MASK_ID])
    ids = torch.randint(2, 30, (4, 8))
    masked = mlm.mask_positions(ids.shape, p, torch.Generator().manual_seed(0))
    for x, y in zip(a.hidden_states(ids, p, masked), b.hidden_states(ids, p, masked, "pretrain")):
        torch.testing.assert_close(x, y)
    for x, y in zip(a.hidden_states(ids, p, None, "finetune"), b.hidden_states(ids, p)):
        torch.testing.assert_close(x, y)


def test_mlm_loss_is_cross_entropy_at_the_masked_positions():
    model = small_model()
    ids = torch.randint(2, 30, (4, 8))
    ids[:, ::3] = mlm.UNK_ID  # <unk> is context, never a target
    loss = mlm.mlm_loss(model, ids, 0.3, torch.Generator().manual_seed(6))
    masked = mlm.mask_positions(ids.shape, 0.3, torch.Generator().manual_seed(6))
    x = model.tok.weight[ids].clone()
    x[masked] = model.tok.weight[mlm.MASK_ID]
    for blk in model.blocks:
        x = blk(x, model.attn_bias)
    logits = model.norm(x) @ model.tok.weight.T + model.bias
    target = masked & (ids != mlm.UNK_ID)
    assert target.sum() < masked.sum()
    logp = torch.log_softmax(logits[target], -1)
    ref = -logp[torch.arange(int(target.sum())), ids[target]].mean()
    torch.testing.assert_close(loss, ref)
    only_unk = torch.full((2, 8), mlm.UNK_ID)
    with torch.no_grad():
        assert float(mlm.mlm_loss(model, only_unk, 0.5, torch.Generator().manual_seed(1))) == 0.0


def test_unigram_entropy_leaves_out_unk():
    windows = torch.tensor([[0, 0, 2, 3], [2, 2, 3, 0]])
    freq = np.array([3, 2]) / 5   # word 2 three times, word 3 twice; <unk> ignored
    assert mlm.unigram_entropy(windows, 5) == pytest.approx(-(freq * np.log(freq)).sum())


def test_train_mlm_learns_to_copy_the_context():
    # every window repeats one word: the masked word is the word of its neighbours
    windows = torch.arange(2, 10)[:, None].expand(8, 8).repeat(4, 1)
    cfg = mlm.MLMConfig(10, seq_len=8, d_model=16, n_heads=2, d_ff=32, n_layers=1)
    model, losses = mlm.train_mlm(windows, 0.25, cfg,
                                  mlm.TrainConfig(steps=30, batch=16, lr=3e-2, warmup=5))
    assert losses[0] > math.log(8) - 0.3 and np.mean(losses[-10:]) < 0.25 * losses[0]
    assert not model.training
    with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\)"):
        mlm.train_mlm(windows, 0.0, cfg)
    with pytest.raises(ValueError, match="init has shape"):
        mlm.train_mlm(windows, 0.1, cfg, init=torch.zeros(3, 3))


# ------------------------------------------------------------------ statistics and probe

def test_split_gap_is_unbiased_where_the_naive_estimate_is_not():
    g = torch.Generator().manual_seed(7)
    a, t = torch.ones(2000, dtype=torch.float64), torch.full((2000,), 1.1, dtype=torch.float64)
    exact = 0.1  # |a - t| / |a|
    assert mlm_probe.split_gap(a, a, t) == pytest.approx(exact)
    noise = 0.5  # standard deviation of each half-mean
    est, naive = [], []
    for _ in range(20):
        h1 = a + noise * torch.randn(2000, generator=g, dtype=torch.float64)
        h2 = a + noise * torch.randn(2000, generator=g, dtype=torch.float64)
        est.append(mlm_probe.split_gap(h1, h2, t))
        naive.append(float((((h1 + h2) / 2 - t).norm() / a.norm())))
    assert abs(np.mean(est) - exact) < 0.02
    assert np.mean(naive) > 0.3  # sqrt(0.01 + 0.125): the variance floor
    with pytest.raises(ValueError, match="shapes differ"):
        mlm_probe.split_gap(a, a[:3], t)
    with pytest.raises(ValueError, match="no positive overlap"):
        mlm_probe.split_gap(a, -a, t)


def test_activation_stats_at_the_input_match_the_theory():
    p = 0.4
    model = small_model(seed=8)
    ids = torch.randint(2, 30, (64, 8), generator=torch.Generator().manual_seed(8))
    st = mlm_probe.activation_stats(model, ids, p, samples=64, seed=1)
    e, m = model.tok.weight[ids].detach(), model.tok.weight[mlm.MASK_ID].detach()
    mean = (1 - p) * e + p * m
    exact = float((p * (m - e)).norm() / mean.norm())
    assert st.gap_fixed[0] < 0.05
    assert st.gap_raw[0] == pytest.approx(exact, rel=0.1)
    assert st.norm_raw[0] == pytest.approx(float(e.norm(dim=-1).mean()), rel=1e-5)
    assert st.norm_fixed[0] == pytest.approx(float(mean.norm(dim=-1).mean()), rel=1e-5)
    # E|x| over masks: (1 - p)|e| + p|m| per position
    ref_pre = float(((1 - p) * e.norm(dim=-1) + p * m.norm()).mean())
    assert st.norm_pre[0] == pytest.approx(ref_pre, rel=0.03)
    assert len(st.gap_raw) == model.cfg.n_layers + 2
    with pytest.raises(ValueError, match="samples must be even"):
        mlm_probe.activation_stats(model, ids, p, samples=3)
    with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\)"):
        mlm_probe.activation_stats(model, ids, 0.0)


def test_pooled_features_are_the_mean_final_state():
    model = small_model()
    ids = torch.randint(2, 30, (5, 8))
    ref = model.hidden_states(ids, 0.2, None, "finetune")[-1].mean(1)
    torch.testing.assert_close(mlm_probe.pooled_features(model, ids, 0.2, "finetune"), ref)


def test_probe_accuracy_separable_and_random():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 60)
    x = rng.normal(size=(180, 5)) + 4 * np.eye(5)[y]
    assert mlm_probe.probe_accuracy(torch.tensor(x), torch.tensor(y)).min() > 0.95
    noise = mlm_probe.probe_accuracy(torch.tensor(rng.normal(size=(180, 5))), torch.tensor(y))
    assert abs(noise.mean() - 1 / 3) < 0.15
    with pytest.raises(ValueError, match="180 feature rows but 3 labels"):
        mlm_probe.probe_accuracy(torch.tensor(x), torch.tensor(y[:3]))
    with pytest.raises(ValueError, match="folds must be an integer >= 2"):
        mlm_probe.probe_accuracy(torch.tensor(x), torch.tensor(y), folds=1)


def test_finetune_classifier_learns_a_separable_task_and_leaves_the_model():
    model = small_model(vocab=12)
    before = copy.deepcopy(model.state_dict())
    labels = torch.arange(60) % 2
    windows = torch.where(labels[:, None] == 1, torch.tensor(5), torch.tensor(7)).expand(60, 8)
    rows = torch.arange(60)
    loss, acc = mlm_probe.finetune_classifier(model, windows.clone(), labels, rows[:40], rows[40:],
                                              0.2, "finetune",
                                              mlm_probe.FinetuneConfig(steps=30, lr=1e-2))
    assert acc == 1.0 and loss < 0.2
    for k, v in model.state_dict().items():
        torch.testing.assert_close(v, before[k])
    with pytest.raises(ValueError, match="labels"):
        mlm_probe.finetune_classifier(model, windows, labels[:5], rows, rows, 0.2)
