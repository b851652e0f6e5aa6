"""Load TinyShakespeare and cut it into documents or word tokens (notebooks 01 and 02)."""

from __future__ import annotations

import re

from helpers.data import TINYSHAKESPEARE, fetch

WORD_PATTERN = re.compile(r"[a-z']+")


def load_tinyshakespeare() -> str:
    """Return the text of TinyShakespeare (fetched and verified on first use)."""
    return fetch(TINYSHAKESPEARE, verbose=False).read_text(encoding="utf-8")


def split_into_chunks(text: str, n_chunks: int) -> list[str]:
    """Cut `text` into `n_chunks` equal character chunks, dropping the residue at the end."""
    if not text:
        raise ValueError("The corpus is empty: pass a non-empty text to split_into_chunks.")
    if n_chunks < 1:
        raise ValueError(f"n_chunks must be at least 1, got {n_chunks}.")
    if n_chunks > len(text):
        raise ValueError(
            f"n_chunks={n_chunks} is larger than the text ({len(text)} characters): "
            "every chunk needs at least one character; use fewer chunks."
        )
    chunk_size = len(text) // n_chunks
    return [text[i * chunk_size : (i + 1) * chunk_size] for i in range(n_chunks)]


def word_tokens(text: str) -> list[str]:
    """Lowercase `text` and return its words: runs of a-z and apostrophes, so "o'er" stays whole."""
    return WORD_PATTERN.findall(text.lower())
