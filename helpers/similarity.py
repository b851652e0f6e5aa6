"""Cosine similarity and the number-word cohesion measure used across notebooks 01-03."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

NUMBER_WORDS = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Return `matrix` with every row scaled to length 1 (all-zero rows stay zero)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def mean_pairwise_cosine(vectors: np.ndarray) -> float:
    """Return the mean cosine similarity over all pairs i < j of the rows of `vectors`."""
    if len(vectors) < 2:
        raise ValueError(f"Need at least 2 vectors for a pairwise mean, got {len(vectors)}.")
    similarities = unit_rows(vectors) @ unit_rows(vectors).T
    upper = np.triu_indices(len(vectors), k=1)
    return float(similarities[upper].mean())


@dataclass(frozen=True)
class Cohesion:
    """How much closer the words of a group are to each other than random word pairs."""

    group_mean: float
    random_mean: float
    neighbour_precision: float
    n_found: int
    missing: tuple[str, ...]

    @property
    def gap(self) -> float:
        """Group mean cosine minus random-pair mean cosine."""
        return self.group_mean - self.random_mean


def group_cohesion(
    matrix: np.ndarray,
    vocabulary: Sequence[str],
    group: Sequence[str] = NUMBER_WORDS,
    n_random_pairs: int = 5000,
    seed: int = 0,
    k: int = 10,
) -> Cohesion:
    """Compare the cosines within `group` with random pairs, and count group words among neighbours.

    `neighbour_precision` is the mean fraction of each group word's `k` nearest neighbours
    (itself excluded) that are other words of the group: unlike a mean cosine it does not
    reward words for merely being frequent.
    """
    matrix = np.asarray(matrix)
    if matrix.shape[0] != len(vocabulary):
        raise ValueError(
            f"matrix has {matrix.shape[0]} rows but the vocabulary has {len(vocabulary)} words."
        )
    row_of = {word: row for row, word in enumerate(vocabulary)}
    found = [row_of[word] for word in group if word in row_of]
    missing = tuple(word for word in group if word not in row_of)
    if len(found) < 2:
        raise ValueError(f"Fewer than 2 words of {list(group)} are in the vocabulary.")
    rng = np.random.default_rng(seed)
    first = rng.integers(0, len(vocabulary), n_random_pairs)
    second = (first + rng.integers(1, len(vocabulary), n_random_pairs)) % len(vocabulary)
    units = unit_rows(matrix[np.concatenate([first, second])])
    random_mean = float((units[:n_random_pairs] * units[n_random_pairs:]).sum(axis=1).mean())
    similarities = unit_rows(matrix[found]) @ unit_rows(matrix).T
    similarities[np.arange(len(found)), found] = -np.inf
    top_k = np.argsort(-similarities, axis=1, kind="stable")[:, :k]
    precision = float(np.isin(top_k, found).mean())
    return Cohesion(
        mean_pairwise_cosine(matrix[found]), random_mean, precision, len(found), missing
    )


def cohesion_table(rows: dict[str, Cohesion]) -> pd.DataFrame:
    """Return a table with one row per embedding: group mean, random mean and their gap."""
    return pd.DataFrame(
        {
            "one..ten mean cosine": [c.group_mean for c in rows.values()],
            "random pairs mean cosine": [c.random_mean for c in rows.values()],
            "gap": [c.gap for c in rows.values()],
            "number words among 10 nearest": [c.neighbour_precision for c in rows.values()],
        },
        index=pd.Index(list(rows), name="embedding"),
    ).round(3)


def close_matches(word: str, vocabulary: Sequence[str], n: int = 5) -> list[str]:
    """Return up to `n` vocabulary words spelled like `word` (for helpful error messages)."""
    return difflib.get_close_matches(word, list(vocabulary), n=n, cutoff=0.6)


def check_in_vocabulary(word: str, row_of: dict[str, int]) -> int:
    """Return the row of `word`, or raise KeyError naming it and suggesting close matches."""
    if word not in row_of:
        suggestions = close_matches(word, row_of)
        hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
        raise KeyError(f"{word!r} is not in the vocabulary ({len(row_of)} words).{hint}")
    return row_of[word]


def nearest_neighbours(
    matrix: np.ndarray, vocabulary: Sequence[str], word: str, n: int = 10
) -> list[tuple[str, float]]:
    """Return the `n` words with the highest cosine similarity to `word` (itself excluded)."""
    row_of = {w: row for row, w in enumerate(vocabulary)}
    row = check_in_vocabulary(word, row_of)
    similarities = unit_rows(matrix) @ unit_rows(matrix[row : row + 1])[0]
    similarities[row] = -np.inf
    top = np.argsort(-similarities, kind="stable")[:n]
    return [(vocabulary[i], float(similarities[i])) for i in top]
