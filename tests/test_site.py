"""The built site in a real browser: offline-clean, plots draw and hover, formulas
render, the layout fits a 1280 px screen, and each page shows its notebook's outputs.

Needs the site built first from the committed notebooks (`make site`; `make test` does
it) and Debian's Chromium at /usr/bin/chromium. The pages expected are index, api and
one per notebook in notebooks/. Outside CI a missing browser or site skips these tests;
in CI (CI=true) it is a failure. Full-page screenshots go to outputs/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import threading
from pathlib import Path

import nbformat
import numpy as np
import pytest

from helpers.paths import OUTPUT_DIR

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(path.stem for path in NOTEBOOK_DIR.glob("[0-9]*.ipynb"))
PAGES = ["index.html", "api.html"] + [f"{stem}.html" for stem in NOTEBOOKS]
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
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# The start of the HoloViews logo image that `hv.extension` shows unless logo=False.
HOLOVIEWS_LOGO = "iVBORw0KGgoAAAANSUhEUgAAAEAAAABACAYAAACqaXHe"
CODE_WIDTH = 88  # characters: the project's longest code line

# Every Bokeh plot on the page that has a hover tool: scroll plot `k` into view and
# return the screen positions of up to 12 of its data points (from Bokeh's own views;
# for bars, the middles of the tallest bars), or, for k = null, how many such plots.
PLOT_POINT_JS = """(k) => {
  const plots = []; const seen = new Set();
  const hovers = (plot) => plot.model.toolbar.tools.some(t => t.type === "HoverTool");
  function walk(view) {
    if (!view || seen.has(view)) return; seen.add(view);
    const glyph = view.glyph;
    const plot = view.parent;
    const drawn = glyph && glyph.sx && glyph.sx.length;
    if (drawn && plot && plot.canvas_view && hovers(plot)) {
      if (!plots.some(p => p.plot === plot)) plots.push({plot, glyphs: []});
      plots.find(p => p.plot === plot).glyphs.push(glyph);
    }
    if (typeof view.children === "function") {
      for (const child of view.children()) walk(child);
    }
  }
  for (const root of Object.values(window.Bokeh ? Bokeh.index : {})) walk(root);
  if (k === null) return plots.length;
  const {plot, glyphs} = plots[k];
  plot.canvas_view.el.scrollIntoView({block: "center"});
  const box = plot.canvas_view.el.getBoundingClientRect();
  const points = [];
  for (const glyph of glyphs) {
    const n = glyph.sx.length;
    let order = [...Array(n).keys()];
    if (!glyph.sy) {  // bars: tallest first
      const height = (i) => Math.abs(glyph.stop[i] - glyph.sbottom[i]);
      order.sort((a, b) => height(b) - height(a));
    } else {  // points and lines: from the middle outwards
      const mid = Math.floor(n / 2);
      order.sort((a, b) => Math.abs(a - mid) - Math.abs(b - mid));
    }
    for (const i of order.slice(0, 6)) {
      const y = glyph.sy ? glyph.sy[i] : (glyph.stop[i] + glyph.sbottom[i]) / 2;
      points.push({x: box.left + glyph.sx[i], y: box.top + y});
    }
  }
  return points.slice(0, 12);
}"""


def hover_shows_tooltip(page, k: int) -> bool:
    """Hover the data points of hoverable plot `k` until one shows a tooltip."""
    for point in page.evaluate(PLOT_POINT_JS, k):
        page.mouse.move(1, 1)
        page.wait_for_timeout(100)
        page.mouse.move(point["x"] - 3, point["y"] - 3)
        page.mouse.move(point["x"], point["y"])
        try:
            page.locator(".bk-Tooltip").first.wait_for(state="visible", timeout=2_000)
            return True
        except Exception:  # noqa: BLE001 - a point under the legend: try the next
            continue
    return False


# What overflows sideways at this width: the page, the text column, or a code cell whose
# lines all fit in CODE_WIDTH characters (so the column, not the code, is too narrow).
# Outputs and tables may scroll inside their own box.
OVERFLOW_JS = """(codeWidth) => {
  const problems = [];
  const page = document.documentElement;
  if (page.scrollWidth > page.clientWidth + 1) {
    problems.push(`page: ${page.scrollWidth} px in a ${page.clientWidth} px window`);
  }
  const article = document.querySelector(".bd-article");
  if (article && article.scrollWidth > article.clientWidth + 1) {
    problems.push(`column: ${article.scrollWidth} px in ${article.clientWidth} px`);
  }
  for (const pre of document.querySelectorAll(".cell_input pre")) {
    const lines = pre.textContent.split("\\n");
    const fits = lines.every(line => line.length <= codeWidth);
    if (fits && pre.scrollWidth > pre.clientWidth + 1) {
      problems.push(`code cell clipped: ${lines[0].slice(0, 60)}`);
    }
  }
  return problems;
}"""

# The printed outputs of the page, in order: streams and plain-text results.
PAGE_TEXT_JS = """() => [...document.querySelectorAll(
    ".cell_output .output.stream pre, .cell_output .output.stderr pre, "
    + ".cell_output .output.text_plain pre")].map(pre => pre.textContent)"""

# The top bar: its entries, whether a "More" menu exists, and the rows they sit on.
NAVBAR_JS = """() => {
  const nav = document.querySelector(".bd-header .navbar-header-items .navbar-nav")
    || document.querySelector(".bd-header .navbar-nav");
  const links = [...nav.querySelectorAll(":scope > li > a.nav-link")];
  return {
    hrefs: links.map(a => a.getAttribute("href")),
    tops: [...new Set(links.map(a => Math.round(a.getBoundingClientRect().top)))],
    visible: links.every(a => a.getBoundingClientRect().width > 0),
    more: nav.querySelectorAll(".dropdown, .dropdown-toggle").length,
  };
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


def _require_site() -> None:
    """The built site, or a skip (a failure in CI) naming the command that builds it."""
    _require(
        (SITE_DIR / "index.html").exists(), f"No site in {SITE_DIR}: run `make site`."
    )


def _normalise(text: str) -> str:
    """Text as a page shows it: no ANSI colours, no trailing spaces or blank lines."""
    lines = [line.rstrip() for line in ANSI.sub("", text).splitlines()]
    return "\n".join(lines).strip("\n")


def printed_outputs(notebook_path: Path) -> list[str]:
    """The stream and plain-text outputs of a notebook, as its page should show them."""
    notebook = nbformat.read(notebook_path, as_version=4)
    texts = []
    for cell in notebook.cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type != "code" or tags & {"remove-cell", "remove-output"}:
            continue
        for output in cell.outputs:
            if output["output_type"] == "stream":
                texts.append(output["text"])
            elif output["output_type"] in {"execute_result", "display_data"}:
                data = output.get("data", {})
                if set(data) == {"text/plain"}:
                    texts.append(data["text/plain"])
    return [text for text in map(_normalise, texts) if text]


@pytest.fixture(scope="module")
def site_url():
    """Serve the built site on 127.0.0.1 for the duration of the module."""
    _require_site()
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


def test_site_has_every_notebook_in_order():
    _require_site()
    index = (SITE_DIR / "index.html").read_text(encoding="utf-8")
    positions = [index.find(f'href="{name}.html"') for name in NOTEBOOKS]
    assert all(position >= 0 for position in positions), dict(zip(NOTEBOOKS, positions))
    assert positions == sorted(positions)


def test_no_page_shows_machine_paths_logos_or_nbval_markers():
    """No built page holds this machine's project path, a HoloViews logo or NBVAL_."""
    _require_site()
    problems = []
    for page in sorted(SITE_DIR.rglob("*.html")):
        html = page.read_text(encoding="utf-8")
        name = page.relative_to(SITE_DIR)
        for needle in (str(ROOT), HOLOVIEWS_LOGO, "NBVAL_"):
            if needle in html:
                problems.append(f"{name}: {needle[:30]}")
    assert problems == []


def local_page(browser, local_url: str):
    """A 1280 x 900 page that blocks, and lists, every request not to `local_url`."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    outside = []

    def only_local(route):
        if route.request.url.startswith(local_url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    return page, outside


@pytest.mark.parametrize("page_name", PAGES)
def test_page_is_offline_clean_and_interactive(browser, site_url, page_name):
    _require(
        (SITE_DIR / page_name).exists(), f"{page_name} is missing: run `make site`."
    )
    page, outside_requests = local_page(browser, site_url)
    problems = []
    page.on(
        "console",
        lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "response",
        lambda r: (
            problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None
        ),
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
    page.screenshot(
        path=str(SCREENSHOT_DIR / f"{Path(page_name).stem}.png"), full_page=True
    )
    if page_name == "01_tfidf.html":
        plot = SCREENSHOT_DIR / "01_tfidf_plot.png"
        page.locator(".bk-Canvas").first.screenshot(path=str(plot))
        assert red_pixels(plot) > 100, "the TF-IDF plot shows no red highlighted words"

    overflow = page.evaluate(OVERFLOW_JS, CODE_WIDTH)
    assert overflow == [], f"{page_name} is too wide at 1280 px: {overflow}"
    navbar = page.evaluate(NAVBAR_JS)
    assert navbar["more"] == 0, f"the top bar hides entries under a menu: {navbar}"
    assert len(navbar["tops"]) == 1 and navbar["visible"], f"top bar wraps: {navbar}"
    assert [href for href in navbar["hrefs"] if href.split("#")[0].endswith(".html")], (
        navbar
    )
    for stem in NOTEBOOKS:
        assert any(
            href.endswith(f"{stem}.html") for href in navbar["hrefs"] if href
        ) or (page_name == f"{stem}.html"), (
            f"the top bar does not list {stem}: {navbar['hrefs']}"
        )

    if page_name.removesuffix(".html") in NOTEBOOKS:
        shown = [_normalise(text) for text in page.evaluate(PAGE_TEXT_JS)]
        committed = printed_outputs(NOTEBOOK_DIR / page_name.replace(".html", ".ipynb"))
        assert [text for text in shown if text] == committed, (
            f"{page_name} does not show the committed notebook's printed outputs"
        )

    if has_plots:
        n_plots = page.evaluate(PLOT_POINT_JS, None)
        assert n_plots > 0, "no Bokeh plot with data and a hover tool found"
        silent = [k for k in range(n_plots) if not hover_shows_tooltip(page, k)]
        assert silent == [], f"hovering plots {silent} of {n_plots} shows no tooltip"
        # every plot is drawn now; Bokeh draws its logo in a toolbar unless told not to
        assert page.locator(".bk-logo").count() == 0, "a plot's toolbar shows a logo"

    page.close()
    assert outside_requests == [], f"requests to outside hosts: {outside_requests}"
    assert problems == [], problems


@pytest.mark.parametrize("page_name", PAGES)
def test_local_links_resolve(page_name):
    """Every relative link of a page (a notebook, the helpers reference, a source page)
    exists."""
    _require(
        (SITE_DIR / page_name).exists(), f"{page_name} is missing: run `make site`."
    )
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
        assert "_modules/helpers/tfidf.html" in html  # "[source]" links to the code


def test_api_page_has_one_section_per_helpers_module_in_reading_order():
    """Every helpers module has its own section on the API page."""
    _require_site()
    html = (SITE_DIR / "api.html").read_text(encoding="utf-8")
    modules = sorted(
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in (ROOT / "helpers").rglob("*.py")
        if path.name != "__init__.py" or path.parent.name != "helpers"
    )
    sections = re.findall(
        r'<section id="helpers-[^"]*">\s*(?:<span[^>]*></span>)?\s*<h2><code[^>]*>'
        r'<span class="pre">(helpers[\w.]*)</span>',
        html,
    )
    assert sorted(sections) == modules, (
        "the API page lacks sections (or has extra ones)"
    )
    assert (
        sections.index("helpers.paths")
        < sections.index("helpers.tfidf")
        < (sections.index("helpers.llm"))
    )
    assert "PosixPath(" not in html, "a default shows a machine path, not its name"
