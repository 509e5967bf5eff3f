"""Optimisers read as integrators of the gradient-flow ODE  dθ/dt = -∇L(θ).

Test problems (quadratics, a banana-shaped valley), the exact or high-accuracy flows they
define (plain, modified-equation, damped second-order), and the discrete optimisers that
integrate them: Euler's method, and gradient descent and heavy ball on :func:`iterate`, the
loop every optimiser of the part shares. Derived in the chapter sgd_as_euler; the adaptive
steps (error control, RMSprop, Adam) are in :mod:`book.optim.adaptive`, steepest descent
under other norms in :mod:`book.optim.steepest`. Everything is NumPy on small dense
problems, so a whole sweep takes milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.integrate import solve_ivp

from book import checks
from book.training import Diverged, check_finite


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
        x0 = V.T @ (checks.vector(theta0, "theta0") - self.center)
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
    c = np.zeros(d) if center is None else checks.vector(center, "center")
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
    y0 = checks.vector(y0, "y0")
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
    lr, theta0 = checks.number(lr, "lr", 0.0), checks.vector(theta0, "theta0")

    def rhs(theta):
        g = problem.grad(theta)
        return -(g + 0.5 * lr * problem.hess(theta) @ g) if lr else -g

    return integrate(rhs, theta0, times, rtol, atol)


def damped_flow(problem, theta0, times, friction: float, rtol: float = 1e-11,
                atol: float = 1e-12) -> np.ndarray:
    """θ(t) for θ'' + γ θ' + ∇L(θ) = 0, θ(0) = θ0, θ'(0) = 0 (a heavy ball in a bowl)."""
    friction, theta0 = checks.number(friction, "friction", 0.0), checks.vector(theta0, "theta0")
    d = theta0.size

    def rhs(y):
        return np.concatenate([y[d:], -friction * y[d:] - problem.grad(y[:d])])

    return integrate(rhs, np.concatenate([theta0, np.zeros(d)]), times, rtol, atol)[:, :d]


# -------------------------------------------------------------------------- integrators
def euler(f: Callable, theta0, h: float, steps: int) -> np.ndarray:
    """Explicit Euler for dθ/dt = f(θ): θ_{n+1} = θ_n + h f(θ_n); returns (steps+1, d)."""
    h, steps = checks.positive(h, "h"), checks.integer(steps, "steps")
    theta = checks.vector(theta0, "theta0")
    out = np.empty((steps + 1, theta.size))
    out[0] = theta
    for n in range(steps):
        out[n + 1] = out[n] + h * f(out[n])
    return out


def iterate(problem, theta0, steps: int, step: Callable, blowup: float = 1e6) -> np.ndarray:
    """θ_0 = θ0, θ_n = step(n, θ_{n-1}, ∇L(θ_{n-1})) for n = 1..steps; returns (steps+1, d).

    The loop of every optimiser of this part: ``step`` makes one update and may keep state
    (momentum, moving averages) between calls. Raises :class:`book.training.Diverged` when
    the loss stops being finite or |θ| passes ``blowup`` times max(1, |θ0|).
    """
    steps, theta = checks.integer(steps, "steps"), checks.vector(theta0, "theta0")
    scale = max(1.0, float(np.linalg.norm(theta)))
    out = np.empty((steps + 1, theta.size))
    out[0] = theta
    for n in range(1, steps + 1):
        out[n] = step(n, out[n - 1], problem.grad(out[n - 1]))
        check_finite(problem.loss(out[n]), n,
                     hint="the learning rate is above the stability bound")
        size = float(np.linalg.norm(out[n]))
        if size > blowup * scale:
            raise Diverged("|θ|", n, size, f"it passed {blowup:g} x its starting size")
    return out


def gd(problem, theta0, lr: float, steps: int, blowup: float = 1e6) -> np.ndarray:
    """Gradient descent θ_{n+1} = θ_n - lr ∇L(θ_n); returns the iterates (steps+1, d).

    Raises :class:`book.training.Diverged` as :func:`iterate` does.
    """
    lr = checks.positive(lr, "lr")
    return iterate(problem, theta0, steps, lambda n, theta, g: theta - lr * g, blowup)


def heavy_ball(problem, theta0, lr: float, beta: float, steps: int,
               blowup: float = 1e6) -> np.ndarray:
    """Polyak's heavy ball θ_{n+1} = θ_n - lr ∇L(θ_n) + β(θ_n - θ_{n-1}), θ_{-1} = θ_0."""
    lr, beta = checks.positive(lr, "lr"), checks.number(beta, "beta", 0, high=1)
    prev = checks.vector(theta0, "theta0")  # θ_{n-1}

    def step(n, theta, g):
        nonlocal prev
        theta_next, prev = theta - lr * g + beta * (theta - prev), theta
        return theta_next

    return iterate(problem, theta0, steps, step, blowup)


