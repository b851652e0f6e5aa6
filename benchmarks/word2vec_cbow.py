"""Benchmark: our fast CBOW trainer against gensim on TinyShakespeare: speed, quality.

Same settings for both: dim 100, window 5, negative 5, min_count 5, sample 1e-3, 20
epochs, CBOW mean, lr 0.025 decaying linearly to 0.0001 (gensim's defaults, 20 epochs);
ours updates in batches of `CBOWConfig().batch_size` centre words. gensim runs in its
best ordinary configuration: its own Cython trainer, token lists cut in 10,000-word
sentences (its limit), default job size; its `corpus_file` mode was not faster here.
Both are warmed up by one untimed run. Timed: gensim's `train` call; our whole
`train_cbow` call (it includes drawing the epochs and starting the worker processes).

Speed: effective words per second (words kept by subsampling, as gensim counts them),
median and [min-max] over runs interleaved with the baseline's; `ratio` compares 2
workers with 2 workers. Quality: number-word cohesion gap (mean cosine among one..ten
minus mean cosine of random pairs), Spearman on the covered WordSim-353 pairs, accuracy
on the covered analogy questions; mean and [min-max] over seeds. With 2 workers neither
trainer is deterministic, so one seed proves little: an ordering is stated only when the
ranges over seeds do not overlap. The machine is shared: the load average is printed.

Run: .venv/bin/python benchmarks/word2vec_cbow.py   (about 2 minutes on 2 cores)
"""

from __future__ import annotations

import logging
import os
import statistics
from dataclasses import dataclass

from gensim.test.utils import datapath

from helpers.corpus import load_tinyshakespeare, word_tokens
from helpers.similarity import group_cohesion
from helpers.word2vec.gensim_io import as_sentences, to_keyed_vectors, train_gensim_cbow
from helpers.word2vec.sampling import build_vocabulary
from helpers.word2vec.train import CBOWConfig
from helpers.word2vec.train_fast import train_cbow

logging.getLogger("gensim").setLevel(logging.ERROR)

SEEDS = (0, 1, 2, 3, 4)
TRAINERS = (("gensim", 2), ("ours", 2), ("gensim", 1), ("ours", 1))
METRICS = ("cohesion gap", "ws353 rho", "analogy acc")


@dataclass
class Run:
    """One timed training run and the quality of its vectors."""

    trainer: str
    workers: int
    seed: int
    words_per_second: float
    seconds: float
    quality: dict[str, float]


def quality(keyed) -> dict[str, float]:
    """Cohesion gap, WordSim-353 Spearman and analogy accuracy of KeyedVectors."""
    cohesion = group_cohesion(keyed.vectors, keyed.index_to_key)
    _, spearman, _ = keyed.evaluate_word_pairs(datapath("wordsim353.tsv"))
    accuracy, _ = keyed.evaluate_word_analogies(datapath("questions-words.txt"))
    return {
        "cohesion gap": float(cohesion.gap),
        "ws353 rho": float(spearman.statistic),
        "analogy acc": float(accuracy),
    }


def covered_questions(keyed) -> int:
    """How many analogy questions have all four words in the vocabulary."""
    _, sections = keyed.evaluate_word_analogies(datapath("questions-words.txt"))
    total = sections[-1]
    return len(total["correct"]) + len(total["incorrect"])


def train_once(trainer: str, workers: int, config: CBOWConfig, corpus: dict) -> Run:
    """Train one model; measure its speed and the quality of its vectors."""
    if trainer == "gensim":
        model, effective, seconds = train_gensim_cbow(
            corpus["sentences"], config, workers=workers
        )
        return Run(trainer, workers, config.seed, effective / seconds, seconds,
                   quality(model.wv))
    vocabulary = corpus["vocabulary"]
    result = train_cbow(corpus["ids"], vocabulary, config, progress=False,
                        workers=workers)
    keyed = to_keyed_vectors(result.input_vectors, vocabulary.words)
    return Run(trainer, workers, config.seed, result.words_per_second, result.seconds,
               quality(keyed))


def spread(values: list[float], digits: int = 3, centre=statistics.median) -> str:
    """'centre [min-max]' of some values."""
    return (f"{centre(values):.{digits}f} "
            f"[{min(values):.{digits}f}-{max(values):.{digits}f}]")


def ordering(ours: list[float], theirs: list[float]) -> str:
    """What the spread over seeds supports: an ordering only when ranges are apart."""
    if min(ours) > max(theirs):
        return "ours higher in every run"
    if max(ours) < min(theirs):
        return "gensim higher in every run"
    return "ranges overlap: no ordering"


