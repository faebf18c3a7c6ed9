"""Execute notebooks top to bottom and store their outputs in place (used by `make execute`).

Each notebook runs in a fresh kernel whose working folder is the notebook's own, as under nbval.
No timing metadata is written into the notebook, so re-executing an unchanged notebook leaves only
real changes. The kernel's CPU time (user + system, one thread: what the chapter costs a CPU core,
whatever else the machine is doing) and the wall time go to ``book/_timings.json`` with the
machine's CPU count and device, and the table of ``book/running.md`` is rewritten from it, so the
*Running the chapters* page always shows the latest measurement.

    python scripts/execute_notebooks.py NOTEBOOK.ipynb [...]
    python scripts/execute_notebooks.py --table-only      # rewrite the page from the stored times
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
TIMINGS = ROOT / "book" / "_timings.json"
PAGE = ROOT / "book" / "running.md"
BEGIN, END = "<!-- timings: begin (written by scripts/execute_notebooks.py) -->", "<!-- timings: end -->"


def execute(path: Path, timeout: int = 600) -> tuple[float, float]:
    """Run every cell of the notebook at ``path``, save it, and return (wall, kernel CPU) seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}})
    cpu_seconds = 0.0

    def sample_kernel_cpu(**_: object) -> None:  # after every cell: the kernel's CPU time so far
        nonlocal cpu_seconds
        process = getattr(client.km.provisioner, "process", None)
        if process is not None:
            times = psutil.Process(process.pid).cpu_times()
            cpu_seconds = times.user + times.system + times.children_user + times.children_system

    client.on_cell_executed = sample_kernel_cpu
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(notebook, path)
    return seconds, cpu_seconds


def device_name() -> str:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def full_run(path: Path) -> str:
    """What the chapter's optional larger run (``FULL = True``) does and costs, from its metadata."""
    metadata = nbformat.read(path, as_version=4).metadata.get("attnreg", {})
    return metadata.get("full_run", "no larger run")


def title(path: Path) -> str:
    """The chapter's title: its notebook's first level-1 heading."""
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
    return path.stem


def table(timings: dict[str, dict]) -> str:
    rows = ["| chapter | CPU time | wall time | measured on | with `FULL = True` |", "| --- | --- | --- | --- | --- |"]
    for name in sorted(ROOT.joinpath("notebooks").glob("[0-9][0-9]*_*.ipynb")):
        entry = timings.get(name.name)
        link = f"[{title(name)}](../notebooks/{name.name})"
        if entry is None:
            rows.append(f"| {link} | not measured | | | {full_run(name)} |")
            continue
        machine = f"{entry['cpus']}-core CPU" if entry["device"] == "cpu" else entry["device"].upper()
        cpu = f"{entry['cpu_seconds']:.0f} s" if "cpu_seconds" in entry else "not measured"
        rows.append(f"| {link} | {cpu} | {entry['seconds']:.0f} s | {machine}, {entry['date']} | {full_run(name)} |")
    return "\n".join(rows)


def write_page(timings: dict[str, dict]) -> None:
    text = PAGE.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    PAGE.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table(timings)}\n{END}", text), encoding="utf-8")


def main(argv: list[str]) -> None:
    timings = json.loads(TIMINGS.read_text()) if TIMINGS.exists() else {}
    if argv == ["--table-only"]:
        write_page(timings)
        return
    if not argv:
        sys.exit(__doc__)
    for name in argv:
        path = Path(name)
        seconds, cpu_seconds = execute(path)
        print(f"{name}: executed in {seconds:.1f} s ({cpu_seconds:.1f} s of kernel CPU time)", flush=True)
        timings[path.name] = {"seconds": round(seconds, 1), "cpu_seconds": round(cpu_seconds, 1),
                              "cpus": os.cpu_count(), "device": device_name(), "date": dt.date.today().isoformat()}
        TIMINGS.write_text(json.dumps(timings, indent=1, sort_keys=True) + "\n")
        write_page(timings)


if __name__ == "__main__":
    main(sys.argv[1:])
