import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.linear_model import lasso_path as sklearn_lasso_path
from torch import nn

from attnreg.data import polynomial_data, synthetic_regression
from attnreg.regularization import (
    EarlyStopping,
    LinearFit,
    augment_with_noise,
    elastic_net_objective,
    elastic_net_penalty,
    fit_elastic_net,
    fit_polynomial,
    fit_ridge,
    half_squared_error,
    l1_descent,
    l1_penalty,
    l1_proximal_step,
    l1_subgradient_step,
    l2_penalty,
    lasso_lambda_max,
    lasso_path,
    polynomial_features,
    smooth_l1_penalty,
    soft_threshold,
    squared_error,
    train_linear_regression,
    weight_decay_step,
)

F64 = torch.float64


def regression_data(n=40, d=6, seed=0, noise=0.3, sparse=False):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=F64)
    if sparse:
        w[d // 2:] = 0.0
    return synthetic_regression(w, 0.7, n, noise, generator=g)


# ---- penalties --------------------------------------------------------------------------------

def test_l2_penalty_is_half_the_squared_norm_over_all_tensors():
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([[3.0], [0.5]])
    assert l2_penalty([a, b]).item() == pytest.approx(0.5 * (1 + 4 + 9 + 0.25))
    assert l2_penalty(a).item() == pytest.approx(0.5 * torch.linalg.vector_norm(a).item() ** 2)


def test_l2_penalty_gradient_is_w_and_accepts_model_parameters():
    model = nn.Linear(3, 2)
    penalty = l2_penalty(model.parameters())
    penalty.backward()
    for p in model.parameters():
        assert torch.allclose(p.grad, p.detach())


def test_l1_penalty_value_and_gradient():
    w = torch.tensor([1.5, -2.0, 0.0], requires_grad=True)
    value = l1_penalty([w])
    assert value.item() == pytest.approx(torch.linalg.vector_norm(w, ord=1).item())
    value.backward()
    assert torch.equal(w.grad, torch.tensor([1.0, -1.0, 0.0]))


def test_smooth_l1_penalty_value_gradient_and_limit():
    w = torch.tensor([0.0, 0.01, -3.0], dtype=F64, requires_grad=True)
    eps = 1e-4
    value = smooth_l1_penalty(w, eps)
    assert value.item() == pytest.approx(sum(math.sqrt(v**2 + eps) for v in (0.0, 0.01, -3.0)))
    value.backward()
    assert torch.allclose(w.grad, w.detach() / (w.detach() ** 2 + eps).sqrt())
    assert w.grad[0].item() == 0.0  # smooth at 0: no jump of the gradient
    # far from 0, and as eps -> 0, it approaches the L1 penalty
    assert smooth_l1_penalty(w.detach(), 1e-12).item() == pytest.approx(l1_penalty(w.detach()).item(), abs=1e-5)


def test_elastic_net_penalty_mixes_l1_and_l2():
    w = torch.tensor([1.0, -2.0, 0.5])
    assert elastic_net_penalty(w, 1.0).item() == pytest.approx(l1_penalty(w).item())
    assert elastic_net_penalty(w, 0.0).item() == pytest.approx(l2_penalty(w).item())
    expected = 0.3 * 3.5 + 0.7 * 0.5 * (1 + 4 + 0.25)
    assert elastic_net_penalty([w], 0.3).item() == pytest.approx(expected)


@pytest.mark.parametrize("penalty", [l2_penalty, l1_penalty, lambda p: smooth_l1_penalty(p, 0.1),
                                     lambda p: elastic_net_penalty(p, 0.5)])
def test_penalties_reject_bad_params(penalty):
    with pytest.raises(ValueError, match="params must hold at least one tensor"):
        penalty([])
    with pytest.raises(TypeError, match=r"params\[1\] must be a torch.Tensor"):
        penalty([torch.ones(2), [1.0, 2.0]])
    with pytest.raises(TypeError, match=r"params must be a floating-point tensor, got dtype torch.int64"):
        penalty(torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="got a Module: pass model.parameters()"):
        penalty(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="params must be a tensor or an iterable of tensors, got float"):
        penalty(1.0)


def test_penalty_arguments_are_checked():
    w = torch.ones(3)
    for eps in (0.0, -1e-3):
        with pytest.raises(ValueError, match=f"eps must be a finite number > 0, got {eps!r}"):
            smooth_l1_penalty(w, eps)
    for ratio in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"l1_ratio must be in \[0, 1\].*got {ratio!r}"):
            elastic_net_penalty(w, ratio)
    with pytest.raises(TypeError, match="l1_ratio must be a real number"):
        elastic_net_penalty(w, "half")


