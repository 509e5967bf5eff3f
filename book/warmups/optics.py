"""Plane mirrors, corner cubes and a vectorised ray tracer (chapter ``retroreflector``).

A corner cube is three mutually orthogonal plane mirrors meeting at an apex. In its own
frame the apex is the origin and mirror ``i`` lies in the plane x_i = 0, its reflecting
side facing x_i > 0; ``CornerCube.rotation`` and ``CornerCube.apex`` place it in the world
(world = rotation @ cube + apex). Rays are arrays of origins and unit directions ``(N, 3)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial import ConvexHull

from book import checks
from book.warmups import linalg

#: The two face shapes of real corner cubes: the three square faces at a corner of a
#: cube, or the three right isosceles triangles left when that corner is cut off by the
#: plane x + y + z = size (a "trihedral" prism, as in most glass retroreflectors).
SHAPES = ("square", "triangle")
#: Rays closer than this to a plane they just left are not counted as hitting it again.
_EPS = 1e-12


def reflection_matrix(normal) -> np.ndarray:
    """The reflection in the plane through 0 with normal n: R = I - 2 n n^T / (n^T n)."""
    n = checks.vector(normal, "normal")
    if n.shape != (3,) or not np.any(n):
        raise ValueError(f"normal must be a non-zero 3-vector, got {n}")
    return np.eye(3) - 2.0 * np.outer(n, n) / (n @ n)


@dataclass(frozen=True)
class CornerCube:
    """Three square or triangular mirrors of side ``size`` meeting at ``apex``; the columns
    of ``rotation`` (a proper rotation) are the mirrors' normals in the world frame."""

    size: float = 1.0
    shape: str = "square"
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    apex: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def __post_init__(self):
        checks.positive(self.size, "size")
        if self.shape not in SHAPES:
            raise ValueError(f"shape must be one of {SHAPES}, got {self.shape!r}")
        Q = np.asarray(self.rotation, dtype=float)
        if Q.shape != (3, 3) or not np.allclose(Q.T @ Q, np.eye(3), atol=1e-10) \
                or np.linalg.det(Q) < 0:
            raise ValueError("rotation must be a 3x3 proper rotation (Q^T Q = I, det Q = +1)")
        if np.asarray(self.apex, dtype=float).shape != (3,):
            raise ValueError(f"apex must be a 3-vector, got {self.apex!r}")

    def to_world(self, x: np.ndarray) -> np.ndarray:
        """Points ``(..., 3)`` from the cube's frame to the world."""
        return x @ np.asarray(self.rotation, dtype=float).T + np.asarray(self.apex, dtype=float)

    def faces(self) -> list[np.ndarray]:
        """The three mirrors as polygons in the world frame (for drawing), mirror i first."""
        s, out = self.size, []
        for i in range(3):
            j, k = [m for m in range(3) if m != i]
            corners = [(0, 0), (s, 0), (s, s), (0, s)] if self.shape == "square" else \
                [(0, 0), (s, 0), (0, s)]
            poly = np.zeros((len(corners), 3))
            poly[:, j], poly[:, k] = np.array(corners, dtype=float).T
            out.append(self.to_world(poly))
        return out


@dataclass
class Trace:
    """What happened to each of N rays: outgoing direction, last point, mirrors hit."""

    directions: np.ndarray  # (N, 3) direction after the last reflection
    exits: np.ndarray       # (N, 3) last reflection point (the origin if none)
    order: np.ndarray       # (N, 3) mirror hit at bounce 0, 1, 2; -1 after the last
    points: np.ndarray      # (N, 3, 3) point of each bounce, nan after the last
    blocked: np.ndarray     # (N,) the ray ran into the back of a mirror

    @property
    def hits(self) -> np.ndarray:
        """Number of reflections of each ray, (N,)."""
        return (self.order >= 0).sum(1)

    @property
    def returned(self) -> np.ndarray:
        """Rays reflected by all three mirrors (and so sent back), (N,)."""
        return self.hits == 3


