"""Cosine helpers and the cohesion measure, on hand-made vectors."""

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from helpers.similarity import (
    cohesion_table,
    group_cohesion,
    mean_pairwise_cosine,
    nearest_neighbours,
    unit_rows,
)


def test_mean_pairwise_cosine_matches_sklearn():
    vectors = np.random.default_rng(0).normal(size=(6, 4))
    reference = cosine_similarity(vectors)[np.triu_indices(6, k=1)].mean()
    assert mean_pairwise_cosine(vectors) == pytest.approx(reference, abs=1e-12)


def test_unit_rows_keeps_zero_rows():
    units = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(units, [[0.6, 0.8], [0.0, 0.0]])


def test_cohesion_of_a_tight_group():
    # group words a, b, c point the same way; 47 others point in random directions
    rng = np.random.default_rng(1)
    matrix = rng.normal(size=(50, 8))
    matrix[:3] = [1, 0, 0, 0, 0, 0, 0, 0]
    matrix[:3, 1] = [0.01, 0.02, 0.03]
    vocabulary = ["a", "b", "c"] + [f"w{i}" for i in range(47)]
    cohesion = group_cohesion(matrix, vocabulary, group=["a", "b", "c", "zzz"], k=2)
    assert cohesion.group_mean > 0.99
    assert abs(cohesion.random_mean) < 0.1
    assert cohesion.neighbour_precision == 1.0
    assert cohesion.missing == ("zzz",)
    table = cohesion_table({"toy": cohesion})
    assert table.loc["toy", "gap"] == pytest.approx(round(cohesion.gap, 3))


def test_cohesion_needs_two_words():
    with pytest.raises(ValueError, match="Fewer than 2"):
        group_cohesion(np.eye(3), ["a", "b", "c"], group=["a", "q"])


def test_nearest_neighbours_and_unknown_word():
    matrix = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    assert [w for w, _ in nearest_neighbours(matrix, ["king", "queen", "cat"], "king", n=2)] == [
        "queen",
        "cat",
    ]
    with pytest.raises(KeyError, match="'kinh' is not in the vocabulary.*king"):
        nearest_neighbours(matrix, ["king", "queen", "cat"], "kinh")
