"""Check the built book in headless Chromium, as a reader sees it, with no network.

Every page of ``_build/html`` is opened from disk at desktop (1280x900) and phone (390x844) width
while every non-local request is refused. A page passes when it raises no error, every math
element is rendered by the book's own MathJax, every image is loaded and has an alt text that says
what it shows, the theme's icons are drawn, and nothing in the article is wider than its column.
At desktop width, also: the smallest text a figure may hold (``attnreg.plotting.MIN_FONT_SIZE``
points at a PNG's resolution, an SVG's smallest font size), times the scale the page shows the
image at, is at least 8 px tall; and the page with everything it loads weighs under 1 MB as a web
server sends it (text compressed with gzip). Once per run it also checks that the phone menu opens
the chapter list, that solutions are labelled and toggle, and that the search page finds results.
A screenshot of each page is saved under ``_build/site-test/``.

    python scripts/site_test.py [--html _build/html] [--browser /usr/bin/chromium] [--screenshots _build/site-test]

Exit status 0 when every check passes; otherwise every failure is listed.
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from PIL import Image
from playwright.sync_api import Page, sync_playwright

from attnreg.plotting import MIN_FONT_SIZE

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
HASH_NAME = re.compile(r"^[0-9a-f]{16,}\.(png|jpg|jpeg|svg)$")
MIN_TEXT_PX = 8.0  # the smallest figure text a reader can read at the column width
MAX_PAGE_BYTES = 1_000_000  # everything a page loads (HTML, images, scripts, styles, fonts), as sent
TEXT_FILES = {".html", ".js", ".css", ".svg", ".json", ".txt"}

# Runs in the page: each image's width in its file and as shown.
FIGURE_SCALES = r"""
() => [...document.querySelectorAll("article img")].filter(img => img.naturalWidth > 0)
  .map(img => ({src: img.src, natural: img.naturalWidth, shown: img.getBoundingClientRect().width}))
"""
SVG_FONT_SIZE = re.compile(r"font-size(?:=\"|:\s*)(\d+(?:\.\d+)?)")

# Runs in the page: returns the problems found, one string each.
PAGE_CHECKS = r"""
() => {
  const problems = [];
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  // Math: every element MathJax should typeset holds a rendered container, and no raw TeX is left.
  for (const el of document.querySelectorAll("span.math, div.math")) {
    if (!el.querySelector("mjx-container")) {
      problems.push(`math not rendered: ${el.textContent.trim().slice(0, 60)}`);
    }
  }
  if (document.querySelector("mjx-merror")) {
    problems.push(`MathJax error: ${document.querySelector("mjx-merror").textContent.slice(0, 80)}`);
  }
  // Images: loaded, and an alt text that describes the figure (not empty, not a hash file name).
  for (const img of document.querySelectorAll("article img")) {
    const name = img.getAttribute("src").split("/").pop();
    if (!img.complete || img.naturalWidth === 0) problems.push(`image not loaded: ${name}`);
    const alt = (img.getAttribute("alt") || "").trim().split("/").pop();
    if (alt === "" || /^[0-9a-f]{16,}\.(png|jpg|jpeg|svg)$/.test(alt)) {
      problems.push(`image without a description (alt text): ${name}`);
    }
  }
  // Icons: drawn by the theme's web fonts (the book loads no icon script).
  for (const icon of document.querySelectorAll(".fa-solid, .fa-brands, .fa-regular, .fas, .fab, .far")) {
    if (icon.offsetParent === null) continue;
    const glyph = getComputedStyle(icon, "::before");
    if (!glyph.fontFamily.includes("Font Awesome") || glyph.content === "none" || icon.getBoundingClientRect().width === 0) {
      problems.push(`icon not drawn: ${icon.className}`);
    }
  }
  // Nothing cut off: code, outputs, tables, display math and images fit the article's column.
  if (article) {
    const right = article.getBoundingClientRect().right + 1;
    const selectors = "pre, table, mjx-container[display='true'], img, .cell_output";
    for (const el of article.querySelectorAll(selectors)) {
      if (el.closest("dialog") || el.offsetParent === null) continue;  // hidden (collapsed) content
      const box = el.getBoundingClientRect();
      const clipped = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== "visible";
      if (box.right > right || clipped) {
        const text = (el.textContent || el.getAttribute("src") || "").trim().slice(0, 50);
        problems.push(`cut off (${el.tagName.toLowerCase()}, ${Math.round(box.width)} px, ` +
                      `content ${el.scrollWidth} px): ${text}`);
      }
    }
  }
  return problems;
}
"""


def local_path(url: str) -> Path:
    """The file a ``file://`` URL of the built book points to."""
    return Path(unquote(urlparse(url).path))


def smallest_text_px(path: Path) -> float | None:
    """The smallest text an image file may hold, in its own pixels (None for other formats)."""
    if path.suffix.lower() == ".png":
        with Image.open(path) as image:
            dpi = image.info.get("dpi", (72, 72))[0]  # the PNG's pHYs chunk; 72 dpi when it records none
        return MIN_FONT_SIZE / 72 * dpi
    if path.suffix.lower() == ".svg":
        sizes = [float(size) for size in SVG_FONT_SIZE.findall(path.read_text(encoding="utf-8"))]
        return min(sizes) if sizes else None
    return None


