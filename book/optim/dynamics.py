"""Optimisers read as integrators of the gradient-flow ODE  dθ/dt = -∇L(θ).

Test problems (quadratics, a banana-shaped valley), the exact or high-accuracy flows they
define (plain, modified-equation, damped second-order), and the discrete optimisers that
integrate them (gradient descent, heavy ball, an error-controlled Euler step, RMSprop,
Adam). Derived in the chapters sgd_as_euler and adaptive_learning_rates; steepest descent
under other norms is in :mod:`book.optim.steepest`. Everything is NumPy on small dense problems,
so a whole sweep takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp

from book import checks
from book.training import Diverged, check_finite



def _vector(theta, name: str = "theta0") -> np.ndarray:
    theta = np.asarray(theta, dtype=float)
    if theta.ndim != 1 or theta.size == 0 or not np.all(np.isfinite(theta)):
        raise ValueError(f"{name} must be a finite non-empty 1-D array, got shape "
                         f"{theta.shape}")
    return theta


# ----------------------------------------------------------------------------- problems
@dataclass(frozen=True)
class Quadratic:
    """L(θ) = ½ (θ-c)ᵀ H (θ-c) with H symmetric positive semi-definite."""

    H: np.ndarray
    center: np.ndarray

    def loss(self, theta):
        x = np.asarray(theta, dtype=float) - self.center           # (..., d)
        return 0.5 * np.einsum("...i,ij,...j->...", x, self.H, x)

    def grad(self, theta):
        return (np.asarray(theta, dtype=float) - self.center) @ self.H

    def hess(self, theta):
        return self.H

    def exact_flow(self, theta0, times):
        """θ(t) = c + V e^{-Λt} Vᵀ (θ0 - c), the gradient flow in closed form; (T, d)."""
        lam, V = np.linalg.eigh(self.H)
        x0 = V.T @ (_vector(theta0) - self.center)
        t = np.asarray(times, dtype=float)[:, None]
        return self.center + (np.exp(-lam * t) * x0) @ V.T


def quadratic(eigenvalues, rotation=None, center=None) -> Quadratic:
    """The quadratic with Hessian H = Q diag(eigenvalues) Qᵀ (Q = rotation, default I)."""
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0 or np.any(lam < 0) or not np.all(np.isfinite(lam)):
        raise ValueError(f"eigenvalues must be a non-empty 1-D array of finite numbers >= 0, "
                         f"got {eigenvalues!r}")
    d = lam.size
    Q = np.eye(d) if rotation is None else np.asarray(rotation, dtype=float)
    if Q.shape != (d, d) or not np.allclose(Q.T @ Q, np.eye(d), atol=1e-10):
        raise ValueError(f"rotation must be an orthogonal {d}x{d} matrix")
    c = np.zeros(d) if center is None else _vector(center, "center")
    if c.size != d:
        raise ValueError(f"center must have {d} entries, got {c.size}")
    H = Q @ np.diag(lam) @ Q.T
    return Quadratic(0.5 * (H + H.T), c)


def rotation_2d(angle: float) -> np.ndarray:
    """The 2x2 rotation by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


@dataclass(frozen=True)
class Banana:
    """L(x, y) = ½(a - x)² + (b/2)(y - x²)², a mild Rosenbrock valley with minimum (a, a²)."""

    a: float = 1.0
    b: float = 5.0

    def loss(self, theta):
        t = np.asarray(theta, dtype=float)
        x, y = t[..., 0], t[..., 1]
        return 0.5 * (self.a - x) ** 2 + 0.5 * self.b * (y - x**2) ** 2

    def grad(self, theta):
        x, y = np.asarray(theta, dtype=float)[..., 0], np.asarray(theta, dtype=float)[..., 1]
        r = y - x**2
        return np.stack([x - self.a - 2 * self.b * x * r, self.b * r], axis=-1)

    def hess(self, theta):
        x, y = float(theta[0]), float(theta[1])
        return np.array([[1 - 2 * self.b * (y - x**2) + 4 * self.b * x**2, -2 * self.b * x],
                         [-2 * self.b * x, self.b]])


