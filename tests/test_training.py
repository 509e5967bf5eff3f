"""book.training: divergence detection, seeding, progress."""

import math

import numpy as np
import pytest
import torch

from book import training


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -math.inf])
def test_check_finite_raises_with_step_and_hint(bad):
    with pytest.raises(training.Diverged, match=r"loss became .* at step 17; lower the lr"):
        training.check_finite(torch.tensor(bad), 17, hint="lower the lr")
    assert issubclass(training.Diverged, ArithmeticError)


def test_check_finite_returns_a_float():
    assert training.check_finite(torch.tensor(2.5), 0) == 2.5
    assert training.check_finite(np.float32(1.0), 3, name="critic") == 1.0


def test_progress_yields_everything():
    assert list(training.progress(range(5), desc="x", disable=True)) == [0, 1, 2, 3, 4]


def test_torch_threads_sets_and_restores():
    before = torch.get_num_threads()
    with training.torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError):
        with training.torch_threads(1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            with training.torch_threads(bad):
                pass


def _square_or_diverge(x):
    if x < 0:
        raise training.Diverged("loss", 3, float("nan"), "lower the lr")
    return x * x


def test_side_by_side_is_the_plain_loop_in_order():
    calls = [{"x": k} for k in range(5)]
    assert training.side_by_side(_square_or_diverge, calls, processes=2) == [0, 1, 4, 9, 16]
    assert training.side_by_side(_square_or_diverge, calls, processes=1) == [0, 1, 4, 9, 16]


def test_side_by_side_raises_a_runs_divergence_intact():
    with pytest.raises(training.Diverged, match="lower the lr") as err:
        training.side_by_side(_square_or_diverge, [{"x": 1}, {"x": -1}], processes=2)
    assert err.value.step == 3 and err.value.name == "loss"


def test_start_side_by_side_returns_before_the_runs_end():
    job = training.start_side_by_side(_square_or_diverge, [{"x": 2}, {"x": 3}], processes=2)
    assert job.result() == [4, 9]
    one_core = training.start_side_by_side(_square_or_diverge, [{"x": 2}], processes=1)
    assert one_core.pool is None and one_core.result() == [4]


def test_side_by_side_can_keep_a_divergence_in_its_place():
    for processes in (1, 2):
        out = training.side_by_side(_square_or_diverge, [{"x": 3}, {"x": -1}],
                                    processes=processes, catch=(training.Diverged,))
        assert out[0] == 9 and isinstance(out[1], training.Diverged) and out[1].step == 3


def test_side_by_side_starts_the_costliest_first_and_keeps_the_order():
    calls = [{"x": x} for x in range(5)]
    out = training.side_by_side(_square_or_diverge, calls, processes=2, cost=[0, 1, 2, 3, 4])
    assert out == [0, 1, 4, 9, 16]
    with pytest.raises(ValueError, match="cost has 2 entries for 5 calls"):
        training.side_by_side(_square_or_diverge, calls, processes=2, cost=[1, 2])


def test_side_by_side_reuses_its_workers():
    training.side_by_side(_square_or_diverge, [{"x": 1}, {"x": 2}], processes=2)
    first = training._POOLS[2]
    training.side_by_side(_square_or_diverge, [{"x": 1}, {"x": 2}], processes=2)
    assert training._POOLS[2] is first
