import matplotlib
import pytest
import torch

from attnreg.bayes import least_squares_mle, log_likelihood, ridge_map
from attnreg.bayes_plots import DensityGrid, density_grid, plot_density_grid, plot_density_overlay
from attnreg.data import synthetic_regression

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def seeded():
    """Every test draws the same random numbers on every run."""
    torch.manual_seed(0)

# ------------------------------------------------------------------ 2-D pictures

def test_density_grid_maps_and_argmax():
    w = torch.tensor([1.0, -0.5], dtype=torch.float64)
    X, y = synthetic_regression(w, 0.0, 8, noise_std=0.5, generator=torch.Generator().manual_seed(1))
    grid = density_grid(X, y, 0.5, "gaussian", 0.7, limits=(-2.0, 2.0), steps=401)
    assert isinstance(grid, DensityGrid)
    assert grid.log_posterior.shape == (401, 401)
    assert torch.allclose(grid.log_posterior, grid.log_likelihood + grid.log_prior)
    # entry [i, j] belongs to theta = (theta1[j], theta2[i])
    theta = torch.stack([grid.theta1[300], grid.theta2[100]])
    assert torch.allclose(grid.log_likelihood[100, 300], log_likelihood(theta, X, y, 0.5))
    step = (grid.theta1[1] - grid.theta1[0]).item()
    assert (grid.argmax() - ridge_map(X, y, 0.5, 0.7)).abs().max() <= step / 2 + 1e-12
    assert (grid.argmax("log_likelihood") - least_squares_mle(X, y)).abs().max() <= step / 2 + 1e-12
    assert torch.allclose(grid.argmax("log_prior"), torch.zeros(2, dtype=torch.float64), atol=1e-12)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"X": torch.randn(5, 3, dtype=torch.float64)}, ValueError, r"^X must have 2 columns for a 2-D picture"),
    ({"limits": (1.0, -1.0)}, ValueError, r"^limits must be \(low, high\) with low < high, got \(1.0, -1.0\)"),
    ({"steps": 1}, ValueError, r"^steps must be an integer in \[2, inf\], got 1"),
    ({"prior": "uniform"}, ValueError, r"^prior must be one of"),
])
def test_density_grid_bad_arguments(kwargs, error, message):
    arguments = {"X": torch.randn(5, 2, dtype=torch.float64), "y": torch.randn(5, dtype=torch.float64),
                 "sigma": 1.0, "prior": "laplace", "scale": 1.0}
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        density_grid(**arguments)


def test_density_grid_argmax_bad_name():
    grid = density_grid(torch.randn(5, 2, dtype=torch.float64), torch.randn(5, dtype=torch.float64), 1.0, None, steps=5)
    with pytest.raises(ValueError, match=r"^which must be one of 'log_likelihood', 'log_prior', 'log_posterior'"):
        grid.argmax("posterior")


def test_plot_density_grid():
    X, y = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    for prior, scale in ((None, None), ("laplace", 0.5)):
        grid = density_grid(X, y, 1.0, prior, scale, steps=21)
        axes = plot_density_grid(grid, mle=least_squares_mle(X, y), map_estimate=torch.zeros(2),
                                 truth=torch.tensor([1.0, -0.5]))
        assert [ax.get_title() for ax in axes] == ["likelihood", "prior", "posterior"]
        assert axes[2].get_legend_handles_labels()[1] == ["MLE", "MAP", "true"]
        assert all(list(ax.lines[2].get_xydata()[0]) == [1.0, -0.5] for ax in axes)  # the star on every panel
        assert all(ax.get_xlim() == (-2.0, 2.0) for ax in axes)
    with pytest.raises(ValueError, match=r"^axes must hold 3 axes \(likelihood, prior, posterior\), got 2"):
        plot_density_grid(grid, axes=axes[:2])
    matplotlib.pyplot.close("all")


def test_plot_density_overlay():
    X, y = torch.randn(6, 2, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
    grid = density_grid(X, y, 1.0, "gaussian", 0.5, steps=21)
    ax = plot_density_overlay(grid, mle=least_squares_mle(X, y), map_estimate=ridge_map(X, y, 1.0, 0.5),
                              truth=torch.tensor([0.5, 0.5]))
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["likelihood", "prior", "posterior", "MLE", "MAP", "true"]
    assert ax.get_xlim() == (-2.0, 2.0) and ax.get_ylim() == (-2.0, 2.0)  # the grid, even with the MLE outside
    assert plot_density_overlay(density_grid(X, y, 1.0, None, steps=21), ax=ax) is ax  # flat prior: no contours
    matplotlib.pyplot.close("all")
