"""The Bayesian view of regularization: penalties as priors, regularized solutions as MAP estimates.

The model is linear regression without a bias term, ``y_i = theta^T x_i + eps_i`` with independent
noise ``eps_i ~ N(0, sigma^2)``. The objective convention of chapter 05 is

    J(theta) = sum_i (y_i - theta^T x_i)^2 + lambda * R(theta),

with ``R = ||theta||_2^2`` for a Gaussian prior ``theta_j ~ N(0, tau^2)`` (``lambda = sigma^2 / tau^2``)
and ``R = ||theta||_1`` for a Laplace prior ``theta_j ~ Laplace(0, b)`` (``lambda = 2 sigma^2 / b``).
In both cases ``-log p(y | X, theta) - log p(theta) = J(theta) / (2 sigma^2) + const``.

A ``prior`` argument takes one of

- ``None``: a flat (improper) prior, ``log p(theta) = 0``; the MAP estimate is the maximum-likelihood one;
- ``"gaussian"``: ``theta_j ~ N(0, tau^2)``, ``scale = tau``;
- ``"laplace"``: ``theta_j ~ Laplace(0, b)``, density ``exp(-|theta_j| / b) / (2 b)``, ``scale = b``;
- ``"elastic_net"``: density proportional to the product of the two,
  ``exp(-theta_j^2 / (2 tau^2) - |theta_j| / b) / Z(tau, b)``, ``scale = (tau, b)``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from ._validation import check_choice, check_int, check_positive, check_real, check_same_length, check_tensor
from .regularization import soft_threshold

PRIORS = (None, "gaussian", "laplace", "elastic_net")


# --------------------------------------------------------------------------------------------
# Penalty strengths
# --------------------------------------------------------------------------------------------

def gaussian_prior_lambda(sigma: float, tau: float) -> float:
    """Ridge strength of the prior ``N(0, tau^2)`` under noise ``N(0, sigma^2)``: ``lambda = sigma^2 / tau^2``."""
    sigma = check_positive("sigma", sigma)
    tau = check_positive("tau", tau)
    return sigma**2 / tau**2


def laplace_prior_lambda(sigma: float, b: float) -> float:
    """Lasso strength of the prior ``Laplace(0, b)`` under noise ``N(0, sigma^2)``: ``lambda = 2 sigma^2 / b``."""
    sigma = check_positive("sigma", sigma)
    b = check_positive("b", b)
    return 2 * sigma**2 / b


# --------------------------------------------------------------------------------------------
# Densities
# --------------------------------------------------------------------------------------------

def _check_data(X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    X = check_tensor("X", X, ndim=2, floating=True)
    y = check_tensor("y", y, ndim=1, floating=True)
    check_same_length("X", X, "y", y)
    if y.dtype != X.dtype or y.device != X.device:
        raise ValueError(f"y must have the dtype and device of X ({X.dtype} on {X.device}), "
                         f"got {y.dtype} on {y.device}")
    return X, y


def _check_theta(theta: torch.Tensor, d: int) -> torch.Tensor:
    theta = check_tensor("theta", theta, min_ndim=1, floating=True)
    if theta.shape[-1] != d:
        raise ValueError(f"theta must have {d} entries in its last dimension (one per column of X), "
                         f"got shape {tuple(theta.shape)}")
    return theta


def _check_prior(prior: str | None, scale: object) -> tuple[float, float] | float | None:
    """Validate ``prior`` and its ``scale``; return the scale as floats (``(tau, b)`` for elastic net)."""
    check_choice("prior", prior, PRIORS)
    if prior is None:
        if scale is not None:
            raise ValueError(f"scale must be None when prior is None (a flat prior has no scale), got {scale!r}")
        return None
    if prior == "gaussian":
        return check_positive("scale (tau of the Gaussian prior)", scale)
    if prior == "laplace":
        return check_positive("scale (b of the Laplace prior)", scale)
    if not (isinstance(scale, Sequence) and len(scale) == 2):
        raise ValueError(f"scale must be a pair (tau, b) when prior is 'elastic_net', got {scale!r}")
    return (check_positive("scale[0] (tau of the elastic-net prior)", scale[0]),
            check_positive("scale[1] (b of the elastic-net prior)", scale[1]))


def elastic_net_log_normalizer(tau: float, b: float) -> float:
    """``log Z`` for ``Z = int exp(-t^2 / (2 tau^2) - |t| / b) dt = sqrt(2 pi) tau erfcx(tau / (sqrt(2) b))``.

    ``erfcx(x) = exp(x^2) erfc(x)`` keeps the value finite for any ``tau / b``.
    """
    tau = check_positive("tau", tau)
    b = check_positive("b", b)
    x = torch.tensor(tau / (math.sqrt(2) * b), dtype=torch.float64)
    return math.log(math.sqrt(2 * math.pi) * tau) + math.log(torch.special.erfcx(x).item())


def log_likelihood(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, sigma: float) -> torch.Tensor:
    """``log p(y | X, theta) = -n/2 log(2 pi sigma^2) - ||y - X theta||^2 / (2 sigma^2)``.

    ``theta`` has shape ``(..., d)``; the result has shape ``theta.shape[:-1]``.
    """
    X, y = _check_data(X, y)
    theta = _check_theta(theta, X.shape[1])
    sigma = check_positive("sigma", sigma)
    n = X.shape[0]
    squared_error = (y - theta @ X.T).pow(2).sum(dim=-1)
    return -0.5 * n * math.log(2 * math.pi * sigma**2) - squared_error / (2 * sigma**2)


def log_prior(theta: torch.Tensor, prior: str | None, scale: object = None) -> torch.Tensor:
    """``log p(theta)`` summed over the ``d`` entries of ``theta`` (shape ``(..., d)``); see the module doc.

    Gaussian: ``-d/2 log(2 pi tau^2) - ||theta||_2^2 / (2 tau^2)``. Laplace: ``-d log(2 b) - ||theta||_1 / b``.
    Elastic net: ``-d log Z(tau, b) - ||theta||_2^2 / (2 tau^2) - ||theta||_1 / b``. ``None``: 0.
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
    tau, b = scale
    return (-d * elastic_net_log_normalizer(tau, b)
            - theta.pow(2).sum(dim=-1) / (2 * tau**2) - theta.abs().sum(dim=-1) / b)


