"""book.optim.wrappers against independent references: torch's own SGD/Adam/AdamW, NumPy
re-implementations of LAMB and Lookahead, np.interp, and big-batch steps."""

import copy
import math

import numpy as np
import pytest
import torch

from book.optim import wrappers as O


def make_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.Tanh(),
                               torch.nn.Linear(4, 3)).double()


def data(n=24, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 5, generator=g, dtype=torch.float64),
            torch.randint(0, 3, (n,), generator=g))


def loss_fn(model, x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


def train(model, opt, batches, micro=1):
    """One opt.step() per micro-batch; each batch is cut into ``micro`` equal pieces."""
    for x, y in batches:
        for xs, ys in zip(x.chunk(micro), y.chunk(micro)):
            opt.zero_grad()
            loss_fn(model, xs, ys).backward()
            opt.step()
    return [p.detach().clone() for p in model.parameters()]


def batches(count=6, n=24):
    return [data(n, seed=s) for s in range(count)]


def assert_params_close(a, b, **kw):
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, **kw)


# --- weight decay -----------------------------------------------------------------

def test_decoupled_weight_decay_equals_l2_for_sgd():
    m1, m2 = make_model(), make_model()
    a = train(m1, O.WeightDecay(torch.optim.SGD(m1.parameters(), lr=0.3), 0.1), batches())
    b = train(m2, torch.optim.SGD(m2.parameters(), lr=0.3, weight_decay=0.1), batches())
    assert_params_close(a, b, rtol=1e-12, atol=1e-12)


def test_decoupled_weight_decay_is_adamw_and_not_adam_l2():
    ms = [make_model() for _ in range(3)]
    a = train(ms[0], O.WeightDecay(torch.optim.Adam(ms[0].parameters(), lr=0.05), 0.2), batches())
    b = train(ms[1], torch.optim.AdamW(ms[1].parameters(), lr=0.05, weight_decay=0.2), batches())
    c = train(ms[2], torch.optim.Adam(ms[2].parameters(), lr=0.05, weight_decay=0.2), batches())
    assert_params_close(a, b, rtol=1e-12, atol=1e-12)
    assert max((p - q).abs().max().item() for p, q in zip(a, c)) > 1e-3


def test_weight_decay_per_group_rate():
    m1, m2 = make_model(), make_model()
    groups = [{"params": m1[0].parameters(), "decoupled_wd": 0.0},
              {"params": m1[2].parameters()}]
    a = train(m1, O.WeightDecay(torch.optim.Adam(groups, lr=0.05), 0.5), batches())
    ref = torch.optim.AdamW([{"params": m2[0].parameters(), "weight_decay": 0.0},
                             {"params": m2[2].parameters()}], lr=0.05, weight_decay=0.5)
    assert_params_close(a, train(m2, ref, batches()), rtol=1e-12, atol=1e-12)


# --- layer adaptation -------------------------------------------------------------

def test_layer_adaptation_on_sgd_is_normalised_gradient_step():
    m1, m2 = make_model(), make_model()
    x, y = data()
    w0 = [p.detach().clone() for p in m2.parameters()]
    loss_fn(m2, x, y).backward()
    grads = [p.grad.clone() for p in m2.parameters()]
    (a,) = [train(m1, O.LayerAdaptation(torch.optim.SGD(m1.parameters(), lr=0.1)), [(x, y)])]
    for p, w, g in zip(a, w0, grads):
        torch.testing.assert_close(p, w - 0.1 * w.norm() * g / g.norm(), rtol=1e-12, atol=1e-12)
        # every tensor moves by the same relative amount, lr
        assert math.isclose(((p - w).norm() / w.norm()).item(), 0.1, rel_tol=1e-10)


def numpy_lamb(ws, grads_per_step, lr, wd, b1=0.9, b2=0.999, eps=1e-8):
    """LAMB (phi = identity) written out in NumPy, one list of gradients per step."""
    ws = [w.copy() for w in ws]
    m = [np.zeros_like(w) for w in ws]
    v = [np.zeros_like(w) for w in ws]
    for t, grads in enumerate(grads_per_step, start=1):
        for i, g in enumerate(grads):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            r = (m[i] / (1 - b1 ** t)) / (np.sqrt(v[i] / (1 - b2 ** t)) + eps) + wd * ws[i]
            ws[i] = ws[i] - lr * np.linalg.norm(ws[i]) / np.linalg.norm(r) * r
    return ws


