"""Pictures of the Bayesian view in two dimensions (chapter 05): log-likelihood, log-prior and log-posterior
of a 2-D ``theta`` evaluated on a grid, drawn as contours with the MLE, the MAP estimate and the true parameter.

The densities are those of :mod:`attnreg.bayes`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from ._validation import check_choice, check_int, check_real, check_regression_data
from .bayes import log_likelihood, log_prior


@dataclass(frozen=True)
class DensityGrid:
    """Log-likelihood, log-prior and log-posterior of a 2-D ``theta`` on a grid.

    ``theta1`` and ``theta2`` are the grid's axes; each map has shape ``(len(theta2), len(theta1))``, the
    entry ``[i, j]`` belonging to ``theta = (theta1[j], theta2[i])`` (the layout of ``plt.contour``).
    ``log_posterior = log_likelihood + log_prior``, without the constant ``-log p(y | X)``.
    """

    theta1: torch.Tensor
    theta2: torch.Tensor
    log_likelihood: torch.Tensor
    log_prior: torch.Tensor
    log_posterior: torch.Tensor

    def argmax(self, which: str = "log_posterior") -> torch.Tensor:
        """The grid point where the map ``which`` is largest, as ``(theta1, theta2)``."""
        which = check_choice("which", which, ("log_likelihood", "log_prior", "log_posterior"))
        values = getattr(self, which)
        i, j = divmod(int(values.argmax()), values.shape[1])
        return torch.stack([self.theta1[j], self.theta2[i]])


def density_grid(X: torch.Tensor, y: torch.Tensor, sigma: float, prior: str | None, scale: object = None,
                 limits: tuple[float, float] = (-2.0, 2.0), steps: int = 201) -> DensityGrid:
    """Evaluate :func:`log_likelihood`, :func:`log_prior` and their sum on a square grid over ``limits``."""
    X, y = check_regression_data(X, y)
    if X.shape[1] != 2:
        raise ValueError(f"X must have 2 columns for a 2-D picture, got shape {tuple(X.shape)}")
    low, high = check_real("limits[0]", limits[0]), check_real("limits[1]", limits[1])
    if not low < high:
        raise ValueError(f"limits must be (low, high) with low < high, got {limits!r}")
    steps = check_int("steps", steps, minimum=2)
    axis = torch.linspace(low, high, steps, dtype=X.dtype, device=X.device)
    t2, t1 = torch.meshgrid(axis, axis, indexing="ij")
    thetas = torch.stack([t1, t2], dim=-1)
    loglik = log_likelihood(thetas, X, y, sigma)
    logprior = log_prior(thetas, prior, scale)
    return DensityGrid(axis, axis, loglik, logprior, loglik + logprior)


#: Contour levels of a log density relative to its maximum: for a Gaussian, the 1, 2, 3 and 4 sigma ellipses.
RELATIVE_LEVELS = [-8.0, -4.5, -2.0, -0.5]


def plot_density_grid(grid: DensityGrid, axes: Sequence[Axes] | None = None,
                      mle: torch.Tensor | None = None, map_estimate: torch.Tensor | None = None,
                      truth: torch.Tensor | None = None) -> list[Axes]:
    """Three panels, likelihood, prior and posterior: contours of each log density minus its maximum at
    ``RELATIVE_LEVELS``; the MLE (cross), the MAP estimate (dot) and the true parameter (star) are marked
    where given."""
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(10, 3.3), sharex=True, sharey=True)
    if len(axes) != 3:
        raise ValueError(f"axes must hold 3 axes (likelihood, prior, posterior), got {len(axes)}")
    t1, t2 = grid.theta1.cpu().numpy(), grid.theta2.cpu().numpy()
    maps = {"likelihood": grid.log_likelihood, "prior": grid.log_prior, "posterior": grid.log_posterior}
    for ax, (title, values) in zip(axes, maps.items()):
        relative = (values - values.max()).cpu().numpy()
        if np.ptp(relative) > 0:  # a flat prior has no contours
            ax.contourf(t1, t2, relative, levels=RELATIVE_LEVELS + [0.0], cmap="Blues", alpha=0.8)
            ax.contour(t1, t2, relative, levels=RELATIVE_LEVELS, colors="C0", linestyles="solid", linewidths=0.8)
        for point, marker, color, label in ((mle, "x", "k", "MLE"), (map_estimate, "o", "C3", "MAP"),
                                            (truth, "*", "C2", "true")):
            if point is not None:
                ax.plot(*point.detach().cpu().tolist(), marker, color=color, markersize=9 if marker == "*" else 7,
                        label=label)
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set(title=title, xlabel=r"$\theta_1$", xlim=(t1[0], t1[-1]), ylim=(t2[0], t2[-1]), aspect="equal")
    axes[0].set_ylabel(r"$\theta_2$")
    if mle is not None or map_estimate is not None or truth is not None:
        axes[2].legend(loc="lower right")
    return list(axes)


def plot_density_overlay(grid: DensityGrid, ax: Axes | None = None, mle: torch.Tensor | None = None,
                         map_estimate: torch.Tensor | None = None, truth: torch.Tensor | None = None) -> Axes:
    """Likelihood (dashed), prior (dotted) and posterior (filled) contours of ``grid`` in one panel, at the
    ``RELATIVE_LEVELS`` of each log density minus its maximum; the MLE (cross), MAP (dot) and true parameter
    (star) where given."""
    if ax is None:
        _, ax = plt.subplots(figsize=(3.6, 3.3))
    t1, t2 = grid.theta1.cpu().numpy(), grid.theta2.cpu().numpy()
    relative = {name: (values - values.max()).cpu().numpy() for name, values in
                (("likelihood", grid.log_likelihood), ("prior", grid.log_prior), ("posterior", grid.log_posterior))}
    ax.contourf(t1, t2, relative["posterior"], levels=RELATIVE_LEVELS + [0.0], cmap="Reds", alpha=0.6)
    ax.contour(t1, t2, relative["likelihood"], levels=RELATIVE_LEVELS, colors="C0", linestyles="--", linewidths=0.8)
    if np.ptp(relative["prior"]) > 0:
        ax.contour(t1, t2, relative["prior"], levels=RELATIVE_LEVELS, colors="grey", linestyles=":", linewidths=0.8)
    ax.plot([], [], "--", color="C0", label="likelihood")
    ax.plot([], [], ":", color="grey", label="prior")
    ax.fill_between([], [], color="C3", alpha=0.5, label="posterior")
    for point, marker, color, label in ((mle, "x", "k", "MLE"), (map_estimate, "o", "C3", "MAP"),
                                        (truth, "*", "C2", "true")):
        if point is not None:
            ax.plot(*point.detach().cpu().tolist(), marker, color=color, markersize=8 if marker == "*" else 6,
                    label=label)
    ax.set(xlabel=r"$\theta_1$", ylabel=r"$\theta_2$", xlim=(t1[0], t1[-1]), ylim=(t2[0], t2[-1]), aspect="equal")
    return ax
