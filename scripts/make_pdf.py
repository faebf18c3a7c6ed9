"""Print the built book to one PDF with headless Chromium: ``_build/pdf/attnreg.pdf``.

The pages are printed in the order of the table of contents (``_toc.yml``), from the HTML book in
``_build/html`` (build it first: ``make html``), with the book's own MathJax and no network, then
joined into one file with a bookmark per page.

    python scripts/make_pdf.py [--html _build/html] [--out _build/pdf/attnreg.pdf]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from playwright.sync_api import sync_playwright
from pypdf import PdfReader, PdfWriter

PRINT_CSS = """
@page { size: A4; margin: 16mm 14mm; }
.bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article, .bd-footer,
.bd-footer-article, .prev-next-area, #pst-back-to-top, .headerlink { display: none !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
details.hide > summary { display: none; }
"""


def pages_in_order(root: Path, toc: Path) -> list[tuple[str, Path]]:
    """(title, html file) for the root page and every chapter of ``_toc.yml``, in reading order."""
    spec = yaml.safe_load(toc.read_text())
    files = [spec["root"]] + [ch["file"] for part in spec.get("parts", []) for ch in part["chapters"]]
    return [(f, root / f"{f}.html") for f in files]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", default="_build/html", type=Path)
    parser.add_argument("--out", default="_build/pdf/attnreg.pdf", type=Path)
    parser.add_argument("--browser", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    pages = pages_in_order(args.html.resolve(), Path("_toc.yml"))
    missing = [str(p) for _, p in pages if not p.exists()]
    if missing:
        print(f"missing pages (build the book first with make html): {missing}")
        return 2
    writer = PdfWriter()
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.browser)
        context = browser.new_context(viewport={"width": 1000, "height": 1400})
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                      else route.abort())
        page = context.new_page()
        for name, path in pages:
            page.goto(path.as_uri(), wait_until="load")
            page.wait_for_function("() => !document.querySelector('span.math, div.math') || "
                                   "document.querySelectorAll('mjx-container').length > 0", timeout=30_000)
            page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
            page.add_style_tag(content=PRINT_CSS)
            page.emulate_media(media="print")
            page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
            part = Path(tmp) / f"{len(writer.pages):05d}.pdf"
            page.pdf(path=str(part), print_background=True, prefer_css_page_size=True)
            title = page.title().split("—")[0].split(" - ")[0].strip() or name
            first = len(writer.pages)
            writer.append(PdfReader(part))
            writer.add_outline_item(title, first)
            print(f"{name}: {len(writer.pages) - first} pages", flush=True)
        browser.close()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("wb") as handle:
        writer.write(handle)
    print(f"wrote {args.out} ({len(writer.pages)} pages, {args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
