"""tools.chapters: the chapter list, and the measured runner on tiny notebooks."""

import json

import pytest

from tools import chapters

HEADER = """---
jupytext:
  text_representation: {extension: .md, format_name: myst, format_version: 0.13}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
# t
"""


def notebook(tmp_path, name, code):
    path = tmp_path / f"{name}.md"
    path.write_text(HEADER + "\n```{code-cell} ipython3\n" + code + "\n```\n")
    return path


def test_toc_lists_chapters_in_order():
    found = chapters.toc_chapters()
    assert found and found[0].stem == "det_exp_trace"
    assert all(p.exists() and p.parent.name == "chapters" for p in found)


def test_runner_measures_the_kernel_memory(tmp_path):
    path = notebook(tmp_path, "alloc", "import numpy as np\nx = np.ones(50_000_000)  # 400 MB\nx.sum()")
    r = chapters.run_chapter(path, cache=False)
    assert r.ok and not r.cached
    assert 400 <= r.peak_mb < 1000 and 0 < r.seconds < 60


def test_runner_reports_a_failing_cell(tmp_path):
    path = notebook(tmp_path, "broken", "assert 1 + 1 == 3, 'arithmetic is broken'")
    r = chapters.run_chapter(path, cache=False)
    assert not r.ok and not r.within_budget
    assert "arithmetic is broken" in r.error


def test_kernel_gets_static_sliders(tmp_path):
    path = notebook(tmp_path, "env", "import os\nassert os.environ['BOOK_SLIDERS'] == 'static'")
    assert chapters.run_chapter(path, cache=False).ok


def test_table_and_json(tmp_path):
    rs = [chapters.Result("a", 10.0, 500.0, True), chapters.Result("b", 70.0, 100.0, True),
          chapters.Result("c", 1.0, 100.0, False, "boom")]
    text = chapters.table(rs)
    assert "a " in text and "OVER BUDGET" in text and "FAILED" in text
    out = chapters.write_json(rs, tmp_path / "c.json")
    data = json.loads(out.read_text())
    assert data[1] == {"chapter": "b", "seconds": 70.0, "peak_mb": 100.0, "ok": True}


@pytest.mark.parametrize("r, ok", [
    (chapters.Result("a", 60.0, 1536.0, True), True),
    (chapters.Result("a", 60.1, 10.0, True), False),
    (chapters.Result("a", 1.0, 1537.0, True), False),
])
def test_budget(r, ok):
    assert r.within_budget is ok


def test_runner_fills_the_cache_the_build_reads(tmp_path):
    """What the runner stores must match MyST-NB's own reading of the chapter (hash)."""
    from jupyter_cache import get_cache

    path = notebook(tmp_path, "cached", ":tags: [hide-input]\nprint('stored once')")
    r = chapters.run_chapter(path, cache=True)
    assert r.ok and r.cached and r.slowest
    record = get_cache(str(chapters.CACHE)).match_cache_notebook(chapters.read_chapter(path))
    assert record is not None
