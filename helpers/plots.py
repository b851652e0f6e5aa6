"""PCA to 2-D and interactive HoloViews/Bokeh word maps (first used in notebook 01)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from helpers.paths import output_path

HIGHLIGHT_COLOR = "#d62728"
SECOND_COLOR = "#1f77b4"
MUTED_COLOR = "#b0b0b0"
SEED_SPECIAL_WORDS = ("dog", "cat", "animal") + (
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"
)


def enable_bokeh() -> None:
    """Load HoloViews' Bokeh backend for a notebook: the one call every notebook makes."""
    hv.extension("bokeh", logo=False)


def pca_2d(matrix: np.ndarray, seed: int = 0) -> np.ndarray:
    """Project the rows of `matrix` onto their first two principal components."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2 or matrix.shape[1] < 2:
        raise ValueError(f"PCA to 2-D needs a matrix of at least 2 x 2, got shape {matrix.shape}.")
    return PCA(n_components=2, random_state=seed).fit_transform(matrix)


def word_map_frame(
    points: np.ndarray,
    vocabulary: Sequence[str],
    highlight_words: Sequence[str] = SEED_SPECIAL_WORDS,
    n_background: int = 200,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[str]]:
    """Pick the highlighted words and `n_background` random others; return them and the words skipped."""
    row_of = {word: row for row, word in enumerate(vocabulary)}
    highlighted = [word for word in highlight_words if word in row_of]
    skipped = [word for word in highlight_words if word not in row_of]
    others = np.array([row for word, row in row_of.items() if word not in set(highlighted)])
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
) -> hv.Overlay:
    """Scatter `frame` (columns x, y, word, group) coloured by group, with hover and labels."""
    layers = []
    for group, color in colors.items():
        subset = frame[frame["group"] == group]
        highlighted = group in label_groups
        layers.append(
            hv.Points(subset, kdims=["x", "y"], vdims=list(hover_columns), label=group).opts(
                color=color,
                size=10 if highlighted else 5,
                alpha=0.9 if highlighted else 0.5,
                tools=["hover"],
            )
        )
        if highlighted:
            layers.append(
                hv.Labels(subset, kdims=["x", "y"], vdims=["word"]).opts(
                    text_color=color, text_font_size="9pt", yoffset=0.02 * _span(frame["y"])
                )
            )
    return hv.Overlay(layers).opts(
        title=title, width=600, height=450, legend_position="top_left", xlabel="PC 1", ylabel="PC 2"
    )


def _span(values: pd.Series) -> float:
    """Return max - min of a series, or 1 when it is constant."""
    span = float(values.max() - values.min())
    return span if span > 0 else 1.0


def word_map(
    points: np.ndarray,
    vocabulary: Sequence[str],
    title: str,
    highlight_words: Sequence[str] = SEED_SPECIAL_WORDS,
    n_background: int = 200,
    seed: int = 0,
) -> hv.Overlay:
    """Plot 2-D word points: highlighted words large and red, sampled others small and grey."""
    frame, skipped = word_map_frame(points, vocabulary, highlight_words, n_background, seed)
    if skipped:
        title = f"{title} (not in vocabulary, skipped: {', '.join(skipped)})"
    return group_scatter(
        frame,
        {"other": MUTED_COLOR, "highlighted": HIGHLIGHT_COLOR},
        title,
        label_groups=("highlighted",),
    )


def save_plot(plot: hv.core.Dimensioned, filename: str) -> Path:
    """Save a plot as a self-contained HTML file under `outputs/plots/` and return its path."""
    path = output_path("plots", filename)
    hv.save(plot, path, backend="bokeh", resources="inline")
    return path
