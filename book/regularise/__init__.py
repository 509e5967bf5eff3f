"""Part III, regularisation and robustness: the code of the chapter ``lipschitz_constraint``
(spectral norms, power iteration, Lipschitz bounds and measured sensitivity, in
``lipschitz``).

``adversarial``: chapters ``adversarial_training`` and ``noise_gradient_penalty_vat`` (FGSM/FGM
steps, PGD, brute-force ball search, the gradient-norm penalty, the KL Hessian and VAT's direction).
``robust_training``: the same chapters' stacked digit classifiers (adversarial, noise, gradient
penalty; semi-supervised with noise or VAT consistency) and the smooth toy classifier.
``toy_text``: chapter ``adversarial_training`` (a synthetic sentiment task, bag-of-embeddings
classifiers trained with embedding FGM).

``orthogonality``: chapter ``self_orthogonality`` (angles between filters, the law of the angle
between random directions, the self-orthogonality regulariser and its Welch-bound floor)."""
