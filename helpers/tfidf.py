"""TF-IDF from scratch, matching scikit-learn's TfidfVectorizer (notebook 01).

`smooth_idf` and `tfidf_from_scratch` are the lesson: notebook 01 defines them and
`make lesson-code` copies them here. `tokenize` and `term_counts` are the plumbing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

# scikit-learn's default token_pattern: words of two or more word characters.
TOKEN_PATTERN = re.compile(r"(?u)\b\w\w+\b")
# The from-scratch version keeps the whole (documents x terms) matrix in float64, and a
# few copies of it at once; scikit-learn keeps only the non-zero entries.
MAX_DENSE_BYTES = 256 * 2**20


def tokenize(document: str) -> list[str]:
    """Lowercase a document and split it into tokens as scikit-learn's default does."""
    return TOKEN_PATTERN.findall(document.lower())


def _check_documents(documents: Sequence[str]) -> None:
    """Refuse a single string, bytes, or an empty list, naming the fix."""
    if isinstance(documents, (str, bytes)):
        raise TypeError("documents must be a list of strings, not a single string.")
    if len(documents) == 0:
        raise ValueError("The documents list is empty: pass at least one document.")
    for position, document in enumerate(documents):
        if not isinstance(document, str):
            raise TypeError(
                f"Document {position} is a {type(document).__name__}, not a str: "
                "decode bytes first, e.g. document.decode('utf-8')."
            )


def term_counts(
    documents: Sequence[str], max_bytes: int = MAX_DENSE_BYTES
) -> tuple[np.ndarray, list[str]]:
    """Return the (documents x terms) count matrix and the sorted vocabulary.

    Refuses, before allocating it, a dense matrix larger than `max_bytes`.
    """
    _check_documents(documents)
    counters = [Counter(tokenize(document)) for document in documents]
    vocabulary = sorted(set().union(*counters))
    if not vocabulary:
        raise ValueError(
            "The vocabulary is empty after tokenisation: the documents hold no word of "
            "two or more letters or digits. Pass documents with real words."
        )
    needed = len(documents) * len(vocabulary) * 8
    if needed > max_bytes:
        raise ValueError(
            f"{len(documents):,} documents x {len(vocabulary):,} terms would need "
            f"{needed / 2**20:,.0f} MiB as a dense float64 matrix (and a few copies of "
            f"it), over the limit of {max_bytes / 2**20:,.0f} MiB. Use fewer, longer "
            "documents, or scikit-learn's TfidfVectorizer, which stores only the "
            "non-zero entries (a sparse matrix)."
        )
    column = {term: index for index, term in enumerate(vocabulary)}
    counts = np.zeros((len(documents), len(vocabulary)), dtype=np.float64)
    for row, counter in enumerate(counters):
        for term, count in counter.items():
            counts[row, column[term]] = count
    return counts, vocabulary


# From notebooks/01_tfidf.ipynb: edit it there, then `make lesson-code`.
def smooth_idf(counts: np.ndarray) -> np.ndarray:
    """idf(t) = ln((1 + n) / (1 + df(t))) + 1 for each column of a count matrix."""
    n_documents = counts.shape[0]
    document_frequency = (counts > 0).sum(axis=0)
    return np.log((1 + n_documents) / (1 + document_frequency)) + 1


# From notebooks/01_tfidf.ipynb: edit it there, then `make lesson-code`.
def tfidf_from_scratch(
    documents: list[str], sublinear_tf: bool = False
) -> tuple[np.ndarray, list[str]]:
    """The l2-normalised TF-IDF matrix (documents x terms) and its sorted vocabulary."""
    counts, vocabulary = term_counts(documents)
    tf = counts.copy()
    if sublinear_tf:  # 1 + ln(count) where the count is not 0
        tf[counts > 0] = 1 + np.log(counts[counts > 0])
    weighted = tf * smooth_idf(counts)
    norms = np.sqrt((weighted**2).sum(axis=1, keepdims=True))
    return weighted / np.where(norms == 0, 1, norms), vocabulary


# From notebooks/01_tfidf.ipynb: edit it there, then `make lesson-code`.
def search(
    query: str, vectorizer, document_matrix, n: int = 3
) -> list[tuple[int, float]]:
    """The n documents of highest cosine with `query`: (row, cosine), best first."""
    query_vector = vectorizer.transform([query])  # the collection's vocabulary and idf
    scores = (document_matrix @ query_vector.T).toarray().ravel()
    best = np.argsort(-scores, kind="stable")[:n]
    return [(int(row), float(scores[row])) for row in best]
