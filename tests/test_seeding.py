"""book.seeding: BOOK_SEED is the one source of every generator's seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from book import seeding


def test_default_seed_keeps_stream_numbers(monkeypatch):
    monkeypatch.delenv("BOOK_SEED", raising=False)
    assert seeding.base() == 0 and seeding.seed(7) == 7
    assert torch.equal(torch.rand(3, generator=seeding.generator(7)),
                       torch.rand(3, generator=torch.Generator().manual_seed(7)))


def test_book_seed_moves_every_stream(monkeypatch):
    monkeypatch.setenv("BOOK_SEED", "2")
    assert seeding.base() == 2 and seeding.seed(7) == 2 * seeding.STRIDE + 7
    a = torch.rand(3, generator=seeding.generator(7))
    monkeypatch.setenv("BOOK_SEED", "0")
    assert not torch.equal(a, torch.rand(3, generator=seeding.generator(7)))


def test_everything_is_reproducible(monkeypatch):
    monkeypatch.setenv("BOOK_SEED", "3")
    g1 = seeding.everything(7)
    a = (torch.rand(3), np.random.rand(), torch.rand(2, generator=g1), seeding.rng(1).random())
    g2 = seeding.everything(7)
    b = (torch.rand(3), np.random.rand(), torch.rand(2, generator=g2), seeding.rng(1).random())
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2]) and a[3] == b[3]


@pytest.mark.parametrize("bad", ["-1", "one", "1.5"])
def test_bad_book_seed_says_what_is_allowed(monkeypatch, bad):
    monkeypatch.setenv("BOOK_SEED", bad)
    with pytest.raises(ValueError, match="BOOK_SEED must be an integer >= 0"):
        seeding.base()


@pytest.mark.parametrize("bad", [-1, 1.0, True, "3"])
def test_bad_stream_says_what_is_allowed(bad):
    with pytest.raises(ValueError, match="integer >= 0"):
        seeding.seed(bad)
