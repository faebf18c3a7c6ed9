"""Write `book/exercises.md`, the book's list of every exercise, from the checkers' catalogue.

The page is generated, so it cannot drift from the exercises: `tests/test_exercise_page.py` fails
when it is out of date. Run `python scripts/write_exercise_page.py` after changing an exercise.
"""

from __future__ import annotations

import json
import re
from itertools import groupby
from pathlib import Path

from mdit_py_plugins.anchors.index import slugify

from attnreg.exercises import STARS, catalogue

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "book" / "exercises.md"

INTRO = """# Exercises

Every chapter ends with exercises, easy to hard: ★ apply an idea, ★★ implement or derive,
★★★ assemble a chapter's central algorithm or investigate. They come in three kinds:

- **implement**: write a function; the checker runs it on cases you do not see and names the
  mistake it recognises;
- **derive**: work a result out on paper and enter it as a number or a formula; the checker never
  prints the right value, only whether yours is too large or too small, or which slip it matches;
- **predict**: write down what an experiment will show *before* running it; the check compares your
  prediction with what the experiment measured, and explains.

Under each exercise, `check_x(your_answer)` checks it, `check_x.hint()` shows the next hint, and a
hidden solution follows ("Show solution"). Your results are kept on your machine:

```python
from attnreg.exercises import progress
progress()        # every chapter: ✓ passed, ✗ tried, · not tried
progress("06")    # one chapter
```
"""


def chapter_title(stem: str) -> str:
    """The title of a chapter: its notebook's first `# NN. Title` heading, without the number."""
    cells = json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    for cell in cells:
        match = re.search(r"^# (?:\w+\. )?(.+)$", "".join(cell["source"]), flags=re.M)
        if cell["cell_type"] == "markdown" and match:
            return match.group(1).strip()
    raise ValueError(f"notebooks/{stem}.ipynb has no `# NN. Title` heading")


def anchor(heading: str) -> str:
    """The anchor the book gives a heading (MyST's slug of the heading's text)."""
    return slugify(heading.replace("`", ""))


def page() -> str:
    lines = [INTRO]
    for chapter, exercises in groupby(catalogue(), key=lambda e: e.chapter):
        exercises = list(exercises)
        lines += [f"## {chapter.split('_')[0]}. {chapter_title(chapter)}", "",
                  "| | exercise | difficulty | kind | practises |", "| --- | --- | --- | --- | --- |"]
        for e in exercises:
            link = f"[{e.title}](../notebooks/{e.chapter}.ipynb#{anchor(e.heading)})"
            lines.append(f"| {e.id} | {link} | {STARS[e.stars]} | {e.kind} | {e.practises} |")
        lines.append("")
    kinds = {kind: sum(e.kind == kind for e in catalogue()) for kind in ("implement", "derive", "predict")}
    lines.append(f"In all {len(catalogue())} exercises: " + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ".")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    PAGE.write_text(page(), encoding="utf-8")
    print(f"wrote {PAGE.relative_to(ROOT)}: {len(catalogue())} exercises")
