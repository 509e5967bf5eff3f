"""The chapters run live, as on Binder: a Jupyter server opens every chapter as a notebook
(jupytext), and chapters run in its kernels with sliders that take values the page does not list.

The server is the session's ``jupyter_server`` (tests/conftest.py, tools/live.py): the pinned
JupyterLab with binder/'s settings, on 127.0.0.1, stopped at the end of the session.
"""

from __future__ import annotations

import pytest

from tools import live
from tools.chapters import ROOT, read_chapter, toc_chapters

pytestmark = pytest.mark.live

CHAPTERS = toc_chapters()
#: A cell may take this long in a live kernel before the test gives up on it.
CELL_TIMEOUT = 300
#: The chapters whose slider takes any value of a range, the parameter, and a value the
#: static page does not list (each among the listed ones would draw a known frame).
LIVE_RANGES = {
    "det_exp_trace": ("t", -0.37),               # listed: multiples of 0.25
    "sgd_as_euler": ("lr", 0.137),               # listed: 0.12, 0.15
    "why_gradient_descent": ("alpha", 0.37),     # listed: multiples of 0.25
    "lipschitz_constraint": ("k", 17),           # listed: 0 to 10
    "transformer_vq": ("c", 11),                 # listed: 1, 2, 4, 8, 16, 32, 128; two controls
}
#: A frame of these sliders must come back within this (about a second on an idle machine).
FRAME_SECONDS = 10.0
#: Widget models of the static page: precomputed frames in stacks, linked in the browser.
STATIC_ONLY = {"StackModel", "LinkModel", "DirectionalLinkModel"}
CONTROLS = {"SelectionSliderModel", "ToggleButtonsModel", "IntSliderModel", "FloatSliderModel"}


def rel(path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_server_applies_binder_settings(jupyter_server):
    """binder/overrides.json, copied by binder/postBuild, makes "Jupytext Notebook" the
    default viewer of Markdown, so a chapter opens as a notebook; the viewer is there."""
    settings = jupyter_server.get("lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    viewers = settings.json()["schema"]["properties"]["defaultViewers"]["default"]
    assert viewers == {"markdown": "Jupytext Notebook", "myst": "Jupytext Notebook"}
    lab = jupyter_server.get("lab").text
    assert "jupyterlab-jupytext" in lab, "the jupytext extension is not in JupyterLab's page"


@pytest.mark.parametrize("path", CHAPTERS, ids=[p.stem for p in CHAPTERS])
def test_contents_api_opens_the_chapter_as_a_notebook(jupyter_server, path):
    model = jupyter_server.notebook(rel(path))
    assert model["type"] == "notebook", f"jupytext answered {model['type']!r}"
    assert model["content"]["metadata"]["kernelspec"]["name"] == "python3"
    expected = [c.source.strip() for c in read_chapter(path).cells if c.cell_type == "code"]
    got = [source.strip() for source in live.code_cells(model)]
    assert got == expected, "jupytext's code cells differ from the chapter's"


@pytest.fixture(scope="module", params=list(LIVE_RANGES))
def live_run(request, jupyter_server):
    """A chapter of LIVE_RANGES run in its own kernel: (stem, kernel, reply of each cell).
    The kernel is shut down once the chapter's tests are done."""
    stem = request.param
    path = f"chapters/{stem}.md"
    kernel = jupyter_server.kernel(path)
    replies = []
    try:
        for code in live.code_cells(jupyter_server.notebook(path)):
            replies.append(kernel.execute(code, timeout=CELL_TIMEOUT))
            if replies[-1].error:
                break
        yield stem, kernel, replies
    finally:
        kernel.close()


def test_chapter_runs_live_with_live_sliders(live_run):
    """Every cell runs without error in a kernel of the server, and the sliders come up in
    live mode: controls wired to the kernel, each drawing its first frame, no stacks."""
    stem, kernel, replies = live_run
    failed = [(i, r.error) for i, r in enumerate(replies) if r.error]
    assert not failed, f"{stem}: cell {failed[0][0]} failed: {failed[0][1].get('ename')}: " \
                       f"{failed[0][1].get('evalue')}"
    names = {w.model_name for w in kernel.widgets.values()}
    assert not names & STATIC_ONLY, f"static sliders in a live kernel: {names & STATIC_ONLY}"
    boxes = [b for b in kernel.find("VBoxModel")
             if any(c.model_name == "OutputModel" for c in kernel.children(b))]
    assert boxes, "no live slider (controls above an Output widget)"
    for box in boxes:
        assert any(c.model_name in CONTROLS for c in kernel.children(box))
    assert sum(len(r.images()) for r in replies) >= len(boxes), "a live slider drew no frame"


def test_live_slider_draws_a_value_the_page_does_not_list(live_run):
    """The continuous slider moved to an unlisted value: the kernel computes and draws a
    frame that is not any frame seen before, within a few seconds."""
    stem, kernel, replies = live_run
    if any(r.error for r in replies):
        pytest.fail(f"{stem} did not run live (see test_chapter_runs_live_with_live_sliders)")
    name, value = LIVE_RANGES[stem]
    (slider,) = [w for w in kernel.widgets.values()
                 if w.model_name in ("FloatSliderModel", "IntSliderModel")
                 and w.state.get("description") == name]
    assert slider.state["min"] <= value <= slider.state["max"]
    (box,) = [b for b in kernel.find("VBoxModel") if slider in kernel.children(b)]
    (output,) = [c for c in kernel.children(box) if c.model_name == "OutputModel"]
    seen = {png for r in replies for png in r.images()}
    moved = kernel.set_widget(slider.comm_id, value=value)
    assert moved.error is None, moved.error
    # the box's own Output widget captured the frame drawn for this update
    assert (output.comm_id, {"msg_id": moved.msg_id}) in moved.updated
    (frame,) = moved.images()
    assert frame.startswith(b"\x89PNG") and frame not in seen, "no new figure"
    assert moved.seconds < FRAME_SECONDS, f"the frame took {moved.seconds:.1f} s"
    print(f"{stem}: {name} = {value} drawn in {moved.seconds:.2f} s")
