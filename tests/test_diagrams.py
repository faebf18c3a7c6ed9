import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from attnreg.diagrams import DIAGRAMS, diagram_source, show_diagram

FOLDER = Path(__file__).resolve().parents[1] / "src" / "attnreg" / "diagrams"
SVG_NS = "{http://www.w3.org/2000/svg}"


def test_every_svg_file_is_listed_and_every_listed_diagram_has_a_file():
    assert sorted(p.stem for p in FOLDER.glob("*.svg")) == sorted(DIAGRAMS)


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_diagram_is_valid_svg_with_a_title_and_a_description(name):
    root = ET.fromstring(diagram_source(name))
    assert root.tag == f"{SVG_NS}svg"
    assert root.find(f"{SVG_NS}title").text.strip()
    assert len(root.find(f"{SVG_NS}desc").text.split()) >= 20  # read out by screen readers
    assert float(root.get("width")) <= 800  # fits the book's column at full size


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_show_diagram_displays_the_file(name):
    shown = show_diagram(name).data  # IPython re-serialises the <svg> element: compare the XML
    stored = (FOLDER / f"{name}.svg").read_text(encoding="utf-8")
    assert ET.canonicalize(shown, strip_text=True) == ET.canonicalize(stored, strip_text=True)


def test_unknown_diagram_names_the_choices():
    with pytest.raises(ValueError, match=r"name must be one of \['encoder_decoder_attention', 'transformer_block'\], got 'decoder'"):
        show_diagram("decoder")
