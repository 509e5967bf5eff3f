"""Tests for book/representations/wordvec.py and book/representations/wordsim.py against
direct, dense references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.stats import rankdata

from book.representations import corpus, wordsim, wordvec

DOCS = [["a", "b", "c", "a", "b"], ["c", "c", "d", "a"], ["b"]]
VOCAB = {"a": 0, "b": 1, "c": 2, "d": 3}


def naive_counts(ids, n, window, dynamic):
    """#(w, c) by a double loop over every position and every neighbour."""
    out = np.zeros((n, n))
    for doc in ids:
        for t, w in enumerate(doc):
            for s, c in enumerate(doc):
                d = abs(s - t)
                if 1 <= d <= window:
                    out[w, c] += (window - d + 1) / window if dynamic else 1.0
    return out


def test_encode_drops_unknown_words():
    ids = wordvec.encode([["a", "x", "b"], ["y"]], VOCAB)
    assert [x.tolist() for x in ids] == [[0, 1], []]
    with pytest.raises(ValueError, match="token lists"):
        wordvec.encode(["ab"], VOCAB)


def test_chunk():
    docs = [list("abcdefg"), list("xy")]
    assert wordvec.chunk(docs, 3) == [list("abc"), list("def"), ["g"], ["x", "y"]]
    with pytest.raises(ValueError, match="max_len"):
        wordvec.chunk(docs, 0)


@pytest.mark.parametrize("window,dynamic", [(1, False), (2, True), (3, False), (5, True)])
def test_cooccurrence_matches_double_loop(window, dynamic):
    rng = np.random.default_rng(window)
    ids = [rng.integers(0, 7, size=n) for n in (0, 1, 4, 13, 30)]
    got = wordvec.cooccurrence(ids, 7, window, dynamic).toarray()
    np.testing.assert_allclose(got, naive_counts(ids, 7, window, dynamic))
    np.testing.assert_allclose(got, got.T)


def test_cooccurrence_subsampling():
    rng = np.random.default_rng(0)
    ids = [rng.integers(0, 5, size=2000)]
    # a huge threshold keeps every token: the plain counts come back
    same = wordvec.cooccurrence(ids, 5, 2, False, sample=1e9).toarray()
    np.testing.assert_allclose(same, naive_counts(ids, 5, 2, False))
    # a small one drops tokens: fewer pairs, seeded so repeatable
    a = wordvec.cooccurrence(ids, 5, 2, False, sample=0.05, seed=1)
    b = wordvec.cooccurrence(ids, 5, 2, False, sample=0.05, seed=1)
    assert (a != b).nnz == 0 and a.sum() < same.sum()


def test_keep_probability_matches_gensim():
    from gensim.models import Word2Vec

    docs = corpus.lee_documents()
    model = Word2Vec(min_count=1, sample=1e-3)
    model.build_vocab(docs)
    words = model.wv.index_to_key
    counts = np.array([model.wv.get_vecattr(w, "count") for w in words])
    ref = np.array([model.wv.get_vecattr(w, "sample_int") for w in words]) / 2.0**32
    np.testing.assert_allclose(wordvec.keep_probability(counts, 1e-3), ref, rtol=1e-6)


def test_cooccurrence_rejects_bad_input():
    with pytest.raises(ValueError, match="window"):
        wordvec.cooccurrence([np.array([0, 1])], 2, window=0)
    with pytest.raises(ValueError, match="word ids"):
        wordvec.cooccurrence([np.array([0, 5])], 2)
    with pytest.raises(ValueError, match="sample"):
        wordvec.keep_probability(np.array([1, 2]), 0.0)


@pytest.mark.parametrize("alpha,shift", [(1.0, 1.0), (0.75, 1.0), (0.75, 5.0)])
def test_ppmi_matches_dense_numpy(alpha, shift):
    rng = np.random.default_rng(3)
    counts = rng.poisson(0.8, size=(9, 9)).astype(float)
    counts[0, 0] = 40.0
    n = counts.sum()
    pw = counts.sum(1) / n
    pc = counts.sum(0) ** alpha / (counts.sum(0) ** alpha).sum()
    with np.errstate(divide="ignore"):
        pmi = np.log(counts / n / np.outer(pw, pc)) - np.log(shift)
    ref = np.where(counts > 0, np.maximum(pmi, 0), 0)
    np.testing.assert_allclose(wordvec.ppmi(sp.csr_matrix(counts), alpha, shift).toarray(), ref,
                               atol=1e-12)


def test_ppmi_rejects_bad_input():
    c = sp.csr_matrix(np.ones((3, 3)))
    with pytest.raises(ValueError, match="alpha"):
        wordvec.ppmi(c, alpha=0)
    with pytest.raises(ValueError, match="shift"):
        wordvec.ppmi(c, shift=0.5)
    with pytest.raises(ValueError, match="non-negative"):
        wordvec.ppmi(sp.csr_matrix(-np.ones((3, 3))))


