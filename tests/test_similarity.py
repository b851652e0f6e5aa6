"""Word-level cosine tools and the cohesion measure: hand-made vectors and sklearn."""

import numpy as np
import pytest
from sklearn.metrics.pairwise import cosine_similarity

from helpers.similarity import (
    check_in_vocabulary,
    cohesion_table,
    group_cohesion,
    matched_pools,
    mean_pairwise_cosine,
    nearest_neighbours,
    nearest_words,
    unit_rows,
)


def test_mean_pairwise_cosine_matches_sklearn():
    vectors = np.random.default_rng(0).normal(size=(6, 4))
    reference = cosine_similarity(vectors)[np.triu_indices(6, k=1)].mean()
    assert mean_pairwise_cosine(vectors) == pytest.approx(reference, abs=1e-12)


def test_unit_rows_keeps_zero_rows():
    units = unit_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(units, [[0.6, 0.8], [0.0, 0.0]])


def test_check_in_vocabulary():
    row_of = {"romeo": 0, "rome": 1, "juliet": 2, "moe": 3}
    assert check_in_vocabulary("juliet", row_of) == 2
    with pytest.raises(
        KeyError,
        match=r"'romoe' is not in the vocabulary \(4 words\)"
        r"\. Did you mean: rome, romeo, moe\?",
    ):
        check_in_vocabulary("romoe", row_of)
    # suggestions only from the list given (e.g. the most frequent words)
    with pytest.raises(KeyError, match=r"Did you mean: moe\?"):
        check_in_vocabulary("romoe", row_of, suggestions_from=["moe", "juliet"])
    with pytest.raises(KeyError, match=r"\(4 words\)\.\"$"):
        check_in_vocabulary("xyz", row_of)
    big = {f"w{i}": i for i in range(12_345)}
    with pytest.raises(KeyError, match=r"\(12,345 words\)"):
        check_in_vocabulary("nope", big, suggestions_from=[])


def test_nearest_words_match_sklearn():
    rng = np.random.default_rng(2)
    matrix = rng.normal(size=(40, 5))
    words = [f"w{i}" for i in range(40)]
    found = nearest_words(matrix, words, ["w3", "w17"], n=4)
    for word in ["w3", "w17"]:
        row = words.index(word)
        similarities = cosine_similarity(matrix[row : row + 1], matrix)[0]
        similarities[row] = -np.inf
        best = np.argsort(-similarities, kind="stable")[:4]
        assert [w for w, _ in found[word]] == [words[i] for i in best]
        np.testing.assert_allclose([s for _, s in found[word]], similarities[best])


def test_nearest_neighbours_and_unknown_word():
    matrix = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    words = ["king", "queen", "cat"]
    assert [w for w, _ in nearest_neighbours(matrix, words, "king", n=2)] == [
        "queen",
        "cat",
    ]
    with pytest.raises(KeyError, match="'kinh' is not in the vocabulary.*king"):
        nearest_neighbours(matrix, words, "kinh")
    with pytest.raises(ValueError, match="2 rows but the vocabulary has 3"):
        nearest_words(matrix[:2], words, ["king"])


def test_matched_pools_by_hand():
    # log-frequency distances from word 0 (f=10): word 1 (f=10) 0, word 2 (f=20) and
    # word 3 (f=5) ln 2 each, word 4 (f=1000) ln 100
    frequencies = [10, 10, 20, 5, 1000, 999]
    assert [p.tolist() for p in matched_pools(frequencies, [0], pool_size=1)] == [[1]]
    # ties with the last member join the pool
    assert [p.tolist() for p in matched_pools(frequencies, [0], pool_size=2)] == [
        [1, 2, 3]
    ]
    # words of the group never enter a pool
    pools = matched_pools(frequencies, [0, 1], pool_size=2)
    assert [p.tolist() for p in pools] == [[2, 3], [2, 3]]
    assert matched_pools(frequencies, [4], pool_size=1)[0].tolist() == [5]
    with pytest.raises(ValueError, match="positive"):
        matched_pools([1, 0, 2], [0], pool_size=1)


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
    assert np.isnan(cohesion.matched_mean)


def test_matched_baseline_draws_from_words_of_the_same_frequency():
    # group a, b, c (frequency 5); pool words p0..p9 (frequency 5) all point one way,
    # so every matched group has mean cosine 1 and all neighbours inside the pool;
    # the other 37 words are frequent and random
    rng = np.random.default_rng(4)
    matrix = rng.normal(size=(50, 6))
    matrix[3:13] = [0, 0, 0, 0, 0, 1.0]
    vocabulary = (
        ["a", "b", "c"] + [f"p{i}" for i in range(10)] + [f"w{i}" for i in range(37)]
    )
    frequencies = [5] * 13 + [1000] * 37
    cohesion = group_cohesion(
        matrix,
        vocabulary,
        ["a", "b", "c"],
        k=2,
        frequencies=frequencies,
        n_random_groups=50,
        pool_size=10,
    )
    assert len(cohesion.matched_means) == 50
    np.testing.assert_allclose(cohesion.matched_means, 1.0)
    # a matched group of 3 pool words: each word's 2 nearest are other pool words
    # (all at cosine 1, ties to the smaller row), in the group only by chance
    assert 0 < cohesion.matched_precision < 1
    assert cohesion.share_as_close_cosine == 1.0


def test_cohesion_table_reads_as_measures_by_embedding():
    rng = np.random.default_rng(5)
    matrix = rng.normal(size=(300, 5))
    vocabulary = [f"w{i}" for i in range(300)]
    frequencies = np.arange(1, 301)
    group = ["w10", "w20", "w30"]
    with_baseline = group_cohesion(matrix, vocabulary, group, frequencies=frequencies)
    plain = group_cohesion(matrix, vocabulary, group)
    table = cohesion_table({"baseline": with_baseline, "plain": plain})
    assert list(table.columns) == ["baseline", "plain"]
    assert table.loc["cosine within group: number words", "plain"] == round(
        plain.group_mean, 3
    )
    assert table.loc["cosine of any two random words", "baseline"] == round(
        with_baseline.random_mean, 3
    )
    assert np.isnan(table.loc["cosine within group: matched random groups", "plain"])
    only_plain = cohesion_table({"plain": plain}, group_name="g")
    assert list(only_plain.index) == [
        "cosine within group: g",
        "group words in 10 nearest: g",
        "cosine of any two random words",
    ]


def test_cohesion_needs_two_words():
    with pytest.raises(ValueError, match="Fewer than 2"):
        group_cohesion(np.eye(3), ["a", "b", "c"], group=["a", "q"])