def _on_face(u: np.ndarray, v: np.ndarray, size: float, shape: str) -> np.ndarray:
    if shape == "square":
        return (u >= 0) & (u <= size) & (v >= 0) & (v <= size)
    return (u >= 0) & (v >= 0) & (u + v <= size)


def trace(cube: CornerCube, origins, directions) -> Trace:
    """Follow rays through the finite mirrors of ``cube`` until they leave it.

    At each step every ray moves to the nearest mirror it meets ahead (t > 0), is reflected,
    d <- d - 2 (d . n) n (in the cube's frame: the sign of one component flips), and stops
    when it meets none, or the back of one. Three steps suffice: a reflection in x_i = 0
    turns d_i from negative to positive, and a ray with d_i > 0 never reaches x_i = 0 again.
    """
    o = np.asarray(origins, dtype=float)
    d = np.asarray(directions, dtype=float)
    if o.ndim != 2 or o.shape[1] != 3 or d.shape != o.shape:
        raise ValueError(f"origins and directions must both be (N, 3), got {o.shape}, {d.shape}")
    Q, apex = np.asarray(cube.rotation, dtype=float), np.asarray(cube.apex, dtype=float)
    # into the cube's frame: x_cube = Q^T (x - apex)
    o, d = (o - apex) @ Q, d @ Q
    n = len(o)
    order = np.full((n, 3), -1)
    points = np.full((n, 3, 3), np.nan)
    blocked = np.zeros(n, dtype=bool)
    alive = np.ones(n, dtype=bool)
    rows = np.arange(n)
    for bounce in range(3):
        with np.errstate(divide="ignore", invalid="ignore"):
            t = -o / d  # (N, 3): time to reach the plane x_i = 0
        t = np.where(np.isfinite(t) & (t > _EPS), t, np.inf)
        at = o[:, None, :] + t[..., None] * d[:, None, :]  # (N, 3 planes, 3)
        for i in range(3):
            j, k = [m for m in range(3) if m != i]
            with np.errstate(invalid="ignore"):
                inside = _on_face(at[:, i, j], at[:, i, k], cube.size, cube.shape)
            t[:, i] = np.where(inside, t[:, i], np.inf)
        mirror = np.argmin(t, axis=1)
        hit = alive & np.isfinite(t[rows, mirror])
        from_front = d[rows, mirror] < 0
        blocked |= hit & ~from_front
        hit &= from_front
        idx = np.where(hit)[0]
        m = mirror[idx]
        o[idx] = at[idx, m]
        o[idx, m] = 0.0
        # reflection in x_m = 0: the m-th component of d changes sign
        d[idx, m] = -d[idx, m]
        order[idx, bounce] = m
        points[idx, bounce] = o[idx]
        alive = hit
    return Trace(directions=d @ Q.T, exits=o @ Q.T + apex, order=order,
                 points=points @ Q.T + apex, blocked=blocked)


def incoming(theta: float, azimuth: float = 0.0) -> np.ndarray:
    """Direction of travel (cube frame) of a ray arriving at angle ``theta`` (radians) from
    the cube's symmetry axis (1,1,1)/sqrt 3, tilted towards the edge on the z axis for
    ``azimuth`` 0, towards the middle of the face z = 0 for ``azimuth`` pi."""
    theta = checks.number(theta, "theta", 0.0, high=np.pi / 2)
    axis = np.ones(3) / np.sqrt(3)
    e1 = np.array([0.0, 0.0, 1.0]) - axis / np.sqrt(3)
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(axis, e1)
    # the ray comes from u = cos(theta) a + sin(theta) (cos(phi) e1 + sin(phi) e2)
    u = np.cos(theta) * axis + np.sin(theta) * (np.cos(azimuth) * e1 + np.sin(azimuth) * e2)
    return -u


