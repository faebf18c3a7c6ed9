"""Attention: scoring functions, masks, masked softmax, multi-head and self-attention."""

from .masks import causal_mask, padding_mask, window_mask
from .softmax import check_mask, masked_softmax

__all__ = ["causal_mask", "check_mask", "masked_softmax", "padding_mask", "window_mask"]
