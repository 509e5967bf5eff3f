"""Sliders in a live kernel: controls wired to ``draw`` through the kernel, which redraws
the frame on every change (``book.sliders.show`` in JupyterLab, on Binder, under Live Code).

A numeric parameter can have a *live range*: its control is then a continuous slider over
the interval, and every position is drawn on the fly, also the values the static page does not
list; ``compute`` first computes what ``draw`` reads for such a value.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Sequence

import ipywidgets as widgets
from IPython.display import display

from book.frames import DEFAULT_DPI, draw_png

if TYPE_CHECKING:
    from book.sliders import Param


@dataclass(frozen=True)
class LiveRange:
    """The interval a parameter's slider covers in a live kernel: ``lo`` to ``hi`` by ``step``.

    Integers ``lo``, ``hi`` (and ``step``) give an ``IntSlider``, otherwise a ``FloatSlider``
    whose step is, by default, the power of ten that cuts the interval into 100 to 1000 steps.
    """

    lo: float
    hi: float
    step: float

    @property
    def integer(self) -> bool:
        return all(isinstance(x, numbers.Integral) for x in (self.lo, self.hi, self.step))

    @property
    def decimals(self) -> int:
        """Decimals of the grid lo + k step (lo = 0.01, step = 0.005 -> 3)."""
        return 0 if self.integer else max(_decimals(self.lo), _decimals(self.step))

    def on_grid(self, value: float) -> bool:
        k = (value - self.lo) / self.step
        return abs(k - round(k)) < 1e-6

    def snap(self, value: float) -> float:
        """``value`` on the grid lo + k step (a browser may send 0.30000000000000004)."""
        if self.integer:
            return int(round(value))
        return round(self.lo + round((value - self.lo) / self.step) * self.step, self.decimals)

    def control(self, param: Param) -> widgets.DOMWidget:
        style = {"description_width": "initial"}
        layout = widgets.Layout(width="min(100%, 32em)")
        start = param.values[param.default]
        if self.integer:
            return widgets.IntSlider(value=int(start), min=self.lo, max=self.hi, step=self.step,
                                     description=param.name, continuous_update=False,
                                     style=style, layout=layout)
        return widgets.FloatSlider(value=float(start), min=self.lo, max=self.hi, step=self.step,
                                   description=param.name, continuous_update=False,
                                   readout_format=f".{self.decimals}f", style=style,
                                   layout=layout)


def _is_number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _decimals(x: float) -> int:
    """Decimals written in ``repr(x)`` (0.25 -> 2, 1e-3 -> 3, 2.0 -> 0)."""
    exponent = Decimal(repr(float(x))).normalize().as_tuple().exponent
    return max(0, -exponent)


def live_ranges(live: dict[str, Sequence] | None, params: list[Param]) -> dict[str, LiveRange]:
    """Check ``show``'s ``live`` argument against the parameters; one LiveRange per name."""
    if live is None:
        return {}
    if not isinstance(live, dict):
        raise ValueError(f"live must map parameter names to (lo, hi) or (lo, hi, step), "
                         f"got {live!r}")
    by_name = {p.name: p for p in params}
    unknown = set(live) - set(by_name)
    if unknown:
        raise ValueError(f"live names unknown parameters {sorted(unknown)}; "
                         f"the parameters are {list(by_name)}")
    ranges = {}
    for name, spec in live.items():
        param = by_name[name]
        if param.categorical:
            raise ValueError(f"only a numeric parameter can have a live range; {name!r} "
                             f"takes strings {param.values}")
        if not isinstance(spec, (tuple, list)) or len(spec) not in (2, 3) or not all(
                _is_number(x) and math.isfinite(x) for x in spec):
            raise ValueError(f"live range of {name!r} must be (lo, hi) or (lo, hi, step) with "
                             f"finite numbers, got {spec!r}")
        lo, hi = spec[0], spec[1]
        if not lo < hi:
            raise ValueError(f"live range of {name!r} must have lo < hi, got ({lo}, {hi})")
        integer = all(isinstance(x, numbers.Integral) for x in spec)
        if len(spec) == 3:
            step = spec[2]
        else:
            step = 1 if integer else 10.0 ** math.floor(math.log10((hi - lo) / 100))
        if not 0 < step <= hi - lo:
            raise ValueError(f"live range of {name!r} needs 0 < step <= hi - lo, got step {step}")
        if integer and not all(isinstance(v, numbers.Integral) for v in param.values):
            raise ValueError(f"live range ({lo}, {hi}) of {name!r} is of integers but its values "
                             f"{param.values} are not; write lo or hi as a float for a float "
                             "slider")
        outside = [v for v in param.values if not (_is_number(v) and lo <= v <= hi)]
        if outside:
            raise ValueError(f"live range ({lo}, {hi}) of {name!r} must contain its listed "
                             f"values; outside: {outside}")
        grid = LiveRange(lo, hi, step)
        off = [v for v in param.values if not grid.on_grid(v)]
        if off:
            raise ValueError(f"listed values {off} of {name!r} are not on the live slider's grid "
                             f"{lo} + k * {step}; give a step that reaches them: "
                             f"live={{{name!r}: ({lo}, {hi}, step)}}")
        ranges[name] = grid
    return ranges


def build_live(draw: Callable[..., Any], params: list[Param], *, dpi: int = DEFAULT_DPI,
               live: dict[str, LiveRange] | None = None,
               compute: Callable[..., Any] | None = None) -> widgets.VBox:
    """Controls wired to ``draw`` through the kernel: redraw on every change.

    A parameter with a ``LiveRange`` gets a continuous slider; at a combination of values
    outside the listed grid, ``compute(**params)`` (if given) runs first, once.
    """
    live = live or {}
    controls = [live[p.name].control(p) if p.name in live else p.control() for p in params]
    for c in controls:
        c.continuous_update = False
    computed: set[tuple] = set()

    def redraw(**kw):
        kw = {p.name: live[p.name].snap(kw[p.name]) if p.name in live else kw[p.name]
              for p in params}
        key = tuple(kw[p.name] for p in params)
        listed = all(any(kw[p.name] == v for v in p.values) for p in params)
        if compute is not None and not listed and key not in computed:
            compute(**kw)
            computed.add(key)
        display(widgets.Image(value=draw_png(draw, kw, dpi), format="png"))

    out = widgets.interactive_output(redraw, {p.name: c for p, c in zip(params, controls)})
    return widgets.VBox([*controls, out])
