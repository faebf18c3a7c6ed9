"""The penalties ``R(w)`` added to a loss: L2, L1, smooth L1 and the elastic net.

The L2 penalty is ``R(w) = 1/2 ||w||_2^2`` (gradient ``w``); the elastic net mixes
``rho ||w||_1 + (1 - rho) 1/2 ||w||_2^2`` with ``rho = l1_ratio``. Each accepts one tensor or an iterable of
tensors such as ``model.parameters()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Union

import torch
from torch import nn

from .._validation import check_positive, check_real, check_tensor

#: One tensor, or an iterable of tensors such as ``model.parameters()``.
Params = Union[torch.Tensor, Iterable[torch.Tensor]]


def _param_list(params: Params) -> list[torch.Tensor]:
    """One tensor or an iterable of tensors (``model.parameters()``, say) as a checked list."""
    if isinstance(params, torch.Tensor):
        return [check_tensor("params", params, floating=True)]
    if isinstance(params, nn.Module):
        raise TypeError("params must be a tensor or an iterable of tensors, got a Module: pass model.parameters()")
    try:
        tensors = list(params)
    except TypeError:
        raise TypeError(f"params must be a tensor or an iterable of tensors, got {type(params).__name__}") from None
    if not tensors:
        raise ValueError("params must hold at least one tensor, got an empty iterable")
    return [check_tensor(f"params[{i}]", p, floating=True) for i, p in enumerate(tensors)]


def _total(terms: list[torch.Tensor]) -> torch.Tensor:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def l2_penalty(params: Params) -> torch.Tensor:
    """The L2 penalty ``R(w) = 1/2 sum_j w_j^2 = 1/2 ||w||_2^2`` over every entry of every tensor.

    The factor 1/2 makes the gradient ``w`` itself, so ``lam * l2_penalty`` in the loss equals
    ``weight_decay=lam`` in ``torch.optim.SGD``.
    """
    return _total([0.5 * p.pow(2).sum() for p in _param_list(params)])


def l1_penalty(params: Params) -> torch.Tensor:
    """The L1 penalty ``R(w) = sum_j |w_j| = ||w||_1``; its gradient is ``sign(w)`` (0 at ``w_j = 0``)."""
    return _total([p.abs().sum() for p in _param_list(params)])


def smooth_l1_penalty(params: Params, eps: float) -> torch.Tensor:
    """A differentiable stand-in for L1: ``R(w) = sum_j sqrt(w_j^2 + eps)``, gradient ``w_j / sqrt(w_j^2 + eps)``.

    Close to ``||w||_1`` where ``|w_j| >> sqrt(eps)``, a parabola near 0 (not PyTorch's
    ``smooth_l1_loss``, which is the Huber loss). Its minimum value is ``sqrt(eps)`` per weight, not 0.
    """
    eps = check_positive("eps", eps)
    return _total([(p.pow(2) + eps).sqrt().sum() for p in _param_list(params)])


def _check_l1_ratio(l1_ratio: object) -> float:
    l1_ratio = check_real("l1_ratio", l1_ratio)
    if not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1] (1: pure L1, 0: pure L2), got {l1_ratio!r}")
    return l1_ratio


def elastic_net_penalty(params: Params, l1_ratio: float) -> torch.Tensor:
    """The elastic-net penalty ``R(w) = rho ||w||_1 + (1 - rho) 1/2 ||w||_2^2`` with ``rho = l1_ratio``."""
    l1_ratio = _check_l1_ratio(l1_ratio)
    tensors = _param_list(params)
    return l1_ratio * l1_penalty(tensors) + (1 - l1_ratio) * l2_penalty(tensors)
