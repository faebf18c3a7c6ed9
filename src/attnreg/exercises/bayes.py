"""Checkers for the exercises of chapter 05: penalties as priors, ridge as a MAP estimate.

The chapter's objective is ``J(theta) = sum_i (y_i - theta^T x_i)^2 + lambda R(theta)``; the noise is
``N(0, sigma^2)``, the Gaussian prior ``N(0, tau^2)`` and the Laplace prior ``Laplace(0, kappa)`` with density
``exp(-|t| / kappa) / (2 kappa)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from numbers import Real
from typing import Any

import torch

from ..bayes import ridge_map
from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_derived, expect_tensor, run_check
from ._registry import exercise

CHAPTER = "05_bayesian_view"


# --------------------------------------------------------------------------------------------
# Derive exercises answered by a formula: feedback never shows the right value
# --------------------------------------------------------------------------------------------

def _formula_cases(name: str, reference: Callable[..., float], bugs: Mapping[str, Callable[..., float]],
                   points: Sequence[tuple[str, tuple[float, ...]]]) -> list:
    """One case per point, comparing ``fn(*point)`` with ``reference(*point)`` by :func:`expect_derived`.

    A misconception is named only when the learner's function gives that misconception's value at
    *every* point where it returned a number (and the value differs from the right one here): a
    formula that meets a bug's value at one point by coincidence is told only "too large / too small".
    """

    def learner_values(fn: Callable) -> list[float | None]:
        values = []
        for _, point in points:
            try:
                value = fn(*point)
                values.append(float(value) if isinstance(value, Real) and not isinstance(value, bool) else None)
            except Exception:  # noqa: BLE001 - the learner's code: reported by the case that runs it
                values.append(None)
        return values

    def consistent(bug: Callable[..., float], values: list[float | None]) -> bool:
        matched = [math.isclose(v, bug(*p), rel_tol=1e-6, abs_tol=1e-9)
                   for v, (_, p) in zip(values, points) if v is not None]
        return bool(matched) and all(matched)

    def case_at(point: tuple[float, ...]) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            value = fn(*point)
            values = learner_values(fn)
            known = {hint: bug(*point) for hint, bug in bugs.items() if consistent(bug, values)}
            expect_derived(value, reference(*point), what=f"{name}({', '.join(f'{p:g}' for p in point)})",
                           known_bugs=known)
        return run

    def returns_number(fn: Callable) -> None:
        value = fn(*points[0][1])
        if value is None:
            raise Feedback(f"{name} returned None: did you forget a `return`?")
        if isinstance(value, bool) or not isinstance(value, Real):
            raise Feedback(f"{name} must return a Python number, got {type(value).__name__}")

    return [(label, case_at(point)) for label, point in points] + [("the result is a Python number", returns_number)]


@exercise(chapter=CHAPTER, number=1, title="scikit-learn's alpha for a Laplace prior", stars=1, kind="derive",
          practises="converting a prior's penalty strength between objective conventions",
          hints=["Start from the chapter's result: the Laplace prior Laplace(0, kappa) gives lambda = 2 sigma^2 / kappa "
                 "for sum_i (y_i - theta^T x_i)^2 + lambda ||theta||_1.",
                 "scikit-learn's Lasso minimises 1/(2n) ||y - X w||^2 + alpha ||w||_1: divide the chapter's objective "
                 "by the factor that turns its squared error into Lasso's, and read off the factor in front of ||w||_1."])
def check_laplace_alpha(lasso_alpha: Callable[[float, float, int], float], verbose: bool = True) -> CheckResult:
    """Check ``lasso_alpha(sigma, kappa, n) -> float``: the ``alpha`` of scikit-learn's ``Lasso``
    (``1/(2n) ||y - X w||^2 + alpha ||w||_1``) whose minimiser is the MAP estimate under noise
    ``N(0, sigma^2)`` and the prior ``Laplace(0, kappa)``, for ``n`` examples. Never prints the right value.
    """
    bugs = {
        "that is the chapter's lambda = 2 sigma^2 / kappa, for the objective sum_i (y_i - theta^T x_i)^2 + "
        "lambda ||theta||_1: Lasso divides the squared error by 2n, so divide the whole objective by 2n":
            lambda s, k, n: 2 * s**2 / k,
        "you divided lambda by n but not by 2: Lasso's squared error carries 1/(2n), so the whole objective "
        "is divided by 2n": lambda s, k, n: 2 * s**2 / (n * k),
        "you halved once too often: the Laplace prior has no 1/2 in its exponent (|theta| / kappa), so lambda "
        "is 2 sigma^2 / kappa before the division by 2n": lambda s, k, n: s**2 / (2 * n * k),
        "sigma enters squared: the likelihood's exponent is (y - theta^T x)^2 / (2 sigma^2)":
            lambda s, k, n: s / (n * k),
        "the scale kappa divides: the prior's exponent is |theta| / kappa, so a narrower prior (small kappa) "
        "penalises more": lambda s, k, n: s**2 * k / n,
        "you dropped the noise variance: the prior term is weighed against the squared error divided by "
        "2 sigma^2": lambda s, k, n: 1 / (n * k),
        "kappa is not squared: a Laplace prior contributes |theta| / kappa, not theta^2 / kappa^2 as a Gaussian "
        "prior's theta^2 / (2 tau^2) would": lambda s, k, n: s**2 / (n * k**2),
    }
    points = [("sigma = 3, kappa = 0.5, n = 20", (3.0, 0.5, 20)),
              ("sigma = 0.4, kappa = 2, n = 7", (0.4, 2.0, 7)),
              ("sigma = 2, kappa = 0.1, n = 100 (a narrow prior: a strong penalty)", (2.0, 0.1, 100)),
              ("sigma = 1, kappa = 1, n = 1", (1.0, 1.0, 1))]
    cases = _formula_cases("lasso_alpha", lambda s, k, n: s**2 / (n * k), bugs, points)
    return run_check("check_laplace_alpha", lasso_alpha, cases, verbose)


@exercise(chapter=CHAPTER, number=2, title="the ridge strength of a Gaussian prior", stars=2, kind="derive",
          practises="MAP estimation: turning a log-posterior into a penalised least-squares objective",
          hints=["Write -log p(theta | data) up to constants: the likelihood gives sum (y_i - theta^T x_i)^2 / (2 sigma^2), "
                 "the prior ||theta||^2 / (2 tau^2).",
                 "Multiply the whole objective by 2 sigma^2 so that the squared error has weight 1, and read off the "
                 "factor in front of ||theta||^2."])
def check_prior_lambda(prior_lambda: Callable[[float, float], float], verbose: bool = True) -> CheckResult:
    """Check ``prior_lambda(sigma, tau) -> float``: the ``lambda`` of ``sum_i (y_i - theta^T x_i)^2 +
    lambda ||theta||_2^2`` that is the MAP objective under noise ``N(0, sigma^2)`` and prior ``N(0, tau^2)``.
    Never prints the right value. It recognises the inverted ratio, the missing squares, the factor-2 slips,
    the Laplace prior's form ``2 sigma^2 / tau`` and ``1 / tau^2``, each only when the answer gives that
    misconception's value at every point checked.
    """
    bugs = {
        "you inverted the ratio: lambda is the noise variance over the prior variance, not the prior variance "
        "over the noise variance": lambda s, t: t**2 / s**2,
        "you forgot the squares: lambda is a ratio of variances, not of standard deviations": lambda s, t: s / t,
        "you inverted the ratio and forgot the squares: lambda is a ratio of variances, noise over prior":
            lambda s, t: t / s,
        "a factor 2 too many: multiplying -log posterior by 2 sigma^2 also multiplies the prior's "
        "||theta||^2 / (2 tau^2), whose 1/2 cancels the 2": lambda s, t: 2 * s**2 / t**2,
        "a factor 2 too few: the 1/(2 sigma^2) of the likelihood and the 1/(2 tau^2) of the prior cancel their "
        "2s": lambda s, t: s**2 / (2 * t**2),
        "that is the shape of the Laplace prior's strength (2 sigma^2 over its scale): a Gaussian prior's "
        "exponent theta^2 / (2 tau^2) has a square and a 1/2": lambda s, t: 2 * s**2 / t,
        "you dropped the noise variance: the prior term is compared with the squared error divided by "
        "2 sigma^2": lambda s, t: 1 / t**2,
    }
    points = [("sigma = 3, tau = 2", (3.0, 2.0)),
              ("sigma = 0.5, tau = 0.1 (a tight prior: strong penalty)", (0.5, 0.1)),
              ("sigma = 0.3, tau = 5 (a wide prior: weak penalty)", (0.3, 5.0)),
              ("sigma = tau = 1.5", (1.5, 1.5))]
    cases = _formula_cases("prior_lambda", lambda s, t: s**2 / t**2, bugs, points)
    return run_check("check_prior_lambda", prior_lambda, cases, verbose)


# --------------------------------------------------------------------------------------------
# Implement: the log posterior under a Laplace prior, up to a constant
# --------------------------------------------------------------------------------------------

def _reference_log_posterior(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, sigma: float,
                             kappa: float) -> torch.Tensor:
    return -(y - theta @ X.T).pow(2).sum(-1) / (2 * sigma**2) - theta.abs().sum(-1) / kappa


def _log_posterior_bugs(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, sigma: float,
                        kappa: float) -> dict[str, torch.Tensor]:
    sq = (y - theta @ X.T).pow(2)
    l1, l2 = theta.abs().sum(-1), theta.pow(2).sum(-1)
    right = _reference_log_posterior(theta, X, y, sigma, kappa)
    return {
        "you returned the negative log posterior (the objective to minimise); the log posterior is its negative":
            -right,
        "that is the Gaussian prior's term: a Laplace(0, kappa) prior contributes -||theta||_1 / kappa":
            -sq.sum(-1) / (2 * sigma**2) - l2 / (2 * kappa**2),
        "the 1/2 of the Gaussian log-likelihood is missing: it is -||y - X theta||^2 / (2 sigma^2)":
            -sq.sum(-1) / sigma**2 - l1 / kappa,
        "sigma enters squared: the log-likelihood is -||y - X theta||^2 / (2 sigma^2)":
            -sq.sum(-1) / (2 * sigma) - l1 / kappa,
        "you averaged the squared errors over the examples: the log-likelihood sums the log densities of the "
        "n independent targets": -sq.mean(-1) / (2 * sigma**2) - l1 / kappa,
        "the 2 of the Laplace density exp(-|t| / kappa) / (2 kappa) is in its normaliser (a constant), not in "
        "the exponent: the prior contributes -||theta||_1 / kappa": -sq.sum(-1) / (2 * sigma**2) - l1 / (2 * kappa),
        "the prior's term is missing: that is the log-likelihood alone": -sq.sum(-1) / (2 * sigma**2),
        "that is -J(theta) = -(||y - X theta||^2 + lambda ||theta||_1): it has the right maximiser, but the log "
        "posterior is -J / (2 sigma^2) + const, and the scale matters (it sets the posterior's width)":
            -sq.sum(-1) - (2 * sigma**2 / kappa) * l1,
    }


@exercise(chapter=CHAPTER, number=3, title="the log posterior under a Laplace prior", stars=2, kind="implement",
          practises="writing a log posterior as log-likelihood plus log-prior, batched and differentiable",
          hints=["log p(theta | X, y) = log p(y | X, theta) + log p(theta) - log p(y | X); the last term and the "
                 "normalisers are constants you may drop.",
                 "For theta of shape (..., d), the predictions are theta @ X.T (shape (..., n)); reduce the squared "
                 "errors and |theta| over the last dimension only, and use no in-place operations on theta."])
def check_log_posterior(log_posterior: Callable[..., torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``log_posterior(theta, X, y, sigma, kappa) -> Tensor``: ``log p(theta | X, y)`` up to a constant
    free of ``theta``, for noise ``N(0, sigma^2)`` and independent ``Laplace(0, kappa)`` priors, with ``theta`` of
    shape ``(..., d)`` and a result of shape ``theta.shape[:-1]``, differentiable in ``theta``.
    """
    gen = torch.Generator().manual_seed(5)
    X = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    y = X @ torch.tensor([1.0, -0.5, 0.0], dtype=torch.float64) + 0.7 * torch.randn(12, generator=gen, dtype=torch.float64)

    def compare(fn: Callable, thetas: torch.Tensor, sigma: float, kappa: float, dtype=torch.float64) -> None:
        """Values at a batch of thetas, compared after subtracting the value at the first one."""
        Xd, yd, td = X.to(dtype), y.to(dtype), thetas.to(dtype)
        out = expect_tensor(fn(*clone_args(td, Xd, yd), sigma, kappa), "log_posterior(theta, ...)")
        if out.shape != td.shape[:-1]:
            raise Feedback(f"for theta of shape {tuple(td.shape)} the result has shape {tuple(out.shape)}, expected "
                           f"{tuple(td.shape[:-1])} (one value per theta: reduce over the last dimension only)")
        if out.dtype != dtype:
            raise Feedback(f"for {dtype} inputs the result is {out.dtype}: compute in the inputs' dtype")
        relative = out.detach().double().reshape(-1)
        relative = relative - relative[0]
        ref = _reference_log_posterior(thetas, X, y, sigma, kappa).reshape(-1)
        bugs = {hint: (value.reshape(-1) - value.reshape(-1)[0]) for hint, value in
                _log_posterior_bugs(thetas, X, y, sigma, kappa).items()}
        tol = 1e-9 if dtype == torch.float64 else 1e-3
        expect_close(relative, ref - ref[0], what="log_posterior(theta) - log_posterior(theta_0)",
                     atol=tol, rtol=tol, known_bugs=bugs)

    def batch(shape: tuple[int, ...], sigma: float, kappa: float, dtype=torch.float64) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            thetas = torch.randn(*shape, 3, generator=torch.Generator().manual_seed(len(shape)), dtype=torch.float64)
            compare(fn, thetas, sigma, kappa, dtype)
        return run

    def one_theta(fn: Callable) -> None:
        thetas = torch.tensor([[0.5, -1.0, 0.2], [1.2, 0.3, -0.4]], dtype=torch.float64)
        values = [expect_tensor(fn(*clone_args(t, X, y), 0.8, 0.5), "log_posterior(theta, ...)") for t in thetas]
        for value in values:
            if value.shape != ():
                raise Feedback(f"for one theta of shape (3,) the result has shape {tuple(value.shape)}, expected () "
                               "(a scalar tensor)")
        ref = _reference_log_posterior(thetas, X, y, 0.8, 0.5)
        bugs = {hint: value[1] - value[0] for hint, value in _log_posterior_bugs(thetas, X, y, 0.8, 0.5).items()}
        expect_close((values[1] - values[0]).detach().double(), ref[1] - ref[0],
                     what="log_posterior(theta_b) - log_posterior(theta_a)", atol=1e-9, rtol=1e-9, known_bugs=bugs)

    def gradient(fn: Callable) -> None:
        theta = torch.tensor([[0.5, -1.0, 0.2], [-0.3, 0.8, 1.1]], dtype=torch.float64, requires_grad=True)
        out = expect_tensor(fn(theta, X.clone(), y.clone(), 1.3, 0.4), "log_posterior(theta, ...)")
        if not out.requires_grad:
            raise Feedback("no gradient reaches theta: the result is detached from it (avoid .item(), .detach(), "
                           "numpy, and torch.tensor(...) around computed values)")
        (grad,) = torch.autograd.grad(out.sum(), theta)
        ref = theta.detach().clone().requires_grad_(True)
        (ref_grad,) = torch.autograd.grad(_reference_log_posterior(ref, X, y, 1.3, 0.4).sum(), ref)
        expect_close(grad, ref_grad, what="the gradient with respect to theta", atol=1e-9, rtol=1e-9)

    def inputs_unchanged(fn: Callable) -> None:
        theta = torch.tensor([0.5, -1.0, 0.2], dtype=torch.float64)
        args = (theta, X.clone(), y.clone())
        copies = clone_args(*args)
        fn(*args, 1.0, 1.0)
        for name, before, after in zip(("theta", "X", "y"), copies, args):
            if not torch.equal(before, after):
                raise Feedback(f"your function changed its input {name} in place: use out-of-place operations "
                               "(theta.abs(), not theta.abs_())")

    cases = [
        ("one theta of shape (3,): sigma = 0.8, kappa = 0.5", one_theta),
        ("a batch of 6 thetas, shape (6, 3): sigma = 1, kappa = 2", batch((6,), 1.0, 2.0)),
        ("a batch of shape (2, 4, 3): sigma = 0.5, kappa = 0.3", batch((2, 4), 0.5, 0.3)),
        ("float32 inputs: a float32 result", batch((5,), 1.0, 1.0, torch.float32)),
        ("the gradient with respect to theta", gradient),
        ("the inputs are not modified", inputs_unchanged),
    ]
    return run_check("check_log_posterior", log_posterior, cases, verbose)


