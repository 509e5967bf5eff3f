"""A chapter page's two ways into a kernel, in Chromium, against the local Jupyter server.

* "Live Code": one chapter is built with ``tools/preview.py`` with Thebe pointed at the
  session's server (``BOOK_THEBE_SERVER``, for this test only; the published book keeps
  Binder). The page loads the book's own Thebe, starts a kernel on the server, runs the
  cells, shows their output, and its live slider draws a value the static page lacks.
* The Binder button: its address names the chapter's file, and that address's ``urlpath``,
  opened in JupyterLab with binder/'s settings, opens the chapter as a notebook (jupytext).

Nothing leaves the machine: every request that is not for the file itself or the server
on 127.0.0.1 is cut and fails the test.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.chromium import PageWatch
from tools import live
from tools.chapters import ROOT, read_chapter

pytestmark = [pytest.mark.browser, pytest.mark.live]

#: A fast chapter whose slider has a live range (book.sliders.show(live=...)).
CHAPTER = "sgd_as_euler"
#: What one of its cells prints (the check after the learning-rate runs).
PRINTED = "observed regimes match the sympy intervals for all 13 learning rates"
#: Its live slider and the values the static page lists for it.
SLIDER, LISTED = "lr", {0.01, 0.03, 0.05, 0.08, 0.1, 0.12, 0.15, 0.18, 0.19, 0.21, 0.23, 0.26,
                        0.3}
RUN_ALL_TIMEOUT = 300_000  # ms


@pytest.fixture(scope="module")
def live_page(jupyter_server, tmp_path_factory):
    """The chapter's page, built alone with Thebe pointed at the local server."""
    out = tmp_path_factory.mktemp("live-code")
    env = {**os.environ, "BOOK_THEBE_SERVER": f"{jupyter_server.url}?token={jupyter_server.token}"}
    done = subprocess.run([sys.executable, "-m", "tools.preview", f"chapters/{CHAPTER}.md",
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, f"the preview build failed:\n{done.stdout[-3000:]}"
    return out / "_build" / "html" / "chapters" / f"{CHAPTER}.html"


def _server_prefixes(server) -> tuple[str, ...]:
    return server.url, server.url.replace("http", "ws", 1)


#: Playwright clicks and screenshots wait until their element stops moving; while the outputs
#: of a run are still being laid out (figures, widgets, MathJax) on a loaded machine that can
#: take longer than the default 30 s.
ACTION_TIMEOUT = 90_000


def _hash(locator) -> str:
    return hashlib.sha256(locator.screenshot(timeout=ACTION_TIMEOUT)).hexdigest()


def _settle(page) -> None:
    """Wait until the page's layout has stopped changing: its height the same for 1 s."""
    page.wait_for_function("""() => {
        const h = document.documentElement.scrollHeight, now = performance.now();
        if (window.__lastHeight !== h) { window.__lastHeight = h; window.__since = now; }
        return now - window.__since > 1000;
    }""", timeout=60_000, polling=200)


def test_live_code_runs_the_chapter_on_the_server(browser, jupyter_server, live_page):
    watch = PageWatch(browser, allow=_server_prefixes(jupyter_server))
    page = watch.page
    try:
        page.goto(live_page.as_uri(), wait_until="load")
        html = live_page.read_text()
        assert "unpkg.com" not in html and "sphinx-thebe.js" not in html, \
            "the page still loads Thebe from a CDN"
        # the rocket menu's "Live Code" button: Thebe from _static, a kernel on the server
        page.locator(".dropdown-launch-buttons button.dropdown-toggle").click()
        page.locator("button.btn-launch-thebe").click()
        page.wait_for_function("() => window.thebe && window.thebe.session "
                               "&& window.thebe.session.kernel", timeout=120_000)
        sessions = jupyter_server.get("api/sessions").json()
        assert any(s["path"].rstrip("/").endswith("chapters") for s in sessions), sessions
        cells = page.locator(".thebe-cell")
        n_code = sum(c.cell_type == "code" for c in read_chapter(ROOT / "chapters"
                                                                  / f"{CHAPTER}.md").cells)
        assert cells.count() == n_code, "not every code cell became a live cell"
        # run all, from the first cell's buttons; no cell fails
        start = time.monotonic()
        cells.first.locator("button.thebe-runall-button").click()
        page.wait_for_function("() => window.thebe.notebook.cells.every(c => !c.isBusy)",
                               timeout=RUN_ALL_TIMEOUT, polling=500)
        print(f"Live Code ran {n_code} cells in {time.monotonic() - start:.1f} s")
        _settle(page)
        errors = page.locator("[data-mime-type='application/vnd.jupyter.error']")
        assert errors.count() == 0, errors.first.inner_text()[:2000]
        # one cell run again on its own: its output comes back from the kernel
        cell = page.locator(".cell", has=page.locator(".thebe-cell"), has_text=PRINTED).first
        output = cell.locator(".jp-OutputArea")
        assert PRINTED in output.inner_text()
        cell.locator("button.thebe-run-button").click(timeout=ACTION_TIMEOUT)
        page.wait_for_function("() => window.thebe.notebook.cells.every(c => !c.isBusy)",
                               timeout=60_000, polling=200)
        output.get_by_text(PRINTED).wait_for(timeout=30_000)
        _settle(page)
        # the live slider: a continuous one, moved to a value the page does not list
        slider = page.locator(".jp-OutputArea .widget-slider").first
        slider.scroll_into_view_if_needed(timeout=ACTION_TIMEOUT)
        box = slider.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
        figure = box.locator("img").first
        figure.wait_for(timeout=30_000)
        before = _hash(figure)
        handle = slider.locator(".noUi-handle").first
        handle.focus()
        handle.press("ArrowRight")                     # one step of the continuous slider
        value = float(slider.locator(".widget-readout").inner_text())
        assert value not in LISTED, f"{SLIDER} = {value} is a listed value"
        deadline = time.monotonic() + 30
        while _hash(box.locator("img").first) == before and time.monotonic() < deadline:
            page.wait_for_timeout(250)
        assert _hash(box.locator("img").first) != before, "moving the slider changed nothing"
        page.screenshot(path=str(live_page.parent / "live-code.png"))
        assert not watch.problems, "\n".join(watch.problems)
    finally:
        watch.close()


def test_binder_button_opens_the_chapter_as_a_notebook(browser, live_page, tmp_path):
    """The Binder address of the page names chapters/<stem>.md under JupyterLab's tree, and
    JupyterLab with binder/'s settings opens that path as a notebook, not as text."""
    from playwright.sync_api import expect

    html = live_page.read_text()
    (url,) = set(re.findall(r'href="(https://mybinder\.org/v2/[^"]+)"', html))
    assert url == live.binder_url(f"chapters/{CHAPTER}.md")
    urlpath = parse_qs(urlsplit(url).query)["urlpath"][0]
    # a server of its own on a copy of chapters/: JupyterLab may save what it opened
    shutil.copytree(ROOT / "chapters", tmp_path / "chapters")
    with live.Server(root=tmp_path) as server:
        watch = PageWatch(browser, allow=_server_prefixes(server))
        page = watch.page
        try:
            page.goto(f"{server.url}{urlpath}?token={server.token}", wait_until="load")
            page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=120_000)
            tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
            assert tab.inner_text().strip() == f"{CHAPTER}.md"
            assert page.locator(".jp-FileEditor").count() == 0, "opened as text"
            first = next(c.source for c in read_chapter(ROOT / "chapters" / f"{CHAPTER}.md").cells
                         if c.cell_type == "code")
            editor = page.locator(".jp-NotebookPanel .jp-CodeCell .cm-content").first
            expect(editor).to_contain_text(first.splitlines()[0], timeout=60_000)
            assert editor.inner_text().split() == first.split(), \
                "the first code cell is not the chapter's"
            outside = [p for p in watch.problems if p.startswith("request outside")]
            assert not outside, "\n".join(outside)
        finally:
            watch.close()
