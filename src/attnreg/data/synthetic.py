"""Synthetic data sets generated in code, for experiments whose ground truth is known."""

from __future__ import annotations

import torch

from .._validation import check_int, check_positive, check_real, check_tensor


def synthetic_regression(
    w: torch.Tensor,
    b: float,
    n: int,
    noise_std: float = 0.01,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` examples of the linear model y = X w + b + noise.

    Features are standard normal, ``X`` of shape ``(n, d)`` with ``d = len(w)``; the noise is
    normal with standard deviation ``noise_std``. Returns ``(X, y)`` with ``y`` of shape ``(n,)``.
    """
    w = check_tensor("w", w, ndim=1, floating=True)
    b = check_real("b", b)
    n = check_int("n", n, minimum=1)
    noise_std = check_positive("noise_std", noise_std, allow_zero=True)
    X = torch.randn(n, w.shape[0], generator=generator, dtype=w.dtype)
    noise = torch.randn(n, generator=generator, dtype=w.dtype) * noise_std
    return X, X @ w + b + noise
