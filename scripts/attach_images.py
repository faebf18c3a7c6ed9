"""Embed the course's diagrams (``book/images/*.svg``) into the notebooks that show them.

A markdown cell shows a diagram as ``![what it shows](attachment:transformer_block.svg)``; the
image travels inside the notebook as a cell attachment, so it displays in Jupyter, Colab and the
book alike, with no path to resolve. The SVG files stay the sources: run this script after editing
one (a test checks that every attachment equals its file).

    python scripts/attach_images.py notebooks/*.ipynb
"""

from __future__ import annotations

import base64
import re
import sys
from pathlib import Path

import nbformat

IMAGES = Path(__file__).resolve().parent.parent / "book" / "images"
REFERENCE = re.compile(r"\(attachment:([\w.-]+\.svg)\)")


def attach(path: Path) -> int:
    """Refresh the attachments of every markdown cell of ``path``; return how many it holds."""
    notebook = nbformat.read(path, as_version=4)
    count = 0
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        names = REFERENCE.findall(cell.source)
        if names:
            cell["attachments"] = {name: {"image/svg+xml": base64.b64encode((IMAGES / name).read_bytes()).decode()}
                                   for name in names}
            count += len(names)
        else:
            cell.pop("attachments", None)
    nbformat.write(notebook, path)
    return count


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"{name}: {attach(Path(name))} diagram(s) attached")
