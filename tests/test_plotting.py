import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from attnreg.plotting import (  # noqa: E402
    MAX_WIDTH,
    MIN_FONT_SIZE,
    STYLE,
    interactive_panel,
    plot_heatmap,
    plot_history,
    show_images,
    small_multiples,
)
from attnreg.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def history(n: int = 3, offset: float = 0.0) -> History:
    values = [offset + i / 10 for i in range(n)]
    return History(values, values, values, values, [0.1] * n)


def test_style_is_applied_on_import():
    assert plt.rcParams["axes.spines.top"] is STYLE["axes.spines.top"] is False


def test_style_sets_no_text_below_the_minimum_size():
    sizes = {key: value for key, value in STYLE.items() if key.endswith(("size", "fontsize", "titlesize"))
             and key != "figure.figsize"}
    assert sizes and all(value >= MIN_FONT_SIZE for value in sizes.values()), sizes


def test_plot_history_draws_train_and_test_per_run():
    fig = plot_history({"a": history(), "b": history(offset=0.5)}, title="runs")
    ax_loss, ax_acc = fig.axes
    assert len(ax_loss.lines) == 4 and len(ax_acc.lines) == 4
    assert [line.get_label() for line in ax_acc.lines][:2] == ["a (train)", "a (test)"]
    assert np.allclose(ax_acc.lines[3].get_ydata(), [0.5, 0.6, 0.7])
    assert len(plot_history(history()).axes[0].lines) == 2


def test_plot_history_draws_each_metric_at_its_evaluated_epoch():
    sparse = History([1.0, 0.5, 0.4], [0.5, 0.8, 0.9], [1.1, 0.7, 0.6], [0.4, 0.7, 0.8], [0.1] * 7, [3, 6, 7])
    ax_loss, ax_acc = plot_history(sparse).axes
    assert list(ax_loss.lines[0].get_xdata()) == [3, 6, 7] and list(ax_acc.lines[1].get_ydata()) == [0.4, 0.7, 0.8]
    assert list(plot_history(history()).axes[0].lines[0].get_xdata()) == [1, 2, 3]  # filled by hand


def test_plot_history_legend_below_covers_no_panel():
    runs = {f"run {i}": history(offset=i / 10) for i in range(4)}
    fig = plot_history(runs, title="four runs", legend="below")
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    labels = [text.get_text() for text in fig.legends[0].get_texts()]
    assert labels == ["run 0", "run 1", "run 2", "run 3", "train", "test"]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend_top = fig.legends[0].get_window_extent(renderer).y1
    assert all(ax.get_tightbbox(renderer).y0 >= legend_top for ax in fig.axes)  # panels and their labels above it
    assert fig.get_figwidth() <= MAX_WIDTH
    assert plot_history(history()).axes[1].get_legend() is not None  # the default keeps the legend inside


def test_plot_history_bad_input():
    with pytest.raises(ValueError, match="histories must hold at least one History"):
        plot_history({})
    with pytest.raises(TypeError, match=r"histories\['x'\] must be a History, got list"):
        plot_history({"x": [0.1]})
    with pytest.raises(ValueError, match="legend must be one of 'inside', 'below', got 'outside'"):
        plot_history(history(), legend="outside")


def test_plot_heatmap_shows_the_matrix_with_labels():
    weights = torch.softmax(torch.randn(3, 4), dim=-1)
    ax = plot_heatmap(weights, row_labels=["a", "b", "c"], col_labels=list("wxyz"), annotate=True, title="t")
    assert np.allclose(ax.images[0].get_array(), weights.numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == list("wxyz")
    assert len(ax.texts) == 12


@pytest.mark.parametrize(
    "kwargs, message",
    [({"matrix": np.zeros(3)}, r"matrix must be 2-D, got shape \(3,\)"),
     ({"matrix": np.zeros((2, 3)), "row_labels": ["a"]}, r"row_labels must have 2 entries to match matrix of shape \(2, 3\), got 1"),
     ({"matrix": np.zeros((2, 3)), "col_labels": ["a"]}, "col_labels must have 3 entries")],
)
def test_plot_heatmap_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plot_heatmap(**kwargs)


def test_show_images_grid():
    fig = show_images(torch.rand(10, 784), labels=list(range(10)), ncols=4)
    assert len(fig.axes) == 12 and fig.axes[9].get_title() == "9"
    assert show_images(torch.rand(3, 1, 28, 28)).axes[0].images


def test_show_images_bad_input():
    with pytest.raises(ValueError, match="images must hold 28 x 28 images"):
        show_images(torch.rand(2, 100))
    with pytest.raises(ValueError, match=r"labels must have one entry per image \(2\), got 1"):
        show_images(torch.rand(2, 784), labels=[1])


def test_small_multiples_and_interactive_panel_call_draw_per_value():
    drawn = []

    def draw(ax, value):
        drawn.append(value)
        ax.plot([0, 1], [0, value])

    fig = small_multiples(draw, [1, 2, 3], name="scale", ncols=2)
    assert drawn == [1, 2, 3] and fig.axes[1].get_title() == "scale = 2"
    assert not fig.axes[3].axison  # the unused fourth panel is hidden
    widget = interactive_panel(draw, [1, 2, 3], name="scale", value=2)
    assert widget.children[0].options == (1, 2, 3) and widget.children[0].value == 2


def test_panels_bad_input():
    with pytest.raises(ValueError, match="values must hold at least one value"):
        small_multiples(lambda ax, v: None, [], name="x")
    with pytest.raises(ValueError, match=r"value must be one of values \[1, 2\], got 3"):
        interactive_panel(lambda ax, v: None, [1, 2], name="x", value=3)


def test_heatmap_colour_scale_can_be_fixed():
    ax = plot_heatmap(torch.tensor([[0.4, 0.6], [0.5, 0.5]]), vmin=0.0, vmax=1.0)
    assert ax.images[0].get_clim() == (0.0, 1.0)
    ax = plot_heatmap(torch.tensor([[0.4, 0.6], [0.5, 0.5]]))
    assert ax.images[0].get_clim() == pytest.approx((0.4, 0.6))
    with pytest.raises(ValueError, match="vmin must be below vmax, got vmin=1.0 and vmax=0.0"):
        plot_heatmap(torch.eye(2), vmin=1.0, vmax=0.0)


def test_shared_figures_fit_the_column():
    fig = small_multiples(lambda ax, v: ax.plot([0, v]), values=[1, 2, 3, 4, 5], name="v")
    assert fig.get_figwidth() <= MAX_WIDTH and len(fig.axes) == 6  # two rows of three, one panel off
    fig = plot_history(History(train_loss=[1.0], test_loss=[1.0], train_acc=[0.5], test_acc=[0.5]))
    assert fig.get_figwidth() <= MAX_WIDTH
