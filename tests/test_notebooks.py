"""Static checks of every chapter notebook: the conventions that nbval alone does not enforce."""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from attnreg.exercises import catalogue
from attnreg.plotting import MIN_FONT_SIZE
from nbval_tolerance import tolerance_of

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]*_*.ipynb"))


def code_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def tags(cell: dict) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def test_there_are_notebooks():
    assert NOTEBOOKS, "no chapter notebooks found in notebooks/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_setup_cell_installs_from_the_configured_repository(path):
    repository = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    expected = f"attnreg @ git+{repository['url']}@{repository['branch']}"
    first = source(code_cells(path)[0])
    assert expected in first, f"the first code cell must install {expected!r}"
    assert 'find_spec("attnreg") is None' in first, "the set-up cell must install only when attnreg is missing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_executed_without_errors(path):
    cells = code_cells(path)
    counts = [c["execution_count"] for c in cells]
    assert None not in counts, "execute the notebook top to bottom (make execute NB=...) before committing"
    assert counts == list(range(1, len(cells) + 1)), "cells were executed out of order"
    for cell in cells:
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors or "raises-exception" in tags(cell), f"a cell raised {errors[0]['ename'] if errors else ''}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_cells_are_short_and_outputs_hold_no_local_paths(path):
    for cell in code_cells(path):
        assert len(source(cell).splitlines()) <= 30, f"cell longer than 30 lines:\n{source(cell)[:200]}"
        outputs = json.dumps(cell["outputs"])
        assert not re.search(r"(?<![\w.])/(?:home|root|work|tmp|Users)/", outputs), "an output shows a local path"


SOLUTION_METADATA = {
    "cellView": "form",  # Colab shows the title, folds the code
    "jupyter": {"source_hidden": True, "outputs_hidden": True},  # JupyterLab, Notebook 7, VS Code
    "mystnb": {"code_prompt_show": "Show solution", "code_prompt_hide": "Hide solution"},  # the book's toggle
}


def defined_names(code: str) -> set[str]:
    """Names that top-level statements of a cell bind (functions, classes, assignments)."""
    names = set()
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_solutions_are_hidden_everywhere_and_never_replace_the_learners_code(path):
    cells = code_cells(path)
    solutions = [i for i, c in enumerate(cells) if source(c).lstrip().startswith("# @title Solution")]
    assert solutions, "each exercise needs a solution cell starting with '# @title Solution'"
    for i in solutions:
        cell = cells[i]
        assert "hide-input" in tags(cell), "solution cells are folded in the book (tag hide-input)"
        for key, value in SOLUTION_METADATA.items():
            assert cell["metadata"].get(key) == value, f"a solution cell needs the metadata {key}: {value}"
        assert re.search(r"assert check_\w+\(.*record=False\)\.passed\s*$", source(cell)), \
            "a solution ends with `assert check_x(solution, record=False).passed` (passes, and is not counted as the learner's)"
        stub = source(cells[i - 1])
        assert re.search(r"\bcheck_\w+\(", stub), "the cell before a solution is the exercise's stub with its check"
        clash = defined_names(source(cell)) & defined_names(stub)
        assert not clash, f"running the solution would overwrite the learner's {sorted(clash)}: give the solution its own names"
        outputs = "".join("".join(o.get("text", "")) for o in cell["outputs"])
        assert "Well done!" in outputs, "the stored solution output shows the checker passing"


