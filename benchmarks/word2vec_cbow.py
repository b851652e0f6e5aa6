"""Benchmark: our CBOW trainer against gensim on TinyShakespeare, speed and quality in one run.

Equal hyper-parameters (dim 100, window 5, negative 5, min_count 5, sample 1e-3, 20 epochs).
Effective words/s counts the words kept after subsampling, as gensim reports them.
Quality: number-word cohesion (mean cosine among one..ten minus mean cosine of random
pairs), Spearman on the covered wordsim353 pairs, accuracy on the covered questions-words.

Run: .venv/bin/python benchmarks/word2vec_cbow.py   (about 1.5 minutes)
"""

from __future__ import annotations

import logging

import numpy as np
from gensim.test.utils import datapath

from helpers.corpus import load_tinyshakespeare, word_tokens
from helpers.similarity import group_cohesion
from helpers.word2vec.gensim_io import as_sentences, to_keyed_vectors, train_gensim_cbow
from helpers.word2vec.sampling import build_vocabulary
from helpers.word2vec.train import CBOWConfig
from helpers.word2vec.train_fast import train_cbow

logging.getLogger("gensim").setLevel(logging.ERROR)


def quality(keyed) -> dict[str, float]:
    """Number-word cohesion gap, wordsim353 Spearman and analogy accuracy of some KeyedVectors."""
    cohesion = group_cohesion(keyed.vectors, keyed.index_to_key)
    pearson, spearman, oov = keyed.evaluate_word_pairs(datapath("wordsim353.tsv"))
    accuracy, sections = keyed.evaluate_word_analogies(datapath("questions-words.txt"))
    covered = sum(len(s["correct"]) + len(s["incorrect"]) for s in sections if s["section"] == "Total accuracy")
    return {
        "cohesion gap": cohesion.gap,
        "wordsim353 spearman": spearman.statistic,
        "analogy accuracy": accuracy,
        "analogies covered": covered,
    }


def main(seeds: tuple[int, ...] = (0, 1, 2)) -> None:
    """Train each trainer once per seed, interleaved; print median speed and mean quality."""
    tokens = word_tokens(load_tinyshakespeare())
    vocabulary = build_vocabulary(tokens, CBOWConfig().min_count)
    ids = vocabulary.encode(tokens)
    sentences = as_sentences(tokens)

    runs: dict[str, list[tuple[float, float, dict[str, float]]]] = {}
    for seed in seeds:
        config = CBOWConfig(seed=seed)
        for workers in (1, 2):
            model, effective, seconds = train_gensim_cbow(sentences, config, workers=workers)
            runs.setdefault(f"gensim, {workers} worker(s)", []).append((effective / seconds, seconds, quality(model.wv)))
            result = train_cbow(ids, vocabulary, config, progress=False, workers=workers)
            keyed = to_keyed_vectors(result.input_vectors, vocabulary.words)
            runs.setdefault(f"ours, {workers} worker(s)", []).append((result.words_per_second, result.seconds, quality(keyed)))

    rows = {
        name: (
            float(np.median([r[0] for r in results])),
            float(np.median([r[1] for r in results])),
            {key: float(np.mean([r[2][key] for r in results])) for key in results[0][2]},
        )
        for name, results in sorted(runs.items())
    }
    config = CBOWConfig()
    baseline = rows["gensim, 2 worker(s)"][0]
    print(
        f"CBOW on TinyShakespeare: {len(tokens):,} tokens, vocabulary {len(vocabulary):,}, "
        f"{config.epochs} epochs; speed: median of {len(seeds)} runs, quality: mean over seeds {seeds}\n"
    )
    header = f"{'trainer':<20} {'words/s':>10} {'seconds':>8} {'vs gensim 2w':>12} {'cohesion gap':>12} {'ws353 rho':>9} {'analogy acc':>11}"
    print(header)
    print("-" * len(header))
    for name, (speed, seconds, q) in rows.items():
        print(
            f"{name:<20} {speed / 1e6:>9.2f}M {seconds:>8.2f} {speed / baseline:>12.2f} "
            f"{q['cohesion gap']:>12.3f} {q['wordsim353 spearman']:>9.3f} {q['analogy accuracy']:>11.3f}"
        )
    ours, gensim2 = rows["ours, 2 worker(s)"], rows["gensim, 2 worker(s)"]
    print(f"\nanalogy questions covered: {int(ours[2]['analogies covered'])}")
    print(
        f"RESULT ratio={ours[0] / baseline:.3f} ours_words_per_s={ours[0]:.0f} "
        f"gensim2_words_per_s={baseline:.0f} gensim1_words_per_s={rows['gensim, 1 worker(s)'][0]:.0f} "
        f"ours1_words_per_s={rows['ours, 1 worker(s)'][0]:.0f} "
        f"ours_cohesion_gap={ours[2]['cohesion gap']:.3f} gensim_cohesion_gap={gensim2[2]['cohesion gap']:.3f} "
        f"ours_ws353={ours[2]['wordsim353 spearman']:.3f} gensim_ws353={gensim2[2]['wordsim353 spearman']:.3f} "
        f"ours_analogy={ours[2]['analogy accuracy']:.4f} gensim_analogy={gensim2[2]['analogy accuracy']:.4f}"
    )


if __name__ == "__main__":
    main()