def test_layer_adaptation_of_adamw_is_lamb():
    torch.manual_seed(3)
    w = [torch.randn(4, 3, dtype=torch.float64, requires_grad=True),
         torch.randn(3, dtype=torch.float64, requires_grad=True)]
    grads = [[torch.randn_like(p) for p in w] for _ in range(4)]
    start = [p.detach().numpy().copy() for p in w]
    opt = O.LayerAdaptation(O.WeightDecay(torch.optim.Adam(w, lr=0.02), 0.1))
    for gs in grads:
        for p, g in zip(w, gs):
            p.grad = g.clone()
        opt.step()
    ref = numpy_lamb(start, [[g.numpy() for g in gs] for gs in grads], 0.02, 0.1)
    for p, r in zip(w, ref):
        np.testing.assert_allclose(p.detach().numpy(), r, rtol=1e-12)


def test_layer_adaptation_norm_bounds_and_zero_weight():
    w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    u = torch.full((2,), 100.0, dtype=torch.float64, requires_grad=True)
    opt = O.LayerAdaptation(torch.optim.SGD([w, u], lr=0.1), norm_bounds=(0.0, 1.0))
    w.grad = torch.tensor([1.0, 2.0, 2.0], dtype=torch.float64)
    u.grad = torch.tensor([3.0, 4.0], dtype=torch.float64)
    opt.step()
    # |w| = 0: the inner SGD step is kept
    torch.testing.assert_close(w.detach(), -0.1 * w.grad)
    # |u| = 141 is clipped to 1: the step has length lr * 1
    torch.testing.assert_close(u.detach(), torch.tensor([100 - 0.06, 100 - 0.08], dtype=torch.float64))


# --- piecewise-linear learning rate -------------------------------------------------

def test_piecewise_linear_lr_moves_sgd_by_the_schedule():
    # loss = sum(theta) has gradient 1, so SGD moves each coordinate by exactly lr_t
    theta = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    sched = {4: 1.0, 10: 0.25}
    opt = O.PiecewiseLinearLR(torch.optim.SGD([theta], lr=0.5), sched)
    path = []
    for _ in range(15):
        opt.zero_grad()
        theta.sum().backward()
        opt.step()
        path.append(-theta[0].item())
    ref = np.cumsum(0.5 * np.interp(np.arange(15), [0, 4, 10], [0, 1, 0.25]))
    np.testing.assert_allclose(path, ref, rtol=1e-12)
    assert opt.param_groups[0]["base_lr"] == 0.5


@pytest.mark.parametrize("bad", [{}, [1, 2], {-1: 1.0}, {2.5: 1.0}, {10: -0.1},
                                 {10: float("nan")}, {True: 1.0}])
def test_bad_schedules_raise(bad):
    with pytest.raises(ValueError, match="schedule"):
        O.PiecewiseLinearLR(torch.optim.SGD(make_model().parameters(), lr=0.1), bad)


# --- gradient accumulation --------------------------------------------------------

@pytest.mark.parametrize("make", [
    lambda ps: torch.optim.SGD(ps, lr=0.2, momentum=0.9),
    lambda ps: torch.optim.Adam(ps, lr=0.02),
])
def test_accumulated_micro_batches_equal_one_big_batch(make):
    m1, m2 = make_model(), make_model()
    a = train(m1, O.GradientAccumulation(make(m1.parameters()), 4), batches(), micro=4)
    b = train(m2, make(m2.parameters()), batches())
    assert_params_close(a, b, rtol=1e-12, atol=1e-12)


def test_accumulation_leaves_parameters_still_between_updates():
    m = make_model()
    start = [p.detach().clone() for p in m.parameters()]
    opt = O.GradientAccumulation(torch.optim.Adam(m.parameters(), lr=0.1), 3)
    x, y = data()
    for i in range(2):
        assert not O.will_update(opt)
        opt.zero_grad()
        loss_fn(m, x, y).backward()
        opt.step()
        assert all(torch.equal(p, q) for p, q in zip(m.parameters(), start))
    assert O.will_update(opt) and O.will_update(torch.optim.SGD(m.parameters(), lr=1))


