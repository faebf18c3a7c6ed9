"""Polynomial features in the monomial or Legendre basis, and polynomial fits by (ridge) least squares."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch

from .._validation import check_choice, check_int, check_positive, check_regression_data, check_tensor
from ..data.polynomial import polynomial_data
from .linear import LinearFit, squared_error
from .ridge import fit_ridge


POLYNOMIAL_BASES = ("legendre", "monomial")


def polynomial_features(x: torch.Tensor, degree: int, basis: str = "legendre") -> torch.Tensor:
    """The columns ``phi_1(x), ..., phi_degree(x)`` (no constant column), shape ``(n, degree)``.

    ``basis="monomial"``: ``phi_k(x) = x^k``. ``basis="legendre"``: the Legendre polynomials,
    ``P_1 = x`` and ``(k + 1) P_{k+1} = (2k + 1) x P_k - k P_{k-1}``; each ``P_k`` has degree ``k``, so both
    bases span the same polynomials, but on ``[-1, 1]`` the Legendre columns are far better conditioned.
    """
    x = check_tensor("x", x, ndim=1, floating=True)
    degree = check_int("degree", degree, minimum=0)
    basis = check_choice("basis", basis, POLYNOMIAL_BASES)
    columns = [torch.ones_like(x)]
    for k in range(degree):
        if basis == "monomial" or k == 0:
            columns.append(columns[-1] * x)
        else:
            columns.append(((2 * k + 1) * x * columns[-1] - k * columns[-2]) / (k + 1))
    return torch.stack(columns[1:], dim=1) if degree else x.new_zeros(len(x), 0)


@dataclass(frozen=True)
class PolynomialFit:
    """A polynomial ``y_hat = b + sum_k w_k phi_k(x)`` fitted by :func:`fit_polynomial`."""

    linear: LinearFit
    degree: int
    basis: str

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear.predict(polynomial_features(x, self.degree, self.basis))

    def squared_error(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """The mean squared error ``1/n sum_i (y_i - y_hat(x_i))^2``."""
        return squared_error(self.linear, polynomial_features(x, self.degree, self.basis), y)


def fit_polynomial(x: torch.Tensor, y: torch.Tensor, degree: int, lam: float = 0.0,
                   basis: str = "legendre") -> PolynomialFit:
    """Least-squares polynomial of the given degree (ridge with ``lam > 0``), by :func:`fit_ridge`.

    The intercept is not penalized. With fewer points than coefficients the fit interpolates the points
    (the solution of smallest norm among the many that do).
    """
    lam = check_positive("lam", lam, allow_zero=True)
    features, y = check_regression_data(polynomial_features(x, degree, basis), y)
    if degree == 0:  # a constant: the mean
        return PolynomialFit(LinearFit(features.new_zeros(0), float(y.mean())), 0, basis)
    return PolynomialFit(fit_ridge(features, y, lam), degree, basis)


def polynomial_errors(
    coefficients: Iterable[float] | torch.Tensor,
    n_train: int,
    degree: int,
    *,
    noise_std: float,
    test_data: tuple[torch.Tensor, torch.Tensor],
    repeats: int,
    seed: int,
    lam: float = 0.0,
    basis: str = "legendre",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Training and test mean squared errors of :func:`fit_polynomial` (``lam``, ``basis``) on ``repeats`` training sets.

    Each training set has ``n_train`` points of :func:`~attnreg.data.polynomial_data` (``coefficients``,
    ``noise_std``); the sets are drawn from a generator seeded with ``seed``, so two calls with the same
    seed and ``n_train`` see the same sets whatever the degree. Returns two tensors of shape ``(repeats,)``.
    """
    repeats = check_int("repeats", repeats, minimum=1)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    x_test, y_test = test_data
    train_errors, test_errors = torch.empty(repeats, dtype=torch.float64), torch.empty(repeats, dtype=torch.float64)
    for r in range(repeats):
        x, y = polynomial_data(coefficients, n_train, noise_std, generator=generator, dtype=x_test.dtype)
        fit = fit_polynomial(x, y, degree, lam, basis)
        train_errors[r], test_errors[r] = fit.squared_error(x, y), fit.squared_error(x_test, y_test)
    return train_errors, test_errors
