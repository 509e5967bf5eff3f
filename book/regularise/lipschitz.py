"""Lipschitz constants of layers and networks (chapter ``lipschitz_constraint``).

* :func:`power_iteration` estimates the spectral norm sigma(W) = max ||W x|| / ||x||, the
  Lipschitz constant of a linear layer in the L2 norm, with its history of iterates.
* :func:`network_bound` multiplies the layer norms of a feed-forward chain: an upper
  bound of the network's Lipschitz constant.
* :class:`SpectralNormPenalty` is the regulariser 1/2 sum_l sigma(W_l)^2 of Yoshida &
  Miyato; :func:`spectral_normalise` wraps torch's spectral normalisation (Miyato et al.).
* :func:`input_jacobian`, :func:`local_lipschitz` and :func:`sensitivity` measure how much
  a trained model's output moves when its input is perturbed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from book import checks, seeding, training

#: Lipschitz constants (L2) of the element-wise layers a chain may contain.
ACTIVATIONS = {nn.ReLU: 1.0, nn.Tanh: 1.0, nn.Sigmoid: 0.25, nn.Identity: 1.0,
               nn.Flatten: 1.0}
DIRECTIONS = ("random", "gradient", "worst")


class Scale(nn.Module):
    """Multiply by a fixed constant c (Lipschitz constant |c|)."""

    def __init__(self, c: float):
        super().__init__()
        self.c = float(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c * x

    def extra_repr(self) -> str:
        return f"c={self.c}"


@dataclass
class PowerIteration:
    """Result of :func:`power_iteration` on a weight of shape (m, n)."""

    sigma: torch.Tensor   # () final estimate ||W v_K||
    u: torch.Tensor       # (m,) left singular vector estimate
    v: torch.Tensor       # (n,) right singular vector estimate
    sigmas: torch.Tensor  # (K,) estimates after each step
    vs: torch.Tensor      # (K + 1, n) v_0 .. v_K


def _check_matrix(weight) -> torch.Tensor:
    if not isinstance(weight, torch.Tensor) or weight.ndim != 2:
        shape = tuple(weight.shape) if isinstance(weight, torch.Tensor) else type(weight).__name__
        raise ValueError(f"weight must be a 2-D tensor (out, in), got {shape}")
    if weight.numel() == 0 or not torch.isfinite(weight).all():
        raise ValueError("weight must be non-empty and finite")
    return weight


@torch.no_grad()
def power_iteration(weight: torch.Tensor, n_iter: int = 20, v0: torch.Tensor | None = None,
                    generator: torch.Generator | None = None) -> PowerIteration:
    """Estimate the top singular triple of ``weight`` by ``n_iter`` steps of power iteration.

    One step: u <- W v / ||W v||, v <- W^T u / ||W^T u|| (one product by W^T W), then
    sigma_k = ||W v_k||, a lower bound of sigma_1 that rises to it (chapter lipschitz_constraint).
    """
    w = _check_matrix(weight).detach()
    checks.integer(n_iter, "n_iter")
    if v0 is None:
        v0 = torch.randn(w.shape[1], generator=generator, dtype=w.dtype)
    elif v0.shape != (w.shape[1],):
        raise ValueError(f"v0 must have shape ({w.shape[1]},), got {tuple(v0.shape)}")
    v = F.normalize(v0.to(w.dtype), dim=0)
    vs, sigmas = [v], []
    for _ in range(n_iter):
        # u_k = W v_{k-1} / ||W v_{k-1}||,  v_k = W^T u_k / ||W^T u_k||
        u = F.normalize(w @ v, dim=0)
        v = F.normalize(w.T @ u, dim=0)
        vs.append(v)
        # \hat\sigma_k = ||W v_k|| <= sigma_1
        sigmas.append(torch.linalg.vector_norm(w @ v))
    u = F.normalize(w @ v, dim=0)
    return PowerIteration(sigmas[-1], u, v, torch.stack(sigmas), torch.stack(vs))


def _chain(model: nn.Module):
    """Leaf layers of a feed-forward chain, in order (a Linear counts as one leaf)."""
    if isinstance(model, nn.Sequential):
        for child in model:
            yield from _chain(child)
    elif isinstance(model, (nn.Linear, Scale)) or type(model) in ACTIVATIONS:
        yield model
    else:
        known = ", ".join(["Linear", "Sequential", "Scale"] + [a.__name__ for a in ACTIVATIONS])
        raise ValueError(f"cannot bound layer {type(model).__name__}; known: {known}")


def linear_weights(model: nn.Module) -> list[torch.Tensor]:
    """The weights of the Linear layers of a chain (normalised ones if parametrised)."""
    return [m.weight for m in _chain(model) if isinstance(m, nn.Linear)]


def layer_norms(model: nn.Module) -> torch.Tensor:
    """Exact spectral norm of every Linear layer, ``torch.linalg.matrix_norm(ord=2)``."""
    with torch.no_grad():
        return torch.stack([torch.linalg.matrix_norm(w, ord=2) for w in linear_weights(model)])


def network_bound(model: nn.Module) -> float:
    """Upper bound of the L2 Lipschitz constant of a chain: prod_l sigma(W_l) * prod Lip(act)."""
    bound = 1.0
    with torch.no_grad():
        for m in _chain(model):
            if isinstance(m, nn.Linear):
                bound *= float(torch.linalg.matrix_norm(m.weight, ord=2))
            elif isinstance(m, Scale):
                bound *= abs(m.c)
            else:
                bound *= ACTIVATIONS[type(m)]
    return bound


class SpectralNormPenalty:
    """Regulariser 1/2 sum_l sigma(W_l)^2 (Yoshida & Miyato), chapter lipschitz_constraint.

    Each call advances a persistent power iteration per layer by ``n_iter`` steps (no
    gradient), then returns 1/2 sum (u_l^T W_l v_l)^2, whose gradient is sigma_l u_l v_l^T.
    """

    def __init__(self, model: nn.Module, n_iter: int = 1, seed: int = 0):
        self.weights = linear_weights(model)
        if not self.weights:
            raise ValueError("the model has no Linear layer to penalise")
        self.n_iter = checks.integer(n_iter, "n_iter")
        gen = seeding.generator(seed)
        self.vs = [F.normalize(torch.randn(w.shape[1], generator=gen, dtype=w.dtype), dim=0)
                   for w in self.weights]

    def sigmas(self) -> torch.Tensor:
        """Current estimates sigma_l = u_l^T W_l v_l, differentiable in the weights."""
        out = []
        for i, w in enumerate(self.weights):
            p = power_iteration(w, self.n_iter, v0=self.vs[i])
            self.vs[i] = p.v
            # sigma_l = u^T W v with u, v constant: d sigma_l / dW = u v^T
            out.append(p.u @ w @ p.v)
        return torch.stack(out)

    def __call__(self) -> torch.Tensor:
        return 0.5 * (self.sigmas() ** 2).sum()


def spectral_normalise(model: nn.Module, n_power_iterations: int = 1) -> nn.Module:
    """Put torch's spectral normalisation W / sigma(W) on every Linear of a chain (in place)."""
    checks.integer(n_power_iterations, "n_power_iterations")
    for m in _chain(model):
        if isinstance(m, nn.Linear):
            nn.utils.parametrizations.spectral_norm(m, n_power_iterations=n_power_iterations)
    return model


