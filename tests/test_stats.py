"""Tests of attnreg.stats."""

import math

import numpy as np
import pytest
import torch

from attnreg.stats import binomial_tolerance, paired_interval, student_t_cdf, student_t_quantile

# Two-sided 95 % and 99 % points of Student's t (97.5 % and 99.5 % quantiles), as printed in tables.
T_TABLE = {1: (12.706, 63.657), 2: (4.303, 9.925), 3: (3.182, 5.841), 4: (2.776, 4.604), 5: (2.571, 4.032),
           9: (2.262, 3.250), 10: (2.228, 3.169), 30: (2.042, 2.750)}


def test_binomial_tolerance():
    assert binomial_tolerance(0.5, 10_000) == pytest.approx(5 * 0.005)
    assert binomial_tolerance(0.2, 100, sigmas=2) == pytest.approx(2 * 0.04)
    assert binomial_tolerance(0.0, 10) == 0.0


def test_binomial_tolerance_rejects_bad_arguments():
    with pytest.raises(ValueError, match="p must be"):
        binomial_tolerance(1.5, 10)
    with pytest.raises(ValueError, match="n must be"):
        binomial_tolerance(0.5, 0)
    with pytest.raises(ValueError, match="sigmas must be"):
        binomial_tolerance(0.5, 10, sigmas=0.0)


@pytest.mark.parametrize("df", sorted(T_TABLE))
def test_t_quantiles_match_the_table(df):
    t95, t99 = T_TABLE[df]
    assert round(student_t_quantile(0.975, df), 3) == t95
    assert round(student_t_quantile(0.995, df), 3) == t99
    assert student_t_quantile(0.025, df) == pytest.approx(-student_t_quantile(0.975, df), rel=1e-12)


def test_t_cdf_closed_forms_and_limits():
    assert student_t_cdf(0.0, 7) == 0.5
    assert student_t_cdf(1.0, 1) == pytest.approx(0.75, abs=1e-15)  # Cauchy: 1/2 + arctan(1)/pi
    # df = 2 has P(T <= t) = 1/2 + t / (2 sqrt(2 + t^2))
    assert student_t_cdf(2.0, 2) == pytest.approx(0.5 + 2.0 / (2 * math.sqrt(6.0)), abs=1e-15)
    normal = 0.5 * (1 + math.erf(1.96 / math.sqrt(2)))
    assert student_t_cdf(1.96, 2001) == pytest.approx(normal, abs=1e-4)  # t tends to the normal


def test_t_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 6, 7, 25, 100):
        for q in (0.55, 0.9, 0.975, 0.9995):
            assert student_t_quantile(q, df) == pytest.approx(stats.t.ppf(q, df), rel=1e-10)
        for t in (-4.0, -0.3, 0.7, 2.5):
            assert student_t_cdf(t, df) == pytest.approx(stats.t.cdf(t, df), abs=1e-13)


def test_paired_interval_by_hand():
    a, b = [0.91, 0.90, 0.92], [0.89, 0.90, 0.89]
    mean, low, high = paired_interval(a, b)
    d = np.array(a) - np.array(b)
    t_975 = 0.95 * math.sqrt(2 / (1 - 0.95**2))  # df = 2: the quantile of level q solves q = 1/2 + t / (2 sqrt(2 + t^2))
    half = t_975 * d.std(ddof=1) / math.sqrt(3)
    assert mean == pytest.approx(d.mean(), abs=1e-15)
    assert (low, high) == pytest.approx((d.mean() - half, d.mean() + half), abs=1e-12)
    wider = paired_interval(a, b, level=0.99)
    assert wider[1] < low and wider[2] > high and wider[0] == mean


def test_paired_interval_matches_scipy_and_takes_arrays_and_tensors():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=7), rng.normal(size=7)
    d = a - b
    low, high = stats.t.interval(0.9, 6, loc=d.mean(), scale=stats.sem(d))
    for x, y in ((a, b), (torch.tensor(a), torch.tensor(b)), (a.tolist(), b.tolist())):
        assert paired_interval(x, y, level=0.9) == pytest.approx((d.mean(), low, high), abs=1e-12)


def test_paired_interval_of_equal_differences_has_zero_width():
    assert paired_interval([3.0, 4.0, 5.0], [1.0, 2.0, 3.0]) == (2.0, 2.0, 2.0)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: paired_interval([1.0, 2.0], [1.0]), ValueError, "a and b must have the same length .* got 2 and 1"),
        (lambda: paired_interval([1.0], [2.0]), ValueError, "at least 2 pairs for an interval, got 1"),
        (lambda: paired_interval([1.0, 2.0], [1.0, 2.0], level=1.0), ValueError, r"level must be a probability in \(0, 1\), got 1.0"),
        (lambda: paired_interval([1.0, "x"], [1.0, 2.0]), TypeError, r"a\[1\] must be a real number, got 'x'"),
        (lambda: paired_interval([1.0, float("nan")], [1.0, 2.0]), ValueError, "a\\[1\\] must be a number, got NaN"),
        (lambda: paired_interval([1.0, 2.0], [1.0, float("inf")]), ValueError, r"b\[1\] must be finite, got inf"),
        (lambda: paired_interval(3.0, [1.0]), TypeError, "a must be a 1-D sequence of numbers, got float"),
        (lambda: paired_interval("12", "12"), TypeError, "a must be a 1-D sequence of numbers, got str"),
        (lambda: paired_interval(np.ones((2, 2)), np.ones(2)), TypeError, "a must be a 1-D sequence of numbers, got ndarray"),
        (lambda: student_t_quantile(0.0, 3), ValueError, r"q must be a probability in \(0, 1\), got 0.0"),
        (lambda: student_t_quantile(0.9, 0), ValueError, r"df must be an integer in \[1, inf\], got 0"),
        (lambda: student_t_cdf(1.0, 2.5), TypeError, "df must be an integer, got 2.5"),
        (lambda: student_t_cdf(float("nan"), 2), ValueError, "t must be a number, got NaN"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
