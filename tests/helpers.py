"""Small fixtures shared by several test modules."""

import numpy as np

from book.optim import dynamics


def spd(d, seed=0, shift=0.5):
    """A random symmetric positive-definite d x d matrix (eigenvalues >= ``shift``)."""
    a = np.random.default_rng(seed).normal(size=(d, d))
    return a @ a.T + shift * np.eye(d)


def quad_from(H):
    """The quadratic 1/2 x^T H x of book.optim.dynamics, built from H's eigen-decomposition."""
    lam, V = np.linalg.eigh(H)
    return dynamics.quadratic(lam, rotation=V)


def draw_line(a, b="x"):
    """A tiny figure whose pixels depend on both parameters (for the slider tests)."""
    import matplotlib.pyplot as plt  # after the test module chose its backend
    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, a])
    ax.set_title(f"{a} {b}")
    return fig
