"""A resistor, an inductor and a capacitor in series, driven by a voltage source
(chapter ``coil_reactance``).

Conventions: the drive is V(t) = V0 sin(omega t) unless another drive is given, and a
steady current is written I(t) = I0 sin(omega t - phi), so phi > 0 means that the current
lags the voltage (an inductor) and phi < 0 that it leads (a capacitor).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from book import checks


def amplitude_phase(a, b) -> tuple:
    """(A, phi) with a sin(wt) + b cos(wt) = A sin(wt - phi): A = sqrt(a^2 + b^2) and
    phi = atan2(-b, a). Works on numbers and NumPy arrays."""
    return np.hypot(a, b), np.arctan2(-np.asarray(b), a)


def sinusoid_coefficients(expr: sp.Expr, t: sp.Symbol, omega: sp.Expr) -> tuple:
    """(a, b) of the steady part a sin(omega t) + b cos(omega t) of a sympy solution.

    The transient terms (those holding an exponential, or an integration constant C1, C2)
    are dropped first; ValueError if anything else is left besides the sinusoid.
    """
    terms = sp.Add.make_args(sp.expand(expr))
    constants = {s for s in expr.free_symbols if s.name in ("C1", "C2")}
    steady = sp.Add(*[term for term in terms
                      if not term.has(sp.exp) and not term.free_symbols & constants])
    a = steady.coeff(sp.sin(omega * t))
    b = steady.coeff(sp.cos(omega * t))
    rest = sp.simplify(steady - a * sp.sin(omega * t) - b * sp.cos(omega * t))
    if rest != 0 or a.has(t) or b.has(t):
        raise ValueError(f"the steady part is not a sin(omega t) + b cos(omega t): left {rest}")
    return sp.simplify(a), sp.simplify(b)


@dataclass(frozen=True)
class Series:
    """R (ohm), L (henry) and C (farad) in series; L = 0 means no inductor and
    C = inf no capacitor (a wire in its place)."""

    R: float
    L: float = 0.0
    C: float = math.inf

    def __post_init__(self):
        checks.number(self.R, "R", 0.0)
        checks.number(self.L, "L", 0.0)
        if not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ValueError(f"C must be a number > 0 (math.inf for no capacitor), got {self.C!r}")
        if self.L == 0 and self.R == 0:
            raise ValueError("R and L cannot both be 0: the circuit needs a resistor or an "
                             "inductor (R > 0 or L > 0)")

    def impedance(self, omega):
        """Z = R + i omega L + 1 / (i omega C) (complex; omega in rad/s, > 0)."""
        omega = np.asarray(omega, dtype=float)
        if np.any(omega <= 0):
            raise ValueError("omega must be > 0 (rad/s)")
        # 1 / (i omega C) = -i / (omega C), which vanishes when C = inf (no capacitor)
        x_c = 0.0 * omega if math.isinf(self.C) else 1 / (omega * self.C)
        return self.R + 1j * (omega * self.L - x_c)

    def steady_current(self, t, omega, V0: float = 1.0):
        """I(t) = (V0 / |Z|) sin(omega t - arg Z), the periodic response to V0 sin(omega t)."""
        Z = self.impedance(omega)
        return V0 / np.abs(Z) * np.sin(omega * np.asarray(t, dtype=float) - np.angle(Z))

    @property
    def resonance(self) -> float:
        """omega_0 = 1 / sqrt(L C), where the two reactances cancel."""
        if self.L == 0 or math.isinf(self.C):
            raise ValueError("resonance needs both an inductor (L > 0) and a capacitor "
                             "(finite C)")
        return 1 / math.sqrt(self.L * self.C)

    @property
    def quality(self) -> float:
        """Q = omega_0 L / R = sqrt(L / C) / R."""
        if self.R == 0:
            raise ValueError("the quality factor needs R > 0 (it is infinite without loss)")
        return self.resonance * self.L / self.R

    def half_power(self) -> tuple[float, float]:
        """The two frequencies where |I| = I_max / sqrt(2): |omega L - 1/(omega C)| = R, i.e.
        omega = sqrt(omega_0^2 + (R / 2L)^2) -+ R / 2L. Their gap is R / L = omega_0 / Q."""
        w0, half = self.resonance, self.R / (2 * self.L)
        centre = math.sqrt(w0 ** 2 + half ** 2)
        return centre - half, centre + half

    def simulate(self, t_eval, omega: float | None = None, V0: float = 1.0,
                 drive: Callable | None = None, rtol: float = 1e-10, atol: float = 1e-15,
                 max_step: float = math.inf) -> np.ndarray:
        """The current I(t_eval) from rest (no charge, no current at t = 0), by solve_ivp.

        The drive is V0 sin(omega t), or ``drive(t)`` when given. With an inductor the
        state is (q, I): q' = I, L I' = V - R I - q / C; without one, R q' = V - q / C.
        The charge is small (about 4e-5 C for the chapter's circuit): an absolute tolerance
        of 1e-12 on it is only 2.5e-8 relative, and left the error machine-dependent
        (1.3e-8 of the current's amplitude on one CPU); 1e-15 keeps it below 1e-9.
        """
        if (omega is None) == (drive is None):
            raise ValueError("give exactly one of omega (a sine drive) and drive (a function)")
        if drive is None:
            omega = checks.positive(omega, "omega")
            drive = lambda s: V0 * math.sin(omega * s)  # noqa: E731
        t_eval = checks.vector(t_eval, "t_eval")
        inv_c = 0.0 if math.isinf(self.C) else 1 / self.C
        if self.L > 0:
            def rhs(s, state):
                q, i = state
                return [i, (drive(s) - self.R * i - q * inv_c) / self.L]
        else:
            def rhs(s, state):
                return [(drive(s) - state[0] * inv_c) / self.R]
        start = [0.0, 0.0] if self.L > 0 else [0.0]
        sol = solve_ivp(rhs, (0.0, float(t_eval[-1])), start, t_eval=t_eval, method="DOP853",
                        rtol=rtol, atol=atol, max_step=max_step)
        if not sol.success:
            raise RuntimeError(f"solve_ivp failed: {sol.message}")
        if self.L > 0:
            return sol.y[1]
        # I = q' = (V - q / C) / R
        return (np.array([drive(s) for s in sol.t]) - sol.y[0] * inv_c) / self.R
