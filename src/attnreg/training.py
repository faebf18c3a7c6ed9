"""A short, explicit training loop for classifiers on in-memory data."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import check_choice, check_int, check_positive, check_same_length, check_tensor
from .data import ImageSplit
from .device import get_device, model_device

#: ``loss_fn(model, X_batch, y_batch) -> scalar loss``: what one training step minimises.
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

OPTIMIZERS = ("sgd", "adam", "adamw")


def cross_entropy_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The default training loss: mean cross-entropy of ``model(X)`` against labels ``y``."""
    return F.cross_entropy(model(X), y)


@dataclass
class History:
    """Metrics of a training run, measured in eval mode after an epoch.

    ``eval_epochs[i]`` is the epoch (counted from 1) after which ``train_loss[i]``, ``train_acc[i]``,
    ``test_loss[i]`` and ``test_acc[i]`` were measured: every epoch by default, every ``eval_every``-th
    epoch and the last one when :func:`fit_epochs` is asked for fewer evaluations. ``epoch_seconds``
    holds the time of every epoch's training steps, evaluated or not.
    """

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    eval_epochs: list[int] = field(default_factory=list)

    def epoch_numbers(self) -> list[int]:
        """The epoch after which each metric was measured: ``eval_epochs``, or 1, 2, ... for a History
        filled without them (one evaluation per epoch)."""
        return list(self.eval_epochs) if self.eval_epochs else list(range(1, len(self.test_acc) + 1))

    @property
    def epochs(self) -> int:
        """The number of epochs trained: the last evaluated one, since every run ends with an evaluation."""
        numbers = self.epoch_numbers()
        return numbers[-1] if numbers else 0

    def final(self) -> dict[str, float]:
        """The metrics of the last epoch."""
        if not self.epochs:
            raise ValueError("history is empty: no epoch has been recorded")
        return {"train_loss": self.train_loss[-1], "train_acc": self.train_acc[-1],
                "test_loss": self.test_loss[-1], "test_acc": self.test_acc[-1]}


def _check_xy(X: torch.Tensor, y: torch.Tensor, x_name: str = "X", y_name: str = "y") -> None:
    check_tensor(x_name, X, min_ndim=1)
    check_tensor(y_name, y, ndim=1)
    check_same_length(x_name, X, y_name, y)
    if y.dtype != torch.long:
        raise TypeError(f"{y_name} must hold int64 class labels, got dtype {y.dtype}")


