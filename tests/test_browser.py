"""Every chapter page, opened from disk with the network cut, in Debian's headless Chromium.

Checks, per page: no JavaScript errors, no failed or outside requests, the maths typeset
by MathJax, every exercise solution hidden until its toggle is clicked, and every slider (or
toggle-button selector), moved to another value, changes the figure shown.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from tests.chromium import PageWatch
from tools.chapters import toc_chapters

pytestmark = [pytest.mark.book, pytest.mark.browser]

CONTROL_MODELS = {"SelectionSliderModel": ".widget-slider",
                  "ToggleButtonsModel": ".widget-toggle-buttons"}
CHAPTERS = toc_chapters()


def _widget_state(html: str) -> dict:
    m = re.search(r'<script type="application/vnd.jupyter.widget-state\+json">(.*?)</script>',
                  html, re.S)
    return json.loads(m.group(1))["state"] if m else {}


def _figure_hash(container) -> str:
    """Hash of what the visible figure images of a slider look like."""
    imgs = container.locator("img.widget-image:visible")
    assert imgs.count() >= 1, "no figure visible under the slider"
    return hashlib.sha256(b"".join(imgs.nth(i).screenshot() for i in range(imgs.count()))
                          ).hexdigest()


def _move(control, kind: str) -> None:
    if kind == ".widget-slider":
        handle = control.locator(".noUi-handle").first
        handle.focus()
        before = control.locator(".widget-readout").inner_text()
        handle.press("ArrowRight")
        if control.locator(".widget-readout").inner_text() == before:  # at the last value
            handle.press("ArrowLeft")
    else:
        buttons = control.locator("button")
        for i in range(buttons.count()):
            if "mod-active" not in (buttons.nth(i).get_attribute("class") or ""):
                buttons.nth(i).click()
                return
        raise AssertionError("toggle buttons with a single option cannot move")


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_chapter_page_works_offline(built_book, browser, path):
    if path.stem in built_book["failed"]:
        pytest.fail(f"{path.stem} failed to execute, its page has no outputs: "
                    f"{built_book['failed'][path.stem].error.splitlines()[-1:]}")
    page_file = built_book["html"] / "chapters" / f"{path.stem}.html"
    assert page_file.exists(), f"the build wrote no page for {path.stem}"
    html = page_file.read_text()
    state = _widget_state(html)
    expected = {sel: sum(1 for m in state.values() if m.get("model_name") == name)
                for name, sel in CONTROL_MODELS.items()}
    assert sum(expected.values()) >= 1, "the chapter has no slider"

    watch = PageWatch(browser)
    page = watch.page
    try:
        page.goto(page_file.as_uri(), wait_until="load")
        # MathJax: typeset every maths block, no TeX errors
        page.wait_for_function("() => window.MathJax && MathJax.startup && "
                               "MathJax.startup.promise", timeout=20_000)
        page.evaluate("() => MathJax.startup.promise")
        n_math = page.locator("div.math, span.math").count()
        assert n_math > 0, "no maths on the page"
        assert page.locator("mjx-container").count() >= n_math, "maths not typeset"
        assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
        # exercises: each solution starts hidden, links to its exercise, and opens
        solutions = page.locator("div.solution.dropdown")
        assert solutions.count() >= 2, "fewer than two exercise solutions on the page"
        for i in range(solutions.count()):
            sol = solutions.nth(i)
            target = sol.locator(".admonition-title a.reference").get_attribute("href") or ""
            assert target.startswith("#") and page.locator(
                f"[id='{target[1:]}']").count() == 1, f"solution {i} does not link to its exercise"
            content = sol.locator("section, div.cell").first
            assert not content.is_visible(), f"solution {i} is not hidden by default"
            sol.locator("button.toggle-button").click()
            content.wait_for(state="visible", timeout=5_000)
        # widgets: every control rendered, and each one moves its figure
        for selector, count in expected.items():
            page.wait_for_function(
                f"() => document.querySelectorAll('{selector}').length >= {count}",
                timeout=30_000)
        for selector, count in expected.items():
            for i in range(count):
                control = page.locator(selector).nth(i)
                box = control.locator("xpath=ancestor::div[contains(@class,'widget-vbox')][1]")
                control.scroll_into_view_if_needed()
                before = _figure_hash(box)
                _move(control, selector)
                page.wait_for_timeout(300)
                after = _figure_hash(box)
                assert before != after, f"moving {selector} #{i} did not change the figure"
        assert not watch.problems, "\n".join(watch.problems)
    finally:
        watch.close()