def main(seeds: tuple[int, ...] = SEEDS, batch_size: int | None = None) -> None:
    """Interleave the trainers seed by seed; print speed, quality and RESULT."""
    tokens = word_tokens(load_tinyshakespeare())
    config = CBOWConfig() if batch_size is None else CBOWConfig(batch_size=batch_size)
    vocabulary = build_vocabulary(tokens, config.min_count)
    corpus = {
        "sentences": as_sentences(tokens),
        "vocabulary": vocabulary,
        "ids": vocabulary.encode(tokens),
    }
    load_before = os.getloadavg()[0]
    warm = CBOWConfig(epochs=1, batch_size=config.batch_size)
    for trainer in ("gensim", "ours"):
        train_once(trainer, 2, warm, corpus)
    runs: list[Run] = []
    for index, seed in enumerate(seeds):
        seeded = CBOWConfig(seed=seed, batch_size=config.batch_size)
        # alternate who goes first, so a slow spell of the machine hits both
        order = TRAINERS if index % 2 == 0 else TRAINERS[::-1]
        for trainer, workers in order:
            runs.append(train_once(trainer, workers, seeded, corpus))
    load_after = os.getloadavg()[0]

    def of(trainer: str, workers: int) -> list[Run]:
        return [r for r in runs if r.trainer == trainer and r.workers == workers]

    speeds = {key: [r.words_per_second for r in of(*key)] for key in TRAINERS}
    baseline = statistics.median(speeds["gensim", 2])
    ours2, gensim2 = of("ours", 2), of("gensim", 2)
    paired = [o.words_per_second / g.words_per_second for o, g in zip(ours2, gensim2)]
    print(
        f"CBOW on TinyShakespeare: {len(tokens):,} tokens, vocabulary "
        f"{len(vocabulary):,}, {config.epochs} epochs, our batch {config.batch_size}; "
        f"{os.cpu_count()} cores; seeds {list(seeds)}, runs interleaved; load average "
        f"{load_before:.1f} before, {load_after:.1f} after\n"
    )
    header = (f"{'trainer':<8} {'workers':>7}  {'words/s, median [min-max]':<27} "
              f"{'seconds':>7}  {'vs gensim 2 workers':>19}")
    print("Speed (effective words per second)")
    print(header)
    print("-" * len(header))
    for trainer, workers in TRAINERS:
        values = speeds[trainer, workers]
        seconds = statistics.median(r.seconds for r in of(trainer, workers))
        text = (f"{statistics.median(values) / 1e6:.2f}M "
                f"[{min(values) / 1e6:.2f}-{max(values) / 1e6:.2f}M]")
        print(f"{trainer:<8} {workers:>7}  {text:<27} {seconds:>7.2f}  "
              f"{statistics.median(values) / baseline:>19.2f}")
    print(f"ours / gensim with 2 workers, run by run: {spread(paired, 2)} "
          f"(median [min-max])\n")

    header = f"{'trainer':<8} {'workers':>7}  " + "  ".join(
        f"{m + ', mean [min-max]':<29}" for m in METRICS)
    print(f"Quality over {len(seeds)} seeds")
    print(header)
    print("-" * len(header))
    for trainer, workers in TRAINERS:
        cells = [spread([r.quality[m] for r in of(trainer, workers)], 3,
                        statistics.fmean) for m in METRICS]
        print(f"{trainer:<8} {workers:>7}  " + "  ".join(f"{c:<29}" for c in cells))
    covered = covered_questions(to_keyed_vectors(
        train_cbow(corpus["ids"], vocabulary, CBOWConfig(dim=2, epochs=1),
                   progress=False).input_vectors, vocabulary.words))
    print(f"(analogy accuracy is over {covered} covered questions: about +-1.6 points "
          "is noise at this size)")
    for workers in (2, 1):
        verdicts = [
            f"{m}: " + ordering([r.quality[m] for r in of("ours", workers)],
                                [r.quality[m] for r in of("gensim", workers)])
            for m in METRICS
        ]
        print(f"ours vs gensim, {workers} worker(s): " + "; ".join(verdicts))

    def mean(trainer: str, metric: str) -> float:
        return statistics.fmean(r.quality[metric] for r in of(trainer, 2))

    def low(trainer: str, metric: str) -> float:
        return min(r.quality[metric] for r in of(trainer, 2))

    def high(trainer: str, metric: str) -> float:
        return max(r.quality[metric] for r in of(trainer, 2))

    fields = {
        "ratio": f"{statistics.median(speeds['ours', 2]) / baseline:.3f}",
        "ratio_min": f"{min(paired):.3f}",
        "ratio_max": f"{max(paired):.3f}",
        "ours_words_per_s": f"{statistics.median(speeds['ours', 2]):.0f}",
        "gensim2_words_per_s": f"{baseline:.0f}",
        "ours1_words_per_s": f"{statistics.median(speeds['ours', 1]):.0f}",
        "gensim1_words_per_s": f"{statistics.median(speeds['gensim', 1]):.0f}",
    }
    for metric, name in zip(METRICS, ("cohesion_gap", "ws353", "analogy")):
        for trainer in ("ours", "gensim"):
            fields[f"{trainer}_{name}"] = f"{mean(trainer, metric):.3f}"
            fields[f"{trainer}_{name}_min"] = f"{low(trainer, metric):.3f}"
            fields[f"{trainer}_{name}_max"] = f"{high(trainer, metric):.3f}"
    print("\nRESULT " + " ".join(f"{key}={value}" for key, value in fields.items()))


if __name__ == "__main__":
    main()
