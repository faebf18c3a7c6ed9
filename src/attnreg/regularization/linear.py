"""A fitted linear model ``y_hat = X w + b`` and its errors: the mean squared error (MSE) and the halved
mean squared error ``1/n sum_i 1/2 (y_i - y_hat_i)^2`` (½·MSE) that the linear-regression objectives minimise."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validation import check_regression_data, check_tensor


@dataclass(frozen=True)
class LinearFit:
    """A fitted linear model ``y_hat = X w + b``."""

    weight: torch.Tensor
    bias: float

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        X = check_tensor("X", X, ndim=2, floating=True)
        if X.shape[1] != len(self.weight):
            raise ValueError(f"X must have {len(self.weight)} columns, got shape {tuple(X.shape)}")
        return X @ self.weight + self.bias


def _center(X: torch.Tensor, y: torch.Tensor, fit_intercept: bool
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """With an unpenalized bias, its optimum is ``b = mean(y) - mean(X) w``: fit ``w`` on centred data."""
    if fit_intercept:
        x_mean, y_mean = X.mean(dim=0), y.mean()
    else:
        x_mean, y_mean = torch.zeros_like(X[0]), torch.zeros_like(y[0])
    return X - x_mean, y - y_mean, x_mean, y_mean


def _with_bias(w: torch.Tensor, x_mean: torch.Tensor, y_mean: torch.Tensor) -> LinearFit:
    return LinearFit(w, float(y_mean - x_mean @ w))


def squared_error(fit: LinearFit, X: torch.Tensor, y: torch.Tensor) -> float:
    """The mean squared error ``1/n sum_i (y_i - y_hat_i)^2`` of ``fit`` on ``(X, y)``."""
    X, y = check_regression_data(X, y)
    return (fit.predict(X) - y).pow(2).mean().item()


def _half_squared_error(weight: torch.Tensor, bias: torch.Tensor | float, X: torch.Tensor, y: torch.Tensor
                        ) -> torch.Tensor:
    return 0.5 * (X @ weight + bias - y).pow(2).mean()


def half_squared_error(weight: torch.Tensor, bias: torch.Tensor | float, X: torch.Tensor, y: torch.Tensor
                       ) -> torch.Tensor:
    """``1/n sum_i 1/2 (y_i - w^T x_i - b)^2``, the loss of the linear-regression experiments."""
    X, y = check_regression_data(X, y)
    weight = check_tensor("weight", weight, ndim=1, floating=True)
    if len(weight) != X.shape[1]:
        raise ValueError(f"weight must have {X.shape[1]} entries (one per column of X), got shape {tuple(weight.shape)}")
    return _half_squared_error(weight, bias, X, y)
