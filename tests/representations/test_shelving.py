"""Tests for book/representations/shelving.py against direct formulas and scipy's generalised
eigensolver."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import torch

from book.representations import shelving


def random_weights(n, seed=0, density=1.0):
    rng = np.random.default_rng(seed)
    w = rng.random((n, n)) * (rng.random((n, n)) < density)
    w = np.triu(w, 1)
    w = w + w.T
    w[np.arange(n - 1), np.arange(1, n)] += 0.1  # a path keeps the graph connected
    w[np.arange(1, n), np.arange(n - 1)] += 0.1
    return w


def test_shelf_costs_by_double_loop():
    w = random_weights(6)
    x = np.random.default_rng(1).normal(size=(4, 6))
    for power in (1.0, 2.0):
        ref = [sum(w[i, j] * abs(xr[i] - xr[j]) ** power for i in range(6) for j in range(i + 1, 6))
               for xr in x]
        np.testing.assert_allclose(shelving.shelf_costs(w, x, power), ref)
    with pytest.raises(ValueError, match="columns"):
        shelving.shelf_costs(w, x[:, :5])


def test_all_shelvings():
    lay = shelving.all_shelvings(4)
    assert lay.shape == (24, 4) and len({tuple(r) for r in lay}) == 24
    assert all(sorted(r) == [0, 1, 2, 3] for r in lay.tolist())
    with pytest.raises(ValueError, match="1..10"):
        shelving.all_shelvings(11)


def test_laplacian_quadratic_form():
    w = random_weights(7)
    lap, d = shelving.laplacian(w)
    x = np.random.default_rng(2).normal(size=7)
    # x^T L x = 1/2 sum_ij w_ij (x_i - x_j)^2
    ref = 0.5 * sum(w[i, j] * (x[i] - x[j]) ** 2 for i in range(7) for j in range(7))
    assert x @ lap @ x == pytest.approx(ref)
    np.testing.assert_allclose(d, w.sum(1))
    np.testing.assert_allclose(lap @ np.ones(7), 0, atol=1e-12)


@pytest.mark.parametrize("bad,msg", [
    (np.ones((3, 4)), "square"),
    (-np.ones((3, 3)), "non-negative"),
    (np.triu(np.ones((3, 3))), "symmetric"),
    (np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0.0]]), "zero row"),
])
def test_bad_weights_raise(bad, msg):
    with pytest.raises(ValueError, match=msg):
        shelving.laplacian(bad)


def test_normalized_adjacency_dense_and_sparse():
    w = random_weights(8, density=0.5)
    a, s = shelving.normalized_adjacency(w)
    d = w.sum(1)
    np.testing.assert_allclose(a, w / np.sqrt(np.outer(d, d)))
    np.testing.assert_allclose(a @ s, s)                   # A s = s
    a_sp, s_sp = shelving.normalized_adjacency(sp.csr_matrix(w))
    np.testing.assert_allclose(a_sp.toarray(), a)
    np.testing.assert_allclose(s_sp, s)
    with pytest.raises(ValueError, match="zero row"):
        shelving.normalized_adjacency(sp.csr_matrix(np.zeros((3, 3))))


@pytest.mark.parametrize("sparse", [False, True])
def test_spectral_layout_matches_generalised_eigenproblem(sparse):
    w = random_weights(30, seed=3, density=0.3)
    lap, d = shelving.laplacian(w)
    ref_vals, ref_vecs = scipy.linalg.eigh(lap, np.diag(d))  # L v = lambda D v, ascending
    lam, y = shelving.spectral_layout(sp.csr_matrix(w) if sparse else w, 3)
    np.testing.assert_allclose(lam, ref_vals[1:4], atol=1e-8)
    v = ref_vecs[:, 1:4]                                     # D-orthonormal
    assert shelving.projector_distance(y, np.sqrt(d)[:, None] * v) < 1e-6
    np.testing.assert_allclose(y.T @ y, np.eye(3), atol=1e-8)
    _, s = shelving.normalized_adjacency(w)
    np.testing.assert_allclose(y.T @ s, 0, atol=1e-8)
    with pytest.raises(ValueError, match="dim"):
        shelving.spectral_layout(w, 29)


def test_stiefel_descent_reaches_the_eigenvectors():
    w = random_weights(40, seed=4, density=0.3)
    a, s = shelving.normalized_adjacency(w)
    lam, y = shelving.spectral_layout(w, 2)
    y_gd, losses, snaps = shelving.stiefel_descent(a, s, 2, 2000, lr=0.5, record=(0, 2000))
    assert set(snaps) == {0, 2000} and len(losses) == 2001
    assert shelving.projector_distance(y, y_gd.numpy()) < 1e-6
    assert losses[-1] == pytest.approx(lam.sum(), abs=1e-9)
    np.testing.assert_allclose(y_gd.T @ y_gd, torch.eye(2, dtype=torch.float64), atol=1e-12)
    np.testing.assert_allclose(y_gd.numpy().T @ s, 0, atol=1e-12)
    # the cost never increases for a small enough step
    assert all(b <= a_ + 1e-12 for a_, b in zip(losses, losses[1:]))
    with pytest.raises(ValueError, match="lr"):
        shelving.stiefel_descent(a, s, 2, 10, lr=0.0)


def test_gram_and_orthonormalise():
    g = torch.Generator().manual_seed(0)
    p = torch.randn(50, 3, generator=g, dtype=torch.float64)
    q = torch.randn(50, 3, generator=g, dtype=torch.float64)
    torch.testing.assert_close(shelving._gram(p, q), p.T @ q)
    o = shelving._orthonormalise(p)
    torch.testing.assert_close(o.T @ o, torch.eye(3, dtype=torch.float64))
    qr = torch.linalg.qr(p)[0]
    torch.testing.assert_close(o.abs(), qr.abs())            # Q of QR up to column signs


def test_projector_distance_and_procrustes():
    rng = np.random.default_rng(5)
    y = np.linalg.qr(rng.normal(size=(20, 3)))[0]
    rot = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    assert shelving.projector_distance(y, y @ rot) < 1e-12      # same span, rotated
    z = np.linalg.qr(np.hstack([y[:, :2], rng.normal(size=(20, 1))]))[0]
    theta = scipy.linalg.subspace_angles(y, z)
    assert shelving.projector_distance(y, z) == pytest.approx(
        math.sqrt((np.sin(theta) ** 2).sum()))
    np.testing.assert_allclose(shelving.procrustes(y @ rot, y), rot.T, atol=1e-12)
    with pytest.raises(ValueError, match="same shape"):
        shelving.projector_distance(y, y[:, :2])
