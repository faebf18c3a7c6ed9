"""Noisy samples of a polynomial, the data of the under- and overfitting experiments (chapter 03)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .._validation import check_int, check_positive, check_real


def polynomial_data(
    coefficients: Sequence[float] | torch.Tensor,
    n: int,
    noise_std: float = 0.1,
    x_range: tuple[float, float] = (-1.0, 1.0),
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` points of ``y = c_0 + c_1 x + ... + c_K x^K + noise`` with ``x ~ Uniform(x_range)``.

    ``coefficients`` lists ``c_0, ..., c_K`` (lowest degree first, as in ``numpy.polynomial``); the
    noise is normal with standard deviation ``noise_std``. Returns ``(x, y)``, both of shape ``(n,)``.
    """
    coefficients = torch.as_tensor(coefficients, dtype=dtype)
    if coefficients.ndim != 1 or len(coefficients) == 0:
        raise ValueError(f"coefficients must be a non-empty 1-D list c_0, ..., c_K, got shape {tuple(coefficients.shape)}")
    n = check_int("n", n, minimum=1)
    noise_std = check_positive("noise_std", noise_std, allow_zero=True)
    low, high = check_real("x_range[0]", x_range[0]), check_real("x_range[1]", x_range[1])
    if not low < high:
        raise ValueError(f"x_range must be (low, high) with low < high, got {x_range!r}")
    x = low + (high - low) * torch.rand(n, generator=generator, dtype=dtype)
    powers = x.unsqueeze(1) ** torch.arange(len(coefficients), dtype=dtype)
    noise = noise_std * torch.randn(n, generator=generator, dtype=dtype)
    return x, powers @ coefficients + noise
