"""Matrix exponentials, determinants and log-determinants (chapter ``det_exp_trace``).

All functions accept a single square matrix ``(d, d)`` or a batch ``(..., d, d)``.
"""

from __future__ import annotations

import math

import torch

from book import checks


def _check_square(A: torch.Tensor, name: str = "A") -> None:
    if not isinstance(A, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(A).__name__}")
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"{name} must be square, shape (..., d, d); got {tuple(A.shape)}")


def random_matrices(count: int, size: int, scale: float = 1.0,
                    generator: torch.Generator | None = None,
                    dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``count`` Gaussian matrices ``(count, size, size)`` with entries N(0, scale^2 / size).

    The 1/size variance keeps the spectrum of order ``scale`` whatever the size.
    """
    if count < 1 or size < 1:
        raise ValueError(f"count and size must be >= 1, got count={count}, size={size}")
    return torch.randn(count, size, size, generator=generator, dtype=dtype) * (
        scale / math.sqrt(size))


def limit_power(A: torch.Tensor, n: int) -> torch.Tensor:
    """(I + A/n)^n, which tends to exp(A) as n grows; error O(1/n)."""
    _check_square(A)
    n = checks.integer(n, "n")
    eye = torch.eye(A.shape[-1], dtype=A.dtype, device=A.device)
    return torch.linalg.matrix_power(eye + A / n, n)


def det_exp_trace_error(A: torch.Tensor) -> torch.Tensor:
    """Relative gap |det(exp A) - exp(tr A)| / exp(tr A), computed in log space.

    det(exp A) > 0 always, so its log is taken from ``slogdet``; the gap is
    |exp(logdet - tr A) - 1|, which stays finite for any size of tr A.
    """
    _check_square(A)
    sign, logdet = torch.linalg.slogdet(torch.linalg.matrix_exp(A))
    if bool((sign <= 0).any()):
        raise ValueError("det(exp A) came out non-positive: A is too ill-scaled for "
                         f"{A.dtype} (largest |entry| {A.abs().max().item():.3g})")
    trace = torch.diagonal(A, dim1=-2, dim2=-1).sum(-1)
    return torch.expm1(logdet - trace).abs()


def logdet_series(J: torch.Tensor, terms: int) -> torch.Tensor:
    """log det(I + J) = tr log(I + J) = sum_{k>=1} (-1)^(k+1) tr(J^k) / k, truncated.

    Converges when the spectral radius of J is below 1 (invertible ResNets keep
    Lip(g) < 1, which guarantees it for J the Jacobian of g).
    """
    _check_square(J, "J")
    if terms < 1:
        raise ValueError(f"terms must be >= 1, got {terms}")
    total = torch.zeros(J.shape[:-2], dtype=J.dtype)
    power = J
    for k in range(1, terms + 1):
        # (-1)^(k+1) tr(J^k) / k
        total = total + (-1) ** (k + 1) * torch.diagonal(power, dim1=-2, dim2=-1).sum(-1) / k
        power = power @ J
    return total


def hutchinson_logdet(J: torch.Tensor, terms: int, probes: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """Unbiased estimate of the truncated series with Rademacher probes v:
    tr(J^k) = E[v^T J^k v], so only matrix-vector products with J are needed.

    Returns one estimate per probe, shape ``(probes,)``, for a single matrix J.
    """
    _check_square(J, "J")
    if J.ndim != 2:
        raise ValueError(f"J must be one matrix (d, d), got {tuple(J.shape)}")
    if terms < 1 or probes < 1:
        raise ValueError(f"terms and probes must be >= 1, got {terms}, {probes}")
    d = J.shape[0]
    v = torch.randint(0, 2, (d, probes), generator=generator).to(J.dtype) * 2 - 1
    w, est = v, torch.zeros(probes, dtype=J.dtype)
    for k in range(1, terms + 1):
        w = J @ w  # (d, probes): J^k v
        est = est + (-1) ** (k + 1) * (v * w).sum(0) / k
    return est


def expm_action(A: torch.Tensor, x: torch.Tensor, terms: int) -> torch.Tensor:
    """e^A x by the truncated series sum_{k<terms} A^k x / k!: ``terms`` matrix-vector
    products, O(terms d^2) per column of x, never forming e^A (O(d^3)).

    ``A`` is (d, d), ``x`` is (d,) or (d, m). The tail after K terms is at most
    ||A||^K / K! * e^||A|| * ||x||, so K a few times ||A|| suffices.
    """
    _check_square(A)
    if A.ndim != 2:
        raise ValueError(f"A must be one matrix (d, d), got {tuple(A.shape)}")
    if not isinstance(x, torch.Tensor) or x.ndim not in (1, 2) or x.shape[0] != A.shape[0]:
        raise ValueError(f"x must be a tensor (d,) or (d, m) with d = {A.shape[0]}, "
                         f"got {tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    terms = checks.integer(terms, "terms")
    term, total = x, x
    for k in range(1, terms):
        # A^k x / k! = A (A^{k-1} x / (k-1)!) / k
        term = A @ term / k
        total = total + term
    return total


def unit_circle_image(M: torch.Tensor, points: int = 200) -> torch.Tensor:
    """Image of the unit circle under a 2x2 matrix M, shape (2, points).

    The enclosed area is pi * |det M|: the picture of a determinant.
    """
    _check_square(M, "M")
    if M.shape != (2, 2):
        raise ValueError(f"M must be 2x2, got {tuple(M.shape)}")
    theta = torch.linspace(0, 2 * math.pi, points, dtype=M.dtype)
    return M @ torch.stack([theta.cos(), theta.sin()])


def polygon_area(xy: torch.Tensor) -> float:
    """Area enclosed by a closed curve given as points (2, P) (shoelace formula)."""
    x, y = xy[0], xy[1]
    return 0.5 * float((x * y.roll(-1) - x.roll(-1) * y).sum().abs())
