"""Pictures of the 8x8 digits: many images tiled into one, for ``imshow``.

Used by the chapters ``vq_vae`` and ``vae_information_bottleneck`` to show test digits next
to their reconstructions and samples.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: White background, black ink, and the NaN gaps between digits drawn light blue.
DIGIT_CMAP = plt.get_cmap("gray_r").with_extremes(bad="#c8d4e3")


def mosaic(rows, side: int = 8, gap: int = 1) -> np.ndarray:
    """(r, c, side²) pixels -> one (r(side + gap) - gap, c(side + gap) - gap) image, the
    digits in a grid separated by NaN gaps ``gap`` pixels wide."""
    rows = np.asarray(rows, dtype=float)
    if rows.ndim != 3 or rows.shape[2] != side * side:
        raise ValueError(f"rows must be (r, c, {side * side}) pixels, got shape {rows.shape}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    r, c = rows.shape[:2]
    step = side + gap
    canvas = np.full((step * r - gap, step * c - gap), np.nan)
    for i in range(r):
        for j in range(c):
            canvas[step * i:step * i + side, step * j:step * j + side] = \
                rows[i, j].reshape(side, side)
    return canvas
