"""Checkers for the exercises of chapter 04 beyond the weight-decay step and soft-thresholding: the decay of an
unused weight, the one-weight lasso, a prediction of the weight norm, and the lasso by FISTA."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real
from typing import Any

import torch

from ..regularization import fit_elastic_net, l1_descent, lasso_lambda_max, soft_threshold
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
# Exercise 04.6: the lasso by FISTA
# --------------------------------------------------------------------------------------------

#: The steps of the FISTA cases: a few to compare with the reference step by step, more to leave ISTA behind on
#: near-copies of one feature, and enough to converge.
FISTA_STEPS = dict(compare=10, faster=150, converge=300)


def _lasso_problem(n: int, d: int, seed: int, x_shift: float, y_shift: float) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    w = torch.zeros(d, dtype=torch.float64)
    w[:3] = torch.tensor([2.0, -1.5, 0.8], dtype=torch.float64)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64) + x_shift
    return X, X @ w + y_shift + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)


def _near_copies(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Section 5's elastic-net data, smaller: three near-copies of a latent feature and five independent ones."""
    gen = torch.Generator().manual_seed(seed)
    latent = torch.randn(n, 1, generator=gen, dtype=torch.float64)
    others = torch.randn(n, 5, generator=gen, dtype=torch.float64)
    X = torch.cat([latent + 0.05 * torch.randn(n, 3, generator=gen, dtype=torch.float64), others], dim=1)
    return X, 3 * latent[:, 0] + others[:, 0] + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)


def _objective(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: float, lam: float) -> float:
    return (0.5 * (X @ w + b - y).pow(2).mean() + lam * w.abs().sum()).item()


def _fista(X: torch.Tensor, y: torch.Tensor, lam: float, steps: int, *, gradient_at: str = "z",
           momentum: str = "fista", t_start: float = 1.0, direction: float = 1.0, move_from: str = "w",
           step: str = "1/L", threshold: str = "step * lam", prox: str = "soft", returns: str = "w",
           centre: bool = True, lipschitz_of: str = "Xc", data_term: str = "mean") -> tuple[torch.Tensor, float]:
    """``steps`` steps of FISTA from ``w = z = 0``, ``t = 1`` on centred data: the reference of
    :func:`check_fista_lasso` with its defaults; each other keyword value is one classic slip (its known bugs)."""
    x_mean, y_mean = (X.mean(0), y.mean()) if centre else (torch.zeros_like(X[0]), torch.zeros_like(y[0]))
    Xc, yc = X - x_mean, y - y_mean
    scale = len(X) if data_term == "mean" else 1   # "sum": the squared errors summed, not averaged
    L = torch.linalg.matrix_norm(Xc if lipschitz_of == "Xc" else X, ord=2).item() ** 2 / scale
    eta = 1 / L if step == "1/L" else 1.0
    cut = eta * lam if threshold == "step * lam" else lam
    w = z = torch.zeros(X.shape[1], dtype=X.dtype)
    t = t_start
    for _ in range(steps):
        at = z if gradient_at == "z" else w
        v = z - eta * Xc.T @ (Xc @ at - yc) / scale
        if prox == "soft":
            w_next = soft_threshold(v, cut)
        else:   # "hard": keep or zero; "none": no proximal step at all
            w_next = torch.where(v.abs() > cut, v, torch.zeros_like(v)) if prox == "hard" else v
        t_next = (1 + math.sqrt(1 + 4 * t * t)) / 2
        beta = {"fista": (t - 1) / t_next, "none": 0.0, "constant": 0.9, "new t": (t_next - 1) / t_next}[momentum]
        z = w_next + direction * beta * (w_next - (w if move_from == "w" else z))
        w, t = w_next, t_next
    out = w if returns == "w" else z
    return out, (y_mean - x_mean @ out).item()