def neg_log_posterior(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, sigma: float,
                      prior: str | None = None, scale: object = None) -> torch.Tensor:
    """``-log p(y | X, theta) - log p(theta)``, that is ``-log p(theta | X, y)`` up to ``log p(y | X)``.

    Every constant is kept, so the value is a true negative log density. ``prior`` and ``scale`` as in the
    module doc (``prior=None``: the negative log-likelihood). Differentiable in ``theta``, which may be a
    batch of shape ``(..., d)``.
    """
    X, y = _check_data(X, y)
    theta = _check_theta(theta, X.shape[1])
    return -log_likelihood(theta, X, y, sigma) - log_prior(theta, prior, scale)


# --------------------------------------------------------------------------------------------
# Estimators
# --------------------------------------------------------------------------------------------

def least_squares_mle(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The maximum-likelihood estimate under Gaussian noise: ``argmin ||y - X theta||^2`` (least squares)."""
    X, y = _check_data(X, y)
    return torch.linalg.lstsq(X, y.unsqueeze(-1)).solution.squeeze(-1)


def ridge_map(X: torch.Tensor, y: torch.Tensor, sigma: float, tau: float) -> torch.Tensor:
    """MAP estimate under the prior ``N(0, tau^2)``: ``(X^T X + lambda I)^{-1} X^T y``, ``lambda = sigma^2 / tau^2``."""
    X, y = _check_data(X, y)
    lam = gaussian_prior_lambda(sigma, tau)
    eye = torch.eye(X.shape[1], dtype=X.dtype, device=X.device)
    return torch.linalg.solve(X.T @ X + lam * eye, X.T @ y)


def penalized_least_squares(X: torch.Tensor, y: torch.Tensor, l2: float = 0.0, l1: float = 0.0, *,
                            tol: float = 1e-9, max_iter: int = 100_000) -> torch.Tensor:
    """Minimise ``||y - X theta||^2 + l2 ||theta||_2^2 + l1 ||theta||_1`` by proximal gradient descent.

    With ``f = ||y - X theta||^2 + l2 ||theta||^2`` and ``L = 2 (lambda_max(X^T X) + l2)`` its gradient's
    Lipschitz constant, each step is ``theta <- soft_threshold(theta - grad f / L, l1 / L)``. It stops when
    the optimality conditions hold to ``tol``: ``|g_j + l1 sign(theta_j)| <= tol`` where ``theta_j != 0`` and
    ``|g_j| <= l1 + tol`` where ``theta_j = 0``, with ``g = grad f(theta)``; it warns if ``max_iter`` runs out.
    """
    X, y = _check_data(X, y)
    l2 = check_positive("l2", l2, allow_zero=True)
    l1 = check_positive("l1", l1, allow_zero=True)
    tol = check_positive("tol", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    gram, correlation = X.T @ X, X.T @ y
    lipschitz = 2 * (torch.linalg.eigvalsh(gram)[-1].item() + l2)
    theta = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
    for _ in range(max_iter):
        grad = 2 * (gram @ theta - correlation) + 2 * l2 * theta
        violation = torch.where(theta != 0, (grad + l1 * torch.sign(theta)).abs(),
                                torch.clamp(grad.abs() - l1, min=0.0))
        if violation.max().item() <= tol:
            return theta
        theta = soft_threshold(theta - grad / lipschitz, l1 / lipschitz)
    warnings.warn(f"penalized_least_squares stopped after max_iter={max_iter} iterations with an optimality "
                  f"violation of {violation.max().item():.3g} > tol={tol:g}", RuntimeWarning, stacklevel=2)
    return theta


def lasso_map(X: torch.Tensor, y: torch.Tensor, sigma: float, b: float, *,
              tol: float = 1e-9, max_iter: int = 100_000) -> torch.Tensor:
    """MAP estimate under the prior ``Laplace(0, b)``: ``argmin ||y - X theta||^2 + lambda ||theta||_1``,
    ``lambda = 2 sigma^2 / b`` (the lasso), by :func:`penalized_least_squares`."""
    X, y = _check_data(X, y)
    return penalized_least_squares(X, y, l1=laplace_prior_lambda(sigma, b), tol=tol, max_iter=max_iter)


def elastic_net_map(X: torch.Tensor, y: torch.Tensor, sigma: float, tau: float, b: float, *,
                    tol: float = 1e-9, max_iter: int = 100_000) -> torch.Tensor:
    """MAP estimate under the elastic-net prior ``exp(-theta_j^2 / (2 tau^2) - |theta_j| / b) / Z``:
    ``argmin ||y - X theta||^2 + (sigma^2 / tau^2) ||theta||_2^2 + (2 sigma^2 / b) ||theta||_1``."""
    X, y = _check_data(X, y)
    return penalized_least_squares(X, y, l2=gaussian_prior_lambda(sigma, tau), l1=laplace_prior_lambda(sigma, b),
                                   tol=tol, max_iter=max_iter)


# --------------------------------------------------------------------------------------------
# Pictures in two dimensions
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DensityGrid:
    """Log-likelihood, log-prior and log-posterior of a 2-D ``theta`` on a grid.

    ``theta1`` and ``theta2`` are the grid's axes; each map has shape ``(len(theta2), len(theta1))``, the
    entry ``[i, j]`` belonging to ``theta = (theta1[j], theta2[i])`` (the layout of ``plt.contour``).
    ``log_posterior = log_likelihood + log_prior``, without the constant ``-log p(y | X)``.
    """

    theta1: torch.Tensor
    theta2: torch.Tensor
    log_likelihood: torch.Tensor
    log_prior: torch.Tensor
    log_posterior: torch.Tensor

    def argmax(self, which: str = "log_posterior") -> torch.Tensor:
        """The grid point where the map ``which`` is largest, as ``(theta1, theta2)``."""
        which = check_choice("which", which, ("log_likelihood", "log_prior", "log_posterior"))
        values = getattr(self, which)
        i, j = divmod(int(values.argmax()), values.shape[1])
        return torch.stack([self.theta1[j], self.theta2[i]])


def density_grid(X: torch.Tensor, y: torch.Tensor, sigma: float, prior: str | None, scale: object = None,
                 limits: tuple[float, float] = (-2.0, 2.0), steps: int = 201) -> DensityGrid:
    """Evaluate :func:`log_likelihood`, :func:`log_prior` and their sum on a square grid over ``limits``."""
    X, y = _check_data(X, y)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 columns for a 2-D picture, got shape {tuple(X.shape)}")
    low, high = check_real("limits[0]", limits[0]), check_real("limits[1]", limits[1])
    if not low < high:
        raise ValueError(f"limits must be (low, high) with low < high, got {limits!r}")
    steps = check_int("steps", steps, minimum=2)
    axis = torch.linspace(low, high, steps, dtype=X.dtype, device=X.device)
    t2, t1 = torch.meshgrid(axis, axis, indexing="ij")
    thetas = torch.stack([t1, t2], dim=-1)
    loglik = log_likelihood(thetas, X, y, sigma)
    logprior = log_prior(thetas, prior, scale)
    return DensityGrid(axis, axis, loglik, logprior, loglik + logprior)


#: Contour levels of a log density relative to its maximum: for a Gaussian, the 1, 2, 3 and 4 sigma ellipses.
RELATIVE_LEVELS = [-8.0, -4.5, -2.0, -0.5]


def plot_density_grid(grid: DensityGrid, axes: Sequence[Axes] | None = None,
                      mle: torch.Tensor | None = None, map_estimate: torch.Tensor | None = None) -> list[Axes]:
    """Three panels, likelihood, prior and posterior: contours of each log density minus its maximum at
    ``RELATIVE_LEVELS``; the MLE (cross) and the MAP estimate (dot) are marked where given."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(10, 3.3), sharex=True, sharey=True)
    if len(axes) != 3:
        raise ValueError(f"axes must hold 3 axes (likelihood, prior, posterior), got {len(axes)}")
    t1, t2 = grid.theta1.cpu().numpy(), grid.theta2.cpu().numpy()
    maps = {"likelihood": grid.log_likelihood, "prior": grid.log_prior, "posterior": grid.log_posterior}
    for ax, (title, values) in zip(axes, maps.items()):
        relative = (values - values.max()).cpu().numpy()
        if np.ptp(relative) > 0:  # a flat prior has no contours
            ax.contourf(t1, t2, relative, levels=RELATIVE_LEVELS + [0.0], cmap="Blues", alpha=0.8)
            ax.contour(t1, t2, relative, levels=RELATIVE_LEVELS, colors="C0", linestyles="solid", linewidths=0.8)
        for point, marker, label in ((mle, "x", "MLE"), (map_estimate, "o", "MAP")):
            if point is not None:
                ax.plot(*point.detach().cpu().tolist(), marker, color="C3" if marker == "o" else "k",
                        markersize=7, label=label)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set(title=title, xlabel=r"$\theta_1$", xlim=(t1[0], t1[-1]), ylim=(t2[0], t2[-1]), aspect="equal")
    axes[0].set_ylabel(r"$\theta_2$")
    if mle is not None or map_estimate is not None:
        axes[2].legend(loc="lower right")
    return list(axes)


def plot_density_overlay(grid: DensityGrid, ax: Axes | None = None, mle: torch.Tensor | None = None,
                         map_estimate: torch.Tensor | None = None) -> Axes:
    """Likelihood (dashed), prior (dotted) and posterior (filled) contours of ``grid`` in one panel, at the
    ``RELATIVE_LEVELS`` of each log density minus its maximum; the MLE (cross) and MAP (dot) where given."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.3))
    t1, t2 = grid.theta1.cpu().numpy(), grid.theta2.cpu().numpy()
    relative = {name: (values - values.max()).cpu().numpy() for name, values in
                (("likelihood", grid.log_likelihood), ("prior", grid.log_prior), ("posterior", grid.log_posterior))}
    ax.contourf(t1, t2, relative["posterior"], levels=RELATIVE_LEVELS + [0.0], cmap="Reds", alpha=0.6)
    ax.contour(t1, t2, relative["likelihood"], levels=RELATIVE_LEVELS, colors="C0", linestyles="--", linewidths=0.8)
    if np.ptp(relative["prior"]) > 0:
        ax.contour(t1, t2, relative["prior"], levels=RELATIVE_LEVELS, colors="grey", linestyles=":", linewidths=0.8)
    ax.plot([], [], "--", color="C0", label="likelihood")
    ax.plot([], [], ":", color="grey", label="prior")
    ax.fill_between([], [], color="C3", alpha=0.5, label="posterior")
    for point, marker, color, label in ((mle, "x", "k", "MLE"), (map_estimate, "o", "C3", "MAP")):
        if point is not None:
            ax.plot(*point.detach().cpu().tolist(), marker, color=color, markersize=6, label=label)
    ax.set(xlabel=r"$\theta_1$", ylabel=r"$\theta_2$", xlim=(t1[0], t1[-1]), ylim=(t2[0], t2[-1]), aspect="equal")
    return ax
