"""book.warmups.circuits against independent references: the ODE written out by finite
differences, long numerical integrations, a brute-force frequency scan, explicit formulas."""

import math

import numpy as np
import pytest
import sympy as sp
from scipy.optimize import brentq

from book.warmups import circuits

RLC = circuits.Series(R=10.0, L=0.1, C=1e-5)


def test_amplitude_phase_rebuilds_the_sinusoid():
    t = np.linspace(0, 7, 50)
    for a, b in [(1.0, 0.0), (0.3, -2.0), (-1.0, 0.5), (0.0, 1.0)]:
        A, phi = circuits.amplitude_phase(a, b)
        np.testing.assert_allclose(A * np.sin(t - phi), a * np.sin(t) + b * np.cos(t),
                                   atol=1e-14)


def test_impedance_of_each_element():
    w = 300.0
    assert circuits.Series(R=5.0).impedance(w) == 5.0
    assert abs(circuits.Series(R=0.0, L=0.2).impedance(w) - 1j * w * 0.2) < 1e-12
    zc = circuits.Series(R=1.0, C=1e-3).impedance(w) - 1.0
    assert abs(zc - (-1j / (w * 1e-3))) < 1e-12


def test_steady_current_satisfies_the_rlc_equation():
    # L I'' + R I' + I / C = V' = V0 omega cos(omega t), checked by central differences
    w, h = 700.0, 1e-6
    t = np.linspace(0.01, 0.02, 9)
    I = lambda s: RLC.steady_current(s, w, V0=2.0)  # noqa: E731
    d1 = (I(t + h) - I(t - h)) / (2 * h)
    d2 = (I(t + h) - 2 * I(t) + I(t - h)) / h**2
    lhs = RLC.L * d2 + RLC.R * d1 + I(t) / RLC.C
    np.testing.assert_allclose(lhs, 2.0 * w * np.cos(w * t), atol=5e-3 * 2.0 * w)


def test_simulation_settles_on_the_steady_current():
    for circuit in (RLC, circuits.Series(R=10.0, L=0.05), circuits.Series(R=100.0, C=1e-5)):
        w = 900.0
        t = np.linspace(0, 0.5, 2001)  # many time constants
        current = circuit.simulate(t, omega=w)
        late = t > 0.4
        np.testing.assert_allclose(current[late], circuit.steady_current(t[late], w),
                                   atol=1e-7)


def test_resonance_quality_and_half_power_against_a_scan():
    assert abs(RLC.resonance - 1000.0) < 1e-9 and abs(RLC.quality - 10.0) < 1e-9
    amp = lambda w: 1 / abs(RLC.impedance(w))  # noqa: E731
    w = np.linspace(500, 2000, 300001)
    assert abs(w[np.argmax(amp(w))] - 1000.0) < 0.01
    peak = amp(1000.0)
    lo = brentq(lambda v: amp(v) - peak / math.sqrt(2), 500, 1000, xtol=1e-12)
    hi = brentq(lambda v: amp(v) - peak / math.sqrt(2), 1000, 2000, xtol=1e-12)
    np.testing.assert_allclose(RLC.half_power(), (lo, hi), rtol=1e-12)
    assert abs((hi - lo) - RLC.resonance / RLC.quality) < 1e-8


def test_sinusoid_coefficients_drop_the_transient():
    t, w = sp.symbols("t omega", positive=True)
    C1 = sp.Symbol("C1")
    expr = 3 * sp.sin(w * t) - 2 * w * sp.cos(w * t) + C1 * sp.exp(-t) + 5 * sp.exp(-2 * t)
    a, b = circuits.sinusoid_coefficients(expr, t, w)
    assert a == 3 and sp.simplify(b + 2 * w) == 0
    with pytest.raises(ValueError, match="steady part"):
        circuits.sinusoid_coefficients(sp.sin(w * t) + t, t, w)


def test_bad_circuits_and_arguments_are_rejected():
    with pytest.raises(ValueError, match="R must be"):
        circuits.Series(R=-1.0)
    with pytest.raises(ValueError, match="C must be"):
        circuits.Series(R=1.0, C=0.0)
    with pytest.raises(ValueError, match="cannot both be 0"):
        circuits.Series(R=0.0, C=1e-3)
    with pytest.raises(ValueError, match="resonance needs"):
        _ = circuits.Series(R=1.0, L=0.1).resonance
    with pytest.raises(ValueError, match="omega must be > 0"):
        RLC.impedance(0.0)
    with pytest.raises(ValueError, match="exactly one"):
        RLC.simulate([0.0, 1.0])
