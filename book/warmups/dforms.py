"""Two convex polygons glued edge to edge into a convex polyhedron, a discrete D-form
(chapter ``two_ellipses``).

Vertex k of one flat piece is glued to vertex k of the other; both pieces have the same
side lengths. The only points of the glued surface with curvature are the glued vertices
(angle alpha_k + beta_k < 2 pi), so the polyhedron is the convex hull of its seam: we
search N points in space whose hull, cut along the seam, unfolds onto the two pieces.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq, least_squares
from scipy.sparse import coo_matrix
from scipy.spatial import ConvexHull

from book import checks


def quarter_turn(piece: np.ndarray) -> np.ndarray:
    """The piece turned by 90 degrees, renumbered so that its vertex k is the old vertex
    k + N/4: glued to ``piece``, the ends of one's major axis meet the other's minor axis."""
    n = len(piece)
    if n % 4:
        raise ValueError(f"the piece needs a number of vertices divisible by 4, got {n}")
    turned = np.roll(piece, -(n // 4), axis=0)
    return np.stack([-turned[:, 1], turned[:, 0]], axis=1)


def _check_pieces(piece_a, piece_b) -> np.ndarray:
    pieces = np.stack([np.asarray(piece_a, dtype=float), np.asarray(piece_b, dtype=float)])
    if pieces.ndim != 3 or pieces.shape[2] != 2 or pieces.shape[1] < 4:
        raise ValueError(f"pieces must be two polygons (N, 2) with N >= 4, got {pieces.shape}")
    sides = np.linalg.norm(np.roll(pieces, -1, axis=1) - pieces, axis=2)  # (2, N)
    if not np.allclose(sides[0], sides[1], rtol=1e-9, atol=0):
        worst = np.abs(sides[0] - sides[1]).max()
        raise ValueError(f"glued sides must have equal lengths (largest mismatch {worst:.3g})")
    return pieces


def saddle_seam(n: int, radius: float, length: float) -> np.ndarray:
    """A first guess (n, 3): the curve (r cos u, r sin u, h cos 2u) on a cylinder, like the
    seam of a tennis ball, with h chosen so that the closed polygon has the given length."""
    n = checks.integer(n, "n", least=4)
    radius, length = checks.positive(radius, "radius"), checks.positive(length, "length")
    u = 2 * np.pi * np.arange(n) / n

    def curve(h):
        return np.stack([radius * np.cos(u), radius * np.sin(u), h * np.cos(2 * u)], axis=1)

    def excess(h):
        return np.linalg.norm(np.roll(curve(h), -1, axis=0) - curve(h), axis=1).sum() - length

    if excess(0.0) >= 0:
        raise ValueError(f"radius {radius} is too large for a seam of length {length}")
    return curve(brentq(excess, 0.0, length, xtol=1e-14))


def _edges(tri: np.ndarray) -> list[tuple[int, int]]:
    return [tuple(sorted((int(tri[i]), int(tri[(i + 1) % 3])))) for i in range(3)]


def hull_pieces(seam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hull's triangles ``(T, 3)`` and a side label 0/1 for each, the two sides being
    what the seam polygon cuts the hull into. ValueError unless every seam point is a hull
    vertex and the seam cuts the hull into two discs of N - 2 triangles."""
    n = len(seam)
    triangles = ConvexHull(seam).simplices
    if len(np.unique(triangles)) != n:
        raise ValueError("some seam points lie inside the hull of the others")
    seam_edges = {tuple(sorted((k, (k + 1) % n))) for k in range(n)}
    by_edge = defaultdict(list)
    for t, tri in enumerate(triangles):
        for e in _edges(tri):
            by_edge[e].append(t)
    if not seam_edges <= set(by_edge):
        raise ValueError("the seam polygon is not made of hull edges")
    # triangles sharing an edge that is not on the seam lie on the same side (union-find)
    parent = list(range(len(triangles)))

    def root(t):
        while parent[t] != t:
            parent[t] = parent[parent[t]]
            t = parent[t]
        return t

    for e, (s, t) in by_edge.items():
        if e not in seam_edges:
            parent[root(s)] = root(t)
    roots = np.array([root(t) for t in range(len(triangles))])
    labels = np.unique(roots, return_inverse=True)[1]
    if labels.max() != 1 or np.bincount(labels).tolist() != [n - 2, n - 2]:
        raise ValueError(f"the seam cuts the hull into pieces of sizes {np.bincount(labels)}, "
                         f"not two discs of {n - 2} triangles")
    return triangles, labels


