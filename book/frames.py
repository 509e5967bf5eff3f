"""Matplotlib figures as PNG frames: what the sliders of ``book.sliders`` show.

A frame is made by a chapter's ``draw(**params)``, which returns a figure or leaves one
current; it is rendered to PNG at a modest resolution (the static page carries every frame)
and closed, together with any other figure it opened.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

#: Resolution of the frames; modest on purpose, the static page carries every frame.
DEFAULT_DPI = 72


def figure_png(fig: Figure, dpi: int = DEFAULT_DPI, bbox: Any = "tight") -> bytes:
    """Render a matplotlib figure to PNG bytes, cropped to ``bbox`` (inches; by default
    the tight box around what is drawn, which costs a second drawing of the figure)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches=bbox)
    return buf.getvalue()


def tight_box(fig: Figure, pad: float = 0.1):
    """The tight bounding box of ``fig`` in inches, padded like ``bbox_inches="tight"``."""
    box = fig.get_tightbbox(fig.canvas.get_renderer())
    return box.padded(pad)


@contextmanager
def drawn(draw: Callable[..., Any], kwargs: dict) -> Iterator[Figure]:
    """The figure ``draw(**kwargs)`` makes; closed afterwards, with any other it opened."""
    before = set(plt.get_fignums())
    result = draw(**kwargs)
    fig = result if isinstance(result, Figure) else plt.gcf()
    try:
        yield fig
    finally:
        plt.close(fig)
        for num in set(plt.get_fignums()) - before:
            plt.close(num)


def draw_png(draw: Callable[..., Any], kwargs: dict, dpi: int, bbox: Any = "tight") -> bytes:
    with drawn(draw, kwargs) as fig:
        return figure_png(fig, dpi, bbox)
