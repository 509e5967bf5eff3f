"""Masked language modelling seen as dropout on the input embeddings.

Chapter ``mlm_through_dropout`` derives why replacing a fraction ``p`` of the tokens by
``[MASK]`` is dropout without the ``1/(1-p)`` rescaling, and the correction that makes the
fine-tuning input match the pre-training input in expectation. Here: inverted dropout, the
three ways to feed embeddings (uncorrected, corrected at fine-tuning, corrected at
pre-training) and a tiny 2-layer masked LM on Wikipedia windows. What compares
pre-training with fine-tuning is in ``mlm_probe``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from book import checks, seeding, training
from book.representations import attention, corpus, layers

SPECIALS = ("<unk>", "[MASK]")
UNK_ID, MASK_ID = 0, 1
CORRECTIONS = ("none", "finetune", "pretrain")


def _rate(p, name: str = "p", zero: bool = True) -> float:
    """A drop rate: in [0, 1), or in (0, 1) when ``zero`` is False."""
    return checks.number(p, name, 0, low_ok=zero, high=1)


def dropout(x: torch.Tensor, p: float, generator: torch.Generator | None = None,
            rescale: bool = True) -> torch.Tensor:
    """Inverted dropout ``x * eps / (1 - p)``, ``eps ~ Bernoulli(1 - p)`` per entry; ``x * eps``
    without ``rescale``."""
    p = _rate(p)
    keep = (torch.rand(x.shape, generator=generator, dtype=x.dtype) >= p).to(x.dtype)
    return x * keep / (1 - p) if rescale else x * keep


def mask_positions(shape: tuple[int, ...], p: float,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Boolean tensor, each entry ``True`` (replaced by ``[MASK]``) with probability ``p``."""
    return torch.rand(shape, generator=generator) < _rate(p)


def input_embeddings(table: torch.Tensor, ids: torch.Tensor, p: float,
                     masked: torch.Tensor | None = None, correction: str = "none",
                     mask_id: int = MASK_ID) -> torch.Tensor:
    """Token embeddings fed to the encoder, ``ids.shape + (d,)``; ``m = table[mask_id]``.

    Pre-training (``masked`` given): ``m`` where masked, else ``e``, or ``(e - p m) / (1 - p)``
    with ``correction="pretrain"``. Fine-tuning (``masked=None``): ``e``, or
    ``(1 - p) e + p m`` with ``correction="finetune"``.
    """
    p = _rate(p)
    if correction not in CORRECTIONS:
        raise ValueError(f"unknown correction {correction!r}; known: {', '.join(CORRECTIONS)}")
    if masked is not None and masked.shape != ids.shape:
        raise ValueError(f"masked has shape {tuple(masked.shape)} but ids {tuple(ids.shape)}")
    e, m = table[ids], table[mask_id]
    if masked is None:
        # E_eps[eps e + (1 - eps) m] = (1 - p) e + p m
        return (1 - p) * e + p * m if correction == "finetune" else e
    if correction == "pretrain":
        e = (e - p * m) / (1 - p)
    return torch.where(masked.unsqueeze(-1), m, e)


def build_vocab(articles: list[list[str]], size: int) -> dict[str, int]:
    """``<unk>`` (0), ``[MASK]`` (1), then the ``size - 2`` most frequent words."""
    checks.integer(size, "size", len(SPECIALS) + 1)
    full = corpus.vocabulary(articles, 1, specials=SPECIALS)
    return {w: i for w, i in full.items() if i < size}


