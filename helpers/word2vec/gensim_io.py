"""word2vec files and gensim: KeyedVectors, word2vec formats, gensim CBOW (02, 03)."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
from gensim.models import KeyedVectors, Word2Vec

from helpers.paths import atomic_write
from helpers.word2vec.train import CBOWConfig


class Word2VecFileError(ValueError):
    """A word2vec file that is damaged, or in the other format than asked for."""


def to_keyed_vectors(vectors: np.ndarray, words: Sequence[str]) -> KeyedVectors:
    """Wrap a (words x dim) matrix as gensim KeyedVectors, for its tools and files."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(
            f"vectors must be a 2-D (words x dim) matrix, not shape {vectors.shape}. "
            "Fix: pass one row per word (e.g. vectors.reshape(len(words), -1))."
        )
    if len(vectors) != len(words):
        raise ValueError(f"{len(vectors)} vectors but {len(words)} words.")
    keyed = KeyedVectors(vector_size=vectors.shape[1])
    keyed.add_vectors(list(words), vectors)
    return keyed


def check_storable_words(words: Sequence[str]) -> None:
    """Raise if a word cannot be written to, and read back from, a word2vec file."""
    clean = "\n".join(map(str, words)).split() == list(words)
    if clean and len(set(words)) == len(words):
        return  # the fast path: every word a non-empty string without whitespace
    first_row: dict[str, int] = {}
    for row, word in enumerate(words):
        if not isinstance(word, str):
            raise TypeError(f"word {row} is {word!r}, not a string.")
        if word.split() != [word]:
            problem = "is empty" if not word.strip() else "contains whitespace"
            raise ValueError(
                f"word {row} {word!r} {problem}: the word2vec text and binary formats "
                "separate words by whitespace, so the file could not be read back. "
                "Fix: replace spaces by '_' (as GoogleNews does) or drop the word."
            )
        if word in first_row:
            raise ValueError(
                f"word {row} {word!r} repeats word {first_row[word]}: a word2vec file "
                "holds one vector per word. Fix: make the words unique."
            )
        first_row[word] = row


def save_word2vec(
    vectors: np.ndarray, words: Sequence[str], path: str | Path, binary: bool = False
) -> Path:
    """Save vectors in the word2vec text (or binary) format, atomically."""
    check_storable_words(words)
    keyed = to_keyed_vectors(vectors, words)
    if keyed.vector_size < 1:
        raise ValueError("The vectors have 0 dimensions: there is nothing to save.")
    path = Path(path)
    with atomic_write(path) as partial:
        keyed.save_word2vec_format(str(partial), binary=binary)
    return path


def _open(path: Path) -> BinaryIO:
    """Open a word2vec file for reading bytes, decompressing a .gz file."""
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


_SAVE_AGAIN = "Fix: save or download the file again."
_FIX_COUNT = "Fix: correct the count in the first line, or save the file again."


def _damaged(path: Path, where: str, problem: str, fix: str) -> Word2VecFileError:
    """The error for a damaged file; `where` starts with its kind ('text line 3')."""
    kind, _, place = where.partition(" ")
    quality = "complete" if "truncated" in problem else "valid"
    return Word2VecFileError(
        f"{path} is not a {quality} word2vec {kind} file: {place} {problem}. {fix}"
    )


def _read_header(path: Path, kind: str) -> tuple[int, int, int]:
    """Return (words, dimensions, header bytes) from a word2vec file's first line."""
    with _open(path) as handle:
        header = handle.readline(200)
    try:
        count, dim = (int(field) for field in header.split())
    except ValueError:
        raise _damaged(
            path, f"{kind} line 1", f"is {header[:60]!r}, not '<words> <dimensions>'",
            "Is it a word2vec file? " + _SAVE_AGAIN,
        ) from None
    if count < 0 or dim < 1:
        raise _damaged(
            path, f"{kind} line 1", f"says {count} words of {dim} dimensions",
            "A word2vec file holds at least 1 dimension. " + _SAVE_AGAIN,
        )
    return count, dim, len(header)


