import copy
import math

import pytest
import torch

from attnreg.exercises import (check_early_stopping, check_early_stopping_shrinkage, check_lambda_prediction,
                               check_polynomial_coefficients)
from attnreg.exercises.overfitting import curve_shape, reference_early_stopping


def feedback_of(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(*args):
    raise NotImplementedError


# ---- check_lambda_prediction --------------------------------------------------------------------

TRAIN, TEST = [0.03, 0.04, 0.06, 0.2], [2.4, 0.15, 0.1, 0.25]


def test_curve_shape_reads_the_four_shapes():
    assert curve_shape([1, 2, 2, 3]) == "rises" and curve_shape([3, 2, 1]) == "falls"
    assert curve_shape([3, 1, 2]) == "falls then rises" and curve_shape([1, 3, 2]) == "rises then falls"
    assert curve_shape([1, 3, 2, 4]) == "goes up and down"


def test_lambda_prediction_passes_the_measured_shapes(capsys):
    assert check_lambda_prediction(("rises", "falls then rises"), TRAIN, TEST).passed
    out = capsys.readouterr().out
    assert "2 of 2 checks passed" in out
    assert "the test error as lambda grows: it falls then rises (2.4 -> 0.1 (lowest) -> 0.25)" in out


def test_lambda_prediction_not_attempted(capsys):
    for answer in (None, ...):
        result = check_lambda_prediction(answer, TRAIN, TEST)
        assert not result.passed and not result.implemented
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("prediction, message", [
    (("falls", "falls then rises"), "you predicted that the training error falls:"),
    (("falls then rises", "falls then rises"), "you predicted that the training error falls then rises:"),
    (("rises then falls", "falls then rises"), "can only grow with lambda"),
    (("rises", "rises"), "you predicted that the test error rises:"),
    (("rises", "falls"), "you predicted that the test error falls:"),
    (("rises", "rises then falls"), "lowest in between"),
    (("rises", "U"), "'U' is not one of the choices"),
    ("rises", "must be a pair"),
    (("goes up", "falls then rises"), "is not one of the choices"),
])
def test_lambda_prediction_explains_wrong_predictions(prediction, message):
    result = check_lambda_prediction(prediction, TRAIN, TEST, verbose=False)
    assert not result.passed and message in feedback_of(result)


def test_lambda_prediction_verdict_follows_the_measurement():
    # another machine could measure another shape: the verdict is computed from what is passed
    assert check_lambda_prediction(("rises", "falls"), TRAIN, [3.0, 2.0, 1.0, 0.5], verbose=False).passed
    result = check_lambda_prediction(("rises", "falls then rises"), TRAIN, [], verbose=False)
    assert "pass the measured errors" in feedback_of(result)


def test_lambda_prediction_hints_exist():
    assert len(check_lambda_prediction.exercise.hints) >= 2


# ---- check_polynomial_coefficients ---------------------------------------------------------------

def test_polynomial_coefficients_passes_the_binomial(capsys):
    assert check_polynomial_coefficients(lambda K, d: math.comb(K + d, d)).passed
    assert check_polynomial_coefficients(lambda K, d: math.factorial(K + d) / (math.factorial(K) * math.factorial(d)),
                                         verbose=False).passed
    assert "4 of 4 checks passed" in capsys.readouterr().out


def test_polynomial_coefficients_stub_and_none():
    assert not check_polynomial_coefficients(stub, verbose=False).implemented
    assert not check_polynomial_coefficients(None, verbose=False).implemented


@pytest.mark.parametrize("buggy, message", [
    (lambda K, d: K + 1, "that is the count for one variable"),
    (lambda K, d: (K + 1) ** d, "its own degree up to K"),
    (lambda K, d: 1 + K * d, "only the powers of each variable"),
    (lambda K, d: math.comb(K + d, d) - 1, "forgot the constant term"),
    (lambda K, d: math.comb(K + d - 1, d - 1), "only the monomials of degree exactly K"),
    (lambda K, d: d ** K, "ordered products"),
    (lambda K, d: math.comb(K + d, d) / 2, "not a whole number"),
    (lambda K, d: math.comb(K + d, d) + 1, "too large"),
    (lambda K, d: None, "did you forget a `return`"),
])
def test_polynomial_coefficients_recognises_wrong_counts(buggy, message):
    result = check_polynomial_coefficients(buggy, verbose=False)
    assert not result.passed and message in feedback_of(result)


def test_polynomial_coefficients_never_prints_the_answer():
    result = check_polynomial_coefficients(lambda K, d: math.comb(K + d, d) + 1, verbose=False)
    text = feedback_of(result)
    for right in ("21", "6 ", "56", "1001"):
        assert f"is {right}" not in text and f"expected {right}" not in text
    assert "1002" in text and "1001" not in text.replace("1002", "")


def test_polynomial_coefficients_hints_exist():
    assert len(check_polynomial_coefficients.exercise.hints) >= 2


# ---- check_early_stopping_shrinkage --------------------------------------------------------------

def test_shrinkage_passes_the_closed_form_and_a_loop():
    assert check_early_stopping_shrinkage(lambda t, lr, a, w: w * (1 - (1 - lr * a) ** t), verbose=False).passed

    def by_loop(t, lr, a, w_hat):
        w = 0.0
        for _ in range(t):
            w -= lr * a * (w - w_hat)
        return w

    assert check_early_stopping_shrinkage(by_loop, verbose=False).passed


def test_shrinkage_stub():
    assert not check_early_stopping_shrinkage(stub, verbose=False).implemented


@pytest.mark.parametrize("buggy, message", [
    (lambda t, lr, a, w: w * (1 - lr * a) ** t, "the part that is still missing"),
    (lambda t, lr, a, w: w * (1 - (1 - lr) ** t), "the curvature a is missing"),
    (lambda t, lr, a, w: w * (1 - (1 - lr * a) ** (t + 1)), "one step too many"),
    (lambda t, lr, a, w: w * (1 - (1 - lr * a) ** (t - 1)), "one step too few"),
    (lambda t, lr, a, w: t * lr * a * w, "first-order approximation"),
    (lambda t, lr, a, w: w * (1 - math.exp(-t * lr * a)), "gradient flow"),
    (lambda t, lr, a, w: w * (1 - (1 - lr * a) ** t) + 0.01, "too large"),
    (lambda t, lr, a, w: torch.ones(2), "must be one number"),
    (lambda t, lr, a, w: w / 0 if t else 0.0, "raised ZeroDivisionError"),
])
def test_shrinkage_recognises_wrong_formulas(buggy, message):
    result = check_early_stopping_shrinkage(buggy, verbose=False)
    assert not result.passed and message in feedback_of(result)


def test_shrinkage_hints_exist():
    assert len(check_early_stopping_shrinkage.exercise.hints) >= 2


# ---- check_early_stopping ------------------------------------------------------------------------

def loop(model, train_epoch, validation_loss, max_epochs, patience, *, better=lambda loss, best: loss < best,
         reset=True, stop_after=None, copy_state=True, restore=True, epochs=None, returned=lambda best, e: best):
    best_loss, best_epoch, wait, saved = math.inf, None, 0, None
    stop_after = patience if stop_after is None else stop_after
    epoch = 0
    for epoch in (range(1, max_epochs + 1) if epochs is None else epochs(max_epochs)):
        train_epoch(model)
        loss = validation_loss(model)
        if better(loss, best_loss):
            best_loss, best_epoch = loss, epoch
            if reset:
                wait = 0
            state = model.state_dict()
            saved = {k: v.detach().clone() for k, v in state.items()} if copy_state else state
        else:
            wait += 1
            if wait >= stop_after:
                break
    if restore:
        model.load_state_dict(saved)
    return returned(best_epoch, epoch)


def test_early_stopping_passes_the_reference_and_a_plain_loop(capsys):
    assert check_early_stopping(reference_early_stopping).passed
    assert "6 of 6 checks passed" in capsys.readouterr().out
    assert check_early_stopping(loop, verbose=False).passed

    def with_deepcopy(model, train_epoch, validation_loss, max_epochs, patience):
        best, best_epoch, saved, wait = float("inf"), 0, None, 0
        for epoch in range(1, max_epochs + 1):
            train_epoch(model)
            loss = validation_loss(model)
            if loss < best:
                best, best_epoch, saved, wait = loss, epoch, copy.deepcopy(model.state_dict()), 0
            elif (wait := wait + 1) == patience:
                break
        model.load_state_dict(saved)
        return best_epoch

    assert check_early_stopping(with_deepcopy, verbose=False).passed


def test_early_stopping_stub():
    result = check_early_stopping(stub, verbose=False)
    assert not result.passed and not result.implemented


def returns_the_model(model, *args):
    loop(model, *args)
    return model


def while_true(model, train_epoch, validation_loss, max_epochs, patience):
    return loop(model, train_epoch, validation_loss, max_epochs, patience, epochs=lambda m: range(1, 10**6))


def deep_copied_model(model, train_epoch, validation_loss, max_epochs, patience):
    best_model, best, best_epoch, wait = None, math.inf, 0, 0
    for epoch in range(1, max_epochs + 1):
        train_epoch(model)
        loss = validation_loss(model)
        if loss < best:
            best, best_epoch, best_model, wait = loss, epoch, copy.deepcopy(model), 0
        else:
            wait += 1
            if wait >= patience:
                break
    model = best_model   # rebinds a local name: the caller's model keeps its last weights
    return best_epoch


@pytest.mark.parametrize("buggy, message", [
    (lambda *a: loop(*a, copy_state=False), "state_dict() returns references"),
    (lambda *a: loop(*a, restore=False), "keeps the weights of the last epoch"),
    (deep_copied_model, "keeps the weights of the last epoch"),
    (lambda m, t, v, me, p: loop(m, t, v, me, p, stop_after=p + 1), "one epoch too many"),
    (lambda m, t, v, me, p: loop(m, t, v, me, p, stop_after=p - 1), "one epoch too few"),
    (lambda *a: loop(*a, reset=False), "the count restarts at 0"),
    (lambda *a: loop(*a, better=lambda loss, best: loss <= best), "compare with <, not <="),
    (lambda *a: loop(*a, better=lambda loss, best: not loss > best), "`loss > best` is False for NaN"),
    (lambda *a: loop(*a, epochs=lambda m: range(1, m)), "range(max_epochs), not range(1, max_epochs)"),
    (while_true, "you trained more than max_epochs"),
    (lambda *a: loop(*a, returned=lambda best, e: best - 1), "count epochs from 1"),
    (lambda *a: loop(*a, returned=lambda best, e: e), "you returned the last epoch trained"),
    (lambda *a: loop(*a, returned=lambda best, e: 0.5), "that looks like a loss"),
    (returns_the_model, "not the model"),
])
def test_early_stopping_catches_classic_bugs(buggy, message):
    result = check_early_stopping(buggy, verbose=False)
    assert not result.passed
    assert message in feedback_of(result), feedback_of(result)


def test_early_stopping_reports_a_crash():
    result = check_early_stopping(lambda model, train, val, m, p: model.state_dict()["nope"], verbose=False)
    assert not result.passed and "raised KeyError" in feedback_of(result)


def test_early_stopping_hints_exist():
    assert len(check_early_stopping.exercise.hints) >= 2
