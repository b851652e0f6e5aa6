"""PCA to 2-D and interactive HoloViews/Bokeh word maps (first used in notebook 01).

How the plots get their JavaScript (BokehJS and Panel) without internet
-----------------------------------------------------------------------
A HoloViews plot is an empty output until BokehJS and Panel's JavaScript have loaded in
the page. `hv.extension("bokeh")` emits a small loader that asks cdn.bokeh.org and
cdn.holoviz.org for them, and each plot links a few Panel stylesheets on the same CDN.
Offline every plot stays blank. Three places show plots; each gets the files the
cheapest way it can:

* JupyterLab and Notebook 7 (`make lab`): `enable_bokeh()` emits the same loader with
  one addition. In a Jupyter page (it has `jupyter-config-data`, so it knows its base
  URL) whose server serves BokehJS, the loader takes every CDN file, and the plots'
  stylesheet links, from that server: Panel's Jupyter server extension (installed and
  enabled with panel) serves the installed bokeh's files under
  `<base_url>panel-preview/static/js/` and panel's under
  `<base_url>panel-preview/static/extensions/panel/`. One request to the page's own
  server checks this. Anywhere else (another front end, a server without Panel's
  extension) the loader uses the CDN as before, so online use is unchanged. A saved
  notebook holds only the ~10 KB loader, not the 6 MB that `inline=True` embeds, and
  its outputs are the same wherever it ran. Reopened later, it draws after Run All (or
  at once, when trusted).
* The website (`make run`): the pages still name the CDN files, and `site/conf.py`
  rewrites those links to copies of the installed files in `_static/`.
* Saved plots (`save_plot`, `outputs/plots/*.html`): one self-contained file each, with
  BokehJS inlined and Panel's few stylesheets embedded as `data:` URLs, so each file
  opens anywhere, offline, on its own.

Why not one mechanism: inlining everywhere makes each notebook ~6 MB, and loading from
the Jupyter server works only inside Jupyter. The loader keeps one set of notebook
outputs that every front end, and the site build, can use.
"""

from __future__ import annotations

import base64
import io
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path

import bokeh
import holoviews as hv
import numpy as np
import pandas as pd
from bokeh.themes import Theme
from sklearn.decomposition import PCA

from helpers.labels import padded_range, word_labels
from helpers.paths import atomic_write, output_path
from helpers.similarity import NUMBER_WORDS

HIGHLIGHT_COLOR = "#d62728"
SECOND_COLOR = "#1f77b4"
MUTED_COLOR = "#b0b0b0"
# The words the original notebook highlights on its word maps.
ORIGINAL_SPECIAL_WORDS = ("dog", "cat", "animal") + NUMBER_WORDS

LOAD_MIME = "application/vnd.holoviews_load.v0+json"
JS_MIME = "application/javascript"
BOKEH_CDN = "https://cdn.bokeh.org/bokeh/release/"
PANEL_CDN = re.compile(r"https://cdn\.holoviz\.org/panel/[^/\"']+/dist/")
# The start of Panel's loader and the list of functions it runs once loaded.
LOADER_START = "(function(root) {\n"
LOADER_CALLBACKS = "const inline_js = ["

# Injected at the top of the loader; LOCAL_FILES and PANEL_DIST are filled in by Python.
LOCAL_LOADER_JS = """\
  // helpers.plots.enable_bokeh: inside a Jupyter server that serves BokehJS and Panel
  // (Panel's server extension), load them from there rather than from the CDN.
  const LOCAL_FILES = %(local_files)s;
  const PANEL_DIST = %(panel_dist)s;
  function jupyter_static_url() {
    if (root._embeddings_static_url !== undefined) return root._embeddings_static_url;
    let url = null;
    const config = document.getElementById("jupyter-config-data");
    let base = null;
    if (config) {
      try { base = JSON.parse(config.textContent).baseUrl || "/"; } catch (e) {}
    } else if (document.body && document.body.dataset.baseUrl) {
      base = document.body.dataset.baseUrl;
    }
    if (base !== null) {
      const candidate = base.replace(/\\/?$/, "/") + "panel-preview/static/";
      try {
        const probe = new XMLHttpRequest();
        probe.open("HEAD", candidate + LOCAL_FILES[Object.keys(LOCAL_FILES)[0]], false);
        probe.send();
        if (probe.status === 200) url = candidate;
      } catch (e) {}
    }
    root._embeddings_static_url = url;
    return url;
  }
  function local_url(url) {
    const base = jupyter_static_url();
    if (base === null || typeof url !== "string") return url;
    if (url in LOCAL_FILES) return base + LOCAL_FILES[url];
    const panel = url.match(PANEL_DIST);
    if (panel) return base + "extensions/panel/" + url.slice(panel[0].length);
    return url;
  }
  function local_stylesheets(Bokeh) {
    if (jupyter_static_url() === null || Bokeh == null || Bokeh.Models == null) return;
    for (const name of ["ImportedStyleSheet", "GlobalImportedStyleSheet"]) {
      const model = Bokeh.Models.get(name);
      if (model == null || Object.hasOwn(model.prototype, "_embeddings_local")) {
        continue;
      }
      const underlying = model.prototype.underlying;
      model.prototype.underlying = function() {
        const sheet = underlying.call(this);
        const url = local_url(this.url);
        if (url !== this.url && sheet.el && sheet.el.getAttribute("href") !== url) {
          sheet.el.href = url;
        }
        return sheet;
      };
      model.prototype._embeddings_local = true;
    }
  }
"""


