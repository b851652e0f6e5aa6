"""Tokens as readable text, and byte-pair encoding step by step (notebook 05)."""

from __future__ import annotations

from numbers import Integral

from transformers.convert_slow_tokenizer import bytes_to_unicode

_BYTE_OF_CHAR = {char: byte for byte, char in bytes_to_unicode().items()}
# No tokenizer has 2**31 tokens; larger ids overflow the tokenizers library.
MAX_TOKEN_ID = 2**31 - 1


def token_text(tokenizer, token_id: int) -> str:
    """A token as readable text: spaces as '#', bytes that are not UTF-8 alone as hex.

    An id the tokenizer does not have (a padding row of the embedding) reads
    '<unused id N>'; negative or impossibly large ids raise ValueError.
    """
    if isinstance(token_id, bool) or not isinstance(token_id, Integral):
        raise TypeError(f"A token id is an integer, got {token_id!r}.")
    if token_id < 0:
        raise ValueError(f"Token id {token_id} is negative: token ids count from 0.")
    if token_id > MAX_TOKEN_ID:
        raise ValueError(
            f"Token id {token_id} is too large: this tokenizer has "
            f"{len(tokenizer):,} tokens."
        )
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if piece is None:
        return f"<unused id {token_id}>"
    plain_text = not all(char in _BYTE_OF_CHAR for char in piece)  # e.g. WordPiece
    if plain_text or piece in tokenizer.all_special_tokens:
        return piece.replace(" ", "#")
    raw = bytes(_BYTE_OF_CHAR[char] for char in piece)
    try:
        return raw.decode("utf-8").replace(" ", "#")
    except UnicodeDecodeError:
        return "bytes " + raw.hex(" ")


# From notebooks/05_llm_embeddings.ipynb: edit it there, then `make lesson-code`.
def bpe_merge(pieces: list[bytes], ranks: dict[bytes, int]) -> list[bytes] | None:
    """One BPE step: join the adjacent pair whose join ranks first (None: none left)."""
    candidates = [
        (ranks[left + right], i)
        for i, (left, right) in enumerate(zip(pieces, pieces[1:]))
        if left + right in ranks
    ]
    if not candidates:
        return None
    _, i = min(candidates)
    return pieces[:i] + [pieces[i] + pieces[i + 1]] + pieces[i + 2 :]


# From notebooks/05_llm_embeddings.ipynb: edit it there, then `make lesson-code`.
def bpe_pieces(word: str, ranks: dict[bytes, int]) -> list[bytes]:
    """Byte-pair encode one pre-tokenized word: start from bytes, merge until done."""
    pieces = [bytes([byte]) for byte in word.encode("utf-8")]
    while (merged := bpe_merge(pieces, ranks)) is not None:
        pieces = merged
    return pieces
