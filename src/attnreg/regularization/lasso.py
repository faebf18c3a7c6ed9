"""The lasso and the elastic net: subgradient and proximal descent, the exact solution by accelerated
proximal gradient (FISTA), the threshold ``lambda_max`` and the lasso path."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

import torch

from .._validation import check_choice, check_int, check_positive, check_regression_data, check_tensor
from .linear import LinearFit, _center, _with_bias, half_squared_error
from .penalties import _check_l1_ratio, elastic_net_penalty
from .steps import l1_proximal_step, l1_subgradient_step, soft_threshold


def elastic_net_objective(X: torch.Tensor, y: torch.Tensor, fit: LinearFit, lam: float, l1_ratio: float = 1.0
                          ) -> float:
    """``J = 1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam * (rho ||w||_1 + (1 - rho) 1/2 ||w||^2)``, ``rho = l1_ratio``."""
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    penalty = elastic_net_penalty(fit.weight, l1_ratio)
    return (half_squared_error(fit.weight, fit.bias, X, y) + lam * penalty).item()


L1_METHODS = ("subgradient", "proximal")


def l1_descent(X: torch.Tensor, y: torch.Tensor, lam: float, *, method: str, lr: float, steps: int,
               fit_intercept: bool = True) -> tuple[LinearFit, list[float]]:
    """Full-batch descent on the lasso objective ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam ||w||_1`` from ``w = 0``.

    ``method="subgradient"`` takes :func:`l1_subgradient_step`, ``"proximal"`` :func:`l1_proximal_step`.
    Returns the final fit and the objective before each step and after the last.
    """
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    method = check_choice("method", method, L1_METHODS)
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, minimum=1)
    Xc, yc, x_mean, y_mean = _center(X, y, fit_intercept)
    step = l1_subgradient_step if method == "subgradient" else l1_proximal_step
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
    objectives = []
    for _ in range(steps):
        residual = Xc @ w - yc
        objectives.append((0.5 * residual.pow(2).mean() + lam * w.abs().sum()).item())
        w = step(w, Xc.T @ residual / len(X), lr, lam)
    objectives.append((0.5 * (Xc @ w - yc).pow(2).mean() + lam * w.abs().sum()).item())
    return _with_bias(w, x_mean, y_mean), objectives


def default_tolerance(Xc: torch.Tensor, yc: torch.Tensor) -> float:
    """The tolerance of :func:`fit_elastic_net` when none is given: ``max(1e-10, 10 eps s)``.

    ``eps`` is the machine epsilon of the data's dtype and ``s = max_j sum_i |x_ij| |y_i| / n`` the size of the
    gradient of the data term at ``w = 0`` (centred data), the scale of the rounding errors of every gradient. In
    float64 this is 1e-10 for any data of ordinary scale; in float32 (PyTorch's default) about ``1e-6 s``, which
    float32 arithmetic can reach (a fixed 1e-10 is below its rounding error, so the solver would run until
    ``max_iter``).
    """
    scale = (Xc.abs().T @ yc.abs()).max().item() / len(Xc) if Xc.numel() else 0.0
    return max(1e-10, 10 * torch.finfo(Xc.dtype).eps * scale)


def fit_elastic_net(X: torch.Tensor, y: torch.Tensor, lam: float, l1_ratio: float = 1.0, *,
                    fit_intercept: bool = True, tol: float | None = None, max_iter: int = 100_000,
                    init: torch.Tensor | None = None, data_lipschitz: float | None = None) -> LinearFit:
    """Minimise ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam (rho ||w||_1 + (1 - rho) 1/2 ||w||^2)`` (the lasso
    when ``l1_ratio = rho = 1``) by accelerated proximal gradient descent (FISTA with restarts).

    The smooth part ``f`` has an ``L``-Lipschitz gradient with ``L = s_max(X)^2 / n + lam (1 - rho)``; each step
    is ``w <- soft_threshold(z - grad f(z) / L, lam rho / L)`` at the extrapolated point ``z``, and costs one
    gradient: ``grad f`` is affine, so ``grad f(z)`` is extrapolated from ``grad f(w)`` like ``z`` from ``w``.
    It stops when the optimality conditions hold to ``tol``: ``|g_j + lam rho sign(w_j)| <= tol`` where
    ``w_j != 0`` and ``|g_j| <= lam rho + tol`` where ``w_j = 0``, ``g = grad f(w)``; it warns if ``max_iter`` runs
    out. ``tol=None`` scales the tolerance with the dtype (:func:`default_tolerance`: 1e-10 in float64).
    ``init`` is a warm start for ``w``. ``data_lipschitz`` is ``s_max(Xc)^2 / n`` when the caller knows it
    already (:func:`lasso_path` computes it once for the whole path instead of one SVD per ``lam``).
    """
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    l1_ratio = _check_l1_ratio(l1_ratio)
    if tol is not None:
        tol = check_positive("tol", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    Xc, yc, x_mean, y_mean = _center(X, y, fit_intercept)
    if tol is None:
        tol = default_tolerance(Xc, yc)
    n, l1, l2 = len(X), lam * l1_ratio, lam * (1 - l1_ratio)
    if data_lipschitz is None:
        data_lipschitz = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / n
    else:
        data_lipschitz = check_positive("data_lipschitz", data_lipschitz, allow_zero=True)
    lipschitz = data_lipschitz + l2
    if lipschitz == 0:  # X is constant: nothing to fit
        return _with_bias(torch.zeros(X.shape[1], dtype=X.dtype, device=X.device), x_mean, y_mean)
    if init is None:
        w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
    else:
        w = check_tensor("init", init, ndim=1, floating=True).to(X.dtype).clone()
        if len(w) != X.shape[1]:
            raise ValueError(f"init must have {X.shape[1]} entries (one per column of X), got shape {tuple(init.shape)}")

    def gradient(v: torch.Tensor) -> torch.Tensor:
        return Xc.T @ (Xc @ v - yc) / n + l2 * v

    def violation(v: torch.Tensor, g: torch.Tensor) -> float:
        return torch.where(v != 0, (g + l1 * torch.sign(v)).abs(), torch.clamp(g.abs() - l1, min=0.0)).max().item()

    # The gradient is affine, so at z = w + beta (w - w_prev) it is g + beta (g - g_prev): one gradient per step.
    g = gradient(w)
    z, grad_z, momentum = w, g, 1.0
    for _ in range(max_iter):
        if violation(w, g) <= tol:
            return _with_bias(w, x_mean, y_mean)
        w_next = soft_threshold(z - grad_z / lipschitz, l1 / lipschitz)
        g_next = gradient(w_next)
        if torch.dot(z - w_next, w_next - w).item() > 0:  # the momentum points uphill: restart it
            momentum = 1.0
        momentum_next = (1 + math.sqrt(1 + 4 * momentum**2)) / 2
        beta = (momentum - 1) / momentum_next
        z, grad_z = w_next + beta * (w_next - w), g_next + beta * (g_next - g)
        w, g, momentum = w_next, g_next, momentum_next
    warnings.warn(f"fit_elastic_net stopped after max_iter={max_iter} iterations with an optimality violation "
                  f"of {violation(w, g):.3g} > tol={tol:g}", RuntimeWarning, stacklevel=2)
    return _with_bias(w, x_mean, y_mean)


def lasso_lambda_max(X: torch.Tensor, y: torch.Tensor, fit_intercept: bool = True) -> float:
    """The smallest ``lam`` at which the lasso solution is ``w = 0``: ``max_j |x_j^T y| / n`` on centred data.

    At ``w = 0`` the gradient of the data term is ``-X^T y / n``, and 0 is optimal exactly when every
    ``|x_j^T y| / n <= lam``.
    """
    X, y = check_regression_data(X, y)
    Xc, yc, _, _ = _center(X, y, fit_intercept)
    return (Xc.T @ yc).abs().max().item() / len(X)


def lasso_path(X: torch.Tensor, y: torch.Tensor, lams: Iterable[float], l1_ratio: float = 1.0, *,
               fit_intercept: bool = True, tol: float | None = None) -> torch.Tensor:
    """The weights of :func:`fit_elastic_net` for each ``lam`` in ``lams``, shape ``(len(lams), d)``.

    The values are solved from the largest ``lam`` down, each warm-started from the previous solution; the
    Lipschitz constant of the data term is computed once.
    """
    lams = [check_positive(f"lams[{i}]", lam, allow_zero=True) for i, lam in enumerate(lams)]
    if not lams:
        raise ValueError("lams must hold at least one value, got none")
    X, y = check_regression_data(X, y)
    weights = torch.empty(len(lams), X.shape[1], dtype=X.dtype, device=X.device)
    Xc = _center(X, y, fit_intercept)[0]
    data_lipschitz = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / len(X)   # the same for every lam
    w = None
    for i in sorted(range(len(lams)), key=lambda i: -lams[i]):
        w = fit_elastic_net(X, y, lams[i], l1_ratio, fit_intercept=fit_intercept, tol=tol, init=w,
                            data_lipschitz=data_lipschitz).weight
        weights[i] = w
    return weights