# --- Lookahead ----------------------------------------------------------------------

def test_lookahead_k1_alpha1_is_the_inner_optimiser():
    m1, m2 = make_model(), make_model()
    a = train(m1, O.Lookahead(torch.optim.Adam(m1.parameters(), lr=0.05), k=1, alpha=1.0), batches())
    b = train(m2, torch.optim.Adam(m2.parameters(), lr=0.05), batches())
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_lookahead_matches_hand_loop():
    # f(theta) = 0.5 theta^T A theta with SGD inside, k = 3, alpha = 0.4
    A = np.diag([1.0, 4.0])
    theta = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    opt = O.Lookahead(torch.optim.SGD([theta], lr=0.1), k=3, alpha=0.4)
    fast, slow = np.array([1.0, -2.0]), np.array([1.0, -2.0])
    for t in range(1, 11):
        opt.zero_grad()
        (0.5 * theta @ torch.from_numpy(A) @ theta).backward()
        opt.step()
        fast = fast - 0.1 * A @ fast
        if t % 3 == 0:
            slow = slow + 0.4 * (fast - slow)
            fast = slow.copy()
        np.testing.assert_allclose(theta.detach().numpy(), fast, rtol=1e-12)


@pytest.mark.parametrize("order", ["lookahead_outside", "accumulation_outside"])
def test_lookahead_and_accumulation_compose_in_either_order(order):
    m1, m2 = make_model(), make_model()
    adam = torch.optim.Adam(m1.parameters(), lr=0.05)
    if order == "lookahead_outside":
        opt = O.Lookahead(O.GradientAccumulation(adam, 3), k=2, alpha=0.5)
    else:
        opt = O.GradientAccumulation(O.Lookahead(adam, k=2, alpha=0.5), 3)
    a = train(m1, opt, batches(n=27), micro=3)
    b = train(m2, O.Lookahead(torch.optim.Adam(m2.parameters(), lr=0.05), k=2, alpha=0.5),
              batches(n=27))
    assert_params_close(a, b, rtol=1e-12, atol=1e-12)


# --- lazy updates -------------------------------------------------------------------

def embedding_run(lazy: bool, steps=8):
    torch.manual_seed(0)
    emb = torch.nn.Embedding(10, 4).double()
    head = torch.nn.Linear(4, 1).double()
    params = list(emb.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=0.1)
    if lazy:
        opt = O.LazyUpdates(opt, [emb.weight])
    seen = []
    for t in range(steps):
        tokens = torch.tensor([[0, 1, 2]]) if t < 3 else torch.tensor([[3, 4, 5]])
        before = emb.weight.detach().clone()
        opt.zero_grad()
        head(emb(tokens).mean(1)).pow(2).sum().backward()
        opt.step()
        seen.append((tokens.flatten(), before, emb.weight.detach().clone()))
    return seen, head


def test_lazy_updates_leave_rows_without_gradient_bit_identical():
    lazy, lazy_head = embedding_run(True)
    plain, plain_head = embedding_run(False)
    for (tok, before, after), (_, _, after_plain) in zip(lazy, plain):
        idle = torch.ones(10, dtype=torch.bool)
        idle[tok] = False
        assert torch.equal(after[idle], before[idle])
    # the non-lazy head steps exactly as with plain Adam
    assert torch.equal(lazy_head.weight, plain_head.weight)
    # plain Adam keeps moving rows 0..2 after step 3 through its momentum
    tok, before, after = plain[5]
    assert not torch.equal(after[:3], before[:3])


def test_lazy_rows_with_gradient_match_plain_adam_on_first_steps():
    lazy, _ = embedding_run(True, steps=3)
    plain, _ = embedding_run(False, steps=3)
    for (tok, _, a), (_, _, b) in zip(lazy, plain):
        assert torch.equal(a[tok], b[tok])


def test_lazy_updates_argument_checks():
    m = make_model()
    adam = torch.optim.Adam(m.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="inside GradientAccumulation"):
        O.LazyUpdates(O.GradientAccumulation(adam, 2))
    with pytest.raises(ValueError, match="optimiser's parameters"):
        O.LazyUpdates(adam, [torch.zeros(3, requires_grad=True)])
    O.GradientAccumulation(O.LazyUpdates(adam), 2)  # the allowed order


