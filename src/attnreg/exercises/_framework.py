"""The checker framework behind every ``check_<topic>`` function.

A checker runs the learner's answer (a function, or a value for derive and predict exercises) on a
few cases, compares each result with a reference and prints one line per case with specific
feedback. It never raises because of the learner's code: a stub that still raises
``NotImplementedError``, or an answer left as ``None`` or ``...``, is reported as not attempted;
any other exception is reported with its type, its message and the learner's own lines of the
traceback (library frames trimmed).
"""

from __future__ import annotations

import math
import numbers
import sys
import sysconfig
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

_PACKAGE = str(Path(__file__).resolve().parents[1])
_LIBRARY_PREFIXES = tuple({_PACKAGE, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"],
                           sysconfig.get_paths()["platlib"], sys.prefix, sys.base_prefix})


class Feedback(Exception):
    """Raised inside a case to report what is wrong with the learner's result."""


@dataclass(frozen=True)
class CaseResult:
    name: str
    passed: bool
    feedback: str = ""


@dataclass
class CheckResult:
    """The outcome of one checker call; ``passed`` is True when every case passed."""

    topic: str
    cases: list[CaseResult] = field(default_factory=list)
    implemented: bool = True

    @property
    def passed(self) -> bool:
        return self.implemented and bool(self.cases) and all(case.passed for case in self.cases)

    def _ipython_display_(self) -> None:
        """Show nothing when a check is a cell's last expression: its report was printed already."""

    def __repr__(self) -> str:
        if not self.implemented:
            return f"CheckResult(topic={self.topic!r}, not implemented yet)"
        passed = sum(case.passed for case in self.cases)
        return f"CheckResult(topic={self.topic!r}, passed {passed} of {len(self.cases)} cases)"


#: A case takes the learner's function and raises :class:`Feedback` when the result is wrong.
Case = tuple[str, Callable[[Callable[..., Any]], None]]


def run_check(topic: str, learner_fn: Any, cases: Sequence[Case], verbose: bool = True, *,
              expects: str = "function") -> CheckResult:
    """Run every case on the learner's answer, print one line each and return a :class:`CheckResult`.

    ``expects="function"`` (implement exercises, derive exercises answered by a formula) requires a
    callable; ``expects="value"`` (a number or a choice) passes the answer itself to the cases.
    An answer left as ``None`` or ``...`` is not attempted, like a stub that raises
    ``NotImplementedError``.
    """
    if expects not in ("function", "value"):
        raise ValueError(f"expects must be 'function' or 'value', got {expects!r}")
    result = CheckResult(topic)
    if learner_fn is None or learner_fn is Ellipsis:
        result.implemented = False
        _say(verbose, f"… {topic}: not attempted yet. Replace `None` (or `...`) with your answer and run the check again.")
        return result
    if expects == "function" and not callable(learner_fn):
        result.implemented = False
        _say(verbose, f"✗ {topic}: expected a function, got {type(learner_fn).__name__}")
        return result
    for name, case in cases:
        try:
            case(learner_fn)
        except NotImplementedError:
            result.implemented = False
            _say(verbose, f"… {topic}: not implemented yet. Replace `raise NotImplementedError` with your code and run the check again.")
            return result
        except Feedback as feedback:
            result.cases.append(CaseResult(name, False, str(feedback)))
        except Exception as error:  # the learner's code failed: report it, never raise
            result.cases.append(CaseResult(name, False, describe_exception(error, skip=2)))
        else:
            result.cases.append(CaseResult(name, True))
        last = result.cases[-1]
        _say(verbose, f"✓ {name}" if last.passed else f"✗ {name}: {last.feedback}")
    passed = sum(case.passed for case in result.cases)
    _say(verbose, f"{topic}: {passed} of {len(result.cases)} checks passed." + (" Well done!" if result.passed else ""))
    return result


def _say(verbose: bool, line: str) -> None:
    if verbose:
        print(line)


def _is_library(filename: str) -> bool:
    return filename.startswith(_LIBRARY_PREFIXES) or filename.startswith("<frozen") or (
        "site-packages" in filename or "dist-packages" in filename)


def describe_exception(error: BaseException, skip: int = 0) -> str:
    """``raised Type: message``, then the learner's own lines of the traceback (at most three).

    Frames of this package, of installed libraries and of the standard library are trimmed, so the
    report ends at the learner's line. An exception with no learner frame was raised while checking
    the learner's result (a list where a tensor was expected, a call with the wrong number of
    arguments, say), and is reported as such. ``skip`` drops the outermost frames (the checker's own
    call of the case, and the case).
    """
    message = f"{type(error).__name__}: {error}"
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)[skip:] if not _is_library(frame.filename)]
    if not frames:
        return f"checking your function raised {message}"
    lines = [f"    line {frame.lineno} in {frame.name}: {(frame.line or '').strip()}" for frame in frames[-3:]]
    return "raised " + message + "\n" + "\n".join(lines)


