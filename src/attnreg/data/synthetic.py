"""Synthetic data sets generated in code, for experiments whose ground truth is known."""

from __future__ import annotations

import torch

from .._validation import check_generator, check_int, check_positive, check_real, check_tensor


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


def sine_regression(n: int, low: float = -3.0, high: float = 3.0, noise_std: float = 0.1,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points ``x ~ Uniform[low, high]``, ``y = sin(x) + x / 2 + noise``, shapes ``(n, 1)``."""
    n = check_int("n", n, minimum=1)
    noise_std = check_positive("noise_std", noise_std, allow_zero=True)
    low, high = check_real("low", low), check_real("high", high)
    if not low < high:
        raise ValueError(f"low must be below high, got low={low!r} and high={high!r}")
    generator = check_generator(generator)
    x = low + (high - low) * torch.rand(n, 1, generator=generator)
    return x, torch.sin(x) + x / 2 + noise_std * torch.randn(n, 1, generator=generator)