def _local_files(javascript: str) -> dict[str, str]:
    """Map each BokehJS CDN file named in `javascript` to its path on the server."""
    local = {}
    for url in sorted(
        set(re.findall(re.escape(BOKEH_CDN) + r"[\w.@-]+\.js", javascript))
    ):
        name = url.removeprefix(BOKEH_CDN)
        short = name.replace(f"-{bokeh.__version__}", "")
        if short != name:  # a file of the installed bokeh: the Jupyter server has it
            local[url] = f"js/{short}"
    return local


def serve_from_jupyter(javascript: str) -> str:
    """Make a Bokeh/Panel loader take its files from the Jupyter server when it can."""
    local_files = _local_files(javascript)
    if (
        not local_files
        or LOADER_START not in javascript
        or LOADER_CALLBACKS not in javascript
    ):
        return javascript
    javascript = re.sub(
        r'"(https://cdn\.(?:bokeh|holoviz)\.org/[^"]+)"',
        lambda match: f'local_url("{match.group(1)}")',
        javascript,
    )
    header = LOCAL_LOADER_JS % {
        "local_files": json.dumps(local_files),
        "panel_dist": "/^" + PANEL_CDN.pattern.replace("/", "\\/") + "/",
    }
    javascript = javascript.replace(LOADER_START, LOADER_START + header, 1)
    return javascript.replace(
        LOADER_CALLBACKS, LOADER_CALLBACKS + "local_stylesheets, ", 1
    )


def enable_bokeh() -> None:
    """Load HoloViews' Bokeh backend for a notebook: the one call every notebook makes.

    No logo (neither HoloViews' nor Bokeh's in the plots' toolbars); in Jupyter,
    BokehJS and Panel load from the Jupyter server (see the module docstring).
    """
    from IPython import get_ipython
    from IPython.display import publish_display_data
    from IPython.utils.capture import capture_output

    if get_ipython() is None:  # a plain Python script: nothing is displayed
        hv.extension("bokeh", logo=False)
        _hide_toolbar_logo()
        return
    with capture_output(stdout=False, stderr=False, display=True) as captured:
        hv.extension("bokeh", logo=False)
    _hide_toolbar_logo()
    rewritten = 0
    for output in captured.outputs:
        data = dict(output.data)
        for mime in (JS_MIME, LOAD_MIME):
            if isinstance(data.get(mime), str) and BOKEH_CDN in data[mime]:
                new = serve_from_jupyter(data[mime])
                rewritten += new != data[mime]
                data[mime] = new
        publish_display_data(
            data=data,
            metadata=output.metadata,
            transient=output.transient,
            update=output.update,
        )
    if rewritten == 0 and any(
        BOKEH_CDN in str(output.data) for output in captured.outputs
    ):
        warnings.warn(
            "enable_bokeh: this bokeh/panel version's loader was not recognised; "
            "plots load from the CDN and stay blank offline in Jupyter "
            "(see helpers/plots.py).",
            stacklevel=2,
        )


def _hide_toolbar_logo() -> None:
    """Draw every HoloViews Bokeh plot without the Bokeh logo in its toolbar."""
    hv.renderer("bokeh").theme = Theme(json={"attrs": {"Toolbar": {"logo": None}}})


def pca_2d(matrix: np.ndarray, seed: int = 0) -> np.ndarray:
    """Project the rows of `matrix` onto their first two principal components."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 2:
        raise ValueError(
            f"PCA to 2-D needs a matrix of at least 2 x 2, got shape {matrix.shape}."
        )
    return PCA(n_components=2, random_state=seed).fit_transform(matrix)


def word_map_frame(
    points: np.ndarray,
    vocabulary: Sequence[str],
    highlight_words: Sequence[str] = ORIGINAL_SPECIAL_WORDS,
    n_background: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Pick the highlighted words and `n_background` random others.

    Returns the frame and the highlighted words not in the vocabulary.
    """
    row_of = {word: row for row, word in enumerate(vocabulary)}
    highlighted = [word for word in highlight_words if word in row_of]
    skipped = [word for word in highlight_words if word not in row_of]
    others = np.array(
        [row for word, row in row_of.items() if word not in set(highlighted)]
    )
    rng = np.random.default_rng(seed)
    background = rng.choice(others, size=min(n_background, len(others)), replace=False)
    rows = [row_of[word] for word in highlighted] + sorted(background.tolist())
    frame = pd.DataFrame(
        {
            "x": points[rows, 0],
            "y": points[rows, 1],
            "word": [vocabulary[row] for row in rows],
            "group": ["highlighted"] * len(highlighted) + ["other"] * len(background),
        }
    )
    return frame, skipped


