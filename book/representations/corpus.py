"""Tokenised text corpora that ship inside the gensim wheel (no network).

* :func:`wiki_articles` -- gensim's shortened sample of English Wikipedia, parsed by
  ``gensim.corpora.wikicorpus.WikiCorpus`` (lower-case tokens of 2..15 characters; articles
  under 50 tokens dropped): 106 articles, about 453k tokens. Parsed once, then cached in
  memory and on disk under ``<repo>/_build/cache/``.
* :func:`lee_documents` -- the Lee background corpus (300 news paragraphs), one document per
  line, tokenised with ``gensim.utils.simple_preprocess``.
* :func:`vocabulary` -- word -> index for the words seen at least ``min_count`` times.

Used by the word-vector chapters (``word2vec_as_svd``, ``minimum_entropy_word_vectors``) and
the masked-language-model chapter.
"""

from __future__ import annotations

import gzip
import os
import pickle
import tempfile
from collections import Counter
from pathlib import Path
from typing import Iterable, Sequence

WIKI_FILE = "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
LEE_FILE = "lee_background.cor"
_CACHE_FORMAT = 1  # bump when the tokenisation changes, so old caches are ignored

_memory: dict[str, list[list[str]]] = {}


def repo_root() -> Path:
    """The repository root: the folder that holds the ``book`` package."""
    return Path(__file__).resolve().parents[2]  # <repo>/book/representations/corpus.py


def cache_dir() -> Path:
    """``<repo>/_build/cache``, created on demand."""
    path = repo_root() / "_build" / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_data(name: str) -> Path:
    """Path of a file in gensim's bundled ``gensim/test/test_data`` folder."""
    import gensim

    path = Path(gensim.__file__).resolve().parent / "test" / "test_data" / name
    if not path.is_file():
        raise ValueError(f"no file {name!r} in gensim's test_data folder ({path.parent})")
    return path


def _cache_file(stem: str) -> Path:
    import gensim

    return cache_dir() / f"{stem}-v{_CACHE_FORMAT}-gensim{gensim.__version__}.pkl.gz"


def _load(path: Path):
    try:
        with gzip.open(path, "rb") as fh:
            return pickle.load(fh)
    except (OSError, EOFError, pickle.UnpicklingError):
        return None  # missing or damaged: the caller rebuilds it


def _store(path: Path, obj) -> None:
    """Write atomically: a private temp file in the same folder, then ``os.replace``.

    Two processes building the cache at once each write their own temp file; whichever
    ``os.replace`` lands last wins, and a reader never sees a half-written file.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb",
                                                       compresslevel=6, mtime=0) as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is for everyone
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _parse_wiki() -> list[list[str]]:
    from gensim.corpora.wikicorpus import WikiCorpus

    # dictionary={} skips gensim's extra pass that builds a Dictionary we do not need
    wiki = WikiCorpus(str(test_data(WIKI_FILE)), dictionary={}, processes=1, lower=True)
    return [list(tokens) for tokens in wiki.get_texts()]


def _cached(stem: str, build) -> list[list[str]]:
    if stem not in _memory:
        path = _cache_file(stem)
        docs = _load(path)
        if not (isinstance(docs, list) and docs and isinstance(docs[0], list)):
            docs = build()
            _store(path, docs)
        _memory[stem] = docs
    # a fresh copy: callers may mutate what they get without touching the cache
    return [list(doc) for doc in _memory[stem]]


def wiki_articles() -> list[list[str]]:
    """The articles of gensim's Wikipedia sample as lower-case token lists (WikiCorpus)."""
    return _cached("wiki_articles", _parse_wiki)


def lee_documents() -> list[list[str]]:
    """The Lee background corpus, one ``simple_preprocess``-ed token list per line."""
    from gensim.utils import simple_preprocess

    def build():
        with open(test_data(LEE_FILE), encoding="utf-8") as fh:
            return [simple_preprocess(line) for line in fh if line.strip()]

    return _cached("lee_documents", build)


def _flatten(tokens) -> Iterable[str]:
    if isinstance(tokens, str):
        raise ValueError("tokens must be a list of words or a list of documents "
                         "(lists of words), not a single string")
    tokens = list(tokens)
    if tokens and all(isinstance(t, str) for t in tokens):
        return tokens
    for doc in tokens:
        if isinstance(doc, str) or not all(isinstance(t, str) for t in doc):
            raise ValueError("tokens must be a list of words or a list of documents "
                             "(lists of words), not a mixture")
    return (t for doc in tokens for t in doc)


def word_counts(tokens) -> Counter:
    """How often each word occurs in ``tokens`` (a list of words or a list of documents)."""
    return Counter(_flatten(tokens))


def vocabulary(tokens, min_count: int = 1, specials: Sequence[str] = ()) -> dict[str, int]:
    """Word -> index for the words occurring at least ``min_count`` times.

    ``tokens`` is a list of words or a list of documents. Indices follow descending
    frequency (ties broken alphabetically), so index 0 is the most frequent word; the
    optional ``specials`` (e.g. ``("[PAD]", "[MASK]")``) come first, at 0, 1, ...
    """
    if isinstance(min_count, bool) or not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"min_count must be an integer >= 1, got {min_count!r}")
    specials = list(specials)
    if len(set(specials)) != len(specials):
        raise ValueError(f"specials must be distinct, got {specials}")
    counts = word_counts(tokens)
    words = sorted((w for w, n in counts.items() if n >= min_count and w not in specials),
                   key=lambda w: (-counts[w], w))
    return {w: i for i, w in enumerate(specials + words)}
