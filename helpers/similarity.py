"""Word-level cosine tools: neighbours by word, the vocabulary check, and the fair
"do the number words cluster?" measure (notebooks 01-03).

Row normalisation and the neighbour search itself live in `helpers.neighbours`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.neighbours import nearest_rows, row_norms, unit_rows

__all__ = [
    "NUMBER_WORDS",
    "Cohesion",
    "check_in_vocabulary",
    "close_matches",
    "cohesion_table",
    "group_cohesion",
    "matched_pools",
    "mean_pairwise_cosine",
    "nearest_neighbours",
    "nearest_words",
    "unit_rows",
]

NUMBER_WORDS = (
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
)


def mean_pairwise_cosine(vectors: np.ndarray) -> float:
    """The mean cosine similarity over all pairs i < j of the rows of `vectors`."""
    if len(vectors) < 2:
        raise ValueError(
            f"Need at least 2 vectors for a pairwise mean, got {len(vectors)}."
        )
    units = unit_rows(vectors)
    upper = np.triu_indices(len(vectors), k=1)
    return float((units @ units.T)[upper].mean())


def close_matches(word: str, vocabulary: Sequence[str], n: int = 5) -> list[str]:
    """Up to `n` vocabulary words spelled like `word` (for helpful error messages)."""
    return difflib.get_close_matches(word, list(vocabulary), n=n, cutoff=0.6)


def check_in_vocabulary(
    word: str, row_of: Mapping[str, int], suggestions_from: Sequence[str] | None = None
) -> int:
    """The row of `word`; else a KeyError naming it and suggesting close spellings.

    The suggestions come from `suggestions_from` (default: every word of `row_of`);
    for a large vocabulary pass a shorter list, e.g. its 50,000 most frequent words.
    """
    if word in row_of:
        return row_of[word]
    candidates = row_of if suggestions_from is None else suggestions_from
    suggestions = close_matches(word, candidates)
    hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
    raise KeyError(f"{word!r} is not in the vocabulary ({len(row_of):,} words).{hint}")


def nearest_words(
    matrix: np.ndarray, vocabulary: Sequence[str], words: Sequence[str], n: int = 10
) -> dict[str, list[tuple[str, float]]]:
    """For each of `words`, the `n` words of highest cosine with it (not itself)."""
    if len(matrix) != len(vocabulary):
        raise ValueError(
            f"matrix has {len(matrix)} rows but the vocabulary has "
            f"{len(vocabulary)} words."
        )
    row_of = {w: row for row, w in enumerate(vocabulary)}
    rows = [check_in_vocabulary(word, row_of) for word in words]
    similarities, ids = nearest_rows(np.asarray(matrix), rows, n)
    return {
        word: [(vocabulary[i], float(s)) for i, s in zip(found, scores)]
        for word, found, scores in zip(words, ids.tolist(), similarities)
    }


def nearest_neighbours(
    matrix: np.ndarray, vocabulary: Sequence[str], word: str, n: int = 10
) -> list[tuple[str, float]]:
    """The `n` words of highest cosine similarity with `word` (itself excluded)."""
    return nearest_words(matrix, vocabulary, [word], n)[word]


def matched_pools(
    frequencies: Sequence[float], rows: Sequence[int], pool_size: int = 100
) -> list[np.ndarray]:
    """For each of `rows`, the other words closest to it in frequency (ties included).

    Closeness is measured on a log scale, so 10 and 20 are as close as 100 and 200. At
    least `pool_size` words make each pool; all words tied with the last one join it (so
    with document frequencies, a pool is every word of the same document frequency).
    Words of `rows` never enter a pool.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if not np.all(np.isfinite(frequencies) & (frequencies > 0)):
        raise ValueError(
            "frequencies must all be positive and finite (counts, df or 1/rank)."
        )
    log_frequency = np.log(frequencies)
    others = np.setdiff1d(np.arange(len(log_frequency)), rows)
    if len(others) < pool_size:
        raise ValueError(
            f"Only {len(others)} words are outside the group; a pool needs {pool_size}."
        )
    pools = []
    for row in rows:
        distance = np.abs(log_frequency[others] - log_frequency[row])
        cutoff = np.partition(distance, pool_size - 1)[pool_size - 1]
        pools.append(others[distance <= cutoff + 1e-9])  # ties despite rounding
    return pools


@dataclass(frozen=True)
class Cohesion:
    """How close the words of a group are, beside random words of matched frequency.

    `matched_means` and `matched_precisions` hold one value per random group; they are
    empty when no frequencies were given.
    """

    group_mean: float
    random_mean: float
    neighbour_precision: float
    n_found: int
    missing: tuple[str, ...]
    k: int = 10
    matched_means: tuple[float, ...] = ()
    matched_precisions: tuple[float, ...] = ()

    @property
    def matched_mean(self) -> float:
        """Mean cosine within the matched random groups (NaN without them)."""
        return _mean(self.matched_means)

    @property
    def matched_precision(self) -> float:
        """Neighbour precision of the matched random groups (NaN without them)."""
        return _mean(self.matched_precisions)

    @property
    def share_as_close_cosine(self) -> float:
        """Share of matched random groups whose mean cosine is at least the group's."""
        return _mean(np.array(self.matched_means) >= self.group_mean)

    @property
    def share_as_close_neighbours(self) -> float:
        """Share of matched random groups at least as high in neighbour precision."""
        return _mean(np.array(self.matched_precisions) >= self.neighbour_precision)

    @property
    def gap(self) -> float:
        """Group mean cosine minus random-pair mean cosine."""
        return self.group_mean - self.random_mean


