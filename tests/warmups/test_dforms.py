"""book.warmups.dforms against polyhedra glued from known nets: two rhombi of 60 degrees
make the regular tetrahedron, two 1 x 3 rectangles make the unit cube."""

import math

import numpy as np
import pytest
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist

from book.warmups import dforms, ellipses

RHOMBUS = np.array([(0, 0), (1, 0), (1.5, math.sqrt(3) / 2), (0.5, math.sqrt(3) / 2)])
RECTANGLE = np.array([(0, 0), (1, 0), (2, 0), (3, 0), (3, 1), (2, 1), (1, 1), (0, 1)], float)


def test_two_rhombi_glue_into_the_regular_tetrahedron():
    # the 60-degree corners of one meet the 120-degree corners of the other
    form = dforms.glue(RHOMBUS, np.roll(RHOMBUS, -1, axis=0))
    np.testing.assert_allclose(pdist(form.seam), 1.0, atol=1e-12)
    assert math.isclose(form.hull.volume, 1 / (6 * math.sqrt(2)), rel_tol=1e-12)


def test_two_rectangles_glue_into_the_unit_cube():
    # each corner of one rectangle meets a point in the middle of a long side of the other
    form = dforms.glue(RECTANGLE, np.roll(RECTANGLE, -2, axis=0))
    d = np.sort(pdist(form.seam))
    np.testing.assert_allclose(d, [1.0] * 12 + [math.sqrt(2)] * 12 + [math.sqrt(3)] * 4,
                               atol=1e-9)
    assert math.isclose(form.hull.volume, 1.0, rel_tol=1e-9)
    # 3 x 90 degrees at every vertex: 90 + 180 in the flat pieces
    np.testing.assert_allclose(dforms.angle_sums(form), 1.5 * math.pi, atol=1e-9)


def test_crosswise_ellipses_close_isometrically():
    a, b = ellipses.axes_for_aspect(0.5, 2 * math.pi)
    A, _ = ellipses.equilateral_polygon(a, b, 48)
    B = dforms.quarter_turn(A)
    form = dforms.glue(A, B)
    assert form.edge_errors().max() < 1e-10
    assert dforms.placements(form)[2].max() < 1e-10
    assert dforms.boundary_gap(form) < 1e-10
    flat = dforms.polygon_angles(A) + dforms.polygon_angles(B)
    np.testing.assert_allclose(dforms.angle_sums(form), flat, atol=1e-9)
    # area of the hull = the two flat areas (an isometry keeps areas)
    area = sum(ConvexHull(P).volume for P in (A, B))  # area of a 2-D hull
    assert math.isclose(form.hull.area, area, rel_tol=1e-10)
    inside, seam = dforms.bends(form)
    assert len(inside) == 2 * (48 - 3) and len(seam) == 48


def test_a_guess_that_is_not_the_polyhedron_fails_the_checks():
    a, b = ellipses.axes_for_aspect(0.5, 2 * math.pi)
    A, side = ellipses.equilateral_polygon(a, b, 48)
    seam = dforms.saddle_seam(48, b, 48 * side)
    triangles, labels = dforms.hull_pieces(seam)
    pieces = np.stack([A, dforms.quarter_turn(A)])
    guess = dforms.DForm(pieces, seam, triangles,
                         dforms.label_sides(seam, triangles, labels, pieces))
    assert guess.edge_errors().max() > 1e-2 and dforms.boundary_gap(guess) > 1e-2


def test_quarter_turn_and_bad_input():
    P = np.array([(2, 0), (0, 1), (-2, 0), (0, -1)], float)
    np.testing.assert_allclose(dforms.quarter_turn(P), [(-1, 0), (0, -2), (1, 0), (0, 2)])
    with pytest.raises(ValueError, match="divisible by 4"):
        dforms.quarter_turn(P[:3])
    with pytest.raises(ValueError, match="equal lengths"):
        dforms.glue(RHOMBUS, 2 * RHOMBUS)
    with pytest.raises(ValueError, match="too large"):
        dforms.saddle_seam(8, 5.0, 1.0)
    with pytest.raises(ValueError, match="max_rounds must be"):
        dforms.glue(RHOMBUS, np.roll(RHOMBUS, -1, axis=0), max_rounds=0)
    with pytest.raises(ValueError, match="inside the hull"):
        dforms.hull_pieces(np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [.1, .1, .1]]))
