"""Checker for the exercise of chapter 05: the ridge strength that a Gaussian prior implies."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

from ._framework import CheckResult, Feedback, expect_close, run_check
from ._registry import exercise


def _reference_prior_lambda(sigma: float, tau: float) -> float:
    return sigma**2 / tau**2


@exercise(chapter='05_bayesian_view', number=1, title='the ridge strength of a Gaussian prior', stars=2, kind='derive', practises='MAP estimation: turning a log-posterior into a penalised least-squares objective',
          hints=['Write -log p(theta | data) up to constants: the likelihood gives sum (y_i - theta^T x_i)^2 / (2 sigma^2), the prior ||theta||^2 / (2 tau^2).',
                 'Multiply the whole objective by 2 sigma^2 so that the squared error has weight 1, and read off the factor in front of ||theta||^2.'])
def check_prior_lambda(prior_lambda: Callable[[float, float], float], verbose: bool = True) -> CheckResult:
    """Check ``prior_lambda(sigma, tau) -> float``: the ``lambda`` of ``sum_i (y_i - theta^T x_i)^2 +
    lambda ||theta||_2^2`` that is the MAP objective under noise ``N(0, sigma^2)`` and prior ``N(0, tau^2)``,
    namely ``sigma^2 / tau^2``. It recognises ``tau^2 / sigma^2``, ``sigma / tau``, ``tau / sigma``, the factor-2
    slips ``2 sigma^2 / tau^2`` and ``sigma^2 / (2 tau^2)``, and ``1 / tau^2`` (the noise variance forgotten).
    """

    def case_on(sigma: float, tau: float) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            expected = _reference_prior_lambda(sigma, tau)
            candidates = {
                "you inverted the ratio: lambda = sigma^2 / tau^2 (noise variance over prior variance), "
                "not tau^2 / sigma^2": tau**2 / sigma**2,
                "you forgot the squares: lambda is a ratio of variances, sigma^2 / tau^2, not sigma / tau": sigma / tau,
                "you inverted the ratio and forgot the squares: lambda = sigma^2 / tau^2": tau / sigma,
                "a factor 2 too many: multiplying -log posterior by 2 sigma^2 turns ||theta||^2 / (2 tau^2) into "
                "(sigma^2 / tau^2) ||theta||^2, so lambda = sigma^2 / tau^2": 2 * sigma**2 / tau**2,
                "a factor 2 too few: the 1/(2 sigma^2) of the likelihood and the 1/(2 tau^2) of the prior cancel "
                "their 2s, so lambda = sigma^2 / tau^2": sigma**2 / (2 * tau**2),
                "you dropped the noise variance: the prior term is compared with the squared error divided by "
                "2 sigma^2, so lambda = sigma^2 / tau^2": 1 / tau**2,
            }
            # Only hints whose value differs from the right answer in this case can identify a bug.
            known_bugs = {hint: value for hint, value in candidates.items()
                          if abs(value - expected) > 1e-3 * max(1.0, abs(expected))}
            expect_close(fn(sigma, tau), expected, what=f"prior_lambda({sigma}, {tau})", rtol=1e-6, atol=1e-9,
                         known_bugs=known_bugs)
        return run

    def returns_number(fn: Callable) -> None:
        value = fn(2.0, 4.0)
        if value is None:
            raise Feedback("prior_lambda returned None: did you forget a `return`?")
        if isinstance(value, bool) or not isinstance(value, Real):
            raise Feedback(f"prior_lambda must return a Python number, got {type(value).__name__}")

    cases = [
        ("sigma = 3, tau = 2", case_on(3.0, 2.0)),
        ("sigma = 0.5, tau = 0.1 (a tight prior: strong penalty)", case_on(0.5, 0.1)),
        ("sigma = 0.3, tau = 5 (a wide prior: weak penalty)", case_on(0.3, 5.0)),
        ("sigma = tau = 1.5", case_on(1.5, 1.5)),
        ("the result is a Python number", returns_number),
    ]
    return run_check("check_prior_lambda", prior_lambda, cases, verbose)
