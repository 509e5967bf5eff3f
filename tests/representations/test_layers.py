"""book.representations.layers against independent references: explicit formulas,
per-sequence runs of torch's own modules (nn.GRU bidirectional, packed sequences), Python
loops."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from book.representations import attention, layers


def _padded(lengths, d, seed=0, value=float("nan")):
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randn(n, d, generator=g) for n in lengths]
    x, mask = attention.pad_batch(seqs, n=max(lengths) + 2, value=value)
    return seqs, x, mask


def test_two_layer_dense_is_the_composition_of_its_linears():
    torch.manual_seed(0)
    m = layers.TwoLayerDense(5, 7, 3, hidden_activation="relu", output_activation="sigmoid")
    x = torch.randn(4, 5)
    ref = torch.sigmoid(F.linear(torch.relu(F.linear(x, m.hidden.weight, m.hidden.bias)),
                                 m.out.weight, m.out.bias))
    torch.testing.assert_close(m(x), ref)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        layers.TwoLayerDense(2, 2, 2, hidden_activation="gelu")


def test_tied_output_reuses_the_embedding_matrix():
    torch.manual_seed(1)
    emb = nn.Embedding(11, 4)
    head = layers.TiedOutput(emb)
    h = torch.randn(3, 4)
    torch.testing.assert_close(head(h), F.linear(h, emb.weight, head.bias))
    assert head.embedding.weight is emb.weight
    model = nn.ModuleDict({"emb": emb, "head": head})
    assert sum(p.numel() for p in model.parameters()) == 11 * 4 + 11  # counted once
    with pytest.raises(ValueError, match="nn.Embedding"):
        layers.TiedOutput(nn.Linear(4, 11))


def test_reverse_padded_matches_a_loop():
    seqs, x, mask = _padded([4, 1, 6], 2, value=0.0)
    out = layers.reverse_padded(x, mask)
    for b, s in enumerate(seqs):
        torch.testing.assert_close(out[b, : len(s)], s.flip(0))
        torch.testing.assert_close(out[b, len(s):], x[b, len(s):])


def test_masked_attention_equals_each_sequence_alone():
    torch.manual_seed(2)
    att = layers.MaskedSelfAttention(3, 5)
    seqs, x, mask = _padded([4, 7, 2], 3)
    out = att(x, mask)
    for b, s in enumerate(seqs):
        torch.testing.assert_close(out[b, : len(s)], att(s[None])[0])
        assert (out[b, len(s):] == 0).all()
    # the reference without the module: softmax over the real keys only, by hand
    s = seqs[0]
    q, k, v = att.q(s), att.k(s), att.v(s)
    w = torch.softmax(q @ k.T / np.sqrt(5), dim=-1)
    torch.testing.assert_close(out[0, :4], att.o(w @ v))


def test_masked_bigru_equals_torch_bidirectional_gru_per_sequence_and_packed():
    torch.manual_seed(3)
    bi = layers.MaskedBiGRU(3, 4)
    ref = nn.GRU(3, 4, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for name, p in bi.forward_gru.named_parameters():
            getattr(ref, name).copy_(p)
            getattr(ref, name + "_reverse").copy_(getattr(bi.backward_gru, name))
    seqs, x, mask = _padded([5, 2, 7], 3)
    out = bi(x, mask)
    for b, s in enumerate(seqs):
        torch.testing.assert_close(out[b, : len(s)], ref(s[None])[0][0])
        assert (out[b, len(s):] == 0).all()
    packed = pack_padded_sequence(torch.nan_to_num(x), mask.sum(1), batch_first=True,
                                  enforce_sorted=False)
    unpacked = pad_packed_sequence(ref(packed)[0], batch_first=True,
                                   total_length=x.shape[1])[0]
    torch.testing.assert_close(out, unpacked)


def test_sequence_layers_reject_bad_masks():
    att, bi = layers.MaskedSelfAttention(2, 2), layers.MaskedBiGRU(2, 2)
    x = torch.randn(2, 4, 2)
    with pytest.raises(ValueError, match="boolean with shape"):
        att(x, torch.ones(2, 4))
    with pytest.raises(ValueError, match="1...1 0...0"):
        bi(x, torch.tensor([[1, 0, 1, 1], [1, 1, 0, 0]], dtype=torch.bool))
    with pytest.raises(ValueError, match="shape \\(B, n, d\\)"):
        layers.reverse_padded(x[0], torch.ones(4, dtype=torch.bool))


def test_pre_ln_block_against_a_written_out_reference():
    torch.manual_seed(4)
    blk = layers.PreLNBlock(8, 2, 16).double()
    x = torch.randn(3, 5, 8, dtype=torch.float64)
    bias = attention.distance_bias(5, 2, 1.0).double()
    h = F.layer_norm(x, (8,), blk.ln1.weight, blk.ln1.bias)
    qkv = h @ blk.qkv.weight.T + blk.qkv.bias
    out = []
    for head in range(2):
        q, k, v = (qkv[..., s * 8 + head * 4: s * 8 + head * 4 + 4] for s in range(3))
        w = torch.softmax(q @ k.transpose(1, 2) / 2.0 + bias[head], dim=-1)
        out.append(w @ v)
    y = x + torch.cat(out, -1) @ blk.proj.weight.T + blk.proj.bias
    h2 = F.layer_norm(y, (8,), blk.ln2.weight, blk.ln2.bias)
    ff = F.gelu(h2 @ blk.ff[0].weight.T + blk.ff[0].bias) @ blk.ff[2].weight.T + blk.ff[2].bias
    torch.testing.assert_close(blk(x, bias), y + ff)
    with pytest.raises(ValueError, match="not divisible"):
        layers.PreLNBlock(10, 3, 8)


def test_masked_max_pool_matches_torch_max_pool_on_each_sequence():
    g = torch.Generator().manual_seed(3)
    seqs = [torch.randn(n, 4, generator=g, dtype=torch.float64) for n in (5, 8, 1, 7)]
    x, mask = attention.pad_batch(seqs, n=11, value=float("nan"))   # NaN padding must not leak
    pool = layers.MaskedMaxPool(3)
    out, out_mask = pool(x, mask), pool.compute_mask(x, mask)
    assert out.shape == (4, 4, 4)
    for b, s in enumerate(seqs):
        # torch's own pooling of the unpadded sequence, a partial last window included
        ref = torch.nn.functional.max_pool1d(s.T[None], 3, stride=3, ceil_mode=True)[0].T
        assert out_mask[b].tolist() == [i < len(ref) for i in range(4)]
        torch.testing.assert_close(out[b, : len(ref)], ref)
        assert (out[b, len(ref):] == 0).all()


def test_masked_sequential_propagates_the_mask_like_the_unpadded_stack():
    torch.manual_seed(0)
    stack = layers.MaskedSequential(layers.MaskedEmbedding(20, 6), layers.MaskedSelfAttention(6, 4),
                                    layers.MaskedMaxPool(2), layers.MaskedBiGRU(6, 3)).double()
    g = torch.Generator().manual_seed(1)
    lengths = [7, 2, 10]
    ids = torch.zeros(3, 13, dtype=torch.long)
    for b, n in enumerate(lengths):
        ids[b, :n] = torch.randint(1, 20, (n,), generator=g)
    steps = stack.trace(ids)
    for b, n in enumerate(lengths):
        alone = stack.trace(ids[b:b + 1, :n])
        for (y, m), (y1, m1) in zip(steps, alone):
            assert m1.all() and m[b].sum() == m1.shape[1]
            torch.testing.assert_close(y[b, : m1.shape[1]], y1[0])
    out, mask = stack(ids)
    assert mask.sum(1).tolist() == [4, 1, 5]          # ceil(L / 2) after the pooling
    assert torch.equal(out, steps[-1][0])


def test_masked_embedding_and_pool_arguments():
    emb = layers.MaskedEmbedding(5, 2)
    ids = torch.tensor([[3, 1, 0, 0]])
    assert emb.compute_mask(ids).tolist() == [[True, True, False, False]]
    with pytest.raises(ValueError, match="integer token ids"):
        emb.compute_mask(torch.zeros(1, 4))
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="k must be an integer"):
            layers.MaskedMaxPool(bad)
