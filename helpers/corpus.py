"""TinyShakespeare cut into chunks, speeches or word tokens (notebooks 01 and 02)."""

from __future__ import annotations

import re

from helpers.data import TINYSHAKESPEARE, fetch

WORD_PATTERN = re.compile(r"[a-z']+")


def load_tinyshakespeare() -> str:
    """Return the text of TinyShakespeare (fetched and verified on first use)."""
    return fetch(TINYSHAKESPEARE, verbose=False).read_text(encoding="utf-8")


def split_into_chunks(text: str, n_chunks: int) -> list[str]:
    """`n_chunks` equal character chunks of `text` (the residue at the end dropped)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}.")
    if not text:
        raise ValueError(
            "The corpus is empty: pass a non-empty text to split_into_chunks."
        )
    if isinstance(n_chunks, bool) or not isinstance(n_chunks, int):
        raise TypeError(f"n_chunks must be a whole number, got {n_chunks!r}.")
    if n_chunks < 1:
        raise ValueError(f"n_chunks must be at least 1, got {n_chunks}.")
    if n_chunks > len(text):
        raise ValueError(
            f"n_chunks={n_chunks} is larger than the text ({len(text)} characters): "
            "every chunk needs at least one character; use fewer chunks."
        )
    chunk_size = len(text) // n_chunks
    return [text[i * chunk_size : (i + 1) * chunk_size] for i in range(n_chunks)]


def split_into_speeches(text: str) -> list[tuple[str, str]]:
    """Return (speaker, speech) pairs: blocks "NAME:\\nlines" separated by blank lines.

    A speaker line with no text under it (TinyShakespeare has a few) is skipped.
    """
    pairs = []
    for block in text.split("\n\n"):
        speaker, _, speech = block.strip("\n").partition(":\n")
        if speech:
            pairs.append((speaker, speech))
    if not pairs:
        raise ValueError(
            "No speeches found: expected blocks of 'NAME:' on one line, then the "
            "speech, separated by blank lines (TinyShakespeare's layout)."
        )
    return pairs


def word_tokens(text: str) -> list[str]:
    """The lowercase runs of a-z and apostrophes in `text` ("o'er" stays whole)."""
    return WORD_PATTERN.findall(text.lower())
