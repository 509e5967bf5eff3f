"""Learning-rate schedules: multipliers of the base learning rate as functions of the step
(chapter ``derived_optimizers``; :class:`book.optim.wrappers.PiecewiseLinearLR` applies one
to any optimiser).

A schedule is given by its knots ``{step: multiplier}``; between knots the multiplier is
linear, so a few knots imitate warm-up, step decay or a cosine.
"""

from __future__ import annotations

from book import checks


def check_schedule(schedule: dict) -> dict[int, float]:
    """Validate ``{step: multiplier}``: steps distinct integers >= 0, multipliers >= 0."""
    if not isinstance(schedule, dict) or not schedule:
        raise ValueError(f"schedule must be a non-empty dict {{step: multiplier}}, got {schedule!r}")
    out = {}
    for t, m in sorted(schedule.items()):
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ValueError(f"schedule steps must be integers >= 0, got {t!r}")
        out[t] = checks.number(m, f"schedule multiplier at step {t}", 0.0)
    return out


def piecewise_linear(t: float, schedule: dict) -> float:
    """Multiplier at step t: linear between the knots of ``schedule`` and (0, 0), flat after.

    ``{1000: 1.0, 2000: 0.1}`` warms up from 0 to 1 over 1000 steps, then decays to 0.1.
    """
    knots = check_schedule(schedule)
    if t < 0:
        raise ValueError(f"step t must be >= 0, got {t}")
    points = list(knots.items())
    if points[0][0] != 0:
        points.insert(0, (0, 0.0))
    for (t0, m0), (t1, m1) in zip(points, points[1:]):
        if t <= t1:
            return m0 + (m1 - m0) * (t - t0) / (t1 - t0)
    return points[-1][1]
