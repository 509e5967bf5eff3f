"""Argument checks shared by the modules of ``book``: a clear ValueError naming what is allowed."""

from __future__ import annotations

import math
import numbers

import numpy as np


def integer(value, name: str, least: int = 1) -> int:
    """``value`` as an int if it is an integer (Python or NumPy, not a bool) >= ``least``,
    else ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    return int(value)


def number(value, name: str, low: float, low_ok: bool = True, high: float = math.inf,
           high_ok: bool = False) -> float:
    """``value`` as a float if it is a finite real number (Python or NumPy, not a bool) in
    the interval, else ValueError.

    ``low_ok`` / ``high_ok`` say whether the interval includes its ends.
    """
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= low if low_ok else value > low)
    ok = ok and (value <= high if high_ok else value < high)
    if not ok:
        lo, hi = "[(" [not low_ok], "])"[not high_ok]
        raise ValueError(f"{name} must be a number in {lo}{low}, {high}{hi}, got {value!r}")
    return float(value)


def positive(value, name: str) -> float:
    """``value`` as a float if it is a finite real number > 0, else ValueError."""
    return number(value, name, 0.0, low_ok=False)


def vector(value, name: str) -> np.ndarray:
    """``value`` as a float NumPy array if it is finite, 1-D and not empty, else ValueError."""
    x = np.asarray(value, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be a finite non-empty 1-D array, got shape {x.shape}")
    return x


def runs(methods: list[str], seeds: list[int], known) -> None:
    """One seed per run and every method among ``known``, else a ValueError saying so."""
    if len(methods) != len(seeds) or not methods:
        raise ValueError(f"need one seed per method (>= 1 run), got {len(methods)} methods "
                         f"and {len(seeds)} seeds")
    bad = sorted(set(methods) - set(known))
    if bad:
        raise ValueError(f"unknown methods {bad}; known: {', '.join(known)}")
