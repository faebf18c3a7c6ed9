"""Linear regression trained by a PyTorch optimizer, through the course's training loop
:func:`attnreg.training.fit_epochs` (chapter 04)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .._validation import check_choice, check_int, check_positive, check_regression_data
from ..training import OPTIMIZERS, fit_epochs, make_optimizer
from .linear import _half_squared_error
from .penalties import l2_penalty


@dataclass
class LinearRegressionRun:
    """The result of :func:`train_linear_regression`.

    ``train_loss`` and ``test_loss`` hold ``1/n sum_i 1/2 (y_i - y_hat_i)^2`` (without the penalty) after
    each epoch; ``trajectory`` (with ``record_trajectory=True``) has one row ``[w, b]`` per step, the first
    row being the initial values.
    """

    weight: torch.Tensor
    bias: float
    train_loss: list[float]
    test_loss: list[float]
    trajectory: torch.Tensor | None = None


def train_linear_regression(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    lam: float = 0.0,
    weight_decay: float = 0.0,
    optimizer: str = "sgd",
    init_std: float = 1.0,
    seed: int = 0,
    record_trajectory: bool = False,
) -> LinearRegressionRun:
    """Train ``y_hat = w^T x + b`` by mini-batch ``optimizer`` steps on ``half_squared_error + lam * l2_penalty(w)``,
    in the course's loop :func:`~attnreg.training.fit_epochs`.

    ``lam`` puts the L2 penalty in the loss; ``weight_decay`` is passed to the optimizer instead (for
    ``w`` only: the bias is never penalized). The initial ``w`` is ``N(0, init_std^2)``, ``b = 0``; both it
    and the order of the mini-batches come from a generator seeded with ``seed``. Use a seed different
    from the one that drew the data: the same seed would make the initial ``w`` equal to the first inputs.
    """
    X_train, y_train = check_regression_data(X_train, y_train, "X_train", "y_train")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test, y_test = check_regression_data(X_test, y_test, "X_test", "y_test")
        if X_test.shape[1] != X_train.shape[1]:
            raise ValueError(f"X_test must have the {X_train.shape[1]} columns of X_train, got shape {tuple(X_test.shape)}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lam = check_positive("lam", lam, allow_zero=True)
    weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    init_std = check_positive("init_std", init_std, allow_zero=True)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    dtype, device = X_train.dtype, X_train.device
    model = nn.Module()   # y_hat = X w + b, with w and b as parameters
    model.weight = nn.Parameter((init_std * torch.randn(X_train.shape[1], generator=generator, dtype=dtype)).to(device))
    model.bias = nn.Parameter(torch.zeros((), dtype=dtype, device=device))
    opt = make_optimizer([{"params": [model.weight]}, {"params": [model.bias], "weight_decay": 0.0}], optimizer, lr,
                         weight_decay)
    steps: list[torch.Tensor] = []   # (w, b) before each step, then after the last

    def state() -> torch.Tensor:
        return torch.cat([model.weight.detach(), model.bias.detach().reshape(1)])

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        if record_trajectory:
            steps.append(state())
        return (_half_squared_error(model.weight, model.bias, X_train[idx], y_train[idx])
                + lam * l2_penalty(model.weight))

    splits = {"train": (X_train, y_train)}
    if X_test is not None:
        splits["test"] = (X_test, y_test)

    @torch.no_grad()
    def evaluate_splits() -> dict[str, tuple[float, float]]:   # losses only: a regression has no accuracy
        return {name: (_half_squared_error(model.weight, model.bias, X, y).item(), math.nan)
                for name, (X, y) in splits.items()}

    history = fit_epochs(model, batch_loss, len(X_train), evaluate_splits, opt, epochs=epochs, batch_size=batch_size,
                         seed=generator, progress=False)
    trajectory = torch.stack(steps + [state()]) if record_trajectory else None
    return LinearRegressionRun(model.weight.detach(), model.bias.item(), history.train_loss, history.test_loss,
                               trajectory)
