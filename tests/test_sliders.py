"""book.sliders: frames, controls and links, size limits, modes, bad input."""

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from book import sliders  # noqa: E402
from tests.helpers import draw_line  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_budget():
    sliders.reset_page_budget()
    yield
    sliders.reset_page_budget()


def test_one_parameter_links_a_slider_to_a_stack_of_frames():
    calls = []

    def draw(a):
        calls.append(a)
        return draw_line(a)

    s = sliders.build_static(draw, sliders._params({"a": [1, 2, 3]}, {"a": 2}))
    assert sorted(calls) == [1, 2, 3] and calls[0] == 2  # default frame drawn first
    (control,) = s.controls
    assert isinstance(control, widgets.SelectionSlider) and control.index == 1
    assert isinstance(s.stack, widgets.Stack) and s.stack.selected_index == 1
    assert len(s.stack.children) == 3
    frames = [bytes(img.value) for img in s.stack.children]
    assert all(f.startswith(b"\x89PNG") for f in frames) and len(set(frames)) == 3
    (link,) = s.links
    assert link.source == (control, "index") and link.target == (s.stack, "selected_index")
    assert s.frames[(1,)] == frames[1]
    assert "<noscript><img src=\"data:image/png;base64," in s.fallback_html()
    assert not plt.get_fignums(), "frames must not leave figures open"


def test_two_parameters_give_nested_stacks_and_toggle_buttons():
    s = sliders.build_static(draw_line, sliders._params({"a": [1, 2], "b": ["x", "y", "z"]}, None))
    slider, buttons = s.controls
    assert isinstance(slider, widgets.SelectionSlider)
    assert isinstance(buttons, widgets.ToggleButtons) and buttons.label == "x" and buttons.value == "x"
    assert len(s.stack.children) == 2
    assert all(len(inner.children) == 3 for inner in s.stack.children)
    assert len(s.links) == 1 + 2
    assert all(link.source == (buttons, "index") for link in s.links[1:])
    assert len(s.frames) == 6


def test_draw_may_leave_its_figure_current_instead_of_returning_it():
    def draw(a):
        plt.figure(figsize=(2, 1.5))
        plt.plot([0, a])

    s = sliders.build_static(draw, sliders._params({"a": [1, 2]}, None))
    assert len(s.frames) == 2 and not plt.get_fignums()


def test_grid_too_heavy_for_the_page_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="MB limit.*fewer values"):
        sliders.build_static(draw_line, sliders._params({"a": list(range(40))}, None),
                             max_bytes=50_000)


def test_page_budget_is_shared_by_the_sliders_of_a_page(monkeypatch):
    monkeypatch.setattr(sliders, "display", lambda *a, **k: None)
    sliders.show(draw_line, a=[1, 2, 3], mode="static", max_bytes=60_000)
    assert sliders._page_bytes > 0
    with pytest.raises(ValueError, match="left"):
        for _ in range(20):
            sliders.show(draw_line, a=[1, 2, 3], mode="static", max_bytes=60_000)


@pytest.mark.parametrize("values, default, message", [
    ({}, None, "one or two parameters"),
    ({"a": [1], "b": [2], "c": [3]}, None, "one or two parameters"),
    ({"a": []}, None, "at least one value"),
    ({"a": [1, 2]}, {"a": 5}, "not among its values"),
    ({"a": [1, 2]}, {"z": 1}, "unknown parameters"),
])
def test_bad_parameters_are_rejected(values, default, message):
    with pytest.raises(ValueError, match=message):
        sliders._params(values, default)


def test_duplicate_labels_are_rejected():
    with pytest.raises(ValueError, match="distinct"):
        sliders.Param("a", [0.100001, 0.1000011]).control()


def test_modes(monkeypatch):
    monkeypatch.delenv("BOOK_SLIDERS", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert sliders.resolve_mode() == "static"
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/jovyan/chapters/x.md")
    assert sliders.resolve_mode() == "live"
    monkeypatch.setenv("BOOK_SLIDERS", "static")
    assert sliders.resolve_mode() == "static"
    assert sliders.resolve_mode("live") == "live"
    monkeypatch.setenv("BOOK_SLIDERS", "sometimes")
    with pytest.raises(ValueError, match="BOOK_SLIDERS"):
        sliders.resolve_mode()
    with pytest.raises(ValueError, match="mode must be one of"):
        sliders.resolve_mode("fast")


def test_captions_are_numbered_per_page_and_escaped(monkeypatch):
    shown = []
    monkeypatch.setattr(sliders, "display", shown.append)
    sliders.show(draw_line, a=[1, 2], mode="static", caption="first <b>")
    sliders.show(draw_line, a=[1, 2], mode="live", caption="second")
    captions = [s.data for s in shown if "slider-caption" in getattr(s, "data", "")]
    assert "Slider 1. " in captions[0] and "first &lt;b&gt;" in captions[0]
    assert "Slider 2. " in captions[1]
    with pytest.raises(ValueError, match="non-empty"):
        sliders.show(draw_line, a=[1, 2], mode="static", caption="  ")


def _png_size(png: bytes) -> tuple[int, int]:
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")


def test_same_layout_crops_every_frame_like_the_first_and_draws_each_once():
    draws = []

    def draw(a):
        fig, ax = plt.subplots(figsize=(2, 1.5))
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 3)
        ax.plot([0, 1], [0, a])
        ax.set_xlabel("x")
        orig = fig.draw
        fig.draw = lambda renderer: (draws.append(a), orig(renderer))[1]
        return fig

    tight = sliders.build_static(draw, sliders._params({"a": [1, 2, 3]}, None))
    n_tight = len(draws)
    draws.clear()
    same = sliders.build_static(draw, sliders._params({"a": [1, 2, 3]}, None), same_layout=True)
    assert len(draws) < n_tight                       # a frame after the first is drawn once
    for key in tight.frames:
        (w1, h1), (w2, h2) = _png_size(same.frames[key]), _png_size(tight.frames[key])
        assert abs(w1 - w2) <= 1 and abs(h1 - h2) <= 1, (w1, h1, w2, h2)   # pixel rounding
    assert len(set(same.frames.values())) == 3


def test_static_page_ignores_the_live_range(monkeypatch):
    shown = []
    monkeypatch.setattr(sliders, "display", shown.append)
    sliders.show(draw_line, a=[1, 2, 3], live={"a": (0, 10)}, mode="static")
    (box,) = [s for s in shown if isinstance(s, widgets.VBox)]
    assert isinstance(box.children[0], widgets.SelectionSlider)
    assert len(box.children[1].children) == 3      # the three listed frames, nothing more


def test_compute_without_a_live_range_is_rejected():
    with pytest.raises(ValueError, match="needs a live range"):
        sliders.show(draw_line, a=[1, 2], compute=lambda a: None, mode="static")