# ---- steps ------------------------------------------------------------------------------------

def test_weight_decay_step_formula_and_equivalence_with_pytorch_sgd():
    torch.manual_seed(0)
    w, grad = torch.randn(4, 3), torch.randn(4, 3)
    lr, decay = 0.1, 0.5
    expected = (1 - lr * decay) * w - lr * grad
    assert torch.allclose(weight_decay_step(w, grad, lr, decay), expected)
    param = nn.Parameter(w.clone())
    param.grad = grad.clone()
    torch.optim.SGD([param], lr=lr, weight_decay=decay).step()
    assert torch.allclose(weight_decay_step(w, grad, lr, decay), param.detach(), atol=1e-7)


def test_weight_decay_step_is_a_gradient_step_on_the_penalized_loss():
    w = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    loss = (w**3).sum()
    (grad,) = torch.autograd.grad(loss, w)
    w_pen = w.detach().clone().requires_grad_()
    (grad_pen,) = torch.autograd.grad((w_pen**3).sum() + 0.3 * l2_penalty(w_pen), w_pen)
    assert torch.allclose(weight_decay_step(w.detach(), grad, 0.05, 0.3), w.detach() - 0.05 * grad_pen)


@pytest.mark.parametrize("step", [weight_decay_step, l1_subgradient_step, l1_proximal_step])
def test_steps_reject_bad_input(step):
    w = torch.ones(3)
    strength = "weight_decay" if step is weight_decay_step else "lam"
    with pytest.raises(ValueError, match=r"grad must have the shape of w \(3,\), got shape \(2,\)"):
        step(w, torch.ones(2), 0.1, 0.1)
    with pytest.raises(ValueError, match=f"{strength} must be a finite number >= 0, got -0.5"):
        step(w, w, 0.1, -0.5)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0.0"):
        step(w, w, 0.0, 0.1)
    with pytest.raises(TypeError, match="w must be a torch.Tensor"):
        step([1.0, 2.0, 3.0], w, 0.1, 0.1)


def test_soft_threshold_values_and_exact_zeros():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.2, 1.0, 2.5])
    out = soft_threshold(x, 1.0)
    assert torch.equal(out, torch.tensor([-2.0, 0.0, 0.0, 0.0, 0.0, 1.5]))
    assert (out[1:5] == 0).all()  # exactly zero, not merely small
    assert torch.equal(soft_threshold(x, 0.0), x)


def test_soft_threshold_is_the_proximal_operator_of_the_l1_norm():
    # prox(v) = argmin_x 1/2 (x - v)^2 + t |x|, checked on a fine grid
    grid = torch.linspace(-4, 4, 80001, dtype=F64)
    for v in (-2.3, -0.4, 0.0, 0.7, 3.1):
        objective = 0.5 * (grid - v) ** 2 + 0.8 * grid.abs()
        assert soft_threshold(torch.tensor([v], dtype=F64), 0.8).item() == pytest.approx(
            grid[objective.argmin()].item(), abs=1e-4)


def test_soft_threshold_rejects_bad_input():
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0, got -1.0"):
        soft_threshold(torch.ones(2), -1.0)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        soft_threshold(torch.tensor([1, 2]), 0.5)


