"""Small pieces every training loop of the book uses: progress bars, divergence, threads.

Seeds come from :mod:`book.seeding`.

A loop calls :func:`check_finite` on its loss each step; a NaN or an infinity raises
:class:`Diverged` with the step and a hint, instead of letting NaNs reach a plot.
"""

from __future__ import annotations

import atexit
import math
import os
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch

from book import checks

T = TypeVar("T")


class Diverged(ArithmeticError):
    """Training produced a non-finite value; ``step`` says when, ``value`` what."""

    def __init__(self, name: str, step: int, value: float, hint: str = ""):
        self.name, self.step, self.value, self.hint = name, step, value, hint
        msg = f"training diverged: {name} became {value} at step {step}"
        super().__init__(msg + (f"; {hint}" if hint else ""))

    def __reduce__(self):  # so that it crosses from a worker process (side_by_side) intact
        return Diverged, (self.name, self.step, self.value, self.hint)


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


_POOLS: dict = {}


@atexit.register
def _close_pools() -> None:  # before the interpreter tears its modules down
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


def _pool(n: int):
    """The kernel's worker processes (``n`` of them), started once and kept for later calls:
    starting a worker costs seconds (it imports torch and the book), a chapter may need
    them twice. A pool broken by a crashed worker is replaced."""
    from concurrent.futures import ProcessPoolExecutor
    import multiprocessing

    pool = _POOLS.get(n)
    if pool is None or getattr(pool, "_broken", False):
        # spawn, not fork: a forked child of a process that ran torch can hang
        pool = _POOLS[n] = ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"))
    return pool


class SideBySide:
    """Runs started by :func:`start_side_by_side`; :meth:`result` waits for them all."""

    def __init__(self, fn, calls, processes, desc, catch=(), cost=None):
        n = len(calls) if processes is None else checks.integer(processes, "processes")
        n = min(n, os.cpu_count() or 1, len(calls))
        self.fn, self.calls, self.desc, self.pool, self.futures = fn, calls, desc, None, []
        self.catch = catch
        if cost is not None and len(cost) != len(calls):
            raise ValueError(f"cost has {len(cost)} entries for {len(calls)} calls")
        if n > 1:
            self.pool = _pool((os.cpu_count() or 1) if processes is None else n)
            order = range(len(calls)) if cost is None else sorted(
                range(len(calls)), key=lambda i: -cost[i])
            started = {i: self.pool.submit(fn, **calls[i]) for i in order}
            self.futures = [started[i] for i in range(len(calls))]

    def _get(self, thunk):
        try:
            return thunk()
        except self.catch as err:  # e.g. Diverged: kept in its place in the list
            return err

    def result(self) -> list:
        if self.pool is None:  # one core: the plain loop, run now
            return [self._get(lambda: self.fn(**kw))
                    for kw in progress(self.calls, desc=self.desc)]
        from concurrent.futures import as_completed

        for _ in progress(as_completed(self.futures), desc=self.desc, total=len(self.futures)):
            pass
        return [self._get(f.result) for f in self.futures]


def start_side_by_side(fn: Callable[..., Any], calls: list[dict], processes: int | None = None,
                       desc: str = "", catch: tuple = (),
                       cost: list[float] | None = None) -> SideBySide:
    """Start ``[fn(**kw) for kw in calls]`` in worker processes, one per core, and return
    at once; ``.result()`` gives the list, in order. See :func:`side_by_side`.

    A chapter starts its slowest runs this way at the top, and they train while its
    derivations run (on one core, they run when ``.result()`` is called).
    """
    return SideBySide(fn, calls, processes, desc, catch, cost)


def side_by_side(fn: Callable[..., Any], calls: list[dict], processes: int | None = None,
                 desc: str = "", catch: tuple = (), cost: list[float] | None = None) -> list:
    """``[fn(**kw) for kw in calls]``, computed in worker processes, one per core.

    For independent runs that each use one thread and seed themselves (``gan.train``): the
    results are those of the plain loop, in the same order, in about 1/cores of its time.
    With one core (a Binder session) or ``processes=1`` it is the plain loop. ``fn`` must
    be importable from a module, and its arguments and results picklable; an exception in
    a run is raised here, unless it is one of ``catch``: then it takes the run's place in
    the list. ``cost`` (one number per call, e.g. its expected seconds) starts the costliest
    runs first, so that a long run does not start last; the order of the results is kept.
    The worker processes stay up for the kernel's next call.
    """
    return start_side_by_side(fn, calls, processes, desc, catch, cost).result()
