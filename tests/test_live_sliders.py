"""book.live_sliders: controls wired to draw through the kernel, continuous live ranges."""

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402

from book import live_sliders, sliders  # noqa: E402
from tests.helpers import draw_line  # noqa: E402


def test_live_mode_redraws_through_the_kernel():
    calls = []

    def draw(a):
        calls.append(a)
        return draw_line(a)

    box = live_sliders.build_live(draw, sliders._params({"a": [1, 2, 3]}, {"a": 3}))
    control, out = box.children
    assert isinstance(out, widgets.Output) and calls == [3]  # default drawn at once
    control.index = 0
    assert calls == [3, 1]


@pytest.fixture
def shown(monkeypatch):
    """What the live controls display (outside a kernel an Output widget captures nothing)."""
    images = []
    monkeypatch.setattr(live_sliders, "display", images.append)
    return images


def test_live_range_gives_a_continuous_slider_drawn_at_any_value(shown):
    calls = []

    def draw(a):
        calls.append(a)
        return draw_line(a)

    params = sliders._params({"a": [0.0, 0.5, 1.0]}, {"a": 0.5})
    ranges = live_sliders.live_ranges({"a": (0.0, 1.0)}, params)
    assert ranges == {"a": live_sliders.LiveRange(0.0, 1.0, 0.01)}  # 100 steps of 10^-2
    box = live_sliders.build_live(draw, params, live=ranges)
    control = box.children[0]
    assert isinstance(control, widgets.FloatSlider)
    assert (control.min, control.max, control.step, control.value) == (0.0, 1.0, 0.01, 0.5)
    assert not control.continuous_update and control.readout_format == ".2f"
    control.value = 0.37000000000000005            # as a browser may send it
    assert calls == [0.5, 0.37]                    # drawn at the unlisted value, snapped
    assert [type(s) for s in shown] == [widgets.Image] * 2
    assert shown[0].value != shown[1].value


def test_integer_live_range_gives_an_int_slider(shown):
    params = sliders._params({"k": [0, 5, 10]}, None)
    box = live_sliders.build_live(lambda k: draw_line(k), params,
                                  live=live_sliders.live_ranges({"k": (0, 30)}, params))
    control = box.children[0]
    assert isinstance(control, widgets.IntSlider) and (control.min, control.max) == (0, 30)
    control.value = 17
    assert len(shown) == 2 and shown[0].value != shown[1].value


def test_compute_runs_once_per_unlisted_value_before_draw(shown):
    results = {1: 1.0, 2: 4.0}                     # what draw reads: listed values precomputed
    computed = []

    def compute(n, kind):
        computed.append((n, kind))
        results[n] = float(n * n)

    def draw(n, kind):
        return draw_line(results[n], kind)

    params = sliders._params({"n": [1, 2], "kind": ["x", "y"]}, None)
    ranges = live_sliders.live_ranges({"n": (1, 9)}, params)
    box = live_sliders.build_live(draw, params, live=ranges, compute=compute)
    n_control, kind_control = box.children[:2]
    assert isinstance(kind_control, widgets.ToggleButtons)
    n_control.value = 2
    assert computed == []                          # listed: precomputed, nothing to compute
    n_control.value = 7
    kind_control.value = "y"
    n_control.value = 2
    n_control.value = 7                            # (7, "y") again: computed already
    assert computed == [(7, "x"), (7, "y")] and results[7] == 49.0


@pytest.mark.parametrize("live, message", [
    ({"z": (0, 1)}, "unknown parameters"),
    ({"b": (0, 1)}, "only a numeric parameter"),
    ({"a": (1.0, 0.0)}, "lo < hi"),
    ({"a": (0.0, float("inf"))}, "finite numbers"),
    ({"a": (0.0,)}, r"\(lo, hi\) or \(lo, hi, step\)"),
    ({"a": (False, 1.0)}, "finite numbers"),
    ({"a": (0.0, 1.0, 0.0)}, "0 < step"),
    ({"a": (0.0, 1.0, 2.0)}, "0 < step"),
    ({"a": (0.5, 1.0)}, "must contain its listed values"),
    ({"a": (0.0, 1.0, 0.3)}, "not on the live slider's grid"),
    ({"a": (0, 1)}, "is of integers"),
    ([("a", (0, 1))], "must map parameter names"),
])
def test_bad_live_ranges_are_rejected(live, message):
    params = sliders._params({"a": [0.25, 0.5], "b": ["x", "y"]}, None)
    with pytest.raises(ValueError, match=message):
        live_sliders.live_ranges(live, params)


def test_show_in_a_live_kernel_gives_the_continuous_slider(monkeypatch, shown):
    boxes = []
    monkeypatch.setattr(sliders, "display", boxes.append)
    sliders.show(draw_line, a=[1.0, 2.0], live={"a": (0.5, 3.0, 0.25)}, mode="live",
                 caption="a line")
    box = boxes[0]
    assert isinstance(box.children[0], widgets.FloatSlider)
    assert (box.children[0].min, box.children[0].max, box.children[0].step) == (0.5, 3.0, 0.25)
    assert "Slider 1." in boxes[1].data and len(shown) == 1
