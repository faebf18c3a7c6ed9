"""Small models shared by several chapters."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn

from ._validation import check_int, check_probability


def mlp(
    sizes: Sequence[int],
    dropout: float | Sequence[float] = 0.0,
    *,
    linear: Callable[[int, int], nn.Module] = nn.Linear,
    dropout_layer: Callable[[float], nn.Module] = nn.Dropout,
    activation: Callable[[], nn.Module] = nn.ReLU,
) -> nn.Sequential:
    """A multilayer perceptron ``sizes[0] -> ... -> sizes[-1]`` that returns logits.

    Every hidden layer is ``linear -> activation -> dropout_layer(p)``, with ``p`` from
    ``dropout`` (one value for all hidden layers, or one per hidden layer); a layer with
    ``p = 0`` gets no dropout module. The output layer has neither activation nor dropout.
    ``linear`` and ``dropout_layer`` let a chapter swap in its own layers (DropConnect, say).
    """
    sizes = [check_int(f"sizes[{i}]", size, minimum=1) for i, size in enumerate(sizes)]
    if len(sizes) < 2:
        raise ValueError(f"sizes must list at least an input and an output size, got {sizes}")
    n_hidden = len(sizes) - 2
    rates = [dropout] * n_hidden if isinstance(dropout, (int, float)) else list(dropout)
    if len(rates) != n_hidden:
        raise ValueError(f"dropout must be one rate or one per hidden layer ({n_hidden}), got {list(rates)}")
    rates = [check_probability(f"dropout[{i}]", p, allow_one=False) for i, p in enumerate(rates)]
    layers: list[nn.Module] = []
    for fan_in, fan_out, p in zip(sizes[:-2], sizes[1:-1], rates):
        layers += [linear(fan_in, fan_out), activation()]
        if p > 0:
            layers.append(dropout_layer(p))
    layers.append(linear(sizes[-2], sizes[-1]))
    return nn.Sequential(*layers)
