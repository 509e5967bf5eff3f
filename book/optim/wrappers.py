"""Derived optimisers: wrappers that extend any ``torch.optim.Optimizer`` (chapter
``derived_optimizers``).

A wrapper holds an *inner* optimiser, shares its ``param_groups`` (the same list, so a
learning rate set on the outside is the one the inner step reads) and adds one idea
around the inner ``step``. Wrappers are optimisers themselves, so they nest::

    opt = Lookahead(GradientAccumulation(torch.optim.Adam(model.parameters()), steps=4))

Rules of composition (each wrapper only acts on calls that really update, see
:func:`will_update`): put :class:`LayerAdaptation` outside :class:`WeightDecay` to get LAMB;
:class:`LazyUpdates` must sit inside :class:`GradientAccumulation` (it reads gradients), and
holds idle rows against everything inside it (put :class:`WeightDecay` inside to spare them).
A ``closure`` is evaluated once by the outermost wrapper; the inner step gets none.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch
from torch.optim import Optimizer

from book import checks
from book.optim import schedules


def will_update(opt: Optimizer) -> bool:
    """Whether ``opt.step()`` will change the parameters (False while accumulating)."""
    return opt.will_update() if isinstance(opt, OptimizerWrapper) else True


class OptimizerWrapper(Optimizer):
    """Base of the wrappers: shares ``param_groups`` with ``inner``, keeps its own ``state``.

    ``state_dict()`` holds the wrapper's state and, under ``"inner"``, the inner one's;
    ``zero_grad`` and ``add_param_group`` act on the inner optimiser. Subclasses override
    ``_before(updating)`` and ``_after(updating)`` around the inner step.
    """

    def __init__(self, inner: Optimizer):
        if not isinstance(inner, Optimizer):
            raise ValueError(f"{type(self).__name__} wraps a torch.optim.Optimizer, "
                             f"got {type(inner).__name__}")
        # Optimizer's constructor (hooks, step patching, an empty state of our own) checks
        # and adds copies of the inner groups to a list of our own (it would rewrite the
        # groups themselves) ...
        super().__init__([dict(group) for group in inner.param_groups], inner.defaults)
        self.inner = inner
        self.param_groups = inner.param_groups  # ... which the inner list then replaces

    def _params(self) -> Iterable[tuple[dict, torch.Tensor]]:
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def will_update(self) -> bool:
        return will_update(self.inner)

    def _before(self, updating: bool) -> None:
        pass

    def _after(self, updating: bool) -> None:
        pass

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self._step()
        return loss

    def _step(self) -> None:
        """One step after the closure: ``_before``, the inner step, ``_after``."""
        updating = self.will_update()
        self._before(updating)
        self.inner.step()
        self._after(updating)

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.inner.zero_grad(set_to_none=set_to_none)

    def add_param_group(self, param_group: dict) -> None:
        if "inner" not in vars(self):  # called by Optimizer.__init__, see __init__
            return super().add_param_group(param_group)
        self.inner.add_param_group(param_group)

    def state_dict(self) -> dict:
        out = super().state_dict()
        out["inner"] = self.inner.state_dict()
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        if "inner" not in state_dict:
            raise ValueError(f"not a state_dict of {type(self).__name__}: no 'inner' entry")
        self.inner.load_state_dict(state_dict.pop("inner"))
        super().load_state_dict(state_dict)  # this replaces param_groups by copies ...
        self.param_groups = self.inner.param_groups  # ... so share the inner list again


class WeightDecay(OptimizerWrapper):
    """Decoupled weight decay: theta <- (1 - lr*wd) theta, then the inner step.

    With Adam inside this is AdamW; with plain SGD it equals L2 regularisation. The rate
    is read per group from ``group["decoupled_wd"]`` (default ``weight_decay``).
    """

    def __init__(self, inner: Optimizer, weight_decay: float):
        wd = checks.number(weight_decay, "weight_decay", 0.0)
        super().__init__(inner)
        for group in self.param_groups:
            group.setdefault("decoupled_wd", wd)

    def _before(self, updating):
        if not updating:
            return
        for group, p in self._params():
            if p.grad is not None and group["decoupled_wd"] != 0:
                # theta <- theta - lr * wd * theta
                p.mul_(1 - group["lr"] * group["decoupled_wd"])


class LayerAdaptation(OptimizerWrapper):
    """LAMB-style trust ratio: each tensor's inner step Delta becomes lr*phi(|theta|)*Delta/|Delta|.

    phi clips the parameter norm to ``norm_bounds``; if |theta| or |Delta| is 0 the
    inner step is kept. Every tensor then moves by the same relative amount lr.
    """

    def __init__(self, inner: Optimizer, norm_bounds: tuple[float, float] = (0.0, math.inf)):
        if not (isinstance(norm_bounds, (tuple, list)) and len(norm_bounds) == 2):
            raise ValueError(f"norm_bounds must be a pair (low, high), got {norm_bounds!r}")
        low = checks.number(norm_bounds[0], "norm_bounds[0]", 0.0)
        if not (isinstance(norm_bounds[1], (int, float)) and norm_bounds[1] > low):
            raise ValueError(f"norm_bounds[1] must be a number > norm_bounds[0] = {low}, "
                             f"got {norm_bounds[1]!r}")
        super().__init__(inner)
        self.norm_bounds = (low, float(norm_bounds[1]))
        self._old: list[tuple[dict, torch.Tensor, torch.Tensor]] = []

    def _before(self, updating):
        self._old = [(g, p, p.detach().clone()) for g, p in self._params()
                     if updating and p.grad is not None]

    def _after(self, updating):
        for group, p, old in self._old:
            delta = p - old
            w_norm = old.norm().clamp(*self.norm_bounds)
            d_norm = delta.norm()
            if w_norm > 0 and d_norm > 0:
                # theta <- theta_old + lr * phi(|theta_old|) / |Delta| * Delta
                p.copy_(old + group["lr"] * w_norm / d_norm * delta)
        self._old = []


class PiecewiseLinearLR(OptimizerWrapper):
    """lr of each group = base lr x :func:`book.optim.schedules.piecewise_linear` of the
    number of updates so far.

    The lr for the coming update is written into the groups right after each update, so
    wrappers at any depth read the same value.
    """

    def __init__(self, inner: Optimizer, schedule: dict):
        self.schedule = schedules.check_schedule(schedule)
        super().__init__(inner)
        for group in self.param_groups:
            group.setdefault("base_lr", group["lr"])
        self.state["updates"] = 0
        self._set_lr()

    def _set_lr(self):
        factor = schedules.piecewise_linear(self.state["updates"], self.schedule)
        for group in self.param_groups:
            group["lr"] = group["base_lr"] * factor

    def _after(self, updating):
        if updating:
            self.state["updates"] += 1
            self._set_lr()


class GradientAccumulation(OptimizerWrapper):
    """Average the gradients of ``steps`` calls, then one inner step with that mean.

    With equal micro-batches the mean of their gradients is the big-batch gradient.
    Between updates the parameters do not move.
    """

    def __init__(self, inner: Optimizer, steps: int):
        self.steps = checks.integer(steps, "steps")
        super().__init__(inner)
        self.state["micro"] = 0

    def will_update(self) -> bool:
        return self.state["micro"] + 1 >= self.steps and will_update(self.inner)

    def _step(self) -> None:
        for _, p in self._params():
            if p.grad is not None:
                s = self.state[p]
                if "grad_sum" in s:
                    s["grad_sum"].add_(p.grad)
                else:
                    s["grad_sum"] = p.grad.detach().clone()
        self.state["micro"] += 1
        if self.state["micro"] >= self.steps:
            for _, p in self._params():
                total = self.state[p].pop("grad_sum", None)
                if total is not None:
                    # g = (1/k) sum_i g_i
                    p.grad = total / self.steps
            self.inner.step()
            self.state["micro"] = 0


class Lookahead(OptimizerWrapper):
    """Every k inner updates: slow <- slow + alpha (fast - slow), fast <- slow.

    k = 1, alpha = 1 gives back the inner optimiser.
    """

    def __init__(self, inner: Optimizer, k: int = 5, alpha: float = 0.5):
        self.k = checks.integer(k, "k")
        self.alpha = checks.number(alpha, "alpha", 0.0, low_ok=False, high=1.0, high_ok=True)
        super().__init__(inner)
        self.state["updates"] = 0

    def _before(self, updating):
        for _, p in self._params():
            if "slow" not in self.state[p]:
                self.state[p]["slow"] = p.detach().clone()

    def _after(self, updating):
        if not updating:
            return
        self.state["updates"] += 1
        if self.state["updates"] % self.k == 0:
            for _, p in self._params():
                slow = self.state[p]["slow"]
                slow.lerp_(p, self.alpha)  # lerp is exact at alpha = 1
                p.copy_(slow)


class LazyUpdates(OptimizerWrapper):
    """Rows (first index) of the chosen tensors whose gradient is all zero keep their values.

    Momentum then cannot move embedding rows of tokens absent from the batch; the inner
    state (moments) is still updated as the inner optimiser does. ``params``: the tensors
    treated lazily (default: every tensor of the optimiser with at least one dimension).
    """

    def __init__(self, inner: Optimizer, params: Iterable[torch.Tensor] | None = None):
        opt = inner
        while isinstance(opt, OptimizerWrapper):
            if isinstance(opt, GradientAccumulation):
                raise ValueError("LazyUpdates reads gradients, so it must sit inside "
                                 "GradientAccumulation, not outside it: use "
                                 "GradientAccumulation(LazyUpdates(...), steps)")
            opt = opt.inner
        super().__init__(inner)
        known = {id(p) for _, p in self._params()}
        if params is None:
            self.lazy = [p for _, p in self._params() if p.ndim >= 1]
        else:
            self.lazy = list(params)
            for p in self.lazy:
                if not isinstance(p, torch.Tensor) or id(p) not in known:
                    raise ValueError("LazyUpdates: every tensor in params must be one of "
                                     "the optimiser's parameters")
                if p.ndim < 1:
                    raise ValueError("LazyUpdates: params need at least one dimension "
                                     f"(rows), got a tensor of shape {tuple(p.shape)}")
        self._kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def _before(self, updating):
        self._kept = []
        if not updating:
            return
        for p in self.lazy:
            if p.grad is None:
                continue
            g = p.grad.to_dense() if p.grad.is_sparse else p.grad
            idle = (g.reshape(g.shape[0], -1) == 0).all(dim=1)  # (rows,)
            if bool(idle.any()):
                self._kept.append((p, idle, p[idle].clone()))

    def _after(self, updating):
        for p, idle, rows in self._kept:
            p[idle] = rows
        self._kept = []
