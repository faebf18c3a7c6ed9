"""Checkers for the exercises of chapter 04 beyond the weight-decay step and soft-thresholding: the decay of an
unused weight, the one-weight lasso, a prediction of the weight norm, and a proximal-gradient (ISTA) lasso."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import torch

from ..regularization import fit_elastic_net, lasso_lambda_max, soft_threshold
from ._framework import CheckResult, Feedback, expect_derived, expect_number, expect_tensor, run_check
from ._registry import exercise

# --------------------------------------------------------------------------------------------
# Exercise 04.2: the decay factor of a weight the loss ignores
# --------------------------------------------------------------------------------------------


@exercise(chapter='04_l1_l2_weight_decay', number=2, title='the decay of an unused weight', stars=1, kind='derive',
          practises='the weight-decay factor (1 - lr lambda) per step, compounded over steps',
          hints=['The loss does not touch the weight, so its gradient is 0 and only the decay acts: write one step '
                 'of SGD with weight decay for it.',
                 'One step multiplies the weight by the same number; after `steps` steps that number has been '
                 'applied `steps` times.'])
def check_decay_factor(decay_factor: Callable[[float, float, int], float], verbose: bool = True) -> CheckResult:
    """Check ``decay_factor(lr, weight_decay, steps)``: the factor ``w_T / w_0`` of a weight whose loss gradient is
    0 after ``steps`` SGD steps with ``weight_decay``, which is ``(1 - lr weight_decay)^steps``."""

    def case_on(lr: float, wd: float, steps: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            expected = (1 - lr * wd) ** steps
            known_bugs = {
                "the learning rate is missing: each step multiplies w by (1 - lr weight_decay), not "
                "(1 - weight_decay)": (1 - wd) ** steps,
                "1 - steps lr weight_decay is only the first-order approximation: the factors multiply, they do "
                "not add": 1 - steps * lr * wd,
                "exp(-steps lr weight_decay) is the continuous-time limit; with finite steps the factor is a "
                "power": math.exp(-steps * lr * wd),
                "the decay is twice too strong: the gradient of weight_decay 1/2 ||w||^2 is weight_decay w, not "
                "2 weight_decay w": (1 - 2 * lr * wd) ** steps,
                "one step too few: the factor is applied once per step": (1 - lr * wd) ** (steps - 1),
                "you gave how much of the weight is gone (1 - factor), not the factor w_T / w_0": 1 - (1 - lr * wd) ** steps,
            }
            expect_derived(fn(lr, wd, steps), expected, what=f"decay_factor({lr}, {wd}, {steps})", rtol=1e-7,
                           atol=1e-12, known_bugs=known_bugs)
        return run

    cases = [
        ("lr = 0.003, weight_decay = 3, 400 steps (the experiment of section 4)", case_on(0.003, 3.0, 400)),
        ("lr = 0.1, weight_decay = 0.5, 10 steps", case_on(0.1, 0.5, 10)),
        ("lr = 0.01, weight_decay = 0.0001, 300 steps (AdamW's dead weight)", case_on(0.01, 1e-4, 300)),
        ("lr = 0.2, weight_decay = 2, 3 steps", case_on(0.2, 2.0, 3)),
    ]
    return run_check("check_decay_factor", decay_factor, cases, verbose)


# --------------------------------------------------------------------------------------------
# Exercise 04.4: the lasso with one weight
# --------------------------------------------------------------------------------------------


def _st(c: float, t: float) -> float:
    return math.copysign(max(abs(c) - t, 0.0), c)


@exercise(chapter='04_l1_l2_weight_decay', number=4, title='the lasso with one weight', stars=2, kind='derive',
          practises='the optimality condition of the lasso: where the soft-threshold and its threshold come from',
          hints=['With a = mean(x_i^2) and c = mean(x_i y_i), the objective is 1/2 a w^2 - c w + lambda |w| plus a '
                 'constant. Solve it separately for w > 0, for w < 0, and check when w = 0 is optimal (the '
                 'subgradient of |w| at 0 is [-1, 1]).',
                 'For w > 0: a w - c + lambda = 0. w = 0 is optimal when |c| <= lambda. Which quantity is '
                 'thresholded, c or c / a, and by how much?'])
def check_lasso_1d(lasso_1d: Callable[[float, float, float], float], verbose: bool = True) -> CheckResult:
    """Check ``lasso_1d(c, a, lam)``: the minimiser of ``1/2 a w^2 - c w + lam |w|`` (the lasso with one centred
    feature, ``a = mean x^2``, ``c = mean x y``), which is ``sign(c) max(|c| - lam, 0) / a``."""

    def case_on(c: float, a: float, lam: float) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            expected = _st(c, lam) / a
            known_bugs = {
                "you thresholded c / a by lambda; the condition for w = 0 is |c| <= lambda, so threshold c, then "
                "divide by a": _st(c / a, lam),
                "you only handled c > lambda: for c < -lambda the solution is (c + lambda) / a, negative":
                    max(c - lam, 0.0) / a,
                "the threshold is twice too large: the derivative of 1/2 a w^2 is a w (the 1/2 cancels the 2)":
                    _st(c, 2 * lam) / a,
                "the threshold is half too small: the subgradient of lambda |w| is lambda sign(w)": _st(c, lam / 2) / a,
                "(c - lambda sign(c)) / a crosses zero when |c| < lambda: then the solution is exactly 0":
                    (c - math.copysign(lam, c)) / a,
                "that is hard thresholding (keep c / a or set 0): the lasso also shrinks the survivors by "
                "lambda / a": c / a if abs(c) > lam else 0.0,
                "c / (a + lambda) is the ridge solution (penalty lambda 1/2 w^2), not the lasso": c / (a + lam),
            }
            expect_derived(fn(c, a, lam), expected, what=f"lasso_1d({c}, {a}, {lam})", rtol=1e-6, atol=1e-9,
                           known_bugs=known_bugs)
        return run

    cases = [
        ("c = 2, a = 1.5, lambda = 0.5", case_on(2.0, 1.5, 0.5)),
        ("c = -3, a = 2, lambda = 1 (a negative correlation)", case_on(-3.0, 2.0, 1.0)),
        ("c = 0.4, a = 0.25, lambda = 0.5 (a weak correlation)", case_on(0.4, 0.25, 0.5)),
        ("c = 1, a = 4, lambda = 0.2", case_on(1.0, 4.0, 0.2)),
    ]
    return run_check("check_lasso_1d", lasso_1d, cases, verbose)


# --------------------------------------------------------------------------------------------
# Exercise 04.5: predict the weight norm of a wider experiment
# --------------------------------------------------------------------------------------------

#: The experiment of exercise 04.5: section 4's model with 100 training examples instead of 20.
NORM_EXPERIMENT = dict(d=200, n_train=100, epochs=50, lr=0.003, batch_size=5, lam=1.0)


def _norm_misconceptions() -> dict[str, float]:
    e = NORM_EXPERIMENT
    steps = e["epochs"] * (e["n_train"] // e["batch_size"])
    unseen = e["d"] - e["n_train"]
    factor = (1 - e["lr"] * e["lam"]) ** steps
    return {
        f"that is sqrt(180) (1 - lr lambda)^{steps}: 180 was section 4's count of unseen directions (200 - 20); "
        f"with {e['n_train']} examples, {unseen} directions remain unseen": math.sqrt(180) * factor,
        f"sqrt(200) counts every direction, but the {e['n_train']} examples pin down {e['n_train']} of them; only "
        f"the other {unseen} keep their decayed initial values": math.sqrt(e["d"]) * factor,
        f"you counted {4 * e['epochs']} steps (4 per epoch, as in section 4); with {e['n_train']} examples in batches of "
        f"{e['batch_size']} an epoch has {e['n_train'] // e['batch_size']} steps": math.sqrt(unseen) * (1 - e["lr"] * e["lam"]) ** (4 * e["epochs"]),
        "you applied the decay once per epoch; it acts at every step": math.sqrt(unseen) * (1 - e["lr"] * e["lam"]) ** e["epochs"],
        "that is the norm without decay: weight decay shrinks the unseen part by (1 - lr lambda) at every step":
            math.sqrt(unseen),
    }


@exercise(chapter='04_l1_l2_weight_decay', number=5, title='predict the weight norm', stars=2, kind='predict',
          practises="reusing section 4's null-space argument: unseen directions of the initialisation decay by "
                    "(1 - lr lambda) per step",
          hints=['Only the directions the training inputs do not span keep their initial values (times the decay). '
                 'How many are there with 100 examples in 200 dimensions?',
                 'The expected squared norm of k standard normal coordinates is k; count the SGD steps (epochs times '
                 'batches per epoch) and multiply by (1 - lr lambda) per step.'])
def check_norm_prediction(prediction: Any, measured_norm: float | None = None, verbose: bool = True) -> CheckResult:
    """Check a predicted ``||w||`` after the run of :data:`NORM_EXPERIMENT` against the measured one: within 20 %."""
    e = NORM_EXPERIMENT
    steps = e["epochs"] * (e["n_train"] // e["batch_size"])

    def run(answer: Any) -> None:
        value = expect_number(answer, "the prediction")
        if measured_norm is None:
            raise Feedback("pass the measured norm to the check: check_norm_prediction(prediction_5, measured_norm)")
        measured = float(measured_norm)
        if abs(value - measured) <= 0.2 * measured:
            return
        for hint, bug in _norm_misconceptions().items():
            if abs(value - bug) <= 0.05 * abs(bug) and abs(bug - measured) > 0.2 * measured:
                raise Feedback(f"{hint} (measured ||w|| = {measured:.2f})")
        direction = "too large" if value > measured else "too small"
        raise Feedback(f"{value:.3g} is {direction}: the measured ||w|| is {measured:.2f}. The "
                       f"{e['d'] - e['n_train']} directions the {e['n_train']} examples do not span keep their "
                       f"initial N(0, 1) values times (1 - lr lambda)^{steps}")

    name = "the predicted ||w|| within 20 % of the measured one" + (
        f" ({float(measured_norm):.2f})" if isinstance(measured_norm, Real) and not isinstance(measured_norm, bool)
        else "")
    return run_check("check_norm_prediction", prediction, [(name, run)], verbose, expects="value")


# --------------------------------------------------------------------------------------------
# Exercise 04.6: a proximal-gradient (ISTA) lasso
# --------------------------------------------------------------------------------------------

ISTA_STEPS = 1500


def _lasso_problem(n: int, d: int, seed: int, x_shift: float, y_shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(d, dtype=torch.float64)
    w[:3] = torch.tensor([2.0, -1.5, 0.8], dtype=torch.float64)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64) + x_shift
    return X, X @ w + y_shift + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)


def _objective(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: float, lam: float) -> float:
    return (0.5 * (X @ w + b - y).pow(2).mean() + lam * w.abs().sum()).item()


def _ista_variant(X: torch.Tensor, y: torch.Tensor, lam: float, steps: int, *, hard: bool = False,
                  L: float | None = None) -> torch.Tensor:
    """ISTA with one slip: hard thresholding, or another step 1 / L."""
    Xc, yc = X - X.mean(0), y - y.mean()
    n = len(X)
    L = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / n if L is None else L
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    for _ in range(steps):
        v = w - Xc.T @ (Xc @ w - yc) / (n * L)
        w = torch.where(v.abs() > lam / L, v, torch.zeros_like(v)) if hard else soft_threshold(v, lam / L)
    return w


def _unpack(result: Any) -> tuple[torch.Tensor, float]:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Feedback(f"return a pair (w, b): the weight tensor and the bias, got {type(result).__name__}")
    w, b = result
    w = expect_tensor(w, "w")
    if isinstance(b, torch.Tensor):
        if b.numel() != 1:
            raise Feedback(f"the bias b must be one number, got a tensor of shape {tuple(b.shape)}")
        b = b.item()
    if isinstance(b, bool) or not isinstance(b, Real):
        raise Feedback(f"the bias b must be a number, got {type(b).__name__}")
    return w.detach(), float(b)


@exercise(chapter='04_l1_l2_weight_decay', number=6, title='a proximal-gradient (ISTA) lasso', stars=3,
          kind='implement', practises='the lasso solved from parts: centring for an unpenalized bias, the Lipschitz '
                                      'step, the gradient of the data term, soft-thresholding',
          hints=['Centre X and y (new tensors: X - X.mean(0)), so the unpenalized bias drops out; at the end '
                 'b = mean(y) - mean(X) @ w.',
                 'The data term 1/n sum 1/2 (y_i - w^T x_i)^2 has gradient Xc^T (Xc w - yc) / n and Lipschitz constant '
                 'L = s_max(Xc)^2 / n (torch.linalg.matrix_norm(Xc, ord=2) ** 2 / n).',
                 'Each step: w = soft_threshold(w - grad / L, lam / L), starting from w = torch.zeros(d, dtype=X.dtype).'])
def check_ista_lasso(ista_lasso: Callable[[torch.Tensor, torch.Tensor, float, int], Any], verbose: bool = True
                     ) -> CheckResult:
    """Check ``ista_lasso(X, y, lam, steps) -> (w, b)``: ``steps`` proximal-gradient steps from ``w = 0`` on
    ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam ||w||_1`` with the bias unpenalized (scikit-learn's ``Lasso`` with
    ``alpha = lam``), compared with the converged solution of :func:`~attnreg.regularization.fit_elastic_net`."""

    def case_on(X: torch.Tensor, y: torch.Tensor, lam: float) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            X_in, y_in = X.clone(), y.clone()
            w, b = _unpack(fn(X_in, y_in, lam, ISTA_STEPS))
            if not (torch.equal(X_in, X) and torch.equal(y_in, y)):
                raise Feedback("you changed X or y in place (X -= X.mean(0), say): centre into new tensors")
            if w.shape != (X.shape[1],):
                raise Feedback(f"w must have shape ({X.shape[1]},), one weight per column of X, got {tuple(w.shape)}")
            if w.dtype != X.dtype:
                raise Feedback(f"w is {w.dtype}, but X is {X.dtype}: create the iterate with X's dtype "
                               "(torch.zeros(d, dtype=X.dtype)), or the solution loses precision")
            if not torch.isfinite(w).all() or not math.isfinite(b):
                raise Feedback("the iterates blew up (inf or NaN): step along minus the gradient, with step 1 / L, "
                               "L = s_max(Xc)^2 / n, the largest eigenvalue of Xc^T Xc / n")
            exact = fit_elastic_net(X, y, lam)
            n = len(X)
            L = torch.linalg.matrix_norm(X - X.mean(0), ord=2).item() ** 2 / n
            if (w - exact.weight).abs().max().item() <= 1e-6:
                if abs(b - exact.bias) > 1e-6:
                    if abs(b - y.mean().item()) < 1e-9:
                        raise Feedback("the weights are right but b = mean(y): the bias is mean(y) - mean(X) @ w")
                    raise Feedback(f"the weights are right but the bias is {b:.6g} instead of {exact.bias:.6g}: "
                                   "b = mean(y) - mean(X) @ w")
                return
            fixed_points = {
                "you thresholded by lam; with step 1 / L the threshold is lam / L (the step size times lam)":
                    fit_elastic_net(X, y, lam * L).weight,
                "you summed the squared errors: the objective (and scikit-learn's alpha) uses their mean, "
                "1/n sum 1/2 r_i^2, so the gradient is Xc^T r / n": fit_elastic_net(X, y, lam / n).weight,
                "the factor 1/2 is missing from the data term (gradient 2 Xc^T r / n): the objective is "
                "1/n sum 1/2 r_i^2 + lam ||w||_1": fit_elastic_net(X, y, lam / 2).weight,
                "the bias is missing: centre X and y (the bias is never penalized) and set b = mean(y) - mean(X) @ w":
                    fit_elastic_net(X, y, lam, fit_intercept=False).weight,
                "that is hard thresholding (keep or zero); the proximal step of lam ||w||_1 also shrinks the "
                "survivors: soft_threshold": _ista_variant(X, y, lam, ISTA_STEPS, hard=True),
                "your steps are n times too short: with the mean in the data term, L = s_max(Xc)^2 / n, not "
                "s_max(Xc)^2": _ista_variant(X, y, lam, ISTA_STEPS, L=L * n),
            }
            for hint, value in fixed_points.items():
                if (value - exact.weight).abs().max().item() > 1e-4 and (w - value).abs().max().item() <= 1e-5:
                    raise Feedback(hint)
            zeros = exact.weight == 0
            if zeros.any() and (w[zeros] != 0).all() and (w - exact.weight).abs().max().item() < 0.05:
                raise Feedback("the weights that the lasso sets exactly to 0 are small but not 0: take a gradient "
                               "step on the data term, then soft-threshold (subgradient steps never land on 0)")
            gap = _objective(X, y, w, b, lam) - _objective(X, y, exact.weight, exact.bias, lam)
            raise Feedback(f"w differs from the lasso solution by up to {(w - exact.weight).abs().max().item():.3g} "
                           f"after {ISTA_STEPS} steps (objective {gap:.3g} above the optimum)")
        return run

    X1, y1 = _lasso_problem(40, 12, 0, 0.0, 0.0)
    X2, y2 = _lasso_problem(60, 20, 1, 2.0, 5.0)
    X3, y3 = _lasso_problem(30, 8, 2, 1.0, -3.0)

    def all_zero(fn: Callable) -> None:
        lam = 1.01 * lasso_lambda_max(X3, y3)
        w, b = _unpack(fn(X3.clone(), y3.clone(), lam, 200))
        if w.shape == (X3.shape[1],) and not (w == 0).all():
            raise Feedback(f"for lam >= lambda_max = max_j |xc_j^T yc| / n every weight is exactly 0, got "
                           f"{int((w != 0).sum())} non-zero")
        if abs(b - y3.mean().item()) > 1e-9:
            raise Feedback("with w = 0 the bias is mean(y)")

    cases = [
        ("40 examples, 12 features, centred data, lam = 0.1", case_on(X1, y1, 0.1)),
        ("60 examples, 20 features, shifted X and y (the bias matters), lam = 0.2", case_on(X2, y2, 0.2)),
        ("lam just above lambda_max: w = 0, b = mean(y)", all_zero),
        ("30 examples, 8 features, a small lam = 0.01", case_on(X3, y3, 0.01)),
    ]
    return run_check("check_ista_lasso", ista_lasso, cases, verbose)


def reference_ista_lasso(X: torch.Tensor, y: torch.Tensor, lam: float, steps: int) -> tuple[torch.Tensor, float]:
    """ISTA from ``w = 0`` on centred data: the reference solution of :func:`check_ista_lasso`."""
    x_mean, y_mean = X.mean(0), y.mean()
    Xc, yc = X - x_mean, y - y_mean
    n = len(X)
    L = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / n
    w = torch.zeros(X.shape[1], dtype=X.dtype)
    for _ in range(steps):
        w = soft_threshold(w - Xc.T @ (Xc @ w - yc) / (n * L), lam / L)
    return w, (y_mean - x_mean @ w).item()
