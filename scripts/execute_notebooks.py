"""Execute notebooks top to bottom and store their outputs in place (used by `make execute`).

Each notebook runs in a fresh kernel whose working folder is the notebook's own, as under nbval.
No timing metadata is written, so re-executing an unchanged notebook leaves only real changes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient


def execute(path: Path, timeout: int = 600) -> float:
    """Run every cell of the notebook at ``path``, save it, and return the seconds it took."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3", record_timing=False,
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    nbformat.write(notebook, path)
    return seconds


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python scripts/execute_notebooks.py NOTEBOOK.ipynb [...]")
    for name in sys.argv[1:]:
        print(f"{name}: executed in {execute(Path(name)):.1f} s", flush=True)
