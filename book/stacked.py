"""Several networks of the same shape evaluated as one: stacked weights (M, in, out).

Used wherever a chapter trains M small MLPs that differ only in their seed, loss or data
(``gan_zoo``'s stacks of GANs, Part III's runs over seeds): one batched product per layer
(``torch.baddbmm``) instead of M small ones, where a CPU's time goes on the overhead of each
operation rather than on arithmetic. Adam acts elementwise, so one optimiser over the stacked
weights updates each network exactly as its own optimiser would, and network m's output
depends on slice m of the weights only.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["EnsembleLinear", "StackedMLP"]


class StackedMLP(nn.Module):
    """M MLPs of the same shape evaluated together: (M, N, in) -> (M, N, out)."""

    def __init__(self, nets: list[nn.Sequential]):
        super().__init__()
        if not nets:
            raise ValueError("need at least one network to stack")
        layers = [[m for m in net if isinstance(m, nn.Linear)] for net in nets]
        shapes = {tuple(tuple(lin.weight.shape) for lin in ls) for ls in layers}
        if len(shapes) != 1:
            raise ValueError(f"the networks must have the same layer shapes, got {shapes}")
        self.activation = next((m for m in nets[0] if not isinstance(m, nn.Linear)), nn.ReLU())
        # weights (M, in, out) and biases (M, 1, out), so that x W + b is one baddbmm
        self.weights = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[k].weight.detach().T for ls in layers]).contiguous())
             for k in range(len(layers[0]))])
        self.biases = nn.ParameterList(
            [nn.Parameter(torch.stack([ls[k].bias.detach()[None] for ls in layers]))
             for k in range(len(layers[0]))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[0] != len(self):
            raise ValueError(f"input must be (M={len(self)}, N, in), got {tuple(x.shape)}")
        last = len(self.weights) - 1
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)   # (M, N, out)
            if k < last:
                x = self.activation(x)
        return x

    def input_gradient(self, x: torch.Tensor, runs: list[int] | None = None) -> torch.Tensor:
        """The gradient of each network's (scalar) output with respect to its input, at the
        rows of ``x``: (M, N, in), or (len(runs), N, in) for networks ``runs`` only.

        Differentiable with respect to the weights, for a gradient penalty. For ReLU and
        leaky ReLU networks it is written out, with no second backward pass:
        grad_x D = W_1 diag(a_1) W_2 diag(a_2) ... w_L, with a_k the slopes (1 or the leak
        where the unit's input is negative) at x; other activations use autograd.
        """
        idx = None if runs is None else torch.tensor(runs)
        ws = [w if idx is None else w[idx] for w in self.weights]   # (m, in_k, out_k)
        bs = [b if idx is None else b[idx] for b in self.biases]    # (m, 1, out_k)
        if ws[-1].shape[2] != 1:
            raise ValueError("input_gradient needs networks with one output")
        leak = {nn.ReLU: 0.0, nn.LeakyReLU: getattr(self.activation, "negative_slope", None)}
        slope = leak.get(type(self.activation))
        if slope is None:  # a smooth activation: differentiate through autograd
            x = x.detach().requires_grad_(True)
            h = x
            for k, (w, b) in enumerate(zip(ws, bs)):
                h = torch.baddbmm(b, h, w)
                if k < len(ws) - 1:
                    h = self.activation(h)
            return torch.autograd.grad(h.sum(), x, create_graph=True)[0]
        slopes = []
        with torch.no_grad():  # the slopes are constant almost everywhere
            h = x
            for w, b in zip(ws[:-1], bs[:-1]):
                h = torch.baddbmm(b, h, w)
                slopes.append(torch.where(h > 0, 1.0, slope))
                h = self.activation(h)
        # backwards from the output: g = w_L^T, then g <- (g * a_k) W_k^T, (m, N, width_k)
        g = ws[-1].transpose(1, 2).expand(-1, x.shape[1], -1)
        for w, a in zip(reversed(ws[:-1]), reversed(slopes)):
            g = torch.bmm(g * a, w.transpose(1, 2))
        return g

    def __len__(self) -> int:
        return self.weights[0].shape[0]

    def unstack(self, m: int) -> nn.Sequential:
        """A copy of network ``m`` as an ordinary ``nn.Sequential`` of Linear layers."""
        layers = []
        for k, (w, b) in enumerate(zip(self.weights, self.biases)):
            lin = nn.Linear(w.shape[1], w.shape[2])
            with torch.no_grad():
                lin.weight.copy_(w[m].T)
                lin.bias.copy_(b[m, 0])
            layers.append(lin)
            if k < len(self.weights) - 1:
                layers.append(self.activation)
        return nn.Sequential(*layers)


class EnsembleLinear(nn.Module):
    """M independent linear layers applied at once: (M, ..., i) -> (M, ..., o)."""

    def __init__(self, n_models: int, d_in: int, d_out: int):
        super().__init__()
        bound = 1 / math.sqrt(d_in)  # nn.Linear's default initialisation range
        self.weight = nn.Parameter(torch.empty(n_models, d_in, d_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_models, 1, d_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        y = torch.baddbmm(self.bias, x.reshape(shape[0], -1, shape[-1]), self.weight)
        return y.reshape(*shape[:-1], -1)