# --------------------------------------------------------------------------------------------
# Predict: how the posterior's width changes with 16 times as much data
# --------------------------------------------------------------------------------------------

def _as_factor(prediction: Any) -> float:
    """The prediction as a positive float; ``"1/4"`` and ``Fraction(1, 4)`` are accepted."""
    if isinstance(prediction, str):
        try:
            prediction = float(Fraction(prediction.replace(" ", "")))
        except (ValueError, ZeroDivisionError):
            raise Feedback(f"prediction must be a number such as 0.5 or '1/2', got {prediction!r}") from None
    if isinstance(prediction, torch.Tensor) and prediction.numel() == 1:
        prediction = prediction.item()
    if isinstance(prediction, bool) or not isinstance(prediction, Real):
        raise Feedback(f"prediction must be a number such as 0.5 or '1/2', got {type(prediction).__name__}")
    prediction = float(prediction)
    if not math.isfinite(prediction) or prediction <= 0:
        raise Feedback(f"prediction is {prediction:g}, but a width is positive, so the factor is a number > 0")
    return prediction


@exercise(chapter=CHAPTER, number=4, title="the posterior's width with 16 times the data", stars=2, kind="predict",
          practises="how the posterior covariance sigma^2 (X^T X + lambda I)^{-1} shrinks as data accumulate",
          hints=["The posterior of theta under a Gaussian prior is Gaussian with covariance "
                 "(X^T X / sigma^2 + I / tau^2)^{-1}; with standard normal features X^T X is about n I.",
                 "A variance that falls like 1/n gives a standard deviation that falls like 1/sqrt(n); the prior adds "
                 "1/tau^2 to the precision, which matters little once n is large."])