def _check_batch(x: torch.Tensor) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or len(x) == 0:
        raise ValueError(f"x must be a non-empty (N, d) tensor, got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    return x


def input_jacobian(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Jacobians d f(x_i) / d x_i of a per-sample model, shape (N, out, in)."""
    x = _check_batch(x).detach().requires_grad_(True)
    y = model(x)  # (N, out)
    rows = [torch.autograd.grad(y[:, k].sum(), x, retain_graph=True)[0]
            for k in range(y.shape[1])]
    return torch.stack(rows, dim=1).detach()


def local_lipschitz(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """||J_f(x_i)||_2 for each row: the largest stretch of a tiny perturbation at x_i, (N,)."""
    return torch.linalg.matrix_norm(input_jacobian(model, x), ord=2)


def sensitivity(model: nn.Module, x: torch.Tensor, eps: float, direction: str = "random",
                y: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Ratios ||f(x + delta) - f(x)|| / ||delta|| with ||delta|| = eps, one per row, (N,).

    ``direction``: ``random`` (uniform on the sphere), ``gradient`` (of the cross-entropy
    at labels ``y``, the first-order adversarial direction), ``worst`` (top right singular
    vector of the input Jacobian).
    """
    x = _check_batch(x).detach()
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; known: {', '.join(DIRECTIONS)}")
    checks.positive(eps, "eps")
    d = torch.randn(x.shape, generator=generator, dtype=x.dtype)
    if direction == "gradient":
        if y is None or y.shape != (len(x),):
            raise ValueError("direction 'gradient' needs labels y of shape (N,)")
        xg = x.clone().requires_grad_(True)
        g = torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)[0]
        flat = torch.linalg.vector_norm(g, dim=1) == 0  # saturated rows: random direction
        d = torch.where(flat[:, None], d, g)
    elif direction == "worst":
        d = torch.linalg.svd(input_jacobian(model, x)).Vh[:, 0, :]
    delta = eps * F.normalize(d, dim=1)
    with torch.no_grad():
        diff = model(x + delta) - model(x)
    return torch.linalg.vector_norm(diff, dim=1) / torch.linalg.vector_norm(delta, dim=1)


@dataclass
class TrainConfig:
    """A small MLP classifier trained full-batch with Adam."""

    hidden: int = 64
    depth: int = 2            # hidden layers
    steps: int = 300
    lr: float = 3e-3
    penalty: float = 0.0      # weight lambda of SpectralNormPenalty
    normalise: bool = False   # spectral normalisation on every Linear
    scale: float = 1.0        # a final Scale(c) layer: a c-Lipschitz net if normalised
    seed: int = 0


def mlp(n_in: int, n_out: int, hidden: int, depth: int,
        activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """n_in -> hidden (``activation``, ReLU by default) x depth -> n_out."""
    for name, val in (("n_in", n_in), ("n_out", n_out), ("hidden", hidden), ("depth", depth)):
        checks.integer(val, name)
    sizes = [n_in] + [hidden] * depth
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], n_out))


