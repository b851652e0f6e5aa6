"""word2vec files: round trips, refused words, damaged files named by line number."""

import gzip
import multiprocessing
import re
import struct
import subprocess
import sys

import numpy as np
import pytest
from gensim.models import KeyedVectors

from helpers.word2vec.gensim_io import Word2VecFileError, load_word2vec, save_word2vec

FORK = multiprocessing.get_context("fork")
WORDS = ["naïve", "o'er", "C++", "東京", "x", "🙂", "new_york"]


@pytest.fixture
def vectors():
    return np.random.default_rng(1).normal(size=(len(WORDS), 6)).astype(np.float32)


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def binary_file(path, words, vectors, count=None, newline=b""):
    """Write a binary word2vec file by hand (word2vec.c ends records with a newline)."""
    rows = [w.encode() + b" " + struct.pack(f"<{len(v)}f", *v) + newline
            for w, v in zip(words, vectors, strict=True)]
    header = f"{len(words) if count is None else count} {len(vectors[0])}\n".encode()
    path.write_bytes(header + b"".join(rows))
    return path


@pytest.mark.parametrize("binary", [False, True])
def test_round_trip_keeps_words_order_and_values(tmp_path, vectors, binary):
    path = save_word2vec(vectors, WORDS, tmp_path / "v", binary=binary)
    loaded = load_word2vec(path, binary=binary)
    assert loaded.index_to_key == WORDS
    np.testing.assert_allclose(loaded.vectors, vectors, rtol=0 if binary else 1e-6)
    reference = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    np.testing.assert_array_equal(loaded.vectors, reference.vectors)
    assert [p.name for p in tmp_path.iterdir()] == ["v"]


def test_word2vec_c_binary_with_newlines_and_gzip_load(tmp_path, vectors):
    path = binary_file(tmp_path / "c.bin", WORDS, vectors, newline=b"\n")
    np.testing.assert_array_equal(load_word2vec(path, binary=True).vectors, vectors)
    gz = tmp_path / "c.bin.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert load_word2vec(gz, binary=True, limit=3).index_to_key == WORDS[:3]


@pytest.mark.parametrize(
    "word, problem",
    [("new york", "contains whitespace"), ("tab\there", "contains whitespace"),
     ("line\n", "contains whitespace"),
     ("nb\u00a0sp", "contains whitespace"), ("", "is empty"), ("x", "repeats word 4")],
)
@pytest.mark.parametrize("binary", [False, True])
def test_unstorable_words_are_refused_before_writing(tmp_path, vectors, word, problem,
                                                     binary):
    target = save_word2vec(vectors, WORDS, tmp_path / "v.txt", binary=binary)
    before = target.read_bytes()
    words = WORDS[:5] + [word] + WORDS[6:]
    with pytest.raises(ValueError, match=re.escape(f"word 5 {word!r} {problem}")):
        save_word2vec(vectors, words, target, binary=binary)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v.txt"]


def test_non_string_words_and_1d_vectors_are_refused(tmp_path):
    with pytest.raises(TypeError, match="word 1 is 7, not a string"):
        save_word2vec(np.ones((2, 3)), ["a", 7], tmp_path / "v.txt")
    with pytest.raises(ValueError, match=r"2-D \(words x dim\) matrix, not shape"):
        save_word2vec(np.ones(3), ["a", "b", "c"], tmp_path / "v.txt")


@pytest.mark.parametrize(
    "text, message",
    [
        ("3 4\na 1 2 3 4\nb 7\nc 1 2 3 4\n", "line 3 has 1 value after the word 'b'"),
        ("2 2\na 1 2\nb 1 2 3\n", "line 3 has 3 values after the word 'b'"),
        ("3 2\nx 1 2\ny 3 4\nx 5 6\n", "line 4 repeats the word 'x' of line 2"),
        ("4 2\na 1 2\nb 3 4\n", "line 4 is missing: the file is truncated"),
        ("1 2\na 1 2\nb 3 4\n\n", "line 3 is a row past the 1 words"),
        ("2 0\na\nb\n", "line 1 says 2 words of 0 dimensions"),
        ("-1 3\n", "line 1 says -1 words"),
        ("two 3\na 1 2 3\n", "line 1 is b'two 3\\\\n', not '<words> <dimensions>'"),
        ("2 2\na 1 2\nb 1 y\n", "line 3 cannot be read .*'y'"),
        ("1000000000000 2\na 1 2\n", "line 3 is missing"),
    ],
)
def test_damaged_text_files_are_refused_with_the_line(tmp_path, text, message):
    with pytest.raises(Word2VecFileError, match=message):
        load_word2vec(write(tmp_path / "bad.txt", text))


