"""Measure how far each cell's printed numbers move under perturbed numerics; set the tolerances.

Each notebook is executed (in memory; the file is not touched unless --write) once per perturbed
environment below, two kernels at a time, and every code cell's outputs are compared with the
stored ones number by number (text compared exactly, as nbval does with tests/nbval_tolerance.py).
For each cell the script reports the largest absolute and relative change of a number, and the
tolerance it proposes: a margin (3x) over the measured spread, rounded up to 1, 2 or 5 x 10^k,
as `atol` when the cell's moved numbers are of one magnitude, as `rtol` when they span more than
a factor 100. Cells whose numbers did not move stay exact. With --write the proposals are stored
in the cells' metadata (`tolerance`), keeping an existing tolerance that already covers the
margin. Cells whose *text* changed, or that raised, are reported: no tolerance can fix them.

    python scripts/measure_tolerances.py notebooks/06_dropout.ipynb [--write] [--env NAME ...]

The environments (added to the one `make execute` stores outputs with: one thread, no progress bars):
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbval.plugin import coalesce_streams

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from nbval_tolerance import KEY, Tolerance, _text_fields, compare_text, split_numbers, tolerance_of  # noqa: E402

BASE = {"ATTNREG_QUIET": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
ENVIRONMENTS: dict[str, dict[str, str]] = {
    "aten-default": {"ATEN_CPU_CAPABILITY": "default"},  # no SIMD in ATen's own kernels
    "mkl-compatible": {"MKL_CBWR": "COMPATIBLE"},  # MKL's conditional bitwise reproducibility path
    "two-threads": {"OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},  # other reduction splits
    "all-three": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                  "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"},
}
__doc__ += "".join(f"\n    {name}: {env}" for name, env in ENVIRONMENTS.items())
MARGIN = 3.0


@dataclass
class CellSpread:
    """How one cell's outputs moved across the environments."""

    index: int
    max_abs: float = 0.0
    max_rel: float = 0.0
    moved: list[tuple[float, float]] = field(default_factory=list)  # (stored, |change|) of moved numbers
    problems: list[str] = field(default_factory=list)

    def propose(self) -> Tolerance | None:
        if not self.moved:
            return None
        magnitudes = [abs(stored) for stored, _ in self.moved if stored != 0]
        spans_decades = magnitudes and max(magnitudes) > 100 * min(magnitudes)
        if not spans_decades:
            return Tolerance(nice_ceil(MARGIN * self.max_abs), 0.0)
        at_zero = [change for stored, change in self.moved if stored == 0]
        return Tolerance(nice_ceil(MARGIN * max(at_zero)) if at_zero else 0.0, nice_ceil(MARGIN * self.max_rel))


def nice_ceil(x: float) -> float:
    """The smallest of 1, 2, 5 x 10^k that is >= x."""
    exponent = math.floor(math.log10(x))
    for step in (1, 2, 5, 10):
        if x <= step * 10**exponent * (1 + 1e-12):
            return float(f"{step * 10**exponent:.1g}")
    raise AssertionError("unreachable")


def execute(path: Path, env_name: str, timeout: int) -> nbformat.NotebookNode:
    notebook = nbformat.read(path, as_version=4)
    env = {**os.environ, **BASE, **ENVIRONMENTS[env_name]}
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", allow_errors=True,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # no TCP warning per kernel
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute(env=env)
    return notebook


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def compare_cell(spread: CellSpread, stored: list, test: list, env_name: str) -> None:
    stored, test = coalesce_streams(copy.deepcopy(stored)), coalesce_streams(copy.deepcopy(test))  # it merges in place
    errors = [o for o in test if o.get("output_type") == "error"]
    if errors and not any(o.get("output_type") == "error" for o in stored):
        spread.problems.append(f"{env_name}: raised {errors[0].get('ename')}: {errors[0].get('evalue')}")
        return
    if [(o.get("output_type"), o.get("name")) for o in stored] != [(o.get("output_type"), o.get("name")) for o in test]:
        spread.problems.append(f"{env_name}: the outputs differ in number or kind")
        return
    everything = Tolerance(math.inf, 0.0)
    for old, new in zip(stored, test):
        new_fields = {key: container[key] for container, key in _text_fields(new)}
        for container, key in _text_fields(old):
            a, b = container[key], new_fields.get(key)
            if not isinstance(b, str) or a == b:
                continue
            text_problems = [p for p in compare_text(a, b, everything) if not p.startswith("number")]
            if text_problems:
                spread.problems.append(f"{env_name}: {key}: {text_problems[0]}")
                continue
            for x, y in zip(split_numbers(a)[1], split_numbers(b)[1]):
                x, y = float(x), float(y)
                if x != y and not (math.isnan(x) and math.isnan(y)):
                    change = abs(y - x)
                    spread.moved.append((x, change))
                    spread.max_abs = max(spread.max_abs, change)
                    if x != 0:
                        spread.max_rel = max(spread.max_rel, change / abs(x))


def measure(path: Path, env_names: list[str], write: bool, timeout: int) -> bool:
    """Report (and with ``write`` store) the tolerances of one notebook; False if a cell cannot be fixed."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = dict(zip(env_names, pool.map(lambda name: execute(path, name, timeout), env_names)))
    stored_notebook = nbformat.read(path, as_version=4)
    stored_cells = code_cells(stored_notebook)
    spreads = [CellSpread(i) for i in range(len(stored_cells))]
    for env_name, run in runs.items():
        for spread, old, new in zip(spreads, stored_cells, code_cells(run)):
            if "nbval-ignore-output" not in old.metadata.get("tags", []):
                compare_cell(spread, old.outputs, new.outputs, env_name)
    ok = True
    print(f"{path}: {len(env_names)} environments ({', '.join(env_names)})")
    for spread, cell in zip(spreads, stored_cells):
        existing = tolerance_of(cell.metadata)
        proposal = spread.propose()
        if spread.problems:
            ok = False
            print(f"  Cell {spread.index}: CANNOT BE COMPARED WITHIN A TOLERANCE")
            for problem in dict.fromkeys(spread.problems):
                print(f"      {problem}")
        if proposal is None:
            if existing is not None:
                print(f"  Cell {spread.index}: did not move here; keeps its tolerance ({existing})")
            continue
        covered = existing is not None and all(existing.allows(x, x + MARGIN * change) for x, change in spread.moved)
        chosen = existing if covered else proposal
        print(f"  Cell {spread.index}: {len(spread.moved)} number changes, largest {spread.max_abs:.3g} "
              f"(relative {spread.max_rel:.3g}) -> {chosen}" + (" (existing)" if covered else ""))
        if write and not spread.problems:
            before = cell.metadata.get(KEY, {})
            cell.metadata[KEY] = {"atol": chosen.atol, "rtol": chosen.rtol,
                                  "measured_abs": max(float(f"{spread.max_abs:.3g}"), before.get("measured_abs", 0)),
                                  "measured_rel": max(float(f"{spread.max_rel:.3g}"), before.get("measured_rel", 0))}
    if write:
        nbformat.write(stored_notebook, path)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--write", action="store_true", help="store the tolerances in the cells' metadata")
    parser.add_argument("--env", action="append", choices=sorted(ENVIRONMENTS), help="environments (default: all)")
    parser.add_argument("--timeout", type=int, default=1200,
                        help="seconds one cell may run (default 1200; raise it on a busy machine)")
    args = parser.parse_args()
    ok = [measure(path, args.env or list(ENVIRONMENTS), args.write, args.timeout) for path in args.notebooks]
    return 0 if all(ok) else 1


if __name__ == "__main__":
    sys.exit(main())
