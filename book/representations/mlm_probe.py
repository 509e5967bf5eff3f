"""Pre-training against fine-tuning in the tiny masked LM of ``mlm``.

Chapter ``mlm_through_dropout``: the states the encoder computes in pre-training (masked
input, averaged over masks) against those at fine-tuning (nothing masked, with or without
the correction), and a short fine-tuning run on a downstream task.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from book import checks, seeding, training
from book.representations.mlm import TinyMLM, _rate, mask_positions


@dataclass
class LayerStats:
    """Per state of :meth:`TinyMLM.hidden_states`, arrays of shape ``(L + 2,)``.

    ``norm_pre``: mean ``|h|`` in pre-training (masked input); ``norm_raw``, ``norm_fixed``:
    at fine-tuning without, with the correction. ``gap_raw``, ``gap_fixed``: relative distance
    between the fine-tuning state and its pre-training mean over masks (:func:`split_gap`).
    """

    norm_pre: np.ndarray
    norm_raw: np.ndarray
    norm_fixed: np.ndarray
    gap_raw: np.ndarray
    gap_fixed: np.ndarray


def split_gap(half1: torch.Tensor, half2: torch.Tensor, target: torch.Tensor) -> float:
    """``sqrt(sum <a1 - g, a2 - g> / sum <a1, a2>)``, the relative distance ``|a - g| / |a|``
    between the mean ``a`` of a random tensor and ``g``, from two independent Monte-Carlo
    means ``a1, a2`` (unbiased for ``|a - g|^2``: no ``Var / n`` floor); clipped at 0."""
    if not half1.shape == half2.shape == target.shape:
        raise ValueError(f"shapes differ: {tuple(half1.shape)}, {tuple(half2.shape)}, "
                         f"{tuple(target.shape)}")
    num = ((half1 - target) * (half2 - target)).sum()
    den = (half1 * half2).sum()
    if den <= 0:
        raise ValueError("the two means have no positive overlap: nothing to measure against")
    return float(torch.sqrt(torch.clamp(num / den, min=0.0)))


@torch.no_grad()
def activation_stats(model: TinyMLM, windows: torch.Tensor, p: float, samples: int = 32,
                     seed: int = 0) -> LayerStats:
    """States seen in pre-training (``samples`` mask draws at rate ``p``) against those at
    fine-tuning, uncorrected and corrected."""
    p = _rate(p, zero=False)
    if checks.integer(samples, "samples", 2) % 2:
        raise ValueError(f"samples must be even (two halves), got {samples}")
    g = seeding.generator(seed)
    raw = model.hidden_states(windows, p)
    fixed = model.hidden_states(windows, p, correction="finetune")
    halves = [[torch.zeros_like(h) for h in raw] for _ in range(2)]
    norm_pre = np.zeros(len(raw))
    for s in range(samples):
        masked = mask_positions(windows.shape, p, g)
        for k, h in enumerate(model.hidden_states(windows, p, masked)):
            halves[s % 2][k] += h / (samples // 2)
            norm_pre[k] += float(h.norm(dim=-1).mean()) / samples

    def norms(states):
        return np.array([float(h.norm(dim=-1).mean()) for h in states])

    def gaps(states):
        return np.array([split_gap(a, b, t) for a, b, t in zip(*halves, states)])

    return LayerStats(norm_pre, norms(raw), norms(fixed), gaps(raw), gaps(fixed))


@torch.no_grad()
def pooled_features(model: TinyMLM, windows: torch.Tensor, p: float,
                    correction: str = "none") -> torch.Tensor:
    """Fine-tuning features: the final normalised state averaged over positions, ``(N, d)``."""
    return model.hidden_states(windows, p, None, correction)[-1].mean(dim=1)


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, folds: int = 5,
                   seed: int = 0, C: float = 1.0) -> np.ndarray:
    """Held-out accuracy of a standardised logistic-regression probe in each stratified fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    if len(features) != len(labels):
        raise ValueError(f"{len(features)} feature rows but {len(labels)} labels")
    checks.integer(folds, "folds", 2)
    x, y = np.asarray(features, dtype=np.float64), np.asarray(labels)
    accs = []
    # one BLAS thread: on a shared 2-core machine spinning BLAS threads make these small
    # solves many times slower (as in wordvec.truncated_svd)
    with threadpool_limits(limits=1, user_api="blas"):
        for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seeding.seed(seed)).split(x, y):
            clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000))
            accs.append(clf.fit(x[tr], y[tr]).score(x[te], y[te]))
    return np.array(accs)


@dataclass
class FinetuneConfig:
    """A short full fine-tuning: encoder and a fresh linear head, AdamW, constant rate."""

    steps: int = 40
    batch: int = 32
    lr: float = 3e-3
    seed: int = 0


def finetune_classifier(model: TinyMLM, windows: torch.Tensor, labels: torch.Tensor,
                        train_rows: torch.Tensor, test_rows: torch.Tensor, p: float,
                        correction: str = "none", cfg: FinetuneConfig = FinetuneConfig(),
                        ) -> tuple[float, float]:
    """Fine-tune a copy of ``model`` with a linear head on its pooled final state (nothing
    masked; input corrected or not) to predict ``labels``; return the held-out
    cross-entropy and accuracy on ``test_rows``. ``model`` itself is left untouched."""
    if len(windows) != len(labels):
        raise ValueError(f"{len(windows)} windows but {len(labels)} labels")
    checks.integer(cfg.steps, "steps", 1)
    n_classes = int(labels.max()) + 1
    g = seeding.everything(cfg.seed)
    encoder = copy.deepcopy(model).train()
    head = torch.nn.Linear(model.cfg.d_model, n_classes)
    opt = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=cfg.lr)

    def logits(rows):
        return head(encoder.hidden_states(windows[rows], p, None, correction)[-1].mean(dim=1))

    for step in range(cfg.steps):
        rows = train_rows[torch.randint(len(train_rows), (cfg.batch,), generator=g)]
        loss = F.cross_entropy(logits(rows), labels[rows])
        training.check_finite(loss, step, "fine-tuning loss")
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = logits(test_rows)
        return (float(F.cross_entropy(out, labels[test_rows])),
                float((out.argmax(1) == labels[test_rows]).double().mean()))
