"""Corpus loading, chunking and speeches: the original notebook's numbers, bad input."""

import pytest

from helpers.corpus import (
    load_tinyshakespeare,
    split_into_chunks,
    split_into_speeches,
    word_tokens,
)


def test_original_notebook_numbers():
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


@pytest.mark.parametrize(
    ("text", "n_chunks", "message"),
    [
        ("abc", 2.5, "whole number"),
        ("abc", "3", "whole number"),
        (["a", "b"], 1, "str"),
    ],
)
def test_wrong_types_for_chunking(text, n_chunks, message):
    with pytest.raises(TypeError, match=message):
        split_into_chunks(text, n_chunks)


def test_word_tokens_keep_apostrophes():
    assert word_tokens("O'er the Hills, 3 times!") == ["o'er", "the", "hills", "times"]


def test_speeches_by_hand():
    text = "KING:\nA horse!\nA horse!\n\nQUEEN:\n\nFirst Lord:\nAy.\n"
    assert split_into_speeches(text) == [
        ("KING", "A horse!\nA horse!"),
        ("First Lord", "Ay."),
    ]
    with pytest.raises(ValueError, match="No speeches found"):
        split_into_speeches("just some words")


def test_speeches_of_tinyshakespeare_cover_its_text():
    text = load_tinyshakespeare()
    speeches = split_into_speeches(text)
    assert speeches[0] == (
        "First Citizen",
        "Before we proceed any further, hear me speak.",
    )
    for speaker, speech in speeches[::500]:
        assert f"{speaker}:\n{speech}" in text
    # every word of the text is in a speech or is a speaker's name
    speech_words = sum(len(speech.split()) for _, speech in speeches)
    name_words = sum(len(block.split(":\n")[0].split()) for block in text.split("\n\n"))
    assert speech_words + name_words == len(text.split())
