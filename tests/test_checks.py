"""book.checks: the shared argument checks accept what they promise and name the rest."""

import math

import numpy as np
import pytest

from book import checks


def test_integer():
    assert checks.integer(3, "n") == 3 and checks.integer(2, "n", least=2) == 2
    value = checks.integer(np.int64(4), "n")  # a NumPy integer (a slider's value) is an int
    assert value == 4 and type(value) is int
    for bad in (0, 1.0, np.float64(2.0), True, "3"):
        with pytest.raises(ValueError, match=r"n must be an integer >= 1, got"):
            checks.integer(bad, "n")
    with pytest.raises(ValueError, match="folds must be an integer >= 2, got 1"):
        checks.integer(1, "folds", least=2)


def test_number_intervals():
    assert checks.number(0, "p", 0, high=1) == 0.0
    assert checks.number(1, "a", 0, low_ok=False, high=1, high_ok=True) == 1.0
    with pytest.raises(ValueError, match=r"p must be a number in \(0, 1\), got 0"):
        checks.number(0, "p", 0, low_ok=False, high=1)
    with pytest.raises(ValueError, match=r"p must be a number in \[0, 1\), got 1"):
        checks.number(1, "p", 0, high=1)
    for bad in (math.nan, math.inf, True, "0.5", None):
        with pytest.raises(ValueError, match="must be a number in"):
            checks.number(bad, "x", 0.0)


def test_numpy_numbers_and_positive():
    value = checks.number(np.float32(0.5), "p", 0, high=1)  # a NumPy scalar (a slider's value)
    assert value == 0.5 and type(value) is float
    assert checks.positive(np.int64(2), "lr") == 2.0 and checks.positive(1e-300, "h") == 1e-300
    for bad in (0, -1.0, math.nan, math.inf, True, None, np.float64(-0.0)):
        with pytest.raises(ValueError, match=r"lr must be a number in \(0.0, inf\), got"):
            checks.positive(bad, "lr")


def test_vector():
    x = checks.vector([1, 2], "theta0")
    assert x.dtype == np.float64 and x.tolist() == [1.0, 2.0]
    for bad in ([], [[1.0]], 3.0, [1.0, math.nan], [math.inf]):
        with pytest.raises(ValueError, match="theta0 must be a finite non-empty 1-D array"):
            checks.vector(bad, "theta0")


def test_runs_need_one_seed_per_known_method():
    checks.runs(["a", "b"], [0, 1], ("a", "b"))
    with pytest.raises(ValueError, match="one seed per method"):
        checks.runs(["a"], [0, 1], ("a",))
    with pytest.raises(ValueError, match="one seed per method"):
        checks.runs([], [], ("a",))
    with pytest.raises(ValueError, match=r"unknown methods \['c'\]; known: a, b"):
        checks.runs(["a", "c"], [0, 1], ("a", "b"))
