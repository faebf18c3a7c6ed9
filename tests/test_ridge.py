import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge

from attnreg.regularization import fit_ridge, half_squared_error, squared_error
from regression_cases import F64, regression_data


def test_fit_ridge_matches_sklearn_and_the_normal_equations():
    X, y = regression_data()
    n, lam = len(X), 0.3
    fit = fit_ridge(X, y, lam)
    reference = Ridge(alpha=n * lam).fit(X.numpy(), y.numpy())
    assert np.allclose(fit.weight.numpy(), reference.coef_, atol=1e-10)
    assert fit.bias == pytest.approx(reference.intercept_, abs=1e-10)
    no_bias = fit_ridge(X, y, lam, fit_intercept=False)
    normal = torch.linalg.solve(X.T @ X / n + lam * torch.eye(X.shape[1], dtype=F64), X.T @ y / n)
    assert torch.allclose(no_bias.weight, normal) and no_bias.bias == 0.0


def test_fit_ridge_with_zero_lambda_is_least_squares_and_minimum_norm_when_d_exceeds_n():
    X, y = regression_data(n=30, d=4)
    ols = fit_ridge(X, y, 0.0, fit_intercept=False)
    assert torch.allclose(ols.weight, torch.linalg.lstsq(X, y.unsqueeze(1)).solution.squeeze(1))
    X, y = regression_data(n=5, d=12)
    wide = fit_ridge(X, y, 0.0, fit_intercept=False)
    assert torch.allclose(X @ wide.weight, y)  # interpolates
    assert torch.allclose(wide.weight, torch.linalg.pinv(X) @ y)  # with the smallest norm


def test_fit_ridge_and_squared_error_reject_bad_input():
    X, y = regression_data()
    with pytest.raises(ValueError, match="lam must be a finite number >= 0, got -1.0"):
        fit_ridge(X, y, -1.0)
    with pytest.raises(ValueError, match=r"X and y must have the same number of rows, got X of shape \(40, 6\) and y of shape \(39,\)"):
        fit_ridge(X, y[:-1], 0.1)
    with pytest.raises(ValueError, match="y must have the dtype and device of X"):
        fit_ridge(X, y.float(), 0.1)
    with pytest.raises(ValueError, match="X must be 2-dimensional"):
        fit_ridge(X[:, 0], y, 0.1)
    fit = fit_ridge(X, y, 0.1)
    with pytest.raises(ValueError, match=r"X must have 6 columns, got shape \(40, 5\)"):
        squared_error(fit, X[:, :5], y)
    assert squared_error(fit, X, y) == pytest.approx(((X @ fit.weight + fit.bias - y) ** 2).mean().item())


def test_half_squared_error_value_and_bad_input():
    X, y = regression_data(n=10, d=3)
    w = torch.tensor([1.0, -1.0, 0.5], dtype=F64)
    expected = 0.5 * ((X @ w + 0.2 - y) ** 2).mean()
    assert half_squared_error(w, 0.2, X, y).item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match=r"weight must have 3 entries \(one per column of X\), got shape \(2,\)"):
        half_squared_error(w[:2], 0.2, X, y)
    with pytest.raises(ValueError, match="X and y must have the same number of rows"):
        half_squared_error(w, 0.2, X, y[:4])



def test_fit_ridge_runs_in_float32():
    X, y = regression_data()
    assert fit_ridge(X.float(), y.float(), 0.1).weight.dtype == torch.float32
