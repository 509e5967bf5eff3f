"""Part I, mathematical warm-ups: the code of the chapter ``det_exp_trace`` (the matrix
exponential, its determinant and log-determinant estimators, in ``linalg``).

- ``extremum_analysis``: exact and discretised minimisers of three variational problems, in ``variational``.
- ``coil_reactance``: series RLC circuits, impedance and their ODEs, in ``circuits``.
- ``retroreflector``: mirrors as reflection matrices and a corner-cube ray tracer, in ``optics``.
- ``two_ellipses``: ellipse perimeters and equal-perimeter families, in ``ellipses``; two
  polygons glued into a convex polyhedron (a D-form), in ``dforms``.
"""
