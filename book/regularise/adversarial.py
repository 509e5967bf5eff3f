"""Worst-case perturbations of an input, to first order (chapters ``adversarial_training``
and ``noise_gradient_penalty_vat``).

* :func:`first_order_step` maximises the linearised loss <g, delta> over a norm ball:
  FGM (L2), FGSM (L-infinity) and the L1 step; :func:`input_gradient` gives the g.
* :func:`attack` (one step) and :func:`pgd` (projected gradient ascent, many steps) perturb a
  classifier's input against its cross-entropy; :func:`ball_search` is the brute-force
  reference in two dimensions.
* :func:`gradient_norm` is the penalty ||grad_x l||_* that adversarial training equals to
  first order.
* :func:`kl_logits`, :func:`kl_hessian` and :func:`vat_direction` give virtual adversarial
  training's most sensitive direction: the top eigenvector of the Hessian of
  KL(p(x) || p(x + r)) at r = 0, by power iteration on finite differences of gradients.

A *row* is one perturbation: the trailing ``dims`` dimensions of a tensor (a pixel vector,
dims=1; the embeddings of a sentence, dims=2); every leading dimension indexes rows (stacked
models, batches). Every function here assumes that the loss of one row depends on that row
only (no batch normalisation), so that one backward pass of the summed loss gives all rows'
gradients.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from book import checks

NORMS = ("l2", "linf", "l1")
#: the dual of each norm: max_{||d|| <= 1} <g, d> = ||g||_dual
DUAL = {"l2": 2.0, "linf": 1.0, "l1": math.inf}


def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; known: {', '.join(NORMS)}")
    return norm


def _flat(t: torch.Tensor, dims: int) -> torch.Tensor:
    """(..., *row) -> (..., numel(row))."""
    checks.integer(dims, "dims")
    if t.ndim < dims:
        raise ValueError(f"a tensor of {t.ndim} dimensions has no rows of {dims} dimensions")
    return t.reshape(*t.shape[: t.ndim - dims], -1)


def row_norm(t: torch.Tensor, norm: str = "l2", dims: int = 1) -> torch.Tensor:
    """The norm of every row of ``t``, shape t.shape[:-dims]."""
    p = {"l2": 2.0, "linf": math.inf, "l1": 1.0}[_check_norm(norm)]
    return torch.linalg.vector_norm(_flat(t, dims), ord=p, dim=-1)


def first_order_step(grad: torch.Tensor, eps: float, norm: str = "l2",
                     dims: int = 1) -> torch.Tensor:
    """argmax_{||delta|| <= eps} <grad, delta>, row by row.

    l2 (FGM): eps g / ||g||_2; linf (FGSM): eps sign(g); l1: eps sign(g_i) e_i at the largest
    |g_i|. The maximum is eps ||g||_dual (dual norms: l2 <-> l2, linf <-> l1, l1 <-> linf).
    A zero gradient gives a zero step.
    """
    _check_norm(norm)
    eps = checks.number(eps, "eps", 0.0)
    g = _flat(grad, dims)
    if norm == "l2":
        # delta = eps g / ||g||_2
        n = torch.linalg.vector_norm(g, dim=-1, keepdim=True)
        step = eps * g / torch.where(n > 0, n, torch.ones_like(n))
    elif norm == "linf":
        # delta = eps sign(g)
        step = eps * torch.sign(g)
    else:
        # delta = eps sign(g_i) e_i, i = argmax |g_i|
        i = g.abs().argmax(dim=-1, keepdim=True)
        step = torch.zeros_like(g).scatter(-1, i, eps * torch.sign(g.gather(-1, i)))
    return step.reshape(grad.shape)


def input_gradient(loss: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                   create_graph: bool = False) -> torch.Tensor:
    """grad_x of ``loss(x)`` (one loss per row, summed), same shape as ``x``."""
    x = x if create_graph and x.requires_grad else x.detach().requires_grad_(True)
    value = loss(x)
    return torch.autograd.grad(value.sum(), x, create_graph=create_graph)[0]


def cross_entropy_rows(model: Callable, y: torch.Tensor) -> Callable:
    """x -> the cross-entropy of ``model(x)`` at labels ``y``, one value per row."""
    def loss(x: torch.Tensor) -> torch.Tensor:
        logits = model(x)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1),
                               reduction="none").reshape(y.shape)
    return loss


def attack(model: Callable, x: torch.Tensor, y: torch.Tensor, eps: float,
           norm: str = "l2") -> torch.Tensor:
    """One first-order step against the cross-entropy: x + first_order_step(grad_x CE)."""
    g = input_gradient(cross_entropy_rows(model, y), x)
    return (x + first_order_step(g, eps, norm)).detach()


def project(delta: torch.Tensor, eps: float, norm: str = "l2") -> torch.Tensor:
    """The nearest point of the ball ||delta|| <= eps (l2: rescale; linf: clip)."""
    if _check_norm(norm) == "l1":
        raise ValueError("project supports the norms l2 and linf")
    if norm == "linf":
        return delta.clamp(-eps, eps)
    n = torch.linalg.vector_norm(delta, dim=-1, keepdim=True)
    return delta * torch.clamp(eps / torch.where(n > 0, n, torch.ones_like(n)), max=1.0)


def pgd(model: Callable, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int = 20,
        step_size: float | None = None, norm: str = "l2") -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy in the ball ||delta|| <= eps
    (Madry et al.): delta <- project(delta + first_order_step(g, step_size)), from delta = 0."""
    checks.integer(steps, "steps")
    step_size = 2.5 * eps / steps if step_size is None else step_size
    loss = cross_entropy_rows(model, y)
    delta = torch.zeros_like(x)
    for _ in range(steps):
        g = input_gradient(loss, x + delta)
        delta = project(delta + first_order_step(g, step_size, norm), eps, norm)
    return (x + delta).detach()