def _mean(values: Sequence[float] | np.ndarray) -> float:
    """The mean, or NaN for no values."""
    return float(np.mean(values)) if len(values) else np.nan


def _neighbour_precision(
    matrix: np.ndarray, rows: np.ndarray, k: int, norms: np.ndarray
) -> float:
    """Mean share of each row's k nearest neighbours (not itself) that are in `rows`."""
    _, top_k = nearest_rows(matrix, rows, k, norms=norms)
    return float(np.isin(top_k, rows).mean())


def group_cohesion(
    matrix: np.ndarray,
    vocabulary: Sequence[str],
    group: Sequence[str] = NUMBER_WORDS,
    n_random_pairs: int = 5000,
    seed: int = 0,
    k: int = 10,
    frequencies: Sequence[float] | None = None,
    n_random_groups: int = 200,
    pool_size: int = 100,
) -> Cohesion:
    """Measure how close the words of `group` are, and compare with random words.

    - `group_mean`: the mean cosine over all pairs of group words;
    - `neighbour_precision`: the mean share of each group word's `k` nearest neighbours
      (itself excluded) that are other group words;
    - `random_mean`: the mean cosine of `n_random_pairs` random word pairs.

    With `frequencies` (word counts, document frequencies, or 1/rank for a vocabulary
    sorted by frequency), it also draws `n_random_groups` random groups in which every
    group word is replaced by a random word among the `pool_size` words closest to it in
    frequency (see `matched_pools`), and measures them the same way: the fair baseline.
    """
    matrix = np.asarray(matrix)
    if matrix.shape[0] != len(vocabulary):
        raise ValueError(
            f"matrix has {matrix.shape[0]} rows but the vocabulary has "
            f"{len(vocabulary)} words."
        )
    row_of = {word: row for row, word in enumerate(vocabulary)}
    found = np.array([row_of[word] for word in group if word in row_of], dtype=np.int64)
    missing = tuple(word for word in group if word not in row_of)
    if len(found) < 2:
        raise ValueError(f"Fewer than 2 words of {list(group)} are in the vocabulary.")
    rng = np.random.default_rng(seed)
    n_words = len(vocabulary)
    first = rng.integers(0, n_words, n_random_pairs)
    second = (first + rng.integers(1, n_words, n_random_pairs)) % n_words
    units = unit_rows(matrix[np.concatenate([first, second])])
    pair_cosines = (units[:n_random_pairs] * units[n_random_pairs:]).sum(axis=1)
    norms = row_norms(matrix)
    precision = _neighbour_precision(matrix, found, k, norms)
    matched_means, matched_precisions = [], []
    if frequencies is not None:
        if len(frequencies) != n_words:
            raise ValueError(
                f"{len(frequencies)} frequencies for a vocabulary of {n_words} words."
            )
        pools = matched_pools(frequencies, found, pool_size)
        for _ in range(n_random_groups):
            rows = np.array([rng.choice(pool) for pool in pools])
            matched_means.append(mean_pairwise_cosine(matrix[rows]))
            matched_precisions.append(_neighbour_precision(matrix, rows, k, norms))
    return Cohesion(
        group_mean=mean_pairwise_cosine(matrix[found]),
        random_mean=float(pair_cosines.mean()),
        neighbour_precision=precision,
        n_found=len(found),
        missing=missing,
        k=k,
        matched_means=tuple(matched_means),
        matched_precisions=tuple(matched_precisions),
    )


def cohesion_table(
    rows: dict[str, Cohesion], group_name: str = "number words"
) -> pd.DataFrame:
    """One column per embedding; one row per measure, each beside its baselines.

    Rows about matched random groups are left out when no embedding has them.
    """
    ks = {c.k for c in rows.values()}
    if len(ks) != 1:
        raise ValueError(f"All measures must use the same k, got {sorted(ks)}.")
    k = ks.pop()
    measures = {
        f"cosine within group: {group_name}": "group_mean",
        "cosine within group: matched random groups": "matched_mean",
        f"group words in {k} nearest: {group_name}": "neighbour_precision",
        f"group words in {k} nearest: matched random groups": "matched_precision",
        "matched groups at least as close: cosine": "share_as_close_cosine",
        "matched groups at least as close: neighbours": "share_as_close_neighbours",
        "cosine of any two random words": "random_mean",
    }
    table = pd.DataFrame(
        {
            name: [getattr(cohesion, label) for label in measures.values()]
            for name, cohesion in rows.items()
        },
        index=pd.Index(list(measures), name="measure"),
    )
    return table.dropna(how="all").round(3)