def test_l1_steps():
    w, grad = torch.tensor([1.0, -0.02, 0.0]), torch.tensor([0.5, 0.0, 0.1])
    assert torch.allclose(l1_subgradient_step(w, grad, 0.1, 0.4), torch.tensor([0.91, 0.02, -0.01]))
    assert torch.allclose(l1_proximal_step(w, grad, 0.1, 0.4), torch.tensor([0.91, 0.0, 0.0]))


# ---- early stopping ---------------------------------------------------------------------------

def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    losses = [1.0, 0.5, 0.6, 0.4, 0.45, 0.41, 0.3]
    decisions, weights = [], []
    for loss in losses:
        with torch.no_grad():
            model.weight.add_(1.0)  # the weights change every epoch
        weights.append(model.weight.detach().clone())
        decisions.append(stopper.step(loss, model))
    assert decisions == [False, False, False, False, False, True, True]
    assert stopper.best_epoch == 4 and stopper.best_loss == 0.4 and stopper.stopped_epoch == 6
    assert stopper.should_stop
    stopper.restore(model)
    assert torch.equal(model.weight, weights[3])  # epoch 7's 0.3 came after the stop: ignored


def test_early_stopping_min_delta_and_nan():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert not stopper.step(1.0)
    assert not stopper.step(0.95)  # better, but not by more than min_delta
    assert stopper.step(float("nan"))
    assert stopper.best_loss == 1.0 and stopper.best_epoch == 1
    assert not EarlyStopping(patience=1).step(torch.tensor(0.3))


def test_early_stopping_saved_weights_are_a_copy():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=3)
    stopper.step(1.0, model)
    saved = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.mul_(0.0)
    stopper.restore(model)
    assert torch.equal(model.weight, saved)


def test_early_stopping_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"patience must be an integer in \[1, inf\], got 0"):
        EarlyStopping(patience=0)
    with pytest.raises(TypeError, match="patience must be an integer, got 2.5"):
        EarlyStopping(patience=2.5)
    with pytest.raises(ValueError, match="min_delta must be a finite number >= 0, got -0.1"):
        EarlyStopping(patience=2, min_delta=-0.1)
    stopper = EarlyStopping(patience=2)
    with pytest.raises(TypeError, match="val_loss must be a real number, got str"):
        stopper.step("0.3")
    with pytest.raises(ValueError, match=r"val_loss must be a single number, got a tensor of shape \(2,\)"):
        stopper.step(torch.ones(2))
    with pytest.raises(TypeError, match="model must be an nn.Module or None, got dict"):
        stopper.step(0.3, {})
    with pytest.raises(RuntimeError, match="no weights saved yet"):
        stopper.restore(nn.Linear(2, 1))


# ---- closed-form fits -------------------------------------------------------------------------

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


def test_polynomial_features_match_numpy():
    x = torch.linspace(-1, 1, 7, dtype=F64)
    monomial = polynomial_features(x, 4, basis="monomial")
    assert np.allclose(monomial.numpy(), np.vander(x.numpy(), 5, increasing=True)[:, 1:])
    legendre = polynomial_features(x, 6)
    assert np.allclose(legendre.numpy(), np.polynomial.legendre.legvander(x.numpy(), 6)[:, 1:])
    assert polynomial_features(x, 0).shape == (7, 0)


def test_polynomial_bases_give_the_same_fit_and_legendre_is_better_conditioned():
    x, y = polynomial_data([0.5, -1.0, 0.0, 2.0], 40, 0.1, generator=torch.Generator().manual_seed(0))
    grid = torch.linspace(-1, 1, 50, dtype=F64)
    legendre, monomial = fit_polynomial(x, y, 8), fit_polynomial(x, y, 8, basis="monomial")
    assert torch.allclose(legendre.predict(grid), monomial.predict(grid), atol=1e-6)
    assert torch.linalg.cond(polynomial_features(x, 12)) < torch.linalg.cond(polynomial_features(x, 12, "monomial")) / 100


