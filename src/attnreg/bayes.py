"""The Bayesian view of regularization: penalties as priors, regularized solutions as MAP estimates.

The model is linear regression without a bias term, ``y_i = theta^T x_i + eps_i`` with independent
noise ``eps_i ~ N(0, sigma^2)``. The objective convention of chapter 05 is

    J(theta) = sum_i (y_i - theta^T x_i)^2 + lambda * R(theta),

with ``R = ||theta||_2^2`` for a Gaussian prior ``theta_j ~ N(0, tau^2)`` (``lambda = sigma^2 / tau^2``)
and ``R = ||theta||_1`` for a Laplace prior ``theta_j ~ Laplace(0, kappa)`` (``lambda = 2 sigma^2 / kappa``).
In both cases ``-log p(y | X, theta) - log p(theta) = J(theta) / (2 sigma^2) + const``.

A ``prior`` argument takes one of

- ``None``: a flat (improper) prior, ``log p(theta) = 0``; the MAP estimate is the maximum-likelihood one;
- ``"gaussian"``: ``theta_j ~ N(0, tau^2)``, ``scale = tau``;
- ``"laplace"``: ``theta_j ~ Laplace(0, kappa)``, density ``exp(-|theta_j| / kappa) / (2 kappa)``, ``scale = kappa``;
- ``"elastic_net"``: density proportional to the product of the two,
  ``exp(-theta_j^2 / (2 tau^2) - |theta_j| / kappa) / Z(tau, kappa)``, ``scale = (tau, kappa)``.

The Laplace scale is written ``kappa`` (``b`` is a bias throughout the course). Pictures of the three
densities in two dimensions are in :mod:`attnreg.bayes_plots`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ._validation import check_choice, check_positive, check_regression_data, check_tensor
from .regularization import fit_elastic_net, fit_ridge

PRIORS = (None, "gaussian", "laplace", "elastic_net")


# --------------------------------------------------------------------------------------------
# Penalty strengths
# --------------------------------------------------------------------------------------------

def gaussian_prior_lambda(sigma: float, tau: float) -> float:
    """Ridge strength of the prior ``N(0, tau^2)`` under noise ``N(0, sigma^2)``: ``lambda = sigma^2 / tau^2``."""
    sigma = check_positive("sigma", sigma)
    tau = check_positive("tau", tau)
    return sigma**2 / tau**2


def laplace_prior_lambda(sigma: float, kappa: float) -> float:
    """Lasso strength of the prior ``Laplace(0, kappa)`` under noise ``N(0, sigma^2)``: ``lambda = 2 sigma^2 / kappa``."""
    sigma = check_positive("sigma", sigma)
    kappa = check_positive("kappa", kappa)
    return 2 * sigma**2 / kappa


# --------------------------------------------------------------------------------------------
# Densities
# --------------------------------------------------------------------------------------------

def _check_theta(theta: torch.Tensor, d: int) -> torch.Tensor:
    theta = check_tensor("theta", theta, min_ndim=1, floating=True)
    if theta.shape[-1] != d:
        raise ValueError(f"theta must have {d} entries in its last dimension (one per column of X), "
                         f"got shape {tuple(theta.shape)}")
    return theta


def _check_prior(prior: str | None, scale: object) -> tuple[float, float] | float | None:
    """Validate ``prior`` and its ``scale``; return the scale as floats (``(tau, kappa)`` for elastic net)."""
    check_choice("prior", prior, PRIORS)
    if prior is None:
        if scale is not None:
            raise ValueError(f"scale must be None when prior is None (a flat prior has no scale), got {scale!r}")
        return None
    if prior == "gaussian":
        return check_positive("scale (tau of the Gaussian prior)", scale)
    if prior == "laplace":
        return check_positive("scale (kappa of the Laplace prior)", scale)
    if not (isinstance(scale, Sequence) and len(scale) == 2):
        raise ValueError(f"scale must be a pair (tau, kappa) when prior is 'elastic_net', got {scale!r}")
    return (check_positive("scale[0] (tau of the elastic-net prior)", scale[0]),
            check_positive("scale[1] (kappa of the elastic-net prior)", scale[1]))


def elastic_net_log_normalizer(tau: float, kappa: float) -> float:
    """``log Z`` for ``Z = int exp(-t^2 / (2 tau^2) - |t| / kappa) dt = sqrt(2 pi) tau erfcx(tau / (sqrt(2) kappa))``.

    ``erfcx(x) = exp(x^2) erfc(x)`` keeps the value finite for any ``tau / kappa``.
    """
    tau = check_positive("tau", tau)
    kappa = check_positive("kappa", kappa)
    x = torch.tensor(tau / (math.sqrt(2) * kappa), dtype=torch.float64)
    return math.log(math.sqrt(2 * math.pi) * tau) + math.log(torch.special.erfcx(x).item())


def log_likelihood(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """``log p(y | X, theta) = -n/2 log(2 pi sigma^2) - ||y - X theta||^2 / (2 sigma^2)``.

    ``theta`` has shape ``(..., d)``; the result has shape ``theta.shape[:-1]``.
    """
    X, y = check_regression_data(X, y)
    theta = _check_theta(theta, X.shape[1])
    sigma = check_positive("sigma", sigma)
    n = X.shape[0]
    squared_error = (y - theta @ X.T).pow(2).sum(dim=-1)
    return -0.5 * n * math.log(2 * math.pi * sigma**2) - squared_error / (2 * sigma**2)


def log_prior(theta: torch.Tensor, prior: str | None, scale: object = None) -> torch.Tensor:
    """``log p(theta)`` summed over the ``d`` entries of ``theta`` (shape ``(..., d)``); see the module doc.

    Gaussian: ``-d/2 log(2 pi tau^2) - ||theta||_2^2 / (2 tau^2)``. Laplace: ``-d log(2 kappa) - ||theta||_1 / kappa``.
    Elastic net: ``-d log Z(tau, kappa) - ||theta||_2^2 / (2 tau^2) - ||theta||_1 / kappa``. ``None``: 0.
    """
    theta = check_tensor("theta", theta, min_ndim=1, floating=True)
    scale = _check_prior(prior, scale)
    d = theta.shape[-1]
    if prior is None:
        return torch.zeros(theta.shape[:-1], dtype=theta.dtype, device=theta.device)
    if prior == "gaussian":
        return -0.5 * d * math.log(2 * math.pi * scale**2) - theta.pow(2).sum(dim=-1) / (2 * scale**2)
    if prior == "laplace":
        return -d * math.log(2 * scale) - theta.abs().sum(dim=-1) / scale
    tau, kappa = scale
    return (-d * elastic_net_log_normalizer(tau, kappa)
            - theta.pow(2).sum(dim=-1) / (2 * tau**2) - theta.abs().sum(dim=-1) / kappa)


def neg_log_posterior(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, sigma: float,
                      prior: str | None = None, scale: object = None) -> torch.Tensor:
    """``-log p(y | X, theta) - log p(theta)``, that is ``-log p(theta | X, y)`` up to ``log p(y | X)``.

    Every constant is kept, so the value is a true negative log density. ``prior`` and ``scale`` as in the
    module doc (``prior=None``: the negative log-likelihood). Differentiable in ``theta``, which may be a
    batch of shape ``(..., d)``.
    """
    X, y = check_regression_data(X, y)
    theta = _check_theta(theta, X.shape[1])
    return -log_likelihood(theta, X, y, sigma) - log_prior(theta, prior, scale)


# --------------------------------------------------------------------------------------------
# Estimators: chapter 04's solvers, with lambda translated from J to their mean-loss convention
# --------------------------------------------------------------------------------------------

def least_squares_mle(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The maximum-likelihood estimate under Gaussian noise: ``argmin ||y - X theta||^2`` (least squares),
    the one of smallest norm if there are several (:func:`~attnreg.regularization.fit_ridge` with ``lam = 0``)."""
    X, y = check_regression_data(X, y)
    return fit_ridge(X, y, 0.0, fit_intercept=False).weight