def exercise_headings(path: Path) -> list[tuple[str, str]]:
    """(heading, first words of the text below it) for every `### Exercise` heading of a notebook."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    text = "\n\n".join(source(c) for c in cells if c["cell_type"] == "markdown")
    return re.findall(r"^### (Exercise .*)\n\n(\*\*\w+\.\*\*)?", text, flags=re.M)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercise_headings_match_the_catalogue(path):
    registered = [e for e in catalogue() if e.chapter == path.stem]
    found = exercise_headings(path)
    assert [heading for heading, _ in found] == [e.heading for e in registered], \
        "each exercise is headed `### Exercise N: title ★…` exactly as registered with @exercise, in order"
    assert [label for _, label in found] == [f"**{e.kind.capitalize()}.**" for e in registered], \
        "the text under each exercise heading starts with its kind: **Implement.**, **Derive.** or **Predict.**"
    checkers = "".join(source(c) for c in code_cells(path))
    for e in registered:
        assert f"{e.checker}(" in checkers, f"exercise {e.id} is never checked with {e.checker}"


def test_fully_ignored_cells_stay_few():
    # nbval-ignore-output is for timings only (versions and device names are sanitized, measured
    # numbers have a tolerance): 14 = the timing cells of the chapters; do not add more.
    ignored = [(p.name, i) for p in NOTEBOOKS for i, c in enumerate(code_cells(p)) if "nbval-ignore-output" in tags(c)]
    assert len(ignored) <= 14, ignored


# A font size set in code: fontsize=8, labelsize=7.5, size="x-small", ...
FONT_SIZE = re.compile(r"\b(?:fontsize|labelsize|titlesize|size)\s*=\s*(\d+(?:\.\d+)?|[\"'][a-z-]+[\"'])")
NAMED_SIZES = {"xx-small": 0.579, "x-small": 0.694, "small": 0.833, "medium": 1.0, "large": 1.2}  # x font.size


def font_sizes(code: str, base: float = 10.0) -> list[float]:
    """The font sizes (points) that ``code`` sets, named sizes relative to ``base``."""
    sizes = []
    for value in FONT_SIZE.findall(code):
        name = value.strip("\"'")
        if name in NAMED_SIZES:
            sizes.append(NAMED_SIZES[name] * base)
        elif value[0] not in "\"'":
            sizes.append(float(value))
    return sizes


def test_font_size_scan_sees_numbers_and_names():
    assert font_sizes('ax.legend(fontsize=7.5); ax.tick_params(labelsize="x-small")') == pytest.approx([7.5, 6.94])
    assert font_sizes("torch.randn(size=(3, 4)); batch_size=8") == []


@pytest.mark.parametrize("path", [*NOTEBOOKS, *sorted((ROOT / "src" / "attnreg").rglob("*.py"))],
                         ids=lambda p: p.name)
def test_figures_set_no_text_below_the_minimum_size(path):
    # make site-test checks that MIN_FONT_SIZE stays >= 8 px at the column width; smaller text is unreadable.
    code = "\n".join(source(c) for c in code_cells(path)) if path.suffix == ".ipynb" else path.read_text()
    small = [size for size in font_sizes(code) if size < MIN_FONT_SIZE]
    assert not small, f"text smaller than {MIN_FONT_SIZE} points: {small}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_tolerances_are_well_formed_and_only_on_compared_cells(path):
    for cell in code_cells(path):
        tolerance = tolerance_of(cell["metadata"])  # raises on a malformed entry
        if tolerance is not None:
            assert "nbval-ignore-output" not in tags(cell), "a cell is either ignored or compared within a tolerance"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_widget_cells_are_kept_out_of_the_book_and_of_nbval(path):
    for cell in code_cells(path):
        if "interactive_panel(" in source(cell) or "ipywidgets" in source(cell):
            assert {"nbval-ignore-output", "remove-output"} <= tags(cell), \
                "a widget cell needs the tags nbval-ignore-output and remove-output"


def book_only_macros() -> set[str]:
    """The LaTeX macros that _config.yml defines for the online book (Colab does not know them)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    mathjax = config["sphinx"]["config"]["mathjax3_config"]["tex"]
    return set(mathjax.get("macros", {}))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_markdown_uses_no_book_only_macros(path):
    macros = book_only_macros()
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    used = {name for cell in cells if cell["cell_type"] == "markdown"
            for name in re.findall(r"\\([A-Za-z]+)", source(cell)) if name in macros}
    assert not used, f"{path.name} uses macros that only the book defines (Colab shows them raw): {sorted(used)}"


def test_table_of_contents_lists_exactly_the_notebooks():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [chapter["file"] for part in toc["parts"] for chapter in part["chapters"]]
    listed = sorted(f for f in files if f.startswith("notebooks/"))
    assert listed == sorted(f"notebooks/{p.stem}" for p in NOTEBOOKS)
    assert listed == [f for f in files if f.startswith("notebooks/")], "chapters must appear in reading order"
    for name in files:
        assert (ROOT / f"{name}.ipynb").exists() or (ROOT / f"{name}.md").exists(), f"{name} does not exist"


CHAPTERS_WITH_EXERCISES = [p for p in NOTEBOOKS if not p.name.startswith("00_")]


@pytest.mark.parametrize("path", CHAPTERS_WITH_EXERCISES, ids=lambda p: p.name)
def test_each_chapter_has_five_exercises_easy_to_hard_of_all_three_kinds(path):
    registered = sorted((e for e in catalogue() if e.chapter == path.stem), key=lambda e: e.number)
    assert len(registered) >= 5, f"{path.stem} has {len(registered)} exercises, expected at least 5"
    assert [e.number for e in registered] == list(range(1, len(registered) + 1)), "numbered 1..N"
    stars = [e.stars for e in registered]
    assert stars == sorted(stars), f"exercises are ordered easy to hard, got stars {stars}"
    assert 3 in stars, "one ★★★ exercise assembles the chapter's central algorithm"
    kinds = {e.kind for e in registered}
    assert kinds == {"implement", "derive", "predict"}, f"all three kinds are present, got {sorted(kinds)}"
    assert all(len(e.hints) >= 2 for e in registered), "every exercise has at least two hints"