def test_fit_polynomial_recovers_a_noiseless_cubic_and_interpolates_when_degree_is_high():
    x, y = polynomial_data([1.0, -2.0, 0.5, 3.0], 25, 0.0, generator=torch.Generator().manual_seed(1))
    cubic = fit_polynomial(x, y, 3, basis="monomial")
    assert torch.allclose(cubic.linear.weight, torch.tensor([-2.0, 0.5, 3.0], dtype=F64), atol=1e-8)
    assert cubic.linear.bias == pytest.approx(1.0)
    noisy_x, noisy_y = polynomial_data([0.0, 1.0], 10, 0.5, generator=torch.Generator().manual_seed(2))
    assert fit_polynomial(noisy_x, noisy_y, 12).squared_error(noisy_x, noisy_y) < 1e-12
    assert fit_polynomial(noisy_x, noisy_y, 0).predict(noisy_x).allclose(noisy_y.mean().expand(10))
    ridge = fit_polynomial(noisy_x, noisy_y, 12, lam=1.0)
    assert ridge.linear.weight.norm() < fit_polynomial(noisy_x, noisy_y, 12).linear.weight.norm()


def test_polynomial_helpers_reject_bad_input():
    x = torch.linspace(-1, 1, 5, dtype=F64)
    with pytest.raises(ValueError, match=r"degree must be an integer in \[0, inf\], got -1"):
        polynomial_features(x, -1)
    with pytest.raises(ValueError, match="basis must be one of 'legendre', 'monomial', got 'chebyshev'"):
        polynomial_features(x, 2, basis="chebyshev")
    with pytest.raises(ValueError, match="X and y must have the same number of rows"):
        fit_polynomial(x, x[:3], 2)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        fit_polynomial(x, x, 2, lam=-0.1)


