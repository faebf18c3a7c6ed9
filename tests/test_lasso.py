import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import ElasticNet, Lasso
from sklearn.linear_model import lasso_path as sklearn_lasso_path

from attnreg.data import synthetic_regression
from attnreg.regularization import (LinearFit, default_tolerance, elastic_net_objective,
                                    fit_elastic_net, fit_ridge, l1_descent, lasso_lambda_max, lasso_path)
from regression_cases import F64, regression_data


def test_fit_elastic_net_matches_sklearn_lasso_and_elastic_net():
    X, y = regression_data(n=50, d=10, sparse=True)
    for lam, ratio, reference in ((0.2, 1.0, Lasso(alpha=0.2)), (0.2, 0.4, ElasticNet(alpha=0.2, l1_ratio=0.4))):
        reference.set_params(tol=1e-12, max_iter=100_000).fit(X.numpy(), y.numpy())
        fit = fit_elastic_net(X, y, lam, ratio)
        assert np.allclose(fit.weight.numpy(), reference.coef_, atol=1e-7)
        assert fit.bias == pytest.approx(reference.intercept_, abs=1e-7)
    lasso = fit_elastic_net(X, y, 0.2)
    assert (lasso.weight == 0).sum() >= 3  # exact zeros


def test_fit_elastic_net_with_pure_l2_is_ridge():
    X, y = regression_data()
    assert torch.allclose(fit_elastic_net(X, y, 0.5, 0.0).weight, fit_ridge(X, y, 0.5).weight, atol=1e-8)


def test_fit_elastic_net_warns_when_it_does_not_converge():
    X, y = regression_data()
    with pytest.warns(RuntimeWarning, match="fit_elastic_net stopped after max_iter=2 iterations"):
        fit_elastic_net(X, y, 0.1, max_iter=2)


def test_fit_elastic_net_rejects_bad_input():
    X, y = regression_data()
    with pytest.raises(ValueError, match="lam must be a finite number >= 0, got -0.1"):
        fit_elastic_net(X, y, -0.1)
    with pytest.raises(ValueError, match=r"l1_ratio must be in \[0, 1\].*got 1.2"):
        fit_elastic_net(X, y, 0.1, 1.2)
    with pytest.raises(ValueError, match=r"init must have 6 entries \(one per column of X\), got shape \(5,\)"):
        fit_elastic_net(X, y, 0.1, init=torch.zeros(5, dtype=F64))
    with pytest.raises(ValueError, match="X and y must have the same number of rows"):
        fit_elastic_net(X[:10], y, 0.1)


def test_l1_descent_proximal_reaches_exact_zeros_and_subgradient_does_not():
    X, y = regression_data(n=50, d=10, sparse=True)
    lam = 0.2
    exact = fit_elastic_net(X, y, lam)
    proximal, prox_objectives = l1_descent(X, y, lam, method="proximal", lr=0.1, steps=2000)
    subgradient, sub_objectives = l1_descent(X, y, lam, method="subgradient", lr=0.1, steps=2000)
    assert len(prox_objectives) == 2001
    assert torch.allclose(proximal.weight, exact.weight, atol=1e-8)
    assert torch.equal(proximal.weight == 0, exact.weight == 0)
    assert (subgradient.weight == 0).sum() == 0
    assert prox_objectives[-1] == pytest.approx(elastic_net_objective(X, y, exact, lam), abs=1e-10)
    assert sub_objectives[-1] > prox_objectives[-1]
    with pytest.raises(ValueError, match="method must be one of 'subgradient', 'proximal', got 'ista'"):
        l1_descent(X, y, lam, method="ista", lr=0.1, steps=10)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0, got -0.2"):
        l1_descent(X, y, -0.2, method="proximal", lr=0.1, steps=10)


def test_elastic_net_objective():
    X, y = regression_data()
    fit = LinearFit(torch.ones(6, dtype=F64), 0.5)
    expected = 0.5 * ((X.sum(1) + 0.5 - y) ** 2).mean() + 0.2 * (0.3 * 6 + 0.7 * 0.5 * 6)
    assert elastic_net_objective(X, y, fit, 0.2, 0.3) == pytest.approx(expected.item())


def test_lasso_lambda_max_and_path_match_sklearn():
    X, y = regression_data(n=50, d=8, sparse=True)
    lam_max = lasso_lambda_max(X, y)
    assert (fit_elastic_net(X, y, lam_max).weight == 0).all()
    assert (fit_elastic_net(X, y, 0.99 * lam_max).weight != 0).sum() == 1
    lams = (lam_max * np.logspace(0, -2, 12)).tolist()
    path = lasso_path(X, y, lams)
    assert path.shape == (12, 8)
    Xc, yc = X.numpy() - X.numpy().mean(0), y.numpy() - y.numpy().mean()
    _, coefs, _ = sklearn_lasso_path(Xc, yc, alphas=np.array(lams), tol=1e-12, max_iter=100_000)
    assert np.allclose(path.numpy(), coefs.T, atol=1e-7)
    assert torch.allclose(lasso_path(X, y, lams[::-1]), path.flip(0))  # order of lams does not matter
    with pytest.raises(ValueError, match="lams must hold at least one value"):
        lasso_path(X, y, [])
    with pytest.raises(ValueError, match=r"lams\[1\] must be a finite number >= 0, got -1.0"):
        lasso_path(X, y, [0.1, -1.0])


