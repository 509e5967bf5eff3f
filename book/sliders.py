"""Sliders that move in a live kernel *and* in the static HTML book.

A chapter hands :func:`show` a function that draws a matplotlib figure and one or two
parameters with their values::

    from book import sliders
    def draw(n): plt.plot(errors[:n])
    sliders.show(draw, n=[1, 2, 4, 8, 16])

* In the built book (no kernel) every frame is rendered to PNG ahead of time and the
  slider is linked to a ``Stack`` of images in the browser (``jslink``), so it moves
  with nothing but the page's JavaScript. A ``<noscript>`` copy of the default frame
  keeps a picture on the page even without JavaScript.
* In a live Jupyter kernel (JupyterLab, Binder, the page's Live Code) the same call gives
  an ordinary interactive slider that redraws on demand.

Numeric values get a slider, strings get toggle buttons. Two parameters give two
controls over the grid of frames (nested stacks, one link per inner stack).

A numeric parameter can also have a *live range* (``book.live_sliders``): in a live kernel
its slider is then a continuous one over the interval, drawn on the fly at any value, while
the static page keeps the listed frames::

    sliders.show(draw_flow, t=[-1.0, 0.0, 1.0], live={"t": (-1.5, 1.5)})

If ``draw`` reads precomputed results, ``compute`` computes them for a value that is
not listed, before ``draw`` is called (once per new value)::

    sliders.show(draw_lr, lr=[0.1, 0.2], live={"lr": (0.01, 0.3)},
                 compute=lambda lr: runs.update({lr: run(lr)}))
"""

from __future__ import annotations

import base64
import html
import itertools
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import ipywidgets as widgets
from IPython.display import HTML, display

from book import live_sliders
from book.frames import DEFAULT_DPI, draw_png, drawn, figure_png, tight_box

#: Heaviest a page may get from the frames of all its sliders (base64 in the page).
MAX_PAGE_BYTES = 5_000_000
MODES = ("auto", "static", "live")

# Bytes of frames already put on the page by this kernel (one kernel = one chapter),
# and the captioned sliders shown so far (their numbers).
_page_bytes = 0
_sliders_shown = 0


def reset_page_budget() -> None:
    """Forget the frames and captions counted so far (for tests; a chapter runs in its own
    kernel)."""
    global _page_bytes, _sliders_shown
    _page_bytes = 0
    _sliders_shown = 0


