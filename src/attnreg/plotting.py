"""One figure style for the whole course, and the figures that several chapters share.

Figures stay at most :data:`MAX_WIDTH` inches wide (800 px at 100 dpi) with no text below
:data:`MIN_FONT_SIZE` points, so that their text is readable at the book's column width: 8 points
at 100 dpi are 11 px, still 8 px when the book shrinks a figure to 72 % (``make site-test`` checks it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from ._validation import check_choice, check_int
from .training import History

MAX_WIDTH = 8.0  # inches
MIN_FONT_SIZE = 8.0  # points: the smallest text a course figure may use

STYLE: dict[str, Any] = {
    "figure.dpi": 100,
    "figure.figsize": (6.0, 3.6),
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def use_style() -> None:
    """Apply the course's figure style (done once when this module is imported)."""
    plt.rcParams.update(STYLE)


use_style()


def _as_numpy(matrix: Any) -> np.ndarray:
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.detach().cpu().numpy()
    return np.asarray(matrix)


#: Where :func:`plot_history` puts its legend.
LEGEND_PLACES = ("inside", "below")


def plot_history(histories: History | Mapping[str, History], title: str | None = None, legend: str = "inside") -> Figure:
    """Loss and accuracy against the epoch: train dashed, test solid, one colour per run.

    ``histories`` is one :class:`~attnreg.training.History` or a mapping from a label to one; each
    metric is drawn at the epochs it was measured after (:meth:`History.epoch_numbers`).
    ``legend="inside"`` lists every curve in the lower right corner of the accuracy panel, which
    suits one or two runs; ``legend="below"`` puts one entry per run and a key to the line styles
    under both panels, where it covers no curve, however many runs there are.
    """
    legend = check_choice("legend", legend, LEGEND_PLACES)
    if isinstance(histories, History):
        histories = {"model": histories}
    if not histories:
        raise ValueError("histories must hold at least one History, got an empty mapping")
    for label, history in histories.items():
        if not isinstance(history, History):
            raise TypeError(f"histories[{label!r}] must be a History, got {type(history).__name__}")
    columns = min(len(histories) + 2, 4)
    rows = -(-(len(histories) + 2) // columns)
    height = 3.4 if legend == "inside" else 3.4 + 0.25 * rows
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(MAX_WIDTH, height))
    for i, (label, history) in enumerate(histories.items()):
        epochs = np.array(history.epoch_numbers())
        color = f"C{i}"
        ax_loss.plot(epochs, history.train_loss, "--", color=color, label=f"{label} (train)")
        ax_loss.plot(epochs, history.test_loss, "-", color=color, label=f"{label} (test)")
        ax_acc.plot(epochs, history.train_acc, "--", color=color, label=f"{label} (train)")
        ax_acc.plot(epochs, history.test_acc, "-", color=color, label=f"{label} (test)")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    if title:
        fig.suptitle(title)
    if legend == "inside":
        ax_acc.legend(loc="lower right")
        fig.tight_layout()
        return fig
    handles = [Line2D([], [], color=f"C{i}", label=label) for i, label in enumerate(histories)]
    handles += [Line2D([], [], color="0.4", linestyle="--", label="train"),
                Line2D([], [], color="0.4", linestyle="-", label="test")]
    bottom = (0.05 + 0.22 * rows) / height  # the share of the figure's height under the panels
    fig.legend(handles=handles, loc="lower center", ncol=columns, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, bottom, 1, 1))
    return fig