def gradient_norm(loss: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                  norm: str = "l2") -> torch.Tensor:
    """||grad_x loss||_dual per row, differentiable in the model's weights: the first-order
    gain eps ||g||_dual of a step of size eps in ``norm``."""
    g = input_gradient(loss, x, create_graph=True)
    return row_norm(g, {"l2": "l2", "linf": "l1", "l1": "linf"}[_check_norm(norm)])


def ball_search(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, eps: float,
                norm: str = "l2", n: int = 401) -> tuple[torch.Tensor, torch.Tensor]:
    """Brute force: the largest f(x + delta) over a grid of the 2-D ball ||delta|| <= eps.

    l2: n radii times 4n angles, and the boundary circle at 64n angles (where the maximum of
    a loss with a nonzero gradient lies for small eps); linf: an n x n grid of the square.
    ``f`` maps (K, 2) points to (K,) values. Returns (best point, its value).
    """
    if x.shape != (2,):
        raise ValueError(f"ball_search works in two dimensions, x must have shape (2,), "
                         f"got {tuple(x.shape)}")
    checks.integer(n, "n", least=2)
    if _check_norm(norm) == "l2":
        r = torch.linspace(0, eps, n, dtype=x.dtype)
        phi = torch.linspace(0, 2 * math.pi, 4 * n + 1, dtype=x.dtype)[:-1]
        ring = torch.linspace(0, 2 * math.pi, 64 * n + 1, dtype=x.dtype)[:-1]
        delta = torch.cat([
            torch.stack([r[:, None] * torch.cos(phi), r[:, None] * torch.sin(phi)], -1).reshape(-1, 2),
            eps * torch.stack([torch.cos(ring), torch.sin(ring)], -1)])
    elif norm == "linf":
        s = torch.linspace(-eps, eps, n, dtype=x.dtype)
        delta = torch.stack(torch.meshgrid(s, s, indexing="ij"), -1)
    else:
        s = torch.linspace(-eps, eps, n, dtype=x.dtype)
        delta = torch.stack(torch.meshgrid(s, s, indexing="ij"), -1).reshape(-1, 2)
        delta = delta[delta.abs().sum(-1) <= eps * (1 + 1e-12)]
    points = x + delta.reshape(-1, 2)
    with torch.no_grad():
        values = f(points)
    best = values.argmax()
    return points[best], values[best]


# ---------------------------------------------------------------- virtual adversarial


def kl_logits(p_logits: torch.Tensor, q_logits: torch.Tensor) -> torch.Tensor:
    """KL(softmax(p) || softmax(q)) over the last dimension, one value per row."""
    logp = F.log_softmax(p_logits, dim=-1)
    return (logp.exp() * (logp - F.log_softmax(q_logits, dim=-1))).sum(-1)


def kl_hessian(model: Callable, x: torch.Tensor) -> torch.Tensor:
    """Hessian of r -> KL(p(x) || p(x + r)) at r = 0 for each row of an (N, d) batch,
    (N, d, d): J^T (diag(p) - p p^T) J with J = d logits / dx."""
    if x.ndim != 2:
        raise ValueError(f"x must be an (N, d) batch, got {tuple(x.shape)}")
    x = x.detach().requires_grad_(True)
    logits = model(x)                                            # (N, C)
    jac = torch.stack([torch.autograd.grad(logits[:, k].sum(), x, retain_graph=True)[0]
                       for k in range(logits.shape[1])], dim=1)  # (N, C, d)
    p = logits.detach().softmax(-1)
    # F = diag(p) - p p^T, the Hessian of KL(p || softmax(z)) in the logits z
    fisher = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
    return jac.transpose(1, 2) @ fisher @ jac


def vat_direction(model: Callable, x: torch.Tensor, n_iter: int = 1, xi: float = 1e-6,
                  d0: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Unit direction d of largest KL(p(x) || p(x + eps d)) per row, by ``n_iter`` steps of
    power iteration on the Hessian H of the KL at r = 0 (Miyato et al.):

        d <- normalise(grad_r KL(p(x) || p(x + r)) at r = xi d)   (= xi H d + O(xi^2))

    from a random start (or ``d0``). Rows are the last dimension of ``x``.
    """
    checks.integer(n_iter, "n_iter")
    checks.positive(xi, "xi")
    x = x.detach()
    with torch.no_grad():
        p_logits = model(x)
    d = torch.randn(x.shape, generator=generator, dtype=x.dtype) if d0 is None else d0.to(x)
    d = F.normalize(d, dim=-1)
    for _ in range(n_iter):
        g = input_gradient(lambda r: kl_logits(p_logits, model(x + r)), xi * d)
        d = F.normalize(g, dim=-1)
    return d.detach()
