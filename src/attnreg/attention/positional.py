"""Positional encodings: how a Transformer learns where each token is."""

from __future__ import annotations

import torch

from .._validation import check_int, check_positive


def sinusoidal_positional_encoding(num_positions: int, dim: int, base: float = 10000.0) -> torch.Tensor:
    """``(num_positions, dim)`` table of sines and cosines (Vaswani et al., 2017).

    ``PE[pos, 2i] = sin(pos * w_i)`` and ``PE[pos, 2i + 1] = cos(pos * w_i)`` with frequencies
    ``w_i = base^(-2i / dim)``, from one radian per position (``i = 0``) down to nearly
    ``1 / base``. For an odd ``dim`` the last column is a sine.
    """
    num_positions = check_int("num_positions", num_positions, minimum=1)
    dim = check_int("dim", dim, minimum=1)
    base = check_positive("base", base)
    positions = torch.arange(num_positions, dtype=torch.float64)[:, None]  # (num_positions, 1)
    even = torch.arange(0, dim, 2, dtype=torch.float64)  # 2i = 0, 2, 4, ...
    angles = positions * base ** (-even / dim)  # (num_positions, ceil(dim / 2)): pos * w_i
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return table.float()
