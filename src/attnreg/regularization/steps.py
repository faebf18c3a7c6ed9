"""One descent step with a penalty: weight decay, the L1 subgradient step, soft-thresholding and the
proximal (ISTA) step."""

from __future__ import annotations

import torch

from .._validation import check_positive, check_tensor


def _check_step_args(w: torch.Tensor, grad: torch.Tensor, lr: float, strength: float, strength_name: str
                     ) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    w = check_tensor("w", w, floating=True)
    grad = check_tensor("grad", grad, floating=True)
    if grad.shape != w.shape:
        raise ValueError(f"grad must have the shape of w {tuple(w.shape)}, got shape {tuple(grad.shape)}")
    return w, grad, check_positive("lr", lr), check_positive(strength_name, strength, allow_zero=True)


def weight_decay_step(w: torch.Tensor, grad: torch.Tensor, lr: float, weight_decay: float) -> torch.Tensor:
    """One gradient step on ``loss + weight_decay * 1/2 ||w||^2``: ``w <- (1 - lr * weight_decay) w - lr * grad``.

    ``grad`` is the gradient of the loss alone; returns a new tensor.
    """
    w, grad, lr, weight_decay = _check_step_args(w, grad, lr, weight_decay, "weight_decay")
    return (1 - lr * weight_decay) * w - lr * grad


def soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """The proximal operator of ``threshold * |x|``: ``sign(x) * max(|x| - threshold, 0)``."""
    x = check_tensor("x", x, floating=True)
    threshold = check_positive("threshold", threshold, allow_zero=True)
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0.0)


def l1_subgradient_step(w: torch.Tensor, grad: torch.Tensor, lr: float, lam: float) -> torch.Tensor:
    """A subgradient step on ``loss + lam ||w||_1``: ``w <- w - lr * (grad + lam * sign(w))``."""
    w, grad, lr, lam = _check_step_args(w, grad, lr, lam, "lam")
    return w - lr * (grad + lam * torch.sign(w))


def l1_proximal_step(w: torch.Tensor, grad: torch.Tensor, lr: float, lam: float) -> torch.Tensor:
    """A proximal-gradient step on ``loss + lam ||w||_1``: ``w <- soft_threshold(w - lr * grad, lr * lam)``."""
    w, grad, lr, lam = _check_step_args(w, grad, lr, lam, "lam")
    return soft_threshold(w - lr * grad, lr * lam)