#: The slips of :func:`check_fista_lasso`: the message for each, and the keywords of :func:`_fista` that make it.
FISTA_SLIPS: dict[str, dict[str, Any]] = {
    "that is plain ISTA: the momentum stays 0. Update t at every step (t = t_next after computing the momentum), "
    "so that (t - 1) / t_next grows from 0 towards 1": dict(momentum="none"),
    "you took the gradient at w, the last iterate; FISTA takes it at the extrapolated point: "
    "w_next = soft_threshold(z - grad(z) / L, lam / L)": dict(gradient_at="w"),
    "a constant momentum (0.9) is not FISTA's: the momentum is (t - 1) / t_next, 0 at first and growing towards 1":
        dict(momentum="constant"),
    "the momentum used the new t twice, (t_next - 1) / t_next: compute (t - 1) / t_next before t = t_next":
        dict(momentum="new t"),
    "t starts at 1, not 0 (with t = 0 the first momentum is -1)": dict(t_start=0.0),
    "the momentum points backwards: z = w_next + beta (w_next - w) goes further along the last move, not back":
        dict(direction=-1.0),
    "the momentum multiplies the last move of the iterates, w_next - w (the previous w, not the extrapolated z)":
        dict(move_from="z"),
    "you thresholded by lam; with the step 1 / L the threshold is lam / L (the step times lam)":
        dict(threshold="lam"),
    "the step 1 / L is missing: w_next = soft_threshold(z - grad(z) / L, lam / L), L = s_max(Xc)^2 / n":
        dict(step="1", threshold="lam"),
    "the soft-thresholding is missing: without the proximal step of lam ||w||_1 the loop minimises the squared "
    "error alone": dict(prox="none"),
    "that is hard thresholding (keep or zero); the proximal step of lam ||w||_1 also shrinks the survivors: "
    "soft_threshold": dict(prox="hard"),
    "you returned the extrapolated point z; return the iterate w (z is not thresholded: it has no exact zeros)":
        dict(returns="z"),
    "the bias is missing: centre X and y (the bias is never penalized) and set b = mean(y) - mean(X) @ w":
        dict(centre=False),
    "L must come from the centred Xc, which the gradient uses: L = s_max(Xc)^2 / n": dict(lipschitz_of="X"),
    "you summed the squared errors: the objective uses their mean, 1/n sum 1/2 r_i^2, so the gradient is "
    "Xc^T r / n and L = s_max(Xc)^2 / n": dict(data_term="sum"),
}


def _unpack(result: Any, X: torch.Tensor) -> tuple[torch.Tensor, float]:
    """The learner's ``(w, b)``, checked for type, shape and dtype."""
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Feedback(f"return a pair (w, b): the weight tensor and the bias, got {type(result).__name__}")
    w, b = result
    w = expect_tensor(w, "w").detach()
    if isinstance(b, torch.Tensor):
        if b.numel() != 1:
            raise Feedback(f"the bias b must be one number, got a tensor of shape {tuple(b.shape)}")
        b = b.item()
    if isinstance(b, bool) or not isinstance(b, Real):
        raise Feedback(f"the bias b must be a number, got {type(b).__name__}")
    if w.shape != (X.shape[1],):
        raise Feedback(f"w must have shape ({X.shape[1]},), one weight per column of X, got {tuple(w.shape)}")
    if w.dtype != X.dtype:
        raise Feedback(f"w is {w.dtype}, but X is {X.dtype}: create the iterates with X's dtype "
                       "(torch.zeros(d, dtype=X.dtype))")
    return w, float(b)


def _blew_up(w: torch.Tensor, b: float) -> None:
    if not torch.isfinite(w).all() or not math.isfinite(b):
        raise Feedback("the iterates blew up (inf or NaN): step from z along minus the gradient, with the step 1 / L, "
                       "L = s_max(Xc)^2 / n")


def _same(a: torch.Tensor, b: torch.Tensor, atol: float) -> bool:
    return bool(torch.allclose(a.double(), b.double(), rtol=1e-6, atol=atol))


