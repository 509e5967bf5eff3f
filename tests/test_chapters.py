"""Every chapter in _toc.yml runs top to bottom in a fresh kernel within the budget."""

from __future__ import annotations

import pytest

from tests.conftest import chapter_result
from tools.chapters import MAX_PEAK_MB, MAX_SECONDS, toc_chapters

CHAPTERS = toc_chapters()


@pytest.mark.book
@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_executes_within_budget(path):
    r = chapter_result(path)
    assert r.ok, f"{path.stem} failed:\n{r.error}"
    assert r.seconds <= MAX_SECONDS, f"{path.stem} took {r.seconds:.1f} s > {MAX_SECONDS:.0f} s"
    assert r.peak_mb <= MAX_PEAK_MB, f"{path.stem} peaked at {r.peak_mb:.0f} MB > {MAX_PEAK_MB:.0f} MB"
    assert r.cached, f"{path.stem} was not stored in the build's execution cache"