def stability_bound(H) -> float:
    """The largest stable GD learning rate on a quadratic: 2 / λ_max(H)."""
    lam_max = float(np.linalg.eigvalsh(np.asarray(H, dtype=float))[-1])
    if lam_max <= 0:
        raise ValueError("H needs a positive eigenvalue for the bound 2/λ_max to exist")
    return 2.0 / lam_max


# -------------------------------------------------------------------------------- flows
def integrate(rhs: Callable, y0, times, rtol: float = 1e-11, atol: float = 1e-12) -> np.ndarray:
    """y(t) at ``times`` for dy/dt = rhs(y), y(0) = y0, by ``solve_ivp`` (DOP853); (T, d)."""
    y0 = _vector(y0, "y0")
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(np.diff(t) < 0) or t[0] < 0:
        raise ValueError("times must be a non-empty, non-decreasing 1-D array starting >= 0")
    sol = solve_ivp(lambda _, y: rhs(y), (0.0, float(t[-1])), y0, method="DOP853",
                    t_eval=t, rtol=rtol, atol=atol)
    if not sol.success:
        raise RuntimeError(f"solve_ivp failed: {sol.message}")
    return sol.y.T


def gradient_flow(problem, theta0, times, lr: float = 0.0, rtol: float = 1e-11,
                  atol: float = 1e-12) -> np.ndarray:
    """θ(t) at ``times`` for dθ/dt = -∇L̃, L̃ = L + (lr/4)‖∇L‖² (lr = 0: the plain flow).

    ∇L̃ = ∇L + (lr/2) H ∇L is the modified equation of GD with that learning rate.
    Solved by ``scipy.integrate.solve_ivp`` (DOP853); returns an array (len(times), d).
    """
    if not (np.isfinite(lr) and lr >= 0):
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}")
    theta0 = _vector(theta0)

    def rhs(theta):
        g = problem.grad(theta)
        return -(g + 0.5 * lr * problem.hess(theta) @ g) if lr else -g

    return integrate(rhs, theta0, times, rtol, atol)


def damped_flow(problem, theta0, times, friction: float, rtol: float = 1e-11,
                atol: float = 1e-12) -> np.ndarray:
    """θ(t) for θ'' + γ θ' + ∇L(θ) = 0, θ(0) = θ0, θ'(0) = 0 (a heavy ball in a bowl)."""
    if not (np.isfinite(friction) and friction >= 0):
        raise ValueError(f"friction must be a finite number >= 0, got {friction!r}")
    theta0 = _vector(theta0)
    d = theta0.size

    def rhs(y):
        return np.concatenate([y[d:], -friction * y[d:] - problem.grad(y[:d])])

    return integrate(rhs, np.concatenate([theta0, np.zeros(d)]), times, rtol, atol)[:, :d]


# -------------------------------------------------------------------------- integrators
def euler(f: Callable, theta0, h: float, steps: int) -> np.ndarray:
    """Explicit Euler for dθ/dt = f(θ): θ_{n+1} = θ_n + h f(θ_n); returns (steps+1, d)."""
    h, steps, theta = checks.positive(h, "h"), checks.integer(steps, "steps"), _vector(theta0)
    out = np.empty((steps + 1, theta.size))
    out[0] = theta
    for n in range(steps):
        out[n + 1] = out[n] + h * f(out[n])
    return out


def _guard(problem, theta, n, blowup, scale):
    check_finite(problem.loss(theta), n, hint="the learning rate is above the stability bound")
    size = float(np.linalg.norm(theta))
    if size > blowup * scale:
        raise Diverged("|θ|", n, size, f"it passed {blowup:g} x its starting size")


def gd(problem, theta0, lr: float, steps: int, blowup: float = 1e6) -> np.ndarray:
    """Gradient descent θ_{n+1} = θ_n - lr ∇L(θ_n); returns the iterates (steps+1, d).

    Raises :class:`book.training.Diverged` when the loss stops being finite or |θ| passes
    ``blowup`` times max(1, |θ0|).
    """
    lr, steps, theta = checks.positive(lr, "lr"), checks.integer(steps, "steps"), _vector(theta0)
    scale = max(1.0, float(np.linalg.norm(theta)))
    out = np.empty((steps + 1, theta.size))
    out[0] = theta
    for n in range(steps):
        out[n + 1] = out[n] - lr * problem.grad(out[n])
        _guard(problem, out[n + 1], n + 1, blowup, scale)
    return out


