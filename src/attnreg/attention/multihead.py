"""Scaled dot-product attention and multi-head attention, written out step by step.

Shapes are batch-first, as in ``torch.nn.MultiheadAttention(batch_first=True)``: a sequence is
``(batch, n, embed_dim)`` and the weights of the heads are ``(batch, heads, n_q, n_k)``. Masks are
boolean with True = may attend, like :func:`~attnreg.attention.masked_softmax`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_int, check_positive, check_probability, check_tensor
from .softmax import masked_softmax


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    dropout_p: float = 0.0,
    training: bool | None = None,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``softmax(q k^T * scale) v`` with ``scale = 1 / sqrt(d_k)`` by default.

    ``q`` is ``(..., n_q, d_k)``, ``k`` is ``(..., n_k, d_k)``, ``v`` is ``(..., n_k, d_v)``; the
    leading axes broadcast. ``mask`` (boolean, True = attend, the convention of a boolean
    ``attn_mask`` in ``torch.nn.functional.scaled_dot_product_attention``) broadcasts to the scores
    ``(..., n_q, n_k)``; a query whose keys are all masked gets zero weights and a zero output.
    Returns ``(output (..., n_q, d_v), weights (..., n_q, n_k))``; the weights returned are the
    ones that multiplied ``v`` (after dropout, as in ``torch.nn.MultiheadAttention``).

    Dropout on the weights (``dropout_p``, ``training`` and ``scale`` are keyword-only):

    ===============================  =========================================================
    call                             dropout applied
    ===============================  =========================================================
    ``dropout_p=0`` (default)        never, whatever ``training``
    ``dropout_p=p, training=True``   yes, drop probability ``p``, survivors scaled by 1/(1-p)
    ``dropout_p=p, training=False``  no (evaluation)
    ``dropout_p=p`` alone, ``p > 0`` ``ValueError``: say ``training=True`` or ``False``
    ===============================  =========================================================

    PyTorch's ``F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p)`` has no training
    flag: it applies dropout whenever ``dropout_p > 0``, also in evaluation, and modules such as
    ``nn.MultiheadAttention`` pass ``dropout_p if self.training else 0.0``. A ``dropout_p`` copied
    from a PyTorch call would silently do nothing here if ``training`` defaulted to False, hence
    the error.
    """
    for name, tensor in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, tensor, min_ndim=2, floating=True)
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must have the same feature size d_k (last axis), "
                         f"got q of shape {tuple(q.shape)} and k of shape {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of keys n_k (second-to-last axis), "
                         f"got k of shape {tuple(k.shape)} and v of shape {tuple(v.shape)}")
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError(f"the leading (batch) axes of q, k and v must broadcast, got q of shape "
                         f"{tuple(q.shape)}, k of shape {tuple(k.shape)} and v of shape {tuple(v.shape)}") from None
    dropout_p = check_probability("dropout_p", dropout_p)
    if training is None:
        if dropout_p > 0:
            raise ValueError(f"dropout_p={dropout_p} needs training=True (apply dropout) or training=False (evaluation): "
                             "unlike torch.nn.functional.scaled_dot_product_attention, which drops whenever dropout_p > 0, "
                             "this function asks")
        training = False
    elif not isinstance(training, bool):
        raise TypeError(f"training must be True, False or None, got {training!r}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else check_positive("scale", scale)

    scores = q @ k.transpose(-2, -1) * scale  # (..., n_q, n_k): s_ij = q_i . k_j * scale
    weights = masked_softmax(scores, mask, dim=-1)  # each row sums to 1 over the keys (0 if fully masked)
    weights = F.dropout(weights, p=dropout_p, training=training)
    return weights @ v, weights


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``(batch, n, embed_dim) -> (batch, heads, n, head_dim)``: head ``h`` gets features ``h*head_dim`` to ``(h+1)*head_dim - 1``.

    The feature axis is cut into ``num_heads`` consecutive blocks (a reshape), then the heads axis
    is moved in front of the positions (a transpose), so that each head is a batch of its own.
    """
    check_tensor("x", x, ndim=3)
    num_heads = check_int("num_heads", num_heads, minimum=1)
    batch, n, embed_dim = x.shape
    if embed_dim % num_heads:
        raise ValueError(f"the feature size of x must be divisible by num_heads={num_heads}, "
                         f"got x of shape {tuple(x.shape)}")
    head_dim = embed_dim // num_heads
    blocks = x.reshape(batch, n, num_heads, head_dim)  # (batch, n, heads, head_dim)
    return blocks.transpose(1, 2)  # (batch, heads, n, head_dim)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``(batch, heads, n, head_dim) -> (batch, n, heads * head_dim)``: the inverse of :func:`split_heads`.

    The heads' outputs of one position are concatenated, head 0 first:
    ``[head_0 | head_1 | ... | head_{h-1}]``.
    """
    check_tensor("x", x, ndim=4)
    batch, num_heads, n, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, n, num_heads * head_dim)


