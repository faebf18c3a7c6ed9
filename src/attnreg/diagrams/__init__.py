"""The course's diagrams, drawn as SVG files that ship with the package.

``show_diagram("transformer_block")`` displays one in a notebook (Jupyter, Colab and the book
alike: the SVG is stored in the cell's output, no path to resolve).
"""

from __future__ import annotations

from importlib import resources

from IPython.display import SVG

#: Diagram name -> what it shows.
DIAGRAMS = {
    "encoder_decoder_attention": "one decoder step of chapter 01's GRU encoder-decoder with attention",
    "transformer_block": "a Transformer encoder block, post-norm and pre-norm",
}


def diagram_source(name: str) -> str:
    """The SVG text of the diagram ``name`` (one of :data:`DIAGRAMS`)."""
    if name not in DIAGRAMS:
        raise ValueError(f"name must be one of {sorted(DIAGRAMS)}, got {name!r}")
    return resources.files(__package__).joinpath(f"{name}.svg").read_text(encoding="utf-8")


def show_diagram(name: str) -> SVG:
    """Display the diagram ``name`` (one of :data:`DIAGRAMS`) as the value of a notebook cell."""
    return SVG(diagram_source(name))
