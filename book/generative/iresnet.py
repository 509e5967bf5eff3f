"""Invertible residual networks (chapter ``invertible_resnet``).

A block y = x + g(x) with Lip(g) <= c < 1 is invertible: x is the fixed point of
x -> y - g(x), reached at the rate c^k (:func:`fixed_point_inverse`). Its log-determinant is
the power series log det(I + J) = sum_k (-1)^(k+1) tr(J^k) / k (chapter ``det_exp_trace``),
whose tail after n terms is at most d c^(n+1) / ((n+1)(1-c)) (:func:`series_tail_bound`),
and each trace is estimated by Hutchinson's v^T J^k v from k vector-Jacobian products
(:func:`hutchinson_terms`). g is a tanh MLP spectrally normalised with Part III's
:func:`book.regularise.lipschitz.spectral_normalise`, times c (:func:`lipschitz_mlp`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from book import checks, seeding, training
from book.regularise import lipschitz
from book.warmups import linalg

LOGDETS = ("exact", "series", "hutchinson")


def lipschitz_mlp(d: int, hidden: int, c: float, depth: int = 2) -> nn.Sequential:
    """g(x) = c * MLP(x), tanh hidden layers, every weight divided by its spectral norm:
    Lip(g) <= c * prod_l ||W_l / sigma(W_l)||_2 * Lip(tanh)^depth = c."""
    checks.integer(d, "d")
    checks.number(c, "c", 0.0, low_ok=False, high=1.0)
    # tanh, not ReLU: smooth, so that the density is smooth too
    net = lipschitz.mlp(d, d, hidden, depth, activation=nn.Tanh)
    lipschitz.spectral_normalise(net)
    return nn.Sequential(*net, lipschitz.Scale(c))


@torch.no_grad()
def settle(module: nn.Module, x: torch.Tensor, n: int = 50) -> None:
    """Run ``n`` more power iterations in every spectral normalisation of ``module`` (one per
    forward pass in training mode), so that sigma(W) is exact and Lip(g) <= c holds."""
    was = module.training
    module.train()
    for _ in range(checks.integer(n, "n")):
        module(x)
    module.train(was)


def fixed_point_inverse(g: nn.Module, y: torch.Tensor, n_iter: int,
                        x0: torch.Tensor | None = None) -> torch.Tensor:
    """Iterates of x_{k+1} = y - g(x_k) from x_0 = y (or ``x0``): shape (n_iter + 1, N, d).
    Banach: ||x_k - x|| <= Lip(g)^k ||x_0 - x|| for the x with x + g(x) = y."""
    checks.integer(n_iter, "n_iter", least=0)
    x = y.clone() if x0 is None else x0
    out = [x]
    with torch.no_grad():
        for _ in range(n_iter):
            # x_{k+1} = y - g(x_k)
            x = y - g(x)
            out.append(x)
    return torch.stack(out)


def jacobian(g: nn.Module, x: torch.Tensor, create_graph: bool = False) -> torch.Tensor:
    """Per-row Jacobians dg(x_i)/dx_i of a row-wise map, (N, d, d), from d backward passes."""
    if not isinstance(x, torch.Tensor) or x.ndim != 2:
        raise ValueError(f"x must be a (N, d) tensor, got {getattr(x, 'shape', type(x))}")
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    out = g(x)  # (N, d)
    rows = [torch.autograd.grad(out[:, i].sum(), x, create_graph=create_graph,
                                retain_graph=True)[0] for i in range(out.shape[1])]
    return torch.stack(rows, dim=1)  # (N, d_out, d_in)


def value_and_jacobian(g: nn.Sequential, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """g(x) (N, d) and its Jacobians (N, d, d) for a chain of Linear, Tanh and Scale layers,
    by the chain rule J = c W_L diag(tanh') ... diag(tanh') W_1, in one forward pass."""
    h, Jt = x, None  # Jt: (N, d, width), the transpose of d h / d x so far
    for m in g:
        if isinstance(m, nn.Linear):
            w = m.weight  # (out, in), normalised if parametrised
            h = h @ w.T + m.bias
            # J <- W J, as Jt <- Jt W^T: one (N d, in) @ (in, out) product
            Jt = w.T.expand(len(x), *w.T.shape) if Jt is None else Jt @ w.T
        elif isinstance(m, nn.Tanh):
            h = torch.tanh(h)
            # d tanh(a) / da = 1 - tanh(a)^2
            Jt = Jt * (1 - h ** 2)[:, None, :]
        elif isinstance(m, lipschitz.Scale):
            h, Jt = m.c * h, m.c * Jt
        else:
            raise ValueError(f"value_and_jacobian knows Linear, Tanh and Scale, got {type(m).__name__}")
    return h, Jt.transpose(1, 2)


def logdet_exact(J: torch.Tensor) -> torch.Tensor:
    """log |det(I + J)| for a batch of Jacobians (N, d, d) -> (N,), by LU (slogdet)."""
    eye = torch.eye(J.shape[-1], dtype=J.dtype)
    return torch.linalg.slogdet(eye + J)[1]


def logdet_series_2d(J: torch.Tensor, n: int) -> torch.Tensor:
    """sum_{k<=n} (-1)^(k+1) tr(J^k) / k for a batch of 2x2 matrices (N, 2, 2) -> (N,), in
    elementwise operations: by Cayley-Hamilton, J^2 = tr(J) J - det(J) I, hence
    t_k = tr(J) t_{k-1} - det(J) t_{k-2} for t_k = tr(J^k), t_0 = 2."""
    if J.ndim != 3 or J.shape[1:] != (2, 2):
        raise ValueError(f"J must be a batch of 2x2 matrices (N, 2, 2), got {tuple(J.shape)}")
    trace = J[:, 0, 0] + J[:, 1, 1]
    det = J[:, 0, 0] * J[:, 1, 1] - J[:, 0, 1] * J[:, 1, 0]
    before, t, total = torch.full_like(trace, 2.0), trace, trace
    for k in range(2, checks.integer(n, "n") + 1):
        # t_k = tr(J) t_{k-1} - det(J) t_{k-2}
        before, t = t, trace * t - det * before
        total = total + (-1) ** (k + 1) * t / k
    return total


def series_tail_bound(d: int, c: float, n: int) -> float:
    """Bound on |log det(I+J) - (first n terms)| for ||J||_2 <= c < 1:
    sum_{k>n} |tr J^k| / k <= sum_{k>n} d c^k / (n+1) = d c^(n+1) / ((n+1)(1-c))."""
    checks.integer(d, "d")
    checks.integer(n, "n", least=0)
    c = checks.number(c, "c", 0.0, high=1.0)
    return d * c ** (n + 1) / ((n + 1) * (1 - c))


def rademacher(shape: tuple, generator: torch.Generator | None = None,
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Random signs +-1 of the given shape: E[v v^T] = I."""
    return (torch.randint(0, 2, shape, generator=generator) * 2 - 1).to(dtype)


