"""book.representations.attention against independent references: NumPy loops,
torch.nn.functional, sklearn."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.cluster import KMeans

from book.representations import attention as A


def _rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


def _direct_attention(q, k, v, causal, scale=None):
    """Softmax attention one query at a time, in NumPy (float64)."""
    q, k, v = (t.numpy() for t in (q, k, v))
    s = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    out = np.zeros(q.shape[:-1] + (v.shape[-1],))
    for idx in np.ndindex(*q.shape[:-2]):
        for i in range(q.shape[-2]):
            last = i + 1 if causal else k.shape[-2]
            logit = np.array([s * q[idx][i] @ k[idx][j] for j in range(last)])
            w = np.exp(logit - logit.max())
            out[idx][i] = (w / w.sum()) @ v[idx][:last]
    return out


# --- padding masks and pooling -------------------------------------------------------

def test_padding_mask_and_pad_batch():
    m = A.padding_mask([2, 4, 1], n=5)
    expect = np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0], [1, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(m.numpy(), expect)
    seqs = [_rand(3, 2, seed=1), _rand(1, 2, seed=2)]
    x, mask = A.pad_batch(seqs, n=4, value=7.0)
    assert x.shape == (2, 4, 2) and mask.tolist() == [[1, 1, 1, 0], [1, 0, 0, 0]]
    torch.testing.assert_close(x[0, :3], seqs[0])
    assert (x[1, 1:] == 7.0).all()
    with pytest.raises(ValueError, match="at least 1"):
        A.padding_mask([2, 0])
    with pytest.raises(ValueError, match="shorter than the longest"):
        A.padding_mask([2, 5], n=3)
    with pytest.raises(ValueError, match="integer"):
        A.padding_mask([1.5, 2.0])
    with pytest.raises(ValueError, match="same d"):
        A.pad_batch([_rand(2, 3), _rand(2, 4)])
    with pytest.raises(ValueError, match="at least one"):
        A.pad_batch([])


def test_masked_mean_and_max_equal_unpadded_results_even_with_nan_padding():
    seqs = [_rand(n, 3, seed=n) for n in (5, 2, 7)]
    x, mask = A.pad_batch(seqs, n=9, value=float("nan"))
    mean, mx = A.masked_mean(x, mask), A.masked_max(x, mask)
    for b, s in enumerate(seqs):
        np.testing.assert_allclose(mean[b].numpy(), s.numpy().mean(0), rtol=1e-12)
        np.testing.assert_allclose(mx[b].numpy(), s.numpy().max(0), rtol=1e-12)
    with pytest.raises(ValueError, match="boolean with shape"):
        A.masked_mean(x, mask.float())
    with pytest.raises(ValueError, match="at least one unmasked"):
        A.masked_max(x, torch.zeros_like(mask))


# --- quadratic attention ----------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
def test_softmax_attention_matches_numpy_loop_and_torch(causal):
    q, k, v = _rand(2, 6, 4, seed=1), _rand(2, 6, 4, seed=2), _rand(2, 6, 3, seed=3)
    out = A.softmax_attention(q, k, v, causal=causal)
    np.testing.assert_allclose(out.numpy(), _direct_attention(q, k, v, causal), rtol=1e-12)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    torch.testing.assert_close(out, ref)
    out2 = A.softmax_attention(q, k, v, causal=causal, scale=0.3)
    np.testing.assert_allclose(out2.numpy(), _direct_attention(q, k, v, causal, 0.3),
                               rtol=1e-12)


def test_key_mask_matches_torch_and_zeroes_padded_weights():
    q, k, v = _rand(3, 5, 4, seed=4), _rand(3, 5, 4, seed=5), _rand(3, 5, 2, seed=6)
    mask = A.padding_mask([5, 3, 1])
    for causal in (False, True):
        w = A.attention_weights(q, k, causal=causal, key_mask=mask)
        torch.testing.assert_close(w.sum(-1), torch.ones(3, 5, dtype=torch.float64))
        assert (w[~mask.unsqueeze(1).expand_as(w)] == 0).all()
        allowed = mask[:, None, :] & (torch.ones(5, 5).tril().bool() if causal else True)
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed)
        torch.testing.assert_close(A.softmax_attention(q, k, v, causal=causal,
                                                       key_mask=mask), ref)
    # whatever sits in the padded keys and values, the result does not change
    k2, v2 = k.clone(), v.clone()
    k2[~mask], v2[~mask] = float("nan"), float("inf")
    torch.testing.assert_close(A.softmax_attention(q, k2, v2, key_mask=mask),
                               A.softmax_attention(q, k, v, key_mask=mask))


def test_attention_rejects_bad_input():
    q = _rand(4, 3)
    with pytest.raises(ValueError, match="same width"):
        A.attention_weights(q, _rand(4, 2))
    with pytest.raises(ValueError, match="as many queries as keys"):
        A.attention_weights(q, _rand(5, 3), causal=True)
    with pytest.raises(ValueError, match="key_mask must be boolean"):
        A.attention_weights(q, q, key_mask=torch.ones(4))
    with pytest.raises(ValueError, match="no key to attend"):
        A.attention_weights(q, q, key_mask=torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="same length"):
        A.softmax_attention(q, q, _rand(3, 2))


# --- vector quantisation ---------------------------------------------------------------

def test_quantise_picks_the_nearest_code():
    k, C = _rand(2, 30, 3, seed=7), _rand(5, 3, seed=8)
    k_hat, codes = A.quantise(k, C)
    dist = ((k.numpy()[..., None, :] - C.numpy()) ** 2).sum(-1)
    np.testing.assert_array_equal(codes.numpy(), dist.argmin(-1))
    torch.testing.assert_close(k_hat, C[codes])
    with pytest.raises(ValueError, match="codebook must have shape"):
        A.quantise(k, _rand(5, 4))


def test_kmeans_matches_sklearn_lloyd_from_the_same_start():
    x, init = _rand(200, 2, seed=9), _rand(6, 2, seed=10)
    ours = A.kmeans(x, 6, init=init)
    ref = KMeans(6, init=init.numpy(), n_init=1, algorithm="lloyd", tol=0,
                 max_iter=100).fit(x.numpy())
    order = lambda a: a[np.lexsort(a.T[::-1])]
    np.testing.assert_allclose(order(ours.numpy()), order(ref.cluster_centers_), rtol=1e-10)


def test_kmeans_plus_plus_is_seeded_and_exact_with_one_code_per_point():
    x = _rand(12, 3, seed=11)
    C = A.kmeans(x, 12, generator=torch.Generator().manual_seed(0))
    assert A.quantise(x, C)[0].sub(x).abs().max() == 0  # every point is its own code
    a = A.kmeans(x, 4, generator=torch.Generator().manual_seed(1))
    b = A.kmeans(x, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="between 1 and"):
        A.kmeans(x, 13)
    with pytest.raises(ValueError, match="distinct points"):
        A.kmeans(torch.zeros(5, 2), 2)
    with pytest.raises(ValueError, match="init must have shape"):
        A.kmeans(x, 4, init=_rand(3, 3))
    with pytest.raises(ValueError, match="shape \\(N, d\\)"):
        A.kmeans(x[0], 2)


# --- the linear-time form ----------------------------------------------------------------

@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block", [1, 3, 8, 64])
def test_vq_attention_equals_direct_quadratic_attention(causal, block):
    q, k, v = _rand(2, 19, 4, seed=12), _rand(2, 19, 4, seed=13), _rand(2, 19, 3, seed=14)
    C = _rand(5, 4, seed=15)
    k_hat, codes = A.quantise(k, C)
    out = A.vq_attention(q, C, codes, v, causal=causal, block=block)
    np.testing.assert_allclose(out.numpy(), _direct_attention(q, k_hat, v, causal),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("causal", [False, True])
def test_vq_attention_is_stable_for_large_logits_and_unused_codes(causal):
    q, v = 40 * _rand(24, 3, seed=16), _rand(24, 2, seed=17)
    C = 3 * _rand(8, 3, seed=18)
    codes = torch.tensor([0, 1, 2] * 8)  # codes 3..7 never used
    out = A.vq_attention(q, C, codes, v, causal=causal, block=5)
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(out.numpy(), _direct_attention(q, C[codes], v, causal),
                               rtol=1e-9, atol=1e-12)


def test_code_sums_match_a_one_hot_product():
    g = torch.Generator().manual_seed(4)
    codes = torch.randint(5, (2, 3, 17), generator=g)
    v = torch.randn(2, 3, 17, 4, generator=g, dtype=torch.float64)
    sums, counts = A.code_sums(codes, v, 6)
    delta = torch.nn.functional.one_hot(codes, 6).to(v.dtype)      # (2, 3, 17, 6)
    torch.testing.assert_close(sums, delta.transpose(-1, -2) @ v)
    torch.testing.assert_close(counts, delta.sum(-2))
    assert counts[..., 5].eq(0).all()                              # code 5 unused


def test_vq_attention_rejects_bad_input():
    q, v, C = _rand(6, 3), _rand(6, 2), _rand(4, 3)
    codes = torch.zeros(6, dtype=torch.long)
    with pytest.raises(ValueError, match="codebook must have shape"):
        A.vq_attention(q, _rand(4, 2), codes, v)
    with pytest.raises(ValueError, match="long tensor"):
        A.vq_attention(q, C, codes.float(), v)
    with pytest.raises(ValueError, match="must lie in"):
        A.vq_attention(q, C, codes + 4, v)
    with pytest.raises(ValueError, match="block must be"):
        A.vq_attention(q, C, codes, v, causal=True, block=0)


def test_distance_bias_formula():
    b = A.distance_bias(5, 3, 2.0)
    for h in range(3):
        for i in range(5):
            for j in range(5):
                assert b[h, i, j] == -2.0 / 2 ** h * abs(i - j)
