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