def _heads_mask(mask: object, batch: int, num_heads: int, n_q: int, n_k: int) -> torch.Tensor:
    """Return ``mask`` with a heads axis: ``(n_q, n_k)``, ``(batch, n_q, n_k)`` or ``(batch, heads, n_q, n_k)``."""
    mask = check_tensor("mask", mask, ndim=(2, 3, 4))
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a boolean tensor (True = attend), got dtype {mask.dtype}")
    heads_mask = mask.unsqueeze(1) if mask.ndim == 3 else mask
    scores_shape = torch.Size((batch, num_heads, n_q, n_k))
    try:
        shape = torch.broadcast_shapes(heads_mask.shape, scores_shape)
    except RuntimeError:
        shape = None
    if shape != scores_shape:
        raise ValueError(f"mask of shape {tuple(mask.shape)} does not broadcast to (n_q, n_k) = {(n_q, n_k)}, "
                         f"(batch, n_q, n_k) = {(batch, n_q, n_k)} or (batch, heads, n_q, n_k) = {tuple(scores_shape)}")
    return heads_mask


class MultiHeadAttention(nn.Module):
    """Multi-head attention ``concat(head_1, ..., head_h) W_o`` with ``head_i = attention(Q W_q^i, K W_k^i, V W_v^i)``.

    The projections ``W_q, W_k, W_v`` (``embed_dim -> embed_dim``) are computed for all heads at
    once and then split into ``num_heads`` blocks of ``head_dim = embed_dim // num_heads``
    features (:func:`split_heads`); each head runs :func:`scaled_dot_product_attention` with
    scale ``1 / sqrt(head_dim)``, the heads are concatenated (:func:`merge_heads`) and projected
    by ``W_o``. ``dropout`` is the drop probability of the attention weights in training mode.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        self.embed_dim = check_int("embed_dim", embed_dim, minimum=1)
        self.num_heads = check_int("num_heads", num_heads, minimum=1)
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim must be divisible by num_heads, got embed_dim={embed_dim} and num_heads={num_heads}")
        self.head_dim = embed_dim // num_heads
        self.dropout = check_probability("dropout", dropout)
        self.q_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.k_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.v_proj = nn.Linear(embed_dim, embed_dim, bias=bias)
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias)

    def forward(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``query (batch, n_q, embed_dim)`` to ``key``, ``value (batch, n_k, embed_dim)``.

        ``embed_dim`` is the notation page's d_model.

        ``mask`` (keyword-only; True = attend) is ``(n_q, n_k)``, ``(batch, n_q, n_k)`` or
        ``(batch, heads, n_q, n_k)``, or anything that broadcasts to one of them:
        ``padding_mask(lengths)[:, None, :]`` masks padded keys. ``nn.MultiheadAttention``'s
        boolean ``attn_mask`` and ``key_padding_mask`` use the opposite convention (True = ignore):
        pass ``~mask`` there. Its fourth positional argument is ``key_padding_mask``, so ours is
        keyword-only: swapping one class for the other cannot silently invert a mask. Returns ``(output
        (batch, n_q, embed_dim), weights (batch, heads, n_q, n_k))``; ``weights.mean(dim=1)`` is what PyTorch returns by default.
        """
        for name, tensor in (("query", query), ("key", key), ("value", value)):
            check_tensor(name, tensor, ndim=3, floating=True)
            if tensor.shape[-1] != self.embed_dim:
                raise ValueError(f"{name} must have embed_dim={self.embed_dim} features (last axis), "
                                 f"got {name} of shape {tuple(tensor.shape)}")
        if key.shape[:2] != value.shape[:2]:
            raise ValueError(f"key and value must have the same batch size and length, "
                             f"got key of shape {tuple(key.shape)} and value of shape {tuple(value.shape)}")
        if query.shape[0] != key.shape[0]:
            raise ValueError(f"query and key must have the same batch size, "
                             f"got query of shape {tuple(query.shape)} and key of shape {tuple(key.shape)}")
        if mask is not None:
            mask = _heads_mask(mask, query.shape[0], self.num_heads, query.shape[1], key.shape[1])
        q = split_heads(self.q_proj(query), self.num_heads)  # (batch, heads, n_q, head_dim)
        k = split_heads(self.k_proj(key), self.num_heads)  # (batch, heads, n_k, head_dim)
        v = split_heads(self.v_proj(value), self.num_heads)  # (batch, heads, n_k, head_dim)
        heads, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p=self.dropout, training=self.training)
        return self.out_proj(merge_heads(heads)), weights

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> MultiHeadAttention:
        """A copy of ``mha``'s weights: its ``in_proj_weight`` stacks ``[W_q; W_k; W_v]`` row-wise.

        Our module is always batch-first; the weights are the same whatever ``mha.batch_first``.
        """
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"mha must be a torch.nn.MultiheadAttention, got {type(mha).__name__}")
        if not mha._qkv_same_embed_dim or mha.bias_k is not None or mha.add_zero_attn:
            raise ValueError("mha must use kdim = vdim = embed_dim, add_bias_kv=False and add_zero_attn=False")
        has_bias = mha.in_proj_bias is not None
        ours = cls(mha.embed_dim, mha.num_heads, dropout=mha.dropout, bias=has_bias)
        d_model = mha.embed_dim
        with torch.no_grad():
            for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
                proj.weight.copy_(mha.in_proj_weight[i * d_model:(i + 1) * d_model])
                if has_bias:
                    proj.bias.copy_(mha.in_proj_bias[i * d_model:(i + 1) * d_model])
            ours.out_proj.weight.copy_(mha.out_proj.weight)
            if has_bias:
                ours.out_proj.bias.copy_(mha.out_proj.bias)
        return ours.to(mha.in_proj_weight.device, mha.in_proj_weight.dtype)
