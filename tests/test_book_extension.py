"""The book's Sphinx extension (_ext/attnreg_book.py): what it removes and shrinks in the built site."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "_ext"))
import attnreg_book  # noqa: E402


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "_static" / "scripts").mkdir(parents=True)
    (tmp_path / "_images").mkdir()
    (tmp_path / "page.html").write_text(
        '<head>\n  <script defer src="_static/scripts/fontawesome.js?digest=1"></script>\n</head>\n'
        '<body><i class="fa-solid fa-bars"></i></body>\n', encoding="utf-8")
    (tmp_path / "_static" / "scripts" / "fontawesome.js").write_text("// 1.5 MB", encoding="utf-8")
    (tmp_path / "_static" / "scripts" / "theme.js").write_text('icon.className = "fa-sun";', encoding="utf-8")
    (tmp_path / "_static" / "theme.css").write_text(
        '.fa-bars:before,.fa-navicon:before{content:"\\f0c9"}.fa-sun:before{content:"\\f185"}'
        '.fa-moon:before{content:"\\f186"}', encoding="utf-8")
    return tmp_path


def test_fontawesome_script_is_removed_from_pages_and_site(site):
    attnreg_book.drop_fontawesome_js(site)
    assert "fontawesome.js" not in (site / "page.html").read_text(encoding="utf-8")
    assert "<i class" in (site / "page.html").read_text(encoding="utf-8")
    assert not (site / "_static" / "scripts" / "fontawesome.js").exists()


def test_icon_codepoints_are_those_the_pages_and_scripts_name(site):
    assert attnreg_book.icon_codepoints(site) == {0xF0C9, 0xF185}  # fa-moon is named nowhere


def figure(path: Path, alpha: int = 255) -> None:
    """A figure-like image: 40 colours scattered over a white background."""
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, size=(40, 3), dtype=np.uint8)
    pixels = np.full((120, 200, 4), 255, dtype=np.uint8)
    pixels[:, :, 3] = alpha
    pixels[40:80, :, :3] = colours[rng.integers(0, 40, size=(40, 200))]
    Image.fromarray(pixels, "RGBA").save(path, dpi=(100, 100))


def test_opaque_figures_get_a_palette_and_keep_their_resolution(site):
    path = site / "_images" / "plot.png"
    figure(path)
    before = np.asarray(Image.open(path).convert("RGB")).astype(int)
    attnreg_book.palette_images(site)
    image = Image.open(path)
    assert image.mode == "P" and round(image.info["dpi"][0]) == 100
    assert np.array_equal(np.asarray(image.convert("RGB")), before)  # 41 colours fit a palette exactly


def test_transparent_figures_are_left_alone(site):
    path = site / "_images" / "overlay.png"
    figure(path, alpha=128)
    stored = path.read_bytes()
    attnreg_book.palette_images(site)
    assert path.read_bytes() == stored
