"""Regularization of chapters 03 and 04, one concept a module:

- :mod:`.penalties`: the penalties ``R(w)`` (L2, L1, smooth L1, elastic net);
- :mod:`.steps`: one descent step with a penalty (weight decay, subgradient, soft-thresholding, proximal);
- :mod:`.early_stopping`: :class:`EarlyStopping`;
- :mod:`.linear`: a fitted linear model and its errors (MSE and ½·MSE);
- :mod:`.ridge`: ridge regression in closed form;
- :mod:`.lasso`: the lasso and the elastic net (descent methods, FISTA, ``lambda_max``, the path);
- :mod:`.polynomials`: polynomial features and polynomial fits;
- :mod:`.noise_injection`: Gaussian noise on the inputs;
- :mod:`.augmentation`: images shifted by a few pixels (data augmentation);
- :mod:`.linear_training`: linear regression trained by a PyTorch optimizer.

Conventions (as in the book's notation page): the L2 penalty is ``R(w) = 1/2 ||w||_2^2``, whose gradient
is ``w``; the elastic net mixes ``rho ||w||_1 + (1 - rho) 1/2 ||w||_2^2`` with ``rho = l1_ratio``; a
regression objective is the mean of ``1/2 (y_i - w^T x_i - b)^2`` plus ``lam * R(w)``, the bias
never penalized. With these conventions ``lam`` is scikit-learn's ``alpha`` for ``Lasso`` and
``ElasticNet``, and ``n * lam`` its ``alpha`` for ``Ridge``.
"""

from .augmentation import random_shift
from .early_stopping import EarlyStopping
from .lasso import (L1_METHODS, default_tolerance, elastic_net_objective, fit_elastic_net, l1_descent,
                    lasso_lambda_max, lasso_path)
from .linear import LinearFit, half_squared_error, squared_error
from .linear_training import LinearRegressionRun, train_linear_regression
from .noise_injection import augment_with_noise
from .penalties import Params, elastic_net_penalty, l1_penalty, l2_penalty, smooth_l1_penalty
from .polynomials import POLYNOMIAL_BASES, PolynomialFit, fit_polynomial, polynomial_errors, polynomial_features
from .ridge import fit_ridge
from .steps import l1_proximal_step, l1_subgradient_step, soft_threshold, weight_decay_step

__all__ = [
    "EarlyStopping", "L1_METHODS", "LinearFit", "LinearRegressionRun", "POLYNOMIAL_BASES", "Params", "PolynomialFit",
    "augment_with_noise", "default_tolerance", "elastic_net_objective", "elastic_net_penalty", "fit_elastic_net",
    "fit_polynomial", "fit_ridge", "half_squared_error", "l1_descent", "l1_penalty", "l1_proximal_step",
    "l1_subgradient_step", "l2_penalty", "lasso_lambda_max", "lasso_path", "polynomial_errors", "polynomial_features",
    "random_shift", "smooth_l1_penalty", "soft_threshold", "squared_error", "train_linear_regression", "weight_decay_step",
]