def test_polynomial_data():
    x, y = polynomial_data([1.0, 2.0], 1000, 0.0, x_range=(-2.0, 3.0), generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (1000,) and x.dtype == F64
    assert -2.0 <= x.min() and x.max() <= 3.0
    assert torch.allclose(y, 1.0 + 2.0 * x)
    _, noisy = polynomial_data([0.0], 20000, 0.5, generator=torch.Generator().manual_seed(0))
    assert noisy.std().item() == pytest.approx(0.5, rel=0.03)
    with pytest.raises(ValueError, match="coefficients must be a non-empty 1-D list"):
        polynomial_data([], 10)
    with pytest.raises(ValueError, match=r"x_range must be \(low, high\) with low < high"):
        polynomial_data([1.0], 10, x_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0, got -0.1"):
        polynomial_data([1.0], 10, noise_std=-0.1)
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, inf\], got 0"):
        polynomial_data([1.0], 0)


def test_augment_with_noise_shapes_statistics_and_tikhonov_limit():
    X, y = regression_data(n=30, d=3)
    X_aug, y_aug = augment_with_noise(X, y, 2000, 0.4, generator=torch.Generator().manual_seed(0))
    assert X_aug.shape == (60000, 3) and torch.equal(y_aug[:30], y) and torch.equal(y_aug[30:60], y)
    noise = X_aug - X.repeat(2000, 1)
    assert noise.std().item() == pytest.approx(0.4, rel=0.02)
    # least squares on the noisy copies approaches ridge with lam = noise_std^2
    gap = (fit_ridge(X_aug, y_aug, 0.0).weight - fit_ridge(X, y, 0.4**2).weight).norm()
    assert gap < 0.02 < (fit_ridge(X, y, 0.0).weight - fit_ridge(X, y, 0.4**2).weight).norm()
    with pytest.raises(ValueError, match=r"copies must be an integer in \[1, inf\], got 0"):
        augment_with_noise(X, y, 0, 0.1)
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0, got -0.1"):
        augment_with_noise(X, y, 2, -0.1)


# ---- linear regression trained by an optimizer -------------------------------------------------

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


# ---- L1, elastic net, lasso path --------------------------------------------------------------

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


def test_helpers_run_in_float32():
    X, y = regression_data()
    X, y = X.float(), y.float()
    assert fit_ridge(X, y, 0.1).weight.dtype == torch.float32
    assert fit_elastic_net(X, y, 0.1, tol=1e-5).weight.dtype == torch.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train_linear_regression(X, y, epochs=1, lr=0.01, batch_size=8)


def test_fit_elastic_net_scales_its_tolerance_with_the_dtype():
    from attnreg.regularization import default_tolerance

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


def test_polynomial_errors_reuse_the_same_training_sets_for_every_degree():
    from attnreg.regularization import polynomial_errors

    coefficients = [0.5, -1.0, 0.0, 2.0]
    test = polynomial_data(coefficients, 200, 0.2, generator=torch.Generator().manual_seed(9))
    errors = {k: polynomial_errors(coefficients, 30, k, noise_std=0.2, test_data=test, repeats=4, seed=1)
              for k in (1, 3, 8)}
    assert errors[1][0].shape == (4,)
    # nested models on the same training sets: the training error never grows with the degree
    assert (errors[3][0] <= errors[1][0] + 1e-12).all() and (errors[8][0] <= errors[3][0] + 1e-12).all()
    x, y = polynomial_data(coefficients, 30, 0.2, generator=torch.Generator().manual_seed(1))
    assert errors[3][0][0].item() == pytest.approx(fit_polynomial(x, y, 3).squared_error(x, y))
    assert errors[3][1][0].item() == pytest.approx(fit_polynomial(x, y, 3).squared_error(*test))
    with pytest.raises(ValueError, match=r"repeats must be an integer in \[1, inf\], got 0"):
        polynomial_errors(coefficients, 30, 3, noise_std=0.2, test_data=test, repeats=0, seed=1)


def test_polynomial_errors_take_the_basis():
    from attnreg.regularization import polynomial_errors

    coefficients = [0.5, -1.0, 0.0, 2.0]
    test = polynomial_data(coefficients, 200, 0.2, generator=torch.Generator().manual_seed(9))
    common = dict(noise_std=0.2, test_data=test, repeats=3, seed=1)
    x, y = polynomial_data(coefficients, 30, 0.2, generator=torch.Generator().manual_seed(1))
    monomial = polynomial_errors(coefficients, 30, 12, lam=1e-4, basis="monomial", **common)
    assert monomial[1][0].item() == pytest.approx(fit_polynomial(x, y, 12, 1e-4, "monomial").squared_error(*test))
    # least squares does not depend on the basis; ridge does
    assert torch.allclose(polynomial_errors(coefficients, 30, 5, basis="monomial", **common)[1],
                          polynomial_errors(coefficients, 30, 5, **common)[1], rtol=1e-6)
    assert not torch.allclose(monomial[1], polynomial_errors(coefficients, 30, 12, lam=1e-4, **common)[1], rtol=1e-3)
    with pytest.raises(ValueError, match="basis must be one of"):
        polynomial_errors(coefficients, 30, 3, basis="chebyshev", **common)


def test_half_squared_error_value_and_bad_input():
    X, y = regression_data(n=10, d=3)
    w = torch.tensor([1.0, -1.0, 0.5], dtype=F64)
    expected = 0.5 * ((X @ w + 0.2 - y) ** 2).mean()
    assert half_squared_error(w, 0.2, X, y).item() == pytest.approx(expected.item())
    with pytest.raises(ValueError, match=r"weight must have 3 entries \(one per column of X\), got shape \(2,\)"):
        half_squared_error(w[:2], 0.2, X, y)
    with pytest.raises(ValueError, match="X and y must have the same number of rows"):
        half_squared_error(w, 0.2, X, y[:4])


def test_early_stopping_restore_rejects_a_non_module_and_fit_polynomial_checks_lam_at_degree_0():
    stopper = EarlyStopping(patience=1)
    stopper.step(0.5, nn.Linear(2, 1))
    with pytest.raises(TypeError, match="model must be an nn.Module, got dict"):
        stopper.restore({})
    x = torch.linspace(-1, 1, 5, dtype=F64)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0, got -1.0"):
        fit_polynomial(x, x, 0, lam=-1.0)
