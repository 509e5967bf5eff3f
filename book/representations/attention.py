"""Softmax attention with causal and padding masks, masked pooling, a distance bias, and
Transformer-VQ.

Chapter ``layers_masks_and_reuse`` uses the padding masks and the masked pooling, chapter
``mlm_through_dropout`` the distance (ALiBi) bias; chapter ``transformer_vq`` derives why attention over vector-quantised keys factors through the
codebook and costs O(n c) instead of O(n^2). Shapes: queries ``(..., n, d)``, keys
``(..., m, d)``, values ``(..., m, dv)``; a padding mask is boolean, True at real tokens.
"""

from __future__ import annotations

import math

import torch

from book import checks


def _scale(d: int, scale: float | None) -> float:
    return 1.0 / math.sqrt(d) if scale is None else float(scale)


def padding_mask(lengths, n: int | None = None) -> torch.Tensor:
    """Boolean mask ``(B, n)``: entry ``[b, i]`` is True iff ``i < lengths[b]``."""
    lengths = torch.as_tensor(lengths)
    if lengths.ndim != 1 or lengths.dtype.is_floating_point:
        raise ValueError(f"lengths must be a 1-d integer sequence, got {lengths!r}")
    if len(lengths) and int(lengths.min()) < 1:
        raise ValueError(f"every length must be at least 1, got {lengths.tolist()}")
    longest = int(lengths.max()) if len(lengths) else 0
    n = longest if n is None else int(n)
    if n < longest:
        raise ValueError(f"n = {n} is shorter than the longest sequence ({longest})")
    return torch.arange(n) < lengths[:, None]


def pad_batch(seqs, n: int | None = None, value: float = 0.0):
    """Stack sequences ``(n_b, d)`` into ``x (B, n, d)`` filled with ``value``, and the mask."""
    if not seqs:
        raise ValueError("pad_batch needs at least one sequence")
    if any(s.ndim != 2 or s.shape[1] != seqs[0].shape[1] for s in seqs):
        raise ValueError("every sequence must have shape (length, d) with the same d, got "
                         f"{[tuple(s.shape) for s in seqs]}")
    mask = padding_mask([len(s) for s in seqs], n)
    x = torch.full((len(seqs), mask.shape[1], seqs[0].shape[1]), float(value),
                   dtype=seqs[0].dtype)
    for b, s in enumerate(seqs):
        x[b, : len(s)] = s
    return x, mask


def _check_mask(x: torch.Tensor, mask: torch.Tensor) -> None:
    if mask.dtype != torch.bool or mask.shape != x.shape[:-1]:
        raise ValueError(f"mask must be boolean with shape {tuple(x.shape[:-1])}, "
                         f"got {mask.dtype} {tuple(mask.shape)}")
    if not mask.any(-1).all():
        raise ValueError("every sequence needs at least one unmasked position")


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real positions: sum_i m_i x_i / sum_i m_i, shape ``(..., d)``.

    Padding is excluded with ``where`` (not a product), so even NaN padding is harmless.
    """
    _check_mask(x, mask)
    m = mask.unsqueeze(-1)
    return torch.where(m, x, 0).sum(-2) / m.sum(-2)


def masked_max(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Maximum over the real positions, shape ``(..., d)``."""
    _check_mask(x, mask)
    return torch.where(mask.unsqueeze(-1), x, float("-inf")).amax(-2)


def attention_weights(q: torch.Tensor, k: torch.Tensor, *, causal: bool = False,
                      key_mask: torch.Tensor | None = None,
                      scale: float | None = None) -> torch.Tensor:
    """The attention matrix softmax_j(s q_i.k_j) over the allowed keys, ``(..., n, m)``.

    Key ``j`` is allowed for query ``i`` iff ``key_mask[..., j]`` (padding) and, when
    ``causal``, ``j <= i``. Disallowed logits become -inf, so their weights are exactly 0.
    """
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"queries and keys need the same width, got {q.shape[-1]} and "
                         f"{k.shape[-1]}")
    n, m = q.shape[-2], k.shape[-2]
    # (..., n, m)
    logits = (q @ k.transpose(-1, -2)) * _scale(q.shape[-1], scale)
    allowed = torch.ones(n, m, dtype=torch.bool)
    if causal:
        if n != m:
            raise ValueError(f"causal attention needs as many queries as keys, got {n}, {m}")
        allowed = torch.tril(allowed)
    if key_mask is not None:
        if key_mask.dtype != torch.bool or key_mask.shape[-1] != m:
            raise ValueError(f"key_mask must be boolean with last dimension {m}, "
                             f"got {key_mask.dtype} {tuple(key_mask.shape)}")
        allowed = allowed & key_mask.unsqueeze(-2)
    if not allowed.any(-1).all():
        raise ValueError("some query has no key to attend to (all masked)")
    return torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)