def _text_rows(handle: BinaryIO, rows: int) -> Iterator[tuple[int, bytes]]:
    """Yield (line number, line) for the first `rows` rows after the header."""
    handle.readline()
    for number in range(2, rows + 2):
        yield number, handle.readline()


def _check_text_row(path: Path, number: int, line: bytes, dim: int) -> bytes:
    """Return the word of a text row; raise if the row is cut or has a wrong length."""
    where = f"text line {number}"
    if not line.endswith(b"\n"):
        problem = "is missing" if not line else "does not end with a newline"
        raise _damaged(path, where, f"{problem}: the file is truncated", _SAVE_AGAIN)
    fields = line.rstrip().split(b" ")
    if len(fields) != dim + 1:
        word = fields[0][:40].decode(errors="replace")
        values = f"{len(fields) - 1} value" + ("s" if len(fields) != 2 else "")
        raise _damaged(
            path, where, f"has {values} after the word {word!r} where the first line "
            f"says {dim} (a truncated row, or a word with a space)", _SAVE_AGAIN,
        )
    return fields[0]


def _check_text_file(path: Path, dim: int, rows: int, to_end: bool) -> None:
    """Raise with the line number if a row is cut, repeated, missing or extra."""
    first_line: dict[bytes, int] = {}
    with _open(path) as handle:
        for number, line in _text_rows(handle, rows):
            word = _check_text_row(path, number, line, dim)
            if word in first_line:
                raise _damaged(
                    path, f"text line {number}", "repeats the word "
                    f"{word.decode(errors='replace')!r} of line {first_line[word]}",
                    "Fix: keep one row per word.",
                )
            first_line[word] = number
        if to_end:
            for number, line in enumerate(handle, start=rows + 2):
                if line.strip():
                    raise _damaged(
                        path, f"text line {number}", f"is a row past the {rows} words "
                        "that the first line announces", _FIX_COUNT,
                    )


def _find_bad_text_row(path: Path, rows: int) -> tuple[int, str] | None:
    """Return (line number, reason) of the first row gensim cannot parse, if any."""
    with _open(path) as handle:
        for number, line in _text_rows(handle, rows):
            try:
                fields = line.decode("utf-8").rstrip().split(" ")
                [float(value) for value in fields[1:]]
            except (UnicodeDecodeError, ValueError) as error:
                return number, f"cannot be read ({type(error).__name__}: {error})"
    return None


def _binary_records(path: Path, dim: int, rows: int) -> Iterator[tuple[int, str]]:
    """Yield (record number, word) of a binary file, skipping over the vectors."""
    with _open(path) as handle:
        handle.readline()
        buffer, start = b"", 0
        for record in range(1, rows + 1):
            while (space := buffer.find(b" ", start)) < 0 or (
                len(buffer) < space + 1 + 4 * dim
            ):
                more = handle.read(1 << 20)
                if not more:
                    return
                buffer, start = buffer[start:] + more, 0
            word = buffer[start:space].lstrip(b"\n").decode("utf-8", errors="replace")
            yield record, word
            start = space + 1 + 4 * dim


def _check_binary_words(path: Path, keyed: KeyedVectors, dim: int, rows: int) -> None:
    """Raise naming the records if a binary file repeats a word (gensim keeps None)."""
    if len(keyed.key_to_index) == len(keyed.index_to_key):
        return
    first_record: dict[str, int] = {}
    for record, word in _binary_records(path, dim, rows):
        if word in first_record:
            raise _damaged(
                path, f"binary record {record}", f"repeats the word {word!r} of "
                f"record {first_record[word]}", "Fix: keep one vector per word.",
            )
        first_record[word] = record
    raise _damaged(path, "binary file", "repeats a word", "Keep one vector per word.")


def _check_binary_size(path: Path, keyed: KeyedVectors, header_bytes: int) -> None:
    """Raise if an uncompressed binary file has more bytes than its records need."""
    words = sum(len(word.encode("utf-8")) + 1 for word in keyed.index_to_key)
    needed = header_bytes + words + keyed.vectors.nbytes
    extra = path.stat().st_size - needed - len(keyed)  # a newline per record is fine
    if extra > 0:
        raise _damaged(
            path, "binary file", f"holds {extra} bytes after the {len(keyed)} records "
            "that the first line announces", _FIX_COUNT,
        )


