"""word2vec files and gensim: KeyedVectors, the word2vec text/binary formats, gensim's CBOW (02, 03)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from helpers.paths import atomic_write
from helpers.word2vec.train import CBOWConfig


def to_keyed_vectors(vectors: np.ndarray, words: Sequence[str]) -> KeyedVectors:
    """Wrap a (words x dim) matrix as gensim KeyedVectors, for gensim's tools and file formats."""
    if len(vectors) != len(words):
        raise ValueError(f"{len(vectors)} vectors but {len(words)} words.")
    keyed = KeyedVectors(vector_size=vectors.shape[1])
    keyed.add_vectors(list(words), np.asarray(vectors, dtype=np.float32))
    return keyed


def save_word2vec(vectors: np.ndarray, words: Sequence[str], path: str | Path, binary: bool = False) -> Path:
    """Save vectors in the word2vec text (or binary) format, atomically: no half-written file."""
    path = Path(path)
    with atomic_write(path) as partial:
        to_keyed_vectors(vectors, words).save_word2vec_format(str(partial), binary=binary)
    return path


def load_word2vec(path: str | Path, binary: bool = False, limit: int | None = None) -> KeyedVectors:
    """Load a word2vec-format file (optionally .gz, first `limit` words), explaining bad files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No word2vec file at {path}: train and save vectors first (notebook 02).")
    if binary and _looks_like_text_format(path):
        raise ValueError(f"{path} is a word2vec text file, not binary: load it with binary=False.")
    try:
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=binary, limit=limit)
    except (ValueError, EOFError, UnicodeDecodeError, IndexError, OSError) as error:
        kind = "binary" if binary else "text"
        raise ValueError(
            f"{path} is not a complete word2vec {kind} file ({type(error).__name__}: {error}). "
            f"It may be truncated, or in the other format (try binary={not binary}); "
            "save or download it again."
        ) from error
    return keyed


def _looks_like_text_format(path: Path) -> bool:
    """True when the line after the header is a word followed by `dim` decimal numbers."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
        header = handle.readline().split()
        line = handle.readline(1 << 16)
    try:
        fields = line.decode("utf-8").split()
        dim = int(header[1])
        [float(value) for value in fields[1:]]
    except (UnicodeDecodeError, ValueError, IndexError):
        return False
    return len(fields) == dim + 1


def train_gensim_cbow(sentences: Sequence[Sequence[str]], config: CBOWConfig, workers: int = 1) -> tuple[Word2Vec, int, float]:
    """Train gensim's CBOW with the same settings; return the model, effective words and seconds."""
    model = Word2Vec(
        vector_size=config.dim, window=config.window, negative=config.negative, min_count=config.min_count,
        sample=config.sample, alpha=config.lr, min_alpha=config.min_lr, sg=0, cbow_mean=1, hs=0,
        seed=config.seed, workers=workers,
    )
    model.build_vocab(sentences)
    start = time.perf_counter()
    effective_words, _ = model.train(sentences, total_examples=model.corpus_count, epochs=config.epochs)
    return model, effective_words, time.perf_counter() - start


def as_sentences(tokens: Sequence[str], length: int = 10_000) -> list[list[str]]:
    """Cut a token stream into gensim 'sentences' of at most `length` tokens (gensim's limit)."""
    return [list(tokens[i : i + length]) for i in range(0, len(tokens), length)]
