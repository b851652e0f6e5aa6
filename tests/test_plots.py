"""Plot helpers: PCA against an SVD, highlighted words, the Jupyter loader, saved plots.

The saved-plot test opens the HTML file offline in Debian's Chromium (like
tests/test_site.py: skipped without Chromium outside CI, a failure in CI).
"""

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import bokeh
import holoviews as hv
import numpy as np
import pytest
from test_site import (
    CHROMIUM,
    CHROMIUM_ARGS,
    HOLOVIEWS_LOGO,
    _require,
    hover_shows_tooltip,
)

from helpers import plots
from helpers.labels import padded_range
from helpers.plots import (
    ORIGINAL_SPECIAL_WORDS,
    pca_2d,
    save_plot,
    word_map,
    word_map_frame,
)
from helpers.similarity import NUMBER_WORDS

BOKEH_STATIC = Path(bokeh.__file__).parent / "server" / "static"
BOKEH_RELEASE = "https://cdn.bokeh.org/bokeh/release/"


def test_pca_2d_matches_the_svd_of_the_centred_matrix():
    matrix = np.random.default_rng(0).normal(size=(30, 6)) + [5, 0, 0, 0, 0, 1]
    centred = matrix - matrix.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    expected = u[:, :2] * s[:2]  # the scores on the first two principal axes
    points = pca_2d(matrix)
    signs = np.sign((points * expected).sum(axis=0))  # each axis is defined up to sign
    np.testing.assert_allclose(points * signs, expected, atol=1e-10)
    with pytest.raises(ValueError, match="at least 2 x 2"):
        pca_2d(np.ones((1, 5)))


def test_original_special_words_are_the_original_notebooks():
    assert ORIGINAL_SPECIAL_WORDS == ("dog", "cat", "animal") + NUMBER_WORDS
    assert ORIGINAL_SPECIAL_WORDS[3:6] == ("one", "two", "three")


def test_word_map_highlights_and_reports_skipped_words():
    vocabulary = ["dog", "cat", "one", "two"] + [f"w{i}" for i in range(300)]
    points = np.random.default_rng(1).normal(size=(len(vocabulary), 2))
    asked = ["dog", "cat", "animal", "two"]
    frame, skipped = word_map_frame(points, vocabulary, asked, n_background=200)
    assert skipped == ["animal"]
    highlighted = frame[frame["group"] == "highlighted"]
    assert list(highlighted["word"]) == ["dog", "cat", "two"]
    np.testing.assert_array_equal(highlighted[["x", "y"]], points[[0, 1, 3]])
    assert (frame["group"] == "other").sum() == 200
    assert not set(frame.loc[frame["group"] == "other", "word"]) & {"dog", "cat", "two"}
    hv.extension("bokeh", logo=False)
    plot = word_map(points, vocabulary, "test", highlight_words=asked)
    options = plot.opts.get().kwargs
    assert options["title"] == "test\n(not in vocabulary, skipped: animal)"
    assert (options["legend_position"], options["toolbar"]) == ("top_left", "right")
    labels = [layer for layer in plot if isinstance(layer, hv.Labels)]
    assert list(labels[0].data["word"]) == ["dog", "cat", "two"]  # every highlighted
    assert len(labels) == 1  # labels placed by helpers.labels, nothing else
    shown = frame[["x", "y"]].to_numpy()
    assert options["xlim"] == padded_range(shown[:, 0])

    only_dog = word_map(
        points,
        vocabulary,
        "test",
        highlight_words=asked,
        label_words=["dog"],
        legend_position="right",
        toolbar="below",
    )
    labels = [layer for layer in only_dog if isinstance(layer, hv.Labels)]
    assert list(labels[0].data["word"]) == ["dog"]
    options = only_dog.opts.get().kwargs
    assert (options["legend_position"], options["toolbar"]) == ("right", "below")


