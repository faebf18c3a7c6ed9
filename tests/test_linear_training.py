import warnings

import pytest
import torch

from attnreg.regularization import fit_ridge, half_squared_error, train_linear_regression
from regression_cases import regression_data


def test_train_linear_regression_penalty_in_loss_equals_sgd_weight_decay():
    X, y = regression_data(n=20, d=8)
    common = dict(epochs=5, lr=0.01, batch_size=5, seed=3, record_trajectory=True)
    in_loss = train_linear_regression(X, y, lam=0.7, **common)
    decay = train_linear_regression(X, y, weight_decay=0.7, **common)
    assert in_loss.trajectory.shape == (5 * 4 + 1, 9)
    assert torch.allclose(in_loss.trajectory, decay.trajectory, atol=1e-12)
    plain = train_linear_regression(X, y, **common)
    assert not torch.allclose(in_loss.trajectory, plain.trajectory)


def test_train_linear_regression_adam_l2_differs_from_adamw():
    X, y = regression_data(n=20, d=8)
    common = dict(epochs=5, lr=0.05, batch_size=5, seed=3, record_trajectory=True)
    adam_l2 = train_linear_regression(X, y, lam=0.5, optimizer="adam", **common)
    adam_decay = train_linear_regression(X, y, weight_decay=0.5, optimizer="adam", **common)
    adamw = train_linear_regression(X, y, weight_decay=0.5, optimizer="adamw", **common)
    assert torch.allclose(adam_l2.trajectory, adam_decay.trajectory, atol=1e-12)  # torch's Adam adds lam * w
    assert (adam_l2.trajectory - adamw.trajectory).abs().max() > 1e-2


def test_train_linear_regression_fits_and_records_losses():
    X, y = regression_data(n=60, d=3, noise=0.01)
    run = train_linear_regression(X, y, X[:10], y[:10], epochs=200, lr=0.05, batch_size=10, init_std=0.0)
    ols = fit_ridge(X, y, 0.0)
    assert torch.allclose(run.weight, ols.weight, atol=1e-3) and run.bias == pytest.approx(ols.bias, abs=1e-3)
    assert len(run.train_loss) == len(run.test_loss) == 200 and run.trajectory is None
    assert run.train_loss[-1] == pytest.approx(half_squared_error(run.weight, run.bias, X, y).item())
    assert run.train_loss[-1] < run.train_loss[0]


def test_train_linear_regression_rejects_bad_input():
    X, y = regression_data(n=20, d=4)
    kw = dict(epochs=2, lr=0.01, batch_size=5)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0, got -1.0"):
        train_linear_regression(X, y, lam=-1.0, **kw)
    with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0, got -0.1"):
        train_linear_regression(X, y, weight_decay=-0.1, **kw)
    with pytest.raises(ValueError, match="optimizer must be one of 'sgd', 'adam', 'adamw', got 'rmsprop'"):
        train_linear_regression(X, y, optimizer="rmsprop", **kw)
    with pytest.raises(ValueError, match="X_test and y_test must be given together"):
        train_linear_regression(X, y, X, **kw)
    with pytest.raises(ValueError, match=r"X_test must have the 4 columns of X_train, got shape \(20, 3\)"):
        train_linear_regression(X, y, X[:, :3], y, **kw)
    with pytest.raises(ValueError, match="X_train and y_train must have the same number of rows"):
        train_linear_regression(X, y[:5], **kw)
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[1, inf\], got 0"):
        train_linear_regression(X, y, epochs=2, lr=0.01, batch_size=0)



def test_train_linear_regression_runs_in_float32():
    X, y = regression_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run = train_linear_regression(X.float(), y.float(), epochs=1, lr=0.01, batch_size=8)
    assert run.weight.dtype == torch.float32