def perpendicular_basis(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors (p1, p2) with (p1, p2, d) orthonormal."""
    helper = np.eye(3)[np.argmin(np.abs(d))]
    p1 = np.cross(d, helper)
    p1 /= np.linalg.norm(p1)
    return p1, np.cross(d, p1)


def beam(cube: CornerCube, direction, count: int,
         rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` parallel rays travelling along ``direction`` (world frame), their origins
    uniform on the smallest rectangle across the beam that covers the cube's ``aperture``,
    three sizes upstream of the apex. Returns origins and directions, both ``(N, 3)``."""
    count = checks.integer(count, "count")
    d = checks.vector(direction, "direction")
    d = d / np.linalg.norm(d)
    p1, p2 = perpendicular_basis(d)
    P = aperture(cube, d)
    lo, hi = P.min(axis=0), P.max(axis=0)
    xy = lo + (hi - lo) * rng.random((count, 2))  # (N, 2) across the beam
    origins = (np.asarray(cube.apex, dtype=float) - 3 * cube.size * d
               + xy[:, :1] * p1 + xy[:, 1:] * p2)
    return origins, np.tile(d, (count, 1))


def beam_area(cube: CornerCube, direction) -> float:
    """Area across the beam of the rectangle that ``beam`` fills with rays."""
    P = aperture(cube, direction)
    return float(np.prod(P.max(axis=0) - P.min(axis=0)))


def _area(P: np.ndarray) -> float:
    """Area of a polygon with vertices ``(K, 2)`` in order (``linalg.polygon_area``)."""
    return linalg.polygon_area(torch.as_tensor(np.asarray(P, dtype=float).T))


def clip_convex(subject: np.ndarray, clipper: np.ndarray) -> np.ndarray:
    """The intersection of two convex polygons ``(K, 2)``, both counter-clockwise
    (Sutherland-Hodgman: cut ``subject`` by each edge of ``clipper`` in turn)."""
    out = [np.asarray(p, dtype=float) for p in subject]
    for a, b in zip(clipper, np.roll(clipper, -1, axis=0)):
        if not out:
            break
        # side(p) > 0: p is left of the edge a -> b, inside a counter-clockwise polygon
        side = [(b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) for p in out]
        kept = []
        for i, p in enumerate(out):
            q, sp, sq = out[(i + 1) % len(out)], side[i], side[(i + 1) % len(out)]
            if sp >= 0:
                kept.append(p)
            if (sp >= 0) != (sq >= 0):
                kept.append(p + sp / (sp - sq) * (q - p))
        out = kept
    return np.array(out).reshape(-1, 2)


def aperture(cube: CornerCube, direction) -> np.ndarray:
    """The cube seen along ``direction`` (world frame): the convex polygon ``(K, 2)``,
    counter-clockwise, in coordinates across the beam with the apex at the origin."""
    d = checks.vector(direction, "direction")
    d = d / np.linalg.norm(d)
    s = cube.size
    corners = (np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)]) * s
               if cube.shape == "square" else np.vstack([np.zeros(3), s * np.eye(3)]))
    corners = cube.to_world(corners) - np.asarray(cube.apex, dtype=float)
    p1, p2 = perpendicular_basis(d)
    flat = np.stack([corners @ p1, corners @ p2], axis=1)
    return flat[ConvexHull(flat).vertices]  # scipy lists 2-D hull vertices counter-clockwise


def returned_fraction(cube: CornerCube, direction) -> float:
    """Share of the light the cube intercepts that it sends back, by geometry alone.

    A ray through the point p of the aperture P (apex at 0) leaves through -p, so it is
    returned when both lie in P: the share is area(P and -P) / area(P). When some mirror
    faces away from the light (a component of the direction in the cube's frame is >= 0)
    it is 0.
    """
    d = checks.vector(direction, "direction")
    if np.any(d @ np.asarray(cube.rotation, dtype=float) >= 0):
        return 0.0
    P = aperture(cube, d)
    return _area(clip_convex(P, -P)) / _area(P)


def line_distance(points, direction, to) -> np.ndarray:
    """Distance from ``to`` (3,) or (N, 3) to the lines through ``points`` (N, 3) along the
    unit ``direction`` (3,) or (N, 3): |(to - p) x d|."""
    return np.linalg.norm(np.cross(np.asarray(to) - np.asarray(points), direction), axis=-1)
