"""Softmax over attention scores with a boolean mask."""

from __future__ import annotations

import torch

from .._validation import check_int, check_tensor


def check_mask(mask: object, scores: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """Check that ``mask`` is a boolean tensor that broadcasts to the shape of ``scores``."""
    mask = check_tensor(name, mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"{name} must be a boolean tensor (True = attend), got dtype {mask.dtype}")
    try:
        shape = torch.broadcast_shapes(mask.shape, scores.shape)
    except RuntimeError:
        shape = None
    if shape != scores.shape:
        raise ValueError(f"{name} of shape {tuple(mask.shape)} does not broadcast to the scores' shape {tuple(scores.shape)}")
    return mask


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None, dim: int = -1) -> torch.Tensor:
    """Softmax of ``scores`` along ``dim`` over the positions where ``mask`` is True.

    ``softmax(s)_j = exp(s_j) / sum_{l: mask_l} exp(s_l)`` for ``mask_j`` True, 0 otherwise. The
    mask follows PyTorch's convention (True = may attend) and broadcasts to ``scores``. A row with
    no True entry gets all-zero weights (not NaN), and its gradient is zero as well.
    """
    scores = check_tensor("scores", scores, min_ndim=1, floating=True)
    dim = check_int("dim", dim, minimum=-scores.ndim, maximum=scores.ndim - 1)
    if mask is None:
        return torch.softmax(scores, dim=dim)
    mask = check_mask(mask, scores)
    # The most negative finite number, not -inf: a fully masked row then stays finite (a uniform
    # softmax that is zeroed below) and its backward pass has no NaN.
    lowest = torch.finfo(scores.dtype).min
    weights = torch.softmax(scores.masked_fill(~mask, lowest), dim=dim)
    return weights.masked_fill(~mask, 0.0)
