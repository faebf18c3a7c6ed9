"""Checker for the exercise of chapter 00: classification accuracy from logits."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._framework import CheckResult, Feedback, clone_args, expect_close, run_check
from ._registry import exercise


def _reference_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> float:
    return (logits.argmax(dim=-1) == targets).float().mean().item()


@exercise(chapter="00_getting_started", number=1, title="accuracy", stars=1, kind="implement",
          practises="arg-max over the right axis, booleans to a fraction, tensors to Python numbers",
          hints=["The predicted class of a row is the index of its largest logit: `logits.argmax(dim=-1)`; "
                 "dim=-1 is the class axis, dim=0 would be the batch.",
                 "Compare the predictions with the targets (`==` gives booleans), turn them into floats, take "
                 "the mean, and return a Python float with `.item()`."])
def check_accuracy(accuracy: Callable[[torch.Tensor, torch.Tensor], float], verbose: bool = True) -> CheckResult:
    """Check ``accuracy(logits, targets) -> float``: the fraction of rows whose arg-max is the target."""
    # As many classes as examples, so that an arg-max over the wrong axis still runs. Row-wise
    # arg-maxes are [0, 1, 2, 3], column-wise [0, 1, 2, 0]: accuracy 0.75, but 1.0 along dim=0.
    square = torch.tensor([[5.0, 0.0, 0.0, 4.0],
                           [0.0, 5.0, 4.0, 0.0],
                           [4.0, 0.0, 5.0, 0.0],
                           [0.0, 0.0, 0.0, 1.0]])
    square_targets = torch.tensor([0, 1, 2, 0])
    wide = torch.randn(10, 5, generator=torch.Generator().manual_seed(0))
    wide_targets = wide.argmax(dim=-1)
    wide_targets[:3] = (wide_targets[:3] + 1) % 5  # three wrong predictions: accuracy 0.7

    def case_on(logits: torch.Tensor, targets: torch.Tensor) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            expected = _reference_accuracy(logits, targets)
            correct = int((logits.argmax(dim=-1) == targets).sum())
            known_bugs = {}
            if len(targets) > 1:  # with one example these bugs can give the right number by chance
                known_bugs = {
                    f"you returned the number of correct predictions ({correct}); divide by the batch size": correct,
                    f"you returned a percentage ({100 * expected:g}); return a fraction in [0, 1]": 100 * expected,
                    "you counted the wrong predictions: that is the error rate, 1 - accuracy": 1 - expected,
                }
            if logits.shape[0] == logits.shape[1]:
                known_bugs["take the arg-max over the classes (dim=-1), not over the batch (dim=0)"] = (
                    _reference_accuracy(logits.T, targets))
            expect_close(fn(*clone_args(logits, targets)), expected, what="accuracy", known_bugs=known_bugs)
        return run

    def returns_float(fn: Callable) -> None:
        value = fn(*clone_args(wide, wide_targets))
        if isinstance(value, torch.Tensor):
            raise Feedback("accuracy is a tensor; return a Python float (use .item())")
        if not isinstance(value, float):
            raise Feedback(f"accuracy must be a Python float, got {type(value).__name__}")

    cases = [
        ("4 examples, 4 classes", case_on(square, square_targets)),
        ("10 examples, 5 classes", case_on(wide, wide_targets)),
        ("one example", case_on(wide[:1], wide_targets[:1])),
        ("the result is a Python float", returns_float),
    ]
    return run_check("check_accuracy", accuracy, cases, verbose)
