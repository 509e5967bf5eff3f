"""The library-shelving problem and its spectral relaxation (chapter ``minimum_entropy_word_vectors``).

Items i, j used together with weight w_ij (books borrowed together, words in one window)
get positions v_i. The walking cost of a layout is  sum_{i<j} w_ij |v_i - v_j|^power.
Relaxed to squared distances under the constraints V^T D V = I and V^T D 1 = 0 (D the
diagonal of degrees d_i = sum_j w_ij), the best layout solves the generalised eigenproblem
L v = lambda D v, L = D - W, for the smallest non-trivial eigenvalues. With Y = D^{1/2} V and
A = D^{-1/2} W D^{-1/2}, that is: maximise tr(Y^T A Y) over orthonormal Y orthogonal to
s = sqrt(d / sum d), the eigenvector of A for its largest eigenvalue 1.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.sparse as sp
import torch

from book import seeding


def _check_weights(weights):
    shape = weights.shape
    if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
        raise ValueError(f"weights must be a square matrix of size >= 2, got shape {shape}")
    dense = weights.toarray() if sp.issparse(weights) else np.asarray(weights, dtype=np.float64)
    if (dense < 0).any():
        raise ValueError("weights must be non-negative")
    if not np.allclose(dense, dense.T):
        raise ValueError("weights must be symmetric (w_ij = w_ji)")
    if (dense.sum(axis=1) <= 0).any():
        raise ValueError("every item needs at least one co-occurrence (a zero row of weights)")
    return dense


def shelf_costs(weights: np.ndarray, positions: np.ndarray, power: float = 1.0) -> np.ndarray:
    """Walking cost sum_{i<j} w_ij |x_i - x_j|^power of each layout (a row of ``positions``)."""
    w = _check_weights(weights)
    x = np.atleast_2d(np.asarray(positions, dtype=np.float64))  # (layouts, n)
    if x.shape[-1] != w.shape[0]:
        raise ValueError(f"positions need {w.shape[0]} columns, got {x.shape[-1]}")
    iu, ju = np.triu_indices(w.shape[0], 1)
    keep = w[iu, ju] != 0
    iu, ju, wij = iu[keep], ju[keep], w[iu[keep], ju[keep]]
    cost = np.empty(x.shape[0])
    for start in range(0, x.shape[0], 65536):  # in blocks: (block, pairs) stays small
        block = x[start:start + 65536]
        cost[start:start + 65536] = (np.abs(block[:, iu] - block[:, ju]) ** power) @ wij
    return cost


def all_shelvings(n: int) -> np.ndarray:
    """Every way to put n items in n slots: row r gives the slot of each item, shape (n!, n)."""
    if not 1 <= n <= 10:
        raise ValueError(f"brute force is for 1..10 items (10! = 3.6M layouts), got {n}")
    return np.array(list(itertools.permutations(range(n))), dtype=np.int8)


def laplacian(weights) -> tuple[np.ndarray, np.ndarray]:
    """Graph Laplacian L = D - W (dense) and the degrees d_i = sum_j w_ij."""
    w = _check_weights(weights)
    degrees = w.sum(axis=1)
    return np.diag(degrees) - w, degrees


def normalized_adjacency(weights):
    """A = D^{-1/2} W D^{-1/2} (sparse if ``weights`` is) and s = sqrt(d / sum d), with A s = s."""
    if sp.issparse(weights):
        if weights.shape[0] != weights.shape[1] or (weights.data < 0).any():
            raise ValueError("weights must be a square non-negative matrix")
        degrees = np.asarray(weights.sum(axis=1)).ravel()
        if (degrees <= 0).any():
            raise ValueError("every item needs at least one co-occurrence (a zero row of weights)")
        scale = sp.diags(1.0 / np.sqrt(degrees))
        a = (scale @ weights @ scale).tocsr()
    else:
        w = _check_weights(weights)
        degrees = w.sum(axis=1)
        a = w / np.sqrt(np.outer(degrees, degrees))
    return a, np.sqrt(degrees / degrees.sum())


def spectral_layout(weights, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The relaxed optimal layout: eigenvalues lambda (dim,) of L v = lambda D v above the
    trivial 0, ascending, and Y (n, dim) = D^{1/2} V, orthonormal columns orthogonal to s.

    Dense matrices use a full symmetric eigendecomposition (on one BLAS thread: it is small,
    and OpenBLAS's waiting threads slow it down many times on a busy machine); sparse ones use
    ARPACK (``scipy.sparse.linalg.eigsh``) for the dim + 1 largest eigenvalues of A.
    """
    from threadpoolctl import threadpool_limits

    n = weights.shape[0]
    if not 1 <= dim <= n - 2:
        raise ValueError(f"dim must be in [1, {n - 2}], got {dim}")
    a, s = normalized_adjacency(weights)
    with threadpool_limits(limits=1, user_api="blas"):
        if sp.issparse(a):
            from scipy.sparse.linalg import eigsh

            mu, y = eigsh(a, k=dim + 1, which="LA", v0=s, tol=1e-10)
        else:
            mu, y = np.linalg.eigh(a)
    order = np.argsort(-mu)[1: dim + 1]  # drop the trivial top eigenvalue 1 (eigenvector s)
    y = y[:, order]
    y *= np.sign(y[np.abs(y).argmax(axis=0), np.arange(dim)])  # a fixed sign per column
    return 1.0 - mu[order], y