def _match_reference(w: torch.Tensor, b: float, X: torch.Tensor, y: torch.Tensor, lam: float, steps: int,
                     atol: float) -> None:
    """Pass when ``(w, b)`` is FISTA's after ``steps`` steps; else name the slip whose result it is."""
    expected_w, expected_b = _fista(X.double(), y.double(), lam, steps)
    if _same(w, expected_w, atol):
        if abs(b - expected_b) <= atol * (1 + abs(expected_b)):
            return
        if abs(b - y.double().mean().item()) <= atol * (1 + abs(b)):
            raise Feedback("the weights are right but b = mean(y): the bias is mean(y) - mean(X) @ w")
        raise Feedback(f"the weights are right but the bias is {b:.6g} instead of {expected_b:.6g}: "
                       "b = mean(y) - mean(X) @ w")
    for hint, slip in FISTA_SLIPS.items():
        buggy_w, _ = _fista(X.double(), y.double(), lam, steps, **slip)
        if torch.isfinite(buggy_w).all() and not _same(buggy_w, expected_w, atol) and _same(w, buggy_w, atol):
            raise Feedback(hint)
    _blew_up(w, b)
    ours, reference = _objective(X.double(), y.double(), w.double(), b, lam), _objective(
        X.double(), y.double(), expected_w, expected_b, lam)
    gap = (w.double() - expected_w).abs().max().item()
    raise Feedback(f"after {steps} steps w differs from FISTA's by up to {gap:.3g} (objective {ours:.6g}, "
                   f"FISTA's {reference:.6g})")


@exercise(chapter='04_l1_l2_weight_decay', number=6, title='the lasso by FISTA', stars=3, kind='implement',
          practises="Beck and Teboulle's acceleration assembled on the chapter's ISTA loop: the extrapolated point, "
                    "the gradient there, the sequence t_k and its momentum, the bias and the exact zeros",
          hints=["Keep the ISTA loop of section 5 (centred copies of X and y, L = s_max(Xc)^2 / n, soft_threshold with "
                 "lam / L) but take each step from an extrapolated point z instead of from w: "
                 "w_next = soft_threshold(z - grad(z) / L, lam / L), grad(z) = Xc^T (Xc z - yc) / n.",
                 "Start with w = z = 0 and t = 1. After each step: t_next = (1 + sqrt(1 + 4 t^2)) / 2, "
                 "z = w_next + (t - 1) / t_next * (w_next - w), then w, t = w_next, t_next.",
                 "Return the last w, not z (z is not thresholded, so it has no exact zeros), and "
                 "b = mean(y) - mean(X) @ w."])