def group_scatter(
    frame: pd.DataFrame,
    colors: dict[str, str],
    title: str,
    label_groups: Sequence[str] = (),
    hover_columns: Sequence[str] = ("word",),
    label_words: Sequence[str] | None = None,
    legend_position: str = "top_left",
    toolbar: str = "right",
) -> hv.Overlay:
    """Scatter `frame` (columns x, y, word, group) coloured by group, hover, labels.

    The points of `label_groups` are large and labelled (only `label_words` among
    them, when given) by `helpers.labels`, so no two labels overprint.
    `legend_position` and `toolbar` are HoloViews' options (e.g. "right" puts the
    legend outside the axes, toolbar="below" under them).
    """
    layers = []
    labels = []
    for group, color in colors.items():
        subset = frame[frame["group"] == group]
        highlighted = group in label_groups
        layers.append(
            hv.Points(
                subset, kdims=["x", "y"], vdims=list(hover_columns), label=group
            ).opts(
                color=color,
                size=10 if highlighted else 5,
                alpha=0.9 if highlighted else 0.5,
                tools=["hover"],
            )
        )
        words = subset["word"].tolist()
        if label_words is not None:
            words = [word for word in words if word in set(label_words)]
        if highlighted and words:
            points = frame[["x", "y"]].to_numpy()
            labels.append(word_labels(points, frame["word"].tolist(), words, color))
    options = {}
    if labels:  # the label placement assumes these axis ranges
        options = {"xlim": padded_range(frame["x"]), "ylim": padded_range(frame["y"])}
    plot = hv.Overlay(layers)
    for overlay in labels:
        plot = plot * overlay
    return plot.opts(
        title=title,
        width=600,
        height=450,
        legend_position=legend_position,
        toolbar=toolbar,
        xlabel="PC 1",
        ylabel="PC 2",
        **options,
    )


def word_map(
    points: np.ndarray,
    vocabulary: Sequence[str],
    title: str,
    highlight_words: Sequence[str] = ORIGINAL_SPECIAL_WORDS,
    n_background: int = 200,
    seed: int = 0,
    label_words: Sequence[str] | None = None,
    legend_position: str = "top_left",
    toolbar: str = "right",
) -> hv.Overlay:
    """Plot 2-D word points: highlighted words large and red, others small and grey.

    Highlighted words missing from the vocabulary are named on a second title line.
    `label_words` (default: every highlighted word) are the ones given a text label.
    """
    frame, skipped = word_map_frame(
        points, vocabulary, highlight_words, n_background, seed
    )
    if skipped:
        title = f"{title}\n(not in vocabulary, skipped: {', '.join(skipped)})"
    return group_scatter(
        frame,
        {"other": MUTED_COLOR, "highlighted": HIGHLIGHT_COLOR},
        title,
        label_groups=("highlighted",),
        label_words=label_words,
        legend_position=legend_position,
        toolbar=toolbar,
    )


def _embed_panel_files(html: str) -> str:
    """Replace links to Panel's CDN files with `data:` URLs of the installed copies."""
    import panel

    dist = Path(panel.__file__).parent / "dist"

    def embed(match: re.Match) -> str:
        relative = match.group(1)
        local = dist / relative
        if not local.is_file():
            raise FileNotFoundError(
                f"A saved plot links {match.group(0)}, which the installed panel "
                f"{panel.__version__} does not have at {local}."
            )
        kind = "text/css" if relative.endswith(".css") else "text/javascript"
        encoded = base64.b64encode(local.read_bytes()).decode("ascii")
        return f"data:{kind};base64,{encoded}"

    return re.sub(PANEL_CDN.pattern + r"([^\"'\\\s?]+)(?:\?v=[\w.]+)?", embed, html)


def save_plot(plot: hv.core.Dimensioned, filename: str) -> Path:
    """Save a plot as one self-contained HTML file in `outputs/plots/`; return it."""
    path = output_path("plots", filename)
    buffer = io.StringIO()
    hv.save(plot, buffer, fmt="html", backend="bokeh", resources="inline")
    html = _embed_panel_files(buffer.getvalue())
    with atomic_write(path) as temporary:
        temporary.write_text(html, encoding="utf-8")
    return path
