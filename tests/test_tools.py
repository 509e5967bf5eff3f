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
    assert all(p.suffix == ".md" for p in found), "a data file beside a chapter was taken for it"
    assert {"gan_zoo", "word2vec_as_svd"} <= {p.stem for p in found}


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
    assert chapters.is_cached(path)
    path.write_text(path.read_text().replace("stored once", "changed"))
    assert not chapters.is_cached(path)


def test_runner_passes_the_environment_to_the_kernel(tmp_path):
    path = notebook(tmp_path, "seeded", "import os\nassert os.environ['BOOK_SEED'] == '3'")
    assert chapters.run_chapter(path, cache=False, env={"BOOK_SEED": "3"}).ok
    assert not chapters.run_chapter(path, cache=False).ok


def test_failure_table_names_every_chapter_and_its_assertion():
    failed = {"a": chapters.Result("a", 1.0, 1.0, False, "Traceback\nAssertionError: ('wgan', 0.78)"),
              "b": chapters.Result("b", 1.0, 1.0, False, "ValueError: bad\n\n")}
    text = chapters.failure_table(failed)
    assert "2 chapter(s) failed" in text
    assert "AssertionError: ('wgan', 0.78)" in text and "ValueError: bad" in text


def test_robust_refuses_unknown_variants_and_chapters(capsys):
    from tools import robust

    for argv in (["--variants", "seed1,fast"], ["no_such_chapter"], ["--jobs", "0"]):
        with pytest.raises(SystemExit) as err:
            robust.main(argv)
        assert err.value.code == 2
    assert "allowed: seed1, seed2, seed3, nosimd, 2threads" in capsys.readouterr().err


def test_robust_grid_table():
    from tools import robust

    rs = {("a", "seed1"): chapters.Result("a", 12.34, 1.0, True),
          ("a", "nosimd"): chapters.Result("a", 1.0, 1.0, False, "boom")}
    text = robust.grid_table(["a"], ["seed1", "nosimd", "2threads"], rs)
    assert text.splitlines()[1].split() == ["a", "12.3", "FAIL", "-"]


def test_a_failing_chapter_does_not_stop_the_build(tmp_path):
    """sphinx_fixes leaves the chapters named in BOOK_SKIP_EXECUTION out of the execution:
    the build goes on to the other pages (as make book and the tests rely on)."""
    import os
    import shutil
    import subprocess
    import sys

    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    shutil.copytree(chapters.ROOT / "tools", book / "tools",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (book / "_config.yml").write_text(
        "title: t\nexecute: {execute_notebooks: force, raise_on_error: true}\n"
        "sphinx:\n  local_extensions:\n    sphinx_fixes: tools/\n")
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nchapters:\n"
                                   "  - file: chapters/bad\n  - file: chapters/good\n")
    (book / "intro.md").write_text("# intro\n")
    notebook(book / "chapters", "bad", "assert False, 'a failing chapter'")
    notebook(book / "chapters", "good", "print('good page ' + str(6 * 7))")
    exe = os.path.join(os.path.dirname(sys.executable), "jupyter-book")
    env = {**os.environ, chapters.SKIP_ENV: "chapters/bad.md"}
    done = subprocess.run([exe, "build", str(book)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "good page 42" in (book / "_build/html/chapters/good.html").read_text()
    assert (book / "_build/html/chapters/bad.html").exists()
    # without the exclusion the failing chapter stops the build
    done = subprocess.run([exe, "build", str(book), "--all"], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != chapters.SKIP_ENV})
    assert done.returncode != 0


def test_glue_imports_fast():
    """Every chapter imports MyST-NB's glue; nbformat's jsonschema must not compile the 39
    lark grammars of rfc3987-syntax on the way (~3 s per chapter, jsonschema >= 4.24)."""
    import subprocess
    import sys
    import time

    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from myst_nb.ext import glue"], check=True)
    seconds = time.perf_counter() - start
    probe = subprocess.run([sys.executable, "-c", "import rfc3987_syntax"], capture_output=True)
    assert probe.returncode != 0, "rfc3987-syntax is installed: pin jsonschema < 4.24"
    assert seconds < 2.5, seconds


def test_local_thebe_server_for_the_tests_only():
    from tools import sphinx_fixes

    config = sphinx_fixes.local_thebe_config("http://127.0.0.1:8123/?token=abc")
    assert config == {"useBinder": False, "serverSettings": {
        "baseUrl": "http://127.0.0.1:8123/", "wsUrl": "ws://127.0.0.1:8123/", "token": "abc"}}
    with pytest.raises(ValueError, match="BOOK_THEBE_SERVER"):
        sphinx_fixes.local_thebe_config("127.0.0.1:8123")


def test_binder_url_opens_the_file_in_jupyterlab():
    from tools import live

    url = live.binder_url("chapters/det_exp_trace.md")
    assert url.startswith("https://mybinder.org/v2/gh/")
    assert url.endswith("?urlpath=lab/tree/chapters/det_exp_trace.md")


def test_code_cells_of_a_contents_model():
    from tools import live

    model = {"content": {"cells": [{"cell_type": "markdown", "source": "# t"},
                                   {"cell_type": "code", "source": ["a = 1\n", "a"]},
                                   {"cell_type": "code", "source": "b = 2"}]}}
    assert live.code_cells(model) == ["a = 1\na", "b = 2"]


def test_chapters_run_side_by_side_and_store_in_the_cache(tmp_path):
    """Two chapters at once: both stored in the shared cache, results in the order asked;
    a chapter that starts worker processes is recognised (it runs alone)."""
    from jupyter_cache import get_cache

    paths = [notebook(tmp_path, f"pair{i}", f"import time\ntime.sleep(2)\nprint({i})") for i in range(3)]
    workers = notebook(tmp_path, "workers", "from book import training\n"
                       "assert training.side_by_side(divmod, [dict()] * 0) == []")
    assert chapters.starts_workers(workers) and not chapters.starts_workers(paths[0])
    said = []
    results = chapters.run_chapters(paths + [workers], jobs=2, say=said.append)
    assert list(results) == ["pair0", "pair1", "pair2", "workers"]
    assert all(r.ok and r.cached for r in results.values())
    cache = get_cache(str(chapters.CACHE))
    for path in paths:
        assert cache.match_cache_notebook(chapters.read_chapter(path)) is not None
    assert said[0] == "[book] executing workers in a fresh kernel ..."  # alone, first


@pytest.mark.parametrize("value, ok", [("1", 1), ("3", 3), ("0", None), ("two", None)])
def test_book_jobs_from_the_environment(monkeypatch, value, ok):
    monkeypatch.setenv("BOOK_JOBS", value)
    if ok is None:
        with pytest.raises(ValueError, match="BOOK_JOBS"):
            chapters.default_jobs()
    else:
        assert chapters.default_jobs() == ok
