"""The tolerance rule for measured notebook cells: unit tests, and nbval run on a tampered notebook."""

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from nbval_tolerance import Tolerance, compare_text, reconcile, split_numbers, tolerance_of

ROOT = Path(__file__).resolve().parents[1]
TOL = Tolerance(atol=0.01, rtol=0.0)


def test_split_numbers_finds_signed_decimals_exponents_nan_and_inf():
    pieces, numbers = split_numbers("acc 0.912, loss -1.5e-03 (+2), nan inf info float32")
    assert numbers == ["0.912", "-1.5e-03", "+2", "nan", "inf", "32"]
    assert pieces == ["acc ", ", loss ", " (", "), ", " ", " info float", ""]


@pytest.mark.parametrize("stored, test", [
    ("accuracy 0.912", "accuracy 0.912"),
    ("accuracy 0.912", "accuracy 0.920"),  # 0.008 <= 0.01
    ("loss -0.004 and 0.000", "loss 0.003 and -0.000"),  # signs are part of the number
    ("value nan", "value nan"),
    ("  9.999 |", " 10.001 |"),  # padding before a number whose width changed
    ("9.995  |", "10.001 |"),  # padding after it
])
def test_numbers_within_the_tolerance_pass(stored, test):
    assert compare_text(stored, test, TOL) == []


@pytest.mark.parametrize("stored, test, reason", [
    ("accuracy 0.912", "accuracy 0.925", "number 1 of the output is 0.925, stored 0.912"),
    ("accuracy 0.912", "acuracy 0.912", "text differs"),
    ("accuracy 0.912", "accuracy 0.912 (best)", "text differs"),
    ("accuracy 0.912", "accuracy 0.912, 0.913", "the output holds 2 numbers, the stored one 1"),
    ("value 1.0", "value nan", "number 1"),
    ("value inf", "value -inf", "number 1"),
    ("a 0.50  b", "a 0.51 b", "text differs"),  # same width: padding is text, compared exactly
    ("x: 1.000", "x:  1.001", "text differs"),
])
def test_numbers_beyond_the_tolerance_and_changed_text_fail(stored, test, reason):
    problems = compare_text(stored, test, TOL)
    assert problems and reason in problems[0]


def test_relative_tolerance_scales_with_the_stored_value():
    tolerance = Tolerance(atol=0.0, rtol=0.01)
    assert compare_text("1000.0 and 0.1000", "1009.0 and 0.1009", tolerance) == []
    assert compare_text("1000.0 and 0.1000", "1000.0 and 0.1011", tolerance)


@pytest.mark.parametrize("metadata, message", [
    ({"tolerance": 0.01}, "must be a dict with 'atol' and 'rtol'"),
    ({"tolerance": {"atol": 0.01}}, "must be a dict with 'atol' and 'rtol'"),
    ({"tolerance": {"atol": -1, "rtol": 0}}, r"tolerance.atol must be a finite number >= 0, got -1"),
    ({"tolerance": {"atol": 0, "rtol": "0.1"}}, r"tolerance.rtol must be a finite number >= 0, got '0.1'"),
    ({"tolerance": {"atol": 0, "rtol": 0}}, "remove it to compare the cell exactly"),
])
def test_malformed_tolerances_are_rejected(metadata, message):
    with pytest.raises(ValueError, match=message):
        tolerance_of(metadata)


def test_tolerance_of_an_exact_cell_is_none():
    assert tolerance_of({"tags": ["hide-input"]}) is None
    assert tolerance_of({"tolerance": {"atol": 0.005, "rtol": 0}}) == Tolerance(0.005, 0.0)


def test_reconcile_replaces_matching_texts_and_explains_the_others():
    stored = [{"output_type": "stream", "name": "stdout", "text": "acc 0.912\n"},
              {"output_type": "execute_result", "data": {"text/plain": "0.5", "image/png": "AAAA"}}]
    test = [{"output_type": "stream", "name": "stdout", "text": "acc 0.915\n"},
            {"output_type": "execute_result", "data": {"text/plain": "0.7", "image/png": "BBBB"}}]
    reconciled, problems = reconcile(test, stored, TOL)
    assert reconciled[0]["text"] == "acc 0.915\n"  # within: the stored text now equals the test text
    assert reconciled[1]["data"]["text/plain"] == "0.5"  # beyond: left for nbval to report
    assert reconciled[1]["data"]["image/png"] == "AAAA"  # images are not text
    assert stored[0]["text"] == "acc 0.912\n"  # the stored outputs themselves are untouched
    assert len(problems) == 1 and problems[0].startswith("output 2 (text/plain): number 1")


def test_reconcile_leaves_outputs_of_another_kind_to_nbval():
    stored = [{"output_type": "stream", "name": "stdout", "text": "acc 0.912\n"}]
    test = [{"output_type": "stream", "name": "stderr", "text": "acc 0.912\n"}]
    reconciled, problems = reconcile(test, stored, TOL)
    assert reconciled == stored and problems == []


# nbval itself, run on a notebook whose stored outputs were tampered with.
CELLS = {  # name: (source, stored output, tolerance metadata or None, expected verdict)
    "measured_within": ('print(f"accuracy {0.9123:.3f}")', "accuracy 0.915\n", 0.005, "passed"),
    "measured_beyond": ('print(f"accuracy {0.9123:.3f}")', "accuracy 0.925\n", 0.005, "failed"),
    "measured_text_changed": ('print(f"accuracy {0.9123:.3f}")', "acuracy 0.912\n", 0.005, "failed"),
    "measured_extra_number": ('print(f"accuracy {0.9123:.3f}")', "accuracy 0.912 0.1\n", 0.005, "failed"),
    "exact_unchanged": ('print(f"{1 / 3:.4f}")', "0.3333\n", None, "passed"),
    "exact_changed": ('print(f"{1 / 3:.4f}")', "0.3334\n", None, "failed"),
    "versions_sanitized": ('print("attnreg 0.1.0, PyTorch 2.13.0+cpu, device: cpu")',
                           "attnreg 9.9.9, PyTorch 3.0.1, device: cuda:0\n", None, "passed"),
}


def tampered_notebook(path: Path) -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    for count, (source, stored, atol, _) in enumerate(CELLS.values(), start=1):
        cell = nbformat.v4.new_code_cell(source, execution_count=count)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=stored)]
        if atol is not None:
            cell.metadata["tolerance"] = {"atol": atol, "rtol": 0.0}
        notebook.cells.append(cell)
    nbformat.write(notebook, path)


def test_nbval_applies_tolerances_and_sanitizing_from_the_repository_conftest(tmp_path):
    # The notebook lies inside the repository, as chapters do, so that a plain `pytest --nbval`
    # picks up conftest.py; no nbval option is passed on the command line.
    folder = ROOT / "tests" / f"_tmp_{tmp_path.name}"
    folder.mkdir()
    try:
        tampered_notebook(folder / "tampered.ipynb")
        report = tmp_path / "report.xml"
        subprocess.run([sys.executable, "-m", "pytest", "--nbval", str(folder / "tampered.ipynb"), "-p", "no:xdist",
                        f"--junitxml={report}", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
        cases = ET.parse(report).getroot().iter("testcase")
        verdicts = {case.get("name"): "failed" if case.find("failure") is not None else "passed" for case in cases}
    finally:
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    expected = {f"Cell {i}": verdict for i, (*_, verdict) in enumerate(CELLS.values())}
    names = {f"Cell {i}": name for i, name in enumerate(CELLS)}
    assert verdicts == expected, {names[k]: v for k, v in verdicts.items() if expected.get(k) != v}
