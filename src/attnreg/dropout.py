"""Dropout from scratch: the two scaling modes, Monte Carlo dropout, DropBlock, spatial dropout,
and the measurements of chapter 06 (variance shift, BatchNorm statistics, regression shift, dropout
on a linear model's inputs as an adaptive ridge penalty).

Throughout, ``p`` is the probability of DROPPING a unit, as in PyTorch; a unit is kept with
probability ``1 - p``. The mask is ``m ~ Bernoulli(1 - p)``, drawn independently per element.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from ._validation import (check_choice, check_generator, check_int, check_positive, check_probability, check_real,
                          check_regression_data, check_tensor)
from .device import model_device
from .training import fit_epochs, make_optimizer

#: The scaling conventions of :func:`dropout` (the names PaddlePaddle uses).
MODES = ("upscale_in_train", "downscale_in_infer")


def _check_bool(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def _uniform(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Uniform draws on [0, 1) of ``shape`` on ``like``'s device, from ``generator`` if given.

    They are drawn on the generator's own device (a CPU generator can drive a GPU tensor) and in
    float32 at least, so that half-precision inputs do not coarsen the keep probability.
    """
    dtype = torch.float64 if like.dtype == torch.float64 else torch.float32
    device = generator.device if generator is not None else like.device
    return torch.rand(shape, generator=generator, device=device, dtype=dtype).to(like.device)


