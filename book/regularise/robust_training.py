"""Small digit classifiers trained side by side, one per (method, seed), as one stacked
model (chapters ``adversarial_training`` and ``noise_gradient_penalty_vat``).

The runs share their architecture (``lipschitz.mlp``) and optimiser; stacked, they are one
:class:`~book.stacked.StackedMLP` whose weights have a leading run dimension.
Adam acts elementwise and run m's loss depends on slice m only, so each run is updated
exactly as if it were trained alone. Run m is seeded with ``seeding.everything(seed_m)``:
two methods with the same seed start from the same weights and see the same batches (a
paired comparison).

* :func:`train_adversarial`: supervised training on clean inputs (``plain``), on inputs with
  random noise of norm eps (``noise``), on first-order adversarial inputs (``fgm``, ``fgsm``:
  the loss at x + delta, delta held constant), or with the first-order equivalent penalty
  eps ||grad_x l|| (``gp``).
* :func:`train_semi_supervised`: cross-entropy on a few labelled digits plus a consistency
  term KL(p(x) || p(x + r)) on all digits, with r Gaussian (``noise``) or virtual adversarial
  (``vat``); ``supervised`` has no consistency term.
* :func:`three_blobs` and :func:`fit_smooth`: a tanh classifier of three Gaussian blobs in the
  plane, smooth (unlike ReLU networks) so that Taylor expansions hold everywhere, and small
  enough for brute-force searches and quadrature over its input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from torch import nn

from book import checks, seeding, training
from book.stacked import StackedMLP
from book.regularise import adversarial, lipschitz

ADVERSARIAL_METHODS = ("plain", "noise", "fgm", "fgsm", "gp")
SEMI_METHODS = ("supervised", "noise", "vat")


@dataclass
class StackConfig:
    """Architecture and optimiser shared by the stacked runs."""

    hidden: int = 64
    depth: int = 1            # hidden layers of lipschitz.mlp
    steps: int = 300
    batch: int = 256          # rows per step (unlabelled rows for train_semi_supervised)
    lr: float = 3e-3
    weight_decay: float = 0.0


def _stack(n_in: int, n_out: int, seeds: list[int], cfg: StackConfig):
    gens, nets = [], []
    for s in seeds:
        gens.append(seeding.everything(s))
        nets.append(lipschitz.mlp(n_in, n_out, cfg.hidden, cfg.depth))
    net = StackedMLP(nets)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    return net, opt, gens


def _batch(gens: list[torch.Generator], n: int, size: int) -> torch.Tensor:
    """One batch of row indices per run, (M, size), without replacement."""
    return torch.stack([torch.randperm(n, generator=g)[:size] for g in gens])


def _descend(opt, losses: torch.Tensor, step: int, methods: list[str]) -> None:
    for m, value in enumerate(losses):
        training.check_finite(value, step, f"loss of run {m} ({methods[m]})",
                              "try a smaller learning rate or eps")
    opt.zero_grad(set_to_none=True)
    losses.sum().backward()
    opt.step()


def train_adversarial(x: torch.Tensor, y: torch.Tensor, methods: list[str],
                      seeds: list[int], eps: float, cfg: StackConfig = StackConfig(),
                      n_classes: int = 10, progress: bool = True) -> StackedMLP:
    """Train run m with ``methods[m]`` from ``seeds[m]``; L2 perturbations of norm ``eps``
    (L-infinity for ``fgsm``). Returns the stack in eval mode: (M, N, in) -> (M, N, classes)."""
    checks.runs(methods, seeds, ADVERSARIAL_METHODS)
    checks.positive(eps, "eps")
    checks.integer(cfg.steps, "steps")
    net, opt, gens = _stack(x.shape[1], n_classes, seeds, cfg)
    size = min(cfg.batch, len(x))
    groups = {k: [m for m, name in enumerate(methods) if name == k] for k in ADVERSARIAL_METHODS}
    steps = range(cfg.steps)
    for step in training.progress(steps, desc=f"training {len(methods)} runs") if progress else steps:
        idx = _batch(gens, len(x), size)
        xb, yb = x[idx], y[idx]                                   # (M, B, in), (M, B)
        loss_rows = adversarial.cross_entropy_rows(net, yb)
        xin = xb.clone()
        if groups["noise"]:
            # delta = eps u, u uniform on the unit sphere
            noise = torch.stack([torch.randn(xb.shape[1:], generator=gens[m])
                                 for m in groups["noise"]])
            xin[groups["noise"]] += eps * F.normalize(noise, dim=-1)
        if groups["fgm"] or groups["fgsm"]:
            g = adversarial.input_gradient(loss_rows, xb)
            for name, norm in (("fgm", "l2"), ("fgsm", "linf")):
                if groups[name]:
                    xin[groups[name]] += adversarial.first_order_step(g[groups[name]], eps, norm)
        # 1/2 (l(x) + l(x + delta)): clean and perturbed rows in one pass, (M,)
        losses = adversarial.cross_entropy_rows(net, torch.cat([yb, yb], 1))(
            torch.cat([xb, xin], 1)).mean(1)
        if groups["gp"]:
            # l(x) + eps/2 ||grad_x l(x)||_2, the first-order value of the FGM loss
            gn = adversarial.gradient_norm(loss_rows, xb)
            losses = losses + eps / 2 * gn.mean(1) * torch.tensor(
                [float(name == "gp") for name in methods])
        _descend(opt, losses, step, methods)
    return net.eval()


def train_semi_supervised(x: torch.Tensor, y: torch.Tensor, labelled: list[torch.Tensor],
                          methods: list[str], seeds: list[int], eps: float | list[float],
                          weight: float = 1.0, cfg: StackConfig = StackConfig(),
                          n_classes: int = 10, vat_xi: float = 1e-2,
                          progress: bool = True) -> StackedMLP:
    """Run m: cross-entropy on ``x[labelled[m]]`` + ``weight`` * KL(p(x) || p(x + r)) on
    batches of all of ``x``, r Gaussian with E||r||^2 = eps_m^2 (``noise``), or eps_m times one
    power-iteration step towards the top eigenvector of the KL's Hessian (``vat``, finite
    differences of size ``vat_xi``). ``eps`` is one value for all runs or one per run."""
    checks.runs(methods, seeds, SEMI_METHODS)
    if len(labelled) != len(methods):
        raise ValueError(f"need one set of labelled indices per run, got {len(labelled)} "
                         f"for {len(methods)} runs")
    sizes = {len(i) for i in labelled}
    if len(sizes) != 1 or 0 in sizes:
        raise ValueError(f"every run needs the same number (>= 1) of labelled digits, got "
                         f"{sorted(sizes)}")
    eps_runs = [eps] * len(methods) if isinstance(eps, (int, float)) else list(eps)
    if len(eps_runs) != len(methods):
        raise ValueError(f"need one eps per run ({len(methods)}), got {len(eps_runs)}")
    for e in eps_runs:
        checks.positive(e, "eps")
    scale = torch.tensor(eps_runs, dtype=x.dtype)[:, None, None]      # (M, 1, 1)
    checks.number(weight, "weight", 0.0)
    checks.integer(cfg.steps, "steps")
    net, opt, gens = _stack(x.shape[1], n_classes, seeds, cfg)
    lab = torch.stack(labelled)                                    # (M, L)
    xl, yl = x[lab], y[lab]
    size = min(cfg.batch, len(x))
    noise_runs = [m for m, name in enumerate(methods) if name == "noise"]
    vat_runs = [m for m, name in enumerate(methods) if name == "vat"]
    use = torch.tensor([float(name != "supervised") for name in methods])
    steps = range(cfg.steps)
    for step in training.progress(steps, desc=f"training {len(methods)} runs") if progress else steps:
        xu = x[_batch(gens, len(x), size)]                         # (M, B, in)
        r = torch.zeros_like(xu)
        if noise_runs:
            # r ~ N(0, eps^2 / d I): E ||r||^2 = eps^2
            r[noise_runs] = scale[noise_runs] / x.shape[1] ** 0.5 * torch.stack(
                [torch.randn(xu.shape[1:], generator=gens[m]) for m in noise_runs])
        if vat_runs:
            # random starts for the VAT runs, zero (no direction) for the others
            d0 = torch.zeros_like(xu)
            d0[vat_runs] = torch.stack([torch.randn(xu.shape[1:], generator=gens[m])
                                        for m in vat_runs])
            d = adversarial.vat_direction(net, xu, n_iter=1, xi=vat_xi, d0=d0)
            r[vat_runs] = scale[vat_runs] * d[vat_runs]
        with torch.no_grad():
            p_logits = net(xu)
        consistency = adversarial.kl_logits(p_logits, net(xu + r)).mean(1)      # (M,)
        ce = adversarial.cross_entropy_rows(net, yl)(xl).mean(1)                # (M,)
        _descend(opt, ce + weight * use * consistency, step, methods)
    return net.eval()


def accuracy(net: StackedMLP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Accuracy of each run on (x, y): x (N, in) shared or (M, N, in) per run; (M,)."""
    xs = x.expand(len(net), *x.shape) if x.ndim == 2 else x
    with torch.no_grad():
        return (net(xs).argmax(-1) == y).float().mean(-1)