def heavy_ball(problem, theta0, lr: float, beta: float, steps: int,
               blowup: float = 1e6) -> np.ndarray:
    """Polyak's heavy ball θ_{n+1} = θ_n - lr ∇L(θ_n) + β(θ_n - θ_{n-1}), θ_{-1} = θ_0."""
    lr, steps, theta = checks.positive(lr, "lr"), checks.integer(steps, "steps"), _vector(theta0)
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    scale = max(1.0, float(np.linalg.norm(theta)))
    out = np.empty((steps + 1, theta.size))
    out[0], prev = theta, theta
    for n in range(steps):
        out[n + 1] = out[n] - lr * problem.grad(out[n]) + beta * (out[n] - prev)
        prev = out[n]
        _guard(problem, out[n + 1], n + 1, blowup, scale)
    return out


def heavy_ball_as_ode(lr: float, beta: float) -> tuple[float, float]:
    """(time step h, friction γ) of the ODE θ'' + γθ' + ∇L = 0 that heavy ball discretises.

    h = √lr and γ = (1 - β)/√lr (derived in sgd_as_euler).
    """
    lr = checks.positive(lr, "lr")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1), got {beta!r}")
    h = float(np.sqrt(lr))
    return h, (1.0 - beta) / h


def fit_slope(x, y) -> float:
    """Least-squares slope of log y against log x (the order of a power law y ∝ x^k)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 2:
        raise ValueError(f"x and y must be 1-D of equal length >= 2, got {x.shape}, {y.shape}")
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("x and y must be positive to fit a slope on a log-log scale")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


# --------------------------------------------------------------------- adaptive steps
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
    max_grads, theta = checks.integer(max_grads, "max_grads"), _vector(theta0)
    if not (0 < safety <= 1) or not grow > 1:
        raise ValueError(f"need 0 < safety <= 1 and grow > 1, got {safety}, {grow}")
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
    lr, steps, theta = checks.positive(lr, "lr"), checks.integer(steps, "steps"), _vector(theta0)
    if not 0 <= beta < 1 or eps < 0:
        raise ValueError(f"need beta in [0, 1) and eps >= 0, got {beta!r}, {eps!r}")
    scale = max(1.0, float(np.linalg.norm(theta)))
    out, v = np.empty((steps + 1, theta.size)), np.zeros(theta.size)
    out[0] = theta
    for n in range(steps):
        g = problem.grad(out[n])
        v = beta * v + (1 - beta) * g**2
        den = np.sqrt(v) + eps
        out[n + 1] = out[n] - lr * np.divide(g, den, out=np.zeros_like(g), where=den > 0)
        _guard(problem, out[n + 1], n + 1, blowup, scale)
    return out


def adam(problem, theta0, lr: float, steps: int, beta1: float = 0.9, beta2: float = 0.999,
         eps: float = 1e-8, blowup: float = 1e6) -> np.ndarray:
    """Adam: EMAs m of g and v of g², bias-corrected, θ ← θ - lr m̂/(√v̂ + ε)."""
    lr, steps, theta = checks.positive(lr, "lr"), checks.integer(steps, "steps"), _vector(theta0)
    if not (0 <= beta1 < 1 and 0 <= beta2 < 1) or eps < 0:
        raise ValueError(f"need beta1, beta2 in [0, 1) and eps >= 0, got {beta1!r}, "
                         f"{beta2!r}, {eps!r}")
    scale = max(1.0, float(np.linalg.norm(theta)))
    out, m, v = np.empty((steps + 1, theta.size)), np.zeros(theta.size), np.zeros(theta.size)
    out[0] = theta
    for n in range(1, steps + 1):
        g = problem.grad(out[n - 1])
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat, v_hat = m / (1 - beta1**n), v / (1 - beta2**n)
        den = np.sqrt(v_hat) + eps
        out[n] = out[n - 1] - lr * np.divide(m_hat, den, out=np.zeros_like(g), where=den > 0)
        _guard(problem, out[n], n, blowup, scale)
    return out
