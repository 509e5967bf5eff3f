"""Count-based word vectors: co-occurrence counts, (shifted) PPMI, truncated SVD.

The recipe that chapter ``word2vec_as_svd`` derives from skip-gram with negative sampling
(Levy & Goldberg 2014; Levy, Goldberg & Dagan 2015):

1. :func:`cooccurrence` -- sparse word-context counts #(w, c) in a symmetric window, with
   word2vec's dynamic window (distance-d pairs weighted (L - d + 1) / L) and subsampling;
2. :func:`ppmi` -- max(PMI(w, c) - log k, 0) with the context distribution smoothed,
   P_a(c) = #(c)^a / sum_c' #(c')^a;
3. :func:`truncated_svd` and :func:`weighted_vectors` -- M ~ U S V^T, word vectors U S^p.

:func:`ppmi_svd` runs the three steps and times them (:func:`ppmi_svd_from_counts` starts from
given counts); :func:`train_sgns` trains the neural peer, gensim's skip-gram with negative
sampling, on the same tokens. ``MIN_COUNT``, ``CHOSEN_SVD`` and ``CHOSEN_SGNS`` are the shared
vocabulary threshold and the winners of the grid in ``tools/bench_wordvec.py``. Chapter
``minimum_entropy_word_vectors`` reuses the counts for its graph Laplacian.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from book import seeding


def encode(docs: Sequence[Sequence[str]], vocab: dict[str, int]) -> list[np.ndarray]:
    """Each document as an int64 array of vocabulary indices; words not in ``vocab`` dropped.

    Dropping (not masking) out-of-vocabulary words is what word2vec does: they take no
    position, so the words around them become neighbours.
    """
    if isinstance(docs, str) or not isinstance(vocab, dict):
        raise ValueError("encode(docs, vocab) takes a list of token lists and a dict word -> index")
    out = []
    for doc in docs:
        if isinstance(doc, str):
            raise ValueError("docs must be a list of token lists, got a string as a document")
        ids = np.fromiter((vocab.get(t, -1) for t in doc), dtype=np.int64, count=len(doc))
        out.append(ids[ids >= 0])
    return out


def chunk(docs: Sequence[Sequence[str]], max_len: int = 10_000) -> list[list[str]]:
    """Cut documents into pieces of at most ``max_len`` tokens.

    gensim's Word2Vec silently truncates a sentence after 10,000 tokens; feeding both methods
    the same pieces keeps them on exactly the same text.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    return [list(d[i:i + max_len]) for d in docs for i in range(0, len(d), max_len)]


def keep_probability(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's (gensim's) subsampling: keep a token of word w with probability

    min(1, (sqrt(f_w / t) + 1) t / f_w),  f_w = #(w) / total,  t = ``sample``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if not sample > 0:
        raise ValueError(f"sample must be > 0 (or None for no subsampling), got {sample}")
    f = counts / counts.sum()
    with np.errstate(divide="ignore"):
        keep = (np.sqrt(f / sample) + 1.0) * sample / f
    return np.minimum(keep, 1.0)


