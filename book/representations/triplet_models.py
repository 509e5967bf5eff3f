"""The two extractors of chapter ``triplet_extraction``, on one BiGRU encoder: the
half-pointer-half-tagging model (subject pointers, then object pointers per predicate
conditioned on the subject through a conditional layer norm) and a one-tag-per-token tagger.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from book import checks, seeding, training
from book.representations import triplets

KINDS = ("pointer", "tagger")
PRIOR_LOGIT = -3.0


@dataclass
class ExtractorConfig:
    dim: int = 32          # token embedding
    hidden: int = 32       # GRU units per direction
    steps: int = 120
    batch: int = 256
    lr: float = 2e-2
    record_every: int = 20
    word_dropout: float = 0.1  # share of training tokens replaced by <unk>
    condition: bool = True  # False: the object head does not see the subject (an ablation)

    def __post_init__(self):
        for name in ("dim", "hidden", "steps", "batch", "record_every"):
            checks.integer(getattr(self, name), name)
        checks.positive(self.lr, "lr")
        checks.number(self.word_dropout, "word_dropout", 0.0, high=1.0)


class Encoder(nn.Module):
    """Embedding and a bidirectional GRU: ids (B, T) -> h (B, T, 2 hidden)."""

    def __init__(self, cfg: ExtractorConfig, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, cfg.dim, padding_idx=0)
        self.gru = nn.GRU(cfg.dim, cfg.hidden, batch_first=True, bidirectional=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.gru(self.embed(ids))[0]


class PointerExtractor(nn.Module):
    """Subject start/end per token; then, given one subject span per sentence, object
    start/end per token and predicate."""

    def __init__(self, cfg: ExtractorConfig, vocab: int, n_predicates: int):
        super().__init__()
        width = 2 * cfg.hidden
        self.encoder = Encoder(cfg, vocab)
        self.subject = nn.Linear(width, 2)
        self.gain, self.shift = nn.Linear(2 * width, width), nn.Linear(2 * width, width)
        for lin in (self.gain, self.shift):      # start as a plain layer norm, as in the article
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)
        self.object = nn.Sequential(nn.Linear(width, width), nn.ReLU(),
                                    nn.Linear(width, 2 * n_predicates))
        # pointers are rare: start every probability at about 5 %, not 50 %
        nn.init.constant_(self.subject.bias, PRIOR_LOGIT)
        nn.init.constant_(self.object[-1].bias, PRIOR_LOGIT)
        self.n_predicates, self.condition = n_predicates, cfg.condition

    def subject_logits(self, h: torch.Tensor) -> torch.Tensor:
        return self.subject(h)                                     # (B, T, 2)

    def object_logits(self, h: torch.Tensor, span: torch.Tensor) -> torch.Tensor:
        """h (B, T, W), span (B, 2) of token indices -> logits (B, T, P, 2)."""
        rows = torch.arange(len(h))
        # s = [h_start; h_end] of the subject, (B, 2W)
        s = torch.cat([h[rows, span[:, 0]], h[rows, span[:, 1]]], -1)
        # conditional layer norm: LN(h) * (1 + W_g s) + W_b s
        z = F.layer_norm(h, h.shape[-1:])
        if self.condition:
            z = z * (1 + self.gain(s)[:, None]) + self.shift(s)[:, None]
        return self.object(z).view(*h.shape[:2], self.n_predicates, 2)


class Tagger(nn.Module):
    """One tag per token: ids (B, T) -> logits (B, T, 1 + 2 P)."""

    def __init__(self, cfg: ExtractorConfig, vocab: int, n_predicates: int):
        super().__init__()
        self.encoder = Encoder(cfg, vocab)
        self.out = nn.Linear(2 * cfg.hidden, triplets.n_tags(n_predicates))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.encoder(ids))


@dataclass
class Data:
    """A corpus as tensors: ids and mask (N, T), subject targets (N, T, 2), tags (N, T), and
    one row per (sentence, subject): its span (S, 2) and object targets (S, T, P, 2)."""
    ids: torch.Tensor
    mask: torch.Tensor
    subjects: torch.Tensor
    tags: torch.Tensor
    first: torch.Tensor        # (N,) row of each sentence's first subject
    count: torch.Tensor        # (N,) number of its subjects
    spans: torch.Tensor
    objects: torch.Tensor


def tensors(sentences: list[triplets.Sentence]) -> Data:
    ids, lengths = triplets.encode(sentences)
    n, t = ids.shape
    subjects, tags = np.zeros((n, t, 2)), np.zeros((n, t), dtype=np.int64)
    first, count, spans, objects = [], [], [], []
    for i, s in enumerate(sentences):
        subj, objs = triplets.pointer_targets(s.triples, t)
        subjects[i], tags[i, :lengths[i]] = subj, triplets.to_tags(s.triples, lengths[i])
        first.append(len(spans))
        count.append(len(objs))
        for span, obj in sorted(objs.items()):
            spans.append(span)
            objects.append(obj)
    if min(count) == 0:
        raise ValueError("every training sentence needs at least one triple")
    mask = torch.arange(t)[None] < torch.as_tensor(lengths)[:, None]
    as_t = lambda a, dt=torch.float32: torch.as_tensor(np.asarray(a), dtype=dt)   # noqa: E731
    return Data(torch.as_tensor(ids), mask, as_t(subjects), torch.as_tensor(tags),
                as_t(first, torch.long), as_t(count, torch.long), as_t(spans, torch.long),
                as_t(np.stack(objects)))


def dropped(ids: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """``ids`` with each real token replaced by <unk> with probability ``p`` (word dropout)."""
    if p == 0:
        return ids
    drop = (torch.rand(ids.shape, generator=gen) < p) & (ids > 0)
    return torch.where(drop, triplets.VOCAB[triplets.UNK], ids)


def pointer_loss(model: PointerExtractor, data: Data, idx: torch.Tensor,
                 gen: torch.Generator, word_dropout: float = 0.0) -> torch.Tensor:
    """BCE on subject pointers plus BCE on the object pointers of one gold subject per
    sentence, drawn at random; both averaged over real tokens."""
    h = model.encoder(dropped(data.ids[idx], word_dropout, gen))
    mask = data.mask[idx].float()
    rows = data.first[idx] + (torch.rand(len(idx), generator=gen) * data.count[idx]).long()
    bce = lambda logit, y: F.binary_cross_entropy_with_logits(logit, y, reduction="none")  # noqa: E731
    subj = bce(model.subject_logits(h), data.subjects[idx]).sum(-1)          # (B, T)
    obj = bce(model.object_logits(h, data.spans[rows]), data.objects[rows]).sum((-1, -2))
    return ((subj + obj) * mask).sum() / mask.sum()


def tagger_loss(model: Tagger, data: Data, idx: torch.Tensor, gen: torch.Generator,
                word_dropout: float = 0.0) -> torch.Tensor:
    """Cross-entropy of the tags, averaged over real tokens."""
    logits = model(dropped(data.ids[idx], word_dropout, gen))
    return F.cross_entropy(logits[data.mask[idx]], data.tags[idx][data.mask[idx]])


def make(kind: str, cfg: ExtractorConfig, stream: int) -> nn.Module:
    """A fresh extractor, ``kind`` in KINDS, initialised from seeding stream ``stream``."""
    if kind not in KINDS:
        raise ValueError(f"unknown extractor {kind!r}; known: {', '.join(KINDS)}")
    torch.manual_seed(seeding.seed(stream))
    cls = PointerExtractor if kind == "pointer" else Tagger
    return cls(cfg, len(triplets.VOCAB) + 1, len(triplets.PREDICATES))


def train(model: nn.Module, data: Data, cfg: ExtractorConfig, stream: int,
          record: Callable[[int, nn.Module], None] | None = None) -> dict:
    """Adam with a cosine schedule on random batches for ``cfg.steps`` steps; ``record(step, model)`` runs at step 0,
    every ``cfg.record_every`` steps and at the end. Returns losses and seconds."""
    loss_fn = pointer_loss if isinstance(model, PointerExtractor) else tagger_loss
    gen = seeding.generator(stream)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    # lr_t = lr (1 + cos(pi t / steps)) / 2: large steps early, small ones at the end
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / cfg.steps)))
    losses, start = [], time.perf_counter()
    for step in range(cfg.steps + 1):
        if record and (step % cfg.record_every == 0 or step == cfg.steps):
            model.eval()
            with torch.no_grad():
                record(step, model)
            model.train()
        if step == cfg.steps:
            break
        idx = torch.randint(len(data.ids), (cfg.batch,), generator=gen)
        loss = loss_fn(model, data, idx, gen, cfg.word_dropout)
        losses.append(training.check_finite(loss, step, hint="lower lr"))
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    return {"losses": losses, "seconds": time.perf_counter() - start}


@torch.no_grad()
def subject_and_object_probs(model: PointerExtractor, sentences, threshold: float = 0.5):
    """Per sentence: subject probabilities (T_i, 2) and a dict span -> object probabilities
    (T_i, P, 2) for each subject span the decoder will read."""
    ids, lengths = triplets.encode(sentences)
    h = model.encoder(torch.as_tensor(ids))
    subj = torch.sigmoid(model.subject_logits(h)).numpy()
    pairs = [(i, s) for i, n in enumerate(lengths)
             for s in triplets.spans(subj[i, :n, 0], subj[i, :n, 1], threshold)]
    out = [(subj[i, :n], {}) for i, n in enumerate(lengths)]
    if pairs:
        rows = torch.tensor([i for i, _ in pairs])
        span = torch.tensor([s for _, s in pairs])
        probs = torch.sigmoid(model.object_logits(h[rows], span)).numpy()   # (S, T, P, 2)
        for k, (i, s) in enumerate(pairs):
            out[i][1][s] = probs[k, :lengths[i]]
    return out


def predict(model: nn.Module, sentences, threshold: float = 0.5) -> list[set]:
    """The triple set of every sentence, decoded from the model's outputs."""
    if isinstance(model, PointerExtractor):
        return [triplets.decode(subj, objs.__getitem__, threshold)
                for subj, objs in subject_and_object_probs(model, sentences, threshold)]
    ids, lengths = triplets.encode(sentences)
    with torch.no_grad():
        tags = model(torch.as_tensor(ids)).argmax(-1).numpy()
    return [triplets.from_tags(tags[i, :n]) for i, n in enumerate(lengths)]
