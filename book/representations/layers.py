"""Layers built from layers, a tied output layer, mask-aware sequence layers, and the
pre-LN Transformer block of the masked language model (chapter ``mlm_through_dropout``).

Chapter ``layers_masks_and_reuse`` shows these Keras idioms in PyTorch: a module holding
other modules owns their parameters; a layer may borrow another layer's weight; padded
batches are handled with a boolean mask (True at real tokens, shape ``(B, n)``), so
every real position gets exactly what it would get without padding.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from book.representations import attention

ACTIVATIONS = {"identity": nn.Identity, "relu": nn.ReLU, "tanh": nn.Tanh,
               "sigmoid": nn.Sigmoid}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _check_batch(x: torch.Tensor, mask: torch.Tensor) -> None:
    if x.ndim != 3:
        raise ValueError(f"x must have shape (B, n, d), got {tuple(x.shape)}")
    if mask.dtype != torch.bool or mask.shape != x.shape[:2]:
        raise ValueError(f"mask must be boolean with shape {tuple(x.shape[:2])}, "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    # real tokens first, then padding: the mask of every row is 1...1 0...0
    if (mask[:, 1:] & ~mask[:, :-1]).any() or not mask[:, 0].all():
        raise ValueError("mask rows must be 1...1 0...0 (padding at the end, length >= 1)")


class TwoLayerDense(nn.Module):
    """y = g(f(x W1 + b1) W2 + b2), a layer made of two ``nn.Linear`` layers."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int,
                 hidden_activation: str = "tanh", output_activation: str = "identity"):
        super().__init__()
        self.hidden = nn.Linear(d_in, d_hidden)   # assigning a module registers it:
        self.out = nn.Linear(d_hidden, d_out)     # its parameters become ours
        self.f = _activation(hidden_activation)
        self.g = _activation(output_activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g(self.out(self.f(self.hidden(x))))


class TiedOutput(nn.Module):
    """Logits h E^T + b that reuse an embedding's matrix E ``(V, d)`` (as BERT's MLM head)."""

    def __init__(self, embedding: nn.Embedding):
        super().__init__()
        if not isinstance(embedding, nn.Embedding):
            raise ValueError(f"embedding must be an nn.Embedding, got {type(embedding).__name__}")
        self.embedding = embedding                 # the same object, not a copy
        self.bias = nn.Parameter(torch.zeros(embedding.num_embeddings))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        # (..., d) @ (d, V) -> (..., V)
        return h @ self.embedding.weight.T + self.bias


class MaskedSelfAttention(nn.Module):
    """One head of self-attention over a padded batch: padded keys get weight 0 and
    padded positions output 0, so real positions see only the real sequence."""

    def __init__(self, d: int, d_head: int):
        super().__init__()
        self.q, self.k, self.v = (nn.Linear(d, d_head) for _ in range(3))
        self.o = nn.Linear(d_head, d)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool)
        _check_batch(x, mask)
        x = torch.where(mask.unsqueeze(-1), x, 0.0)           # whatever the padding holds
        # (B, n, d_head) for q, k, v; padded keys are excluded inside the softmax
        h = attention.softmax_attention(self.q(x), self.k(x), self.v(x), key_mask=mask)
        return torch.where(mask.unsqueeze(-1), self.o(h), 0.0)


