"""Part III, regularisation and robustness: the code of the chapter ``lipschitz_constraint``
(spectral norms, power iteration, Lipschitz bounds and measured sensitivity, in
``lipschitz``)."""
