"""Readable token text, and byte-pair encoding from scratch against tiktoken."""

import pytest
import regex
import tiktoken
from tiktoken.load import load_tiktoken_bpe
from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

from helpers.data import QWEN_TIKTOKEN, fetch
from helpers.llm import qwen_bpe_tokenizer
from helpers.tokens import bpe_merge, bpe_pieces, token_text


@pytest.fixture(scope="module")
def ranks():
    return load_tiktoken_bpe(str(fetch(QWEN_TIKTOKEN, verbose=False)))


@pytest.fixture(scope="module")
def qwen():
    return qwen_bpe_tokenizer()


def test_token_text_shows_spaces_bytes_and_specials(qwen):
    assert token_text(qwen, 20329) == "#cod"
    assert token_text(qwen, 151646) == "<｜begin▁of▁sentence｜>"
    ids = qwen.encode(
        "🦜", add_special_tokens=False
    )  # one emoji, split into byte pieces
    assert [token_text(qwen, i).startswith("bytes ") for i in ids] == [True] * len(ids)
    assert (
        token_text(qwen, 151_700) == "<unused id 151700>"
    )  # a padding row of the matrix


@pytest.mark.parametrize("bad", [-1, -100, 2**31, 10**12, 2**64])
def test_token_text_refuses_impossible_ids(qwen, bad):
    with pytest.raises(ValueError, match=f"Token id {bad} is (negative|too large)"):
        token_text(qwen, bad)


def test_token_text_refuses_non_integers(qwen):
    for bad in (1.0, "5", True):
        with pytest.raises(TypeError, match="integer"):
            token_text(qwen, bad)


def test_one_merge_at_a_time(ranks):
    pieces = [b" ", b"c", b"o", b"d", b"e", b"r", b"s"]
    first = bpe_merge(pieces, ranks)
    best = min(ranks[a + b] for a, b in zip(pieces, pieces[1:]) if a + b in ranks)
    assert len(first) == 6 and best in [ranks[p] for p in first if len(p) == 2]
    assert bpe_merge([b"ers"], ranks) is None  # nothing left to join
    assert bpe_pieces(" coders", ranks) == [b" cod", b"ers"]


def test_bpe_from_scratch_equals_tiktoken(ranks):
    encoding = tiktoken.Encoding(
        "qwen", pat_str=PRETOKENIZE_REGEX, mergeable_ranks=ranks, special_tokens={}
    )
    text = (
        "Tokenizers split unbelievably long words; numbers 2025 and 3.14159 go digit "
        "by digit. Straße, naïve café, 東京タワー, emoji 🧪🦜, tabs\tand  spaces,"
        " code: def f(x): return x**2 # done"
    )
    for word in regex.findall(PRETOKENIZE_REGEX, text):
        ours = [ranks[piece] for piece in bpe_pieces(word, ranks)]
        assert ours == encoding.encode(word), word
