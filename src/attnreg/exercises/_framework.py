"""The checker framework behind every ``check_<topic>`` function.

A checker runs the learner's function on a few cases, compares each result with a reference and
prints one line per case with specific feedback. It never raises because of the learner's code:
a stub that still raises ``NotImplementedError`` is reported as "not implemented yet", any other
exception is reported with its type and message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch


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


def run_check(topic: str, learner_fn: Callable[..., Any], cases: Sequence[Case], verbose: bool = True) -> CheckResult:
    """Run every case on ``learner_fn``, print one line each and return a :class:`CheckResult`."""
    result = CheckResult(topic)
    if not callable(learner_fn):
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
            result.cases.append(CaseResult(name, False, f"raised {type(error).__name__}: {error}"))
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
    for hint, buggy in (known_bugs or {}).items():
        if _close(actual_t, torch.as_tensor(buggy).detach().cpu(), atol, rtol):
            raise Feedback(hint)
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