def three_blobs(n_per_class: int = 100, spread: float = 0.45,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(3n, 2) float64 points around (0, 1), (-0.9, -0.5), (0.9, -0.5), and their labels."""
    checks.integer(n_per_class, "n_per_class")
    checks.positive(spread, "spread")
    centres = torch.tensor([[0.0, 1.0], [-0.9, -0.5], [0.9, -0.5]], dtype=torch.float64)
    y = torch.arange(3).repeat_interleave(n_per_class)
    return centres[y] + spread * torch.randn(len(y), 2, generator=generator,
                                             dtype=torch.float64), y


def fit_smooth(x: torch.Tensor, y: torch.Tensor, hidden: int = 16, depth: int = 2,
               steps: int = 300, lr: float = 1e-2, seed: int = 0) -> nn.Sequential:
    """A tanh MLP (dtype of x) fitted full-batch to the cross-entropy with Adam; eval mode."""
    checks.integer(hidden, "hidden")
    checks.integer(depth, "depth")
    checks.integer(steps, "steps")
    seeding.everything(seed)
    sizes = [x.shape[1]] + [hidden] * depth
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.Tanh()]
    net = nn.Sequential(*layers, nn.Linear(sizes[-1], int(y.max()) + 1)).to(x.dtype)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for step in range(steps):
        loss = F.cross_entropy(net(x), y)
        training.check_finite(loss, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


def labelled_subset(y: torch.Tensor, per_class: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices of ``per_class`` random examples of every class in ``y`` (sorted by class)."""
    checks.integer(per_class, "per_class")
    out = []
    for c in torch.unique(y).tolist():
        idx = torch.nonzero(y == c).flatten()
        if len(idx) < per_class:
            raise ValueError(f"class {c} has {len(idx)} examples, fewer than per_class={per_class}")
        out.append(idx[torch.randperm(len(idx), generator=generator)[:per_class]])
    return torch.cat(out)
