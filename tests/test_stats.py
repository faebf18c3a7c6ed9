"""Tests of attnreg.stats."""

import pytest

from attnreg.stats import binomial_tolerance


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
