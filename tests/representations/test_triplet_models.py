"""book.representations.triplet_models: the conditional layer norm and the losses against
formulas written out by hand, word dropout, training and bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from book import training
from book.representations import triplet_models as M
from book.representations import triplets as T

CFG = M.ExtractorConfig(dim=8, hidden=6, steps=5, batch=8)


def _data(n=24, seed=0):
    sentences = T.generate(n, 0.5, np.random.default_rng(seed))
    return sentences, M.tensors(sentences)


def test_object_logits_follow_the_conditional_layer_norm():
    model = M.make("pointer", CFG, 0)
    gen = torch.Generator().manual_seed(1)
    for lin in (model.gain, model.shift):
        lin.weight.data = torch.randn(lin.weight.shape, generator=gen)
        lin.bias.data = torch.randn(lin.bias.shape, generator=gen)
    h = torch.randn(3, 7, 12, generator=gen, dtype=torch.float32)
    span = torch.tensor([[0, 1], [2, 2], [4, 6]])
    got = model.object_logits(h, span)
    for b in range(3):
        s = torch.cat([h[b, span[b, 0]], h[b, span[b, 1]]])
        normed = (h[b] - h[b].mean(-1, keepdim=True)) / torch.sqrt(
            h[b].var(-1, unbiased=False, keepdim=True) + 1e-5)
        z = normed * (1 + model.gain.weight @ s + model.gain.bias) \
            + model.shift.weight @ s + model.shift.bias
        torch.testing.assert_close(got[b], model.object(z).view(7, len(T.PREDICATES), 2))


def test_fresh_conditioning_ignores_the_subject_and_the_ablation_always_does():
    h = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(2))
    model = M.make("pointer", CFG, 0)                    # zero-initialised gain and shift
    a = model.object_logits(h, torch.tensor([[0, 0], [1, 2]]))
    b = model.object_logits(h, torch.tensor([[3, 4], [0, 0]]))
    torch.testing.assert_close(a, b)
    # at init every pointer probability is sigmoid(PRIOR_LOGIT) plus the net's small part
    assert torch.sigmoid(a).mean() < 0.2
    plain = M.make("pointer", M.ExtractorConfig(dim=8, hidden=6, condition=False), 0)
    torch.nn.init.normal_(plain.gain.weight)
    torch.testing.assert_close(plain.object_logits(h, torch.tensor([[0, 0], [1, 2]])),
                               plain.object_logits(h, torch.tensor([[3, 4], [0, 0]])))


def test_pointer_loss_is_the_masked_bce_of_both_heads():
    sentences, data = _data()
    model = M.make("pointer", CFG, 0)
    idx = torch.tensor([0, 3, 5])
    loss = M.pointer_loss(model, data, idx, torch.Generator().manual_seed(7))
    rows = data.first[idx] + (torch.rand(3, generator=torch.Generator().manual_seed(7))
                              * data.count[idx]).long()
    total, tokens = 0.0, 0
    for k, i in enumerate(idx.tolist()):
        n = len(sentences[i].tokens)
        h = model.encoder(data.ids[i:i + 1])
        subj = torch.sigmoid(model.subject_logits(h))[0, :n]
        obj = torch.sigmoid(model.object_logits(h, data.spans[rows[k]][None]))[0, :n]
        subj_y, objs_y = T.pointer_targets(sentences[i].triples, n)
        obj_y = objs_y[tuple(data.spans[rows[k]].tolist())]
        for p, y in ((subj, subj_y), (obj, obj_y)):
            y = torch.as_tensor(y, dtype=torch.float32)
            total += -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum()
        tokens += n
    torch.testing.assert_close(loss, total / tokens, rtol=1e-4, atol=1e-5)


def test_tagger_loss_is_the_token_cross_entropy():
    sentences, data = _data()
    model = M.make("tagger", CFG, 0)
    idx = torch.tensor([1, 2])
    loss = M.tagger_loss(model, data, idx, torch.Generator())
    logits = [model(data.ids[i:i + 1])[0, :len(sentences[i].tokens)] for i in idx.tolist()]
    tags = [torch.as_tensor(T.to_tags(sentences[i].triples, len(sentences[i].tokens)))
            for i in idx.tolist()]
    torch.testing.assert_close(loss, F.cross_entropy(torch.cat(logits), torch.cat(tags)))


def test_word_dropout_replaces_real_tokens_only():
    ids = torch.tensor([[5, 6, 7, 0, 0]])
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(M.dropped(ids, 0.0, gen), ids)
    unk = T.VOCAB[T.UNK]
    assert M.dropped(ids, 1.0, gen).tolist() == [[unk, unk, unk, 0, 0]]


def test_training_lowers_the_loss_and_predicts_sets():
    sentences, data = _data(n=64)
    cfg = M.ExtractorConfig(dim=16, hidden=16, steps=40, batch=32, record_every=20)
    for kind in M.KINDS:
        model = M.make(kind, cfg, 0)
        seen = []
        with training.torch_threads(1):
            run = M.train(model, data, cfg, 1, record=lambda step, m: seen.append(step))
        assert seen == [0, 20, 40]
        assert np.mean(run["losses"][-10:]) < 0.5 * np.mean(run["losses"][:5])
        predicted = M.predict(model, sentences[:5])
        assert len(predicted) == 5 and all(isinstance(p, set) for p in predicted)


def test_divergence_and_bad_arguments_are_reported():
    _, data = _data()
    broken = M.make("tagger", CFG, 0)
    broken.out.bias.data[0] = float("inf")                 # a weight that has blown up
    with pytest.raises(training.Diverged, match="loss became nan at step 0; lower lr"):
        M.train(broken, data, CFG, 0)
    with pytest.raises(ValueError, match="unknown extractor 'crf'; known: pointer, tagger"):
        M.make("crf", CFG, 0)
    with pytest.raises(ValueError, match="word_dropout"):
        M.ExtractorConfig(word_dropout=1.0)
    with pytest.raises(ValueError, match="steps"):
        M.ExtractorConfig(steps=0)
    with pytest.raises(ValueError, match="at least one triple"):
        M.tensors([T.Sentence(["ada", "."])])
