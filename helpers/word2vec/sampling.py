"""The vocabulary and word2vec.c's draws: subsampling, windows, noise (notebook 02).

Each function's formula is explained in notebook 02 ("word2vec.c's details").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Vocabulary:
    """Words kept for training, most frequent first, with their corpus counts."""

    words: list[str]
    counts: np.ndarray
    index: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        """Number of words in the vocabulary."""
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Map tokens to ids, dropping tokens that are not in the vocabulary."""
        index = self.index
        return np.array([index[t] for t in tokens if t in index], dtype=np.int64)


def build_vocabulary(tokens: Sequence[str], min_count: int = 5) -> Vocabulary:
    """Count tokens; keep those seen at least `min_count` times, most frequent first."""
    if len(tokens) == 0:
        raise ValueError(
            "The corpus is empty: there are no tokens to build a vocabulary from."
        )
    counted = Counter(tokens)
    kept = sorted(
        ((word, count) for word, count in counted.items() if count >= min_count),
        key=lambda pair: (-pair[1], pair[0]),
    )
    if len(kept) < 2:
        raise ValueError(
            f"min_count={min_count} leaves {len(kept)} word(s) of {len(counted)} "
            "distinct ones; "
            "training needs at least 2. Lower min_count or use a larger corpus."
        )
    words = [word for word, _ in kept]
    counts = np.array([count for _, count in kept], dtype=np.int64)
    return Vocabulary(words, counts, {word: i for i, word in enumerate(words)})


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """word2vec.c's chance of keeping each occurrence of a word.

    With c the word's count and t = sample * counts.sum() (a count too):
    min(1, (sqrt(c / t) + 1) * t / c). The paper's form is sqrt(sample / (c / N)).
    """
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The noise distribution: unigram counts raised to `power`, normalised."""
    weights = counts.astype(np.float64) ** power
    return weights / weights.sum()


def sample_window_sizes(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """Each position's effective window, uniform in 1..window as in word2vec.c."""
    return rng.integers(1, window + 1, size=n)


def context_offsets(window: int) -> np.ndarray:
    """Offsets of the context words around a centre: -window..-1, 1..window."""
    return np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])


def context_mask(window_sizes: np.ndarray, window: int) -> np.ndarray:
    """(n, 2*window) booleans: is the word at each offset in the window and the text?"""
    n = len(window_sizes)
    offsets = context_offsets(window)
    positions = np.arange(n)[:, None] + offsets[None, :]
    inside_text = (positions >= 0) & (positions < n)
    return inside_text & (np.abs(offsets)[None, :] <= window_sizes[:, None])


def cbow_examples(
    ids: np.ndarray, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(contexts, mask, targets): the 2*window context ids per position, real ones."""
    ids = np.asarray(ids, dtype=np.int64)
    mask = context_mask(sample_window_sizes(len(ids), window, rng), window)
    positions = np.arange(len(ids))[:, None] + context_offsets(window)[None, :]
    contexts = np.where(mask, ids[np.clip(positions, 0, len(ids) - 1)], 0)
    return contexts, mask, ids


def sample_negatives(
    noise: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Draw word ids from the noise distribution (inverse-CDF sampling)."""
    cdf = np.cumsum(noise)
    return np.minimum(np.searchsorted(cdf, rng.random(shape) * cdf[-1]), len(noise) - 1)