def reverse_padded(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reverse the real part of every sequence, leave the padding where it is.

    Row b of length L: position i < L takes x[b, L - 1 - i]; positions i >= L keep x[b, i].
    """
    _check_batch(x, mask)
    n = x.shape[1]
    lengths = mask.sum(1, keepdim=True)                       # (B, 1)
    i = torch.arange(n).expand(len(x), n)                     # (B, n)
    src = torch.where(mask, lengths - 1 - i, i)
    return torch.gather(x, 1, src.unsqueeze(-1).expand_as(x))


class MaskedBiGRU(nn.Module):
    """A bidirectional GRU that ignores padding: the backward GRU reads each sequence
    reversed within its own length, so it starts at the last real token, not at a pad."""

    def __init__(self, d_in: int, d_hidden: int):
        super().__init__()
        self.forward_gru = nn.GRU(d_in, d_hidden, batch_first=True)
        self.backward_gru = nn.GRU(d_in, d_hidden, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check_batch(x, mask)
        # forward direction: padding comes after the real tokens, so it cannot reach them
        h_fwd = self.forward_gru(x)[0]
        # backward direction: reverse within length, run forward, reverse back
        h_bwd = reverse_padded(self.backward_gru(reverse_padded(x, mask))[0], mask)
        h = torch.cat([h_fwd, h_bwd], dim=-1)                 # (B, n, 2 d_hidden)
        return torch.where(mask.unsqueeze(-1), h, 0.0)


class MaskedEmbedding(nn.Embedding):
    """An embedding whose token ``pad_id`` marks padding (Keras's ``mask_zero=True``):
    ``compute_mask`` turns the token ids into the mask the next layers receive."""

    def __init__(self, vocab_size: int, d: int, pad_id: int = 0):
        super().__init__(vocab_size, d)
        self.pad_id = pad_id

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(ids)

    def compute_mask(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if ids.ndim != 2 or ids.dtype.is_floating_point:
            raise ValueError(f"ids must be integer token ids of shape (B, n), got "
                             f"{ids.dtype} {tuple(ids.shape)}")
        own = ids != self.pad_id                                  # (B, n)
        return own if mask is None else own & mask


class MaskedMaxPool(nn.Module):
    """Max over windows of ``k`` positions (stride ``k``) that ignores padding: a window
    holding any real token gives the maximum over its real tokens and stays real; a window
    of padding only gives 0 and is masked. The mask shrinks with the sequence."""

    def __init__(self, k: int = 2):
        super().__init__()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        self.k = k

    def _windows(self, x: torch.Tensor, mask: torch.Tensor):
        B, n, d = x.shape
        n_out = -(-n // self.k)                                   # ceil(n / k)
        extra = n_out * self.k - n                                # pad the length to a multiple of k
        x = torch.cat([x, x.new_zeros(B, extra, d)], 1).view(B, n_out, self.k, d)
        mask = torch.cat([mask, mask.new_zeros(B, extra)], 1).view(B, n_out, self.k)
        return x, mask

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        _check_batch(x, mask)
        xw, mw = self._windows(x, mask)                           # (B, n_out, k, d), (B, n_out, k)
        # max_{i in window, m_i = 1} x_i, as attention.masked_max but per window
        top = torch.where(mw.unsqueeze(-1), xw, float("-inf")).amax(-2)
        return torch.where(mw.any(-1, keepdim=True), top, 0.0)   # (B, n_out, d)

    def compute_mask(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # a window is real iff it holds a real token: length L becomes ceil(L / k)
        return self._windows(x, mask)[1].any(-1)


class MaskedSequential(nn.Module):
    """Layers that take ``(x, mask)``; after each one, its ``compute_mask(x, mask)`` (if
    it has one; otherwise the mask passes unchanged) gives the mask of its output, as
    Keras propagates masks. ``trace`` returns every layer's output and mask."""

    def __init__(self, *layers: nn.Module):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def trace(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        out = []
        for layer in self.layers:
            y = layer(x, mask)
            if hasattr(layer, "compute_mask"):
                mask = layer.compute_mask(x, mask)
            x = y
            out.append((x, mask))
        return out

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None):
        return self.trace(x, mask)[-1]


class PreLNBlock(nn.Module):
    """Pre-LN Transformer block: ``x + Attn(LN x)``, then ``x + FFN(LN x)``; the attention
    scores get an additive ``bias``, ``(n_heads, T, T)`` (:func:`attention.distance_bias`)."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        B, T, d = x.shape
        # (B, T, 3d) -> q, k, v each (B, nh, T, d / nh)
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)
        # softmax(q k^T / sqrt(d_head) + bias) v, bias (nh, T, T)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]) + bias, dim=-1) @ v
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, d))
        return x + self.ff(self.ln2(x))