@torch.no_grad()
def evaluate(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` on ``(X, y)`` in eval mode.

    The model's train/eval mode is restored afterwards; inputs are moved to the model's device.
    """
    _check_xy(X, y)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = model_device(model, X)
    was_training = model.training
    model.eval()
    total_loss, correct = 0.0, 0
    try:
        for start in range(0, len(X), batch_size):
            xb = X[start:start + batch_size].to(device)
            yb = y[start:start + batch_size].to(device)
            logits = model(xb)
            total_loss += F.cross_entropy(logits, yb, reduction="sum").item()
            correct += (logits.argmax(dim=-1) == yb).sum().item()
    finally:
        model.train(was_training)
    return total_loss / len(X), correct / len(X)


def evaluate_accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> float:
    """Fraction of examples whose arg-max logit equals the label, in eval mode."""
    return evaluate(model, X, y, batch_size)[1]


def progress_enabled() -> bool:
    """Progress bars show in interactive use and stay off when ``$ATTNREG_QUIET`` or ``$CI`` is set."""
    def truthy(name: str) -> bool:
        return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")

    return not (truthy("ATTNREG_QUIET") or truthy("CI"))


def make_optimizer(params, name: str, lr: float, weight_decay: float = 0.0, momentum: float = 0.0) -> torch.optim.Optimizer:
    """``torch.optim.SGD`` (with ``momentum``), ``Adam`` or ``AdamW`` by name."""
    name = check_choice("optimizer", name, OPTIMIZERS)
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if momentum:
        raise ValueError(f"momentum applies to optimizer='sgd' only, got momentum={momentum} with optimizer={name!r}")
    optimizer_class = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    return optimizer_class(params, lr=lr, weight_decay=weight_decay)


def fit_epochs(
    model: nn.Module,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    num_train: int,
    evaluate_splits: Callable[[], dict[str, tuple[float, float]]],
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    batch_size: int,
    seed: int | torch.Generator = 0,
    progress: bool | None = None,
    eval_every: int = 1,
) -> History:
    """The loop every trainer of the course shares: ``epochs`` passes over ``num_train`` examples.

    Each epoch draws a permutation of the training indices from a generator seeded with ``seed``
    (or from ``seed`` itself when it is a ``torch.Generator``, which the caller may already have drawn
    from, an initialisation say) and, per mini-batch of indices ``idx``, takes one ``optimizer`` step on ``batch_loss(idx)``
    with the model in training mode. After epochs ``eval_every``, ``2 eval_every``, ... and after the
    last epoch, ``evaluate_splits()`` returns ``{"train": (loss, acc), "test": (loss, acc)}``,
    recorded in the :class:`History` with the epoch's number (``eval_every=1``: after every epoch;
    ``eval_every >= epochs``: after the last one only). The time of every epoch's training steps is
    recorded, evaluation excluded. When ``evaluate_splits`` draws no random numbers (the
    evaluations of this package run in eval mode), ``eval_every`` changes neither the training nor
    the final metrics. ``progress=None`` shows a bar unless :func:`progress_enabled` says to stay
    quiet.
    """
    epochs = check_int("epochs", epochs, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    num_train = check_int("num_train", num_train, minimum=1)
    eval_every = check_int("eval_every", eval_every, minimum=1)
    device = model_device(model)
    shuffle = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    history = History()
    show = progress_enabled() if progress is None else progress
    epoch_range = range(epochs)
    if show:
        from tqdm.auto import tqdm

        epoch_range = tqdm(epoch_range, desc="epochs", leave=False)
    for epoch in epoch_range:
        start = time.perf_counter()
        model.train()
        order = torch.randperm(num_train, generator=shuffle).to(device)
        for first in range(0, num_train, batch_size):
            loss = batch_loss(order[first:first + batch_size])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        history.epoch_seconds.append(time.perf_counter() - start)
        if (epoch + 1) % eval_every and epoch + 1 < epochs:
            continue
        history.eval_epochs.append(epoch + 1)
        for split, (split_loss, split_acc) in evaluate_splits().items():
            getattr(history, f"{split}_loss").append(split_loss)
            getattr(history, f"{split}_acc").append(split_acc)
        if show:
            epoch_range.set_postfix(train_acc=f"{history.train_acc[-1]:.3f}", test_acc=f"{history.test_acc[-1]:.3f}")
    return history


def train_classifier(
    model: nn.Module,
    data: ImageSplit,
    *,
    epochs: int,
    lr: float,
    batch_size: int = 64,
    optimizer: str = "sgd",
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    loss_fn: LossFn = cross_entropy_loss,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
    eval_every: int = 1,
) -> History:
    """Train ``model`` with mini-batch ``optimizer`` steps on ``loss_fn`` and record a :class:`History`.

    The data are moved to ``device`` once (default: :func:`~attnreg.device.get_device`) and
    sliced there, so there is no per-example Python work. Mini-batches follow a permutation
    drawn from a generator seeded with ``seed``; randomness inside the model (dropout) comes from
    torch's global generator, which :func:`~attnreg.device.set_seed` seeds. ``progress=None``
    shows a bar unless :func:`progress_enabled` says to stay quiet.

    The loss and accuracy on the whole training and test sets are measured after every
    ``eval_every``-th epoch and after the last (see :func:`fit_epochs`). Each measurement is a
    forward pass over both sets, which costs about as much as an epoch of training when the test
    set is a few times larger than the training set: ``eval_every=2`` halves the cost of learning
    curves, ``eval_every=epochs`` keeps only the final metrics. The trained model is the same
    whatever ``eval_every``.
    """
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
    momentum = check_positive("momentum", momentum, allow_zero=True)
    _check_xy(data.X_train, data.y_train, "data.X_train", "data.y_train")
    _check_xy(data.X_test, data.y_test, "data.X_test", "data.y_test")
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    X_train, y_train = data.X_train.to(device), data.y_train.to(device)
    X_test, y_test = data.X_test.to(device), data.y_test.to(device)
    opt = make_optimizer(model.parameters(), optimizer, lr, weight_decay, momentum)

    def evaluate_splits() -> dict[str, tuple[float, float]]:
        return {"train": evaluate(model, X_train, y_train), "test": evaluate(model, X_test, y_test)}

    return fit_epochs(model, lambda idx: loss_fn(model, X_train[idx], y_train[idx]), len(X_train), evaluate_splits,
                      opt, epochs=epochs, batch_size=batch_size, seed=seed, progress=progress, eval_every=eval_every)