def test_truncated_svd_matches_numpy():
    rng = np.random.default_rng(0)
    # a matrix with a clear spectrum: the leading triplets are well separated
    q1, _ = np.linalg.qr(rng.standard_normal((60, 60)))
    q2, _ = np.linalg.qr(rng.standard_normal((40, 40)))
    s_true = 2.0 ** -np.arange(40.0)
    a = q1[:, :40] * s_true @ q2.T
    u, s, vt = wordvec.truncated_svd(sp.csr_matrix(a), 6)
    u0, s0, vt0 = np.linalg.svd(a, full_matrices=False)
    np.testing.assert_allclose(s, s0[:6], rtol=1e-6)
    # same subspaces: the projectors agree
    np.testing.assert_allclose(u @ u.T, u0[:, :6] @ u0[:, :6].T, atol=1e-6)
    np.testing.assert_allclose(vt.T @ vt, vt0[:6].T @ vt0[:6], atol=1e-6)
    with pytest.raises(ValueError, match="dim"):
        wordvec.truncated_svd(sp.csr_matrix(a), 40)


def test_weighted_vectors():
    u = np.arange(12.0).reshape(4, 3)
    s = np.array([4.0, 2.0, 1.0])
    np.testing.assert_allclose(wordvec.weighted_vectors(u, s, 0.5, 2), u[:, :2] * [2.0, 2 ** 0.5])
    np.testing.assert_allclose(wordvec.weighted_vectors(u, s, 1.0), u @ np.diag(s))
    with pytest.raises(ValueError, match="dim"):
        wordvec.weighted_vectors(u, s, 0.5, 4)


def test_ppmi_svd_pipeline_equals_its_steps():
    ids = wordvec.encode(corpus.lee_documents()[:60], corpus.vocabulary(
        corpus.lee_documents()[:60], 3))
    n = int(max(x.max() for x in ids if x.size)) + 1
    cfg = wordvec.SVDConfig(dim=8, window=3, p=0.5, shift=2.0)
    res = wordvec.ppmi_svd(ids, n, cfg)
    m = wordvec.ppmi(wordvec.cooccurrence(ids, n, 3, True), 0.75, 2.0)
    u, s, _ = wordvec.truncated_svd(m, 8)
    np.testing.assert_allclose(res.vectors, u * np.sqrt(s))
    assert res.seconds > 0 and res.counts.shape == (n, n)
    again = wordvec.ppmi_svd_from_counts(res.counts, cfg)
    np.testing.assert_allclose(again.vectors, res.vectors)
    assert again.seconds > 0


def test_train_sgns_is_gensim_reordered_and_repeatable():
    from gensim.models import Word2Vec

    docs = corpus.lee_documents()[:100]
    vocab = corpus.vocabulary(docs, 3)
    cfg = wordvec.SGNSConfig(dim=16, epochs=2)
    vec, sec = wordvec.train_sgns(docs, vocab, 3, cfg)
    vec2, _ = wordvec.train_sgns(docs, vocab, 3, cfg)
    np.testing.assert_array_equal(vec, vec2)  # one worker, stable hash: repeatable
    model = Word2Vec(docs, vector_size=16, window=5, min_count=3, sg=1, negative=5, epochs=2,
                     workers=1, seed=0, hashfxn=wordvec._stable_hash)
    for w in ["the", "australia", "police"]:
        np.testing.assert_array_equal(vec[vocab[w]], model.wv[w])
    assert sec > 0
    with pytest.raises(ValueError, match="vocabulary differs"):
        wordvec.train_sgns(docs, corpus.vocabulary(docs, 4), 3, cfg)
    with pytest.raises(ValueError, match=">= 1"):
        wordvec.train_sgns(docs, vocab, 3, wordvec.SGNSConfig(epochs=0))


# --- wordsim ---------------------------------------------------------------------------

def test_load_pairs():
    ws, sl = wordsim.load_pairs("ws353"), wordsim.load_pairs("simlex")
    assert len(ws) == 353 and len(sl) == 999
    assert ("tiger", "cat", 7.35) in ws and ("smart", "intelligent", 9.2) in sl
    assert all(a == a.lower() and b == b.lower() for a, b, _ in ws + sl)
    with pytest.raises(ValueError, match="known: ws353, simlex"):
        wordsim.load_pairs("men")


