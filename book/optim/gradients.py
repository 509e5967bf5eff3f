"""Layer-wise learning rates by reparametrisation, and gradients edited by tensor hooks
(chapter ``layerwise_lr_and_gradients``).

Writing a weight as w = lam * v and training v changes the learning rate that w sees:
lam^2 * lr under SGD (with or without momentum), lam * lr under Adam (exactly so if Adam's
eps is divided by lam as well). Hooks registered on tensors rewrite gradients on their way
back, one tensor at a time: per-parameter clipping, scaling, stopping.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.utils.hooks import RemovableHandle

from book import checks

KINDS = ("sgd", "adam")


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown optimizer kind {kind!r}; known: {', '.join(KINDS)}")
    return kind


def equivalent_hyperparameters(kind: str, lam: float, lr: float, eps: float = 1e-8) -> dict:
    """Hyper-parameters that train w directly as training v (w = lam v) with (lr, eps) does.

    SGD: lr' = lam^2 lr. Adam: lr' = lam lr and eps' = eps / lam (exact); with eps' = eps
    it is only approximate, up to a relative (eps - eps/lam) / (sqrt(v_hat) + eps/lam).
    """
    _kind(kind)
    lam, lr = checks.positive(lam, "lam"), checks.positive(lr, "lr")
    if kind == "sgd":
        return {"lr": lam ** 2 * lr}
    return {"lr": lam * lr, "eps": checks.number(eps, "eps", 0.0) / lam}


class Scale(nn.Module):
    """The parametrisation w = lam * v; ``right_inverse`` maps a weight w to v = w / lam."""

    def __init__(self, lam: float):
        super().__init__()
        self.lam = checks.positive(lam, "lam")

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.lam * v

    def right_inverse(self, w: torch.Tensor) -> torch.Tensor:
        return w / self.lam


def scale_learning_rate(module: nn.Module, factor: float, kind: str) -> float:
    """Make optimiser ``kind`` train every parameter of ``module`` with ``factor`` x lr.

    Registers w = lam v on each parameter (lam = sqrt(factor) for SGD, factor for Adam);
    the optimiser must then be given ``module.parameters()`` *after* this call. Returns lam.
    """
    factor = checks.positive(factor, "factor")
    lam = math.sqrt(factor) if _kind(kind) == "sgd" else factor
    modules = [m for m in module.modules()
               if not isinstance(m, parametrize.ParametrizationList)]
    if any(parametrize.is_parametrized(m) for m in modules):
        raise ValueError(f"{type(module).__name__} is already parametrised; rescale it once")
    targets = [(m, name) for m in modules for name, _ in m.named_parameters(recurse=False)]
    if not targets:
        raise ValueError(f"{type(module).__name__} has no parameters to rescale")
    for m, name in targets:
        parametrize.register_parametrization(m, name, Scale(lam))
    return lam


def layerwise_groups(model: nn.Module, lr: float, factors: dict[str, float]) -> list[dict]:
    """Param groups for a torch optimiser: parameters under prefix ``p`` get lr x factors[p].

    The longest matching prefix wins; other parameters get ``lr``. Every prefix must match.
    One group per prefix (``"prefix"`` names it, ``None`` for the rest), even when two
    prefixes get the same learning rate, so each can be rescheduled on its own.
    """
    lr = checks.positive(lr, "lr")
    for prefix, f in factors.items():
        checks.positive(f, f"factor of {prefix!r}")
    groups: dict[str | None, list] = {}
    for name, p in model.named_parameters():
        match = max((k for k in factors if name == k or name.startswith(k + ".")),
                    key=len, default=None)
        groups.setdefault(match, []).append(p)
    unused = set(factors) - set(groups)
    if unused:
        raise ValueError(f"prefixes {sorted(unused)} match no parameter; names are "
                         f"{[n for n, _ in model.named_parameters()]}")
    return [{"params": ps, "lr": lr * factors[k] if k is not None else lr, "prefix": k}
            for k, ps in groups.items()]


def hook_gradients(params: Iterable[torch.Tensor],
                   fn: Callable[[torch.Tensor], torch.Tensor]) -> list[RemovableHandle]:
    """Register ``fn(grad) -> new grad`` on each tensor; returns handles (``.remove()``)."""
    if not callable(fn):
        raise ValueError(f"fn must be callable, got {type(fn).__name__}")
    params = list(params)
    if not params:
        raise ValueError("params is empty: nothing to hook")
    for p in params:
        if not (isinstance(p, torch.Tensor) and p.requires_grad):
            raise ValueError("every tensor in params must require grad")
    return [p.register_hook(fn) for p in params]


def clip_per_parameter(params: Iterable[torch.Tensor], max_norm: float) -> list[RemovableHandle]:
    """Clip each tensor's gradient on its own: g <- g * min(1, max_norm / |g|)."""
    max_norm = checks.positive(max_norm, "max_norm")

    def clip(g: torch.Tensor) -> torch.Tensor:
        norm = g.norm()
        return g * (max_norm / norm) if norm > max_norm else g

    return hook_gradients(params, clip)


def scale_gradient(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Identity in the forward pass; the gradient through it is multiplied by ``factor``.

    factor = 0 stops the gradient (like ``x.detach()``), factor = -1 reverses it.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor):
        raise ValueError(f"factor must be a finite number, got {factor!r}")
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.requires_grad:
        return x
    y = x.view_as(x)  # a new node: only gradients through y are scaled, not other uses of x
    y.register_hook(lambda g: g * factor)
    return y
