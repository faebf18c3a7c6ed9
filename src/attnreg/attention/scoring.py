"""Scoring functions, soft (key-value) attention and hard attention.

A scoring function ``s(q, k)`` says how well key ``k`` matches query ``q``. Every score module here
maps queries ``q`` of shape ``(..., n_q, d_q)`` and keys ``k`` of shape ``(..., n_k, d_k)`` to
scores of shape ``(..., n_q, n_k)``, entry ``[i, j] = s(q_i, k_j)``; the leading dimensions
broadcast. :func:`attend` turns scores into weights with a masked softmax and returns the
weighted sum of the values (the context); :func:`hard_attention` picks one value instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .._validation import check_choice, check_int, check_tensor
from .softmax import masked_softmax

#: ``score(q, k) -> scores``: any of the modules below, or a function with the same shapes.
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

HARD_MODES = ("argmax", "sample")


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(t.shape)


def check_query_key(
    q: object,
    k: object,
    *,
    query_dim: int | None = None,
    key_dim: int | None = None,
    same_dim: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check ``q (..., n_q, d_q)`` and ``k (..., n_k, d_k)``: floating, feature sizes, batch dims."""
    q = check_tensor("q", q, min_ndim=2, floating=True)
    k = check_tensor("k", k, min_ndim=2, floating=True)
    if query_dim is not None and q.shape[-1] != query_dim:
        raise ValueError(f"q must have query_dim={query_dim} features in its last dimension, got q of shape {_shape(q)}")
    if key_dim is not None and k.shape[-1] != key_dim:
        raise ValueError(f"k must have key_dim={key_dim} features in its last dimension, got k of shape {_shape(k)}")
    if same_dim and q.shape[-1] != k.shape[-1]:
        raise ValueError("q and k must have the same feature size (last dimension) for a dot-product score, "
                         f"got q of shape {_shape(q)} and k of shape {_shape(k)}")
    try:
        torch.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    except RuntimeError:
        raise ValueError("the leading (batch) dimensions of q and k must broadcast, "
                         f"got q of shape {_shape(q)} and k of shape {_shape(k)}") from None
    return q, k


class DotScore(nn.Module):
    """``s(q, k) = k^T q``; needs ``d_q = d_k`` and has no parameters."""

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q, k = check_query_key(q, k, same_dim=True)
        return q @ k.transpose(-2, -1)


class ScaledDotScore(nn.Module):
    """``s(q, k) = k^T q / sqrt(d)`` with ``d = d_q = d_k``: scores of unit variance for unit-variance inputs."""

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q, k = check_query_key(q, k, same_dim=True)
        return q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])


class BilinearScore(nn.Module):
    """``s(q, k) = k^T W q`` with a learned ``W`` of shape ``(key_dim, query_dim)`` (Luong's "general")."""

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        self.query_dim = check_int("query_dim", query_dim, minimum=1)
        self.key_dim = check_int("key_dim", key_dim, minimum=1)
        self.W = nn.Linear(query_dim, key_dim, bias=False)  # W q; its weight is W, (key_dim, query_dim)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q, k = check_query_key(q, k, query_dim=self.query_dim, key_dim=self.key_dim)
        return self.W(q) @ k.transpose(-2, -1)


class AdditiveScore(nn.Module):
    """``s(q, k) = v^T tanh(W k + U q)``, a one-hidden-layer MLP of width ``hidden_dim``.

    The additive score of Bahdanau et al. (2015); Luong et al. (2015) call the same score "concat",
    written ``v^T tanh(W_a [q ; k])`` with ``W_a = [U, W]``.
    """

    def __init__(self, query_dim: int, key_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.query_dim = check_int("query_dim", query_dim, minimum=1)
        self.key_dim = check_int("key_dim", key_dim, minimum=1)
        hidden_dim = check_int("hidden_dim", hidden_dim, minimum=1)
        self.W = nn.Linear(key_dim, hidden_dim, bias=False)
        self.U = nn.Linear(query_dim, hidden_dim, bias=False)
        self.v = nn.Linear(hidden_dim, 1, bias=False)

    def forward(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        q, k = check_query_key(q, k, query_dim=self.query_dim, key_dim=self.key_dim)
        # (..., n_q, 1, h) + (..., 1, n_k, h) -> (..., n_q, n_k, h): every query against every key
        hidden = torch.tanh(self.U(q).unsqueeze(-2) + self.W(k).unsqueeze(-3))
        return self.v(hidden).squeeze(-1)


def _check_values(k: torch.Tensor, v: object) -> torch.Tensor:
    k = check_tensor("k", k, min_ndim=2, floating=True)
    v = check_tensor("v", v, min_ndim=2, floating=True)
    if v.shape[-2] != k.shape[-2]:
        raise ValueError(f"v must have one value per key (n_k={k.shape[-2]} rows in its second-to-last dimension), "
                         f"got k of shape {_shape(k)} and v of shape {_shape(v)}")
    try:
        torch.broadcast_shapes(k.shape[:-2], v.shape[:-2])
    except RuntimeError:
        raise ValueError("the leading (batch) dimensions of k and v must broadcast, "
                         f"got k of shape {_shape(k)} and v of shape {_shape(v)}") from None
    return v


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor | None = None,
    *,
    score: ScoreFn | None = None,
    mask: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft key-value attention: ``alpha_i = softmax_j s(q_i, k_j)``, ``c_i = sum_j alpha_ij v_j``.

    ``score`` defaults to :class:`ScaledDotScore`; ``v=None`` uses the keys as values (plain
    attention); ``mask`` (True = attend) broadcasts to the scores ``(..., n_q, n_k)``. Returns the
    contexts ``(..., n_q, d_v)`` and the weights ``(..., n_q, n_k)``; a query with no key to
    attend to gets zero weights and a zero context.
    """
    score = ScaledDotScore() if score is None else score
    v = k if v is None else _check_values(k, v)
    weights = masked_softmax(score(q, k), mask)
    return weights @ v, weights


def hard_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor | None = None,
    *,
    mode: str = "argmax",
    score: ScoreFn | None = None,
    mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hard attention: each query returns one value, ``c_i = v_{j*}``, instead of an average.

    ``j*`` is the arg-max of the attention weights (``mode="argmax"``) or a draw from them
    (``mode="sample"``, seeded by ``generator``). Returns the contexts and the one-hot weights.
    The choice of ``j*`` is an integer: no gradient flows from the output back to the scores (or
    to ``q``, ``k`` and the score's parameters), only to ``v``. A query with no key to attend to
    gets zero weights and a zero context.
    """
    mode = check_choice("mode", mode, HARD_MODES)
    score = ScaledDotScore() if score is None else score
    v = k if v is None else _check_values(k, v)
    scores = score(q, k)
    with torch.no_grad():  # picking an index is not differentiable: nothing to track
        probabilities = masked_softmax(scores, mask)
        has_key = probabilities.sum(-1, keepdim=True) > 0
        if mode == "argmax":
            index = probabilities.argmax(-1)
        else:  # draw from rows that have a key to attend to; a placeholder elsewhere, zeroed below
            rows = torch.where(has_key, probabilities, torch.ones_like(probabilities)).reshape(-1, scores.shape[-1])
            index = torch.multinomial(rows, 1, generator=generator).reshape(scores.shape[:-1])
        weights = F.one_hot(index, scores.shape[-1]).to(v.dtype) * has_key
    return weights @ v, weights
