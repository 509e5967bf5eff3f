"""book.optim.schedules: piecewise-linear schedules against np.interp, and their checks."""

import numpy as np
import pytest

from book.optim import schedules


def test_piecewise_linear_matches_np_interp():
    sched = {10: 1.0, 30: 0.2, 50: 0.5}
    ts = np.arange(0, 80)
    ref = np.interp(ts, [0, 10, 30, 50], [0.0, 1.0, 0.2, 0.5])
    np.testing.assert_allclose([schedules.piecewise_linear(int(t), sched) for t in ts], ref, rtol=1e-12)
    assert schedules.piecewise_linear(5, {0: 2.0, 10: 0.0}) == 1.0  # a knot at 0 starts there


def test_check_schedule_sorts_and_rejects_negative_steps():
    assert list(schedules.check_schedule({30: 0.5, 10: 1.0}).items()) == [(10, 1.0), (30, 0.5)]
    with pytest.raises(ValueError, match="step t must be >= 0"):
        schedules.piecewise_linear(-1, {10: 1.0})


@pytest.mark.parametrize("bad", [{}, [1, 2], {-1: 1.0}, {2.5: 1.0}, {10: -0.1},
                                 {10: float("nan")}, {True: 1.0}])
def test_bad_schedules_raise(bad):
    with pytest.raises(ValueError, match="schedule"):
        schedules.piecewise_linear(3, bad)
