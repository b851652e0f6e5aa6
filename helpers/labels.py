"""Word labels on a map that never overprint each other (the maps of notebooks 01, 02).

`spread_labels` places each label greedily, in screen pixels: it tries spots right,
left, above and below its point, then further out, and keeps the first spot that
overlaps no label placed before and no labelled point. `word_labels` draws the result
with HoloViews: the labels, a thin leader line from each point to its label, and fixed
axis ranges (the placement is computed for them).
"""

from __future__ import annotations

from collections.abc import Sequence

import holoviews as hv
import holoviews.plotting.bokeh  # noqa: F401  (registers Bokeh, for the options below)
import numpy as np
import pandas as pd

CHAR_PX = 6.5  # width of one character of a 9pt label, in pixels (a generous estimate)
LINE_PX = 12.0  # height of a label
POINT_PX = 6.0  # keep this far from a labelled point's centre
# The plotting area of a 600 x 450 Bokeh plot, without axes, title and toolbar.
FRAME_PX = (480.0, 360.0)
PADDING = 0.05  # share of the data's span added on each side of the axes


def padded_range(values: np.ndarray) -> tuple[float, float]:
    """The axis range used for `values`: their span, plus PADDING on each side."""
    values = np.asarray(values, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0
    return low - PADDING * span, high + PADDING * span


def _candidate_offsets(width: float) -> list[tuple[float, float]]:
    """Offsets (pixels) of a label's lower-left corner from its point, nearest first."""
    offsets = []
    for step in np.arange(8.0, 72.0, 8.0):
        offsets += [
            (step, -LINE_PX / 2),  # right
            (-step - width, -LINE_PX / 2),  # left
            (-width / 2, step - 4),  # above
            (-width / 2, -step - LINE_PX + 4),  # below
            (step, step - 4),  # above right
            (-step - width, step - 4),  # above left
            (step, -step - LINE_PX + 4),  # below right
            (-step - width, -step - LINE_PX + 4),  # below left
        ]
    return offsets


def _overlaps(box: tuple[float, ...], other: tuple[float, ...]) -> bool:
    """Do two boxes (x0, y0, x1, y1) overlap?"""
    return not (
        box[2] <= other[0]
        or box[0] >= other[2]
        or box[3] <= other[1]
        or box[1] >= other[3]
    )


def label_boxes(
    pixels: np.ndarray, words: Sequence[str]
) -> list[tuple[float, float, float, float]]:
    """Boxes (x0, y0, x1, y1, in pixels) for the labels of points at `pixels`.

    Each box avoids the boxes placed before it and every point. When no candidate spot
    is free, the last (farthest) one is used.
    """
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, 2)
    if len(pixels) != len(words):
        raise ValueError(f"{len(pixels)} points but {len(words)} words to label.")
    boxes: list[tuple[float, float, float, float]] = []
    for (px, py), word in zip(pixels, words):
        width = CHAR_PX * max(len(word), 1)
        for dx, dy in _candidate_offsets(width):
            box = (px + dx, py + dy, px + dx + width, py + dy + LINE_PX)
            free = not any(_overlaps(box, placed) for placed in boxes)
            clear = not any(
                box[0] - POINT_PX < qx < box[2] + POINT_PX
                and box[1] - POINT_PX < qy < box[3] + POINT_PX
                for qx, qy in pixels
            )
            if free and clear:
                break
        boxes.append(box)
    return boxes


def spread_labels(
    x: Sequence[float],
    y: Sequence[float],
    words: Sequence[str],
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    frame_px: tuple[float, float] = FRAME_PX,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower-left corners (data units) of labels for points (x, y); none overlap."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    low = np.array([x_range[0], y_range[0]])
    span = np.array([x_range[1] - x_range[0], y_range[1] - y_range[0]])
    if np.any(span <= 0):
        raise ValueError(f"Empty axis range: x {x_range}, y {y_range}.")
    scale = np.asarray(frame_px, dtype=np.float64) / span
    pixels = (np.column_stack([x, y]) - low) * scale
    corners = np.array([box[:2] for box in label_boxes(pixels, words)]).reshape(-1, 2)
    data = low + corners / scale
    return data[:, 0], data[:, 1]


def word_labels(
    points: np.ndarray,
    vocabulary: Sequence[str],
    words: Sequence[str],
    color: str,
    font_size: str = "9pt",
) -> hv.Overlay:
    """Labels for `words` (those in `vocabulary`) on a map of `points`; none overprint.

    Overlay it on the map. It fixes both axes to the padded range of all `points`, the
    range the placement assumes.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) != len(vocabulary):
        raise ValueError(
            f"points must be (len(vocabulary), 2) = ({len(vocabulary)}, 2), "
            f"got {points.shape}."
        )
    row_of = {word: row for row, word in enumerate(vocabulary)}
    shown = [word for word in words if word in row_of]
    rows = [row_of[word] for word in shown]
    x_range, y_range = padded_range(points[:, 0]), padded_range(points[:, 1])
    label_x, label_y = spread_labels(
        points[rows, 0], points[rows, 1], shown, x_range, y_range
    )
    frame = pd.DataFrame(
        {
            "x": points[rows, 0],
            "y": points[rows, 1],
            "label_x": label_x,
            "label_y": label_y,
            "word": shown,
        }
    )
    x_dim = hv.Dimension("x", range=x_range)
    y_dim = hv.Dimension("y", range=y_range)
    leaders = hv.Segments(frame, [x_dim, y_dim, "label_x", "label_y"]).opts(
        color=color, alpha=0.4, line_width=0.5
    )
    labels = hv.Labels(
        frame,
        [
            hv.Dimension("label_x", range=x_range),
            hv.Dimension("label_y", range=y_range),
        ],
        ["word"],
    )
    labels = labels.opts(
        text_color=color,
        text_font_size=font_size,
        text_align="left",
        text_baseline="bottom",
    )
    return (leaders * labels).opts(xlim=x_range, ylim=y_range)
