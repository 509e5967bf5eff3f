"""Part II, optimisation as dynamics: the code of the chapters ``sgd_as_euler``,
``adaptive_learning_rates``, ``why_gradient_descent``, ``derived_optimizers`` and
``layerwise_lr_and_gradients`` (test problems, flows and the optimisers that integrate them,
steepest descent under a norm, optimisers that wrap other optimisers, layer-wise learning
rates and gradient hooks)."""
