"""Perimeters of ellipses, ellipses of equal perimeter, inscribed polygons (chapter
``two_ellipses``).

An ellipse has semi-axes a >= b > 0 and the points (a cos t, b sin t); its eccentricity is
e = sqrt(1 - b^2/a^2). SciPy's elliptic integrals take the *parameter* m = e^2, not e.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq
from scipy.special import ellipe, ellipeinc

from book import checks


def _axes(a, b) -> tuple[float, float]:
    a, b = checks.positive(a, "a"), checks.number(b, "b", 0.0)
    if b > a:
        raise ValueError(f"need semi-axes a >= b >= 0 (a the major one), got a={a}, b={b}")
    return a, b


def perimeter(a, b) -> float:
    """L = 4 a E(e), E the complete elliptic integral of the second kind, e^2 = 1 - b^2/a^2."""
    a, b = _axes(a, b)
    # scipy's ellipe(m) = int_0^{pi/2} sqrt(1 - m sin^2 phi) dphi, with m = e^2
    return 4.0 * a * float(ellipe(1.0 - (b / a) ** 2))


def ramanujan_perimeter(a, b) -> float:
    """Ramanujan's first approximation L ~ pi (3(a + b) - sqrt((3a + b)(a + 3b)))."""
    a, b = _axes(a, b)
    return math.pi * (3 * (a + b) - math.sqrt((3 * a + b) * (a + 3 * b)))


def minor_axis_for_perimeter(a, length) -> float:
    """The b in [0, a] with perimeter(a, b) = length (root finding: L grows with b from 4a
    at b = 0 to 2 pi a at b = a, so a must lie in [length / (2 pi), length / 4])."""
    a, length = checks.positive(a, "a"), checks.positive(length, "length")
    lo, hi = length / (2 * math.pi), length / 4
    if not lo * (1 - 1e-12) <= a <= hi * (1 + 1e-12):
        raise ValueError(f"a must lie in [length/(2 pi), length/4] = [{lo:.6g}, {hi:.6g}] for "
                         f"an ellipse of perimeter {length:g}, got {a}")
    a = min(max(a, lo), hi)
    if perimeter(a, a) - length <= 0:
        return a
    return brentq(lambda b: perimeter(a, b) - length, 0.0, a, xtol=1e-15, rtol=1e-15)


def axes_for_aspect(aspect, length) -> tuple[float, float]:
    """Semi-axes (a, b) with b / a = aspect and perimeter ``length``: the perimeter is
    homogeneous of degree 1, L(a, rho a) = a L(1, rho), so a = length / L(1, rho)."""
    aspect = checks.number(aspect, "aspect", 0.0, low_ok=False, high=1.0, high_ok=True)
    a = checks.positive(length, "length") / perimeter(1.0, aspect)
    return a, aspect * a


def point(a, b, t) -> np.ndarray:
    """Points (a cos t, b sin t), shape ``t.shape + (2,)``."""
    t = np.asarray(t, dtype=float)
    return np.stack([a * np.cos(t), b * np.sin(t)], axis=-1)


def arc_length(a, b, t) -> np.ndarray:
    """Arc length from (a, 0) to the point at angle t, counter-clockwise (any real t):
    s(t) = int_0^t sqrt(a^2 sin^2 u + b^2 cos^2 u) du = a (E(pi/2 | m) - E(pi/2 - t | m))."""
    a, b = _axes(a, b)
    m = 1.0 - (b / a) ** 2
    t = np.asarray(t, dtype=float)
    return a * (ellipeinc(math.pi / 2, m) - ellipeinc(math.pi / 2 - t, m))


def _walk(a: float, b: float, side: float, steps: int) -> np.ndarray:
    """Angles of ``steps`` successive points at chord distance ``side``, from angle 0."""
    angles = [0.0]
    for _ in range(steps):
        t0 = angles[-1]
        p = point(a, b, t0)

        def gap(t):
            return float(np.hypot(*(point(a, b, t) - p))) - side

        # the chord from p grows with the angle until beyond the opposite side
        hi = t0 + side / max(a, b)
        while gap(hi) < 0:
            hi += side / max(a, b)
        angles.append(brentq(gap, t0, hi, xtol=1e-15, rtol=1e-15))
    return np.array(angles)


def equilateral_polygon(a, b, n) -> tuple[np.ndarray, float]:
    """The n-gon inscribed in the ellipse with all sides equal and a vertex at each end of
    both axes (n divisible by 4): vertex 0 at (a, 0), vertex n/4 at (0, b).

    Returns the vertices ``(n, 2)``, counter-clockwise, and the common side. A quarter is
    n/4 chords of one length from (a, 0) to (0, b), found by root finding on that length;
    the other quarters are its mirror images.
    """
    a, b = _axes(a, b)
    n = checks.integer(n, "n", least=4)
    if n % 4:
        raise ValueError(f"n must be divisible by 4 (a vertex at each end of both axes), got {n}")
    if b == 0:
        raise ValueError("b must be > 0 for a polygon inscribed in the ellipse")
    q = n // 4
    quarter = arc_length(a, b, math.pi / 2)
    # q equal chords are shorter than the quarter arc and longer than the straight line
    side = brentq(lambda c: _walk(a, b, c, q)[-1] - math.pi / 2,
                  math.hypot(a, b) / q * (1 - 1e-9), quarter / q * (1 + 1e-9),
                  xtol=1e-15, rtol=1e-15)
    t = _walk(a, b, side, q)
    t[-1] = math.pi / 2
    # mirror the quarter into the other three: t -> pi - t, pi + t, 2 pi - t
    angles = np.concatenate([t[:-1], math.pi - t[::-1][:-1], math.pi + t[:-1],
                             2 * math.pi - t[::-1][:-1]])
    return point(a, b, angles), side
