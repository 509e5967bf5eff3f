"""book.optim.gradients against independent references: torch param groups with hand-set
learning rates, torch.nn.utils.clip_grad_norm_, and derivatives written out by hand."""

import copy
import math

import pytest
import torch
from torch import nn

from book.optim import gradients as G


def make_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 3)).double()


def data(seed=1, n=32):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 6, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=g))


def run(model, opt, steps=30):
    x, y = data()
    for _ in range(steps):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def twin(model):
    """A plain copy of a model whose first layer may be reparametrised: same weights."""
    plain = make_model()
    with torch.no_grad():
        for layer_a, layer_b in ((model[0], plain[0]), (model[2], plain[2])):
            layer_b.weight.copy_(layer_a.weight)
            layer_b.bias.copy_(layer_a.bias)
    return plain


def effective(model):
    return [model[0].weight, model[0].bias, model[2].weight, model[2].bias]


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_reparametrised_sgd_equals_param_group_with_lam_squared_lr(momentum):
    a = make_model()
    lam = G.scale_learning_rate(a[0], 9.0, "sgd")
    assert lam == 3.0
    b = twin(a)
    run(a, torch.optim.SGD(a.parameters(), lr=0.05, momentum=momentum))
    hp = G.equivalent_hyperparameters("sgd", lam, 0.05)
    run(b, torch.optim.SGD([{"params": b[0].parameters(), **hp},
                            {"params": b[2].parameters()}], lr=0.05, momentum=momentum))
    for p, q in zip(effective(a), effective(b)):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)


def test_reparametrised_adam_equals_lam_lr_with_eps_over_lam():
    a = make_model()
    lam = G.scale_learning_rate(a[0], 0.1, "adam")
    b, c = twin(a), twin(a)
    run(a, torch.optim.Adam(a.parameters(), lr=0.01, eps=1e-8))
    hp = G.equivalent_hyperparameters("adam", lam, 0.01, eps=1e-8)
    assert hp == pytest.approx({"lr": 0.001, "eps": 1e-7})
    run(b, torch.optim.Adam([{"params": b[0].parameters(), **hp},
                             {"params": b[2].parameters()}], lr=0.01, eps=1e-8))
    for p, q in zip(effective(a), effective(b)):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)
    # keeping eps instead of eps/lam is only an approximation: not equal to 1e-10
    run(c, torch.optim.Adam([{"params": c[0].parameters(), "lr": 0.001},
                             {"params": c[2].parameters()}], lr=0.01, eps=1e-8))
    gap = max((p - q).abs().max().item() for p, q in zip(effective(a), effective(c)))
    assert 1e-10 < gap < 1e-3


def test_adam_first_step_discrepancy_matches_formula():
    # one Adam step from zero state: v_hat = g^2, so the relative gap is (eps - eps/lam) / (|g| + eps/lam)
    lam, eps, lr = 0.2, 1e-3, 0.1
    g = torch.tensor([1e-4, 1e-3, 1e-2, 1.0], dtype=torch.float64)
    v = torch.ones(4, dtype=torch.float64, requires_grad=True)   # w = lam v
    w = torch.full((4,), lam, dtype=torch.float64, requires_grad=True)
    v.grad, w.grad = lam * g, g.clone()                           # dL/dv = lam dL/dw
    torch.optim.Adam([v], lr=lr, eps=eps).step()
    torch.optim.Adam([w], lr=lam * lr, eps=eps).step()
    step_reparam, step_plain = lam * (v.detach() - 1), w.detach() - lam
    predicted = (eps - eps / lam) / (g.abs() + eps / lam)
    torch.testing.assert_close(step_reparam / step_plain - 1, predicted, rtol=1e-10, atol=1e-14)


def test_scale_parametrisation_round_trip_and_checks():
    s = G.Scale(4.0)
    w = torch.randn(3, dtype=torch.float64)
    torch.testing.assert_close(s(s.right_inverse(w)), w)
    layer = nn.Linear(2, 2)
    G.scale_learning_rate(layer, 2.0, "adam")
    assert isinstance(layer.parametrizations.weight.original, nn.Parameter)
    with pytest.raises(ValueError, match="already parametrised"):
        G.scale_learning_rate(layer, 2.0, "adam")
    with pytest.raises(ValueError, match="no parameters"):
        G.scale_learning_rate(nn.Tanh(), 2.0, "sgd")
    with pytest.raises(ValueError, match="unknown optimizer kind 'rmsprop'; known: sgd, adam"):
        G.scale_learning_rate(nn.Linear(2, 2), 2.0, "rmsprop")
    for bad in (0, -1.0, float("nan"), True):
        with pytest.raises(ValueError, match=r"must be a number in \(0.0, inf\)"):
            G.Scale(bad)
    with pytest.raises(ValueError, match="eps"):
        G.equivalent_hyperparameters("adam", 2.0, 0.1, eps=-1.0)


