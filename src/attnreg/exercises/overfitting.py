"""Checkers for the exercises of chapter 03 beyond the L2 penalty: predicting the effect of lambda, counting
polynomial coefficients, early stopping as shrinkage, and an early-stopping training loop."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any

import torch
from torch import nn

from ..regularization import EarlyStopping
from ._framework import CheckResult, Feedback, expect_derived, run_check
from ._registry import exercise

# --------------------------------------------------------------------------------------------
# Exercise 03.2: predict how the training and test errors move with lambda
# --------------------------------------------------------------------------------------------

SHAPES = ("rises", "falls", "falls then rises", "rises then falls")


def curve_shape(values: Sequence[float], rel_tol: float = 1e-9) -> str:
    """The shape of a curve read left to right: one of :data:`SHAPES`, or ``"goes up and down"``.

    Steps smaller than ``rel_tol`` times the value count as flat.
    """
    v = [float(x) for x in values]
    steps = [b - a for a, b in zip(v, v[1:])]
    signs = [0 if abs(s) <= rel_tol * max(abs(a), abs(b), 1e-300) else (1 if s > 0 else -1)
             for s, a, b in zip(steps, v, v[1:])]
    signs = [s for s in signs if s != 0]
    changes = [s for i, s in enumerate(signs) if i == 0 or s != signs[i - 1]]
    if changes == [1]:
        return "rises"
    if changes == [-1]:
        return "falls"
    if changes == [-1, 1]:
        return "falls then rises"
    if changes == [1, -1]:
        return "rises then falls"
    return "goes up and down"


_WHY = {
    "train": "the penalty pulls the weights away from the least-squares fit of the training points, so the "
             "training error can only grow with lambda (from the interpolation's level towards the error of "
             "predicting the mean)",
    "test": "a little penalty removes the wild swings between the points (less variance), a large one flattens "
            "the curve until it misses the cubic (more bias): the test error is lowest in between",
}


@exercise(chapter='03_overfitting_and_regularization', number=2, title='predict the effect of lambda', stars=1,
          kind='predict', practises='the bias-variance trade-off as the penalty grows',
          hints=['For the training error, compare with lambda = 0: which fit of the training points is the best '
                 'one possible, and can a penalty make the fit of those same points better?',
                 'For the test error, look at the ends: lambda near 0 is the wild degree-20 interpolation, lambda '
                 'very large leaves only the mean of y. Is anything better than both ends?'])
def check_lambda_prediction(prediction: Any, train_mse: Sequence[float] = (), test_mse: Sequence[float] = (),
                            verbose: bool = True) -> CheckResult:
    """Check ``prediction = (training error shape, test error shape)``, each one of :data:`SHAPES`, against the
    measured errors of the degree-20 ridge fits for increasing lambda."""
    measured = {"train": list(train_mse), "test": list(test_mse)}

    def case_on(which: str, index: int) -> Callable[[Any], None]:
        def run(answer: Any) -> None:
            if not isinstance(answer, (tuple, list)) or len(answer) != 2:
                raise Feedback('the prediction must be a pair (training error, test error), for example '
                               '("falls", "rises")')
            said = answer[index]
            if said not in SHAPES:
                raise Feedback(f"{said!r} is not one of the choices {', '.join(repr(s) for s in SHAPES)}")
            values = measured[which]
            if len(values) < 3:
                raise Feedback("pass the measured errors to the check: check_lambda_prediction(prediction_2, "
                               "train_mse, test_mse)")
            if said != curve_shape(values):
                label = "training error" if which == "train" else "test error"
                raise Feedback(f"you predicted that the {label} {said}: {_WHY[which]}")
        return run

    def name(which: str) -> str:
        label = "the training error" if which == "train" else "the test error"
        values = measured[which]
        if len(values) < 3:
            return f"{label} as lambda grows"
        low = f" -> {min(values):.3g} (lowest)" if which == "test" else ""
        return f"{label} as lambda grows: it {curve_shape(values)} ({values[0]:.3g}{low} -> {values[-1]:.3g})"

    cases = [(name("train"), case_on("train", 0)), (name("test"), case_on("test", 1))]
    return run_check("check_lambda_prediction", prediction, cases, verbose, expects="value")


# --------------------------------------------------------------------------------------------
# Exercise 03.3: the number of coefficients of a polynomial in d variables
# --------------------------------------------------------------------------------------------


@exercise(chapter='03_overfitting_and_regularization', number=3, title='the capacity of a polynomial in d variables',
          stars=2, kind='derive', practises='counting the parameters of a model: monomials of total degree at most K',
          hints=['A polynomial of degree K in d variables has one coefficient per monomial x_1^a_1 ... x_d^a_d with '
                 'a_1 + ... + a_d <= K. Count the monomials for d = 1 and d = 2 by hand first.',
                 'Add a slack exponent a_0 = K - (a_1 + ... + a_d) >= 0: you are counting the ways to write K as a '
                 'sum of d + 1 non-negative integers (stars and bars).'])
def check_polynomial_coefficients(n_coefficients: Callable[[int, int], int], verbose: bool = True) -> CheckResult:
    """Check ``n_coefficients(K, d)``: the number of coefficients of a polynomial of total degree at most ``K``
    in ``d`` variables, constant term included, never printing the right value."""

    def case_on(K: int, d: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            expected = math.comb(K + d, d)
            known_bugs = {
                "that is the count for one variable, K + 1: with d variables the cross terms such as x_1 x_2 "
                "count too": K + 1,
                "you allowed every variable its own degree up to K, (K + 1)^d: the degree of x_1^2 x_2^2 is 4, "
                "the total of the exponents must be at most K": (K + 1) ** d,
                "you counted only the powers of each variable (x_j^k) and the constant, 1 + K d: the cross terms "
                "such as x_1 x_2 count too": 1 + K * d,
                "you forgot the constant term (the monomial of degree 0)": math.comb(K + d, d) - 1,
                "you counted only the monomials of degree exactly K; the polynomial also has all lower "
                "degrees": math.comb(K + d - 1, d - 1),
                "d^K counts ordered products of K variables (x_1 x_2 and x_2 x_1 twice) and misses the lower "
                "degrees": d ** K,
            }
            value = fn(K, d)
            if isinstance(value, Real) and not isinstance(value, bool) and float(value) != round(float(value)):
                raise Feedback(f"n_coefficients({K}, {d}) = {value:g} is not a whole number: a count is an integer")
            expect_derived(value, float(expected), what=f"n_coefficients({K}, {d})", rtol=0.0, atol=1e-6,
                           known_bugs={hint: float(v) for hint, v in known_bugs.items()})
        return run

    cases = [
        ("K = 20, d = 1 (the polynomial of this chapter)", case_on(20, 1)),
        ("K = 2, d = 2", case_on(2, 2)),
        ("K = 3, d = 5", case_on(3, 5)),
        ("K = 4, d = 10", case_on(4, 10)),
    ]
    return run_check("check_polynomial_coefficients", n_coefficients, cases, verbose)


# --------------------------------------------------------------------------------------------
# Exercise 03.4: gradient descent stopped after t steps
# --------------------------------------------------------------------------------------------


@exercise(chapter='03_overfitting_and_regularization', number=4, title='early stopping shrinks the weight', stars=2,
          kind='derive', practises='gradient descent on a quadratic in closed form; early stopping as shrinkage',
          hints=['Write the gradient as a (w - w_hat) and look at the error e_t = w_t - w_hat: one step multiplies it '
                 'by a fixed factor.',
                 'e_0 = -w_hat since w_0 = 0, so e_t = -(1 - lr a)^t w_hat; now solve for w_t.'])
def check_early_stopping_shrinkage(gd_weight: Callable[[int, float, float, float], float], verbose: bool = True
                                   ) -> CheckResult:
    """Check ``gd_weight(t, lr, a, w_hat)``: the weight after ``t`` steps of gradient descent with learning rate
    ``lr`` from ``w = 0`` on ``1/2 a (w - w_hat)^2``, which is ``w_hat (1 - (1 - lr a)^t)``."""

    def case_on(t: int, lr: float, a: float, w_hat: float) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            q = 1 - lr * a
            expected = w_hat * (1 - q**t)
            known_bugs = {
                "you gave the part that is still missing, (1 - lr a)^t w_hat; the weight is w_hat minus it": w_hat * q**t,
                "the curvature a is missing: the gradient of 1/2 a (w - w_hat)^2 is a (w - w_hat), so each step "
                "multiplies the error by (1 - lr a)": w_hat * (1 - (1 - lr) ** t),
                "one step too many: after t steps the factor (1 - lr a) has been applied t times": w_hat * (1 - q ** (t + 1)),
                "one step too few: after t steps the factor (1 - lr a) has been applied t times": w_hat * (1 - q ** (t - 1)),
                "t lr a w_hat is only the first-order approximation, valid while t lr a << 1: the error shrinks "
                "geometrically": t * lr * a * w_hat,
                "1 - exp(-t lr a) is gradient flow, the limit of tiny steps; with a finite step the factor is "
                "(1 - lr a)^t": w_hat * (1 - math.exp(-t * lr * a)),
            }
            expect_derived(fn(t, lr, a, w_hat), expected, what=f"gd_weight({t}, {lr}, {a}, {w_hat})", rtol=1e-7,
                           atol=1e-12, known_bugs=known_bugs)
        return run

    cases = [
        ("t = 5 steps, lr = 0.1, a = 2, w_hat = 3", case_on(5, 0.1, 2.0, 3.0)),
        ("t = 40 steps, lr = 0.05, a = 0.5, w_hat = -1.5", case_on(40, 0.05, 0.5, -1.5)),
        ("t = 0 steps: still at the start", case_on(0, 0.1, 1.0, 2.0)),
        ("t = 3 steps, lr = 0.9, a = 2 (steps that overshoot)", case_on(3, 0.9, 2.0, 1.0)),
    ]
    return run_check("check_early_stopping_shrinkage", gd_weight, cases, verbose)


# --------------------------------------------------------------------------------------------
# Exercise 03.5: an early-stopping training loop
# --------------------------------------------------------------------------------------------


class _ScriptedModel(nn.Module):
    """A one-weight model whose weight after epoch e is e, and which counts its load_state_dict calls."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, dtype=torch.float64))
        self.loads = 0

    def load_state_dict(self, state_dict: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        self.loads += 1
        return super().load_state_dict(state_dict, *args, **kwargs)


def _run_scripted(fn: Callable, losses: Sequence[float], max_epochs: int, patience: int
                  ) -> tuple[Any, int, float, int]:
    """Run the learner's loop with a scripted validation loss; return (result, epochs trained, final weight, loads)."""
    model = _ScriptedModel()
    trained = [0]

    def train_epoch(m: nn.Module) -> None:
        if m is not model:
            raise Feedback("train_epoch must be called with the model you were given")
        trained[0] += 1
        if trained[0] > max_epochs:
            raise Feedback(f"you trained more than max_epochs = {max_epochs} epochs: stop at max_epochs even if the "
                           "validation loss keeps improving")
        with torch.no_grad():
            model.weight.fill_(float(trained[0]))   # in place, like an optimizer step

    def validation_loss(m: nn.Module) -> float:
        return 100.0 if trained[0] == 0 else float(losses[trained[0] - 1])

    result = fn(model, train_epoch, validation_loss, max_epochs, patience)
    return result, trained[0], model.weight.item(), model.loads


def _check_outcome(result: Any, trained: int, weight: float, loads: int, best: int, stop: int,
                   stop_bugs: dict[int, str]) -> None:
    if trained != stop:
        if trained in stop_bugs:
            raise Feedback(stop_bugs[trained])
        raise Feedback(f"training ran {trained} epochs; with the lowest validation loss at epoch {best}, it should "
                       f"stop after epoch {stop}")
    if isinstance(result, nn.Module):
        raise Feedback("return the best epoch (an int), not the model: the model is changed in place")
    if isinstance(result, bool) or not isinstance(result, Integral):
        raise Feedback(f"return the best epoch as an int, got {type(result).__name__}"
                       + (f" {result:.4g}: that looks like a loss, not an epoch" if isinstance(result, float) else ""))
    if result != best:
        if result == best - 1:
            raise Feedback(f"you returned {result}: count epochs from 1 (the first epoch of training is epoch 1)")
        if result == trained:
            raise Feedback(f"you returned the last epoch trained ({result}), not the epoch with the lowest "
                           "validation loss")
        raise Feedback(f"you returned epoch {result}, but the lowest validation loss was at epoch {best}")
    if weight != best:
        if weight == trained and loads:
            raise Feedback("the model has the weights of the last epoch although you loaded a saved state: "
                           "model.state_dict() returns references to the live tensors, which the next epochs "
                           "overwrite; save a copy ({k: v.detach().clone() ...} or copy.deepcopy)")
        if weight == trained:
            raise Feedback(f"the model keeps the weights of the last epoch ({trained}): load the weights saved at "
                           f"the best epoch into the model you were given before returning")
        raise Feedback(f"the model holds the weights of epoch {weight:g}, not of the best epoch {best}")


def _scripted_case(losses: Sequence[float], max_epochs: int, patience: int, best: int, stop: int,
                   stop_bugs: dict[int, str]) -> Callable[[Callable], None]:
    def run(fn: Callable) -> None:
        _check_outcome(*_run_scripted(fn, losses, max_epochs, patience), best, stop, stop_bugs)
    return run


def _regression_task(seed: int = 0) -> tuple[nn.Module, Callable, Callable]:
    """A linear model on 12 examples of 30 features, from w = 0: full-batch gradient descent overfits, the
    validation loss falls for about 20 epochs and then rises."""
    gen = torch.Generator().manual_seed(seed)
    d = 30
    w_true = torch.randn(d, generator=gen, dtype=torch.float64) / math.sqrt(d)
    X, X_val = torch.randn(12, d, generator=gen, dtype=torch.float64), torch.randn(200, d, generator=gen, dtype=torch.float64)
    y = X @ w_true + 0.5 * torch.randn(12, generator=gen, dtype=torch.float64)
    y_val = X_val @ w_true + 0.5 * torch.randn(200, generator=gen, dtype=torch.float64)
    model = nn.Linear(d, 1, dtype=torch.float64)
    with torch.no_grad():
        model.weight.zero_()
        model.bias.zero_()

    def train_epoch(m: nn.Module) -> None:
        m.zero_grad()
        (0.5 * (m(X).squeeze(1) - y).pow(2).mean()).backward()
        with torch.no_grad():
            for p in m.parameters():
                p -= 0.02 * p.grad

    def validation_loss(m: nn.Module) -> float:
        with torch.no_grad():
            return (0.5 * (m(X_val).squeeze(1) - y_val).pow(2).mean()).item()

    return model, train_epoch, validation_loss


def reference_early_stopping(model: nn.Module, train_epoch: Callable[[nn.Module], None],
                             validation_loss: Callable[[nn.Module], float], max_epochs: int, patience: int) -> int:
    """The loop with :class:`~attnreg.regularization.EarlyStopping`: the reference of :func:`check_early_stopping`."""
    stopper = EarlyStopping(patience)
    for _ in range(max_epochs):
        train_epoch(model)
        if stopper.step(validation_loss(model), model):
            break
    stopper.restore(model)
    assert stopper.best_epoch is not None
    return stopper.best_epoch


@exercise(chapter='03_overfitting_and_regularization', number=5, title='an early-stopping training loop', stars=3,
          kind='implement', practises='early stopping: validation after every epoch, patience, restoring the best weights',
          hints=['Keep three things between epochs: the lowest validation loss so far, the epoch it happened and a copy '
                 'of the weights at that epoch, plus a counter of epochs without improvement.',
                 'An epoch improves only if its loss is strictly below the best one (a NaN is never below anything); '
                 'then reset the counter to 0 and save {k: v.detach().clone() for k, v in model.state_dict().items()}.',
                 'After the loop (patience ran out, or max_epochs reached), call model.load_state_dict(saved) and '
                 'return the best epoch, counting from 1.'])
def check_early_stopping(train_with_early_stopping: Callable[..., int], verbose: bool = True) -> CheckResult:
    """Check ``train_with_early_stopping(model, train_epoch, validation_loss, max_epochs, patience) -> best_epoch``:
    it trains until ``patience`` epochs in a row bring no strict improvement of the validation loss (or
    ``max_epochs``), loads the weights of the best epoch into ``model`` and returns that epoch (from 1)."""
    patience = 3
    falls_then_rises = [5.0, 4.0, 3.0, 2.5, 2.6, 2.7, 2.8, 2.9, 3.0, 3.1, 3.2, 3.3]
    plateaus = [5.0, 4.0, 4.5, 4.2, 3.5, 3.6, 3.7, 3.3, 3.4, 3.5, 3.6, 3.7, 3.8, 3.9]
    ties = [3.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    falling = [1.0 / k for k in range(1, 13)]
    nans = [3.0, 2.0] + [math.nan] * 8
    too_long, too_short = "one epoch too many: stop as soon as `patience` epochs in a row have not improved", \
        "one epoch too few: stop after `patience` epochs in a row without improvement, not before"

    def end_to_end(fn: Callable) -> None:
        model, train_epoch, validation_loss = _regression_task()
        reference_model, *_ = _regression_task()
        best = reference_early_stopping(reference_model, train_epoch, validation_loss, 200, 5)
        counted = [0]

        def counting_epoch(m: nn.Module) -> None:
            counted[0] += 1
            if counted[0] > 200:
                raise Feedback("you trained more than max_epochs = 200 epochs")
            train_epoch(m)

        result = fn(model, counting_epoch, validation_loss, 200, 5)
        if isinstance(result, bool) or not isinstance(result, Integral) or result != best:
            raise Feedback(f"on a real regression your loop returned {result!r}; the lowest validation loss was at "
                           f"epoch {best}")
        gap = max((a - b).abs().max().item() for a, b in zip(model.state_dict().values(),
                                                            reference_model.state_dict().values()))
        if gap > 1e-12:
            raise Feedback(f"on a real regression the final weights differ from those of epoch {best} by up to "
                           f"{gap:.3g}: restore the saved copy")

    cases = [
        ("the loss falls, then rises (patience 3)",
         _scripted_case(falls_then_rises, 12, patience, 4, 7, {8: too_long, 6: too_short, 5: too_short})),
        ("an improvement after a plateau restarts the count",
         _scripted_case(plateaus, 14, patience, 8, 11, {
             6: "you stopped at epoch 6, counting every epoch without improvement since the start: the count "
                "restarts at 0 whenever the loss improves (epoch 5 improved on epoch 2)",
             12: too_long, 10: too_short})),
        ("a loss equal to the best is no improvement",
         _scripted_case(ties, 10, patience, 2, 5, {
             10: "a loss that only equals the best one is no improvement: compare with <, not <=", 6: too_long,
             4: too_short})),
        ("the loss keeps falling: stop at max_epochs = 8",
         _scripted_case(falling, 8, patience, 8, 8, {
             7: "you trained 7 epochs: train max_epochs = 8 epochs when the loss keeps improving "
                "(range(max_epochs), not range(1, max_epochs))"})),
        ("a NaN loss is never an improvement",
         _scripted_case(nans, 10, patience, 2, 5, {
             10: "a NaN validation loss counted as an improvement: `loss > best` is False for NaN, so "
                 "`if loss > best: wait += 1 else: save` saves NaN; test `if loss < best:` instead",
             6: too_long, 4: too_short})),
        ("end to end: gradient descent on an overfitting regression", end_to_end),
    ]
    return run_check("check_early_stopping", train_with_early_stopping, cases, verbose)