def train_classifier(x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig,
                     n_classes: int = 10) -> tuple[nn.Sequential, list[float]]:
    """Minimise cross-entropy + lambda * 1/2 sum sigma_l^2; returns the model (eval mode)
    and the cross-entropy per step."""
    checks.positive(cfg.scale, "scale")
    if cfg.penalty < 0:
        raise ValueError(f"penalty must be >= 0, got {cfg.penalty}")
    if cfg.penalty > 0 and cfg.normalise:
        raise ValueError("choose a penalty or spectral normalisation, not both")
    checks.integer(cfg.steps, "steps")
    seeding.everything(cfg.seed)
    model = mlp(x.shape[1], n_classes, cfg.hidden, cfg.depth)
    if cfg.normalise:
        spectral_normalise(model)
    if cfg.scale != 1.0:
        model = nn.Sequential(*model, Scale(cfg.scale))
    reg = SpectralNormPenalty(model, seed=cfg.seed) if cfg.penalty > 0 else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses = []
    for step in range(cfg.steps):
        ce = F.cross_entropy(model(x), y)
        loss = ce + cfg.penalty * reg() if reg is not None else ce
        training.check_finite(loss, step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(ce.item())
    return model.eval(), losses


def fit_critic(x_real: torch.Tensor, x_fake: torch.Tensor, steps: int = 300,
               hidden: int = 64, lr: float = 1e-2, normalise: bool = True,
               seed: int = 0) -> tuple[nn.Sequential, list[float]]:
    """Maximise mean D(x_real) - mean D(x_fake) over an MLP critic (WGAN's dual problem);
    spectrally normalised (a 1-Lipschitz bound) unless ``normalise`` is False."""
    x_real, x_fake = _check_batch(x_real), _check_batch(x_fake)
    if x_real.shape[1] != x_fake.shape[1]:
        raise ValueError(f"x_real and x_fake differ in dimension: "
                         f"{x_real.shape[1]} vs {x_fake.shape[1]}")
    checks.integer(steps, "steps")
    seeding.everything(seed)
    critic = mlp(x_real.shape[1], 1, hidden, 2)
    if normalise:
        spectral_normalise(critic)
    opt = torch.optim.Adam(critic.parameters(), lr=lr, betas=(0.5, 0.9))
    gaps = []
    for step in range(steps):
        gap = critic(x_real).mean() - critic(x_fake).mean()
        training.check_finite(gap, step, name="critic gap")
        opt.zero_grad()
        (-gap).backward()
        opt.step()
        gaps.append(gap.item())
    return critic.eval(), gaps