def hutchinson_terms(g: nn.Module, x: torch.Tensor, v: torch.Tensor, n: int,
                     create_graph: bool = False) -> torch.Tensor:
    """v_i^T J(x_i)^k v_i for k = 1..n, shape (n, N): k vector-Jacobian products
    w^T <- w^T J, never forming J. Unbiased for tr(J^k) when E[v v^T] = I."""
    checks.integer(n, "n")
    if v.shape != x.shape:
        raise ValueError(f"v must have the shape of x {tuple(x.shape)}, got {tuple(v.shape)}")
    x = x if x.requires_grad else x.detach().requires_grad_(True)
    out = g(x)  # (N, d)
    w, terms = v, []
    for _ in range(n):
        # w^T <- w^T J: one backward pass through g
        w = torch.autograd.grad(out, x, grad_outputs=w, create_graph=create_graph,
                                retain_graph=True)[0]
        # v^T J^k v
        terms.append((w * v).sum(1))
    return torch.stack(terms)


def series_weights(n: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(-1)^(k+1) / k for k = 1..n, the coefficients of log(1 + t)."""
    k = torch.arange(1, checks.integer(n, "n") + 1, dtype=dtype)
    return (-1.0) ** (k + 1) / k


class ActNorm(nn.Module):
    """Elementwise affine layer z = (x - b) * exp(-s): log det = -sum(s). Initialised from a
    batch so that z has mean 0 and variance 1 per coordinate."""

    def __init__(self, x: torch.Tensor):
        super().__init__()
        self.b = nn.Parameter(x.mean(0).detach().clone())
        self.s = nn.Parameter(x.std(0).log().detach().clone())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x - self.b) * torch.exp(-self.s), -self.s.sum().expand(len(x))

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.exp(self.s) + self.b


class IResNetFlow(nn.Module):
    """z = F(x) = block_L(... block_1(ActNorm(x))), block(x) = x + g(x), Lip(g) <= c;
    log p(x) = log N(F(x); 0, I) + log|det dF/dx|."""

    def __init__(self, x: torch.Tensor, blocks: int, hidden: int, c: float):
        super().__init__()
        checks.integer(blocks, "blocks")
        self.norm = ActNorm(x)
        self.gs = nn.ModuleList([lipschitz_mlp(x.shape[1], hidden, c) for _ in range(blocks)])
        self.c = c

    def forward(self, x: torch.Tensor, logdet: str = "exact", terms: int = 8,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """z and log|det dz/dx| per row, the block log-dets ``exact`` (slogdet of the
        Jacobian), ``series`` (n exact traces) or ``hutchinson`` (one probe per row)."""
        if logdet not in LOGDETS:
            raise ValueError(f"unknown logdet {logdet!r}; known: {', '.join(LOGDETS)}")
        grad = torch.is_grad_enabled()  # False: evaluation, no graph kept
        with torch.enable_grad():
            z, total = self.norm(x)
            for g in self.gs:
                z = z if (z.requires_grad and grad) else z.detach().requires_grad_(True)
                if logdet == "hutchinson":
                    v = rademacher(tuple(z.shape), generator, z.dtype)
                    # sum_k (-1)^(k+1)/k v^T J^k v
                    est = hutchinson_terms(g, z, v, terms, create_graph=grad)
                    total = total + series_weights(terms, z.dtype) @ est
                    z = z + g(z)
                else:
                    gz, J = value_and_jacobian(g, z)  # (N, d), (N, d, d)
                    series = logdet_series_2d if J.shape[-1] == 2 else linalg.logdet_series
                    total = total + (logdet_exact(J) if logdet == "exact" else series(J, terms))
                    z = z + gz
        return (z, total) if grad else (z.detach(), total.detach())

    @torch.no_grad()
    def block_jacobians(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The Jacobian of each residual function g_l at its input, [(N, d, d)] * blocks."""
        z, out = self.norm(x)[0], []
        for g in self.gs:
            gz, J = value_and_jacobian(g, z)
            out.append(J)
            z = z + gz
        return out

    def log_prob(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        """log p(x) per row, (N,)."""
        z, logdet = self(x, **kwargs)
        # log N(z; 0, I) = -|z|^2 / 2 - d/2 log(2 pi)
        return -0.5 * (z ** 2).sum(1) - 0.5 * z.shape[1] * math.log(2 * math.pi) + logdet

    @torch.no_grad()
    def inverse(self, z: torch.Tensor, n_iter: int = 200, tol: float = 1e-7) -> torch.Tensor:
        """x = F^{-1}(z): each block inverted by the fixed-point iteration x <- y - g(x), last
        block first, until no coordinate moves by more than ``tol`` (at most ``n_iter`` steps)."""
        for g in reversed(self.gs):
            y, x = z, z
            for _ in range(checks.integer(n_iter, "n_iter")):
                x, previous = y - g(x), x
                if (x - previous).abs().max() < tol:
                    break
            z = x
        return self.norm.inverse(z)


@dataclass
class FlowConfig:
    """A small i-ResNet flow trained by maximum likelihood, full batch, with Adam."""

    blocks: int = 4
    hidden: int = 32
    c: float = 0.9            # Lip(g) <= c in every block
    terms: int = 8            # series terms of each block's log-det
    logdet: str = "hutchinson"  # the estimate trained on
    steps: int = 1000
    lr: float = 1e-2
    seed: int = 0


def train_flow(x: torch.Tensor, cfg: FlowConfig,
               progress: bool = True) -> tuple[IResNetFlow, list[float]]:
    """Minimise -mean log p(x) with the configured log-det estimate; returns the flow (eval
    mode, power iterations settled) and the loss per step (a progress bar unless ``progress``
    is False)."""
    checks.integer(cfg.steps, "steps")
    gen = seeding.everything(cfg.seed)
    flow = IResNetFlow(x, cfg.blocks, cfg.hidden, cfg.c)
    opt = torch.optim.Adam(flow.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    losses = []
    steps = range(cfg.steps)
    for step in training.progress(steps, desc="i-ResNet flow") if progress else steps:
        loss = -flow.log_prob(x, logdet=cfg.logdet, terms=cfg.terms, generator=gen).mean()
        losses.append(training.check_finite(loss, step, hint="lower lr"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    for g in flow.gs:
        settle(g, x)
    return flow.eval(), losses


def fit(x: torch.Tensor, cfg: FlowConfig) -> tuple[dict, list[float]]:
    """:func:`train_flow` for a worker process, without its progress bar (the caller shows
    one per run): the flow's ``state_dict`` (picklable) and the losses; rebuild with
    ``IResNetFlow(x, cfg.blocks, cfg.hidden, cfg.c).load_state_dict``."""
    with training.torch_threads(1):
        flow, losses = train_flow(x, cfg, progress=False)
    return flow.state_dict(), losses
