"""What self-attention costs as the sequence grows: time and memory against the length ``n``."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from .._validation import check_int
from ..device import get_device


@dataclass(frozen=True)
class AttentionCost:
    """Measurements of one self-attention head of width ``dim`` per sequence length.

    ``attention_seconds``: ``softmax(Q K^T / sqrt(d)) V``, about ``2 n^2 d`` multiply-adds;
    ``projection_seconds``: four ``(n, d) @ (d, d)`` products, the cost of ``X W_q``, ``X W_k``,
    ``X W_v`` and the output projection, ``4 n d^2``; ``weights_bytes``: the ``n x n`` weight
    matrix; ``projections_bytes``: ``Q``, ``K``, ``V`` and the output, ``4 n d`` numbers. Both
    timings are of bare tensor operations, without the argument checks of
    :func:`~attnreg.attention.scaled_dot_product_attention`, so that they compare like with like.
    """

    lengths: list[int]
    dim: int
    attention_seconds: list[float]
    projection_seconds: list[float]
    weights_bytes: list[int]
    projections_bytes: list[int]


def _best_seconds(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """The fastest of ``repeats`` timed calls, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(softmax(q k^T / sqrt(d)) v, weights)`` for ``q``, ``k``, ``v`` of shape ``(n, d)``: the timed operations alone."""
    weights = torch.softmax(q @ k.T * (1.0 / math.sqrt(q.shape[-1])), dim=-1)
    return weights @ v, weights


def _projections(x: torch.Tensor, projections: torch.Tensor) -> list[torch.Tensor]:
    """``x W`` for each of the four ``(d, d)`` matrices ``W_q, W_k, W_v, W_o``: the timed operations alone."""
    return [x @ w for w in projections]


@torch.no_grad()
def self_attention_cost(
    lengths: Sequence[int], dim: int = 64, repeats: int = 5, device: torch.device | str | None = None, seed: int = 0
) -> AttentionCost:
    """Time (best of ``repeats``) and memory of one self-attention head on a random ``(n, dim)`` input, per ``n``."""
    lengths = [check_int(f"lengths[{i}]", n, minimum=1) for i, n in enumerate(lengths)]
    if not lengths:
        raise ValueError("lengths must hold at least one sequence length, got none")
    dim = check_int("dim", dim, minimum=1)
    repeats = check_int("repeats", repeats, minimum=1)
    device = torch.device(device) if device is not None else get_device()
    gen = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    projections = torch.randn(4, dim, dim, generator=gen).to(device) / dim ** 0.5  # W_q, W_k, W_v, W_o
    cost = AttentionCost(lengths, dim, [], [], [], [])
    for n in lengths:
        x = torch.randn(n, dim, generator=gen).to(device)
        q, k, v, _ = _projections(x, projections)
        output, weights = _attention(q, k, v)
        cost.attention_seconds.append(_best_seconds(lambda q=q, k=k, v=v: _attention(q, k, v), repeats, device))
        cost.projection_seconds.append(_best_seconds(lambda x=x: _projections(x, projections), repeats, device))
        cost.weights_bytes.append(weights.numel() * weights.element_size())
        cost.projections_bytes.append(sum(t.numel() * t.element_size() for t in (q, k, v, output)))
    return cost