def clone_args(*args: Any) -> tuple[Any, ...]:
    """Copies of tensor arguments, so a learner's in-place edit cannot change the reference."""
    return tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)


def expect_tensor(value: Any, what: str = "the result") -> torch.Tensor:
    """Check that the learner returned a tensor; explain the usual reasons when not."""
    if value is None:
        raise Feedback(f"{what} is None: did you forget a `return`?")
    if not isinstance(value, torch.Tensor):
        raise Feedback(f"{what} must be a torch.Tensor, got {type(value).__name__}")
    return value


def _close(a: Any, b: Any, atol: float, rtol: float) -> bool:
    a, b = torch.as_tensor(a), torch.as_tensor(b)
    if a.shape != b.shape:
        return False
    return bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=rtol, equal_nan=False))


def expect_close(
    actual: Any,
    expected: Any,
    what: str = "the result",
    atol: float = 1e-5,
    rtol: float = 1e-4,
    known_bugs: Mapping[str, Any] | None = None,
) -> None:
    """Compare a learner's value with the reference and explain the difference.

    ``known_bugs`` maps a hint to the value a classic bug would produce; when the learner's value
    matches one of them, the hint is the feedback.
    """
    if isinstance(expected, torch.Tensor):
        actual = expect_tensor(actual, what)
    elif actual is None:
        raise Feedback(f"{what} is None: did you forget a `return`?")
    try:
        actual_t = torch.as_tensor(actual).detach().cpu()
    except (TypeError, ValueError, RuntimeError):
        raise Feedback(f"{what} must be a number or a tensor, got {type(actual).__name__}") from None
    expected_t = torch.as_tensor(expected).detach().cpu()
    if _close(actual_t, expected_t, atol, rtol):
        return
    _raise_known_bug(actual_t, expected_t, known_bugs, atol, rtol)
    if actual_t.shape != expected_t.shape:
        raise Feedback(f"{what} has shape {tuple(actual_t.shape)}, expected {tuple(expected_t.shape)}")
    if actual_t.is_floating_point() and torch.isnan(actual_t).any():
        raise Feedback(f"{what} contains NaN, expected finite values")
    if actual_t.ndim == 0:
        raise Feedback(f"{what} is {actual_t.item():.6g}, expected {expected_t.item():.6g}")
    diff = (actual_t.double() - expected_t.double()).abs()
    index = tuple(int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
    raise Feedback(f"{what} differs from the reference by up to {diff.max().item():.3g}, at index {index} "
                   f"({actual_t[index].item():.4g} instead of {expected_t[index].item():.4g})")


def _raise_known_bug(actual: torch.Tensor, expected: torch.Tensor, known_bugs: Mapping[str, Any] | None,
                     atol: float, rtol: float) -> None:
    """Raise the hint of the first known bug whose value the learner produced.

    A bug whose value equals the right answer in this case cannot be told apart from a correct
    solution, so it is skipped: a misconception message is only ever shown for its misconception.
    """
    for hint, buggy in (known_bugs or {}).items():
        buggy_t = torch.as_tensor(buggy).detach().cpu()
        if _close(buggy_t, expected, atol, rtol):
            continue
        if _close(actual, buggy_t, atol, rtol):
            raise Feedback(hint)


def expect_number(value: Any, what: str = "the answer") -> float:
    """The learner's answer as a float; explain when it is not a finite real number."""
    if value is None:
        raise Feedback(f"{what} is None: did you forget a `return`?")
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise Feedback(f"{what} must be one number, got a tensor of shape {tuple(value.shape)}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy's numbers are Real too
        raise Feedback(f"{what} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise Feedback(f"{what} is {value}, expected a finite number")
    return float(value)


def expect_derived(
    actual: Any,
    expected: float,
    what: str = "the answer",
    rtol: float = 1e-6,
    atol: float = 1e-9,
    known_bugs: Mapping[str, float] | None = None,
) -> None:
    """Compare a derived number with the right one without ever printing the right one.

    Feedback names a recognised misconception (``known_bugs``: hint -> the value it produces),
    or says only whether the answer is too large or too small.
    """
    value = expect_number(actual, what)
    if math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
        return
    _raise_known_bug(torch.tensor(value, dtype=torch.float64), torch.tensor(expected, dtype=torch.float64),
                     known_bugs, atol, rtol)
    direction = "too large" if value > expected else "too small"
    raise Feedback(f"{what} = {value:.6g} is not right: it is {direction}. Check each step of the derivation "
                   "(a hint is available)")
