"""Benchmark: our analogy evaluator against gensim's, on GloVe 6B 50d (notebook 03).

Both answer the Google analogy questions (questions-words.txt, shipped with gensim),
case-insensitive, at restrict_vocab 30,000 and 100,000. gensim gets its best ordinary
configuration: C-contiguous float32 vectors, norms filled, a warm-up call first. The two
evaluators run interleaved, RUNS times each; the table shows medians and ranges. Every
run's sections (the correct and the incorrect questions) must equal gensim's.
3CosMul: ours against gensim's evaluator with most_similar_cosmul on the first 30,000
words, one run each (gensim's takes as long as three of ours at 100,000 words).

Run: flock /tmp/heavy.lock .venv/bin/python benchmarks/analogies.py   (about 3 minutes)
"""

from __future__ import annotations

import datetime
import logging
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import gensim
import numpy as np
import torch
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from helpers.analogies import evaluate_analogies
from helpers.vectors import load_glove_6b_50d

logging.getLogger("gensim").setLevel(logging.ERROR)
RESTRICTIONS = (30_000, 100_000)
RUNS = 3
COSMUL_RESTRICT = 30_000
Result = tuple[float, list[dict]]


def identical(ours: Result, theirs: Result) -> bool:
    """Same accuracy and, section by section, the same correct and incorrect lists."""
    return (
        ours[0] == theirs[0]
        and len(ours[1]) == len(theirs[1])
        and all(
            a["section"] == b["section"]
            and a["correct"] == b["correct"]
            and a["incorrect"] == b["incorrect"]
            for a, b in zip(ours[1], theirs[1])
        )
    )


def timed(function: Callable[[], Result]) -> tuple[float, Result]:
    """Seconds taken by one call, and its result."""
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def cpu_name() -> str:
    """The CPU model, from /proc/cpuinfo where there is one."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def spread(values: list[float]) -> str:
    """Median and min-max of a few timings, as text."""
    return f"{statistics.median(values):8.2f}   {min(values):6.2f}-{max(values):<6.2f}"


def main() -> None:
    """Time both evaluators, interleaved, and check that every answer is gensim's."""
    keyed = load_glove_6b_50d()
    assert keyed.vectors.flags.c_contiguous and keyed.vectors.dtype == np.float32
    keyed.fill_norms()  # gensim caches the norms on first use: fill them beforehand
    path = datapath("questions-words.txt")
    with tempfile.TemporaryDirectory() as folder:
        warm_up = Path(folder) / "warm-up.txt"
        warm_up.write_text("".join(Path(path).read_text().splitlines(True)[:300]))
        for restrict in RESTRICTIONS:
            keyed.evaluate_word_analogies(str(warm_up), restrict_vocab=restrict)
            evaluate_analogies(keyed, path, restrict, report_malformed=False)

    print(
        f"Google analogies (3CosAdd) on GloVe 6B 50d; {os.cpu_count()} cores "
        f"({cpu_name()}); {datetime.date.today()}; numpy {np.__version__}, "
        f"torch {torch.__version__}, gensim {gensim.__version__}\n"
    )
    times: dict[tuple[int, str], list[float]] = {}
    accuracy: dict[int, float] = {}
    covered: dict[int, int] = {}
    all_identical = True
    for restrict in RESTRICTIONS:
        for _ in range(RUNS):
            seconds, theirs = timed(
                lambda: keyed.evaluate_word_analogies(path, restrict_vocab=restrict)
            )
            times.setdefault((restrict, "gensim"), []).append(seconds)
            seconds, ours = timed(
                lambda: evaluate_analogies(
                    keyed, path, restrict, report_malformed=False
                )
            )
            times.setdefault((restrict, "ours"), []).append(seconds)
            all_identical &= identical(ours, theirs)
            accuracy[restrict] = theirs[0]
            covered[restrict] = len(ours[1][-1]["correct"] + ours[1][-1]["incorrect"])
            print(
                f"  restrict {restrict:,}: "
                f"gensim {times[restrict, 'gensim'][-1]:.2f} s, "
                f"ours {times[restrict, 'ours'][-1]:.3f} s",
                flush=True,
            )

    print(
        f"\n{'restrict':>9} {'evaluator':<10} {'median s':>8}   {'min-max s':<13}"
        f" {'accuracy':>8} {'covered':>8}"
    )
    print("-" * 64)
    ratios: dict[int, float] = {}
    for restrict in RESTRICTIONS:
        for name in ("gensim", "ours"):
            print(
                f"{restrict:>9,} {name:<10} {spread(times[restrict, name])}"
                f" {accuracy[restrict]:>8.4f} {covered[restrict]:>8,}"
            )
        ratios[restrict] = statistics.median(
            times[restrict, "gensim"]
        ) / statistics.median(times[restrict, "ours"])
    for restrict in RESTRICTIONS:
        per_run = [
            g / o for g, o in zip(times[restrict, "gensim"], times[restrict, "ours"])
        ]
        print(
            f"ratio at {restrict:,}: {ratios[restrict]:.1f} (medians); per interleaved "
            f"run {min(per_run):.1f}-{max(per_run):.1f}"
        )
    print(f"identical sections in all {RUNS * len(RESTRICTIONS)} runs: {all_identical}")

    # 3CosMul: gensim's evaluator with most_similar_cosmul, on the first words only
    # (gensim 4.4's most_similar_cosmul ignores restrict_vocab)
    truncated = KeyedVectors(vector_size=keyed.vector_size)
    truncated.add_vectors(
        keyed.index_to_key[:COSMUL_RESTRICT], keyed.vectors[:COSMUL_RESTRICT]
    )
    truncated.fill_norms()
    truncated.most_similar = truncated.most_similar_cosmul
    cosmul_gensim, theirs = timed(
        lambda: truncated.evaluate_word_analogies(path, restrict_vocab=COSMUL_RESTRICT)
    )
    cosmul_ours, ours = timed(
        lambda: evaluate_analogies(
            keyed, path, COSMUL_RESTRICT, method="3cosmul", report_malformed=False
        )
    )
    cosmul_identical = identical(ours, theirs)
    print(
        f"\n3CosMul at {COSMUL_RESTRICT:,} (one run each): "
        f"gensim {cosmul_gensim:.2f} s, "
        f"ours {cosmul_ours:.2f} s, ratio {cosmul_gensim / cosmul_ours:.1f}, "
        f"accuracy {ours[0]:.4f}, identical {cosmul_identical}"
    )

    median = {key: statistics.median(values) for key, values in times.items()}
    print(
        f"RESULT ratio={ratios[100_000]:.1f} ratio_30k={ratios[30_000]:.1f} "
        f"gensim_s={median[100_000, 'gensim']:.2f} "
        f"ours_s={median[100_000, 'ours']:.3f} "
        f"gensim_30k_s={median[30_000, 'gensim']:.2f} "
        f"ours_30k_s={median[30_000, 'ours']:.3f} identical={int(all_identical)} "
        f"accuracy={accuracy[100_000]:.4f} covered={covered[100_000]} runs={RUNS} "
        f"cosmul_ratio={cosmul_gensim / cosmul_ours:.1f} "
        f"cosmul_identical={int(cosmul_identical)} cores={os.cpu_count()}"
    )
    if not (all_identical and cosmul_identical):
        raise SystemExit("results differ from gensim")


if __name__ == "__main__":
    main()
