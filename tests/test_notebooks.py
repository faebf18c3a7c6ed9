"""Static checks of every chapter notebook: the conventions that nbval alone does not enforce."""

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_exercises_have_checker_and_hidden_solution(path):
    cells = code_cells(path)
    assert any(re.search(r"\bcheck_\w+\(", source(c)) and "NotImplementedError" in source(c) for c in cells), \
        "the exercises need a stub followed by a checker call"
    solutions = [c for c in cells if source(c).lstrip().startswith("# @title Solution")]
    assert solutions, "each exercise needs a solution cell starting with '# @title Solution'"
    for cell in solutions:
        assert "hide-input" in tags(cell), "solution cells are folded in the book (tag hide-input)"
        assert cell["metadata"].get("cellView") == "form", "solution cells are folded in Colab (cellView: form)"
        assert re.search(r"assert check_\w+\(.*\)\.passed", source(cell)), "a solution must assert that it passes"


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
