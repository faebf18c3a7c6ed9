"""Sphinx extension for the course book: removes scripts that a static, offline book must not load.

- sphinx-thebe's inline configuration is registered twice by Jupyter Book (a page error,
  "Identifier 'THEBE_JS_URL' has already been declared") and the book offers no Thebe launch
  button, so its scripts are dropped;
- any other inline script added twice is kept once;
- the colour mode defaults to "auto" on a reader's first visit (without it the theme reads an
  empty mode from the browser's storage and logs "Got invalid theme mode");
- every page links the book's icon (the theme writes no icon link, and a browser's request for
  ``/favicon.ico`` would fail);
- Font Awesome's JavaScript (1.5 MB, 0.54 MB compressed, loaded by every page "so that users can
  add custom icons") is removed from the pages and the site: the book adds no icon of its own,
  and the theme's icons come from its style sheet and web fonts;
- those web fonts (274 kB for the two a page loads) are cut down to the icons the site uses;
- the figures are stored as 256-colour PNGs (a third of the size; plots hold few colours, and the
  largest change of a pixel channel measured on the book's figures is 46 of 255, in anti-aliased
  edges).

Together these keep every chapter page under 1 MB as a web server sends it (``make site-test``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pydata_sphinx_theme
from fontTools import subset
from PIL import Image
from sphinx.application import Sphinx

FONTAWESOME_JS = "_static/scripts/fontawesome.js"
FONTAWESOME_TAG = re.compile(r'[ \t]*<script defer src="[^"]*scripts/fontawesome\.js[^"]*"></script>\n?')
WEBFONTS = "vendor/fontawesome/webfonts"  # under the theme's static folder and the site's _static
THEME_STATIC = Path(pydata_sphinx_theme.__file__).parent / "theme" / "pydata_sphinx_theme" / "static"
ICON_CLASS = re.compile(r"\bfa-[a-z0-9-]+")
ICON_RULE = re.compile(r'((?:\.fa-[a-z0-9-]+:(?:before|after),?)+)\{content:"\\([0-9a-f]+)"\}')


def _is_thebe(script: Any) -> bool:
    filename = getattr(script, "filename", "") or ""
    body = (getattr(script, "attributes", {}) or {}).get("body", "")
    return "sphinx-thebe" in filename or "THEBE_JS_URL" in body


def _script_key(script: Any) -> tuple:
    attributes = getattr(script, "attributes", {}) or {}
    return (getattr(script, "filename", str(script)), tuple(sorted((k, str(v)) for k, v in attributes.items())))


def clean_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    seen: set[tuple] = set()
    kept = []
    for script in context.get("script_files", []):
        key = _script_key(script)
        if _is_thebe(script) or key in seen:
            continue
        seen.add(key)
        kept.append(script)
    context["script_files"] = kept
    context.setdefault("default_mode", "auto")
    icon = context["pathto"]("_static/favicon.svg", 1)
    context["metatags"] = context.get("metatags", "") + f'\n<link rel="icon" type="image/svg+xml" href="{icon}">'


def drop_fontawesome_js(out: Path) -> None:
    """Remove Font Awesome's script from every page and from the site."""
    for page in out.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        if "fontawesome.js" in text:
            page.write_text(FONTAWESOME_TAG.sub("", text), encoding="utf-8")
    for path in out.glob(FONTAWESOME_JS + "*"):  # the script, its licence and source map
        path.unlink()


def icon_codepoints(out: Path) -> set[int]:
    """The code points of every Font Awesome icon named in the site's pages and scripts."""
    names = set()
    for path in [*out.rglob("*.html"), *(out / "_static").rglob("*.js")]:
        names |= set(ICON_CLASS.findall(path.read_text(encoding="utf-8", errors="ignore")))
    codepoints = set()
    for css in (out / "_static").rglob("*.css"):
        for selectors, codepoint in ICON_RULE.findall(css.read_text(encoding="utf-8", errors="ignore")):
            if names & {selector.split(":")[0][1:] for selector in selectors.split(",") if selector}:
                codepoints.add(int(codepoint, 16))
    return codepoints


def subset_icon_fonts(out: Path) -> None:
    """Rewrite the Font Awesome web fonts with only the icons the site uses (from the theme's originals)."""
    codepoints = icon_codepoints(out)
    options = subset.Options()
    options.flavor = "woff2"
    for original in (THEME_STATIC / WEBFONTS).glob("*.woff2"):
        font = subset.load_font(str(original), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=codepoints)
        subsetter.subset(font)
        subset.save_font(font, str(out / "_static" / WEBFONTS / original.name), options)


def palette_images(out: Path) -> None:
    """Store each opaque PNG figure with a 256-colour palette when that makes it smaller."""
    for path in (out / "_images").glob("*.png"):
        image = Image.open(path)
        if image.mode not in ("RGB", "RGBA") or (image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255):
            continue  # already a palette, or transparent
        buffer = io.BytesIO()
        image.convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            buffer, "PNG", optimize=True, dpi=image.info.get("dpi", (72, 72)))  # keep the resolution
        if buffer.tell() < path.stat().st_size:
            path.write_bytes(buffer.getvalue())


def lighten_site(app: Sphinx, exception: Exception | None) -> None:
    if exception is None and app.builder.format == "html":
        out = Path(app.outdir)
        drop_fontawesome_js(out)
        subset_icon_fonts(out)
        palette_images(out)


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", clean_scripts, priority=900)
    app.connect("build-finished", lighten_site)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