def plot_heatmap(
    matrix: Any,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    cmap: str = "Blues",
    annotate: bool = False,
    colorbar: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """Show a 2-D matrix (attention weights: rows = queries, columns = keys) as a heatmap.

    ``vmin`` and ``vmax`` fix the colour scale (``0`` and ``1`` for attention weights, so that panels
    compare); by default it spans the matrix's own range.
    """
    values = _as_numpy(matrix)
    if values.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {values.shape}")
    for name, labels, size in (("row_labels", row_labels, values.shape[0]), ("col_labels", col_labels, values.shape[1])):
        if labels is not None and len(labels) != size:
            raise ValueError(f"{name} must have {size} entries to match matrix of shape {values.shape}, got {len(labels)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 0.35 * values.shape[1] + 1.5), max(2.5, 0.35 * values.shape[0] + 1.0)))
    if vmin is not None and vmax is not None and not vmin < vmax:
        raise ValueError(f"vmin must be below vmax, got vmin={vmin} and vmax={vmax}")
    image = ax.imshow(values, cmap=cmap, aspect="auto", vmin=vmin, vmax=vmax)
    ax.grid(False)
    if col_labels is not None:
        ax.set_xticks(range(values.shape[1]), labels=list(col_labels), rotation=90)
    if row_labels is not None:
        ax.set_yticks(range(values.shape[0]), labels=list(row_labels))
    if annotate:
        for (i, j), value in np.ndenumerate(values):
            top = values.max() if vmax is None else vmax
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if value > 0.6 * top else "black")
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    if title:
        ax.set_title(title)
    return ax


def show_images(images: Any, labels: Sequence[Any] | None = None, ncols: int = 8, size: float = 1.0) -> Figure:
    """A grid of 28 x 28 grey images (flat 784-vectors or ``(n, 1, 28, 28)``), each titled by its label."""
    pixels = _as_numpy(images)
    if pixels.ndim < 2 or pixels[0].size != 784:
        raise ValueError(f"images must hold 28 x 28 images, got shape {pixels.shape}")
    ncols = check_int("ncols", ncols, minimum=1)
    if labels is not None and len(labels) != len(pixels):
        raise ValueError(f"labels must have one entry per image ({len(pixels)}), got {len(labels)}")
    nrows = -(-len(pixels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.2), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(pixels):
            ax.imshow(pixels[i].reshape(28, 28), cmap="gray_r")
            if labels is not None:
                ax.set_title(str(labels[i]), fontsize=9)
    fig.tight_layout()
    return fig


def small_multiples(
    draw: Callable[[Axes, Any], None],
    values: Sequence[Any],
    name: str,
    ncols: int | None = None,
    panel_size: tuple[float, float] = (3.2, 2.6),
) -> Figure:
    """The static counterpart of a slider: one panel per value, ``draw(ax, value)`` in each.

    By default as many panels per row as fit in :data:`MAX_WIDTH`.
    """
    if len(values) == 0:
        raise ValueError("values must hold at least one value, got none")
    fit = max(1, int(MAX_WIDTH // panel_size[0]))
    ncols = min(len(values), fit) if ncols is None else check_int("ncols", ncols, minimum=1)
    nrows = -(-len(values) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel_size[0] * ncols, panel_size[1] * nrows), squeeze=False)
    for ax in axes.flat[len(values):]:
        ax.axis("off")
    for ax, value in zip(axes.flat, values):
        draw(ax, value)
        ax.set_title(f"{name} = {value}")
    fig.tight_layout()
    return fig


def interactive_panel(
    draw: Callable[[Axes, Any], None],
    values: Sequence[Any],
    name: str,
    value: Any = None,
    panel_size: tuple[float, float] = (5.0, 3.4),
):
    """A slider over ``values`` that redraws one panel with ``draw(ax, value)`` (needs a live kernel).

    Pair it with :func:`small_multiples` over the same values for readers of the static book.
    """
    import ipywidgets

    if len(values) == 0:
        raise ValueError("values must hold at least one value, got none")
    if value is not None and value not in values:
        raise ValueError(f"value must be one of values {list(values)}, got {value!r}")

    def redraw(selected: Any) -> None:
        fig, ax = plt.subplots(figsize=panel_size)
        draw(ax, selected)
        ax.set_title(f"{name} = {selected}")
        plt.show()

    slider = ipywidgets.SelectionSlider(options=list(values), value=values[0] if value is None else value,
                                        description=name, continuous_update=False)
    return ipywidgets.interactive(redraw, selected=slider)