@dataclass
class DForm:
    """The glued polyhedron: ``seam`` (N, 3) in space, hull ``triangles`` (T, 3) of seam
    indices, ``piece`` (T,) 0/1 telling which flat piece each triangle comes from."""

    pieces: np.ndarray     # (2, N, 2) the flat polygons
    seam: np.ndarray       # (N, 3)
    triangles: np.ndarray  # (T, 3)
    piece: np.ndarray      # (T,)
    rounds: int = 0

    def edges(self) -> tuple[np.ndarray, np.ndarray]:
        """Every triangle edge (E, 2) once per piece, and its piece (E,): seam edges twice."""
        found = {(e, int(p)) for tri, p in zip(self.triangles, self.piece) for e in _edges(tri)}
        found = sorted(found)
        return np.array([e for e, _ in found]), np.array([p for _, p in found])

    def edge_errors(self) -> np.ndarray:
        """|length in space - length in the flat piece| for every edge of ``edges``."""
        E, p = self.edges()
        space = np.linalg.norm(self.seam[E[:, 0]] - self.seam[E[:, 1]], axis=1)
        flat = np.linalg.norm(self.pieces[p, E[:, 0]] - self.pieces[p, E[:, 1]], axis=1)
        return np.abs(space - flat)

    @property
    def hull(self) -> ConvexHull:
        return ConvexHull(self.seam)


def label_sides(seam, triangles, labels, pieces) -> np.ndarray:
    """Which hull side is which flat piece: the side labels (T,) of ``hull_pieces``, flipped
    if that fits the edge lengths of ``pieces`` (2, N, 2) better; 0 means ``pieces[0]``."""
    def misfit(flip):
        total = 0.0
        for tri, lab in zip(triangles, labels):
            p = int(lab) ^ flip
            for i, j in _edges(tri):
                total += (np.linalg.norm(seam[i] - seam[j])
                          - np.linalg.norm(pieces[p, i] - pieces[p, j])) ** 2
        return total
    return labels ^ int(misfit(1) < misfit(0))


def glue(piece_a, piece_b, seam=None, tol: float = 1e-10, max_rounds: int = 30) -> DForm:
    """Find the convex polyhedron glued from two flat polygons with equal sides.

    Each round takes the hull of the current seam points, cuts it along the seam, and moves
    the points (least squares, Jacobian of |x_i - x_j| exact) until every hull edge has its
    length in the flat piece it belongs to; it stops when the hull of the moved points
    fits to ``tol``. ``seam`` is the first guess (default: ``saddle_seam``).
    """
    pieces = _check_pieces(piece_a, piece_b)
    tol, max_rounds = checks.positive(tol, "tol"), checks.integer(max_rounds, "max_rounds")
    n = pieces.shape[1]
    if seam is None:
        perimeter = np.linalg.norm(np.roll(pieces[0], -1, axis=0) - pieces[0], axis=1).sum()
        # the cylinder as wide as the narrowest extent of either piece along x or y
        seam = saddle_seam(n, 0.5 * float(np.ptp(pieces, axis=1).min()), perimeter)
    x = np.array(seam, dtype=float)
    for rounds in range(1, max_rounds + 1):
        triangles, labels = hull_pieces(x)
        form = DForm(pieces, x, triangles, label_sides(x, triangles, labels, pieces), rounds)
        if form.edge_errors().max() < tol:
            return form
        E, p = form.edges()
        target = np.linalg.norm(pieces[p, E[:, 0]] - pieces[p, E[:, 1]], axis=1)
        rows = np.repeat(np.arange(len(E)), 6)
        cols = np.concatenate([3 * E[:, :1] + np.arange(3), 3 * E[:, 1:] + np.arange(3)],
                              axis=1).ravel()

        def residual(flat):
            y = flat.reshape(n, 3)
            return np.linalg.norm(y[E[:, 0]] - y[E[:, 1]], axis=1) - target

        def jacobian(flat):
            y = flat.reshape(n, 3)
            diff = y[E[:, 0]] - y[E[:, 1]]
            # d|x_i - x_j| / dx_i = (x_i - x_j) / |x_i - x_j| = -d|x_i - x_j| / dx_j
            unit = diff / np.linalg.norm(diff, axis=1, keepdims=True)
            vals = np.concatenate([unit, -unit], axis=1).ravel()
            return coo_matrix((vals, (rows, cols)), shape=(len(E), 3 * n)).tocsr()

        fit = least_squares(residual, x.ravel(), jac=jacobian, xtol=1e-15, ftol=1e-15,
                            gtol=1e-15, x_scale="jac", max_nfev=200)
        x = fit.x.reshape(n, 3)
        x = x - x.mean(axis=0)
    raise ValueError(f"no convex polyhedron fitting to {tol:g} after {max_rounds} rounds "
                     f"(largest edge error {form.edge_errors().max():.3g})")


