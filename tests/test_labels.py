"""Word labels that never overprint: placement in pixels, data units and on a plot."""

import holoviews as hv
import numpy as np
import pytest

from helpers.labels import (
    CHAR_PX,
    LINE_PX,
    POINT_PX,
    label_boxes,
    padded_range,
    spread_labels,
    word_labels,
)
from helpers.plots import word_map


def overlap(a, b):
    return not (a[2] <= b[0] or a[0] >= b[2] or a[3] <= b[1] or a[1] >= b[3])


@pytest.mark.parametrize("seed", range(5))
def test_no_two_labels_overlap_on_a_dense_random_map(seed):
    rng = np.random.default_rng(seed)
    pixels = rng.uniform([0, 0], [480, 360], size=(30, 2))
    words = [f"word{i}" * (1 + i % 3) for i in range(30)]
    boxes = label_boxes(pixels, words)
    for i, box in enumerate(boxes):
        assert box[2] - box[0] == pytest.approx(CHAR_PX * len(words[i]))
        assert box[3] - box[1] == pytest.approx(LINE_PX)
        for other in boxes[i + 1 :]:
            assert not overlap(box, other), (box, other)
        for qx, qy in pixels:  # no label covers a labelled point
            assert not overlap(
                box, (qx - POINT_PX, qy - POINT_PX, qx + POINT_PX, qy + POINT_PX)
            )


def test_points_on_top_of_each_other_get_separate_labels():
    pixels = np.full((6, 2), 200.0)
    boxes = label_boxes(pixels, ["one", "two", "three", "four", "five", "six"])
    assert all(not overlap(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_a_lone_label_sits_just_right_of_its_point():
    (box,) = label_boxes(np.array([[100.0, 100.0]]), ["cat"])
    assert box[0] > 100 and box[0] - 100 <= 8 and box[1] < 100 < box[3]


def test_spread_labels_in_data_units():
    x, y = np.array([0.0, 0.01, 1.0]), np.array([0.0, 0.0, 2.0])
    label_x, label_y = spread_labels(x, y, ["aa", "bb", "cc"], (0.0, 1.0), (0.0, 2.0))
    pixels = np.column_stack([label_x / 1.0 * 480, label_y / 2.0 * 360])
    # the two close points' labels were pushed apart (in pixels, about 3.6 px apart)
    assert np.abs(pixels[0] - pixels[1]).max() >= min(LINE_PX, 2 * CHAR_PX) - 1e-9
    with pytest.raises(ValueError, match="Empty axis range"):
        spread_labels(x, y, ["aa", "bb", "cc"], (1.0, 1.0), (0.0, 2.0))
    with pytest.raises(ValueError, match="3 points but 2 words"):
        label_boxes(np.zeros((3, 2)), ["aa", "bb"])


def test_padded_range():
    assert padded_range(np.array([0.0, 10.0])) == (-0.5, 10.5)
    assert padded_range(np.array([3.0, 3.0])) == (2.95, 3.05)


def test_word_labels_and_a_word_map_on_a_plot():
    rng = np.random.default_rng(0)
    points = rng.normal(size=(50, 2))
    vocabulary = [f"w{i}" for i in range(50)]
    labels = word_labels(points, vocabulary, ["w1", "w2", "absent"], color="#d62728")
    _, text = labels
    assert list(text.data["word"]) == [
        "w1",
        "w2",
    ]  # words not in the vocabulary skipped
    plot = word_map(points, vocabulary, "map", highlight_words=["w1", "w2"])
    figure = hv.render(plot.opts(width=321), backend="bokeh")
    assert figure.width == 321 and figure.title.text == "map"
    assert (figure.x_range.start, figure.x_range.end) == pytest.approx(
        padded_range(points[:, 0])
    )
    with pytest.raises(ValueError, match=r"points must be \(len\(vocabulary\), 2\)"):
        word_labels(points[:, :1], vocabulary, ["w1"], color="red")
