"""Attention: scoring functions, masks, masked softmax, multi-head and self-attention."""

from .cost import AttentionCost, self_attention_cost
from .masks import causal_mask, padding_mask, window_mask
from .multihead import MultiHeadAttention, merge_heads, scaled_dot_product_attention, split_heads
from .positional import sinusoidal_positional_encoding
from .scoring import (
    AdditiveScore,
    BilinearScore,
    DotScore,
    ScaledDotScore,
    attend,
    check_query_key,
    hard_attention,
)
from .softmax import check_mask, masked_softmax

__all__ = ["causal_mask", "check_mask", "masked_softmax", "padding_mask", "window_mask"]
__all__ += ["AdditiveScore", "BilinearScore", "DotScore", "ScaledDotScore", "attend", "check_query_key",
            "hard_attention"]
__all__ += ["AttentionCost", "MultiHeadAttention", "merge_heads", "scaled_dot_product_attention",
            "self_attention_cost", "sinusoidal_positional_encoding", "split_heads"]
