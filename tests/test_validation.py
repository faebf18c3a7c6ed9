import math

import pytest
import torch

from attnreg import _validation as v


def test_accepting_values_returns_them():
    assert v.check_real("x", 3) == 3.0
    assert v.check_probability("p", 0) == 0.0 and v.check_probability("p", 1) == 1.0
    assert v.check_positive("lr", 0.5) == 0.5
    assert v.check_positive("lam", 0, allow_zero=True) == 0.0
    assert v.check_int("n", 4, minimum=1, maximum=4) == 4
    assert v.check_choice("mode", "a", ("a", "b")) == "a"
    t = torch.zeros(2, 3)
    assert v.check_tensor("x", t, ndim=2, floating=True) is t


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: v.check_real("x", "1"), TypeError, "x must be a real number, got '1'"),
        (lambda: v.check_real("x", True), TypeError, "x must be a real number, got True"),
        (lambda: v.check_real("x", math.nan), ValueError, "x must be a number, got NaN"),
        (lambda: v.check_probability("p", 1.5), ValueError, r"p must be a probability in \[0, 1\], got 1.5"),
        (lambda: v.check_probability("p", -0.1), ValueError, r"p must be a probability in \[0, 1\], got -0.1"),
        (lambda: v.check_probability("p", 1, allow_one=False), ValueError, r"p must be a probability in \[0, 1\), got 1.0"),
        (lambda: v.check_probability("p", 0, allow_zero=False), ValueError, r"in \(0, 1\]"),
        (lambda: v.check_positive("lr", 0), ValueError, "lr must be a finite number > 0, got 0.0"),
        (lambda: v.check_positive("lam", -1, allow_zero=True), ValueError, "lam must be a finite number >= 0, got -1.0"),
        (lambda: v.check_positive("lr", math.inf), ValueError, "lr must be a finite number > 0, got inf"),
        (lambda: v.check_int("n", 2.0), TypeError, "n must be an integer, got 2.0"),
        (lambda: v.check_int("n", 0, minimum=1), ValueError, r"n must be an integer in \[1, inf\], got 0"),
        (lambda: v.check_int("n", 9, maximum=8), ValueError, r"n must be an integer in \[-inf, 8\], got 9"),
        (lambda: v.check_choice("mode", "c", ("a", "b")), ValueError, "mode must be one of 'a', 'b', got 'c'"),
        (lambda: v.check_tensor("x", [1.0]), TypeError, "x must be a torch.Tensor, got list"),
        (lambda: v.check_tensor("x", torch.zeros(2), ndim=2), ValueError, r"x must be 2-dimensional, got shape \(2,\)"),
        (lambda: v.check_tensor("x", torch.zeros(2), ndim=(2, 3)), ValueError, "x must be 2 or 3-dimensional"),
        (lambda: v.check_tensor("x", torch.zeros(2), min_ndim=2), ValueError, "x must have at least 2 dimensions"),
        (lambda: v.check_tensor("x", torch.zeros(2, dtype=torch.long), floating=True), TypeError, "x must be a floating-point tensor, got dtype torch.int64"),
        (lambda: v.check_same_length("X", torch.zeros(3, 2), "y", torch.zeros(4)), ValueError, r"X and y must have the same number of rows, got X of shape \(3, 2\) and y of shape \(4,\)"),
    ],
)
def test_errors_name_argument_value_and_expectation(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_check_generator_accepts_none_and_generators_only():
    generator = torch.Generator()
    assert v.check_generator(None) is None and v.check_generator(generator) is generator
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        v.check_generator(0)


def test_check_regression_data_names_the_arguments():
    X, y = torch.zeros(4, 2), torch.zeros(4)
    assert v.check_regression_data(X, y)[0] is X
    with pytest.raises(ValueError, match=r"X_test and y_test must have the same number of rows, got X_test of shape \(4, 2\)"):
        v.check_regression_data(X, y[:3], "X_test", "y_test")
    with pytest.raises(ValueError, match="y must have the dtype and device of X"):
        v.check_regression_data(X, y.double())
    with pytest.raises(TypeError, match="y must be a floating-point tensor"):
        v.check_regression_data(X, torch.zeros(4, dtype=torch.long))
