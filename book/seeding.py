"""The book's one source of randomness: the environment variable ``BOOK_SEED``.

Every random number of a chapter comes from a generator made here, and every generator made
here mixes ``BOOK_SEED`` (default 0) into the stream number the caller asks for, so

    BOOK_SEED=2 python -m tools.chapters run chapters/gan_zoo.md

executes the chapter with other initial weights, other batches, other noise and another
data split, and ``make robust`` runs every chapter under several seeds. With ``BOOK_SEED``
unset (or 0) stream ``k`` is seeded with ``k`` itself, so the published book is what it
always was.
"""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from book import checks

ENV = "BOOK_SEED"
#: distance between the streams of two book seeds (a chapter uses far fewer streams)
STRIDE = 1000


def base() -> int:
    """The book seed from ``BOOK_SEED``: an integer >= 0, 0 when unset."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return 0
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{ENV} must be an integer >= 0, got {raw!r}")
    return value


def seed(stream: int = 0) -> int:
    """The integer seed of stream ``stream`` under the current book seed."""
    return STRIDE * base() + checks.integer(stream, "a seed stream", least=0)


def generator(stream: int = 0) -> torch.Generator:
    """A torch generator for stream ``stream`` (pass it to ``torch.randn(..., generator=)``)."""
    return torch.Generator().manual_seed(seed(stream))


def rng(stream: int = 0) -> np.random.Generator:
    """A NumPy generator for stream ``stream``."""
    return np.random.default_rng(seed(stream))


def everything(stream: int = 0) -> torch.Generator:
    """Seed Python's, NumPy's and torch's global generators for stream ``stream``.

    Returns a torch generator seeded the same way, for code that takes one explicitly.
    """
    s = seed(stream)
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    return torch.Generator().manual_seed(s)
