"""Shared fixtures: each chapter is executed once per test run, then the book is built once.

Order of a run: the unit tests of book/, then the live tests (chapters run in the kernels
of a local Jupyter server), then every chapter of _toc.yml executed in a fresh kernel
(timed, memory measured, stored in the build's execution cache), then the Jupyter Book
build with -W (which reuses those executions), then the browser tests.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.chromium import CHROMIUM, FLAGS
from tools.chapters import ROOT, Result, build_book, failure_table, run_chapters, table, \
    toc_chapters

_RUNS: dict[str, Result] = {}
#: the chapters the collected tests of the book take as their ``path`` parameter
_WANTED: set[Path] = set()
_ORDER = {"live": 0.5, "book": 1, "browser": 2}


def _say(msg: str) -> None:
    print(msg, file=sys.__stderr__, flush=True)


def chapter_result(path: Path) -> Result:
    """Execute a chapter (once per test run) and return its measurements.

    The first chapter asked for executes with it every chapter that the collected tests
    take as their ``path`` (all of _toc.yml in a full run), two at a time on a machine with
    two cores (``tools.chapters.run_chapters``; BOOK_JOBS=1 for one at a time)."""
    if path.stem not in _RUNS:
        # with it, every other chapter this run's tests will ask for, two at a time
        todo = [path] + [p for p in toc_chapters()
                         if p in _WANTED and p != path and p.stem not in _RUNS]
        _say("")
        _RUNS.update(run_chapters(todo, say=_say))
    return _RUNS[path.stem]


def pytest_terminal_summary(terminalreporter):
    """The chapters executed in this run, with their seconds and peak memory, at the end.

    (pytest captures what the fixtures print while a test passes, so this is where the
    measurements of a green run are shown.)
    """
    if _RUNS:
        terminalreporter.section("chapters executed in this run")
        terminalreporter.write_line(table(list(_RUNS.values())))


@pytest.hookimpl(trylast=True)  # after -k / -m deselection: only the tests that will run
def pytest_collection_modifyitems(config, items):
    """Unit tests first, then the chapter executions, the build, the browser."""
    def rank(item):
        if item.get_closest_marker("browser"):
            return _ORDER["browser"]
        if item.get_closest_marker("live"):
            return _ORDER["live"]
        if item.get_closest_marker("book"):
            return _ORDER["book"] + (0.5 if "build" in item.nodeid else 0)
        return 0
    items.sort(key=rank)
    for item in items:
        path = getattr(item, "callspec", None) and item.callspec.params.get("path")
        if isinstance(path, Path) and item.get_closest_marker("book"):
            _WANTED.add(path)


@pytest.fixture(scope="session")
def built_book() -> dict:
    """Execute every chapter (cached for the build), then build the book with -W.

    A chapter that fails is named in ``built_book["failed"]`` and left out of the build's
    execution, so the other pages are still built and tested. For work on the browser
    tests alone, BOOK_REUSE_BUILD=1 takes the last build as it is.
    """
    if os.environ.get("BOOK_REUSE_BUILD") == "1" and (ROOT / "_build" / "build.log").exists():
        log = (ROOT / "_build" / "build.log").read_text()
        return {"returncode": 0 if "build succeeded" in log else 1, "log": log,
                "html": ROOT / "_build" / "html", "failed": {}}
    _RUNS.update(run_chapters([p for p in toc_chapters() if p.stem not in _RUNS], say=_say))
    built = build_book(_RUNS, say=_say, full=True)  # every page read: each must hit the cache
    if built["failed"]:
        _say(failure_table(built["failed"]))
    return built


@pytest.fixture(scope="session")
def jupyter_server():
    """A Jupyter server as Binder runs it (tools/live.py), on 127.0.0.1 with a random port
    and token, for the live and Live Code tests; stopped, kernels and all, at the end.

    It answers pages of any origin, as a Binder server answers Thebe on a book's pages.
    """
    from tools import live

    with live.Server(allow_origin="*") as server:
        yield server


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's browser with "
                    "`apt-get install chromium` (as .ci/run does) or point BOOK_CHROMIUM "
                    "at one, to run the browser tests")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()
