"""book.warmups.linalg against independent references (SciPy, NumPy, explicit loops)."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from book.warmups import linalg


def test_random_matrices_shape_scale_and_seed():
    g = torch.Generator().manual_seed(0)
    A = linalg.random_matrices(400, 16, scale=2.0, generator=g)
    assert A.shape == (400, 16, 16) and A.dtype == torch.float64
    # entries have variance scale^2 / size = 0.25
    assert abs(A.var().item() - 0.25) < 0.01
    B = linalg.random_matrices(400, 16, scale=2.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(A, B)
    with pytest.raises(ValueError, match="count and size"):
        linalg.random_matrices(0, 3)


def test_limit_power_matches_repeated_multiplication():
    A = linalg.random_matrices(3, 4, generator=torch.Generator().manual_seed(1))
    for n in (1, 2, 7, 32):
        ref = np.stack([np.linalg.matrix_power(np.eye(4) + a.numpy() / n, n) for a in A])
        np.testing.assert_allclose(linalg.limit_power(A, n).numpy(), ref, rtol=1e-12)


def test_limit_power_converges_to_expm_at_rate_one_over_n():
    A = linalg.random_matrices(1, 5, generator=torch.Generator().manual_seed(2))[0]
    ref = scipy.linalg.expm(A.numpy())
    errs = [np.linalg.norm(linalg.limit_power(A, n).numpy() - ref) for n in (100, 200, 400)]
    # halving 1/n halves the error (first-order convergence)
    assert 1.8 < errs[0] / errs[1] < 2.2 and 1.8 < errs[1] / errs[2] < 2.2


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_limit_power_rejects_bad_n(bad):
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        linalg.limit_power(torch.eye(2, dtype=torch.float64), bad)


def test_non_square_is_rejected():
    with pytest.raises(ValueError, match="square"):
        linalg.det_exp_trace_error(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="torch.Tensor"):
        linalg.limit_power(np.eye(2), 2)


def test_det_exp_trace_error_small_against_scipy():
    A = linalg.random_matrices(50, 6, scale=1.5, generator=torch.Generator().manual_seed(3))
    err = linalg.det_exp_trace_error(A)
    assert err.shape == (50,) and float(err.max()) < 1e-12
    # the same gap computed independently with SciPy's expm
    for a, e in zip(A[:5].numpy(), err[:5]):
        ref = abs(np.linalg.det(scipy.linalg.expm(a)) / math.exp(np.trace(a)) - 1)
        assert abs(ref - float(e)) < 1e-12


def test_det_exp_trace_error_detects_a_wrong_matrix_exponential(monkeypatch):
    """The check can fail: replace exp by the first-order approximation I + A."""
    A = linalg.random_matrices(10, 4, generator=torch.Generator().manual_seed(4))
    monkeypatch.setattr(torch.linalg, "matrix_exp",
                        lambda M: torch.eye(M.shape[-1], dtype=M.dtype) + M)
    assert float(linalg.det_exp_trace_error(A).max()) > 1e-3


def test_logdet_series_and_hutchinson_against_slogdet():
    g = torch.Generator().manual_seed(5)
    J = linalg.random_matrices(1, 8, scale=1.0, generator=g)[0]
    J = 0.5 * J / torch.linalg.matrix_norm(J, ord=2)  # spectral norm 0.5
    exact = np.linalg.slogdet(np.eye(8) + J.numpy())[1]
    assert abs(float(linalg.logdet_series(J, 60)) - exact) < 1e-12
    assert abs(float(linalg.logdet_series(J, 2)) - exact) > 1e-4  # truncation matters
    est = linalg.hutchinson_logdet(J, 60, 20000, generator=g)
    stderr = float(est.std()) / math.sqrt(len(est))
    assert abs(float(est.mean()) - exact) < 4 * stderr


def test_unit_circle_image_area_is_pi_det():
    M = torch.tensor([[1.5, 0.3], [-0.2, 0.8]], dtype=torch.float64)
    area = linalg.polygon_area(linalg.unit_circle_image(M, 4000))
    assert abs(area - math.pi * float(torch.linalg.det(M))) < 1e-3
    with pytest.raises(ValueError, match="2x2"):
        linalg.unit_circle_image(torch.eye(3, dtype=torch.float64))


def test_expm_action_against_scipy_expm():
    g = torch.Generator().manual_seed(6)
    A = linalg.random_matrices(1, 20, scale=1.5, generator=g)[0]
    x = torch.randn(20, 3, generator=g, dtype=torch.float64)
    ref = scipy.linalg.expm(A.numpy()) @ x.numpy()
    np.testing.assert_allclose(linalg.expm_action(A, x, 30).numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(linalg.expm_action(A, x[:, 0], 30).numpy(), ref[:, 0],
                               rtol=1e-12, atol=1e-12)
    # too few terms is visibly wrong (the check can fail)
    assert np.abs(linalg.expm_action(A, x, 3).numpy() - ref).max() > 1e-2
    with pytest.raises(ValueError, match="x must be"):
        linalg.expm_action(A, torch.zeros(5), 10)
    with pytest.raises(ValueError, match="must be an integer >= 1"):
        linalg.expm_action(A, x, 0)