def ridge_map(X: torch.Tensor, y: torch.Tensor, sigma: float, tau: float) -> torch.Tensor:
    """MAP estimate under the prior ``N(0, tau^2)``: ``(X^T X + lambda I)^{-1} X^T y``, ``lambda = sigma^2 / tau^2``.

    Computed in closed form by :func:`~attnreg.regularization.fit_ridge`, whose objective
    ``1/n sum_i 1/2 (y_i - theta^T x_i)^2 + lam 1/2 ||theta||^2`` is ``J / (2n)`` for ``lam = lambda / n``.
    """
    X, y = check_regression_data(X, y)
    lam = gaussian_prior_lambda(sigma, tau)
    return fit_ridge(X, y, lam / len(X), fit_intercept=False).weight


def _penalized_least_squares(X: torch.Tensor, y: torch.Tensor, l2: float, l1: float, tol: float,
                             max_iter: int) -> torch.Tensor:
    """``argmin ||y - X theta||^2 + l2 ||theta||_2^2 + l1 ||theta||_1`` by :func:`~attnreg.regularization.fit_elastic_net`.

    Divided by ``2n`` this is its objective ``1/n sum_i 1/2 (...)^2 + lam (rho ||theta||_1 + (1 - rho) 1/2 ||theta||^2)``
    with ``lam = l1 / (2n) + l2 / n`` and ``rho = l1 / (2n lam)`` (scikit-learn's ``alpha`` and ``l1_ratio``).
    """
    n = len(X)
    lam = l1 / (2 * n) + l2 / n
    return fit_elastic_net(X, y, lam, l1 / (2 * n * lam), fit_intercept=False, tol=tol, max_iter=max_iter).weight