def placements(form: DForm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each triangle, the rigid motion x -> R y + c taking its flat copy (y, 0) closest
    onto its place in space (Kabsch), and the largest distance left. Shapes (T, 3, 3),
    (T, 3), (T,)."""
    flat = form.pieces[form.piece[:, None], form.triangles]  # (T, 3, 2)
    flat = np.concatenate([flat, np.zeros(flat.shape[:2] + (1,))], axis=2)
    space = form.seam[form.triangles]  # (T, 3, 3)
    fc, sc = flat.mean(axis=1, keepdims=True), space.mean(axis=1, keepdims=True)
    # best rotation from the SVD of the cross-covariance H = sum (y - ybar)(x - xbar)^T
    U, _, Vt = np.linalg.svd(np.swapaxes(flat - fc, 1, 2) @ (space - sc))
    sign = np.sign(np.linalg.det(np.swapaxes(Vt, 1, 2) @ np.swapaxes(U, 1, 2)))
    D = np.tile(np.eye(3), (len(flat), 1, 1))
    D[:, 2, 2] = sign
    R = np.swapaxes(Vt, 1, 2) @ D @ np.swapaxes(U, 1, 2)
    c = sc[:, 0] - np.einsum("tij,tj->ti", R, fc[:, 0])
    placed = np.einsum("tij,tkj->tki", R, flat) + c[:, None]
    return R, c, np.linalg.norm(placed - space, axis=2).max(axis=1)


def boundary_gap(form: DForm, samples: int = 8) -> float:
    """Largest distance in space between the two pieces' boundaries at equal arc length.

    Each boundary point of a piece is carried into space by the rigid placement of the
    piece's triangle holding that side; both images must coincide for a true gluing.
    """
    R, c, _ = placements(form)
    n = form.seam.shape[0]
    lam = np.linspace(0.0, 1.0, samples)[:, None]
    gap = 0.0
    for k in range(n):
        side = tuple(sorted((k, (k + 1) % n)))
        images = []
        for p in (0, 1):
            t = next(t for t, tri in enumerate(form.triangles)
                     if form.piece[t] == p and side in _edges(tri))
            pts = (1 - lam) * form.pieces[p, k] + lam * form.pieces[p, (k + 1) % n]
            images.append(np.c_[pts, np.zeros(samples)] @ R[t].T + c[t])
        gap = max(gap, float(np.linalg.norm(images[0] - images[1], axis=1).max()))
    return gap


def polygon_angles(piece: np.ndarray) -> np.ndarray:
    """Interior angle at each vertex of a convex polygon (N, 2), counter-clockwise."""
    prev, nxt = np.roll(piece, 1, axis=0) - piece, np.roll(piece, -1, axis=0) - piece
    cos = np.sum(prev * nxt, axis=1) / np.linalg.norm(prev, axis=1) / np.linalg.norm(nxt, axis=1)
    return np.arccos(np.clip(cos, -1.0, 1.0))


def angle_sums(form: DForm) -> np.ndarray:
    """Sum of the triangles' angles in space at each seam vertex, (N,)."""
    total = np.zeros(len(form.seam))
    for tri in form.triangles:
        for i in range(3):
            v, a, b = form.seam[tri[i]], form.seam[tri[i - 1]], form.seam[tri[i - 2]]
            u, w = a - v, b - v
            total[tri[i]] += np.arccos(np.clip(u @ w / np.linalg.norm(u) / np.linalg.norm(w),
                                               -1.0, 1.0))
    return total


def bends(form: DForm) -> tuple[np.ndarray, np.ndarray]:
    """Bending angle (pi minus the dihedral angle) across each hull edge: edges inside a
    piece, and seam edges (the crease). Two arrays of radians."""
    hull = form.hull
    normals = hull.equations[:, :3]
    by_edge = defaultdict(list)
    for t, tri in enumerate(hull.simplices):
        for e in _edges(tri):
            by_edge[e].append(t)
    n = len(form.seam)
    inside, seam = [], []
    for (i, j), (s, t) in by_edge.items():
        angle = float(np.arccos(np.clip(normals[s] @ normals[t], -1.0, 1.0)))
        (seam if (j - i) % n in (1, n - 1) else inside).append(angle)
    return np.array(inside), np.array(seam)
