"""Part I, mathematical warm-ups: the code of the chapter ``det_exp_trace`` (the matrix
exponential, its determinant and log-determinant estimators, in ``linalg``)."""
