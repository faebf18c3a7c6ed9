"""Attention: scoring functions, masked softmax, multi-head and self-attention."""

from .softmax import check_mask, masked_softmax

__all__ = ["check_mask", "masked_softmax"]