def dropout_mask(shape: tuple[int, ...], p: float, like: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """A boolean keep-mask ``m`` with ``P(m = True) = 1 - p``: ``m = (u >= p)``, ``u ~ Uniform[0, 1)``."""
    return _uniform(shape, like, generator) >= p


def dropout(
    x: torch.Tensor,
    p: float,
    training: bool = True,
    mode: str = "upscale_in_train",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Dropout with drop probability ``p`` and one of two scaling conventions.

    With ``m ~ Bernoulli(1 - p)`` element-wise:

    - ``"upscale_in_train"`` (inverted dropout, what PyTorch does): ``m * x / (1 - p)`` in
      training, ``x`` at inference;
    - ``"downscale_in_infer"`` (the original paper's convention): ``m * x`` in training,
      ``(1 - p) * x`` at inference.

    In both modes ``E[training output] = inference output``. ``p = 1`` drops every unit and gives
    zeros in training (never NaN). ``generator`` makes the mask reproducible.
    """
    x = check_tensor("x", x, floating=True)
    p = check_probability("p", p)
    training = _check_bool("training", training)
    mode = check_choice("mode", mode, MODES)
    generator = check_generator(generator)
    if not training:
        return x if mode == "upscale_in_train" else x * (1.0 - p)
    if p == 0.0:
        return x
    keep = dropout_mask(tuple(x.shape), p, x, generator)
    scale = 1.0 / (1.0 - p) if (mode == "upscale_in_train" and p < 1.0) else 1.0
    return x * (keep.to(x.dtype) * scale)  # p = 1: every mask entry is 0, so the output is x * 0


class Dropout(nn.Module):
    """Dropout as a layer: :func:`dropout` with the module's ``p`` and ``mode`` and its
    train/eval state (``model.train()`` / ``model.eval()``)."""

    def __init__(self, p: float = 0.5, mode: str = "upscale_in_train") -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.mode = check_choice("mode", mode, MODES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training, self.mode)

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"


def spatial_dropout(x: torch.Tensor, p: float, training: bool = True,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Channel-wise (spatial) dropout (Tompson et al., 2015): drop whole feature maps.

    For ``x`` of shape ``(N, C, *spatial)``, one mask entry ``m_{nc} ~ Bernoulli(1 - p)`` per
    example and channel is shared by every position of that channel; the output is
    ``m_{nc} x_{nc...} / (1 - p)`` in training and ``x`` at inference, like ``torch.nn.Dropout2d``.
    """
    x = check_tensor("x", x, min_ndim=3, floating=True)
    p = check_probability("p", p)
    training = _check_bool("training", training)
    generator = check_generator(generator)
    if not training or p == 0.0:
        return x
    keep = dropout_mask(tuple(x.shape[:2]) + (1,) * (x.ndim - 2), p, x, generator)
    scale = 1.0 / (1.0 - p) if p < 1.0 else 1.0
    return x * (keep.to(x.dtype) * scale)


def drop_block_gamma(p: float, block_size: int, height: int, width: int) -> float:
    """The seed rate of DropBlock (Ghiasi et al., 2018), eq. (1) with drop probability ``p``:

    ``gamma = p / block_size**2 * (height * width) / ((height - block_size + 1) * (width - block_size + 1))``.

    Seeds fall on the ``(height - block_size + 1) * (width - block_size + 1)`` positions where a
    whole block fits, and each seed drops ``block_size**2`` units, so the expected number of
    (block, unit) drops per unit is ``p``. Overlapping blocks make the realised drop rate slightly
    lower (see :func:`drop_block_expected_rate`). Since ``b (H - b + 1) >= H``, ``gamma <= p``.
    """
    p = check_probability("p", p)
    block_size = check_int("block_size", block_size, minimum=1)
    height = check_int("height", height, minimum=block_size)
    width = check_int("width", width, minimum=block_size)
    valid = (height - block_size + 1) * (width - block_size + 1)
    return p * height * width / (block_size**2 * valid)


def _cover(seeds: torch.Tensor, block_size: int) -> torch.Tensor:
    """Spread each seed (top-left corner) over the ``block_size x block_size`` block it starts."""
    pad = block_size - 1
    return F.max_pool2d(F.pad(seeds, (pad, pad, pad, pad)), kernel_size=block_size, stride=1)


def drop_block2d(x: torch.Tensor, p: float, block_size: int, training: bool = True,
                 generator: torch.Generator | None = None) -> torch.Tensor:
    """DropBlock (Ghiasi et al., 2018) on feature maps ``x`` of shape ``(N, C, H, W)``.

    Block corners are drawn independently per example and channel with rate
    ``gamma = drop_block_gamma(p, block_size, H, W)`` on the positions where a whole block fits;
    every unit inside a block is dropped, giving the mask ``M``. The output is
    ``x * M * numel(M) / sum(M)`` (rescaled by the count of kept units, as in the paper; zeros if
    nothing is kept) in training, and ``x`` at inference. ``p = 1`` drops everything (zeros).
    ``block_size = 1`` is ordinary dropout rescaled by count.
    """
    x = check_tensor("x", x, ndim=4, floating=True)
    p = check_probability("p", p)
    block_size = check_int("block_size", block_size, minimum=1, maximum=min(x.shape[-2:]))
    training = _check_bool("training", training)
    generator = check_generator(generator)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * 0.0
    n, c, height, width = x.shape
    gamma = drop_block_gamma(p, block_size, height, width)
    seed_shape = (n, c, height - block_size + 1, width - block_size + 1)
    seeds = (_uniform(seed_shape, x, generator) < gamma).to(x.dtype)
    keep = 1.0 - _cover(seeds, block_size)
    kept = keep.sum()
    scale = keep.numel() / kept if kept > 0 else torch.zeros((), dtype=x.dtype, device=x.device)
    return x * keep * scale


class SpatialDropout(nn.Module):
    """Spatial dropout as a layer: :func:`spatial_dropout` with the module's ``p`` in training
    mode (masks from torch's global generator), the identity in eval mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        self.p = check_probability("p", p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return spatial_dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class DropBlock2d(nn.Module):
    """DropBlock as a layer: :func:`drop_block2d` with the module's ``p`` and ``block_size`` in
    training mode (seeds from torch's global generator), the identity in eval mode."""

    def __init__(self, p: float, block_size: int) -> None:
        super().__init__()
        self.p = check_probability("p", p)
        self.block_size = check_int("block_size", block_size, minimum=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_block2d(x, self.p, self.block_size, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, block_size={self.block_size}"


def drop_block_expected_rate(p: float, block_size: int, height: int, width: int) -> torch.Tensor:
    """The exact probability that DropBlock drops each unit of an ``H x W`` map, shape ``(H, W)``.

    A unit is dropped unless none of the ``c_ij`` seed positions whose block covers it fires:
    ``P(drop_ij) = 1 - (1 - gamma) ** c_ij``. Its mean over the map is at most ``p`` (equal to
    ``p`` when blocks never overlap, i.e. for ``gamma`` small).
    """
    gamma = drop_block_gamma(p, block_size, height, width)
    positions = torch.ones(1, 1, height - block_size + 1, width - block_size + 1, dtype=torch.float64)
    counts = F.conv2d(F.pad(positions, (block_size - 1,) * 4),
                      torch.ones(1, 1, block_size, block_size, dtype=torch.float64))[0, 0]
    return 1.0 - (1.0 - gamma) ** counts


def dropout_variance(mean: float, variance: float, p: float) -> tuple[float, float]:
    """Variance of inverted dropout's output ``a = m x / (1 - p)`` in training and at inference.

    For ``x`` independent of ``m`` with ``E[x] = mean`` and ``Var[x] = variance``:
    training ``Var[a] = (variance + mean**2) / (1 - p) - mean**2``; inference ``Var[a] = variance``.
    Returns ``(train_variance, inference_variance)``; ``p`` must be below 1.
    """
    mean = check_real("mean", mean)
    p = check_probability("p", p, allow_one=False)
    variance = check_positive("variance", variance, allow_zero=True)
    second_moment = variance + mean**2
    return second_moment / (1.0 - p) - mean**2, variance


def _column_energy(X: torch.Tensor) -> torch.Tensor:
    """``sum_i x_ij^2`` for every column ``j`` of ``X``: the diagonal of ``X^T X``."""
    return (X * X).sum(dim=0)


def dropout_ridge_penalty(X: torch.Tensor, w: torch.Tensor, p: float) -> torch.Tensor:
    """The penalty that inverted dropout on the inputs of a linear model adds to its expected loss.

    With a mask ``M`` of independent ``Bernoulli(1 - p)`` entries (Wager, Wang and Liang, 2013),
    ``E ||y - (M * X / (1 - p)) w||^2 = ||y - X w||^2 + p / (1 - p) * sum_j w_j^2 sum_i x_ij^2``;
    this returns the second term, a ridge penalty whose weight on ``w_j`` grows with the energy
    ``sum_i x_ij^2`` of feature ``j``. For chapter 04's loss, the mean of ``1/2`` squared errors,
    divide it by ``2 n``. ``X`` is ``(n, d)``, ``w`` is ``(d,)`` of the same dtype; ``p < 1``.
    """
    X = check_tensor("X", X, ndim=2, floating=True)
    w = check_tensor("w", w, ndim=1, floating=True)
    if w.shape[0] != X.shape[1] or w.dtype != X.dtype or w.device != X.device:
        raise ValueError(f"w must have one entry per column of X ({X.shape[1]}) and X's dtype and device "
                         f"({X.dtype} on {X.device}), got shape {tuple(w.shape)}, {w.dtype} on {w.device}")
    p = check_probability("p", p, allow_one=False)
    return p / (1.0 - p) * (w * w * _column_energy(X)).sum()


def dropout_ridge_solution(X: torch.Tensor, y: torch.Tensor, p: float) -> torch.Tensor:
    """The minimiser of the expected squared error under inverted dropout on the inputs.

    Solves the generalised ridge system ``(X^T X + p / (1 - p) diag(X^T X)) w = X^T y`` (see
    :func:`dropout_ridge_penalty`); the same ``w`` minimises the summed and the mean squared error.
    At ``p = 0`` it is least squares, which needs ``X^T X`` invertible; for ``p > 0`` any ``X``
    without an all-zero column will do. Rescaling column ``j`` by ``s`` rescales ``w_j`` by
    ``1 / s`` and leaves the predictions unchanged, unlike plain ridge.
    """
    X, y = check_regression_data(X, y)
    p = check_probability("p", p, allow_one=False)
    energy = _column_energy(X)
    if (energy == 0).any():
        column = int((energy == 0).nonzero()[0, 0])
        raise ValueError(f"X must have no all-zero column (dropout puts no penalty on its weight), "
                         f"got column {column} all zero")
    gram = X.T @ X
    return torch.linalg.solve(gram + p / (1.0 - p) * torch.diag(energy), X.T @ y)


# ----------------------------------------------------------------------------------------------
# Whole models: Monte Carlo dropout, variance shift, BatchNorm statistics.

_BUILTIN_DROPOUT_TYPES: tuple[type[nn.Module], ...] = (nn.modules.dropout._DropoutNd, Dropout, SpatialDropout,
                                                        DropBlock2d)
_REGISTERED_DROPOUT_TYPES: list[type[nn.Module]] = []


def register_dropout_type(layer_type: type[nn.Module]) -> type[nn.Module]:
    """Make :func:`mc_dropout_predict`, :func:`variance_shift` and :func:`dropout_only_training` treat
    ``layer_type`` (a module whose randomness is on in training mode only) as a dropout layer.
    Returns ``layer_type``, so it can decorate a class."""
    if not (isinstance(layer_type, type) and issubclass(layer_type, nn.Module)):
        raise TypeError(f"layer_type must be a subclass of torch.nn.Module, got {layer_type!r}")
    if layer_type not in _REGISTERED_DROPOUT_TYPES:
        _REGISTERED_DROPOUT_TYPES.append(layer_type)
    return layer_type


def dropout_types() -> tuple[type[nn.Module], ...]:
    """The module types treated as dropout: PyTorch's dropout layers, :class:`Dropout`,
    :class:`SpatialDropout`, :class:`DropBlock2d`, :class:`attnreg.dropconnect.DropConnectLinear`
    (which drops weights in training mode), and any type given to :func:`register_dropout_type`.

    DropConnect is imported here, when asked for, not at the top of the module, so that
    ``attnreg.dropconnect`` stays free to import this module.
    """
    from .dropconnect import DropConnectLinear

    found = (*_BUILTIN_DROPOUT_TYPES, DropConnectLinear, *_REGISTERED_DROPOUT_TYPES)
    return tuple(dict.fromkeys(found))


def __getattr__(name: str) -> object:
    # ``DROPOUT_TYPES`` is computed on access (see :func:`dropout_types`).
    if name == "DROPOUT_TYPES":
        return dropout_types()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _resolve_types(types: tuple[type[nn.Module], ...] | None) -> tuple[type[nn.Module], ...]:
    if types is None:
        return dropout_types()
    if not (isinstance(types, tuple) and types and all(isinstance(t, type) and issubclass(t, nn.Module) for t in types)):
        raise TypeError(f"dropout_types must be a non-empty tuple of torch.nn.Module subclasses or None, got {types!r}")
    return types


def _check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return model


def _dropout_layers(model: nn.Module, types: tuple[type[nn.Module], ...] | None) -> list[nn.Module]:
    types = _resolve_types(types)
    layers = [m for m in model.modules() if isinstance(m, types)]
    if not layers:
        names = ", ".join(t.__name__ for t in types)
        raise ValueError(f"model has no dropout layer (none of {names}): dropout cannot be kept on")
    return layers


@contextmanager
def _modes_restored(model: nn.Module) -> Iterator[nn.Module]:
    """Restore the train/eval mode of every module of ``model`` on exit."""
    modes = [(module, module.training) for module in model.modules()]
    try:
        yield model
    finally:
        for module, was_training in modes:
            module.training = was_training


@contextmanager
def dropout_only_training(model: nn.Module,
                          dropout_types: tuple[type[nn.Module], ...] | None = None) -> Iterator[nn.Module]:
    """Inside the block, only the dropout layers of ``model`` are in training mode; everything
    else (BatchNorm included) is in eval mode. Every module's mode is restored on exit."""
    model = _check_model(model)
    layers = _dropout_layers(model, dropout_types)
    with _modes_restored(model):
        model.eval()
        for layer in layers:
            layer.train()
        yield model


@torch.no_grad()
def mc_dropout_predict(
    model: nn.Module,
    x: torch.Tensor,
    num_samples: int,
    transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    dropout_types: tuple[type[nn.Module], ...] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Monte Carlo dropout (Gal and Ghahramani, 2016): ``num_samples`` forward passes with dropout on.

    Returns the predictive mean ``(1/n_mc) sum_s f_s(x)`` and the sample standard deviation over the
    ``n_mc = num_samples`` passes, each of the shape of one output. ``transform`` is applied to each
    pass first (``lambda z: z.softmax(-1)`` for class probabilities). Only the dropout layers run
    in training mode (BatchNorm uses its running statistics); the model's modes are restored.
    """
    model = _check_model(model)
    x = check_tensor("x", x)
    num_samples = check_int("num_samples", num_samples, minimum=2)
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
    x = x.to(model_device(model, x))
    with dropout_only_training(model, dropout_types):
        outputs = []
        for _ in range(num_samples):
            out = model(x)
            outputs.append(transform(out) if transform is not None else out)
    stacked = torch.stack(outputs)
    return stacked.mean(dim=0), stacked.std(dim=0)


_BATCHNORM = nn.modules.batchnorm._BatchNorm


def _batchnorm_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    layers = [(name, m) for name, m in model.named_modules() if isinstance(m, _BATCHNORM)]
    if not layers:
        raise ValueError("model has no BatchNorm layer")
    return layers


def _per_feature_variance(inputs: torch.Tensor) -> torch.Tensor:
    """Variance of each feature (dimension 1) over the batch and any spatial positions."""
    dims = [0] + list(range(2, inputs.ndim))
    return inputs.var(dim=dims, unbiased=False)


@torch.no_grad()
def variance_shift(
    model: nn.Module,
    x: torch.Tensor,
    dropout_types: tuple[type[nn.Module], ...] | None = None,
) -> dict[str, torch.Tensor]:
    """The variance shift (Li et al., 2019) at every BatchNorm layer of ``model`` on inputs ``x``.

    For each BatchNorm layer and each of its features, the ratio ``Var_infer / Var_train`` of
    the layer's INPUT over ``x``, with dropout off (inference) and on (training). BatchNorm
    normalises with statistics gathered in training, so a ratio below 1 means that at inference
    its outputs have a smaller variance than the network was trained on. All BatchNorm layers
    stay in eval mode (their statistics are not touched); the model's modes are restored.
    """
    model = _check_model(model)
    x = check_tensor("x", x).to(model_device(model, x))
    layers = _batchnorm_layers(model)
    variances: dict[str, list[torch.Tensor]] = {name: [] for name, _ in layers}
    hooks = [layer.register_forward_hook(
        lambda _m, inputs, _out, name=name: variances[name].append(_per_feature_variance(inputs[0])))
        for name, layer in layers]
    try:
        with dropout_only_training(model, dropout_types):
            model(x)  # dropout on: training variance
        with _modes_restored(model):
            model.eval()
            model(x)  # dropout off: inference variance
    finally:
        for hook in hooks:
            hook.remove()
    return {name: train_infer[1] / train_infer[0] for name, train_infer in variances.items()}


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """Consecutive ``(start, end)`` slices of ``n`` rows, ``batch_size`` each; a last batch of a
    single row joins the one before it (BatchNorm cannot take the variance of one example)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, starts[1:] + [n]))


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> nn.Module:
    """Re-estimate every BatchNorm layer's running mean and variance on ``x`` with dropout OFF.

    After training with dropout before BatchNorm, the running statistics describe the training
    (dropout on) distribution; this replaces them by exact averages over ``x`` at inference
    conditions (BatchNorm in training mode with ``momentum=None``, everything else in eval mode).
    Batches hold ``batch_size`` rows; a last batch of one row joins the previous batch.
    Returns ``model`` with its modes and momenta restored.
    """
    model = _check_model(model)
    x = check_tensor("x", x, min_ndim=2).to(model_device(model, x))
    if len(x) < 2:
        raise ValueError(f"x must hold at least 2 examples (BatchNorm needs a variance), got shape {tuple(x.shape)}")
    batch_size = check_int("batch_size", batch_size, minimum=2)
    layers = [layer for _, layer in _batchnorm_layers(model)]
    momenta = [layer.momentum for layer in layers]
    with _modes_restored(model):
        try:
            model.eval()
            for layer in layers:
                layer.reset_running_stats()
                layer.momentum = None  # cumulative average over the batches
                layer.train()
            for start, end in _batch_bounds(len(x), batch_size):
                model(x[start:end])
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
    return model


# ----------------------------------------------------------------------------------------------
# Regression training for the chapter (train_classifier handles classification only).


def train_regressor(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, lr: float,
                    batch_size: int = 32, optimizer: str = "adam", seed: int = 0) -> list[float]:
    """Minimise the mean squared error of ``model(x)`` against ``y`` with mini-batches in a
    seeded order (the loop of :func:`attnreg.training.fit_epochs`); returns the training MSE
    (in training mode, averaged over the epoch's mini-batches weighted by their size) of each epoch.

    Randomness inside the model (dropout) comes from torch's global generator.
    """
    model = _check_model(model)
    x = check_tensor("x", x, ndim=2, floating=True)
    y = check_tensor("y", y, ndim=2, floating=True)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"x and y must have the same number of rows, got {tuple(x.shape)} and {tuple(y.shape)}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = model_device(model, x)
    x, y = x.to(device), y.to(device)
    opt = make_optimizer(model.parameters(), optimizer, lr)
    epoch_total = 0.0  # sum of batch MSE x batch size over the current epoch

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        nonlocal epoch_total
        loss = F.mse_loss(model(x[idx]), y[idx])
        epoch_total += loss.item() * len(idx)
        return loss

    def epoch_mse() -> dict[str, tuple[float, float]]:
        nonlocal epoch_total
        mse, epoch_total = epoch_total / len(x), 0.0
        return {"train": (mse, float("nan"))}  # a regressor has no accuracy

    history = fit_epochs(model, batch_loss, len(x), epoch_mse, opt, epochs=epochs, batch_size=batch_size,
                         seed=seed, progress=False)
    return history.train_loss
