"""Tests for book/representations/corpus.py: the corpora against a direct parse, the cache,
the vocabulary."""

from __future__ import annotations

import bz2
import concurrent.futures as cf
import gzip
import pickle

import pytest

from book.representations import corpus


@pytest.fixture()
def private_cache(tmp_path, monkeypatch):
    """Point the disk cache at a temp folder and empty the memory cache."""
    monkeypatch.setattr(corpus, "cache_dir", lambda: tmp_path)
    monkeypatch.setattr(corpus, "_memory", {})
    return tmp_path


def test_wiki_matches_a_direct_parse_and_is_lower_case():
    docs = corpus.wiki_articles()
    # reference: gensim's own iteration over the dump, with default settings
    from gensim.corpora.wikicorpus import WikiCorpus

    ref = list(WikiCorpus(str(corpus.test_data(corpus.WIKI_FILE)), dictionary={}).get_texts())
    assert docs == ref
    assert len(docs) > 100 and sum(map(len, docs)) > 400_000
    assert all(t == t.lower() and 2 <= len(t) <= 15 for d in docs[:10] for t in d)
    assert all(len(d) >= 50 for d in docs)
    with bz2.open(corpus.test_data(corpus.WIKI_FILE), "rt", encoding="utf-8") as fh:
        head = fh.read(200_000).lower()
    assert "anarchism" in head and docs[0][0] == "anarchism"


def test_lee_is_simple_preprocess_per_line():
    from gensim.utils import simple_preprocess

    docs = corpus.lee_documents()
    with open(corpus.test_data(corpus.LEE_FILE), encoding="utf-8") as fh:
        ref = [simple_preprocess(line) for line in fh if line.strip()]
    assert docs == ref and len(docs) == 300


def test_results_are_copies():
    a = corpus.lee_documents()
    a[0].append("zzzz")
    a.append(["x"])
    b = corpus.lee_documents()
    assert b[0][-1] != "zzzz" and len(b) == 300


def test_disk_cache_written_read_and_rebuilt(private_cache):
    calls = []

    def build():
        calls.append(1)
        return [["a", "b"], ["c"]]

    assert corpus._cached("toy", build) == [["a", "b"], ["c"]]
    files = list(private_cache.iterdir())
    assert len(files) == 1 and files[0].name.startswith("toy-") and not any(
        f.suffix == ".tmp" for f in files)
    with gzip.open(files[0], "rb") as fh:
        assert pickle.load(fh) == [["a", "b"], ["c"]]
    corpus._memory.clear()
    assert corpus._cached("toy", build) == [["a", "b"], ["c"]] and len(calls) == 1  # from disk
    files[0].write_bytes(b"not a gzip file")  # damaged: rebuilt, not an error
    corpus._memory.clear()
    assert corpus._cached("toy", build) == [["a", "b"], ["c"]] and len(calls) == 2


def _store_many(path, n):
    for i in range(n):
        corpus._store(path, [[str(i)] * 1000])


def test_concurrent_writers_never_leave_a_torn_file(tmp_path):
    path = tmp_path / "race.pkl.gz"
    with cf.ProcessPoolExecutor(2) as pool:
        futures = [pool.submit(_store_many, path, 20) for _ in range(2)]
        for _ in range(50):  # read while they write: always a whole pickle or no file yet
            if path.exists():
                obj = corpus._load(path)
                assert obj is not None and len(obj[0]) == 1000
        for f in futures:
            f.result()
    assert [p.name for p in tmp_path.iterdir()] == ["race.pkl.gz"]


def test_vocabulary_against_counter():
    docs = [["b", "a", "b", "c"], ["a", "b", "d", "d"]]
    # counts: b 3, a 2, d 2, c 1 -> by frequency, ties alphabetical
    assert corpus.vocabulary(docs, 1) == {"b": 0, "a": 1, "d": 2, "c": 3}
    assert corpus.vocabulary(docs, 2) == {"b": 0, "a": 1, "d": 2}
    assert corpus.vocabulary(["x", "y", "x"], 1) == {"x": 0, "y": 1}  # a flat list works
    assert corpus.vocabulary(docs, 2, specials=("[PAD]", "[MASK]")) == {
        "[PAD]": 0, "[MASK]": 1, "b": 2, "a": 3, "d": 4}
    assert corpus.word_counts(docs) == {"a": 2, "b": 3, "c": 1, "d": 2}
    assert corpus.vocabulary([], 1) == {}


@pytest.mark.parametrize("min_count", [0, -1, 1.5, True])
def test_vocabulary_rejects_bad_min_count(min_count):
    with pytest.raises(ValueError, match="min_count"):
        corpus.vocabulary([["a"]], min_count)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="not a single string"):
        corpus.vocabulary("some text", 1)
    with pytest.raises(ValueError, match="mixture"):
        corpus.vocabulary([["a"], "b"], 1)
    with pytest.raises(ValueError, match="distinct"):
        corpus.vocabulary([["a"]], 1, specials=["x", "x"])
    with pytest.raises(ValueError, match="test_data"):
        corpus.test_data("no_such_file.txt")
