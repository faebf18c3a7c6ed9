"""Penalties, proximal operators and early stopping."""

from __future__ import annotations

import torch

from ._validation import check_positive, check_tensor


def soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """The proximal operator of ``threshold * |x|``: ``sign(x) * max(|x| - threshold, 0)``."""
    x = check_tensor("x", x, floating=True)
    threshold = check_positive("threshold", threshold, allow_zero=True)
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0.0)
