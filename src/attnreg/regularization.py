"""Penalties, weight decay, proximal operators, early stopping and the regularized linear fits of
chapters 03 and 04.

Conventions (as in the book's notation page): the L2 penalty is ``R(w) = 1/2 ||w||_2^2``, whose gradient
is ``w``; the elastic net mixes ``rho ||w||_1 + (1 - rho) 1/2 ||w||_2^2`` with ``rho = l1_ratio``; a
regression objective is the mean of ``1/2 (y_i - w^T x_i - b)^2`` plus ``lam * R(w)``, the bias
never penalized. With these conventions ``lam`` is scikit-learn's ``alpha`` for ``Lasso`` and
``ElasticNet``, and ``n * lam`` its ``alpha`` for ``Ridge``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Real
from typing import Union

import torch
from torch import nn

from ._validation import check_choice, check_int, check_positive, check_real, check_regression_data, check_tensor
from .data.polynomial import polynomial_data
from .training import OPTIMIZERS, make_optimizer

#: One tensor, or an iterable of tensors such as ``model.parameters()``.
Params = Union[torch.Tensor, Iterable[torch.Tensor]]

# --------------------------------------------------------------------------------------------
# Penalties
# --------------------------------------------------------------------------------------------


def _param_list(params: Params) -> list[torch.Tensor]:
    """One tensor or an iterable of tensors (``model.parameters()``, say) as a checked list."""
    if isinstance(params, torch.Tensor):
        return [check_tensor("params", params, floating=True)]
    if isinstance(params, nn.Module):
        raise TypeError("params must be a tensor or an iterable of tensors, got a Module: pass model.parameters()")
    try:
        tensors = list(params)
    except TypeError:
        raise TypeError(f"params must be a tensor or an iterable of tensors, got {type(params).__name__}") from None
    if not tensors:
        raise ValueError("params must hold at least one tensor, got an empty iterable")
    return [check_tensor(f"params[{i}]", p, floating=True) for i, p in enumerate(tensors)]


def _total(terms: list[torch.Tensor]) -> torch.Tensor:
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total


def l2_penalty(params: Params) -> torch.Tensor:
    """The L2 penalty ``R(w) = 1/2 sum_j w_j^2 = 1/2 ||w||_2^2`` over every entry of every tensor.

    The factor 1/2 makes the gradient ``w`` itself, so ``lam * l2_penalty`` in the loss equals
    ``weight_decay=lam`` in ``torch.optim.SGD``.
    """
    return _total([0.5 * p.pow(2).sum() for p in _param_list(params)])


def l1_penalty(params: Params) -> torch.Tensor:
    """The L1 penalty ``R(w) = sum_j |w_j| = ||w||_1``; its gradient is ``sign(w)`` (0 at ``w_j = 0``)."""
    return _total([p.abs().sum() for p in _param_list(params)])


def smooth_l1_penalty(params: Params, eps: float) -> torch.Tensor:
    """A differentiable stand-in for L1: ``R(w) = sum_j sqrt(w_j^2 + eps)``, gradient ``w_j / sqrt(w_j^2 + eps)``.

    Close to ``||w||_1`` where ``|w_j| >> sqrt(eps)``, a parabola near 0 (not PyTorch's
    ``smooth_l1_loss``, which is the Huber loss). Its minimum value is ``sqrt(eps)`` per weight, not 0.
    """
    eps = check_positive("eps", eps)
    return _total([(p.pow(2) + eps).sqrt().sum() for p in _param_list(params)])


def _check_l1_ratio(l1_ratio: object) -> float:
    l1_ratio = check_real("l1_ratio", l1_ratio)
    if not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"l1_ratio must be in [0, 1] (1: pure L1, 0: pure L2), got {l1_ratio!r}")
    return l1_ratio


def elastic_net_penalty(params: Params, l1_ratio: float) -> torch.Tensor:
    """The elastic-net penalty ``R(w) = rho ||w||_1 + (1 - rho) 1/2 ||w||_2^2`` with ``rho = l1_ratio``."""
    l1_ratio = _check_l1_ratio(l1_ratio)
    tensors = _param_list(params)
    return l1_ratio * l1_penalty(tensors) + (1 - l1_ratio) * l2_penalty(tensors)


# --------------------------------------------------------------------------------------------
# One step of gradient descent with a penalty
# --------------------------------------------------------------------------------------------


def _check_step_args(w: torch.Tensor, grad: torch.Tensor, lr: float, strength: float, strength_name: str
                     ) -> tuple[torch.Tensor, torch.Tensor, float, float]:
    w = check_tensor("w", w, floating=True)
    grad = check_tensor("grad", grad, floating=True)
    if grad.shape != w.shape:
        raise ValueError(f"grad must have the shape of w {tuple(w.shape)}, got shape {tuple(grad.shape)}")
    return w, grad, check_positive("lr", lr), check_positive(strength_name, strength, allow_zero=True)


def weight_decay_step(w: torch.Tensor, grad: torch.Tensor, lr: float, weight_decay: float) -> torch.Tensor:
    """One gradient step on ``loss + weight_decay * 1/2 ||w||^2``: ``w <- (1 - lr * weight_decay) w - lr * grad``.

    ``grad`` is the gradient of the loss alone; returns a new tensor.
    """
    w, grad, lr, weight_decay = _check_step_args(w, grad, lr, weight_decay, "weight_decay")
    return (1 - lr * weight_decay) * w - lr * grad


def soft_threshold(x: torch.Tensor, threshold: float) -> torch.Tensor:
    """The proximal operator of ``threshold * |x|``: ``sign(x) * max(|x| - threshold, 0)``."""
    x = check_tensor("x", x, floating=True)
    threshold = check_positive("threshold", threshold, allow_zero=True)
    return torch.sign(x) * torch.clamp(x.abs() - threshold, min=0.0)


def l1_subgradient_step(w: torch.Tensor, grad: torch.Tensor, lr: float, lam: float) -> torch.Tensor:
    """A subgradient step on ``loss + lam ||w||_1``: ``w <- w - lr * (grad + lam * sign(w))``."""
    w, grad, lr, lam = _check_step_args(w, grad, lr, lam, "lam")
    return w - lr * (grad + lam * torch.sign(w))


def l1_proximal_step(w: torch.Tensor, grad: torch.Tensor, lr: float, lam: float) -> torch.Tensor:
    """A proximal-gradient step on ``loss + lam ||w||_1``: ``w <- soft_threshold(w - lr * grad, lr * lam)``."""
    w, grad, lr, lam = _check_step_args(w, grad, lr, lam, "lam")
    return soft_threshold(w - lr * grad, lr * lam)


# --------------------------------------------------------------------------------------------
# Early stopping
# --------------------------------------------------------------------------------------------


class EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs; keep the best weights.

    Call :meth:`step` once per epoch with the validation loss (and the model, whose weights are copied
    whenever the loss improves). An epoch improves when ``val_loss < best_loss - min_delta``; a NaN loss
    never improves. Once :meth:`step` has returned True it keeps returning True and changes nothing,
    so the saved weights stay those of :attr:`best_epoch`; :meth:`restore` loads them into a model.
    """

    def __init__(self, patience: int, min_delta: float = 0.0) -> None:
        self.patience = check_int("patience", patience, minimum=1)
        self.min_delta = check_positive("min_delta", min_delta, allow_zero=True)
        self.best_loss = math.inf
        self.best_epoch: int | None = None  # 1-based: the n-th call of step()
        self.epochs = 0
        self.epochs_without_improvement = 0
        self.stopped_epoch: int | None = None
        self.best_state: dict[str, torch.Tensor] | None = None

    @property
    def should_stop(self) -> bool:
        return self.stopped_epoch is not None

    def step(self, val_loss: float | torch.Tensor, model: nn.Module | None = None) -> bool:
        """Record one epoch's validation loss; return True when training should stop."""
        if self.should_stop:
            return True
        if isinstance(val_loss, torch.Tensor):
            if val_loss.numel() != 1:
                raise ValueError(f"val_loss must be a single number, got a tensor of shape {tuple(val_loss.shape)}")
            val_loss = val_loss.item()
        if isinstance(val_loss, bool) or not isinstance(val_loss, Real):
            raise TypeError(f"val_loss must be a real number, got {type(val_loss).__name__}")
        if model is not None and not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module or None, got {type(model).__name__}")
        self.epochs += 1
        if val_loss < self.best_loss - self.min_delta:
            self.best_loss, self.best_epoch, self.epochs_without_improvement = float(val_loss), self.epochs, 0
            if model is not None:
                self.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            self.epochs_without_improvement += 1
            if self.epochs_without_improvement >= self.patience:
                self.stopped_epoch = self.epochs
        return self.should_stop

    def restore(self, model: nn.Module) -> None:
        """Load the weights saved at :attr:`best_epoch` into ``model``."""
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if self.best_state is None:
            raise RuntimeError("no weights saved yet: call step(val_loss, model) with the model first")
        model.load_state_dict(self.best_state)


