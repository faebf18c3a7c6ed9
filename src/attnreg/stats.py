"""Sampling statistics: how far an estimate from a finite sample may fall from its true value."""

from __future__ import annotations

import math

from ._validation import check_int, check_positive, check_probability


def binomial_tolerance(p: float, n: int, sigmas: float = 5.0) -> float:
    """``sigmas`` standard errors of a proportion ``p`` estimated from ``n`` independent draws:
    ``sigmas * sqrt(p (1 - p) / n)``."""
    p = check_probability("p", p)
    n = check_int("n", n, minimum=1)
    sigmas = check_positive("sigmas", sigmas)
    return sigmas * math.sqrt(p * (1.0 - p) / n)
