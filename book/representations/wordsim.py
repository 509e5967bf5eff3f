"""Scoring word vectors against human similarity judgements, and nearest neighbours.

WordSim-353 (relatedness and similarity mixed) and SimLex-999 (similarity only) ship with
gensim as ``wordsim353.tsv`` and ``simlex999.txt``. A method is scored by Spearman's rank
correlation between the cosine similarities of its vectors and the human means, over the
pairs whose two words are both in the vocabulary; the other pairs are counted as
out-of-vocabulary. Used by chapters ``word2vec_as_svd`` and ``minimum_entropy_word_vectors``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import spearmanr

from book.representations.corpus import test_data

from book import seeding

BENCHMARKS = {"ws353": "wordsim353.tsv", "simlex": "simlex999.txt"}


def load_pairs(name: str) -> list[tuple[str, str, float]]:
    """The (word1, word2, human score) triples of a benchmark, words lower-cased."""
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    pairs = []
    with open(test_data(BENCHMARKS[name]), encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#") or not line.strip():
                continue
            a, b, score = line.rstrip("\n").split("\t")[:3]
            pairs.append((a.lower(), b.lower(), float(score)))
    return pairs


def split_pairs(pairs: list[tuple[str, str, float]]) -> tuple[list, list]:
    """(dev, test): a fixed half of the pairs each, by the parity of crc32("word1|word2").

    Seed-free on purpose: the benchmark that selects settings on the dev half and the chapter
    that reports the test half must see the same split under any ``BOOK_SEED``.
    """
    import zlib

    dev, test = [], []
    for a, b, score in pairs:
        (dev if zlib.crc32(f"{a}|{b}".encode("utf-8")) % 2 == 0 else test).append((a, b, score))
    if not dev or not test:
        raise ValueError(f"need pairs on both sides of the split, got {len(dev)} and {len(test)}")
    return dev, test


@dataclass(frozen=True)
class Score:
    rho: float     # Spearman's rank correlation over the pairs in vocabulary
    pairs: int     # pairs scored
    oov: int       # pairs skipped because a word is out of vocabulary
    pvalue: float  # two-sided p-value of rho = 0


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def _check(vectors, vocab):
    if not isinstance(vocab, dict):
        raise ValueError("vocab must be a dict word -> row index")
    vectors = np.asarray(vectors)
    if vectors.ndim != 2 or vectors.shape[0] < len(vocab):
        raise ValueError(f"vectors must be a 2-d array with a row per vocabulary word "
                         f"({len(vocab)}), got shape {vectors.shape}")
    return vectors


def evaluate(vectors: np.ndarray, vocab: dict[str, int],
             pairs: list[tuple[str, str, float]] | str) -> Score:
    """Spearman rho between cos(v_a, v_b) and the human scores (``pairs`` or a benchmark name)."""
    vectors = _check(vectors, vocab)
    if isinstance(pairs, str):
        pairs = load_pairs(pairs)
    known = [(vocab[a], vocab[b], s) for a, b, s in pairs if a in vocab and b in vocab]
    if len(known) < 3:
        raise ValueError(f"only {len(known)} of {len(pairs)} pairs are in the vocabulary; "
                         "need at least 3 to rank")
    unit = unit_rows(vectors)
    ia, ib, human = (np.array(x) for x in zip(*known))
    cos = np.einsum("ij,ij->i", unit[ia], unit[ib])
    result = spearmanr(cos, human)
    return Score(float(result.statistic), len(known), len(pairs) - len(known),
                 float(result.pvalue))


def nearest(vectors: np.ndarray, vocab: dict[str, int], word: str, k: int = 5) -> list[str]:
    """The ``k`` words with the highest cosine similarity to ``word`` (itself excluded)."""
    vectors = _check(vectors, vocab)
    if word not in vocab:
        raise ValueError(f"{word!r} is not in the vocabulary")
    if not 1 <= k < len(vocab):
        raise ValueError(f"k must be in [1, {len(vocab) - 1}], got {k}")
    unit = unit_rows(vectors[: len(vocab)])
    sims = unit @ unit[vocab[word]]
    sims[vocab[word]] = -np.inf
    best = np.argsort(-sims, kind="stable")[:k]
    words = np.empty(len(vocab), dtype=object)
    for w, i in vocab.items():
        words[i] = w
    return [words[i] for i in best]


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of x with the same row of y, shape (rows,): the Pearson
    correlation of the (tie-averaged) ranks."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    return (rx * ry).sum(axis=1) / np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))


def bootstrap_interval(vectors: np.ndarray, vocab: dict[str, int],
                       pairs: list[tuple[str, str, float]] | str, n_boot: int = 1000,
                       seed: int = 0) -> tuple[float, float, float]:
    """Spearman rho of ``vectors`` on ``pairs`` with a 95% bootstrap interval over the pairs:
    (rho, 2.5% quantile, 97.5% quantile)."""
    vectors = _check(vectors, vocab)
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100 for a 95% interval, got {n_boot}")
    if isinstance(pairs, str):
        pairs = load_pairs(pairs)
    known = [(vocab[a], vocab[b], s) for a, b, s in pairs if a in vocab and b in vocab]
    if len(known) < 3:
        raise ValueError(f"only {len(known)} pairs are in the vocabulary; need at least 3")
    ia, ib, human = (np.array(x) for x in zip(*known))
    unit = unit_rows(vectors)
    cos = np.einsum("ij,ij->i", unit[ia], unit[ib])
    idx = seeding.rng(seed).integers(0, len(known), size=(n_boot, len(known)))
    lo, hi = np.quantile(spearman_rows(cos[idx], human[idx]), [0.025, 0.975])
    return float(spearmanr(cos, human).statistic), float(lo), float(hi)


def bootstrap_difference(vectors_a: np.ndarray, vectors_b: np.ndarray, vocab: dict[str, int],
                         pairs: list[tuple[str, str, float]] | str, n_boot: int = 2000,
                         seed: int = 0) -> tuple[float, float, float]:
    """rho_a - rho_b on the same pairs, with a 95% paired bootstrap interval.

    The in-vocabulary pairs are resampled with replacement ``n_boot`` times and both rhos
    recomputed on each resample; returns (difference, 2.5% quantile, 97.5% quantile).
    """
    vectors_a, vectors_b = _check(vectors_a, vocab), _check(vectors_b, vocab)
    if n_boot < 100:
        raise ValueError(f"n_boot must be >= 100 for a 95% interval, got {n_boot}")
    if isinstance(pairs, str):
        pairs = load_pairs(pairs)
    known = [(vocab[a], vocab[b], s) for a, b, s in pairs if a in vocab and b in vocab]
    if len(known) < 3:
        raise ValueError(f"only {len(known)} pairs are in the vocabulary; need at least 3")
    ia, ib, human = (np.array(x) for x in zip(*known))
    cos = []
    for vec in (vectors_a, vectors_b):
        unit = unit_rows(vec)
        cos.append(np.einsum("ij,ij->i", unit[ia], unit[ib]))
    rng = seeding.rng(seed)
    idx = rng.integers(0, len(known), size=(n_boot, len(known)))  # (n_boot, pairs)
    diffs = spearman_rows(cos[0][idx], human[idx]) - spearman_rows(cos[1][idx], human[idx])
    point = spearmanr(cos[0], human).statistic - spearmanr(cos[1], human).statistic
    lo, hi = np.quantile(diffs, [0.025, 0.975])
    return float(point), float(lo), float(hi)