def check_posterior_width(prediction: Any, measured: float | None = None, verbose: bool = True) -> CheckResult:
    """Check a prediction of the factor by which the posterior standard deviation of ``theta_1`` is multiplied
    when ``n`` grows from 25 to 400 (Gaussian prior, ``sigma = 1``, ``tau = 0.5``), against ``measured``, the
    factor the experiment cell measured. The prediction is right within a factor 1.5 of the measurement.
    """

    def against_measurement(value: Any) -> None:
        if measured is None or isinstance(measured, bool) or not isinstance(measured, Real) or not measured > 0:
            raise Feedback(f"measured must be the factor the experiment cell printed (a number > 0), got {measured!r}: "
                           "run the experiment cell, then pass its result")
        factor = _as_factor(value)
        ratio = factor / measured
        if 1 / 1.5 <= ratio <= 1.5:
            return
        said = f"you predicted {factor:.3g}, the experiment measured {measured:.3f}"
        if factor > 1:
            raise Feedback(f"{said}: a factor above 1 would make the posterior wider with more data, but every "
                           "example adds curvature to the log posterior, so it only narrows (enter the multiplier, "
                           "e.g. 0.5 for half as wide)")
        if math.isclose(factor, 1.0, rel_tol=0.05):
            raise Feedback(f"{said}: the prior does not fix the width; the posterior precision X^T X / sigma^2 + "
                           "I / tau^2 grows with every example")
        if math.isclose(factor, 1 / 16, rel_tol=0.05):
            raise Feedback(f"{said}: 1/16 is how the posterior variance shrinks (about 1/n); the standard deviation "
                           "is its square root")
        direction = "shrink too little" if ratio > 1 else "shrink too much"
        raise Feedback(f"{said}: your factor would {direction}. The posterior variance is about "
                       "sigma^2 / (n + sigma^2 / tau^2) per coordinate; take the square root of its ratio")

    return run_check("check_posterior_width", prediction,
                     [("your prediction against the measured factor", against_measurement)], verbose, expects="value")