def heavy_ball_as_ode(lr: float, beta: float) -> tuple[float, float]:
    """(time step h, friction γ) of the ODE θ'' + γθ' + ∇L = 0 that heavy ball discretises.

    h = √lr and γ = (1 - β)/√lr (derived in sgd_as_euler).
    """
    lr, beta = checks.positive(lr, "lr"), checks.number(beta, "beta", 0, high=1)
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


# ------------------------------------------------------------- tuned rates on quadratics
def heavy_ball_rate(eigenvalues, lr, beta) -> np.ndarray:
    """Contraction per step of heavy ball on a quadratic with these Hessian eigenvalues.

    In each eigen-direction the iteration is x_{n+1} = (1 + β - lr λ) x_n - β x_{n-1}, whose
    characteristic roots solve z² - (1 + β - lr λ) z + β = 0; the rate is the largest |z| over
    the eigenvalues. ``lr`` and ``beta`` broadcast (a grid of settings); β = 0 is plain GD,
    rate max_λ |1 - lr λ|.
    """
    lam = np.asarray(eigenvalues, dtype=float)
    if lam.ndim != 1 or lam.size == 0 or np.any(lam < 0):
        raise ValueError(f"eigenvalues must be a non-empty 1-D array >= 0, got {eigenvalues!r}")
    lr, beta = np.asarray(lr, dtype=float)[..., None], np.asarray(beta, dtype=float)[..., None]
    if np.any(lr <= 0) or np.any(beta < 0) or np.any(beta >= 1):
        raise ValueError("lr must be > 0 and beta in [0, 1)")
    b = 1 + beta - lr * lam                                 # (..., len(lam))
    root = np.sqrt((b**2 - 4 * beta).astype(complex))
    radius = np.maximum(np.abs((b + root) / 2), np.abs((b - root) / 2))
    return radius.max(-1)


def tuned_gd(lam_min: float, lam_max: float) -> tuple[float, float]:
    """(lr, rate) of the best GD step on a quadratic with spectrum in [lam_min, lam_max]:
    lr = 2/(λmin + λmax), rate (κ-1)/(κ+1) with κ = λmax/λmin."""
    lam_min, lam_max = checks.positive(lam_min, "lam_min"), checks.positive(lam_max, "lam_max")
    if lam_max < lam_min:
        raise ValueError(f"need lam_min <= lam_max, got {lam_min}, {lam_max}")
    kappa = lam_max / lam_min
    return 2 / (lam_min + lam_max), (kappa - 1) / (kappa + 1)


def tuned_heavy_ball(lam_min: float, lam_max: float) -> tuple[float, float, float]:
    """(lr, β, rate) of Polyak's best heavy ball on that quadratic:
    lr = 4/(√λmax + √λmin)², β = rate², rate (√κ-1)/(√κ+1)."""
    lam_min, lam_max = checks.positive(lam_min, "lam_min"), checks.positive(lam_max, "lam_max")
    if lam_max < lam_min:
        raise ValueError(f"need lam_min <= lam_max, got {lam_min}, {lam_max}")
    sk = np.sqrt(lam_max / lam_min)
    rate = (sk - 1) / (sk + 1)
    return 4 / (np.sqrt(lam_max) + np.sqrt(lam_min)) ** 2, rate**2, rate


# ------------------------------------------------------------------------ mini-batch SGD
def minibatch_sgd(X, y, theta0, lr: float, batch: int, steps: int, chains: int,
                  rng: np.random.Generator) -> np.ndarray:
    """Independent SGD runs on least squares L(θ) = (1/2N) Σ (x_iᵀθ - y_i)².

    Each step draws ``batch`` samples with replacement per chain and moves by
    -lr (1/B) Σ_b x_b (x_bᵀθ - y_b), an unbiased estimate of -lr ∇L(θ).
    Returns the iterates of every chain, shape (steps+1, chains, d).
    """
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float)
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (N, d) and y (N,), got {X.shape} and {y.shape}")
    lr = checks.positive(lr, "lr")
    batch, steps, chains = (checks.integer(batch, "batch"), checks.integer(steps, "steps"),
                            checks.integer(chains, "chains"))
    theta = np.tile(checks.vector(theta0, "theta0"), (chains, 1))   # (K, d)
    out = np.empty((steps + 1, chains, X.shape[1]))
    out[0] = theta
    for n in range(steps):
        idx = rng.integers(0, X.shape[0], size=(chains, batch))
        Xb, yb = X[idx], y[idx]                                       # (K, B, d), (K, B)
        residual = np.einsum("kbd,kd->kb", Xb, theta) - yb
        theta = theta - lr * np.einsum("kb,kbd->kd", residual, Xb) / batch
        out[n + 1] = theta
    return out