def check_fista_lasso(fista_lasso: Callable[[torch.Tensor, torch.Tensor, float, int], Any], verbose: bool = True
                      ) -> CheckResult:
    """Check ``fista_lasso(X, y, lam, steps) -> (w, b)``: ``steps`` steps of FISTA (Beck and Teboulle, 2009) from
    ``w = z = 0``, ``t = 1`` on ``1/n sum_i 1/2 (y_i - w^T x_i - b)^2 + lam ||w||_1`` with the bias unpenalized:
    ``w_k = soft_threshold(z_k - grad(z_k) / L, lam / L)``, ``t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2``,
    ``z_{k+1} = w_k + (t_k - 1) / t_{k+1} (w_k - w_{k-1})`` on centred data, ``L = s_max(Xc)^2 / n``,
    ``b = mean(y) - mean(X) w``. Compared step by step with the reference, with the converged solution of
    :func:`~attnreg.regularization.fit_elastic_net`, and with ISTA (:func:`~attnreg.regularization.l1_descent`)."""
    X1, y1 = _lasso_problem(40, 12, 0, 0.0, 0.0)
    X2, y2 = _lasso_problem(60, 20, 1, 2.0, 5.0)
    X3, y3 = _lasso_problem(30, 8, 2, 1.0, -3.0)
    X_near, y_near = _near_copies(50, 3)
    lam_near = 0.1
    steps = FISTA_STEPS

    def case_on(X: torch.Tensor, y: torch.Tensor, lam: float, atol: float) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            w, b = _unpack(fn(X.clone(), y.clone(), lam, steps["compare"]), X)
            _match_reference(w, b, X, y, lam, steps["compare"], atol)
        return run

    def converges(fn: Callable) -> None:
        w, b = _unpack(fn(X3.clone(), y3.clone(), 0.05, steps["converge"]), X3)
        _blew_up(w, b)
        exact = fit_elastic_net(X3, y3, 0.05)
        zeros = exact.weight == 0
        if (w[zeros] != 0).any() and (w - exact.weight).abs().max().item() < 1e-3:
            raise Feedback(f"{int((w[zeros] != 0).sum())} of the {int(zeros.sum())} weights that the lasso sets "
                           "exactly to 0 are small but not 0: soft-threshold at every step and return the "
                           "thresholded iterate w")
        gap = (w - exact.weight).abs().max().item()
        if gap > 1e-6 or not torch.equal(w == 0, zeros) or abs(b - exact.bias) > 1e-6:
            raise Feedback(f"after {steps['converge']} steps w differs from the lasso solution by up to {gap:.3g} "
                           f"(exact zeros: {int((w == 0).sum())}, the solution has {int(zeros.sum())})")

    def faster(fn: Callable) -> None:
        k = steps["faster"]
        w, b = _unpack(fn(X_near.clone(), y_near.clone(), lam_near, k), X_near)
        _blew_up(w, b)
        exact = fit_elastic_net(X_near, y_near, lam_near)
        best = _objective(X_near, y_near, exact.weight, exact.bias, lam_near)
        Xc = X_near - X_near.mean(0)
        L = torch.linalg.matrix_norm(Xc, ord=2).item() ** 2 / len(X_near)
        ista_gap = l1_descent(X_near, y_near, lam_near, method="proximal", lr=1 / L, steps=k)[1][-1] - best
        gap = _objective(X_near, y_near, w, b, lam_near) - best
        if gap > 0.1 * ista_gap:
            raise Feedback(f"after {k} steps your objective is {gap:.2e} above the optimum, ISTA's {ista_gap:.2e}: "
                           "with FISTA's momentum it should be far below ISTA's")

    def float32(fn: Callable) -> None:
        X, y = X1.float(), y1.float()
        w, b = _unpack(fn(X.clone(), y.clone(), 0.1, steps["compare"]), X)
        _match_reference(w, b, X, y, 0.1, steps["compare"], atol=1e-4)

    def all_zero(fn: Callable) -> None:
        lam = 1.01 * lasso_lambda_max(X3, y3)
        w, b = _unpack(fn(X3.clone(), y3.clone(), lam, steps["compare"]), X3)
        if not (w == 0).all():
            raise Feedback(f"for lam >= lambda_max = max_j |xc_j^T yc| / n every weight is exactly 0, got "
                           f"{int((w != 0).sum())} non-zero")
        if abs(b - y3.mean().item()) > 1e-9:
            raise Feedback("with w = 0 the bias is mean(y)")

    def untouched(fn: Callable) -> None:
        X_in, y_in = X2.clone(), y2.clone()
        fn(X_in, y_in, 0.2, steps["compare"])
        if not (torch.equal(X_in, X2) and torch.equal(y_in, y2)):
            raise Feedback("you changed X or y in place (X -= X.mean(0), say): centre into new tensors")

    cases = [
        (f"{steps['compare']} steps on 40 examples, 12 features, lam = 0.1: the iterate of FISTA",
         case_on(X1, y1, 0.1, atol=1e-8)),
        (f"{steps['compare']} steps on shifted X and y (the bias matters), lam = 0.2", case_on(X2, y2, 0.2, atol=1e-8)),
        (f"{steps['converge']} steps on 30 examples, 8 features, lam = 0.05: the lasso solution of fit_elastic_net, "
         "its exact zeros included", converges),
        (f"three near-copies of one feature, lam = {lam_near}: after {steps['faster']} steps far below ISTA's "
         "objective", faster),
        ("float32 X and y: float32 w, the iterate of FISTA within 1e-4", float32),
        ("lam just above lambda_max: w = 0, b = mean(y)", all_zero),
        ("X and y are not modified in place", untouched),
    ]
    return run_check("check_fista_lasso", fista_lasso, cases, verbose)