def load_word2vec(
    path: str | Path, binary: bool = False, limit: int | None = None
) -> KeyedVectors:
    """Load a word2vec-format file (optionally .gz, first `limit` words), checked."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No word2vec file at {path}: train and save vectors first (notebook 02)."
        )
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be a whole number >= 1 or None, not {limit!r}.")
    kind = "binary" if binary else "text"
    rows = dim = 0
    try:
        count, dim, header_bytes = _read_header(path, kind)
        rows = count if limit is None else min(count, limit)
        if binary and _looks_like_text_format(path):
            raise Word2VecFileError(
                f"{path} is a word2vec text file, not binary: load it with "
                "binary=False."
            )
        if not binary:
            _check_text_file(path, dim, rows, to_end=rows == count)
        elif path.suffix != ".gz" and path.stat().st_size < header_bytes + rows * (
            4 * dim + 2
        ):
            raise _damaged(
                path, "binary header", f"announces {rows} records of {dim} numbers, "
                "more than the file holds (it is truncated)", _SAVE_AGAIN,
            )
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=binary, limit=limit)
    except (Word2VecFileError, PermissionError):
        raise
    except gzip.BadGzipFile as error:
        raise Word2VecFileError(
            f"{path} is named .gz but is not gzip-compressed ({error}). "
            "Fix: rename it without .gz, or download it again."
        ) from error
    except MemoryError:
        raise MemoryError(
            f"{path}: {rows:,} words x {dim} dimensions do not fit in memory. "
            "Fix: load fewer words with limit=..."
        ) from None
    except (ValueError, EOFError, UnicodeDecodeError, IndexError, OSError) as error:
        where = None if binary else _find_bad_text_row(path, rows)
        if where is not None:
            line, problem = where
            raise _damaged(path, f"text line {line}", problem, _SAVE_AGAIN) from error
        raise Word2VecFileError(
            f"{path} is not a complete word2vec {kind} file ({type(error).__name__}: "
            f"{error}). It may be truncated, or in the other format (try "
            f"binary={not binary}); save or download it again."
        ) from error
    if binary:
        _check_binary_words(path, keyed, dim, rows)
        if path.suffix != ".gz" and rows == count:
            _check_binary_size(path, keyed, header_bytes)
    return keyed


def _looks_like_text_format(path: Path) -> bool:
    """True when the line after the header is a word and `dim` decimal numbers."""
    with _open(path) as handle:
        header = handle.readline().split()
        line = handle.readline(1 << 16)
    try:
        fields = line.decode("utf-8").split()
        dim = int(header[1])
        [float(value) for value in fields[1:]]
    except (UnicodeDecodeError, ValueError, IndexError):
        return False
    return len(fields) == dim + 1


def train_gensim_cbow(
    sentences: Sequence[Sequence[str]], config: CBOWConfig, workers: int = 1
) -> tuple[Word2Vec, int, float]:
    """Train gensim's CBOW with the same settings; return model, words and seconds."""
    model = Word2Vec(
        vector_size=config.dim, window=config.window, negative=config.negative,
        min_count=config.min_count, sample=config.sample, alpha=config.lr,
        min_alpha=config.min_lr, sg=0, cbow_mean=1, hs=0, seed=config.seed,
        workers=workers,
    )
    model.build_vocab(sentences)
    start = time.perf_counter()
    effective_words, _ = model.train(
        sentences, total_examples=model.corpus_count, epochs=config.epochs
    )
    return model, effective_words, time.perf_counter() - start


def as_sentences(tokens: Sequence[str], length: int = 10_000) -> list[list[str]]:
    """Cut a token stream into gensim 'sentences' of at most `length` tokens."""
    return [list(tokens[i : i + length]) for i in range(0, len(tokens), length)]