def lasso_map(X: torch.Tensor, y: torch.Tensor, sigma: float, kappa: float, *,
              tol: float = 1e-10, max_iter: int = 100_000) -> torch.Tensor:
    """MAP estimate under the prior ``Laplace(0, kappa)``: ``argmin ||y - X theta||^2 + lambda ||theta||_1`` with
    ``lambda = 2 sigma^2 / kappa`` (the lasso), by accelerated proximal gradient descent (soft-thresholding steps).

    ``tol`` and ``max_iter`` are those of :func:`~attnreg.regularization.fit_elastic_net` (``tol`` bounds the
    violation of the optimality conditions of ``J / (2n)``).
    """
    X, y = check_regression_data(X, y)
    return _penalized_least_squares(X, y, 0.0, laplace_prior_lambda(sigma, kappa), tol, max_iter)


def elastic_net_map(X: torch.Tensor, y: torch.Tensor, sigma: float, tau: float, kappa: float, *,
                    tol: float = 1e-10, max_iter: int = 100_000) -> torch.Tensor:
    """MAP estimate under the elastic-net prior ``exp(-theta_j^2 / (2 tau^2) - |theta_j| / kappa) / Z``:
    ``argmin ||y - X theta||^2 + (sigma^2 / tau^2) ||theta||_2^2 + (2 sigma^2 / kappa) ||theta||_1``
    (``tol`` and ``max_iter`` as in :func:`lasso_map`)."""
    X, y = check_regression_data(X, y)
    return _penalized_least_squares(X, y, gaussian_prior_lambda(sigma, tau), laplace_prior_lambda(sigma, kappa),
                                    tol, max_iter)


# --------------------------------------------------------------------------------------------
# Beyond MAP: the whole posterior under the Gaussian prior, its predictions and its evidence
# --------------------------------------------------------------------------------------------

def gaussian_posterior(X: torch.Tensor, y: torch.Tensor, sigma: float, tau: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and covariance of ``p(theta | X, y)`` under noise ``N(0, sigma^2)`` and the prior ``N(0, tau^2 I)``.

    The log posterior is quadratic in ``theta``, so the posterior is Gaussian with precision
    ``A = X^T X / sigma^2 + I / tau^2``, covariance ``A^{-1} = sigma^2 (X^T X + lambda I)^{-1}`` and mean
    ``A^{-1} X^T y / sigma^2 = (X^T X + lambda I)^{-1} X^T y``, the ridge (MAP) estimate, ``lambda = sigma^2 / tau^2``.
    Computed by a Cholesky factorisation of ``A``; returns ``(mean (d,), covariance (d, d))``.
    """
    X, y = check_regression_data(X, y)
    sigma = check_positive("sigma", sigma)
    tau = check_positive("tau", tau)
    d = X.shape[1]
    precision = X.T @ X / sigma**2 + torch.eye(d, dtype=X.dtype, device=X.device) / tau**2
    factor = torch.linalg.cholesky(precision)
    covariance = torch.cholesky_inverse(factor)
    mean = torch.cholesky_solve((X.T @ y / sigma**2).unsqueeze(-1), factor).squeeze(-1)
    return mean, covariance


def log_evidence(X: torch.Tensor, y: torch.Tensor, sigma: float, tau: float) -> float:
    """``log p(y | X)``, the marginal likelihood of the data under noise ``N(0, sigma^2)`` and the prior
    ``N(0, tau^2 I)``: integrating ``theta`` out, ``y ~ N(0, C)`` with ``C = sigma^2 I + tau^2 X X^T``, so

        log p(y | X) = -1/2 y^T C^{-1} y - 1/2 log det C - n/2 log(2 pi).

    Maximising it over ``tau`` (or ``lambda = sigma^2 / tau^2``) is *empirical Bayes*: the data choose the prior.
    Computed in ``X``'s dtype by a Cholesky factorisation of ``C`` (``n x n``).
    """
    X, y = check_regression_data(X, y)
    sigma = check_positive("sigma", sigma)
    tau = check_positive("tau", tau)
    n = X.shape[0]
    C = sigma**2 * torch.eye(n, dtype=X.dtype, device=X.device) + tau**2 * (X @ X.T)
    factor = torch.linalg.cholesky(C)
    solved = torch.cholesky_solve(y.unsqueeze(-1), factor).squeeze(-1)
    return (-0.5 * (y @ solved) - factor.diagonal().log().sum() - 0.5 * n * math.log(2 * math.pi)).item()


def predictive(X_new: torch.Tensor, mean: torch.Tensor, covariance: torch.Tensor,
               sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior predictive of ``y = theta^T x + eps`` at the rows of ``X_new``: Gaussian with mean ``X_new mean``
    and variance ``x^T covariance x + sigma^2`` (the parameters' uncertainty plus the noise). Returns
    ``(mean (m,), standard deviation (m,))``."""
    X_new = check_tensor("X_new", X_new, ndim=2, floating=True)
    mean = _check_theta(mean, X_new.shape[1])
    covariance = check_tensor("covariance", covariance, ndim=2, floating=True)
    if covariance.shape != (X_new.shape[1], X_new.shape[1]):
        raise ValueError(f"covariance must have shape {(X_new.shape[1], X_new.shape[1])}, got {tuple(covariance.shape)}")
    sigma = check_positive("sigma", sigma)
    variance = ((X_new @ covariance) * X_new).sum(-1) + sigma**2
    return X_new @ mean, variance.sqrt()