def cooccurrence(ids: Sequence[np.ndarray], n_words: int, window: int = 5,
                 dynamic: bool = True, sample: float | None = None,
                 seed: int = 0) -> sp.csr_matrix:
    """Symmetric word-context counts #(w, c) as an (n_words, n_words) CSR matrix.

    A pair at distance d <= ``window`` counts 1, or (window - d + 1) / window if ``dynamic``
    (the expected weight under word2vec's uniformly shrunk window). With ``sample``, tokens are
    first dropped at random by :func:`keep_probability` (seeded), before windows are taken.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    if n_words < 1:
        raise ValueError(f"n_words must be >= 1, got {n_words}")
    ids = [np.asarray(x, dtype=np.int64) for x in ids]
    if any(x.size and (x.min() < 0 or x.max() >= n_words) for x in ids):
        raise ValueError(f"word ids must lie in [0, {n_words})")
    if sample is not None:
        rng = seeding.rng(seed)
        freq = np.bincount(np.concatenate(ids), minlength=n_words) if ids else np.zeros(n_words)
        keep = keep_probability(np.maximum(freq, 1), sample)
        ids = [x[rng.random(x.size) < keep[x]] for x in ids]
    rows, cols, vals = [], [], []
    for d in range(1, window + 1):
        # pairs (x_t, x_{t+d}) inside each document; the mirror pair is added below
        left = [x[:-d] for x in ids if x.size > d]
        if not left:
            continue
        rows.append(np.concatenate(left))
        cols.append(np.concatenate([x[d:] for x in ids if x.size > d]))
        vals.append(np.full(rows[-1].size, (window - d + 1) / window if dynamic else 1.0))
    if not rows:
        return sp.csr_matrix((n_words, n_words))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    half = sp.coo_matrix((v, (r, c)), shape=(n_words, n_words)).tocsr()
    return (half + half.T).tocsr()


def ppmi(counts: sp.spmatrix, alpha: float = 0.75, shift: float = 1.0) -> sp.csr_matrix:
    """Shifted positive PMI with context-distribution smoothing, as a CSR matrix.

    PMI_a(w, c) = log( #(w,c) / #(.,.) ) - log( #(w,.) / #(.,.) ) - log P_a(c),
    P_a(c) = #(.,c)^a / sum_c' #(.,c')^a;  entry = max(PMI_a - log ``shift``, 0).
    Only pairs seen at least once get an entry (unseen pairs have PMI = -inf).
    """
    if not 0 < alpha <= 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    if not shift >= 1:
        raise ValueError(f"shift k must be >= 1 (k negative samples), got {shift}")
    coo = sp.coo_matrix(counts)
    coo.sum_duplicates()
    coo.eliminate_zeros()
    if (coo.data < 0).any():
        raise ValueError("counts must be non-negative")
    total = coo.data.sum()
    row = np.asarray(coo.sum(axis=1)).ravel()
    col = np.asarray(coo.sum(axis=0)).ravel() ** alpha
    # log P(w,c) - log P(w) - log P_a(c) - log k, computed on the stored pairs only
    pmi = (np.log(coo.data) - np.log(row[coo.row]) - np.log(col[coo.col])
           + np.log(col.sum()) - np.log(shift))
    keep = pmi > 0
    return sp.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=coo.shape)


def truncated_svd(matrix, dim: int, tol: float = 1e-6):
    """The ``dim`` leading singular triplets of ``matrix``: (U (n, dim), s (dim,), Vt (dim, m)),
    s descending.

    ARPACK (``scipy.sparse.linalg.svds``) from a fixed start vector: converged to ``tol`` and
    repeatable. (A randomised SVD with few power iterations is faster, but its error moves
    the similarity scores by a few hundredths from one seed to the next.) The dense steps run
    on one BLAS thread: on a shared 2-core machine OpenBLAS's waiting threads make them many
    times slower, and one thread is what the gensim baseline gets too.
    """
    from scipy.sparse.linalg import svds
    from threadpoolctl import threadpool_limits

    n = min(matrix.shape)
    if not 1 <= dim < n:
        raise ValueError(f"dim must be in [1, {n - 1}], got {dim}")
    with threadpool_limits(limits=1, user_api="blas"):
        u, s, vt = svds(matrix, k=dim, tol=tol, v0=np.full(n, 1.0 / np.sqrt(n)))
    order = np.argsort(-s, kind="stable")
    return u[:, order], s[order], vt[order]


def weighted_vectors(u: np.ndarray, s: np.ndarray, p: float, dim: int | None = None) -> np.ndarray:
    """Word vectors U_d S_d^p from the first ``dim`` singular triplets (all if None)."""
    dim = len(s) if dim is None else dim
    if not 1 <= dim <= len(s):
        raise ValueError(f"dim must be in [1, {len(s)}], got {dim}")
    return u[:, :dim] * s[:dim] ** p


@dataclass(frozen=True)
class SVDConfig:
    """Settings of the PPMI-SVD pipeline (defaults: a common starting point, not the best)."""

    dim: int = 300
    window: int = 5
    p: float = 0.5       # eigenvalue weight: vectors U S^p
    shift: float = 1.0   # k in max(PMI - log k, 0)
    alpha: float = 0.75  # context-distribution smoothing
    dynamic: bool = True
    sample: float | None = None  # subsampling threshold t, or None
    seed: int = 0                # for the subsampling draws


@dataclass
class SVDResult:
    vectors: np.ndarray   # (V, dim) = U S^p
    u: np.ndarray         # (V, dim)
    s: np.ndarray         # (dim,)
    counts: sp.csr_matrix
    seconds: float        # counting + PPMI + SVD, wall time
    contexts: np.ndarray | None = None  # (V, dim) = V S^p, the context vectors

    def words_plus_contexts(self) -> np.ndarray:
        """w + c: word and context vectors added (Levy, Goldberg & Dagan 2015)."""
        return self.vectors + self.contexts


def ppmi_svd_from_counts(counts: sp.spmatrix, config: SVDConfig = SVDConfig()) -> SVDResult:
    """Shifted PPMI -> truncated SVD -> U S^p from given counts (timed from here)."""
    start = time.perf_counter()
    m = ppmi(counts, config.alpha, config.shift)
    u, s, vt = truncated_svd(m, config.dim)
    vectors = weighted_vectors(u, s, config.p)
    return SVDResult(vectors, u, s, sp.csr_matrix(counts), time.perf_counter() - start,
                     weighted_vectors(vt.T, s, config.p))


def ppmi_svd(ids: Sequence[np.ndarray], n_words: int, config: SVDConfig = SVDConfig()) -> SVDResult:
    """Counts -> shifted PPMI -> truncated SVD -> U S^p, with the wall time of all three."""
    start = time.perf_counter()
    counts = cooccurrence(ids, n_words, config.window, config.dynamic, config.sample, config.seed)
    result = ppmi_svd_from_counts(counts, config)
    result.seconds = time.perf_counter() - start
    return result


@dataclass(frozen=True)
class SGNSConfig:
    """gensim Word2Vec settings: skip-gram (sg=1) with negative sampling."""

    dim: int = 100
    window: int = 5
    negative: int = 5     # k, the number of negative samples
    epochs: int = 5
    sample: float = 1e-3  # gensim's default subsampling threshold
    alpha: float = 0.025  # initial learning rate, decayed linearly
    workers: int = 1      # one thread: a rebuild gives the same vectors
    seed: int = 0


def _stable_hash(text: str) -> int:
    # gensim seeds each word's initial vector by hashing it; Python's str hash changes
    # from one process to the next, crc32 does not
    import zlib

    return zlib.crc32(text.encode("utf-8"))


def train_sgns(sentences: Sequence[Sequence[str]], vocab: dict[str, int], min_count: int,
               config: SGNSConfig = SGNSConfig(), contexts: bool = False):
    """Train gensim's skip-gram with negative sampling; return (vectors, wall seconds), or
    (vectors, context vectors, wall seconds) with ``contexts``.

    Row ``vocab[w]`` of the result is gensim's input vector of ``w`` (and of the contexts,
    gensim's output vector ``syn1neg`` of ``w``); gensim's vocabulary (words seen at least
    ``min_count`` times) must be exactly ``vocab``'s words.
    """
    from gensim.models import Word2Vec

    if config.workers < 1 or config.epochs < 1 or config.dim < 1 or config.window < 1:
        raise ValueError(f"workers, epochs, dim and window must be >= 1, got {config}")
    start = time.perf_counter()
    model = Word2Vec(sentences, vector_size=config.dim, window=config.window, min_count=min_count,
                     sg=1, hs=0, negative=config.negative, epochs=config.epochs,
                     sample=config.sample, alpha=config.alpha, workers=config.workers,
                     seed=seeding.seed(config.seed), hashfxn=_stable_hash)
    seconds = time.perf_counter() - start
    if set(model.wv.key_to_index) != set(vocab):
        raise ValueError("gensim's vocabulary differs from vocab: build vocab from the same "
                         "sentences with the same min_count")
    order = [vocab[w] for w in model.wv.index_to_key]
    vectors = np.zeros((len(vocab), config.dim), dtype=np.float32)
    vectors[order] = model.wv.vectors
    if not contexts:
        return vectors, seconds
    context_vectors = np.zeros_like(vectors)
    context_vectors[order] = model.syn1neg
    return vectors, context_vectors, seconds


#: Vocabulary threshold shared by both methods (words seen at least this often).
MIN_COUNT = 5
#: The settings ``tools/bench_wordvec.py`` selects on the dev half of the similarity pairs
#: (``wordsim.split_pairs``), the same number of settings tried for each method.
CHOSEN_SVD = SVDConfig(dim=50, window=10, p=0.5, shift=1.0)
CHOSEN_SGNS = SGNSConfig(dim=50, window=10, negative=15, epochs=3, alpha=0.1)
#: What the word2vec_as_svd page trains itself, within its time budget: 3 passes at the
#: learning rate that the benchmark found best for 3 passes.
CHAPTER_SGNS = SGNSConfig(dim=50, window=10, epochs=3, alpha=0.1)
