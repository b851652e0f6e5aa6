"""TF-IDF from scratch, matching scikit-learn's TfidfVectorizer (notebook 01)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

# scikit-learn's default token_pattern: words of two or more word characters.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")


def tokenize(document: str) -> list[str]:
    """Lowercase a document and split it into tokens as scikit-learn's default analyzer does."""
    return TOKEN_PATTERN.findall(document.lower())


def term_counts(documents: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Return the (documents x terms) count matrix and the sorted vocabulary."""
    if isinstance(documents, str):
        raise TypeError("documents must be a list of strings, not a single string.")
    if len(documents) == 0:
        raise ValueError("The documents list is empty: pass at least one document.")
    counters = [Counter(tokenize(document)) for document in documents]
    vocabulary = sorted(set().union(*counters))
    if not vocabulary:
        raise ValueError(
            "The vocabulary is empty after tokenisation: the documents hold no word of two or "
            "more letters or digits. Pass documents with real words."
        )
    column = {term: index for index, term in enumerate(vocabulary)}
    counts = np.zeros((len(documents), len(vocabulary)), dtype=np.float64)
    for row, counter in enumerate(counters):
        for term, count in counter.items():
            counts[row, column[term]] = count
    return counts, vocabulary


def smooth_idf(counts: np.ndarray) -> np.ndarray:
    """Return idf(t) = ln((1 + n) / (1 + df(t))) + 1 for each column of a count matrix."""
    n_documents = counts.shape[0]
    document_frequency = (counts > 0).sum(axis=0)
    return np.log((1 + n_documents) / (1 + document_frequency)) + 1.0


def tfidf_from_scratch(
    documents: Sequence[str], sublinear_tf: bool = False
) -> tuple[np.ndarray, list[str]]:
    """Return the l2-normalised TF-IDF matrix (documents x terms) and its sorted vocabulary."""
    counts, vocabulary = term_counts(documents)
    term_frequency = counts.copy()
    if sublinear_tf:
        present = term_frequency > 0
        term_frequency[present] = 1.0 + np.log(term_frequency[present])
    weighted = term_frequency * smooth_idf(counts)
    norms = np.sqrt((weighted**2).sum(axis=1, keepdims=True))
    norms[norms == 0] = 1.0
    return weighted / norms, vocabulary
