"""ReLU networks as function builders: parameter counts, hand-built networks, linear pieces.

The code of the chapter ``neural_networks_chat``: perceptrons of any depth (several seeds
stacked into one :class:`~book.stacked.StackedMLP`, trained full-batch), two networks written
down by hand (a one-hidden-layer network equal to a piecewise-linear interpolant, and the
deep, narrow network of the tent map whose depth-``k`` composition is a sawtooth with
``2^k`` pieces), and a counter of the linear pieces of a function of one variable.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from book import checks, training
from book.stacked import StackedMLP

LOSSES = ("mse", "cross_entropy")


def parameter_count(sizes: list[int]) -> int:
    """Weights and biases of a perceptron with layer sizes ``sizes``: sum (n_in + 1) n_out."""
    sizes = [checks.integer(s, "a layer size") for s in sizes]
    if len(sizes) < 2:
        raise ValueError(f"a perceptron needs at least an input and an output size, got {sizes}")
    # \sum_l (n_{l-1} + 1) n_l
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def mlp(sizes: list[int], seed: int) -> nn.Sequential:
    """A ReLU perceptron Linear-ReLU-...-Linear with PyTorch's default initialisation,
    drawn from a torch generator seeded with ``seed`` (the global generator is untouched)."""
    parameter_count(sizes)  # validates the sizes
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def stacked(sizes: list[int], seeds: list[int]) -> StackedMLP:
    """``len(seeds)`` perceptrons of the same sizes, one per seed, as one batched model."""
    if not seeds:
        raise ValueError("need at least one seed")
    return StackedMLP([mlp(sizes, s) for s in seeds])


def padded_shallow(widths: list[int], seeds: list[int]) -> StackedMLP:
    """One-hidden-layer networks 1 -> w -> 1, one per (width, seed) pair in that order,
    padded with zero units to the largest width and stacked.

    A zero unit (input weight, bias and output weight 0) outputs relu(0) = 0 and receives
    zero gradient, so it stays zero: network (w, s) trains exactly as ``mlp([1, w, 1], s)``.
    """
    widths = [checks.integer(w, "a width") for w in widths]
    if not widths or not seeds:
        raise ValueError("need at least one width and one seed")
    top = max(widths)
    nets = []
    for w in widths:
        for s in seeds:
            small, big = mlp([1, w, 1], s), mlp([1, top, 1], 0)
            with torch.no_grad():
                for layer in (big[0], big[2]):
                    layer.weight.zero_()
                big[0].bias.zero_()
                big[0].weight[:w] = small[0].weight
                big[0].bias[:w] = small[0].bias
                big[2].weight[:, :w] = small[2].weight
                big[2].bias.copy_(small[2].bias)
            nets.append(big)
    return StackedMLP(nets)


@dataclass
class FitConfig:
    """Full-batch Adam: ``steps`` steps at learning rate ``lr``, cosine-decayed to 0."""

    steps: int = 2000
    lr: float = 1e-2
    loss: str = "mse"


def fit(model: StackedMLP, x: torch.Tensor, y: torch.Tensor,
        config: FitConfig = FitConfig()) -> torch.Tensor:
    """Train every network of ``model`` on the same data (x: (N, in); y: (N, out) for
    ``mse``, (N,) class labels for ``cross_entropy``); return the final loss of each, (M,).

    The summed loss gives each network the gradient of its own mean loss (they share no
    weights), so the M networks train exactly as M separate runs would.
    """
    if config.loss not in LOSSES:
        raise ValueError(f"unknown loss {config.loss!r}; known: {', '.join(LOSSES)}")
    checks.integer(config.steps, "steps")
    checks.positive(config.lr, "the learning rate")
    if x.ndim != 2 or len(x) != len(y):
        raise ValueError(f"need x of shape (N, in) and N targets, got {tuple(x.shape)} "
                         f"and {tuple(y.shape)}")
    m = len(model)
    xs = x.expand(m, -1, -1)                                     # (M, N, in)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.steps)
    for step in range(config.steps):
        out = model(xs)                                          # (M, N, out)
        if config.loss == "mse":
            per_net = (out - y).square().mean(dim=(1, 2))        # (M,)
        else:
            per_net = nn.functional.cross_entropy(
                out.transpose(1, 2), y.expand(m, -1), reduction="none").mean(1)
        opt.zero_grad()
        total = per_net.sum()
        training.check_finite(total, step, hint="lower the learning rate")
        total.backward()
        opt.step()
        sched.step()
    return per_net.detach()


def interpolant_net(knots: torch.Tensor, values: torch.Tensor) -> nn.Sequential:
    """A one-hidden-layer ReLU network equal, on [knots[0], knots[-1]], to the piecewise-linear
    interpolant of (knots, values): len(knots) - 1 hidden units, one per piece.

    f(x) = v_0 + s_0 relu(x - t_0) + sum_{i>=1} (s_i - s_{i-1}) relu(x - t_i), with s_i the
    slope on [t_i, t_{i+1}].
    """
    knots, values = knots.double(), values.double()
    if knots.ndim != 1 or knots.shape != values.shape or len(knots) < 2:
        raise ValueError("need 1-D knots and values of the same length >= 2, got "
                         f"{tuple(knots.shape)} and {tuple(values.shape)}")
    if not (knots.diff() > 0).all():
        raise ValueError("knots must be strictly increasing")
    # s_i = (v_{i+1} - v_i) / (t_{i+1} - t_i)
    slopes = values.diff() / knots.diff()                        # (P,)
    # the coefficient of relu(x - t_i) is the change of slope at t_i
    coef = torch.cat([slopes[:1], slopes.diff()])                # (P,)
    f64 = {"dtype": torch.float64}
    hidden, out = nn.Linear(1, len(slopes), **f64), nn.Linear(len(slopes), 1, **f64)
    with torch.no_grad():
        hidden.weight.fill_(1.0)
        hidden.bias.copy_(-knots[:-1])
        out.weight.copy_(coef[None])
        out.bias.fill_(values[0])
    return nn.Sequential(hidden, nn.ReLU(), out)


def tent_net(depth: int) -> nn.Sequential:
    """The tent map t(x) = 2 relu(x) - 4 relu(x - 1/2) composed ``depth`` times, as a ReLU
    network with ``depth`` hidden layers of width 2 (6 depth + 1 parameters).

    On [0, 1], t is 2x then 2 - 2x, and its ``depth``-fold composition is a sawtooth with
    2^depth linear pieces.
    """
    depth = checks.integer(depth, "depth")
    first = nn.Linear(1, 2)
    # hidden units relu(x) and relu(x - 1/2)
    with torch.no_grad():
        first.weight.copy_(torch.tensor([[1.0], [1.0]]))
        first.bias.copy_(torch.tensor([0.0, -0.5]))
    layers: list[nn.Module] = [first, nn.ReLU()]
    combine = torch.tensor([[2.0, -4.0]])                        # t = 2 h_1 - 4 h_2
    for _ in range(depth - 1):
        nxt = nn.Linear(2, 2)
        # the next layer's units relu(t) and relu(t - 1/2), with t folded into the weights
        with torch.no_grad():
            nxt.weight.copy_(torch.cat([combine, combine]))
            nxt.bias.copy_(torch.tensor([0.0, -0.5]))
        layers += [nxt, nn.ReLU()]
    last = nn.Linear(2, 1)
    with torch.no_grad():
        last.weight.copy_(combine)
        last.bias.zero_()
    return nn.Sequential(*layers, last).double()


def sawtooth(x: torch.Tensor, depth: int) -> torch.Tensor:
    """The closed form of the tent map composed ``depth`` times on [0, 1]: a triangle wave
    with 2^(depth-1) teeth, 1 - |2 frac(2^(depth-1) x) - 1|."""
    depth = checks.integer(depth, "depth")
    scaled = x * 2.0 ** (depth - 1)
    return 1 - (2 * (scaled - scaled.floor()) - 1).abs()


def shallow_l1_bound(depth: int, pieces: int) -> float:
    """A lower bound on the L1 distance on [0, 1] between the depth-``depth`` sawtooth and any
    continuous function with at most ``pieces`` linear pieces:
    (2^(depth-1) - (pieces - 1)) teeth hold no breakpoint, each costs at least 1/4 of its width.
    """
    depth, pieces = checks.integer(depth, "depth"), checks.integer(pieces, "pieces")
    teeth = 2 ** (depth - 1)
    # (teeth without a breakpoint) x (tooth width 1/teeth) x (best line's error per width 1/4)
    return max(teeth - (pieces - 1), 0) / teeth / 4


def sawtooth_knots(depth: int, units: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Knots and values of a piecewise-linear approximation of the depth-``depth`` sawtooth
    with at most ``units`` pieces (so :func:`interpolant_net` makes it a network of that
    width): the sawtooth itself if ``units >= 2^depth``, else its first m = (units - 2) // 2
    teeth exactly, a rise to 1/2 and the constant 1/2 (the best constant in L1) after.
    """
    depth, units = checks.integer(depth, "depth"), checks.integer(units, "units", least=2)
    pieces = 2 ** depth
    grid = torch.arange(pieces + 1, dtype=torch.float64) / pieces       # the kinks, i / 2^k
    if units >= pieces:
        return grid, sawtooth(grid, depth)
    m = (units - 2) // 2
    tooth = 2.0 / pieces                                                # width of a tooth
    knots = torch.cat([grid[: 2 * m + 1],
                       torch.tensor([m * tooth + tooth / 4, 1.0], dtype=torch.float64)])
    values = torch.cat([sawtooth(grid[: 2 * m + 1], depth),
                        torch.tensor([0.5, 0.5], dtype=torch.float64)])
    return knots, values


def count_pieces(x: torch.Tensor, y: torch.Tensor, tol: float = 1e-6) -> int:
    """The number of linear pieces of a piecewise-linear y(x) sampled on a sorted grid.

    A kink between two grid points changes the slope of the interval holding it and of the
    next one: a run of consecutive changed slopes counts as one kink. ``tol`` is relative
    to the largest absolute slope (or absolute, if every slope is below 1).
    """
    if x.ndim != 1 or x.shape != y.shape or len(x) < 3:
        raise ValueError(f"need 1-D x and y of the same length >= 3, got {tuple(x.shape)}, "
                         f"{tuple(y.shape)}")
    slopes = y.diff() / x.diff()                                 # (n - 1,)
    changed = (slopes.diff().abs() > tol * slopes.abs().max().clamp_min(1.0)).int()
    # a kink starts where a run of changes begins
    starts = changed.diff(prepend=torch.zeros(1, dtype=changed.dtype)) == 1
    return 1 + int(starts.sum())
