"""Small pieces every training loop of the book uses: progress bars, divergence, threads.

Seeds come from :mod:`book.seeding`.

A loop calls :func:`check_finite` on its loss each step; a NaN or an infinity raises
:class:`Diverged` with the step and a hint, instead of letting NaNs reach a plot.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Iterable, Iterator, TypeVar

import numpy as np
import torch

from book import checks

T = TypeVar("T")


class Diverged(ArithmeticError):
    """Training produced a non-finite value; ``step`` says when, ``value`` what."""

    def __init__(self, name: str, step: int, value: float, hint: str = ""):
        self.name, self.step, self.value = name, step, value
        msg = f"training diverged: {name} became {value} at step {step}"
        super().__init__(msg + (f"; {hint}" if hint else ""))


def check_finite(value, step: int, name: str = "loss", hint: str = "") -> float:
    """Return ``value`` as a float, or raise :class:`Diverged` if it is NaN or infinite."""
    x = float(value.detach()) if isinstance(value, torch.Tensor) else float(value)
    if not math.isfinite(x):
        raise Diverged(name, step, x, hint)
    return x



def progress(iterable: Iterable[T], desc: str = "", total: int | None = None,
             **kwargs) -> Iterable[T]:
    """A progress bar (a widget in Jupyter and in the built page; text elsewhere)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, mininterval=0.5, **kwargs)


@contextmanager
def torch_threads(n: int = 1) -> Iterator[None]:
    """Run the block with ``n`` intra-op torch threads, then restore the previous number.

    Networks of a few thousand weights finish each operation in microseconds; waking a
    second thread for them costs more than it saves (a GAN step on 2 cores is about 3x
    slower with two threads than with one).
    """
    checks.integer(n, "the number of threads")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
