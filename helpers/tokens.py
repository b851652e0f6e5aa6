"""Tokens as readable text, for the token tables of notebooks 04 and 05."""

from __future__ import annotations

from transformers.convert_slow_tokenizer import bytes_to_unicode


_BYTE_OF_CHAR = {char: byte for byte, char in bytes_to_unicode().items()}


def token_text(tokenizer, token_id: int) -> str:
    """A token as readable text: spaces shown as '#', bytes that are not UTF-8 on their own as hex."""
    piece = tokenizer.convert_ids_to_tokens(int(token_id))
    if piece is None:
        return f"<unused id {token_id}>"
    if piece in tokenizer.all_special_tokens or not all(char in _BYTE_OF_CHAR for char in piece):
        return piece.replace(" ", "#")  # special tokens and WordPiece tokens are plain text
    raw = bytes(_BYTE_OF_CHAR[char] for char in piece)
    try:
        return raw.decode("utf-8").replace(" ", "#")
    except UnicodeDecodeError:
        return "bytes " + raw.hex(" ")
