"""book.warmups.optics against independent references: a plain-Python ray tracer for planes
in general position, Monte Carlo areas with matplotlib's point-in-polygon test, and
hand-computed cases."""

import math

import numpy as np
import pytest
from matplotlib.path import Path
from scipy.spatial.transform import Rotation
import torch

from book.warmups import linalg, optics


def test_reflection_matrix_is_the_householder_reflection():
    n = np.array([1.0, -2.0, 0.5])
    R = optics.reflection_matrix(n)
    unit = n / np.linalg.norm(n)
    v = np.array([0.3, 0.7, -1.1])
    # reflect by hand: subtract twice the normal component
    np.testing.assert_allclose(R @ v, v - 2 * (v @ unit) * unit, atol=1e-15)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-15)
    assert math.isclose(np.linalg.det(R), -1.0, abs_tol=1e-14)
    # the same plane whatever the length of the normal
    np.testing.assert_allclose(optics.reflection_matrix(7 * n), R, atol=1e-15)
    with pytest.raises(ValueError, match="non-zero 3-vector"):
        optics.reflection_matrix([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="non-zero 3-vector"):
        optics.reflection_matrix([1.0, 2.0])


def test_corner_cube_rejects_bad_settings():
    with pytest.raises(ValueError, match="shape must be one of"):
        optics.CornerCube(shape="round")
    with pytest.raises(ValueError, match="proper rotation"):
        optics.CornerCube(rotation=np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(ValueError, match="size must be"):
        optics.CornerCube(size=0.0)


def reference_trace(cube, origin, direction):
    """One ray, mirror by mirror, with planes n.(x - apex) = 0 and faces tested by
    coordinates along the two in-plane edges, all in the world frame."""
    Q, apex, s = cube.rotation, cube.apex, cube.size
    x, d, order = origin.copy(), direction.copy(), []
    while True:
        best = None
        for i in range(3):
            n = Q[:, i]
            denom = d @ n
            if abs(denom) < 1e-15:
                continue
            t = -(x - apex) @ n / denom
            if t <= 1e-9:
                continue
            p = x + t * d
            j, k = [m for m in range(3) if m != i]
            u, v = (p - apex) @ Q[:, j], (p - apex) @ Q[:, k]
            inside = (0 <= u <= s and 0 <= v <= s) if cube.shape == "square" else \
                (u >= 0 and v >= 0 and u + v <= s)
            if inside and (best is None or t < best[0]):
                best = (t, i, p, denom)
        if best is None or best[3] > 0:
            return order, x, d
        _, i, x, _ = best
        n = Q[:, i]
        d = d - 2 * (d @ n) * n
        order.append(i)


@pytest.mark.parametrize("shape", optics.SHAPES)
def test_trace_matches_a_plain_python_tracer(shape):
    rng = np.random.default_rng(0)
    Q = Rotation.random(random_state=1).as_matrix()
    cube = optics.CornerCube(size=1.3, shape=shape, rotation=Q, apex=np.array([0.5, -1.0, 2.0]))
    direction = Q @ optics.incoming(0.3, 1.0)
    origins, dirs = optics.beam(cube, direction, 300, rng)
    tr = optics.trace(cube, origins, dirs)
    assert tr.returned.sum() > 50 and (tr.hits < 3).sum() > 20
    for r in range(300):
        order, exit_point, d_out = reference_trace(cube, origins[r], dirs[r])
        assert list(tr.order[r][tr.order[r] >= 0]) == order
        np.testing.assert_allclose(tr.directions[r], d_out, atol=1e-12)
        if order:
            np.testing.assert_allclose(tr.exits[r], exit_point, atol=1e-10)


def test_returned_rays_are_antiparallel_and_offset_twice_the_distance_to_the_apex():
    rng = np.random.default_rng(2)
    Q = Rotation.random(random_state=3).as_matrix()
    cube = optics.CornerCube(rotation=Q, apex=np.array([1.0, 2.0, 3.0]))
    d = Q @ optics.incoming(0.2)
    origins, dirs = optics.beam(cube, d, 2000, rng)
    tr = optics.trace(cube, origins, dirs)
    back = tr.returned
    np.testing.assert_allclose(tr.directions[back], -dirs[back], atol=1e-13)
    offset = optics.line_distance(origins[back], d, tr.exits[back])
    np.testing.assert_allclose(offset, 2 * optics.line_distance(origins[back], d, cube.apex),
                               atol=1e-10)


def test_clip_convex_and_polygon_area():
    square = np.array([[0, 0], [2, 0], [2, 2], [0, 2]], dtype=float)
    shifted = square + [1.0, 0.5]
    assert math.isclose(linalg.polygon_area(torch.as_tensor(optics.clip_convex(square, shifted).T)), 1.5)
    assert optics.clip_convex(square, square + 5).shape == (0, 2)


@pytest.mark.parametrize("shape,theta,azimuth", [("square", 0.25, 0.0), ("square", 0.4, 2.0),
                                                 ("triangle", 0.3, 3.0)])
def test_returned_fraction_against_monte_carlo_areas(shape, theta, azimuth):
    cube = optics.CornerCube(shape=shape)
    d = optics.incoming(theta, azimuth)
    P = optics.aperture(cube, d)
    rng = np.random.default_rng(4)
    lo, hi = P.min(0), P.max(0)
    pts = lo + (hi - lo) * rng.random((400_000, 2))
    inside, mirrored = Path(P).contains_points(pts), Path(P).contains_points(-pts)
    estimate = (inside & mirrored).sum() / inside.sum()
    assert abs(optics.returned_fraction(cube, d) - estimate) < 0.005


def test_fraction_at_normal_incidence_and_outside_the_octant():
    axis = -np.ones(3) / math.sqrt(3)
    assert math.isclose(optics.returned_fraction(optics.CornerCube(), axis), 1.0)
    assert math.isclose(optics.returned_fraction(optics.CornerCube(shape="triangle"), axis), 2 / 3)
    assert optics.returned_fraction(optics.CornerCube(), [0.0, -1.0, 0.5]) == 0.0
    with pytest.raises(ValueError, match="theta must be"):
        optics.incoming(2.0)


def test_beam_rays_are_parallel_and_cover_the_aperture():
    cube = optics.CornerCube()
    d = optics.incoming(0.3, 0.5)
    origins, dirs = optics.beam(cube, d, 20_000, np.random.default_rng(5))
    assert np.allclose(dirs, d)
    tr = optics.trace(cube, origins, dirs)
    intercepted = (tr.hits > 0) | tr.blocked
    # intercepted share of the rectangle = projected area of the cube / rectangle area
    expected = linalg.polygon_area(torch.as_tensor(optics.aperture(cube, d).T)) / optics.beam_area(cube, d)
    assert abs(intercepted.mean() - expected) < 0.015
    with pytest.raises(ValueError, match="origins and directions"):
        optics.trace(cube, origins[:, :2], dirs)
