"""Sampling statistics: how far an estimate from a finite sample may fall from its true value."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ._validation import check_int, check_positive, check_probability, check_real


def binomial_tolerance(p: float, n: int, sigmas: float = 5.0) -> float:
    """``sigmas`` standard errors of a proportion ``p`` estimated from ``n`` independent draws:
    ``sigmas * sqrt(p (1 - p) / n)``."""
    p = check_probability("p", p)
    n = check_int("n", n, minimum=1)
    sigmas = check_positive("sigmas", sigmas)
    return sigmas * math.sqrt(p * (1.0 - p) / n)


def student_t_cdf(t: float, df: int) -> float:
    """``P(T <= t)`` for Student's t with an integer number ``df`` of degrees of freedom.

    With ``theta = arctan(t / sqrt(df))``, ``P(|T| <= |t|)`` has a closed form (Abramowitz and Stegun
    26.7.3 and 26.7.4): ``sin(theta) (1 + c/2 + (1*3)/(2*4) c^2 + ... )`` up to ``c^((df-2)/2)`` for
    even ``df``, and ``(2/pi) (theta + sin(theta) cos(theta) (1 + (2/3) c + (2*4)/(3*5) c^2 + ...))``
    up to ``c^((df-3)/2)`` for odd ``df`` (``2 theta / pi`` for ``df = 1``), with ``c = cos(theta)^2``.
    """
    t = check_real("t", t)
    df = check_int("df", df, minimum=1)
    theta = math.atan(abs(t) / math.sqrt(df))
    c = math.cos(theta) ** 2
    if df % 2 == 0:
        term = total = 1.0
        for k in range(1, df // 2):  # term k: (1*3*...*(2k-1)) / (2*4*...*(2k)) c^k
            term *= c * (2 * k - 1) / (2 * k)
            total += term
        inside = math.sin(theta) * total
    else:
        total = 0.0
        if df > 1:
            term = total = 1.0
            for k in range(1, (df - 1) // 2):  # term k: (2*4*...*(2k)) / (3*5*...*(2k+1)) c^k
                term *= c * (2 * k) / (2 * k + 1)
                total += term
        inside = 2.0 / math.pi * (theta + math.sin(theta) * math.cos(theta) * total)
    return 0.5 + math.copysign(0.5 * inside, t)


def student_t_quantile(q: float, df: int) -> float:
    """The ``t`` with ``P(T <= t) = q`` for Student's t with ``df`` degrees of freedom (``0 < q < 1``).

    :func:`student_t_cdf` inverted by bisection, to a relative precision of about ``1e-12``.
    """
    q = check_probability("q", q, allow_zero=False, allow_one=False)
    df = check_int("df", df, minimum=1)
    if q < 0.5:
        return -student_t_quantile(1.0 - q, df)
    low, high = 0.0, 1.0
    while student_t_cdf(high, df) < q:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if student_t_cdf(middle, df) < q:
            low = middle
        else:
            high = middle
        if high - low <= 1e-13 * high:
            break
    return 0.5 * (low + high)


def _as_floats(name: str, values: object) -> list[float]:
    """A 1-D sequence, NumPy array or tensor of finite real numbers, as a list of floats."""
    if hasattr(values, "tolist") and getattr(values, "ndim", 1) == 1:  # a NumPy array or a tensor
        values = values.tolist()
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a 1-D sequence of numbers, got {type(values).__name__}")
    floats = [check_real(f"{name}[{i}]", value) for i, value in enumerate(values)]
    for i, value in enumerate(floats):
        if math.isinf(value):
            raise ValueError(f"{name}[{i}] must be finite, got {value}")
    return floats


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean of the paired differences ``d_i = a_i - b_i`` and its ``level`` Student's t interval.

    ``(d_bar, d_bar - h, d_bar + h)`` with ``h = t_{(1 + level)/2, n-1} * s_d / sqrt(n)``, ``s_d`` the
    standard deviation of the ``n`` differences with ``n - 1`` in its denominator. The pairs are
    runs that share everything but the compared choice (a seed's initial weights, batch order and
    test images, say); the interval covers the variation between pairs only, not the sampling of
    the test set. ``a`` and ``b`` are sequences, 1-D NumPy arrays or 1-D tensors of equal length.
    """
    level = check_probability("level", level, allow_zero=False, allow_one=False)
    a, b = _as_floats("a", a), _as_floats("b", b)
    if len(a) != len(b):
        raise ValueError(f"a and b must have the same length (one value per pair), got {len(a)} and {len(b)}")
    if len(a) < 2:
        raise ValueError(f"a and b must hold at least 2 pairs for an interval, got {len(a)}")
    diffs = [x - y for x, y in zip(a, b)]
    n = len(diffs)
    mean = math.fsum(diffs) / n
    std = math.sqrt(math.fsum((d - mean) ** 2 for d in diffs) / (n - 1))
    half = student_t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return mean, mean - half, mean + half