# --- the optimiser protocol ---------------------------------------------------------

def full_stack(model):
    adam = torch.optim.Adam(model.parameters(), lr=0.05)
    return O.PiecewiseLinearLR(
        O.Lookahead(O.LayerAdaptation(O.WeightDecay(O.GradientAccumulation(
            O.LazyUpdates(adam), 2), 0.01)), k=3), {5: 1.0, 20: 0.1})


def test_state_dict_round_trip_of_a_nested_stack():
    m1 = make_model()
    opt1 = full_stack(m1)
    train(m1, opt1, batches(5), micro=2)
    m2 = copy.deepcopy(m1)
    opt2 = full_stack(m2)
    opt2.load_state_dict(copy.deepcopy(opt1.state_dict()))
    assert opt2.param_groups is opt2.inner.inner.inner.inner.inner.inner.param_groups
    a = train(m1, opt1, batches(5), micro=2)
    b = train(m2, opt2, batches(5), micro=2)
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    with pytest.raises(ValueError, match="'inner'"):
        opt2.load_state_dict(torch.optim.Adam(m2.parameters()).state_dict())


def test_wrapping_leaves_the_inner_groups_as_they_were():
    m = make_model()
    inner = torch.optim.SGD([{"params": [m[0].weight]}, {"params": [m[0].bias], "lr": 0.5}],
                            lr=0.1, momentum=0.9)
    groups, lists = list(inner.param_groups), [g["params"] for g in inner.param_groups]
    before = [dict(g) for g in inner.param_groups]
    opt = O.Lookahead(O.WeightDecay(inner, 0.0))
    assert opt.param_groups is inner.param_groups and opt.defaults is inner.defaults
    assert all(a is b for a, b in zip(inner.param_groups, groups))
    assert all(g["params"] is ps for g, ps in zip(inner.param_groups, lists))  # (LBFGS keeps one)
    assert [{k: v for k, v in g.items() if k != "decoupled_wd"} for g in inner.param_groups] == before
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append("pre"))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append("post"))
    loss_fn(m, *data()).backward()
    opt.step()
    assert calls == ["pre", "post"] and opt.state["updates"] == 1


def test_protocol_zero_grad_param_groups_and_torch_schedulers():
    m = make_model()
    opt = O.Lookahead(torch.optim.SGD(m.parameters(), lr=0.1))
    assert isinstance(opt, torch.optim.Optimizer)
    assert opt.param_groups is opt.inner.param_groups
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    loss_fn(m, *data()).backward()
    opt.step()
    sched.step()
    assert opt.inner.param_groups[0]["lr"] == 0.05
    opt.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    extra = torch.zeros(2, requires_grad=True)
    opt.add_param_group({"params": [extra]})
    assert len(opt.inner.param_groups) == 2


@pytest.mark.parametrize("build, message", [
    (lambda m: O.WeightDecay("adam", 0.1), "wraps a torch.optim.Optimizer"),
    (lambda m: O.WeightDecay(torch.optim.SGD(m.parameters(), lr=1), -0.1), "weight_decay"),
    (lambda m: O.WeightDecay(torch.optim.SGD(m.parameters(), lr=1), float("inf")), "weight_decay"),
    (lambda m: O.LayerAdaptation(torch.optim.SGD(m.parameters(), lr=1), (1.0, 0.5)), "norm_bounds"),
    (lambda m: O.LayerAdaptation(torch.optim.SGD(m.parameters(), lr=1), 3.0), "norm_bounds"),
    (lambda m: O.GradientAccumulation(torch.optim.SGD(m.parameters(), lr=1), 0), "steps"),
    (lambda m: O.GradientAccumulation(torch.optim.SGD(m.parameters(), lr=1), 2.0), "steps"),
    (lambda m: O.Lookahead(torch.optim.SGD(m.parameters(), lr=1), k=0), "k must"),
    (lambda m: O.Lookahead(torch.optim.SGD(m.parameters(), lr=1), alpha=0.0), "alpha"),
    (lambda m: O.Lookahead(torch.optim.SGD(m.parameters(), lr=1), alpha=1.5), "alpha"),
    (lambda m: O.LazyUpdates(None), "wraps a torch.optim.Optimizer"),
])
def test_bad_arguments_raise_clear_value_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build(make_model())
