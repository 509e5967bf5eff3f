"""Adaptive step sizes: gradient descent as an ODE solver with error control, RMSprop, Adam.

Derived in the chapter adaptive_learning_rates. Error-controlled GD picks each step so that
Euler's estimated local error stays near a tolerance; RMSprop and Adam rescale the step of
each coordinate by a running average of squared gradients. The test problems and the loop
they share (:func:`book.optim.dynamics.iterate`) are in :mod:`book.optim.dynamics`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from book import checks
from book.optim.dynamics import iterate
from book.training import Diverged


@dataclass
class Controlled:
    """Iterates of error-controlled GD, their accepted step sizes and the gradient count."""

    thetas: np.ndarray
    steps: np.ndarray
    grad_evals: np.ndarray          # gradients computed up to each accepted iterate
    rejected: int = 0
    errors: np.ndarray = field(default_factory=lambda: np.empty(0))


def euler_error_estimate(g_now, g_next, h: float) -> float:
    """Euler's local error ½h²‖Hg‖ estimated without H: ½ h ‖∇L(θ_{n+1}) - ∇L(θ_n)‖."""
    return 0.5 * h * float(np.linalg.norm(np.asarray(g_next) - np.asarray(g_now)))


def error_controlled_gd(problem, theta0, tol: float, max_grads: int, h0: float = 1e-3,
                        safety: float = 0.9, grow: float = 2.0) -> Controlled:
    """GD whose step keeps the estimated Euler local error near ``tol`` (accept/reject).

    After a trial step h: err = ½h‖g_{n+1} - g_n‖; accept if err <= tol; the next trial is
    h · clip(safety·√(tol/err), 0.2, grow) since err ∝ h². Stops after ``max_grads``
    gradient evaluations.
    """
    tol, h = checks.positive(tol, "tol"), checks.positive(h0, "h0")
    max_grads, theta = checks.integer(max_grads, "max_grads"), checks.vector(theta0, "theta0")
    safety = checks.number(safety, "safety", 0, low_ok=False, high=1, high_ok=True)
    grow = checks.number(grow, "grow", 1, low_ok=False)
    g, evals, rejected = problem.grad(theta), 1, 0
    thetas, hs, counts, errs = [theta], [], [1], []
    while evals < max_grads:
        trial = theta - h * g
        g_trial = problem.grad(trial)
        evals += 1
        err = euler_error_estimate(g, g_trial, h)
        if not np.isfinite(err):
            raise Diverged("local error", evals, err, "the trial step was far too large")
        if err <= tol:
            theta, g = trial, g_trial
            thetas.append(theta), hs.append(h), counts.append(evals), errs.append(err)
        else:
            rejected += 1
        h *= float(np.clip(safety * np.sqrt(tol / max(err, 1e-300)), 0.2, grow))
    return Controlled(np.array(thetas), np.array(hs), np.array(counts), rejected,
                      np.array(errs))


def rmsprop(problem, theta0, lr: float, beta: float, steps: int, eps: float = 1e-8,
            blowup: float = 1e6) -> np.ndarray:
    """v ← βv + (1-β)g², θ ← θ - lr g/(√v + ε) (``torch.optim.RMSprop`` with alpha=β)."""
    lr, beta = checks.positive(lr, "lr"), checks.number(beta, "beta", 0, high=1)
    eps, v = checks.number(eps, "eps", 0), 0.0

    def step(n, theta, g):
        nonlocal v
        v = beta * v + (1 - beta) * g**2
        den = np.sqrt(v) + eps
        return theta - lr * np.divide(g, den, out=np.zeros_like(g), where=den > 0)

    return iterate(problem, theta0, steps, step, blowup)


def adam(problem, theta0, lr: float, steps: int, beta1: float = 0.9, beta2: float = 0.999,
         eps: float = 1e-8, blowup: float = 1e6) -> np.ndarray:
    """Adam: EMAs m of g and v of g², bias-corrected, θ ← θ - lr m̂/(√v̂ + ε)."""
    lr, eps = checks.positive(lr, "lr"), checks.number(eps, "eps", 0)
    beta1 = checks.number(beta1, "beta1", 0, high=1)
    beta2 = checks.number(beta2, "beta2", 0, high=1)
    m = v = 0.0

    def step(n, theta, g):
        nonlocal m, v
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**n), v / (1 - beta2**n)
        den = np.sqrt(v_hat) + eps
        return theta - lr * np.divide(m_hat, den, out=np.zeros_like(g), where=den > 0)

    return iterate(problem, theta0, steps, step, blowup)
