"""The built site in a real browser: offline-clean, plots draw and hover, formulas render.

Needs the site built first (`make site`; `make test` does it) and Debian's Chromium at
/usr/bin/chromium. Outside CI a machine without Chromium skips these tests; in CI
(CI=true) a missing browser or site is a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers.paths import OUTPUT_DIR

SITE_DIR = OUTPUT_DIR / "site"
SCREENSHOT_DIR = OUTPUT_DIR / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
PAGES = sorted(p.name for p in SITE_DIR.glob("*.html")) if SITE_DIR.exists() else []

# Every Bokeh plot on the page: scroll plot `k` into view and return the screen position of
# the middle point of its first glyph with data, from Bokeh's own views.
PLOT_POINT_JS = """(k) => {
  const plots = []; const seen = new Set();
  function walk(view) {
    if (!view || seen.has(view)) return; seen.add(view);
    const glyph = view.glyph;
    if (glyph && glyph.sx && glyph.sx.length && view.parent && view.parent.canvas_view) {
      if (!plots.some(p => p.plot === view.parent)) plots.push({plot: view.parent, glyphs: []});
      plots.find(p => p.plot === view.parent).glyphs.push(glyph);
    }
    if (typeof view.children === "function") for (const child of view.children()) walk(child);
  }
  for (const root of Object.values(window.Bokeh ? Bokeh.index : {})) walk(root);
  if (k === null) return plots.length;
  const {plot, glyphs} = plots[k];
  plot.canvas_view.el.scrollIntoView({block: "center"});
  const box = plot.canvas_view.el.getBoundingClientRect();
  const glyph = glyphs[0];
  if (glyph.sy) {  // points and lines: the middle point
    const i = Math.floor(glyph.sx.length / 2);
    return {x: box.left + glyph.sx[i], y: box.top + glyph.sy[i]};
  }
  // bars: the middle of the tallest bar
  let best = 0;
  for (let i = 0; i < glyph.sx.length; i++)
    if (Math.abs(glyph.stop[i] - glyph.sbottom[i]) > Math.abs(glyph.stop[best] - glyph.sbottom[best])) best = i;
  return {x: box.left + glyph.sx[best], y: box.top + (glyph.stop[best] + glyph.sbottom[best]) / 2};
}"""


def red_pixels(png: Path) -> int:
    """Count pixels close to the plots' highlight red (#d62728) in a PNG."""
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    return int((np.abs(pixels - [214, 39, 40]).sum(axis=2) < 60).sum())


def _require(condition: bool, reason: str) -> None:
    """Skip with `reason` outside CI; fail with it in CI."""
    if not condition:
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site_url():
    """Serve the built site on 127.0.0.1 for the duration of the module."""
    _require((SITE_DIR / "index.html").exists(), f"No built site in {SITE_DIR}: run `make site`.")
    handler = functools.partial(QuietHandler, directory=str(SITE_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A static file handler that does not log every request."""

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@pytest.fixture(scope="module")
def browser():
    """Debian's headless Chromium driven by Playwright."""
    _require(
        CHROMIUM.exists(),
        f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
        "(or set CHROMIUM_PATH).",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


def test_site_has_every_notebook_in_order():
    _require((SITE_DIR / "index.html").exists(), f"No built site in {SITE_DIR}: run `make site`.")
    notebooks = sorted(p.stem for p in (Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
    index = (SITE_DIR / "index.html").read_text(encoding="utf-8")
    positions = [index.find(f'href="{name}.html"') for name in notebooks]
    assert all(position >= 0 for position in positions), dict(zip(notebooks, positions))
    assert positions == sorted(positions)


@pytest.mark.parametrize("page_name", PAGES)
def test_page_is_offline_clean_and_interactive(browser, site_url, page_name):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside_requests, problems = [], []

    def only_local(route):
        if route.request.url.startswith(site_url):
            route.continue_()
        else:
            outside_requests.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None,
    )
    page.goto(f"{site_url}/{page_name}", wait_until="networkidle")
    html = (SITE_DIR / page_name).read_text(encoding="utf-8")

    has_plots = "application/vnd.holoviews_exec" in html or "bk-root" in html
    if has_plots:
        page.wait_for_selector(".bk-Canvas", timeout=30_000)
    if re.search(r'class="math[^"]*"', html):
        page.wait_for_selector("mjx-container", timeout=30_000)
        assert page.locator("mjx-merror").count() == 0, "a formula failed to render"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / f"{Path(page_name).stem}.png"), full_page=True)
    if page_name == "01_tfidf.html":
        plot = SCREENSHOT_DIR / "01_tfidf_plot.png"
        page.locator(".bk-Canvas").first.screenshot(path=str(plot))
        assert red_pixels(plot) > 100, "the TF-IDF plot shows no red highlighted words"

    if has_plots:
        n_plots = page.evaluate(PLOT_POINT_JS, None)
        assert n_plots > 0, "no Bokeh plot with data found"
        for k in range(n_plots):
            point = page.evaluate(PLOT_POINT_JS, k)
            page.mouse.move(1, 1)
            page.wait_for_timeout(200)
            page.mouse.move(point["x"] - 3, point["y"] - 3)
            page.mouse.move(point["x"], point["y"])
            page.wait_for_selector(".bk-Tooltip", state="visible", timeout=10_000)

    page.close()
    assert outside_requests == [], f"requests to outside hosts: {outside_requests}"
    assert problems == [], problems


@pytest.mark.parametrize("page_name", PAGES)
def test_local_links_resolve(page_name):
    """Every relative link of a page (to a notebook, the helpers reference, a source page) exists."""
    page = SITE_DIR / page_name
    html = page.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r'href="([^"#?]+)[^"]*"', html):
        if re.match(r"^[a-z]+:", target) or target.startswith("//"):
            continue
        if not (page.parent / target).resolve().exists():
            broken.append(target)
    assert broken == [], f"broken links in {page_name}: {broken}"
    if page_name == "api.html":
        assert '_modules/helpers/tfidf.html' in html  # "[source]" links to the helpers' code