# --------------------------------------------------------------------------------------------
# Linear fits in closed form: ridge, polynomials, noise injection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearFit:
    """A fitted linear model ``y_hat = X w + b``."""

    weight: torch.Tensor
    bias: float

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        X = check_tensor("X", X, ndim=2, floating=True)
        if X.shape[1] != len(self.weight):
            raise ValueError(f"X must have {len(self.weight)} columns, got shape {tuple(X.shape)}")
        return X @ self.weight + self.bias


def _center(X: torch.Tensor, y: torch.Tensor, fit_intercept: bool
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """With an unpenalized bias, its optimum is ``b = mean(y) - mean(X) w``: fit ``w`` on centred data."""
    if fit_intercept:
        x_mean, y_mean = X.mean(dim=0), y.mean()
    else:
        x_mean, y_mean = torch.zeros_like(X[0]), torch.zeros_like(y[0])
    return X - x_mean, y - y_mean, x_mean, y_mean


def _with_bias(w: torch.Tensor, x_mean: torch.Tensor, y_mean: torch.Tensor) -> LinearFit:
    return LinearFit(w, float(y_mean - x_mean @ w))


def squared_error(fit: LinearFit, X: torch.Tensor, y: torch.Tensor) -> float:
    """The mean squared error ``1/n sum_i (y_i - y_hat_i)^2`` of ``fit`` on ``(X, y)``."""
    X, y = check_regression_data(X, y)
    return (fit.predict(X) - y).pow(2).mean().item()


def fit_ridge(X: torch.Tensor, y: torch.Tensor, lam: float, fit_intercept: bool = True) -> LinearFit:
    """Minimise ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam 1/2 ||w||^2`` in closed form.

    ``w = (X^T X / n + lam I)^{-1} X^T y / n`` on centred data, computed from the SVD ``X = U S V^T`` as
    ``V diag(s / (s^2 + n lam)) U^T y``. With ``lam = 0`` this is the least-squares solution of smallest
    norm (directions with ``s`` below ``max(n, d) * eps * s_max`` are dropped), defined even when ``d > n``.
    """
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    Xc, yc, x_mean, y_mean = _center(X, y, fit_intercept)
    U, s, Vh = torch.linalg.svd(Xc, full_matrices=False)
    if lam > 0:
        gain = s / (s.pow(2) + len(X) * lam)
    else:
        cutoff = max(X.shape) * torch.finfo(X.dtype).eps * s.max()
        gain = torch.where(s > cutoff, 1.0 / s.clamp_min(cutoff), torch.zeros_like(s))
    w = Vh.T @ (gain * (U.T @ yc))
    return _with_bias(w, x_mean, y_mean)


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


def augment_with_noise(X: torch.Tensor, y: torch.Tensor, copies: int, noise_std: float,
                       generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Noise injection: ``copies`` copies of every example with inputs ``x + e``, ``e ~ N(0, noise_std^2 I)``.

    Returns ``(X_aug, y_aug)`` with ``copies * n`` rows; the targets are repeated unchanged.
    """
    X, y = check_regression_data(X, y)
    copies = check_int("copies", copies, minimum=1)
    noise_std = check_positive("noise_std", noise_std, allow_zero=True)
    X_aug = X.repeat(copies, 1)
    noise = torch.randn(X_aug.shape, generator=generator, dtype=X.dtype, device=X.device)
    return X_aug + noise_std * noise, y.repeat(copies)


# --------------------------------------------------------------------------------------------
# Linear regression trained by an optimizer (chapter 04)
# --------------------------------------------------------------------------------------------


@dataclass
class LinearRegressionRun:
    """The result of :func:`train_linear_regression`.

    ``train_loss`` and ``test_loss`` hold ``1/n sum_i 1/2 (y_i - y_hat_i)^2`` (without the penalty) after
    each epoch; ``trajectory`` (with ``record_trajectory=True``) has one row ``[w, b]`` per step, the first
    row being the initial values.
    """

    weight: torch.Tensor
    bias: float
    train_loss: list[float]
    test_loss: list[float]
    trajectory: torch.Tensor | None = None


def _half_squared_error(weight: torch.Tensor, bias: torch.Tensor | float, X: torch.Tensor, y: torch.Tensor
                        ) -> torch.Tensor:
    return 0.5 * (X @ weight + bias - y).pow(2).mean()


def half_squared_error(weight: torch.Tensor, bias: torch.Tensor | float, X: torch.Tensor, y: torch.Tensor
                       ) -> torch.Tensor:
    """``1/n sum_i 1/2 (y_i - w^T x_i - b)^2``, the loss of the linear-regression experiments."""
    X, y = check_regression_data(X, y)
    weight = check_tensor("weight", weight, ndim=1, floating=True)
    if len(weight) != X.shape[1]:
        raise ValueError(f"weight must have {X.shape[1]} entries (one per column of X), got shape {tuple(weight.shape)}")
    return _half_squared_error(weight, bias, X, y)


def train_linear_regression(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor | None = None,
    y_test: torch.Tensor | None = None,
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    lam: float = 0.0,
    weight_decay: float = 0.0,
    optimizer: str = "sgd",
    init_std: float = 1.0,
    seed: int = 0,
    record_trajectory: bool = False,
) -> LinearRegressionRun:
    """Train ``y_hat = w^T x + b`` by mini-batch ``optimizer`` steps on ``half_squared_error + lam * l2_penalty(w)``.

    ``lam`` puts the L2 penalty in the loss; ``weight_decay`` is passed to the optimizer instead (for
    ``w`` only: the bias is never penalized). The initial ``w`` is ``N(0, init_std^2)``, ``b = 0``; both it
    and the order of the mini-batches come from a generator seeded with ``seed``. Use a seed different
    from the one that drew the data: the same seed would make the initial ``w`` equal to the first inputs.
    """
    X_train, y_train = check_regression_data(X_train, y_train, "X_train", "y_train")
    if (X_test is None) != (y_test is None):
        raise ValueError("X_test and y_test must be given together")
    if X_test is not None:
        X_test, y_test = check_regression_data(X_test, y_test, "X_test", "y_test")
        if X_test.shape[1] != X_train.shape[1]:
            raise ValueError(f"X_test must have the {X_train.shape[1]} columns of X_train, got shape {tuple(X_test.shape)}")
    epochs = check_int("epochs", epochs, minimum=1)
    lr = check_positive("lr", lr)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    lam = check_positive("lam", lam, allow_zero=True)
    weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
    check_choice("optimizer", optimizer, OPTIMIZERS)
    init_std = check_positive("init_std", init_std, allow_zero=True)
    generator = torch.Generator().manual_seed(check_int("seed", seed, minimum=0))
    dtype, device = X_train.dtype, X_train.device
    w = (init_std * torch.randn(X_train.shape[1], generator=generator, dtype=dtype)).to(device).requires_grad_()
    b = torch.zeros((), dtype=dtype, device=device, requires_grad=True)
    opt = make_optimizer([{"params": [w]}, {"params": [b], "weight_decay": 0.0}], optimizer, lr, weight_decay)
    train_loss, test_loss = [], []
    steps = [torch.cat([w.detach(), b.detach().reshape(1)])] if record_trajectory else None
    for _ in range(epochs):
        order = torch.randperm(len(X_train), generator=generator).to(device)
        for first in range(0, len(order), batch_size):
            idx = order[first:first + batch_size]
            loss = _half_squared_error(w, b, X_train[idx], y_train[idx]) + lam * l2_penalty(w)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if steps is not None:
                steps.append(torch.cat([w.detach(), b.detach().reshape(1)]))
        with torch.no_grad():
            train_loss.append(_half_squared_error(w, b, X_train, y_train).item())
            if X_test is not None:
                test_loss.append(_half_squared_error(w, b, X_test, y_test).item())
    trajectory = torch.stack(steps) if steps is not None else None
    return LinearRegressionRun(w.detach(), b.item(), train_loss, test_loss, trajectory)


# --------------------------------------------------------------------------------------------
# L1 and the elastic net: descent methods, the exact solution, the lasso path
# --------------------------------------------------------------------------------------------


def elastic_net_objective(X: torch.Tensor, y: torch.Tensor, fit: LinearFit, lam: float, l1_ratio: float = 1.0
                          ) -> float:
    """``J = 1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam * (rho ||w||_1 + (1 - rho) 1/2 ||w||^2)``, ``rho = l1_ratio``."""
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    penalty = elastic_net_penalty(fit.weight, l1_ratio)
    return (half_squared_error(fit.weight, fit.bias, X, y) + lam * penalty).item()


L1_METHODS = ("subgradient", "proximal")


def l1_descent(X: torch.Tensor, y: torch.Tensor, lam: float, *, method: str, lr: float, steps: int,
               fit_intercept: bool = True) -> tuple[LinearFit, list[float]]:
    """Full-batch descent on the lasso objective ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam ||w||_1`` from ``w = 0``.

    ``method="subgradient"`` takes :func:`l1_subgradient_step`, ``"proximal"`` :func:`l1_proximal_step`.
    Returns the final fit and the objective before each step and after the last.
    """
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    method = check_choice("method", method, L1_METHODS)
    lr = check_positive("lr", lr)
    steps = check_int("steps", steps, minimum=1)
    Xc, yc, x_mean, y_mean = _center(X, y, fit_intercept)
    step = l1_subgradient_step if method == "subgradient" else l1_proximal_step
    w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
    objectives = []
    for _ in range(steps):
        residual = Xc @ w - yc
        objectives.append((0.5 * residual.pow(2).mean() + lam * w.abs().sum()).item())
        w = step(w, Xc.T @ residual / len(X), lr, lam)
    objectives.append((0.5 * (Xc @ w - yc).pow(2).mean() + lam * w.abs().sum()).item())
    return _with_bias(w, x_mean, y_mean), objectives


def default_tolerance(Xc: torch.Tensor, yc: torch.Tensor) -> float:
    """The tolerance of :func:`fit_elastic_net` when none is given: ``max(1e-10, 10 eps s)``.

    ``eps`` is the machine epsilon of the data's dtype and ``s = max_j sum_i |x_ij| |y_i| / n`` the size of the
    gradient of the data term at ``w = 0`` (centred data), the scale of the rounding errors of every gradient. In
    float64 this is 1e-10 for any data of ordinary scale; in float32 (PyTorch's default) about ``1e-6 s``, which
    float32 arithmetic can reach (a fixed 1e-10 is below its rounding error, so the solver would run until
    ``max_iter``).
    """
    scale = (Xc.abs().T @ yc.abs()).max().item() / len(Xc) if Xc.numel() else 0.0
    return max(1e-10, 10 * torch.finfo(Xc.dtype).eps * scale)


def fit_elastic_net(X: torch.Tensor, y: torch.Tensor, lam: float, l1_ratio: float = 1.0, *,
                    fit_intercept: bool = True, tol: float | None = None, max_iter: int = 100_000,
                    init: torch.Tensor | None = None, data_lipschitz: float | None = None) -> LinearFit:
    """Minimise ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam (rho ||w||_1 + (1 - rho) 1/2 ||w||^2)`` (the lasso
    when ``l1_ratio = rho = 1``) by accelerated proximal gradient descent (FISTA with restarts).

    The smooth part ``f`` has an ``L``-Lipschitz gradient with ``L = s_max(X)^2 / n + lam (1 - rho)``; each step
    is ``w <- soft_threshold(z - grad f(z) / L, lam rho / L)``. It stops when the optimality conditions hold
    to ``tol``: ``|g_j + lam rho sign(w_j)| <= tol`` where ``w_j != 0`` and ``|g_j| <= lam rho + tol`` where
    ``w_j = 0``, ``g = grad f(w)``; it warns if ``max_iter`` runs out. ``tol=None`` scales the tolerance with the
    dtype (:func:`default_tolerance`: 1e-10 in float64). ``init`` is a warm start for ``w``.
    ``data_lipschitz`` is ``s_max(Xc)^2 / n`` when the caller knows it already (:func:`lasso_path` computes it
    once for the whole path instead of one SVD per ``lam``).
    """
    X, y = check_regression_data(X, y)
    lam = check_positive("lam", lam, allow_zero=True)
    l1_ratio = _check_l1_ratio(l1_ratio)
    if tol is not None:
        tol = check_positive("tol", tol)
    max_iter = check_int("max_iter", max_iter, minimum=1)
    Xc, yc, x_mean, y_mean = _center(X, y, fit_intercept)
    if tol is None:
        tol = default_tolerance(Xc, yc)
    n, l1, l2 = len(X), lam * l1_ratio, lam * (1 - l1_ratio)
    if data_lipschitz is None:
        data_lipschitz = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / n
    else:
        data_lipschitz = check_positive("data_lipschitz", data_lipschitz, allow_zero=True)
    lipschitz = data_lipschitz + l2
    if lipschitz == 0:  # X is constant: nothing to fit
        return _with_bias(torch.zeros(X.shape[1], dtype=X.dtype, device=X.device), x_mean, y_mean)
    if init is None:
        w = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
    else:
        w = check_tensor("init", init, ndim=1, floating=True).to(X.dtype).clone()
        if len(w) != X.shape[1]:
            raise ValueError(f"init must have {X.shape[1]} entries (one per column of X), got shape {tuple(init.shape)}")

    def gradient(v: torch.Tensor) -> torch.Tensor:
        return Xc.T @ (Xc @ v - yc) / n + l2 * v

    z, momentum = w.clone(), 1.0
    for _ in range(max_iter):
        g = gradient(w)
        violation = torch.where(w != 0, (g + l1 * torch.sign(w)).abs(), torch.clamp(g.abs() - l1, min=0.0))
        if violation.max().item() <= tol:
            return _with_bias(w, x_mean, y_mean)
        w_next = soft_threshold(z - gradient(z) / lipschitz, l1 / lipschitz)
        if torch.dot(z - w_next, w_next - w).item() > 0:  # the momentum points uphill: restart it
            momentum = 1.0
        momentum_next = (1 + math.sqrt(1 + 4 * momentum**2)) / 2
        z = w_next + ((momentum - 1) / momentum_next) * (w_next - w)
        w, momentum = w_next, momentum_next
    warnings.warn(f"fit_elastic_net stopped after max_iter={max_iter} iterations with an optimality violation "
                  f"of {violation.max().item():.3g} > tol={tol:g}", RuntimeWarning, stacklevel=2)
    return _with_bias(w, x_mean, y_mean)


def lasso_lambda_max(X: torch.Tensor, y: torch.Tensor, fit_intercept: bool = True) -> float:
    """The smallest ``lam`` at which the lasso solution is ``w = 0``: ``max_j |x_j^T y| / n`` on centred data.

    At ``w = 0`` the gradient of the data term is ``-X^T y / n``, and 0 is optimal exactly when every
    ``|x_j^T y| / n <= lam``.
    """
    X, y = check_regression_data(X, y)
    Xc, yc, _, _ = _center(X, y, fit_intercept)
    return (Xc.T @ yc).abs().max().item() / len(X)


def lasso_path(X: torch.Tensor, y: torch.Tensor, lams: Iterable[float], l1_ratio: float = 1.0, *,
               fit_intercept: bool = True, tol: float | None = None) -> torch.Tensor:
    """The weights of :func:`fit_elastic_net` for each ``lam`` in ``lams``, shape ``(len(lams), d)``.

    The values are solved from the largest ``lam`` down, each warm-started from the previous solution; the
    Lipschitz constant of the data term is computed once.
    """
    lams = [check_positive(f"lams[{i}]", lam, allow_zero=True) for i, lam in enumerate(lams)]
    if not lams:
        raise ValueError("lams must hold at least one value, got none")
    X, y = check_regression_data(X, y)
    weights = torch.empty(len(lams), X.shape[1], dtype=X.dtype, device=X.device)
    Xc = _center(X, y, fit_intercept)[0]
    data_lipschitz = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / len(X)   # the same for every lam
    w = None
    for i in sorted(range(len(lams)), key=lambda i: -lams[i]):
        w = fit_elastic_net(X, y, lams[i], l1_ratio, fit_intercept=fit_intercept, tol=tol, init=w,
                            data_lipschitz=data_lipschitz).weight
        weights[i] = w
    return weights
