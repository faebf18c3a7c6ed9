"""Boolean attention masks: True where a query may attend to a key (PyTorch's convention)."""

from __future__ import annotations

import torch

from .._validation import check_int, check_tensor


def causal_mask(n: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(n, n)`` mask, True where key ``j <= i``: position ``i`` sees only the past and itself."""
    n = check_int("n", n, minimum=1)
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def padding_mask(lengths: torch.Tensor, max_len: int | None = None) -> torch.Tensor:
    """``(batch, max_len)`` mask, True at the real positions ``j < lengths[b]`` of each sequence.

    To mask keys in scores of shape ``(batch, n_q, n_k)`` use ``padding_mask(lengths)[:, None, :]``
    (add one more ``None`` for a heads axis).
    """
    lengths = check_tensor("lengths", lengths, ndim=1)
    if lengths.is_floating_point() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if len(lengths) and int(lengths.min()) < 0:
        raise ValueError(f"lengths must be >= 0, got {lengths.tolist()}")
    longest = int(lengths.max()) if len(lengths) else 0
    max_len = longest if max_len is None else check_int("max_len", max_len, minimum=0)
    if longest > max_len:
        raise ValueError(f"max_len must be at least the longest length {longest}, got {max_len}")
    positions = torch.arange(max_len, device=lengths.device)
    return positions[None, :] < lengths[:, None]


def window_mask(n_q: int, n_k: int, window: int, device: torch.device | str | None = None) -> torch.Tensor:
    """``(n_q, n_k)`` mask for local attention, True where ``|i - j| <= window``."""
    n_q = check_int("n_q", n_q, minimum=1)
    n_k = check_int("n_k", n_k, minimum=1)
    window = check_int("window", window, minimum=0)
    i = torch.arange(n_q, device=device)[:, None]
    j = torch.arange(n_k, device=device)[None, :]
    return (i - j).abs() <= window
