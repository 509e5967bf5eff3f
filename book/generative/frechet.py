"""A Fréchet distance between sets of 8x8 digits, measured in the features of a small digit
classifier: the book's stand-in for FID, shared by ``gan_architectures``, ``o_gan`` and ``glann``.

The classifier (an MLP, 64 -> 128 -> 64 -> 10) is an instrument, not a model under study: it
is trained once on all 1,797 digits with a fixed seed that ``BOOK_SEED`` does not change (so
that distances are comparable across seeds), its weights cached under
``_build/cache/frechet/`` and retrained (about a second) when the file is missing. Its
penultimate activations (64 numbers after a ReLU) are the features. For two sets with feature
means ``m1, m2`` and covariances ``C1, C2``,

    FD = |m1 - m2|^2 + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2}),

the squared 2-Wasserstein distance between the Gaussians with those moments. It depends on
the sample size (finite samples inflate it), so compare sets of the same size: ``floor``
gives the distance of the real test digits to the real training digits, the value a
generator that copied fresh digits would score.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

from book import data, training

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "_build" / "cache" / "frechet"


@dataclass(frozen=True)
class ClassifierConfig:
    """The feature classifier: widths, training length and its own fixed seed."""

    hidden: tuple[int, int] = (128, 64)
    epochs: int = 60
    batch: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 20190226


def _net(cfg: ClassifierConfig) -> nn.Sequential:
    h1, h2 = cfg.hidden
    return nn.Sequential(nn.Linear(64, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU(),
                         nn.Linear(h2, 10))


def _key(cfg: ClassifierConfig) -> str:
    # bump the version when the training changes: a cached file is then ignored
    text = "v2" + repr(sorted(asdict(cfg).items())) + torch.__version__
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _train(cfg: ClassifierConfig) -> nn.Sequential:
    raw = load_digits()
    x = torch.from_numpy(raw.data.astype(np.float32) / 16.0)  # (1797, 64) in [0, 1]
    y = torch.from_numpy(raw.target.astype(np.int64))
    gen = torch.Generator().manual_seed(cfg.seed)  # fixed: the instrument ignores BOOK_SEED
    with torch.random.fork_rng():  # initial weights from the fixed seed, global state untouched
        torch.manual_seed(cfg.seed)
        net = _net(cfg)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    # grad on also when the first call comes from features(), under no_grad; one thread, so
    # that every process (kernel, worker, test) trains the same weights to the last bit
    with torch.enable_grad(), training.torch_threads(1):
        _epochs(net, opt, x, y, gen, cfg)
    return net.eval()


def _epochs(net, opt, x, y, gen, cfg: ClassifierConfig) -> None:
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), cfg.batch):
            idx = order[i:i + cfg.batch]
            loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


@lru_cache(maxsize=4)
def classifier(cfg: ClassifierConfig = ClassifierConfig()) -> nn.Sequential:
    """The trained feature classifier, from the cache file or trained now (and cached)."""
    path = CACHE / f"digit_classifier-{_key(cfg)}.pt"
    net = _net(cfg)
    if path.exists():
        try:
            net.load_state_dict(torch.load(path, weights_only=True))
            return net.eval()
        except (OSError, RuntimeError, EOFError):
            pass  # a damaged file: train again
    net = _train(cfg)
    try:
        CACHE.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=CACHE, suffix=".tmp")
        os.close(fd)
        torch.save(net.state_dict(), tmp)
        os.replace(tmp, path)  # atomic: two kernels training at once both leave a whole file
    except OSError:
        pass  # a read-only checkout: use the weights without caching them
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def _as_digits(x: torch.Tensor) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float32)
    if x.ndim == 3 and x.shape[1:] == (8, 8):
        x = x.reshape(len(x), 64)
    if x.ndim != 2 or x.shape[1] != 64:
        raise ValueError(f"digits must have shape (N, 64) or (N, 8, 8), got {tuple(x.shape)}")
    if len(x) < 2:
        raise ValueError(f"need at least 2 digits for a covariance, got {len(x)}")
    if not torch.isfinite(x).all():
        raise ValueError("digits contain NaN or infinity (did the generator diverge?)")
    return x


@torch.no_grad()
def features(x: torch.Tensor) -> np.ndarray:
    """Penultimate activations of the classifier: (N, 64) pixels in [0, 1] -> (N, 64) float64."""
    net = classifier()
    return net[:4](_as_digits(x)).double().numpy()


def _sqrt_psd(c: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(c)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_gaussians(m1: np.ndarray, c1: np.ndarray, m2: np.ndarray, c2: np.ndarray) -> float:
    """|m1 - m2|^2 + tr(C1 + C2 - 2 (C1^{1/2} C2 C1^{1/2})^{1/2}) for symmetric PSD C1, C2."""
    s1 = _sqrt_psd(c1)
    # tr (C1^{1/2} C2 C1^{1/2})^{1/2} = sum of the square roots of its eigenvalues
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(s1 @ c2 @ s1), 0.0, None)).sum()
    return float(((m1 - m2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2.0 * cross)


def moments(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (unbiased) covariance of the rows of f."""
    return f.mean(0), np.cov(f, rowvar=False)


def distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """The Fréchet distance between two sets of digits in the classifier's features."""
    return frechet_gaussians(*moments(features(x)), *moments(features(y)))


def floor(split: data.Digits | None = None) -> float:
    """Distance of the real test digits to the real training digits (``data.digits()`` split):
    what a perfect generator scores with as many samples as the test set holds."""
    split = split or data.digits()
    return distance(split.x_test, split.x_train)


def accuracy(x: torch.Tensor, y: torch.Tensor) -> float:
    """The classifier's accuracy on labelled digits (it saw every digit in training)."""
    with torch.no_grad():
        return float((classifier()(_as_digits(x)).argmax(1) == torch.as_tensor(y)).float().mean())
