"""Argument checks shared by the public helpers.

Every check raises an error that names the argument, the value received and what was expected,
so that a reader who passes a wrong value learns what to change.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from numbers import Integral, Real

import torch


def _describe(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)} and dtype {value.dtype}"
    return repr(value)


def check_real(name: str, value: object) -> float:
    """Return ``value`` as a float; reject bools, non-numbers and NaN."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number, got {_describe(value)}")
    if math.isnan(float(value)):
        raise ValueError(f"{name} must be a number, got NaN")
    return float(value)


def check_probability(name: str, value: object, *, allow_one: bool = True, allow_zero: bool = True) -> float:
    """Check ``0 <= value <= 1`` (ends optionally excluded) and return it as a float."""
    value = check_real(name, value)
    low_ok = value > 0 or (allow_zero and value == 0)
    high_ok = value < 1 or (allow_one and value == 1)
    if not (low_ok and high_ok):
        interval = ("[" if allow_zero else "(") + "0, 1" + ("]" if allow_one else ")")
        raise ValueError(f"{name} must be a probability in {interval}, got {value!r}")
    return value


def check_positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    """Check ``value > 0`` (or ``>= 0`` with ``allow_zero``) and return it as a float."""
    value = check_real(name, value)
    if math.isinf(value) or value < 0 or (value == 0 and not allow_zero):
        expected = "a finite number >= 0" if allow_zero else "a finite number > 0"
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return value


def check_int(name: str, value: object, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Check that ``value`` is an integer within ``[minimum, maximum]`` and return it."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer, got {_describe(value)}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "-inf" if minimum is None else str(minimum)
        high = "inf" if maximum is None else str(maximum)
        raise ValueError(f"{name} must be an integer in [{low}, {high}], got {value}")
    return value


def check_choice(name: str, value: object, choices: Collection[str]) -> str:
    """Check that ``value`` is one of the allowed names and return it."""
    if value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value  # type: ignore[return-value]


def check_tensor(
    name: str,
    value: object,
    *,
    ndim: int | Sequence[int] | None = None,
    min_ndim: int | None = None,
    floating: bool = False,
) -> torch.Tensor:
    """Check that ``value`` is a tensor with the expected number of dimensions and kind."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if value.ndim not in allowed:
            expected = " or ".join(str(n) for n in allowed)
            raise ValueError(f"{name} must be {expected}-dimensional, got shape {tuple(value.shape)}")
    if min_ndim is not None and value.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(value.shape)}")
    if floating and not value.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    return value


def check_same_length(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor) -> None:
    """Check that two tensors have the same size along their first dimension."""
    if a.shape[0] != b.shape[0]:
        raise ValueError(
            f"{name_a} and {name_b} must have the same number of rows, "
            f"got {name_a} of shape {tuple(a.shape)} and {name_b} of shape {tuple(b.shape)}"
        )


def check_generator(generator: object) -> torch.Generator | None:
    """Check an optional random-number generator: a ``torch.Generator`` or ``None`` (torch's global one)."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    return generator


def check_regression_data(X: object, y: object, x_name: str = "X", y_name: str = "y") -> tuple[torch.Tensor, torch.Tensor]:
    """Check a design matrix ``X (n, d)`` and real targets ``y (n,)`` of the same floating dtype and device."""
    X = check_tensor(x_name, X, ndim=2, floating=True)
    y = check_tensor(y_name, y, ndim=1, floating=True)
    check_same_length(x_name, X, y_name, y)
    if y.dtype != X.dtype or y.device != X.device:
        raise ValueError(f"{y_name} must have the dtype and device of {x_name} ({X.dtype} on {X.device}), "
                         f"got {y.dtype} on {y.device}")
    return X, y