def test_evaluate_against_rank_correlation_by_hand():
    rng = np.random.default_rng(0)
    vocab = {w: i for i, w in enumerate("abcdefgh")}
    vec = rng.standard_normal((8, 4))
    pairs = [(a, b, float(rng.integers(0, 4))) for a, b in itertools.combinations("abcdefgh", 2)]
    pairs += [("a", "zzz", 1.0), ("yyy", "b", 2.0)]
    score = wordsim.evaluate(vec, vocab, pairs)
    known = pairs[:-2]
    unit = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    cos = [unit[vocab[a]] @ unit[vocab[b]] for a, b, _ in known]
    # Spearman = Pearson correlation of the (tie-averaged) ranks
    ref = np.corrcoef(rankdata(cos), rankdata([s for *_, s in known]))[0, 1]
    assert score.pairs == 28 and score.oov == 2
    assert score.rho == pytest.approx(ref, abs=1e-12)
    with pytest.raises(ValueError, match="at least 3"):
        wordsim.evaluate(vec, vocab, [("a", "b", 1.0), ("x", "y", 2.0)])
    with pytest.raises(ValueError, match="row per vocabulary word"):
        wordsim.evaluate(vec[:3], vocab, pairs)


def test_nearest_brute_force():
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(20)]
    vocab = {w: i for i, w in enumerate(words)}
    vec = rng.standard_normal((20, 5))
    cos = {w: vec[vocab[w]] @ vec[0] / np.linalg.norm(vec[vocab[w]]) / np.linalg.norm(vec[0])
           for w in words[1:]}
    assert wordsim.nearest(vec, vocab, "w0", 4) == sorted(cos, key=cos.get, reverse=True)[:4]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        wordsim.nearest(vec, vocab, "nope")
    with pytest.raises(ValueError, match="k must be"):
        wordsim.nearest(vec, vocab, "w0", 0)


def test_bootstrap_difference():
    rng = np.random.default_rng(2)
    vocab = {f"w{i}": i for i in range(40)}
    a = rng.standard_normal((40, 5))
    b = a + 0.5 * rng.standard_normal((40, 5))
    pairs = [(f"w{i}", f"w{j}", float(a[i] @ a[j])) for i in range(40) for j in range(i + 1, 40)
             if (i + j) % 7 == 0]
    diff, lo, hi = wordsim.bootstrap_difference(a, b, vocab, pairs, n_boot=500)
    ra, rb = (wordsim.evaluate(v, vocab, pairs).rho for v in (a, b))
    assert diff == pytest.approx(ra - rb) and lo <= diff <= hi and lo > 0  # a is clearly better
    same = wordsim.bootstrap_difference(a, a, vocab, pairs, n_boot=100)
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="n_boot"):
        wordsim.bootstrap_difference(a, b, vocab, pairs, n_boot=10)


def test_spearman_rows_against_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(3)
    x = rng.integers(0, 6, size=(5, 30)).astype(float)   # ties on purpose
    y = rng.standard_normal((5, 30))
    ref = [spearmanr(x[i], y[i]).statistic for i in range(5)]
    np.testing.assert_allclose(wordsim.spearman_rows(x, y), ref, atol=1e-12)


def test_split_pairs_is_a_fixed_partition():
    from book.representations import wordsim

    pairs = wordsim.load_pairs("ws353")
    dev, test = wordsim.split_pairs(pairs)
    assert len(dev) + len(test) == len(pairs) and not set(dev) & set(test)
    assert (dev, test) == wordsim.split_pairs(pairs)                 # seed-free
    assert 0.4 < len(dev) / len(pairs) < 0.6


def test_bootstrap_interval_brackets_the_rho():
    from book.representations import wordsim

    rng = np.random.default_rng(0)
    vocab = {f"w{i}": i for i in range(40)}
    vectors = rng.normal(size=(40, 5))
    pairs = [(f"w{i}", f"w{j}", float(rng.normal())) for i in range(40) for j in range(i)][:200]
    rho, lo, hi = wordsim.bootstrap_interval(vectors, vocab, pairs, n_boot=500)
    assert lo < rho < hi
    assert abs(rho - wordsim.evaluate(vectors, vocab, pairs).rho) < 1e-12


def test_svd_contexts_are_v_s_to_the_p():
    import scipy.sparse as sp

    rng = np.random.default_rng(1)
    dense = rng.poisson(2.0, size=(30, 30)).astype(float)
    counts = sp.csr_matrix(dense + dense.T)
    cfg = wordvec.SVDConfig(dim=4, p=0.5)
    res = wordvec.ppmi_svd_from_counts(counts, cfg)
    m = wordvec.ppmi(counts, cfg.alpha, cfg.shift).toarray()
    u, s, vt = np.linalg.svd(m)
    # U S V^T restricted to rank 4 is the same whichever signs the solvers pick
    np.testing.assert_allclose(res.vectors @ res.contexts.T,
                               (u[:, :4] * s[:4]) @ vt[:4], atol=1e-8)
    np.testing.assert_allclose(res.words_plus_contexts(), res.vectors + res.contexts)
