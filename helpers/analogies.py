"""The Google analogy benchmark: read the questions, answer them in batches as gensim does (notebook 03)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from gensim.models import KeyedVectors


@dataclass
class _Question:
    """One analogy question: a is to b as c is to expected, in section number `section`."""

    section: int
    a: str
    b: str
    c: str
    expected: str


def read_analogies(path: str | Path, case_insensitive: bool = True) -> tuple[list[str], list[_Question], int]:
    """Parse an analogy file: section names, questions, and how many malformed lines were skipped."""
    sections: list[str] = []
    questions: list[_Question] = []
    malformed = 0
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.startswith(": "):
                sections.append(line.lstrip(": ").strip())
                continue
            words = line.split()
            if len(words) != 4 or not sections:
                malformed += 1
                continue
            if case_insensitive:
                words = [w.upper() for w in words]
            questions.append(_Question(len(sections) - 1, *words))
    return sections, questions, malformed


def evaluate_analogies(
    keyed_vectors: KeyedVectors,
    analogies_path: str | Path,
    restrict_vocab: int = 300_000,
    case_insensitive: bool = True,
    chunk_size: int = 512,
    report_malformed: bool = True,
) -> tuple[float, list[dict]]:
    """Batched twin of gensim's `evaluate_word_analogies`: same answers, in matrix products.

    Vectors are normalised once; questions are answered in chunks by one matrix product
    each; the best answer that is not one of the three question words (in any casing) wins.
    Returns `(total_accuracy, sections)` shaped like gensim's.
    """
    path = Path(analogies_path)
    if not path.is_file():
        raise FileNotFoundError(f"No analogy file at {path}.")
    section_names, questions, malformed = read_analogies(path, case_insensitive)
    if malformed and report_malformed:
        print(f"skipped {malformed} malformed line(s) in {path.name}")
    keys = keyed_vectors.index_to_key[:restrict_vocab]
    normalise = str.upper if case_insensitive else str
    # all rows whose (upper-cased) key is a given word: to exclude every casing of a question word
    rows_of: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        rows_of.setdefault(normalise(key), []).append(i)
    ok_vocab = {word: rows[0] for word, rows in rows_of.items()}  # the most frequent casing, as gensim

    vectors = torch.from_numpy(np.asarray(keyed_vectors.vectors[: len(keys)], dtype=np.float32))
    units = vectors / torch.linalg.vector_norm(vectors, dim=1, keepdim=True)
    covered = [q for q in questions if all(w in ok_vocab for w in (q.a, q.b, q.c, q.expected))]
    words = sorted({w for q in covered for w in (q.a, q.b, q.c)})
    word_index = {w: i for i, w in enumerate(words)}
    # every row of each question word, in all its casings, padded by repeating the first
    width = max((len(rows_of[w]) for w in words), default=1)
    casings = torch.tensor([rows_of[w] + rows_of[w][:1] * (width - len(rows_of[w])) for w in words]).reshape(-1, width)
    correct = np.zeros(len(covered), dtype=bool)
    scores = torch.empty(min(chunk_size, len(covered)), len(keys))  # reused: allocating it is slow
    for start in range(0, len(covered), chunk_size):
        chunk = covered[start : start + chunk_size]
        a, b, c = (torch.tensor([ok_vocab[getattr(q, w)] for q in chunk]) for w in "abc")
        mean = units[b] + units[c] - units[a]
        mean /= torch.linalg.vector_norm(mean, dim=1, keepdim=True)
        chunk_scores = scores[: len(chunk)]
        torch.matmul(mean, units.T, out=chunk_scores)
        question_rows = torch.cat([casings[[word_index[getattr(q, w)] for q in chunk]] for w in "abc"], dim=1)
        chunk_scores.scatter_(1, question_rows, -torch.inf)
        answers = chunk_scores.argmax(dim=1).tolist()
        correct[start : start + len(chunk)] = [normalise(keys[r]) == q.expected for q, r in zip(chunk, answers)]

    results = [{"section": name, "correct": [], "incorrect": []} for name in section_names]
    for q, ok in zip(covered, correct):
        results[q.section]["correct" if ok else "incorrect"].append((q.a, q.b, q.c, q.expected))
    total = {
        "section": "Total accuracy",
        "correct": [t for s in results for t in s["correct"]],
        "incorrect": [t for s in results for t in s["incorrect"]],
    }
    n_total = len(total["correct"]) + len(total["incorrect"])
    accuracy = len(total["correct"]) / n_total if n_total else 0.0
    return accuracy, results + [total]


def analogy_table(sections: list[dict]) -> pd.DataFrame:
    """Per-section accuracy table from `evaluate_analogies` or gensim's sections."""
    rows = []
    for s in sections:
        n = len(s["correct"]) + len(s["incorrect"])
        rows.append({"section": s["section"], "covered": n, "correct": len(s["correct"]),
                     "accuracy": len(s["correct"]) / n if n else float("nan")})
    return pd.DataFrame(rows).set_index("section")
