"""Noise injection: train on copies of the examples with Gaussian noise added to the inputs."""

from __future__ import annotations

import torch

from .._validation import check_int, check_positive, check_regression_data


def augment_with_noise(X: torch.Tensor, y: torch.Tensor, copies: int, noise_std: float,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise injection: ``copies`` copies of every example with inputs ``x + e``, ``e ~ N(0, noise_std^2 I)``.

    Returns ``(X_aug, y_aug)`` with ``copies * n`` rows; the targets are repeated unchanged.
    """
    X, y = check_regression_data(X, y)
    copies = check_int("copies", copies, minimum=1)
    noise_std = check_positive("noise_std", noise_std, allow_zero=True)
    X_aug = X.repeat(copies, 1)
    noise = torch.randn(X_aug.shape, generator=generator, dtype=X.dtype, device=X.device)
    return X_aug + noise_std * noise, y.repeat(copies)
