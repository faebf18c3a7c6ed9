import math

import pytest
import torch

from attnreg.exercises import check_decay_factor, check_ista_lasso, check_lasso_1d, check_norm_prediction
from attnreg.exercises.sparsity import NORM_EXPERIMENT, reference_ista_lasso
from attnreg.regularization import soft_threshold


def feedback_of(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(*args):
    raise NotImplementedError


# ---- check_decay_factor --------------------------------------------------------------------------

def test_decay_factor_passes_the_power_and_a_loop():
    assert check_decay_factor(lambda lr, wd, steps: (1 - lr * wd) ** steps, verbose=False).passed

    def by_loop(lr, wd, steps):
        w = 1.0
        for _ in range(steps):
            w = w - lr * wd * w
        return w

    assert check_decay_factor(by_loop, verbose=False).passed


def test_decay_factor_stub_and_none():
    assert not check_decay_factor(stub, verbose=False).implemented
    assert not check_decay_factor(None, verbose=False).implemented


@pytest.mark.parametrize("buggy, message", [
    (lambda lr, wd, s: (1 - wd) ** s, "the learning rate is missing"),
    (lambda lr, wd, s: 1 - s * lr * wd, "first-order approximation"),
    (lambda lr, wd, s: math.exp(-s * lr * wd), "continuous-time limit"),
    (lambda lr, wd, s: (1 - 2 * lr * wd) ** s, "twice too strong"),
    (lambda lr, wd, s: (1 - lr * wd) ** (s - 1), "one step too few"),
    (lambda lr, wd, s: 1 - (1 - lr * wd) ** s, "how much of the weight is gone"),
    (lambda lr, wd, s: (1 - lr * wd) ** s + 1e-3, "too large"),
    (lambda lr, wd, s: "0.027", "must be a number"),
    (lambda lr, wd, s: math.inf, "expected a finite number"),
])
def test_decay_factor_recognises_wrong_formulas(buggy, message):
    result = check_decay_factor(buggy, verbose=False)
    assert not result.passed and message in feedback_of(result)


def test_decay_factor_never_prints_the_answer():
    text = feedback_of(check_decay_factor(lambda lr, wd, s: 0.5, verbose=False))
    assert f"{(1 - 0.003 * 3) ** 400:.6g}" not in text and "too" in text


def test_decay_factor_hints_exist():
    assert len(check_decay_factor.exercise.hints) >= 2


# ---- check_lasso_1d ------------------------------------------------------------------------------

def right_1d(c, a, lam):
    return math.copysign(max(abs(c) - lam, 0.0), c) / a


def test_lasso_1d_passes_the_soft_threshold_and_soft_threshold_of_torch():
    assert check_lasso_1d(right_1d, verbose=False).passed
    assert check_lasso_1d(lambda c, a, lam: (soft_threshold(torch.tensor(c), lam) / a).item(), verbose=False).passed


def test_lasso_1d_stub():
    assert not check_lasso_1d(stub, verbose=False).implemented


def st(c, t):
    return math.copysign(max(abs(c) - t, 0.0), c)


@pytest.mark.parametrize("buggy, message", [
    (lambda c, a, lam: st(c / a, lam), "you thresholded c / a by lambda"),
    (lambda c, a, lam: st(c, 2 * lam) / a, "twice too large"),
    (lambda c, a, lam: st(c, lam / 2) / a, "half too small"),
    (lambda c, a, lam: (c - math.copysign(lam, c)) / a, "crosses zero"),
    (lambda c, a, lam: c / a if abs(c) > lam else 0.0, "hard thresholding"),
    (lambda c, a, lam: c / (a + lam), "the ridge solution"),
    (lambda c, a, lam: max(c - lam, 0.0) / a, "you only handled c > lambda"),
    (lambda c, a, lam: st(c, lam) / a + 0.01, "is not right: it is too large"),
    (lambda c, a, lam: None, "did you forget a `return`"),
])
def test_lasso_1d_recognises_wrong_formulas(buggy, message):
    result = check_lasso_1d(buggy, verbose=False)
    assert not result.passed and message in feedback_of(result)


def test_lasso_1d_hints_exist():
    assert len(check_lasso_1d.exercise.hints) >= 2


# ---- check_norm_prediction -----------------------------------------------------------------------

STEPS = NORM_EXPERIMENT["epochs"] * NORM_EXPERIMENT["n_train"] // NORM_EXPERIMENT["batch_size"]
FACTOR = (1 - NORM_EXPERIMENT["lr"] * NORM_EXPERIMENT["lam"]) ** STEPS
MEASURED = 10 * FACTOR * 1.03


def test_norm_prediction_passes_within_20_percent(capsys):
    assert check_norm_prediction(10 * FACTOR, MEASURED).passed
    assert f"({MEASURED:.2f})" in capsys.readouterr().out


def test_norm_prediction_not_attempted():
    result = check_norm_prediction(None, MEASURED, verbose=False)
    assert not result.implemented


@pytest.mark.parametrize("prediction, message", [
    (math.sqrt(180) * FACTOR, "180 was section 4's count"),
    (math.sqrt(200) * FACTOR, "sqrt(200) counts every direction"),
    (10 * (1 - 0.003) ** (4 * NORM_EXPERIMENT["epochs"]), "4 per epoch"),
    (10 * (1 - 0.003) ** NORM_EXPERIMENT["epochs"], "once per epoch"),
    (10.0, "the norm without decay"),
    (0.0, "is too small"),
    (13.4, "is too large"),
    ("3", "must be a number"),
])
def test_norm_prediction_explains_misconceptions(prediction, message):
    result = check_norm_prediction(prediction, MEASURED, verbose=False)
    assert not result.passed and message in feedback_of(result), feedback_of(result)


def test_norm_prediction_needs_the_measurement():
    assert "pass the measured norm" in feedback_of(check_norm_prediction(2.0, verbose=False))


def test_norm_prediction_hints_exist():
    assert len(check_norm_prediction.exercise.hints) >= 2


# ---- check_ista_lasso ----------------------------------------------------------------------------

def ista(X, y, lam, steps, *, threshold=lambda lam, L: lam / L, grad_scale=1.0, centre=True, lipschitz=None,
         prox="soft", sign=1.0, dtype=None, bias="right", in_place=False, mean=True):
    n = len(X)
    x_mean, y_mean = (X.mean(0), y.mean()) if centre else (torch.zeros_like(X[0]), torch.zeros(()))
    if in_place:
        X -= x_mean
        Xc = X
    else:
        Xc = X - x_mean
    yc = y - y_mean
    L = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / (n if mean else 1) * grad_scale if lipschitz is None else lipschitz
    w = torch.zeros(X.shape[1], dtype=dtype or X.dtype)
    for _ in range(steps):
        g = grad_scale * Xc.T.to(w.dtype) @ (Xc.to(w.dtype) @ w - yc.to(w.dtype)) / (n if mean else 1)
        v = w - sign * g / L
        if prox == "soft":
            w = soft_threshold(v, threshold(lam, L))
        elif prox == "hard":
            w = torch.where(v.abs() > threshold(lam, L), v, torch.zeros_like(v))
        else:   # a subgradient step
            w = v - lam / L * torch.sign(w)
    b = {"right": (y_mean - x_mean.to(w.dtype) @ w).item(), "mean": y.mean().item(), "zero": 0.0}[bias]
    return w, b


def fista(X, y, lam, steps):
    x_mean, y_mean = X.mean(0), y.mean()
    Xc, yc, n = X - x_mean, y - y_mean, len(X)
    L = torch.linalg.eigvalsh(Xc.T @ Xc / n).max().item()
    w = z = torch.zeros(X.shape[1], dtype=X.dtype)
    t = 1.0
    for _ in range(steps):
        w_next = soft_threshold(z - Xc.T @ (Xc @ z - yc) / (n * L), lam / L)
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        z, w, t = w_next + (t - 1) / t_next * (w_next - w), w_next, t_next
    return w, (y_mean - x_mean @ w).item()


def test_ista_passes_the_reference_and_fista(capsys):
    assert check_ista_lasso(reference_ista_lasso).passed
    assert "4 of 4 checks passed" in capsys.readouterr().out
    assert check_ista_lasso(ista, verbose=False).passed
    assert check_ista_lasso(fista, verbose=False).passed


def test_ista_stub():
    result = check_ista_lasso(stub, verbose=False)
    assert not result.passed and not result.implemented


@pytest.mark.parametrize("buggy, message", [
    (lambda *a: ista(*a, threshold=lambda lam, L: lam), "with step 1 / L the threshold is lam / L"),
    (lambda *a: ista(*a, mean=False), "you summed the squared errors"),
    (lambda *a: ista(*a, grad_scale=2.0), "the factor 1/2 is missing"),
    (lambda *a: ista(*a, centre=False, bias="zero"), "the bias is missing"),
    (lambda *a: ista(*a, bias="mean"), "b = mean(y)"),
    (lambda *a: ista(*a, prox="hard"), "hard thresholding"),
    (lambda *a: ista(*a, prox="subgradient"), "small but not 0"),
    (lambda *a: ista(*a, sign=-1.0), "blew up"),
    (lambda *a: ista(*a, lipschitz=0.05), "blew up"),
    (lambda X, y, lam, steps: ista(X, y, lam, steps, lipschitz=torch.linalg.matrix_norm(X - X.mean(0), ord=2).item() ** 2),
     "n times too short"),
    (lambda *a: ista(*a, dtype=torch.float32), "create the iterate with X's dtype"),
    (lambda *a: ista(*a, in_place=True), "changed X or y in place"),
    (lambda X, y, lam, steps: ista(X, y, lam, 5), "objective"),
    (lambda X, y, lam, steps: ista(X, y, lam, steps)[0], "return a pair (w, b)"),
    (lambda X, y, lam, steps: ista(X.T, y, lam, steps), "raised RuntimeError"),
])
def test_ista_catches_classic_bugs(buggy, message):
    result = check_ista_lasso(buggy, verbose=False)
    assert not result.passed
    assert message in feedback_of(result), feedback_of(result)


def test_ista_hints_exist():
    assert len(check_ista_lasso.exercise.hints) >= 2
