"""Sphinx configuration: the notebooks rendered, with their saved outputs, as a website.

`make site` builds the committed notebooks; `make run` builds the notebooks it has just
executed into outputs/executed. Either way the Makefile copies index.md, api.md and the
notebooks into one staging folder (outputs/site_source) and runs
`sphinx-build -c site outputs/site_source outputs/site`. Nothing is executed here
(`nb_execution_mode = "off"`): every page shows exactly the outputs saved in its
notebook. After the build, `make_offline` rewrites the few CDN links that the
HoloViews/Bokeh outputs carry to copies of the installed bokeh and panel files, so no
page loads anything from outside the site (helpers/plots.py explains the notebooks'
side of this).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import bokeh
import panel

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

project = "Embeddings from Scratch"
author = "The Embeddings from Scratch authors"
copyright = "2026, " + author

extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.viewcode"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
root_doc = "index"

# Notebooks: never executed by the site build; the pages show the saved outputs.
nb_execution_mode = "off"
# Each output where the notebook has it (tools/execute_notebooks.py already joins a
# cell's consecutive stream pieces), so a progress bar stays above its result line.
nb_merge_streams = False
# HoloViews outputs carry their own mime types beside text/html and JavaScript.
suppress_warnings = ["mystnb.unknown_mime_type"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Theme and static files: nothing from a CDN. No left sidebar (the top bar lists every
# notebook), so the text column is wide enough for 88-character code lines.
html_theme = "pydata_sphinx_theme"
html_title = project
html_context = {"default_mode": "light"}
html_sidebars = {"**": []}
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 8,
    "navbar_align": "left",
    "navbar_persistent": [],  # a search icon instead of a wide search field
    "navbar_end": ["search-button", "theme-switcher"],
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": [],
}
html_show_sourcelink = False
html_copy_source = False
html_static_path = ["_static"]
html_css_files = ["custom.css"]
mathjax_path = "mathjax/tex-chtml.js"
MATHJAX_SOURCE = PROJECT_ROOT / "node_modules" / "mathjax" / "es5"

# The API page: defaults as written in the source (`DATA_DIR`, not a machine path).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True

BOKEH_CDN = re.compile(r"https://cdn\.bokeh\.org/bokeh/release/([\w.@-]+\.js)")
PANEL_CDN = re.compile(
    r"https://cdn\.holoviz\.org/panel/([\d.]+[\w.]*)/dist/([^\"'\\\s?]+)"
)


def _bokeh_file(name: str) -> Path:
    """Map a release file name (bokeh-widgets-3.9.2.min.js) to the installed file."""
    local_name = name.replace(f"-{bokeh.__version__}", "")
    if local_name == name:
        raise RuntimeError(
            f"A page asks for {name}, which is not bokeh {bokeh.__version__}: re-run "
            "the notebooks with the installed bokeh (make notebooks)."
        )
    return Path(bokeh.__file__).parent / "server" / "static" / "js" / local_name


def _panel_file(version: str, relative: str) -> Path:
    """Map a panel CDN path to the installed panel's dist folder."""
    if version != panel.__version__:
        raise RuntimeError(
            f"A page asks for panel {version} but panel {panel.__version__} is "
            "installed: re-run the notebooks with the installed panel (make notebooks)."
        )
    return Path(panel.__file__).parent / "dist" / relative


def _copy(source: Path, target: Path) -> None:
    """Copy one file, creating the target's folders."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)


def make_offline(app, exception) -> None:
    """Copy MathJax, BokehJS and Panel files into _static; point every page at them."""
    if exception is not None or app.builder.format != "html":
        return
    out = Path(app.outdir)
    static = out / "_static"
    if not MATHJAX_SOURCE.exists():
        raise RuntimeError(
            f"MathJax is missing at {MATHJAX_SOURCE}: run `npm ci` (make setup)."
        )
    shutil.copytree(MATHJAX_SOURCE, static / "mathjax", dirs_exist_ok=True)
    for page in out.rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        prefix = os.path.relpath(static, page.parent).replace(os.sep, "/")

        def local_bokeh(match: re.Match) -> str:
            _copy(_bokeh_file(match.group(1)), static / "bokeh" / match.group(1))
            return f"{prefix}/bokeh/{match.group(1)}"

        def local_panel(match: re.Match) -> str:
            source = _panel_file(match.group(1), match.group(2))
            _copy(source, static / "panel" / match.group(2))
            return f"{prefix}/panel/{match.group(2)}"

        new_html = PANEL_CDN.sub(local_panel, BOKEH_CDN.sub(local_bokeh, html))
        if new_html != html:
            page.write_text(new_html, encoding="utf-8")


def setup(app):
    """Register the offline post-processing step."""
    app.connect("build-finished", make_offline)
