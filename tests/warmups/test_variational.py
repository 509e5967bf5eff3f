"""book.warmups.variational against independent references: quadrature, geometry, closed
forms, and a dense solve of a quadratic problem."""

import math

import numpy as np
import pytest
import torch
from scipy.integrate import quad

from book.warmups import variational as va


def test_cycloid_through_hits_the_point_and_inverts_x():
    cyc = va.cycloid_through(1.0, 0.6)
    x, y = cyc.xy(cyc.theta_end)
    assert abs(x - 1.0) < 1e-12 and abs(y - 0.6) < 1e-12
    theta = np.linspace(0.01, cyc.theta_end, 50)
    xs, ys = cyc.xy(theta)
    np.testing.assert_allclose(cyc.y_at(xs), ys, atol=1e-12)
    with pytest.raises(ValueError, match="X must be"):
        va.cycloid_through(-1.0, 0.5)


def test_cycloid_time_against_quadrature_of_the_time_integral():
    cyc = va.cycloid_through(2.0, 1.0)
    # dt = ds / sqrt(2 g y) along the parametrisation, integrated independently
    def integrand(th):
        dx, dy = cyc.R * (1 - math.cos(th)), cyc.R * math.sin(th)
        return math.hypot(dx, dy) / math.sqrt(2 * va.G * cyc.R * (1 - math.cos(th)))
    ref = quad(integrand, 0, cyc.theta_end, limit=200)[0]
    assert abs(cyc.time() - ref) < 1e-9


def test_travel_time_of_a_straight_line_matches_its_closed_form():
    X, Y = 1.5, 0.4
    T = va.travel_time(lambda s: (X * s, Y * s, X, Y), 1.0)
    assert abs(T - math.sqrt(2 * (X**2 + Y**2) / (va.G * Y))) < 1e-11


def test_polygon_time_against_quadrature_along_each_segment():
    x = torch.tensor([0.0, 0.2, 0.5, 1.0], dtype=torch.float64)
    y = torch.tensor([0.0, 0.3, 0.5, 0.45], dtype=torch.float64)
    total = 0.0
    for i in range(3):
        x0, y0, x1, y1 = float(x[i]), float(y[i]), float(x[i + 1]), float(y[i + 1])
        length = math.hypot(x1 - x0, y1 - y0)
        # straight segment: speed sqrt(2 g y(s)), y linear in the arc length s
        total += quad(lambda s: 1 / math.sqrt(2 * va.G * (y0 + (y1 - y0) * s / length)),
                      0, length)[0]
    assert abs(float(va.polygon_time(x, y)) - total) < 1e-9


def test_great_circle_lies_in_a_plane_through_the_centre():
    a, b = va.great_circle(2.0, 0.3, 0.9)
    phi = np.linspace(0, 2.0, 7)
    theta = np.arctan(a * np.sin(phi) + b * np.cos(phi))
    assert abs(theta[0] - 0.3) < 1e-12 and abs(theta[-1] - 0.9) < 1e-12
    pts = np.stack([np.cos(theta) * np.cos(phi), np.cos(theta) * np.sin(phi), np.sin(theta)], 1)
    # all points in one plane through 0: rank 2
    assert np.linalg.svd(pts, compute_uv=False)[-1] < 1e-12
    with pytest.raises(ValueError, match="phi_end"):
        va.great_circle(4.0, 0.1, 0.2)


def test_sphere_length_of_an_equator_arc_and_a_meridian():
    phi = torch.linspace(0, 1.0, 11, dtype=torch.float64)
    assert abs(float(va.sphere_length(phi, torch.zeros(11, dtype=torch.float64))) - 1.0) < 1e-14
    theta = torch.linspace(0, 0.7, 11, dtype=torch.float64)
    assert abs(float(va.sphere_length(torch.zeros(11, dtype=torch.float64), theta)) - 0.7) < 1e-14


def test_catenary_has_the_requested_length():
    c = va.catenary(1.0, 3.0)
    length = quad(lambda x: math.cosh(x / c), -1, 1)[0]  # sqrt(1 + sinh^2) = cosh
    assert abs(length - 3.0) < 1e-10
    with pytest.raises(ValueError, match="length must be"):
        va.catenary(1.0, 1.5)  # shorter than the span


def test_chain_energy_length_of_a_straight_chain():
    x = torch.linspace(0, 3, 5, dtype=torch.float64)
    y = 0.5 * x  # length 3 sqrt(1.25), energy int y ds = sqrt(1.25) * 9/4
    energy, length = va.chain_energy_length(x, y)
    assert abs(float(length) - 3 * math.sqrt(1.25)) < 1e-14
    assert abs(float(energy) - math.sqrt(1.25) * 9 / 4) < 1e-14


def test_sine_basis_diagonalises_the_second_difference():
    n = 12
    B = va.sine_basis(n)
    D = 2 * torch.eye(n - 1, dtype=torch.float64) - torch.diag(torch.ones(n - 2), 1) \
        - torch.diag(torch.ones(n - 2), -1)
    torch.testing.assert_close(B.T @ D @ B, torch.eye(n - 1, dtype=torch.float64),
                               rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        va.sine_basis(1)


def test_minimise_solves_a_quadratic_like_a_dense_solver():
    # sum (y_{i+1} - y_i)^2 / 2 - sum f_i y_i with fixed ends: D y = f on the interior
    n = 20
    f = torch.linspace(-1, 1, n + 1, dtype=torch.float64) ** 2
    y0 = torch.zeros(n + 1, dtype=torch.float64)
    y0[-1] = 1.0

    def loss(y):
        return 0.5 * (torch.diff(y) ** 2).sum() - (f[1:-1] * y[1:-1]).sum()

    y, evals = va.minimise(loss, y0)
    D = 2 * np.eye(n - 1) - np.eye(n - 1, k=1) - np.eye(n - 1, k=-1)
    rhs = f[1:-1].numpy().copy()
    rhs[-1] += 1.0  # the fixed end y_n = 1
    np.testing.assert_allclose(y[1:-1].numpy(), np.linalg.solve(D, rhs), atol=1e-9)
    assert y[0] == 0 and y[-1] == 1 and evals > 0
    with pytest.raises(ValueError, match="at least 3 nodes"):
        va.minimise(loss, torch.zeros(2, dtype=torch.float64))


def test_minimise_constrained_finds_the_multiplier():
    # minimise y1 + y2 (fixed ends 0) subject to y1^2 + y2^2 = 2: y1 = y2 = -1,
    # grad E = lam grad g gives 1 = lam * 2 y_i, lam = -1/2
    y0 = torch.tensor([0.0, -0.5, -0.2, 0.0], dtype=torch.float64)
    y, lam, rounds = va.minimise_constrained(lambda y: y[1] + y[2],
                                             lambda y: y[1] ** 2 + y[2] ** 2 - 2, y0, mu=10.0)
    torch.testing.assert_close(y[1:3], torch.tensor([-1.0, -1.0], dtype=torch.float64),
                               rtol=0, atol=1e-7)
    assert abs(lam + 0.5) < 1e-6 and rounds < 30