def test_layerwise_groups_give_each_prefix_its_lr():
    m = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1)))
    groups = G.layerwise_groups(m, 0.1, {"0": 0.5, "1": 2.0, "1.1": 3.0})
    by_lr = {round(g["lr"], 12): {id(p) for p in g["params"]} for g in groups}
    assert by_lr[0.05] == {id(p) for p in m[0].parameters()}
    assert by_lr[0.2] == {id(p) for p in m[1][0].parameters()}
    assert by_lr[0.3] == {id(p) for p in m[1][1].parameters()}
    with pytest.raises(ValueError, match="match no parameter"):
        G.layerwise_groups(m, 0.1, {"2": 1.0})


def test_layerwise_groups_keep_layers_with_equal_lr_apart():
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 1))
    groups = G.layerwise_groups(m, 0.1, {"0": 2.0, "1": 2.0, "2": 1.0})
    assert [g["prefix"] for g in groups] == ["0", "1", "2"]
    assert [g["lr"] for g in groups] == [0.2, 0.2, 0.1]
    for g, layer in zip(groups, m):
        assert [id(p) for p in g["params"]] == [id(p) for p in layer.parameters()]
    # the rest (here the last layer) is its own group even at the base lr
    rest = G.layerwise_groups(m, 0.1, {"0": 1.0})
    assert [(g["prefix"], len(g["params"])) for g in rest] == [("0", 2), (None, 4)]
    # torch accepts the extra key, and a schedule can move one layer alone
    opt = torch.optim.SGD(groups, lr=0.1)
    opt.param_groups[0]["lr"] = 0.05
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.2, 0.1]


def test_clip_per_parameter_matches_clip_grad_norm_tensor_by_tensor():
    a, b = make_model(), make_model()
    x, y = data()
    handles = G.clip_per_parameter(a.parameters(), 0.05)
    nn.functional.cross_entropy(a(x), y).backward()
    nn.functional.cross_entropy(b(x), y).backward()
    for p, q in zip(a.parameters(), b.parameters()):
        raw = q.grad.clone()
        torch.nn.utils.clip_grad_norm_([q], 0.05)       # one tensor at a time
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=0)  # torch adds 1e-6 to |g|
        torch.testing.assert_close(p.grad, raw * min(1.0, 0.05 / raw.norm().item()),
                                   rtol=1e-12, atol=0)
    for h in handles:
        h.remove()
    a.zero_grad()
    nn.functional.cross_entropy(a(x), y).backward()
    assert max(p.grad.norm().item() for p in a.parameters()) > 0.05  # hooks are gone
    with pytest.raises(ValueError, match="max_norm"):
        G.clip_per_parameter(a.parameters(), 0.0)


def test_hook_gradients_applies_any_function():
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    G.hook_gradients([w], lambda g: 3 * g + 1)
    (w ** 2).sum().backward()
    torch.testing.assert_close(w.grad, 3 * 2 * torch.tensor([1.0, 2.0]) + 1)
    with pytest.raises(ValueError, match="callable"):
        G.hook_gradients([w], "double")
    with pytest.raises(ValueError, match="require grad"):
        G.hook_gradients([torch.zeros(2)], lambda g: g)
    with pytest.raises(ValueError, match="empty"):
        G.hook_gradients([], lambda g: g)


@pytest.mark.parametrize("factor", [0.0, -1.0, 0.5, 3.0])
def test_scale_gradient_against_hand_derivative(factor):
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64, requires_grad=True)
    # L = sum(sin(s(x)) * x_stop) + sum(x^2): d/dx = factor * cos(x) * x + 2x
    y = G.scale_gradient(x, factor)
    torch.testing.assert_close(y, x)
    loss = (torch.sin(y) * x.detach()).sum() + (x ** 2).sum()
    loss.backward()
    xd = x.detach()
    torch.testing.assert_close(x.grad, factor * torch.cos(xd) * xd + 2 * xd)


def test_scale_gradient_zero_is_stop_gradient_and_bad_input():
    x1 = torch.tensor([0.5, 1.5], requires_grad=True)
    x2 = x1.detach().clone().requires_grad_()
    (G.scale_gradient(x1, 0.0) ** 3 + x1).sum().backward()
    (x2.detach() ** 3 + x2).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    assert G.scale_gradient(torch.ones(2), 2.0).requires_grad is False
    with pytest.raises(ValueError, match="finite"):
        G.scale_gradient(x1, float("inf"))
    with pytest.raises(ValueError, match="torch.Tensor"):
        G.scale_gradient([1.0], 1.0)
