"""Numeric tolerance for nbval: measured outputs are compared number by number, the rest exactly.

nbval compares every output of a re-executed notebook with the stored one, character for
character. That is right for *exact* outputs (closed forms, float64 solvers, counts, messages) and
wrong for *measured* ones (anything downstream of float32 training, sampling or device kernels):
another CPU's vector width, another GEMM kernel or a GPU adds in another order, and training
amplifies the last bit. A code cell is measured when its metadata states a tolerance::

    "metadata": {"tolerance": {"atol": 0.005, "rtol": 0.0, "measured_abs": 0.0012, ...}}

Then every number in its outputs may differ from the stored one by ``atol + rtol * |stored|``;
the text around the numbers, the count of numbers, the number of outputs and their kinds are
still compared exactly (only the padding next to a number whose printed width changed may
differ). Cells without a ``tolerance`` are compared exactly, as by nbval alone.

``install()`` wraps nbval's comparison; the repository's ``conftest.py`` calls it, so ``make test``
and a plain ``pytest --nbval notebooks/`` apply the same rule. ``scripts/measure_tolerances.py``
measures the spread of each cell under perturbed numerics and writes the tolerances.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

#: Signed decimal numbers (with an optional exponent), and nan / inf as Python and PyTorch print them.
NUMBER = re.compile(r"(?<![\w.])[-+]?(?:nan|inf)(?![\w])|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")

#: The metadata key of a measured cell.
KEY = "tolerance"


@dataclass(frozen=True)
class Tolerance:
    """``|test - stored| <= atol + rtol * |stored|`` for every number of a measured cell."""

    atol: float
    rtol: float

    def allows(self, stored: float, test: float) -> bool:
        if math.isnan(stored) or math.isnan(test):
            return math.isnan(stored) and math.isnan(test)
        if math.isinf(stored) or math.isinf(test):
            return stored == test
        return abs(test - stored) <= self.atol + self.rtol * abs(stored)

    def __str__(self) -> str:
        return f"atol {self.atol:g} + rtol {self.rtol:g} x |stored|"


def tolerance_of(metadata: dict[str, Any]) -> Tolerance | None:
    """The tolerance a cell's metadata states, or None for an exact cell; malformed entries raise."""
    entry = metadata.get(KEY)
    if entry is None:
        return None
    if not isinstance(entry, dict) or not {"atol", "rtol"} <= set(entry):
        raise ValueError(f"cell metadata {KEY!r} must be a dict with 'atol' and 'rtol', got {entry!r}")
    atol, rtol = entry["atol"], entry["rtol"]
    for name, value in (("atol", atol), ("rtol", rtol)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ValueError(f"cell metadata {KEY}.{name} must be a finite number >= 0, got {value!r}")
    if atol == 0 and rtol == 0:
        raise ValueError(f"cell metadata {KEY!r} states atol = rtol = 0: remove it to compare the cell exactly")
    return Tolerance(float(atol), float(rtol))


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """Split ``text`` into its numbers and the ``len(numbers) + 1`` pieces of text around them."""
    pieces, numbers, start = [], [], 0
    for match in NUMBER.finditer(text):
        pieces.append(text[start:match.start()])
        numbers.append(match.group())
        start = match.end()
    pieces.append(text[start:])
    return pieces, numbers


def _same_text(stored: str, test: str, left_width_changed: bool, right_width_changed: bool) -> bool:
    """Text pieces are equal, but for padding beside a number whose printed width changed."""
    if stored == test:
        return True
    if left_width_changed:
        stored, test = stored.lstrip(" "), test.lstrip(" ")
    if right_width_changed:
        stored, test = stored.rstrip(" "), test.rstrip(" ")
    return stored == test


def compare_text(stored: str, test: str, tolerance: Tolerance) -> list[str]:
    """Why ``test`` does not match ``stored`` within ``tolerance`` (an empty list when it does)."""
    if stored == test:
        return []
    stored_pieces, stored_numbers = split_numbers(stored)
    test_pieces, test_numbers = split_numbers(test)
    if len(stored_numbers) != len(test_numbers):
        return [f"the output holds {len(test_numbers)} numbers, the stored one {len(stored_numbers)}"]
    widths_changed = [len(a) != len(b) for a, b in zip(stored_numbers, test_numbers)]
    problems = []
    for i, (a, b) in enumerate(zip(stored_pieces, test_pieces)):
        left = i > 0 and widths_changed[i - 1]
        right = i < len(widths_changed) and widths_changed[i]
        if not _same_text(a, b, left, right):
            problems.append(f"text differs: stored {a!r}, now {b!r} (text is compared exactly)")
    for i, (a, b) in enumerate(zip(stored_numbers, test_numbers)):
        if not tolerance.allows(float(a), float(b)):
            problems.append(f"number {i + 1} of the output is {b}, stored {a}: differs by "
                            f"{abs(float(b) - float(a)):.3g}, beyond {tolerance}")
    return problems


def _text_fields(output: dict[str, Any]) -> Iterator[tuple[dict[str, Any], str]]:
    """(container, key) of every text field nbval compares in one output."""
    if output.get("output_type") == "stream":
        yield output, "text"
    for mime, value in output.get("data", {}).items():
        if isinstance(value, str) and not mime.startswith("image/"):
            yield output["data"], mime


def reconcile(test: list[dict[str, Any]], stored: list[dict[str, Any]], tolerance: Tolerance,
              sanitize: Callable[[str], str] = lambda s: s) -> tuple[list[dict[str, Any]], list[str]]:
    """A copy of ``stored`` in which every text that matches ``test`` within ``tolerance`` is
    replaced by the test text, so that nbval's exact comparison then passes; and the reasons for
    every text that does not match. Outputs are paired in order; pairs of different kinds, and
    outputs without a partner, are left to nbval's own comparison (which then fails).
    """
    stored = copy.deepcopy(stored)
    problems = []
    for index, (new, old) in enumerate(zip(test, stored)):
        if new.get("output_type") != old.get("output_type") or new.get("name") != old.get("name"):
            continue
        new_fields = dict((key, container[key]) for container, key in _text_fields(new))
        for container, key in _text_fields(old):
            if key not in new_fields or not isinstance(container[key], str):
                continue
            reasons = compare_text(sanitize(container[key]), sanitize(new_fields[key]), tolerance)
            if reasons:
                problems += [f"output {index + 1} ({key}): {reason}" for reason in reasons]
            else:
                container[key] = new_fields[key]
    return stored, problems


def install() -> None:
    """Make nbval compare the outputs of cells with a ``tolerance`` entry within that tolerance."""
    from nbval.plugin import IPyNbCell

    if getattr(IPyNbCell.compare_outputs, "with_tolerance", False):
        return
    exact_comparison = IPyNbCell.compare_outputs

    def compare_outputs(self: Any, test: list, ref: list, skip_compare: Iterable[str] | None = None) -> bool:
        tolerance = tolerance_of(self.cell.metadata)
        if tolerance is None:
            return exact_comparison(self, test, ref, skip_compare)
        ref, problems = reconcile(test, ref, tolerance, self.sanitize)
        if exact_comparison(self, test, ref, skip_compare):
            return True
        self.comparison_traceback.append(f"measured cell, compared within {tolerance}:")
        self.comparison_traceback.extend(f"  {problem}" for problem in problems)
        return False

    compare_outputs.with_tolerance = True  # type: ignore[attr-defined]
    IPyNbCell.compare_outputs = compare_outputs
