"""Ridge regression in closed form."""

from __future__ import annotations

import torch

from .._validation import check_positive, check_regression_data
from .linear import LinearFit, _center, _with_bias


def fit_ridge(X: torch.Tensor, y: torch.Tensor, lam: float, fit_intercept: bool = True) -> LinearFit:
    """Minimise ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam 1/2 ||w||^2`` in closed form.

    ``w = (X^T X / n + lam I)^{-1} X^T y / n`` on centred data, computed from the SVD ``X = U S V^T`` as
    ``V diag(s / (s^2 + n lam)) U^T y``. With ``lam = 0`` this is the least-squares solution of smallest
    norm (directions with ``s`` below ``max(n, d) * eps * s_max`` are dropped), defined even when ``d > n``.
    """
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    Xc, yc, x_mean, y_mean = _center(X, y, fit_intercept)
    U, s, Vh = torch.linalg.svd(Xc, full_matrices=False)
    if lam > 0:
        gain = s / (s.pow(2) + len(X) * lam)
    else:
        cutoff = max(X.shape) * torch.finfo(X.dtype).eps * s.max()
        gain = torch.where(s > cutoff, 1.0 / s.clamp_min(cutoff), torch.zeros_like(s))
    w = Vh.T @ (gain * (U.T @ yc))
    return _with_bias(w, x_mean, y_mean)