def test_every_cut_inside_the_last_row_is_refused(tmp_path, vectors):
    path = save_word2vec(vectors, WORDS, tmp_path / "v.txt")
    content = path.read_bytes()
    last_row = content.rindex(b"\n", 0, len(content) - 1) + 1
    for cut in range(last_row, len(content)):
        path.write_bytes(content[:cut])
        line = len(WORDS) + 1
        with pytest.raises(Word2VecFileError, match=f"line {line} .*truncated"):
            load_word2vec(path)
    path.write_bytes(content)
    assert len(load_word2vec(path)) == len(WORDS)


def test_limit_reads_and_checks_only_the_first_rows(tmp_path):
    path = write(tmp_path / "v.txt", "3 2\na 1 2\nb 3 4\nc 5\n")
    assert load_word2vec(path, limit=2).index_to_key == ["a", "b"]
    with pytest.raises(Word2VecFileError, match="line 4 has 1 value"):
        load_word2vec(path, limit=3)
    for limit in (0, -1, 2.5):
        with pytest.raises(ValueError, match="limit must be a whole number >= 1"):
            load_word2vec(path, limit=limit)


def test_damaged_binary_files_are_refused(tmp_path, vectors):
    words = ["a", "b", "a", "c"]
    path = binary_file(tmp_path / "dup.bin", words, vectors[:4])
    with pytest.raises(Word2VecFileError, match="record 3 repeats the word 'a' of rec"):
        load_word2vec(path, binary=True)
    gz = tmp_path / "dup.bin.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(Word2VecFileError, match="record 3 repeats the word 'a'"):
        load_word2vec(gz, binary=True)
    fewer = binary_file(tmp_path / "more.bin", WORDS, vectors, count=len(WORDS) - 2)
    with pytest.raises(Word2VecFileError, match="bytes after the 5 records"):
        load_word2vec(fewer, binary=True)
    assert len(load_word2vec(fewer, binary=True, limit=4)) == 4
    more = binary_file(tmp_path / "less.bin", WORDS, vectors, count=10**12)
    with pytest.raises(Word2VecFileError, match="more than the file holds .*truncated"):
        load_word2vec(more, binary=True)
    cut = tmp_path / "cut.bin"
    cut.write_bytes(binary_file(cut, WORDS, vectors).read_bytes()[:-3])
    with pytest.raises(Word2VecFileError, match="truncated"):
        load_word2vec(cut, binary=True)
    fake_gz = tmp_path / "fake.bin.gz"
    fake_gz.write_bytes(path.read_bytes())
    with pytest.raises(Word2VecFileError, match="named .gz but is not gzip"):
        load_word2vec(fake_gz, binary=True)


def test_the_other_format_is_explained(tmp_path, vectors):
    text = save_word2vec(vectors, WORDS, tmp_path / "v.txt")
    binary = save_word2vec(vectors, WORDS, tmp_path / "v.bin", binary=True)
    with pytest.raises(Word2VecFileError, match="text file, not binary"):
        load_word2vec(text, binary=True)
    with pytest.raises(Word2VecFileError, match="text file"):
        load_word2vec(binary)


def _save(path, seed: int, barrier) -> None:
    """Save 3,000 random vectors whose words name the writer."""
    vectors = np.random.default_rng(seed).normal(size=(3000, 20))
    barrier.wait()
    save_word2vec(vectors, [f"s{seed}w{i}" for i in range(3000)], path)


def test_concurrent_saves_leave_one_writers_whole_file(tmp_path):
    path = tmp_path / "vectors.txt"
    barrier = FORK.Barrier(3)
    writers = [FORK.Process(target=_save, args=(path, s, barrier)) for s in (1, 2, 3)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(60)
    assert [process.exitcode for process in writers] == [0, 0, 0]
    loaded = load_word2vec(path)
    writer = loaded.index_to_key[0].split("w")[0]
    assert loaded.index_to_key == [f"{writer}w{i}" for i in range(3000)]
    seed = int(writer[1:])
    expected = np.random.default_rng(seed).normal(size=(3000, 20)).astype(np.float32)
    np.testing.assert_allclose(loaded.vectors, expected, rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.txt"]


def test_a_save_that_fills_the_disk_leaves_the_old_file(tmp_path, vectors):
    old = save_word2vec(vectors, WORDS, tmp_path / "vectors.txt").read_bytes()
    code = (
        "import resource, numpy as np\n"
        "from helpers.word2vec import save_word2vec\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "try:\n"
        "    save_word2vec(np.ones((3000, 50)), [f'w{i}' for i in range(3000)], "
        "'vectors.txt')\n"
        "except OSError as error:\n"
        "    print('errno', error.errno)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.stdout.strip() == "errno 27", result.stderr
    assert (tmp_path / "vectors.txt").read_bytes() == old
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.txt"]
