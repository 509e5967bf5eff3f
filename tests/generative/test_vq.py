"""Tests of book/generative/vq.py against independent references (brute-force distances, loops,
torch.nn.functional, SciPy's entropy)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from book.generative import vq
from book.data import digits


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- nearest code
def test_nearest_code_is_brute_force_argmin():
    z, codebook = rand(3, 40, 5), rand(12, 5, seed=1)
    ref = torch.stack([torch.tensor([min(range(12), key=lambda j: float(((v - codebook[j]) ** 2)
                                                                      .sum())) for v in row])
                       for row in z])
    assert torch.equal(vq.nearest_code(z, codebook), ref)


def test_nearest_code_per_model_respects_sizes():
    z, codebook = rand(2, 30, 4), rand(2, 10, 4, seed=2)
    sizes = torch.tensor([3, 10])
    codes = vq.nearest_code(z, codebook, sizes)
    for m in range(2):
        d = torch.cdist(z[m], codebook[m, :sizes[m]])
        assert torch.equal(codes[m], d.argmin(1))
    assert (codes[0] < 3).all()


def test_quantise_gathers_each_models_own_codes():
    z, codebook = rand(2, 3, 6, 4), rand(2, 8, 4, seed=3)
    z_q, codes = vq.quantise(z, codebook)
    for m in range(2):
        torch.testing.assert_close(z_q[m], codebook[m][codes[m]])
    z1, c1 = vq.quantise(z[0], codebook[0])
    torch.testing.assert_close(z1, z_q[0])


def test_quantise_gradient_reaches_the_chosen_codes():
    z, codebook = rand(50, 3), rand(6, 3, seed=4).requires_grad_()
    z_q, codes = vq.quantise(z, codebook)
    g = rand(50, 3, seed=11)
    (grad,) = torch.autograd.grad((z_q * g).sum(), codebook)
    one_hot = F.one_hot(codes, 6).float()                                   # (50, 6)
    torch.testing.assert_close(grad, one_hot.T @ g)


def test_shape_errors():
    with pytest.raises(ValueError, match="size"):
        vq.nearest_code(rand(4, 3), rand(5, 2))
    with pytest.raises(ValueError, match="codebook must be"):
        vq.nearest_code(rand(4, 3), rand(5))
    with pytest.raises(ValueError, match="models"):
        vq.nearest_code(rand(3, 4, 2), rand(2, 5, 2))


# ---------------------------------------------------------------- straight-through and losses
def test_straight_through_value_and_gradient():
    z = rand(10, 4).requires_grad_()
    z_q = rand(10, 4, seed=5)
    out = vq.straight_through(z, z_q)
    torch.testing.assert_close(out, z_q)
    w = rand(10, 4, seed=6)
    (grad,) = torch.autograd.grad((w * out).sum(), z)
    torch.testing.assert_close(grad, w)  # identity Jacobian


def test_losses_match_mse_and_route_gradients():
    z = rand(7, 3).requires_grad_()
    e = rand(7, 3, seed=7).requires_grad_()
    ref = F.mse_loss(z, e, reduction="none").sum(-1)
    torch.testing.assert_close(vq.codebook_loss(z, e), ref)
    torch.testing.assert_close(vq.commitment_loss(z, e), ref)
    gz, ge = torch.autograd.grad(vq.codebook_loss(z, e).sum(), (z, e), allow_unused=True)
    assert gz is None and torch.allclose(ge, 2 * (e - z))
    gz, ge = torch.autograd.grad(vq.commitment_loss(z, e).sum(), (z, e), allow_unused=True)
    assert ge is None and torch.allclose(gz, 2 * (z - e))


# ---------------------------------------------------------------- EMA
def test_ema_with_zero_decay_is_a_lloyd_step():
    z, codebook = rand(100, 2), rand(6, 2, seed=8)
    codebook[5] += 50.0  # never chosen
    codes = vq.nearest_code(z, codebook)
    new = codebook.clone()
    vq.ema_update(new, torch.ones(6), new.clone(), z, codes, decay=0.0, eps=0.0)
    for i in range(5):
        if (codes == i).any():
            torch.testing.assert_close(new[i], z[codes == i].mean(0))
    torch.testing.assert_close(new[5], codebook[5])


def test_ema_matches_the_formulas_written_in_numpy():
    z, codebook = rand(50, 3), rand(4, 3, seed=9)
    codes = vq.nearest_code(z, codebook)
    counts, sums = torch.rand(4, generator=torch.Generator().manual_seed(1)) + 0.5, rand(4, 3, seed=10)
    N, M = counts.numpy().astype(np.float64), sums.numpy().astype(np.float64)
    gamma, eps = 0.9, 1e-3
    n = np.array([(codes == i).sum().item() for i in range(4)], dtype=np.float64)
    s = np.stack([z[codes == i].sum(0).numpy() for i in range(4)])
    N = gamma * N + (1 - gamma) * n
    M = gamma * M + (1 - gamma) * s
    Ns = (N + eps) / (N.sum() + 4 * eps) * N.sum()
    new = codebook.clone()
    vq.ema_update(new, counts, sums, z, codes, decay=gamma, eps=eps)
    np.testing.assert_allclose(new.numpy(), M / Ns[:, None], rtol=1e-5)
    np.testing.assert_allclose(counts.numpy(), N, rtol=1e-6)


def test_ema_rejects_bad_arguments():
    z, codebook = rand(5, 2), rand(3, 2)
    codes = vq.nearest_code(z, codebook)
    with pytest.raises(ValueError, match="decay"):
        vq.ema_update(codebook, torch.ones(3), codebook.clone(), z, codes, decay=1.0)
    with pytest.raises(ValueError, match="one codebook"):
        vq.ema_update(rand(1, 3, 2), torch.ones(3), rand(3, 2), rand(1, 5, 2), codes[None])


# ---------------------------------------------------------------- usage
def test_usage_matches_scipy_entropy():
    codes = torch.tensor([0, 0, 1, 2, 2, 2, 5])
    ppl, unused = vq.usage(codes, 8)
    p = np.bincount(codes.numpy(), minlength=8)
    assert math.isclose(ppl, math.exp(stats.entropy(p)), rel_tol=1e-12)
    assert unused == 4
    assert vq.usage(torch.arange(16).repeat(3), 16) == pytest.approx((16.0, 0))
    assert vq.usage(torch.zeros(10, dtype=torch.long), 4) == pytest.approx((1.0, 3))


def test_usage_rejects_bad_codes():
    with pytest.raises(ValueError, match="indices"):
        vq.usage(torch.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="positive"):
        vq.usage(torch.tensor([0]), 0)


# ---------------------------------------------------------------- model and training
def test_autoencoder_forward_is_decoder_of_the_quantised_code():
    torch.manual_seed(0)
    model = vq.VQAutoencoder([4, 16], data_dim=64, slots=2, code_dim=3, hidden=8)
    x = torch.rand(5, 64)
    x_hat, z, z_q, codes = model(x)
    assert z.shape == (2, 5, 2, 3) and codes.shape == (2, 5, 2) and x_hat.shape == (2, 5, 64)
    assert (codes[0] < 4).all()
    torch.testing.assert_close(x_hat, model.decode(z_q))
    with pytest.raises(ValueError, match="positive"):
        vq.VQAutoencoder([0])


def test_train_vq_runs_with_ema_and_evaluate_matches_mse():
    x = digits().x_train[:256]
    cfg = vq.VQConfig(codebooks=(vq.Codebook(8), vq.Codebook(8, ema=True, restarts=False)),
                      epochs=2, hidden=16, batch_size=128)
    run = vq.train_vq(x, cfg)
    assert len(run.history) == 2 and len(run.restarted) == 2 and run.restarted[1] == 0
    res = vq.evaluate(run.model, x)
    with torch.no_grad():
        x_hat = run.model(x)[0]
    for m in range(2):
        assert math.isclose(res[m]["mse"], F.mse_loss(x_hat[m], x).item(), rel_tol=1e-6)
        assert 1.0 <= res[m]["perplexity"] <= 8.0
    with pytest.raises(ValueError, match="beta"):
        vq.train_vq(x, vq.VQConfig(beta=-1.0))
    with pytest.raises(ValueError, match="x_train"):
        vq.train_vq(x[0], cfg)


# ---------------------------------------------------------------- PCA + product quantisation
def test_product_quantiser_against_loops_and_numpy_pca():
    x = digits().x_train[:300]
    pq = vq.ProductQuantiser.fit(x, slots=2, code_dim=3, n_codes=5, seed=0)
    xd = x.double().numpy()
    # the basis spans the top six principal directions (numpy eigendecomposition)
    lam, vecs = np.linalg.eigh(np.cov(xd.T, bias=True))
    top = vecs[:, ::-1][:, :6]
    np.testing.assert_allclose(np.abs(top.T @ pq.basis), np.eye(6), atol=1e-6)
    # codes by brute force: group j holds components j, j + 2, j + 4
    coef = (xd - xd.mean(0)) @ pq.basis
    codes = pq.codes(x)
    for n in range(len(x)):
        for j in range(2):
            dists = [float(((coef[n, [j, j + 2, j + 4]] - c) ** 2).sum()) for c in pq.centres[j]]
            assert codes[n, j] == int(np.argmin(dists))
    # reconstruction: the mean plus the chosen centres in their components, mapped back
    rec = pq.reconstruct(x).double().numpy()
    for n in (0, 17, 299):
        c = np.zeros(6)
        for j in range(2):
            c[[j, j + 2, j + 4]] = pq.centres[j][codes[n, j]]
        np.testing.assert_allclose(rec[n], xd.mean(0) + pq.basis @ c, atol=1e-10)
    # k-means has converged: every used centre is the mean of its training members
    for j in range(2):
        for k in range(5):
            members = coef[codes[:, j] == k][:, [j, j + 2, j + 4]]
            if len(members):
                np.testing.assert_allclose(pq.centres[j][k], members.mean(0), atol=1e-3)


def test_product_quantiser_is_exact_with_one_code_per_image_and_all_dimensions():
    x = digits().x_train[:20]
    pq = vq.ProductQuantiser.fit(x, slots=4, code_dim=16, n_codes=20)
    torch.testing.assert_close(pq.reconstruct(x), x, atol=1e-5, rtol=0)


def test_product_quantiser_rejects_bad_arguments():
    x = digits().x_train[:50]
    with pytest.raises(ValueError, match="slots"):
        vq.ProductQuantiser.fit(x, slots=9, code_dim=8)
    with pytest.raises(ValueError, match="n_codes"):
        vq.ProductQuantiser.fit(x, n_codes=51)
    with pytest.raises(ValueError, match="x must be"):
        vq.ProductQuantiser.fit(x[0])
