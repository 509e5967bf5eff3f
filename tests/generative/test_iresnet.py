"""book.generative.iresnet against independent references: autograd Jacobians, dense
log-determinants, the dense series of book.warmups.linalg and closed forms."""

import math

import pytest
import torch
from torch import nn

from book.generative import iresnet
from book.regularise import lipschitz
from book.warmups import linalg


@pytest.fixture
def block():
    torch.manual_seed(0)
    g = iresnet.lipschitz_mlp(3, 8, 0.8).double()
    iresnet.settle(g, torch.zeros(1, 3, dtype=torch.float64))
    return g.eval()


def test_lipschitz_mlp_is_c_lipschitz(block):
    assert lipschitz.network_bound(block) <= 0.8 * (1 + 1e-6)
    x = torch.randn(50, 3, dtype=torch.float64)
    assert (torch.linalg.matrix_norm(iresnet.jacobian(block, x), ord=2) <= 0.8 + 1e-6).all()


def test_value_and_jacobian_matches_autograd(block):
    x = torch.randn(20, 3, dtype=torch.float64)
    value, J = iresnet.value_and_jacobian(block, x)
    torch.testing.assert_close(value, block(x))
    torch.testing.assert_close(J, iresnet.jacobian(block, x))


def test_fixed_point_inverts_and_contracts(block):
    x = torch.randn(30, 3, dtype=torch.float64)
    with torch.no_grad():
        y = x + block(x)
    xs = iresnet.fixed_point_inverse(block, y, 80)
    err = (xs - x).norm(dim=-1)
    assert err[-1].max() < 1e-6
    k = torch.arange(81, dtype=torch.float64)[:, None]
    assert (err <= 0.8 ** k * err[0] + 1e-14).all()


def test_logdet_exact_is_slogdet():
    J = 0.3 * torch.randn(5, 4, 4, dtype=torch.float64)
    expected = torch.stack([torch.log(torch.det(torch.eye(4, dtype=torch.float64) + j).abs()) for j in J])
    torch.testing.assert_close(iresnet.logdet_exact(J), expected)


def test_series_2d_matches_dense_series():
    J = 0.4 * torch.randn(10, 2, 2, dtype=torch.float64)
    for n in (1, 2, 7, 30):
        torch.testing.assert_close(iresnet.logdet_series_2d(J, n), linalg.logdet_series(J, n))
    with pytest.raises(ValueError, match="2x2"):
        iresnet.logdet_series_2d(torch.zeros(3, 3, 3), 2)


def test_tail_bound_closed_form_and_worst_case():
    c, d, n = 0.7, 3, 5
    tail = sum(d * c ** k / k for k in range(n + 1, 2000))   # J = -cI: every term negative
    assert tail <= iresnet.series_tail_bound(d, c, n)
    assert iresnet.series_tail_bound(d, c, n) == pytest.approx(d * c ** 6 / (6 * 0.3))
    with pytest.raises(ValueError):
        iresnet.series_tail_bound(d, 1.0, n)


def test_hutchinson_terms_are_v_J_k_v(block):
    x = torch.randn(4, 3, dtype=torch.float64)
    v = iresnet.rademacher((4, 3), torch.Generator().manual_seed(0), torch.float64)
    terms = iresnet.hutchinson_terms(block, x, v, 4)
    J = iresnet.jacobian(block, x)
    for k in range(1, 5):
        dense = torch.einsum("ni,nij,nj->n", v, torch.linalg.matrix_power(J, k), v)
        torch.testing.assert_close(terms[k - 1], dense)


def test_series_weights():
    torch.testing.assert_close(iresnet.series_weights(4, torch.float64),
                               torch.tensor([1, -1 / 2, 1 / 3, -1 / 4], dtype=torch.float64))


def test_flow_log_prob_integrates_to_one_and_inverts():
    torch.manual_seed(1)
    x = torch.randn(200, 2)
    flow = iresnet.IResNetFlow(x, blocks=2, hidden=8, c=0.7).double().eval()
    s = torch.linspace(-8, 8, 321, dtype=torch.float64)
    gx, gy = torch.meshgrid(s, s, indexing="xy")
    pts = torch.stack([gx.flatten(), gy.flatten()], 1)
    with torch.no_grad():
        mass = flow.log_prob(pts, logdet="exact").exp().sum() * (s[1] - s[0]) ** 2
    assert abs(float(mass) - 1) < 1e-3
    z = torch.randn(50, 2, dtype=torch.float64)
    with torch.no_grad():
        back, _ = flow(flow.inverse(z))
    torch.testing.assert_close(back, z, atol=1e-6, rtol=0)


def test_flow_series_close_to_exact_and_bad_logdet_rejected():
    torch.manual_seed(2)
    x = torch.randn(100, 2)
    flow = iresnet.IResNetFlow(x, blocks=3, hidden=8, c=0.5).double().eval()
    xd = x.double()
    with torch.no_grad():
        exact = flow.log_prob(xd, logdet="exact")
        series = flow.log_prob(xd, logdet="series", terms=30)
    torch.testing.assert_close(series, exact, atol=3 * 2 * 0.5 ** 31 / (31 * 0.5), rtol=0)
    with pytest.raises(ValueError, match="logdet"):
        flow(xd, logdet="lu")


def test_bad_arguments():
    with pytest.raises(ValueError):
        iresnet.lipschitz_mlp(2, 8, 1.0)
    with pytest.raises(ValueError):
        iresnet.value_and_jacobian(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), torch.zeros(1, 2))
    with pytest.raises(ValueError):
        iresnet.hutchinson_terms(nn.Linear(2, 2), torch.zeros(3, 2), torch.zeros(3, 3), 2)
    assert math.isfinite(iresnet.series_tail_bound(2, 0.0, 1))
