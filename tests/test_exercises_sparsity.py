import math

import pytest
import torch

from attnreg.exercises import check_decay_factor, check_fista_lasso, check_lasso_1d, check_norm_prediction
from attnreg.exercises.sparsity import FISTA_SLIPS, NORM_EXPERIMENT, _fista
from attnreg.regularization import l1_proximal_step, soft_threshold


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


# ---- check_fista_lasso ---------------------------------------------------------------------------

def fista(X, y, lam, steps, *, momentum="fista", t0=1.0, gradient_at_w=False, backwards=False, from_z=False,
          threshold=None, no_step=False, prox="soft", return_z=False, centre=True, L_of_X=False, summed=False,
          bias="right", in_place=False, dtype=None, lipschitz=None):
    """FISTA written independently of the checker; each keyword adds one slip."""
    n = len(X)
    x_mean, y_mean = (X.mean(0), y.mean()) if centre else (torch.zeros_like(X[0]), torch.zeros_like(y[0]))
    if in_place:
        X -= x_mean
        Xc = X
    else:
        Xc = X - x_mean
    yc = y - y_mean
    m = 1 if summed else n
    L = torch.linalg.eigvalsh((X if L_of_X else Xc).T @ (X if L_of_X else Xc) / m).max().item()
    L = L if lipschitz is None else lipschitz
    step = 1.0 if no_step else 1 / L
    cut = (lam if no_step else lam / L) if threshold is None else threshold(lam, L)
    w_prev = w = z = torch.zeros(X.shape[1], dtype=dtype or X.dtype)
    t = t0
    for _ in range(steps):
        point = w if gradient_at_w else z
        v = z - step * (Xc.T.to(w.dtype) @ (Xc.to(w.dtype) @ point - yc.to(w.dtype))) / m
        if prox == "soft":
            w_prev, w = w, soft_threshold(v, cut)
        elif prox == "hard":
            w_prev, w = w, torch.where(v.abs() > cut, v, torch.zeros_like(v))
        else:
            w_prev, w = w, v
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        beta = {"fista": (t - 1) / t_next, "frozen t": (t - 1) / t_next, "constant": 0.9,
                "new t": (t_next - 1) / t_next}[momentum]
        base = z if from_z else w_prev
        z = w - beta * (w - base) if backwards else w + beta * (w - base)
        if momentum != "frozen t":
            t = t_next
    out = z if return_z else w
    b = {"right": (y_mean - x_mean.to(out.dtype) @ out).item(), "mean": y.mean().item()}[bias]
    return out, b


def fista_by_library_steps(X, y, lam, steps):
    """FISTA through attnreg's proximal step and autograd's gradient: other arithmetic, the same iterates."""
    x_mean, y_mean = X.mean(dim=0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    L = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / len(X)
    w = z = torch.zeros(X.shape[1], dtype=X.dtype)
    t = 1.0
    for _ in range(steps):
        z_leaf = z.clone().requires_grad_()
        (grad,) = torch.autograd.grad(0.5 * (Xc @ z_leaf - yc).pow(2).mean(), z_leaf)
        w_next = l1_proximal_step(z, grad, 1 / L, lam)
        t_next = (1 + math.sqrt(1 + 4 * t**2)) / 2
        z = w_next + (t - 1) / t_next * (w_next - w)
        w, t = w_next, t_next
    return w, float(y_mean - x_mean @ w)


def test_fista_passes_two_independent_implementations(capsys):
    assert check_fista_lasso(fista).passed
    assert "7 of 7 checks passed" in capsys.readouterr().out
    assert check_fista_lasso(fista_by_library_steps, verbose=False).passed


def test_fista_stub_and_none():
    result = check_fista_lasso(stub, verbose=False)
    assert not result.passed and not result.implemented
    assert not check_fista_lasso(None, verbose=False).implemented


@pytest.mark.parametrize("buggy, message", [
    (lambda *a: fista(*a, momentum="frozen t"), "that is plain ISTA"),
    (lambda *a: fista(*a, gradient_at_w=True), "you took the gradient at w"),
    (lambda *a: fista(*a, momentum="constant"), "a constant momentum (0.9)"),
    (lambda *a: fista(*a, momentum="new t"), "the momentum used the new t twice"),
    (lambda *a: fista(*a, t0=0.0), "t starts at 1, not 0"),
    (lambda *a: fista(*a, backwards=True), "the momentum points backwards"),
    (lambda *a: fista(*a, from_z=True), "the last move of the iterates"),
    (lambda *a: fista(*a, threshold=lambda lam, L: lam), "with the step 1 / L the threshold is lam / L"),
    (lambda *a: fista(*a, no_step=True), "the step 1 / L is missing"),
    (lambda *a: fista(*a, prox="none"), "the soft-thresholding is missing"),
    (lambda *a: fista(*a, prox="hard"), "that is hard thresholding"),
    (lambda *a: fista(*a, return_z=True), "you returned the extrapolated point z"),
    (lambda *a: fista(*a, centre=False), "the bias is missing"),
    (lambda *a: fista(*a, L_of_X=True), "L must come from the centred Xc"),
    (lambda *a: fista(*a, summed=True), "you summed the squared errors"),
    (lambda *a: fista(*a, bias="mean"), "the weights are right but b = mean(y)"),
    (lambda *a: fista(*a, in_place=True), "changed X or y in place"),
    (lambda *a: fista(*a, dtype=torch.float32), "create the iterates with X's dtype"),
    (lambda *a: fista(*a, dtype=torch.float64), "w is torch.float64, but X is torch.float32"),
    (lambda *a: fista(*a, lipschitz=0.05), "blew up"),
    (lambda X, y, lam, steps: fista(X, y, lam, 5), "after 10 steps w differs from FISTA's"),
    (lambda X, y, lam, steps: fista(X, y, lam, steps)[0], "return a pair (w, b)"),
    (lambda X, y, lam, steps: fista(X.T, y, lam, steps), "raised RuntimeError"),
])
def test_fista_catches_classic_bugs(buggy, message):
    result = check_fista_lasso(buggy, verbose=False)
    text = feedback_of(result)
    assert not result.passed
    # a traceback quotes the line above, message included: only the last bug may raise
    assert message in text and ("raised" not in text or message.startswith("raised")), text


def test_fista_every_catalogued_slip_gets_its_own_message():
    for hint, slip in FISTA_SLIPS.items():
        result = check_fista_lasso(lambda X, y, lam, steps: _fista(X, y, lam, steps, **slip), verbose=False)
        assert not result.passed and hint in feedback_of(result), (hint, feedback_of(result))


def test_fista_is_faster_than_ista_only_with_the_momentum():
    text = feedback_of(check_fista_lasso(lambda *a: fista(*a, momentum="frozen t"), verbose=False))
    assert "with FISTA's momentum it should be far below ISTA's" in text


def test_fista_hints_exist():
    assert len(check_fista_lasso.exercise.hints) >= 2
