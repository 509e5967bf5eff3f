"""book.generative.film: the grid's orientation, and frames kept at the chosen steps only."""

import numpy as np
import torch

from book.generative import film


def test_on_grid_runs_along_x_in_columns_and_along_y_in_rows():
    grid = film.on_grid(lambda x: x[:, :1] + 10 * x[:, 1:], extent=1.0, n=5)
    np.testing.assert_allclose(grid[0], [-11, -10.5, -10, -9.5, -9])
    np.testing.assert_allclose(grid[:, 0], [-11, -6, -1, 4, 9])


def test_film_keeps_frames_at_its_steps():
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    G = torch.nn.Linear(3, 2)
    shots = film.Film({0, 2}, z, extent=2.0)
    for step in range(4):
        shots.snap(step, G, lambda x: x.sum(1, keepdim=True) * step)
    assert [f.step for f in shots.frames] == [0, 2]
    with torch.no_grad():
        np.testing.assert_array_equal(shots.frames[1].samples, G(z).numpy())
    assert shots.frames[1].critic.shape == (48, 48)
    np.testing.assert_allclose(shots.frames[1].critic[-1, -1], 2 * 4.0)
    assert not np.any(shots.frames[0].critic)
