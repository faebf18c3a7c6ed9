"""Early stopping: watch the validation loss, stop when it stops improving, keep the best weights."""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import nn

from .._validation import check_int, check_positive


class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs; keep the best weights.

    Call :meth:`step` once per epoch with the validation loss (and the model, whose weights are copied
    whenever the loss improves). An epoch improves when ``val_loss < best_loss - min_delta``; a NaN loss
    never improves. Once :meth:`step` has returned True it keeps returning True and changes nothing,
    so the saved weights stay those of :attr:`best_epoch`; :meth:`restore` loads them into a model.
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience = check_int("patience", patience, minimum=1)
        self.min_delta = check_positive("min_delta", min_delta, allow_zero=True)
        self.best_loss = math.inf
        self.best_epoch: int | None = None  # 1-based: the n-th call of step()
        self.epochs = 0
        self.epochs_without_improvement = 0
        self.stopped_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def should_stop(self) -> bool:
        return self.stopped_epoch is not None

    def step(self, val_loss: float | torch.Tensor, model: nn.Module | None = None) -> bool:
        """Record one epoch's validation loss; return True when training should stop."""
        if self.should_stop:
            return True
        if isinstance(val_loss, torch.Tensor):
            if val_loss.numel() != 1:
                raise ValueError(f"val_loss must be a single number, got a tensor of shape {tuple(val_loss.shape)}")
            val_loss = val_loss.item()
        if isinstance(val_loss, bool) or not isinstance(val_loss, Real):
            raise TypeError(f"val_loss must be a real number, got {type(val_loss).__name__}")
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module or None, got {type(model).__name__}")
        self.epochs += 1
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.epochs_without_improvement = float(val_loss), self.epochs, 0
            if model is not None:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.epochs_without_improvement += 1
            if self.epochs_without_improvement >= self.patience:
                self.stopped_epoch = self.epochs
        return self.should_stop

    def restore(self, model: nn.Module) -> None:
        """Load the weights saved at :attr:`best_epoch` into ``model``."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if self.best_state is None:
            raise RuntimeError("no weights saved yet: call step(val_loss, model) with the model first")
        model.load_state_dict(self.best_state)
