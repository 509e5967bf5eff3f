"""The training film of a GAN on 2-D data (chapter ``gan_zoo``, where a slider plays it):
at chosen steps, samples from a fixed batch of noise and the critic on a grid of the plane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch


@dataclass
class Frame:
    """A snapshot for the training film: samples and the critic on a grid."""

    step: int
    samples: np.ndarray   # (n, 2)
    critic: np.ndarray    # (n_grid, n_grid), rows along y
    cpu_seconds: float = 0.0  # CPU time of the training thread since the start of training


def on_grid(f: Callable, extent: float, n: int = 48) -> np.ndarray:
    """``f`` (one value per row of an (N, 2) batch of points, such as a critic) on an n x n
    grid of [-extent, extent]^2: (n, n) with rows along y."""
    t = torch.linspace(-extent, extent, n)
    gy, gx = torch.meshgrid(t, t, indexing="ij")
    with torch.no_grad():
        v = f(torch.stack([gx.flatten(), gy.flatten()], dim=1))
    return v.reshape(n, n).numpy()


@dataclass
class Film:
    """The frames kept at generator steps ``steps``: G(z) for the fixed latent batch ``z``
    and the critic on the grid of [-extent, extent]^2."""

    steps: set[int]
    z: torch.Tensor
    extent: float
    frames: list[Frame] = field(default_factory=list)

    def snap(self, step: int, G: Callable, D: Callable, cpu_seconds: float = 0.0) -> None:
        """Keep a frame of generator ``G`` and critic ``D`` if ``step`` is one of the steps."""
        if step in self.steps:
            with torch.no_grad():
                self.frames.append(Frame(step, G(self.z).numpy(), on_grid(D, self.extent),
                                         cpu_seconds))