def encode_windows(articles: list[list[str]], vocab: dict[str, int],
                   seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Non-overlapping windows of ``seq_len`` ids (unknown words -> ``<unk>``): ``(N, seq_len)``,
    and the index of the article each window comes from, ``(N,)``."""
    checks.integer(seq_len, "seq_len", 2)
    rows, docs = [], []
    for k, article in enumerate(articles):
        ids = [vocab.get(w, UNK_ID) for w in article]
        for start in range(0, len(ids) - seq_len + 1, seq_len):
            rows.append(ids[start:start + seq_len])
            docs.append(k)
    if not rows:
        raise ValueError(f"no article has {seq_len} tokens")
    return torch.tensor(rows), torch.tensor(docs)


@dataclass
class MLMConfig:
    """A pre-LN Transformer encoder with tied output embedding and ALiBi attention bias."""

    vocab_size: int
    seq_len: int = 32
    d_model: int = 48
    n_heads: int = 4
    n_layers: int = 2
    d_ff: int = 96
    slope: float = 1.0  # distance penalty of head 0; head k uses slope / 2**k



class TinyMLM(nn.Module):
    """Token embeddings (no position embedding: ALiBi), pre-LN blocks, final LN, tied logits."""

    def __init__(self, cfg: MLMConfig):
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab_size, cfg.d_model)
        nn.init.normal_(self.tok.weight, std=0.1)
        self.blocks = nn.ModuleList(layers.PreLNBlock(cfg.d_model, cfg.n_heads, cfg.d_ff)
                                    for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.register_buffer("attn_bias", attention.distance_bias(cfg.seq_len, cfg.n_heads,
                                                                  cfg.slope), persistent=False)

    def hidden_states(self, ids: torch.Tensor, p: float, masked: torch.Tensor | None = None,
                      correction: str = "none") -> list[torch.Tensor]:
        """``[x_0, x_1, ..., x_L, LN(x_L)]``, each ``(B, T, d)``: the embeddings entering
        block 1, each block's output and the final normalised state."""
        if ids.dim() != 2 or ids.shape[1] > self.cfg.seq_len:
            raise ValueError(f"ids must be (batch, T <= {self.cfg.seq_len}), "
                             f"got {tuple(ids.shape)}")
        T = ids.shape[1]
        x = input_embeddings(self.tok.weight, ids, p, masked, correction)
        states = [x]
        for block in self.blocks:
            x = block(x, self.attn_bias[:, :T, :T])
            states.append(x)
        return states + [self.norm(x)]

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        """Scores over the vocabulary, ``h E^T + b`` with the tied embedding table ``E``."""
        return h @ self.tok.weight.T + self.bias


@dataclass
class TrainConfig:
    """AdamW with linear warm-up then cosine decay to zero."""

    steps: int = 150
    batch: int = 32
    lr: float = 1e-2
    warmup: int = 10
    seed: int = 0


def mlm_loss(model: TinyMLM, ids: torch.Tensor, p: float, generator: torch.Generator,
             correction: str = "none") -> torch.Tensor:
    """Cross-entropy of the original tokens at the masked positions (one fresh mask draw).

    ``<unk>`` is never a target (it stands for 26% of the Wikipedia tokens and would teach
    the model to guess "some rare word"); it can still be masked, and is seen as context.
    A batch without a target has loss 0 (and no gradient).
    """
    masked = mask_positions(ids.shape, p, generator)
    targets = masked & (ids != UNK_ID)
    h = model.hidden_states(ids, p, masked, correction)[-1]
    losses = F.cross_entropy(model.logits(h[targets]), ids[targets], reduction="sum")
    return losses / max(int(targets.sum()), 1)


def unigram_entropy(windows: torch.Tensor, vocab_size: int) -> float:
    """Entropy (nats) of the token frequencies without ``<unk>``: the loss of a model that
    ignores the context, on the targets of :func:`mlm_loss`."""
    counts = torch.bincount(windows.flatten(), minlength=vocab_size).double()
    counts[UNK_ID] = 0
    freq = counts[counts > 0] / counts.sum()
    return float(-(freq * freq.log()).sum())


def train_mlm(windows: torch.Tensor, p: float, cfg: MLMConfig, train: TrainConfig = TrainConfig(),
              init: torch.Tensor | None = None, correction: str = "none",
              ) -> tuple[TinyMLM, list[float]]:
    """Pre-train a :class:`TinyMLM` at mask rate ``p`` (embedding table started at ``init``)."""
    p = _rate(p, zero=False)
    g = seeding.everything(train.seed)
    model = TinyMLM(cfg)
    if init is not None:
        if init.shape != model.tok.weight.shape:
            raise ValueError(f"init has shape {tuple(init.shape)}, the table "
                             f"{tuple(model.tok.weight.shape)}")
        model.tok.weight.data.copy_(init)
    opt = torch.optim.AdamW(model.parameters(), lr=train.lr, betas=(0.9, 0.98), weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / train.warmup)
                                              * 0.5 * (1 + math.cos(math.pi * s / train.steps)))
    losses = []
    for step in training.progress(range(train.steps), desc=f"masked LM, p = {p:g}"):
        batch = windows[torch.randint(len(windows), (train.batch,), generator=g)]
        loss = mlm_loss(model, batch, p, g, correction)
        losses.append(training.check_finite(loss, step))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model.eval(), losses