def resolve_mode(mode: str = "auto") -> str:
    """``static`` (precomputed frames) or ``live`` (redraw in the kernel).

    ``auto`` reads the environment variable ``BOOK_SLIDERS`` if set, else chooses
    ``live`` when the kernel was started by a Jupyter server for a notebook session
    (the server sets ``JPY_SESSION_NAME``), and ``static`` otherwise (the book build).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "auto":
        mode = os.environ.get("BOOK_SLIDERS", "").strip().lower() or (
            "live" if os.environ.get("JPY_SESSION_NAME") else "static"
        )
        if mode not in ("static", "live"):
            raise ValueError(f"BOOK_SLIDERS must be 'static' or 'live', got {mode!r}")
    return mode


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class Param:
    """One parameter of a slider: its name, its values and the index shown first."""

    name: str
    values: list
    default: int = 0

    @property
    def categorical(self) -> bool:
        return any(isinstance(v, str) for v in self.values)

    def control(self) -> widgets.DOMWidget:
        labels = [_label(v) for v in self.values]
        if len(set(labels)) != len(labels):
            raise ValueError(f"values of {self.name!r} must be distinct, got {labels}")
        options = list(zip(labels, self.values))
        style = {"description_width": "initial"}
        if self.categorical:
            return widgets.ToggleButtons(
                options=options, index=self.default, description=self.name, style=style
            )
        return widgets.SelectionSlider(
            options=options,
            index=self.default,
            description=self.name,
            continuous_update=True,
            readout=True,
            style=style,
            layout=widgets.Layout(width="min(100%, 32em)"),
        )


def _params(values: dict[str, Sequence], default: dict[str, Any] | None) -> list[Param]:
    if not 1 <= len(values) <= 2:
        raise ValueError(
            f"a slider takes one or two parameters, got {len(values)}: {list(values)}"
        )
    default = dict(default or {})
    unknown = set(default) - set(values)
    if unknown:
        raise ValueError(f"default names unknown parameters {sorted(unknown)}; "
                         f"the parameters are {list(values)}")
    params = []
    for name, vals in values.items():
        vals = list(vals)
        if not vals:
            raise ValueError(f"parameter {name!r} needs at least one value")
        index = 0
        if name in default:
            try:
                index = vals.index(default[name])
            except ValueError:
                raise ValueError(
                    f"default {name}={default[name]!r} is not among its values {vals}"
                ) from None
        params.append(Param(name, vals, index))
    return params


@dataclass
class StaticSlider:
    """Precomputed frames linked to their controls in the browser."""

    params: list[Param]
    frames: dict[tuple, bytes]
    controls: list[widgets.DOMWidget] = field(default_factory=list)
    stack: widgets.Stack | None = None
    links: list = field(default_factory=list)

    @property
    def default_key(self) -> tuple:
        return tuple(p.default for p in self.params)

    @property
    def page_bytes(self) -> int:
        """Size of the frames once base64-encoded in the page."""
        return sum(4 * ((len(b) + 2) // 3) for b in self.frames.values())

    def widget(self) -> widgets.VBox:
        return widgets.VBox([*self.controls, self.stack])

    def fallback_html(self) -> str:
        png = base64.b64encode(self.frames[self.default_key]).decode("ascii")
        alt = ", ".join(f"{p.name} = {_label(p.values[p.default])}" for p in self.params)
        return (f'<noscript><img src="data:image/png;base64,{png}" '
                f'alt="figure at {alt}"></noscript>')


def build_static(draw: Callable[..., Any], params: list[Param], *, dpi: int = DEFAULT_DPI,
                 max_bytes: int = MAX_PAGE_BYTES, same_layout: bool = False) -> StaticSlider:
    """Render every frame of the grid and wire controls to nested stacks by ``jslink``.

    With ``same_layout`` every frame is cropped to the first frame's tight box, so each
    is drawn once instead of twice (for frames whose axes, limits and labels are fixed).
    """
    sizes = [len(p.values) for p in params]
    n_frames = 1
    for s in sizes:
        n_frames *= s
    default_key = tuple(p.default for p in params)

    def kwargs(key):
        return {p.name: p.values[i] for p, i in zip(params, key)}

    with drawn(draw, kwargs(default_key)) as fig:
        bbox = tight_box(fig) if same_layout else "tight"
        first = figure_png(fig, dpi, bbox)
    estimate = int(len(first) * 4 / 3 * n_frames)
    left = max_bytes - _page_bytes
    if estimate > left:
        grid = " x ".join(str(s) for s in sizes)
        raise ValueError(
            f"{grid} = {n_frames} frames of about {len(first) / 1e3:.0f} kB would add "
            f"{estimate / 1e6:.1f} MB to the page, over the {max_bytes / 1e6:.0f} MB limit "
            f"({left / 1e6:.1f} MB left); use fewer values, a smaller figure or a lower dpi"
        )
    frames = {default_key: first}
    for key in itertools.product(*(range(s) for s in sizes)):
        if key not in frames:
            frames[key] = draw_png(draw, kwargs(key), dpi, bbox)
    slider = StaticSlider(params, frames)
    if slider.page_bytes > left:
        raise ValueError(
            f"the {n_frames} frames take {slider.page_bytes / 1e6:.1f} MB, over the "
            f"{left / 1e6:.1f} MB left of the {max_bytes / 1e6:.0f} MB page limit; "
            "use fewer values, a smaller figure or a lower dpi"
        )

    def image(key):
        return widgets.Image(value=frames[key], format="png")

    slider.controls = [p.control() for p in params]
    if len(params) == 1:
        slider.stack = widgets.Stack([image((i,)) for i in range(sizes[0])],
                                     selected_index=params[0].default)
        slider.links.append(widgets.jslink((slider.controls[0], "index"),
                                           (slider.stack, "selected_index")))
    else:
        inner = [widgets.Stack([image((i, j)) for j in range(sizes[1])],
                               selected_index=params[1].default) for i in range(sizes[0])]
        slider.stack = widgets.Stack(inner, selected_index=params[0].default)
        slider.links.append(widgets.jslink((slider.controls[0], "index"),
                                           (slider.stack, "selected_index")))
        for stack in inner:
            slider.links.append(widgets.jslink((slider.controls[1], "index"),
                                               (stack, "selected_index")))
    return slider


def caption_html(number: int, caption: str) -> str:
    """The numbered caption under a slider figure ("Slider 2. What to see ...")."""
    if not isinstance(caption, str) or not caption.strip():
        raise ValueError("caption must be a non-empty string saying what the slider shows")
    text = html.escape(caption.strip())
    return (f'<p class="slider-caption"><span class="caption-number">Slider {number}. </span>'
            f'{text}</p>')


def show(draw: Callable[..., Any], *, caption: str | None = None,
         default: dict[str, Any] | None = None, dpi: int = DEFAULT_DPI, mode: str = "auto",
         max_bytes: int = MAX_PAGE_BYTES, same_layout: bool = False,
         live: dict[str, Sequence] | None = None, compute: Callable[..., Any] | None = None,
         **values: Sequence) -> None:
    """Display ``draw(**params)`` with a slider (or toggle buttons) per parameter.

    ``draw`` makes a matplotlib figure (returned, or left as the current figure).
    ``values`` maps one or two parameter names to their values; ``default`` picks the
    value shown first (else the first value). ``caption`` says what to see; it is shown
    under the figure, numbered per page. ``same_layout=True`` says every frame has the
    same axes, limits and labels: the static frames then share the first one's crop and
    render in about half the time. See the module docstring for the modes.

    ``live`` maps numeric parameters to a range ``(lo, hi)`` or ``(lo, hi, step)`` holding
    their listed values: in a live kernel each gets a continuous slider over it (see
    :class:`LiveRange`), drawn on the fly, so ``draw`` must take any value of the range;
    the static page is unchanged. ``compute(**params)``, if given, is called first for a
    combination that is not listed, to compute what ``draw`` reads. Keep such frames
    cheap (well under a second): each move of the slider waits for one.
    """
    global _page_bytes, _sliders_shown
    params = _params(values, default)
    ranges = live_sliders.live_ranges(live, params)
    if compute is not None and not ranges:
        raise ValueError("compute is called for values outside the listed ones, so it needs "
                         "a live range: live={name: (lo, hi)}")
    label = caption_html(_sliders_shown + 1, caption) if caption is not None else None
    if resolve_mode(mode) == "live":
        display(live_sliders.build_live(draw, params, dpi=dpi, live=ranges, compute=compute))
    else:
        slider = build_static(draw, params, dpi=dpi, max_bytes=max_bytes,
                              same_layout=same_layout)
        _page_bytes += slider.page_bytes
        display(HTML(slider.fallback_html()))
        display(slider.widget())
    if label:
        _sliders_shown += 1
        display(HTML(label))