# --------------------------------------------------------------------------------------------
# Assemble: ridge as the MAP estimate, from the normal equations
# --------------------------------------------------------------------------------------------

def _solve(X: torch.Tensor, y: torch.Tensor, lam: float, ones: bool = False) -> torch.Tensor:
    d = X.shape[1]
    extra = torch.ones(d, d, dtype=X.dtype) if ones else torch.eye(d, dtype=X.dtype)
    return torch.linalg.solve(X.T @ X + lam * extra, X.T @ y)


@exercise(chapter=CHAPTER, number=5, title="ridge as the MAP estimate, from the normal equations", stars=3,
          kind="implement",
          practises="assembling the MAP estimate: the prior's lambda, the regularised normal equations, a stable solve",
          hints=["Set the gradient of -log p(theta | X, y) to zero: X^T (X theta - y) / sigma^2 + theta / tau^2 = 0.",
                 "Multiply by sigma^2: (X^T X + lambda I) theta = X^T y with lambda = sigma^2 / tau^2. Solve it with "
                 "torch.linalg.solve (no explicit inverse); torch.eye(d, dtype=X.dtype) keeps the dtype.",
                 "The system is positive definite for any lambda > 0, so it has a unique solution even when n < d."])
def check_ridge_from_scratch(ridge_normal_equations: Callable[..., torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``ridge_normal_equations(X, y, sigma, tau) -> Tensor``: the MAP estimate of ``theta`` (shape ``(d,)``)
    under noise ``N(0, sigma^2)`` and the prior ``N(0, tau^2)``, end to end against the chapter's solver
    :func:`attnreg.bayes.ridge_map`, on data with ``n > d``, ``n < d``, nearly collinear features and float32.
    """

    def data(n: int, d: int, seed: int, dtype=torch.float64, collinear: bool = False):
        gen = torch.Generator().manual_seed(seed)
        X = torch.randn(n, d, generator=gen, dtype=torch.float64)
        if collinear:
            X[:, 1] = X[:, 0] + 1e-6 * torch.randn(n, generator=gen, dtype=torch.float64)
        theta = torch.linspace(-1.5, 1.5, d, dtype=torch.float64)
        y = X @ theta + 0.5 * torch.randn(n, generator=gen, dtype=torch.float64)
        return X.to(dtype), y.to(dtype)

    def case(n: int, d: int, sigma: float, tau: float, seed: int, dtype=torch.float64,
             collinear: bool = False) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            X, y = data(n, d, seed, dtype, collinear)
            args = (X.clone(), y.clone())
            out = expect_tensor(fn(*args, sigma, tau), "ridge_normal_equations(X, y, sigma, tau)")
            if not (torch.equal(args[0], X) and torch.equal(args[1], y)):
                raise Feedback("your function changed X or y in place: the caller's data must stay as they were "
                               "(add lambda I to a new matrix, not to X^T X computed in place on X)")
            if out.shape != (d,):
                raise Feedback(f"the result has shape {tuple(out.shape)}, expected ({d},): one coefficient per feature")
            if out.dtype != dtype:
                raise Feedback(f"for {dtype} data the result is {out.dtype}: build the identity with dtype=X.dtype")
            Xd, yd = X.double(), y.double()
            lam = sigma**2 / tau**2
            expected = ridge_map(Xd, yd, sigma, tau)
            bugs = {
                "lambda = sigma / tau: the prior's strength is a ratio of variances, sigma^2 / tau^2":
                    _solve(Xd, yd, sigma / tau),
                "lambda = tau^2 / sigma^2 is inverted: a noisier target or a narrower prior must penalise more":
                    _solve(Xd, yd, tau**2 / sigma**2),
                "that is lambda / n, chapter 04's convention for a mean loss: the chapter's objective sums the "
                "squared errors, so lambda = sigma^2 / tau^2": _solve(Xd, yd, lam / n),
                "lambda = 2 sigma^2 / tau^2: setting the gradient 2 X^T (X theta - y) + 2 lambda theta to zero "
                "divides both 2s away": _solve(Xd, yd, 2 * lam),
                "lambda / 2: the penalty lambda ||theta||^2 has gradient 2 lambda theta, like the squared error's "
                "2 X^T (X theta - y)": _solve(Xd, yd, lam / 2),
                "lambda = 1 / tau^2 forgets the noise variance: multiply the gradient of -log posterior by sigma^2":
                    _solve(Xd, yd, 1 / tau**2),
                "you added lambda to every entry of X^T X; the prior adds lambda to its diagonal only "
                "(lambda times the identity)": _solve(Xd, yd, lam, ones=True),
            }
            if n >= d and not collinear:
                bugs["that is the least-squares (maximum-likelihood) estimate: the prior's lambda I is missing"] = \
                    torch.linalg.lstsq(Xd, yd.unsqueeze(-1)).solution.squeeze(-1)
            tol = 1e-8 if dtype == torch.float64 else 1e-4
            expect_close(out.detach().double(), expected, what="theta_MAP", atol=tol, rtol=tol, known_bugs=bugs)
        return run

    cases = [
        ("n = 50, d = 5, sigma = 0.8, tau = 0.5", case(50, 5, 0.8, 0.5, 0)),
        ("n = 30, d = 4, sigma = 2, tau = 0.3 (a noisy target, a narrow prior)", case(30, 4, 2.0, 0.3, 1)),
        ("n = 4, d = 10, sigma = 0.6, tau = 1.1 (more features than examples)", case(4, 10, 0.6, 1.1, 2)),
        ("n = 40, d = 3 with two nearly equal features, sigma = 1.3, tau = 2", case(40, 3, 1.3, 2.0, 3, collinear=True)),
        ("float32 data: n = 20, d = 3, sigma = 1.5, tau = 0.7", case(20, 3, 1.5, 0.7, 4, torch.float32)),
    ]
    return run_check("check_ridge_from_scratch", ridge_normal_equations, cases, verbose)
