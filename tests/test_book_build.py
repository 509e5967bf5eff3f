"""The whole book builds with -W -n, reusing the chapter executions, with what a reader needs."""

from __future__ import annotations

import re

import pytest

from tools.chapters import ROOT, toc_chapters

pytestmark = pytest.mark.book


def test_build_passes_with_warnings_as_errors(built_book):
    tail = "\n".join(built_book["log"].splitlines()[-40:])
    assert built_book["returncode"] == 0, f"jupyter-book build failed:\n{tail}"


def test_build_reuses_the_measured_executions(built_book):
    """Each chapter is executed once per test run: the build must hit the cache."""
    executed = re.findall(r"(\S+\.md): Executing notebook", built_book["log"])
    assert not executed, f"the build executed again: {executed}"
    for path in toc_chapters():
        assert f"{path.name}: Using cached notebook" in built_book["log"], path.stem


@pytest.mark.parametrize("path", toc_chapters(), ids=lambda p: p.stem)
def test_chapter_page_has_outputs_math_and_launch_buttons(built_book, path):
    html = (built_book["html"] / "chapters" / f"{path.stem}.html").read_text()
    assert 'class="cell_output' in html, "no executed outputs on the page"
    assert 'class="math' in html, "no rendered maths on the page"
    assert "mybinder.org/v2/gh/" in html, "no Binder launch button"
    assert "btn-launch-thebe" in html, "no live-code (Thebe) button"
    assert "application/vnd.jupyter.widget-state+json" in html, "no slider state saved"
    assert "vendor/html-manager/embed.js" in html and "vendor/mathjax/tex-chtml.js" in html


@pytest.mark.parametrize("path", toc_chapters(), ids=lambda p: p.stem)
def test_chapter_page_launches_its_own_file(built_book, path):
    """The Binder button opens this chapter's .md in JupyterLab (as a notebook, through
    binder/'s jupytext setting: tests/test_live_code.py opens one), and Live Code loads the
    book's own Thebe, not sphinx-thebe's CDN copy."""
    from tools import live

    html = (built_book["html"] / "chapters" / f"{path.stem}.html").read_text()
    binder = set(re.findall(r'href="(https://mybinder\.org/v2/[^"]+)"', html))
    assert binder == {live.binder_url(path.relative_to(ROOT).as_posix())}, binder
    assert "_static/live-code.js" in html and "sphinx-thebe.js" not in html
    assert "THEBE_JS_URL" not in html, "sphinx-thebe's CDN address is still on the page"


def test_built_book_names_no_cdn(built_book):
    """Everything a page loads on open comes from the book itself."""
    for page in (built_book["html"]).rglob("*.html"):
        text = page.read_text()
        for script in re.findall(r'<script[^>]*\ssrc="([^"]+)"', text):
            assert not script.startswith(("http:", "https:", "//")), (page.name, script)
        for css in re.findall(r'<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"', text):
            assert not css.startswith(("http:", "https:", "//")), (page.name, css)


def test_binder_opens_chapters_as_notebooks():
    import json

    settings = json.loads((ROOT / "binder" / "overrides.json").read_text())
    viewers = settings["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["markdown"] == "Jupytext Notebook"
    reqs = (ROOT / "binder" / "requirements.txt").read_text()
    assert "torch==2.13.0" in reqs and "/whl/cpu" in reqs
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"