def _gram(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """p^T q for thin (n, m) matrices by broadcasting: on a busy machine torch's threaded
    matrix products of such tiny shapes wait milliseconds for their threads."""
    return (p[:, :, None] * q[:, None, :]).sum(dim=0)


def _orthonormalise(y: torch.Tensor) -> torch.Tensor:
    """Gram-Schmidt on the columns of a thin (n, m) matrix, twice for accuracy (the Q of QR
    up to column signs)."""
    cols = []
    for k in range(y.shape[1]):
        v = y[:, k]
        for _ in range(2):
            for q in cols:
                v = v - (q * v).sum() * q
        cols.append(v / v.norm())
    return torch.stack(cols, dim=1)


def stiefel_descent(a, s, dim: int, steps: int, lr: float = 0.5, seed: int = 0,
                    record=()) -> tuple[torch.Tensor, list[float], dict[int, torch.Tensor]]:
    """Minimise f(Y) = tr(Y^T (I - A) Y) over Y^T Y = I, Y^T s = 0 by Riemannian gradient descent.

    Each step: gradient by autograd, projected on the tangent space (G - Y sym(Y^T G)),
    a step of size ``lr``, s projected out, and a Gram-Schmidt retraction back to orthonormal
    columns. Returns the final Y, f at every step, and copies of Y at the steps in ``record``.
    """
    from book.training import check_finite

    if steps < 0 or lr <= 0:
        raise ValueError(f"steps must be >= 0 and lr > 0, got steps={steps}, lr={lr}")
    a = torch.as_tensor(a.toarray() if sp.issparse(a) else a, dtype=torch.float64)
    s = torch.as_tensor(s, dtype=torch.float64)
    n = a.shape[0]
    if not 1 <= dim <= n - 2:
        raise ValueError(f"dim must be in [1, {n - 2}], got {dim}")
    gen = seeding.generator(seed)
    y = torch.randn(n, dim, generator=gen, dtype=torch.float64)
    y = _orthonormalise(y - s[:, None] * (s @ y)[None, :])
    losses, snapshots = [], {}
    for step in range(steps + 1):
        if step in record:
            snapshots[step] = y.clone()
        y.requires_grad_(True)
        # tr(Y^T Y) - tr(Y^T A Y), one matrix-vector product per column (see _gram)
        ay = torch.stack([a @ y[:, k] for k in range(dim)], dim=1)
        loss = (y * y).sum() - (y * ay).sum()
        (grad,) = torch.autograd.grad(loss, y)
        losses.append(check_finite(loss, step, "shelving cost"))
        if step == steps:
            break
        with torch.no_grad():
            yg = _gram(y, grad)
            sym = (yg + yg.T) / 2
            riemannian = grad - (y[:, :, None] * sym[None, :, :]).sum(dim=1)  # G - Y sym
            y = y - lr * riemannian
            y = y - s[:, None] * (s @ y)[None, :]             # stay orthogonal to s
            y = _orthonormalise(y)                            # back onto Y^T Y = I
    return y.detach(), losses, snapshots


def projector_distance(y1, y2) -> float:
    """|| P1 - P2 ||_F / sqrt 2 = sqrt(sum sin^2 theta_k) over the principal angles theta_k
    between the column spaces; 0 exactly when the two spans agree (any rotation inside).

    Computed as || (I - P1) Q2 ||_F, which never forms an (n, n) projector and keeps full
    accuracy for tiny angles.
    """
    q1 = np.linalg.qr(np.asarray(y1, dtype=np.float64))[0]
    q2 = np.linalg.qr(np.asarray(y2, dtype=np.float64))[0]
    if q1.shape != q2.shape:
        raise ValueError(f"the two bases need the same shape, got {q1.shape} and {q2.shape}")
    return float(np.linalg.norm(q2 - q1 @ (q1.T @ q2)))


def procrustes(y, ref) -> np.ndarray:
    """The orthogonal Q minimising || y Q - ref ||_F (to draw y in the frame of ref)."""
    y, ref = np.asarray(y, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if y.shape != ref.shape:
        raise ValueError(f"y and ref need the same shape, got {y.shape} and {ref.shape}")
    u, _, vt = np.linalg.svd(y.T @ ref)
    return u @ vt