# Run enable_bokeh() in an IPython shell (in a child process, so this one stays plain
# Python), then format a plot as the notebook would show it; print both, as JSON.
ENABLE_BOKEH_IN_IPYTHON = """
import json
from IPython.testing.globalipapp import get_ipython
from IPython.utils.capture import capture_output
shell = get_ipython()  # as in a kernel, the shell exists before holoviews is imported
from helpers.plots import enable_bokeh
with capture_output(stdout=False, stderr=False, display=True) as captured:
    enable_bokeh()
import holoviews as hv
plot, _ = shell.display_formatter.format(hv.Curve([1, 2]))
print(json.dumps({"outputs": [output.data for output in captured.outputs],
                  "plot": plot}))
"""


@functools.cache
def enable_bokeh_in_ipython() -> dict:
    """What enable_bokeh() displayed in IPython, and a plot displayed after it."""
    run = subprocess.run(
        [sys.executable, "-c", ENABLE_BOKEH_IN_IPYTHON],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_enable_bokeh_loads_every_cdn_file_from_the_jupyter_server(tmp_path):
    outputs = enable_bokeh_in_ipython()["outputs"]
    assert not any(HOLOVIEWS_LOGO in str(data) for data in outputs)  # no logo
    loaders = [data for data in outputs if BOKEH_RELEASE in str(data)]
    assert len(loaders) == 1
    for mime in (plots.JS_MIME, plots.LOAD_MIME):
        local = loaders[0][mime]
        assert "const inline_js = [local_stylesheets, " in local
        # every file the loader loads is asked through local_url
        js_urls = re.search(r"const js_urls = \[(.*?)\];", local).group(1)
        assert js_urls.count('local_url("https://cdn.') == js_urls.count("https://") > 3
    mapped = plots._local_files(local)
    assert f"{BOKEH_RELEASE}bokeh-{bokeh.__version__}.min.js" in mapped
    for path in mapped.values():
        assert (BOKEH_STATIC / path).is_file(), path
    assert plots.serve_from_jupyter("console.log(1)") == "console.log(1)"
    node = shutil.which("node")
    if node:  # the rewritten loader is still valid JavaScript
        (tmp_path / "loader.js").write_text(local)
        subprocess.run([node, "--check", str(tmp_path / "loader.js")], check=True)


def test_enable_bokeh_outside_ipython_loads_the_backend():
    plots.enable_bokeh()
    assert "bokeh" in hv.Store.renderers and hv.Store.current_backend == "bokeh"


def test_plots_shown_after_enable_bokeh_have_no_bokeh_logo():
    html = enable_bokeh_in_ipython()["plot"]["text/html"]
    # the plot's one Toolbar is serialised with logo null (Bokeh's default shows it)
    assert html.count('"name":"Toolbar"') == 1
    assert html.count('"logo":null') == 1


def test_saved_plot_opens_offline_in_chromium_and_draws(tmp_path, monkeypatch):
    vocabulary = ["dog", "cat"] + [f"w{i}" for i in range(50)]
    points = np.random.default_rng(2).normal(size=(len(vocabulary), 2))
    hv.extension("bokeh", logo=False)
    plot = word_map(points, vocabulary, "saved", n_background=20)
    monkeypatch.setattr(plots, "output_path", lambda *parts: tmp_path.joinpath(*parts))
    path = save_plot(plot, "saved.html")
    html = path.read_text(encoding="utf-8")
    assert "cdn.bokeh.org" not in html and "cdn.holoviz.org" not in html
    assert list(tmp_path.glob(".saved.html*")) == []  # no temporary file left behind

    _require(CHROMIUM.exists(), f"Chromium not found at {CHROMIUM}.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = chromium.new_page(viewport={"width": 900, "height": 700})
        outside, problems = [], []

        def only_files(route):
            if route.request.url.startswith(("file://", "data:")):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_files)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "console",
            lambda m: problems.append(m.text) if m.type == "error" else None,
        )
        page.goto(path.as_uri(), wait_until="load")
        page.wait_for_selector(".bk-Canvas", timeout=30_000)
        assert hover_shows_tooltip(page, 0), "hovering the saved plot shows nothing"
        chromium.close()
    assert outside == [] and problems == [], (outside, problems)