def small_figure_text(figures: list[dict]) -> list[str]:
    """Images whose smallest text is shown below :data:`MIN_TEXT_PX` pixels."""
    problems = []
    for figure in figures:
        path = local_path(figure["src"])
        own_px = smallest_text_px(path) if path.is_file() else None
        if own_px is None:
            continue
        text_px = own_px * figure["shown"] / figure["natural"]
        if text_px < MIN_TEXT_PX:
            problems.append(f"figure text too small: {path.name}'s smallest text is shown at {text_px:.1f} px "
                            f"(at least {MIN_TEXT_PX:g} px; make the figure narrower or its text larger)")
    return problems


def transfer_bytes(path: Path) -> int:
    """What a web server sends for ``path``: text compressed with gzip (as GitHub Pages does), the rest as is."""
    data = path.read_bytes()
    return len(gzip.compress(data, compresslevel=6)) if path.suffix.lower() in TEXT_FILES else len(data)


def page_weight(urls: set[str]) -> int:
    """The bytes sent for every local file a page loaded."""
    files = {local_path(url) for url in urls if url.startswith("file://")}
    return sum(transfer_bytes(path) for path in files if path.is_file())


def open_page(page: Page, url: str) -> None:
    page.goto(url, wait_until="load")
    # MathJax loads deferred; wait until it has typeset the page (pages without math skip this).
    page.wait_for_function(
        "() => !document.querySelector('span.math, div.math') || "
        "(window.MathJax && window.MathJax.startup && window.MathJax.startup.document && "
        "document.querySelectorAll('mjx-container').length > 0)", timeout=30_000)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise : null")
    page.wait_for_timeout(150)  # the column fitting of wide equations runs after typesetting


def check_phone_menu(page: Page, url: str) -> list[str]:
    open_page(page, url)
    buttons = [b for b in page.query_selector_all(".primary-toggle") if b.is_visible()]
    if not buttons:
        return ["phone menu: no visible menu button"]
    buttons[0].click()
    page.wait_for_timeout(300)
    dialog = page.query_selector("#pst-primary-sidebar-modal")
    links = dialog.query_selector_all("nav a") if dialog else []
    if not dialog or not dialog.is_visible() or len([a for a in links if a.is_visible()]) < 5:
        return ["phone menu: the menu button does not open the chapter list"]
    return []


def check_solutions(page: Page, url: str) -> list[str]:
    open_page(page, url)
    toggles = page.query_selector_all("details.hide.above-input summary")
    if not toggles:
        return [f"solutions: no hidden cell on {url}"]
    problems = []
    labels = [t.inner_text().strip() for t in toggles]
    if not any("Show solution" in label for label in labels):
        problems.append(f"solutions: toggles are labelled {sorted(set(labels))}, not 'Show solution'")
    toggle = next(t for t in toggles if "Show solution" in t.inner_text())
    details = toggle.evaluate_handle("el => el.closest('details')")
    toggle.click()
    page.wait_for_timeout(200)
    if not details.evaluate("el => el.open"):
        problems.append("solutions: clicking 'Show solution' does not reveal the code")
    return problems


def check_search(page: Page, search_url: str) -> list[str]:
    page.goto(search_url + "?q=dropout", wait_until="load")
    try:
        page.wait_for_selector("#search-results ul.search li", timeout=20_000)
    except Exception:  # noqa: BLE001 - reported as a failed check
        return ["search: no results for 'dropout'"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", default="_build/html", type=Path)
    parser.add_argument("--browser", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--screenshots", default="_build/site-test", type=Path)
    args = parser.parse_args()
    root = args.html.resolve()
    pages = sorted(p for p in root.rglob("*.html")
                   if p.name not in {"genindex.html", "search.html"} and "_static" not in p.parts
                   and p != root / "index.html")
    if not pages:
        print(f"no pages under {root}: build the book first (make html)")
        return 2
    args.screenshots.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.browser)
        for name, viewport in VIEWPORTS.items():
            context = browser.new_context(viewport=viewport)
            # No network: only files of the built book may load.
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                          else route.abort())
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("console", lambda msg: errors.append(f"console error: {msg.text}") if msg.type == "error" else None)
            page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
            loaded: set[str] = set()
            page.on("requestfinished", lambda req: loaded.add(req.url))
            for path in pages:
                errors.clear()
                loaded.clear()
                label = f"{name} {path.relative_to(root)}"
                open_page(page, path.as_uri())
                problems = page.evaluate(PAGE_CHECKS) + errors
                weight = ""
                if name == "desktop":
                    problems += small_figure_text(page.evaluate(FIGURE_SCALES))
                    bytes_sent = page_weight(loaded)
                    weight = f", {bytes_sent / 1e6:.2f} MB"
                    if bytes_sent > MAX_PAGE_BYTES:
                        problems.append(f"page weight {bytes_sent / 1e6:.2f} MB over {MAX_PAGE_BYTES / 1e6:g} MB")
                page.screenshot(path=str(args.screenshots / f"{name}-{path.stem}.png"), full_page=False)
                failures += [f"{label}: {p}" for p in problems]
                print(f"{label}: {'ok' if not problems else f'{len(problems)} problem(s)'}{weight}", flush=True)
            if name == "phone":
                failures += check_phone_menu(page, pages[0].as_uri())
            else:
                solution_page = next(p for p in pages if p.name.startswith("06_"))
                failures += check_solutions(page, solution_page.as_uri())
                failures += check_search(page, (root / "search.html").as_uri())
            context.close()
        browser.close()
    for failure in failures:
        print("FAIL", failure)
    print(f"{len(pages)} pages x {len(VIEWPORTS)} widths: {len(failures)} problem(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
