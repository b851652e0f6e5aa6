"""Plot helpers: PCA against scikit-learn's, highlighted words, skipped words reported."""

import holoviews as hv
import numpy as np
import pytest
from sklearn.decomposition import PCA

from helpers.plots import pca_2d, save_plot, word_map, word_map_frame


def test_pca_2d_matches_sklearn():
    matrix = np.random.default_rng(0).normal(size=(30, 6))
    np.testing.assert_allclose(pca_2d(matrix), PCA(n_components=2, random_state=0).fit_transform(matrix))
    with pytest.raises(ValueError, match="at least 2 x 2"):
        pca_2d(np.ones((1, 5)))


def test_word_map_highlights_and_reports_skipped_words(tmp_path, monkeypatch):
    vocabulary = ["dog", "cat", "one", "two"] + [f"w{i}" for i in range(300)]
    points = np.random.default_rng(1).normal(size=(len(vocabulary), 2))
    frame, skipped = word_map_frame(points, vocabulary, ["dog", "cat", "animal", "two"], n_background=200)
    assert skipped == ["animal"]
    assert list(frame.loc[frame["group"] == "highlighted", "word"]) == ["dog", "cat", "two"]
    assert (frame["group"] == "other").sum() == 200
    assert not set(frame.loc[frame["group"] == "other", "word"]) & {"dog", "cat", "two"}
    hv.extension("bokeh")
    plot = word_map(points, vocabulary, "test", highlight_words=["dog", "cat", "animal", "two"])
    assert "skipped: animal" in plot.opts.get().kwargs["title"]
    monkeypatch.setattr("helpers.plots.output_path", lambda *parts: tmp_path.joinpath(*parts))
    (tmp_path / "plots").mkdir()
    path = save_plot(plot, "test.html")
    assert "cdn.bokeh.org" not in path.read_text()  # inline resources: opens offline
