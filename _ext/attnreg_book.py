"""Sphinx extension for the course book: removes scripts that a static, offline book must not load.

- sphinx-thebe's inline configuration is registered twice by Jupyter Book (a page error,
  "Identifier 'THEBE_JS_URL' has already been declared") and the book offers no Thebe launch
  button, so its scripts are dropped;
- any other inline script added twice is kept once;
- the colour mode defaults to "auto" on a reader's first visit (without it the theme reads an
  empty mode from the browser's storage and logs "Got invalid theme mode");
- every page links the book's icon (the theme writes no icon link, and a browser's request for
  ``/favicon.ico`` would fail).
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx


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


def setup(app: Sphinx) -> dict:
    app.connect("html-page-context", clean_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
