"""book.warmups.ellipses against numerical quadrature of the arc length and closed cases."""

import math

import numpy as np
import pytest
from scipy.integrate import quad

from book.warmups import ellipses


def speed(a, b):
    return lambda t: math.hypot(a * math.sin(t), b * math.cos(t))


@pytest.mark.parametrize("a,b", [(1.0, 1.0), (2.0, 1.0), (3.0, 0.2), (1.0, 0.999)])
def test_perimeter_against_quadrature(a, b):
    ref = quad(speed(a, b), 0, 2 * math.pi, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
    assert math.isclose(ellipses.perimeter(a, b), ref, rel_tol=1e-12)


def test_perimeter_limits_and_bad_axes():
    assert math.isclose(ellipses.perimeter(2.0, 2.0), 4 * math.pi, rel_tol=1e-15)
    assert math.isclose(ellipses.perimeter(2.0, 0.0), 8.0, rel_tol=1e-15)
    with pytest.raises(ValueError, match="a >= b"):
        ellipses.perimeter(1.0, 2.0)
    with pytest.raises(ValueError, match="a must be"):
        ellipses.perimeter(-1.0, 0.5)


def test_ramanujan_is_close_but_not_exact():
    for ratio in (0.9, 0.5, 0.1):
        exact, approx = ellipses.perimeter(1.0, ratio), ellipses.ramanujan_perimeter(1.0, ratio)
        assert 0 < abs(approx / exact - 1) < 1e-3
    assert math.isclose(ellipses.ramanujan_perimeter(1.0, 1.0), 2 * math.pi, rel_tol=1e-15)


def test_minor_axis_and_aspect_give_the_perimeter():
    L = 2 * math.pi
    for a in (1.0, 1.2, 1.5, math.pi / 2):
        b = ellipses.minor_axis_for_perimeter(a, L)
        assert 0 <= b <= a and math.isclose(ellipses.perimeter(a, b), L, rel_tol=1e-12)
    assert math.isclose(ellipses.minor_axis_for_perimeter(math.pi / 2, L), 0.0, abs_tol=1e-9)
    with pytest.raises(ValueError, match="must lie in"):
        ellipses.minor_axis_for_perimeter(0.9, L)
    a, b = ellipses.axes_for_aspect(0.4, 5.0)
    assert math.isclose(b / a, 0.4) and math.isclose(ellipses.perimeter(a, b), 5.0)
    with pytest.raises(ValueError, match="aspect must be"):
        ellipses.axes_for_aspect(1.5, 5.0)


@pytest.mark.parametrize("t", [-1.0, 0.3, 2.0, 5.0, 7.5])
def test_arc_length_against_quadrature(t):
    a, b = 1.7, 0.6
    ref = quad(speed(a, b), 0, t, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
    assert math.isclose(float(ellipses.arc_length(a, b, t)), ref, rel_tol=1e-11, abs_tol=1e-13)
    assert math.isclose(float(ellipses.arc_length(a, b, 2 * math.pi)), ellipses.perimeter(a, b),
                        rel_tol=1e-13)


def test_equilateral_polygon():
    a, b = 1.4, 0.5
    for n in (8, 48, 96):
        P, side = ellipses.equilateral_polygon(a, b, n)
        sides = np.linalg.norm(np.roll(P, -1, axis=0) - P, axis=1)
        np.testing.assert_allclose(sides, side, rtol=1e-11)
        np.testing.assert_allclose((P[:, 0] / a) ** 2 + (P[:, 1] / b) ** 2, 1.0, rtol=1e-12)
        np.testing.assert_allclose(P[[0, n // 4, n // 2, 3 * n // 4]],
                                   [[a, 0], [0, b], [-a, 0], [0, -b]], atol=1e-12)
        # counter-clockwise: positive signed area
        assert np.sum(P[:, 0] * np.roll(P[:, 1], -1) - np.roll(P[:, 0], -1) * P[:, 1]) > 0
        # inscribed: a little shorter than the ellipse, by O(1/n^2)
        gap = 1 - n * side / ellipses.perimeter(a, b)
        assert 0 < gap < 5 / n ** 2
    with pytest.raises(ValueError, match="divisible by 4"):
        ellipses.equilateral_polygon(a, b, 10)
