"""Data sets the book uses offline: scikit-learn's bundled 8x8 digits.

Nothing is downloaded: ``sklearn.datasets.load_digits`` reads a file inside the
scikit-learn wheel (1,797 images of 8x8 pixels with 17 grey levels, 0..16).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.datasets import load_digits

from book import seeding


@dataclass
class Digits:
    """A fixed train/test split; images scaled to [0, 1], flattened to 64 pixels."""

    x_train: torch.Tensor  # (N_train, 64) float32
    y_train: torch.Tensor  # (N_train,) int64
    x_test: torch.Tensor   # (N_test, 64)
    y_test: torch.Tensor   # (N_test,)

    @staticmethod
    def as_images(x: torch.Tensor) -> torch.Tensor:
        """(N, 64) -> (N, 8, 8)."""
        return x.reshape(-1, 8, 8)


def digits(test_fraction: float = 0.25, seed: int = 0) -> Digits:
    """The digits, pixels divided by 16, split by a seeded permutation (stratified)."""
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    data = load_digits()
    x = data.data.astype(np.float32) / 16.0
    y = data.target.astype(np.int64)
    rng = seeding.rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):  # stratified: the same share of every class in test
        idx = rng.permutation(np.flatnonzero(y == label))
        test[idx[: int(round(test_fraction * len(idx)))]] = True
    t = torch.from_numpy
    return Digits(t(x[~test]), t(y[~test]), t(x[test]), t(y[test]))