def test_fit_elastic_net_scales_its_tolerance_with_the_dtype():
    w = torch.zeros(20, dtype=F64)
    w[[1, 4, 9, 15]] = torch.tensor([2.0, -1.5, 1.0, 0.8], dtype=F64)
    X, y = synthetic_regression(w, 0.5, 50, noise_std=0.5, generator=torch.Generator().manual_seed(0))
    Xc, yc = X - X.mean(0), y - y.mean()
    assert default_tolerance(Xc, yc) == 1e-10   # float64: unchanged
    assert 1e-7 < default_tolerance(Xc.float(), yc.float()) < 1e-4
    exact = fit_elastic_net(X, y, 0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # float32 input (PyTorch's default) converges: no max_iter warning
        for ratio in (1.0, 0.5):
            fast = fit_elastic_net(X.float(), y.float(), 0.3, ratio, max_iter=2_000)
            assert fast.weight.dtype == torch.float32
        fast = fit_elastic_net(X.float(), y.float(), 0.3, max_iter=2_000)
        path = lasso_path(X.float(), y.float(), [1.0, 0.3, 0.1])
    assert (fast.weight.double() - exact.weight).abs().max() < 1e-3
    assert torch.equal(fast.weight == 0, exact.weight == 0)
    assert path.dtype == torch.float32
    # lasso_path passes the Lipschitz constant of the data term: the same solutions as separate fits
    lams = [1.0, 0.3, 0.1]
    separate = torch.stack([fit_elastic_net(X, y, lam, init=None).weight for lam in lams])
    assert torch.allclose(lasso_path(X, y, lams), separate, atol=1e-8)
    with pytest.raises(ValueError, match="data_lipschitz must be"):
        fit_elastic_net(X, y, 0.3, data_lipschitz=-1.0)
    with pytest.warns(RuntimeWarning, match="max_iter=2000"):   # the old absolute 1e-10 is out of float32's reach
        fit_elastic_net(X.float(), y.float(), 0.3, tol=1e-10, max_iter=2_000)


def _fista_two_gradients(X, y, lam, l1_ratio, tol=1e-10, max_iter=100_000):
    """FISTA with restarts as first written: the gradient at w (for the stopping test) and at z (for the step)."""
    Xc, yc = X - X.mean(0), y - y.mean()
    n, l1, l2 = len(X), lam * l1_ratio, lam * (1 - l1_ratio)
    lipschitz = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / n + l2
    gradient = lambda v: Xc.T @ (Xc @ v - yc) / n + l2 * v
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    z, momentum = w.clone(), 1.0
    for _ in range(max_iter):
        g = gradient(w)
        violation = torch.where(w != 0, (g + l1 * torch.sign(w)).abs(), torch.clamp(g.abs() - l1, min=0.0))
        if violation.max() <= tol:
            break
        v = z - gradient(z) / lipschitz
        w_next = torch.sign(v) * torch.clamp(v.abs() - l1 / lipschitz, min=0.0)
        if torch.dot(z - w_next, w_next - w) > 0:
            momentum = 1.0
        momentum_next = (1 + math.sqrt(1 + 4 * momentum**2)) / 2
        z = w_next + ((momentum - 1) / momentum_next) * (w_next - w)
        w, momentum = w_next, momentum_next
    return w


@pytest.mark.parametrize("n, d", [(40, 6), (20, 50), (50, 20), (30, 30)])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5, 0.1])
def test_fit_elastic_net_with_one_gradient_per_step_matches_two_gradients(n, d, l1_ratio):
    X, y = regression_data(n=n, d=d, seed=n + d, sparse=True)
    for lam in (0.01, 0.1, 0.5):
        reference = _fista_two_gradients(X, y, lam, l1_ratio)
        assert (fit_elastic_net(X, y, lam, l1_ratio).weight - reference).abs().max() < 1e-10


def test_fit_elastic_net_evaluates_one_gradient_per_iteration():
    from torch.overrides import TorchFunctionMode

    class CountMatmuls(TorchFunctionMode):
        def __init__(self):
            super().__init__()
            self.count = 0

        def __torch_function__(self, func, types, args=(), kwargs=None):
            if getattr(func, "__name__", "") in ("matmul", "__matmul__"):
                self.count += 1
            return func(*args, **(kwargs or {}))

    X, y = regression_data(n=30, d=30, seed=3)
    counts = {}
    for max_iter in (10, 20):
        with CountMatmuls() as counter, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fit_elastic_net(X, y, 1e-4, tol=1e-300, max_iter=max_iter)
        counts[max_iter] = counter.count
    assert counts[20] - counts[10] == 2 * 10   # one gradient, X^T (X w - y), is two products
