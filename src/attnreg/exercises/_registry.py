"""The catalogue of exercises, their hints, and the learner's progress.

Every checker is registered with :func:`exercise`, which records the chapter, number, title,
difficulty (★ apply, ★★ implement or derive, ★★★ assemble or investigate), kind (implement,
derive, predict), what it practises and its hints. The registered checker gains

- ``check_x.hint()``: the next hint, one at a time;
- ``check_x.exercise``: its :class:`Exercise` entry;
- a keyword ``record`` (default True): a check of an attempted answer is stored in the learner's
  progress file; solution cells pass ``record=False`` so that "Run all" counts for nothing.

:func:`progress` shows which exercises this learner has passed. The file lives in the data cache
folder (``$ATTNREG_DATA``, else ``~/.cache/attnreg``), never in the repository.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from ._framework import CheckResult

KINDS = ("implement", "derive", "predict")
STARS = {1: "★", 2: "★★", 3: "★★★"}
Checker = TypeVar("Checker", bound=Callable[..., CheckResult])


@dataclass(frozen=True)
class Exercise:
    """One exercise of the course, as its chapter's heading ``Exercise N: title ★★`` shows it."""

    chapter: str  # the notebook's stem, e.g. "06_dropout"
    number: int
    title: str
    stars: int
    kind: str
    practises: str
    hints: tuple[str, ...]
    checker: str

    @property
    def id(self) -> str:
        """``06.1`` for exercise 1 of chapter ``06_dropout``."""
        return f"{self.chapter.split('_')[0]}.{self.number}"

    @property
    def heading(self) -> str:
        """The markdown heading of the exercise in its chapter (without the leading hashes)."""
        return f"Exercise {self.number}: {self.title} {STARS[self.stars]}"


_EXERCISES: dict[str, Exercise] = {}  # by checker name
_HINTS_SHOWN: dict[str, int] = {}


def exercise(*, chapter: str, number: int, title: str, stars: int, kind: str, practises: str,
             hints: list[str] | tuple[str, ...]) -> Callable[[Checker], Checker]:
    """Register a checker as the check of one exercise (see the module docstring)."""
    if not re.fullmatch(r"\d\d[a-z]?_\w+", chapter):
        raise ValueError(f"chapter must be a notebook stem such as '06_dropout', got {chapter!r}")
    if stars not in STARS:
        raise ValueError(f"stars must be 1, 2 or 3, got {stars!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not hints:
        raise ValueError(f"exercise {chapter} {number} needs at least one hint, got none")

    def decorate(check: Checker) -> Checker:
        info = Exercise(chapter, number, title, stars, kind, practises, tuple(hints), check.__name__)
        clash = [e for e in _EXERCISES.values() if e.id == info.id and e.checker != info.checker]
        if clash:
            raise ValueError(f"exercise {info.id} is registered twice: {clash[0].checker} and {info.checker}")
        same_name = _EXERCISES.get(info.checker)
        if same_name is not None and same_name.id != info.id:
            raise ValueError(f"checker name {info.checker} is registered twice: exercises {same_name.id} and {info.id}")

        @functools.wraps(check)
        def checked(*args: Any, record: bool = True, **kwargs: Any) -> CheckResult:
            result = check(*args, **kwargs)
            if record and result.implemented:
                _record(info, result.passed)
            return result

        checked.exercise = info  # type: ignore[attr-defined]
        checked.hint = functools.partial(hint, info.checker)  # type: ignore[attr-defined]
        _EXERCISES[info.checker] = info
        return checked  # type: ignore[return-value]

    return decorate


def catalogue() -> list[Exercise]:
    """Every registered exercise, in reading order."""
    return sorted(_EXERCISES.values(), key=lambda e: (e.chapter, e.number))


def _find(which: str | Callable[..., Any]) -> Exercise:
    name = getattr(which, "__name__", which)
    for info in _EXERCISES.values():
        if name in (info.checker, info.id):
            return info
    raise ValueError(f"which must be a checker such as check_dropout or an exercise id such as '06.1', got {which!r}")


def hint(which: str | Callable[..., Any]) -> None:
    """Print the next hint of an exercise (given by its checker or its id), one per call."""
    info = _find(which)
    shown = _HINTS_SHOWN.get(info.checker, 0)
    if shown >= len(info.hints):
        print(f"No more hints for exercise {info.id}: the solution is in the hidden cell below the exercise "
              "(\"Show solution\").")
        return
    _HINTS_SHOWN[info.checker] = shown + 1
    print(f"Hint {shown + 1} of {len(info.hints)} (exercise {info.id}): {info.hints[shown]}")


def progress_file() -> Path:
    """Where the learner's progress is kept: ``progress.json`` in the data cache folder."""
    from ..data.mnist import data_root

    return data_root() / "progress.json"


def _load() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(progress_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    exercises = data.get("exercises", {}) if isinstance(data, dict) else {}
    return exercises if isinstance(exercises, dict) else {}


def _record(info: Exercise, passed: bool) -> None:
    """Add one attempt to the progress file; a machine where it cannot be written keeps none."""
    records = _load()
    entry = records.setdefault(info.id, {"passed": False, "attempts": 0})
    entry["attempts"] = int(entry.get("attempts", 0)) + 1
    entry["last_attempt"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    if passed and not entry.get("passed"):
        entry["passed"], entry["passed_at"] = True, entry["last_attempt"]
    path = progress_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as f:
            json.dump({"version": 1, "exercises": records}, f, indent=1, sort_keys=True)
        os.replace(f.name, path)
    except OSError:
        pass


@dataclass(frozen=True)
class Progress:
    """The learner's exercises: passed, tried and not yet passed, or not tried."""

    passed: tuple[str, ...]
    tried: tuple[str, ...]
    total: int

    def _ipython_display_(self) -> None:
        """Show nothing as a cell's last value: :func:`progress` printed the table already."""


def progress(chapter: str | None = None, verbose: bool = True) -> Progress:
    """Print, chapter by chapter, which exercises this learner has passed (✓), tried (✗) or not (·).

    ``chapter`` ("06", or "06_dropout") limits the table to one chapter.
    """
    records = _load()
    rows = [e for e in catalogue() if chapter is None or e.chapter == chapter or e.chapter.split("_")[0] == chapter]
    if not rows:
        raise ValueError(f"chapter must be a chapter with exercises such as '06', got {chapter!r}")
    passed = tuple(e.id for e in rows if records.get(e.id, {}).get("passed"))
    tried = tuple(e.id for e in rows if e.id in records and e.id not in passed)
    if verbose:
        current = None
        for e in rows:
            if e.chapter != current:
                current = e.chapter
                print(f"chapter {e.chapter}")
            mark = "✓" if e.id in passed else "✗" if e.id in tried else "·"
            print(f"  {mark} {e.id:<6} {STARS[e.stars]:<3} {e.kind:<9} {e.title}")
        print(f"{len(passed)} of {len(rows)} exercises passed, {len(tried)} tried and not passed yet.")
    return Progress(passed, tried, len(rows))