def softmax_attention(q, k, v, *, causal: bool = False, key_mask=None,
                      scale: float | None = None) -> torch.Tensor:
    """Quadratic attention softmax(s Q K^T + M) V, ``(..., n, dv)``; O(n m) time and memory."""
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"keys and values need the same length, got {k.shape[-2]}, "
                         f"{v.shape[-2]}")
    w = attention_weights(q, k, causal=causal, key_mask=key_mask, scale=scale)
    if key_mask is not None:  # weight 0 times a NaN or inf in padding would still poison
        v = torch.where(key_mask.unsqueeze(-1), v, 0.0)
    return w @ v


def distance_bias(seq_len: int, n_heads: int, slope: float) -> torch.Tensor:
    """Symmetric ALiBi bias ``-slope_k |i - j|`` for the attention scores of head k,
    ``slope_k = slope / 2**k``; ``(n_heads, T, T)``."""
    pos = torch.arange(seq_len, dtype=torch.float32)
    slopes = slope * 0.5 ** torch.arange(n_heads, dtype=torch.float32)
    return -slopes[:, None, None] * (pos[:, None] - pos[None, :]).abs()


def quantise(k: torch.Tensor, codebook: torch.Tensor):
    """Nearest codebook vector of every key: ``(k_hat, codes)`` with k_hat = codebook[codes].

    codes_j = argmin_c |k_j - C_c|^2 (ties go to the lower index).
    """
    if codebook.ndim != 2 or codebook.shape[1] != k.shape[-1]:
        raise ValueError(f"codebook must have shape (c, {k.shape[-1]}), "
                         f"got {tuple(codebook.shape)}")
    # |k - C_c|^2 up to the |k|^2 that every code shares, (..., n, c)
    dist = (codebook * codebook).sum(-1) - 2 * k @ codebook.T
    codes = dist.argmin(-1)
    return codebook[codes], codes


def kmeans(x: torch.Tensor, c: int, iters: int = 100, init: torch.Tensor | None = None,
           generator: torch.Generator | None = None) -> torch.Tensor:
    """Codebook ``(c, d)`` from Lloyd's k-means on ``x (N, d)``, k-means++ start unless ``init``.

    Each step moves every centre to the mean of the points nearest to it (an empty
    cluster keeps its centre) and stops when no assignment changes.
    """
    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, d), got {tuple(x.shape)}")
    if init is None:
        if not 1 <= c <= len(x):
            raise ValueError(f"c must be between 1 and the number of points {len(x)}, got {c}")
        # k-means++: each new centre drawn with probability proportional to D(x)^2,
        # the squared distance to the nearest centre so far (updated one centre at a time)
        picks = [int(torch.randint(len(x), (1,), generator=generator))]
        d2 = ((x - x[picks[0]]) ** 2).sum(-1)
        for _ in range(c - 1):
            if float(d2.sum()) == 0.0:
                raise ValueError(f"x has fewer than c = {c} distinct points")
            picks.append(int(torch.multinomial(d2 / d2.sum(), 1, generator=generator)))
            d2 = torch.minimum(d2, ((x - x[picks[-1]]) ** 2).sum(-1))
        centres = x[picks]
    else:
        if init.shape != (c, x.shape[1]):
            raise ValueError(f"init must have shape ({c}, {x.shape[1]}), got {tuple(init.shape)}")
        centres = init.clone().to(x.dtype)
    codes = None
    for _ in range(iters):
        new = quantise(x, centres)[1]
        if codes is not None and torch.equal(new, codes):
            break
        codes = new
        counts = torch.bincount(codes, minlength=c).to(x.dtype)
        sums = torch.zeros_like(centres).index_add_(0, codes, x)
        centres = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], centres)
    return centres


