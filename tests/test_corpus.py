"""Corpus loading and chunking: the seed's numbers and bad input."""

import pytest

from helpers.corpus import load_tinyshakespeare, split_into_chunks, word_tokens


def test_seed_numbers():
    text = load_tinyshakespeare()
    assert len(text.split()) == 202651
    chunks = split_into_chunks(text, 10)
    assert len(chunks) == 10
    assert {len(chunk) for chunk in chunks} == {len(text) // 10}
    assert "".join(chunks) == text[: 10 * (len(text) // 10)]


def test_chunks_drop_residue():
    assert split_into_chunks("abcdefg", 3) == ["ab", "cd", "ef"]


@pytest.mark.parametrize(
    ("text", "n_chunks", "message"),
    [("", 3, "empty"), ("abc", 0, "at least 1"), ("abc", 4, "larger than the text")],
)
def test_bad_chunking_input(text, n_chunks, message):
    with pytest.raises(ValueError, match=message):
        split_into_chunks(text, n_chunks)


def test_word_tokens_keep_apostrophes():
    assert word_tokens("O'er the Hills, 3 times!") == ["o'er", "the", "hills", "times"]