def _check_vq(q, codebook, codes, v, block):
    if codebook.ndim != 2 or codebook.shape[1] != q.shape[-1]:
        raise ValueError(f"codebook must have shape (c, {q.shape[-1]}), "
                         f"got {tuple(codebook.shape)}")
    if codes.dtype != torch.long or codes.shape != v.shape[:-1]:
        raise ValueError(f"codes must be a long tensor of shape {tuple(v.shape[:-1])}, "
                         f"got {codes.dtype} {tuple(codes.shape)}")
    if codes.numel() and not 0 <= int(codes.min()) <= int(codes.max()) < len(codebook):
        raise ValueError(f"codes must lie in [0, {len(codebook)}), got "
                         f"[{int(codes.min())}, {int(codes.max())}]")
    checks.integer(block, "block")


def code_sums(codes: torch.Tensor, v: torch.Tensor, c: int):
    """Per-code sums (Delta^T V, Delta^T 1) of ``v (..., n, dv)`` by its ``codes (..., n)``:
    ``(..., c, dv)`` and ``(..., c)``, by scatter-adding each row into its code's row, O(n dv)
    (the one-hot product Delta^T V would cost O(n c dv))."""
    sums = v.new_zeros(*v.shape[:-2], c, v.shape[-1])
    sums.scatter_add_(-2, codes.unsqueeze(-1).expand_as(v), v)
    counts = v.new_zeros(*v.shape[:-2], c)
    counts.scatter_add_(-1, codes, torch.ones_like(codes, dtype=v.dtype))
    return sums, counts


def vq_attention(q: torch.Tensor, codebook: torch.Tensor, codes: torch.Tensor,
                 v: torch.Tensor, *, causal: bool = False, block: int = 64,
                 scale: float | None = None) -> torch.Tensor:
    """softmax(s Q K_hat^T + M) V for K_hat = codebook[codes], in O(n c) time.

    Non-causal: exp(s Q C^T) (Delta^T V) / exp(s Q C^T) (Delta^T 1), Delta = one_hot(codes),
    the per-code sums computed by :func:`code_sums`.
    Causal, by blocks of ``block`` positions: the block attends to itself exactly (causal
    mask) and to all earlier positions through the running sums per code
    U = sum_{j<start} e_{z_j} v_j^T and N = sum_{j<start} e_{z_j} (``block=1``: an RNN).
    """
    _check_vq(q, codebook, codes, v, block)
    c = len(codebook)
    s = _scale(q.shape[-1], scale)
    logits = (q @ codebook.T) * s                                 # (..., n, c)
    if not causal:
        sums, counts = code_sums(codes, v, c)                     # (..., c, dv), (..., c)
        # shift by the largest logit among the codes in use (unused codes weigh 0)
        logits = logits.masked_fill(counts.unsqueeze(-2) == 0, float("-inf"))
        e = torch.exp(logits - logits.amax(-1, keepdim=True))
        return (e @ sums) / (e @ counts.unsqueeze(-1))
    n = q.shape[-2]
    u = v.new_zeros(*v.shape[:-2], c, v.shape[-1])                # running Delta^T V
    cnt = v.new_zeros(*v.shape[:-2], c)                           # running Delta^T 1
    causal_mask = torch.ones(block, block, dtype=torch.bool).tril()
    out = []
    for a in range(0, n, block):
        b = min(a + block, n)
        qb, vb, zb = q[..., a:b, :], v[..., a:b, :], codes[..., a:b]
        # within the block: exact quadratic attention on the quantised keys, (..., l, l)
        local = (qb @ codebook[zb].transpose(-1, -2)) * s
        local = local.masked_fill(~causal_mask[: b - a, : b - a], float("-inf"))
        # earlier blocks: one logit per code seen so far, (..., l, c)
        past = logits[..., a:b, :].masked_fill(cnt.unsqueeze(-2) == 0, float("-inf"))
        shift = torch.maximum(local.amax(-1, keepdim=True), past.amax(-1, keepdim=True))
        el, ep = torch.exp(local - shift), torch.exp(past - shift)
        num = el @ vb + ep @ u
        den = el.sum(-1, keepdim=True) + ep @ cnt.unsqueeze(-1)
        out.append(num / den)
        # U <- U + Delta_block^T V_block, N <- N + Delta_block^T 1
        block_sums, block_counts = code_sums(zb, vb, c)
        u = u + block_sums
        cnt = cnt + block_counts
    return torch.cat(out, dim=-2)
