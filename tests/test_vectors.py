"""Pretrained vectors and the batched analogy evaluator, against gensim."""

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from helpers import vectors as vectors_module
from helpers.analogies import analogy_table, evaluate_analogies
from helpers.vectors import (
    analogy,
    find_googlenews,
    gender_projection,
    load_glove_6b_50d,
    load_pretrained_vectors,
)
from helpers.word2vec.gensim_io import save_word2vec

QUESTIONS = datapath("questions-words.txt")


@pytest.fixture(scope="module")
def glove():
    return load_glove_6b_50d()


def same_as_gensim(ours, theirs):
    assert ours[0] == theirs[0]
    assert [s["section"] for s in ours[1]] == [s["section"] for s in theirs[1]]
    for mine, reference in zip(ours[1], theirs[1]):
        assert mine["correct"] == reference["correct"], mine["section"]
        assert mine["incorrect"] == reference["incorrect"], mine["section"]


def test_glove_is_the_real_400k_by_50(glove):
    assert glove.vectors.shape == (400_000, 50)
    assert glove.index_to_key[:3] == ["the", ",", "."]
    assert glove.key_to_index["king"] == glove.index_to_key.index("king")
    np.testing.assert_allclose(glove["the"][:3], [0.418, 0.24968, -0.41242], rtol=1e-6)


@pytest.mark.parametrize("restrict_vocab", [2000, 5000])
def test_evaluator_equals_gensim_on_glove(glove, restrict_vocab):
    ours = evaluate_analogies(glove, QUESTIONS, restrict_vocab=restrict_vocab)
    theirs = glove.evaluate_word_analogies(QUESTIONS, restrict_vocab=restrict_vocab)
    same_as_gensim(ours, theirs)
    assert 0.3 < ours[0] < 0.9


def toy_cased_vectors():
    """Vectors with two casings of some words, most frequent casing first."""
    rng = np.random.default_rng(0)
    words = ["paris", "france", "rome", "italy", "Paris", "berlin", "germany", "Rome", "madrid", "spain"]
    keyed = KeyedVectors(vector_size=8)
    vectors = rng.normal(size=(len(words), 8)).astype(np.float32)
    # make the capital/country offset consistent, so some analogies succeed
    offset = rng.normal(size=8).astype(np.float32) * 2
    for capital, country in [("paris", "france"), ("rome", "italy"), ("berlin", "germany"), ("madrid", "spain")]:
        vectors[words.index(country)] = vectors[words.index(capital)] + offset + rng.normal(size=8) * 0.3
    keyed.add_vectors(words, vectors)
    return keyed


@pytest.mark.parametrize("case_insensitive", [True, False])
def test_evaluator_equals_gensim_with_casings_and_malformed_lines(tmp_path, case_insensitive, capsys):
    analogies = tmp_path / "analogies.txt"
    analogies.write_text(
        "paris france rome italy\n"  # before any section: malformed
        ": capitals\n"
        "paris france rome italy\n"
        "Paris france berlin germany\n"
        "rome italy madrid spain\n"
        "madrid spain paris\n"  # three words: malformed
        "Rome italy berlin germany\n"
        ": more\n"
        "berlin germany Paris france\n"
        "berlin germany london england\n"
    )
    keyed = toy_cased_vectors()
    ours = evaluate_analogies(keyed, analogies, restrict_vocab=100, case_insensitive=case_insensitive)
    assert "skipped 2 malformed line(s)" in capsys.readouterr().out
    # gensim refuses a question before the first section: compare on the rest of the file
    clean = tmp_path / "clean.txt"
    clean.write_text("\n".join(analogies.read_text().splitlines()[1:]) + "\n")
    theirs = keyed.evaluate_word_analogies(str(clean), restrict_vocab=100, case_insensitive=case_insensitive)
    same_as_gensim(ours, theirs)


def test_analogy_table_counts(glove):
    _, sections = evaluate_analogies(glove, QUESTIONS, restrict_vocab=2000, report_malformed=False)
    table = analogy_table(sections)
    assert table.loc["Total accuracy", "covered"] == sum(table["covered"].iloc[:-1])


def test_seed_queries_on_glove(glove):
    assert analogy(glove, ["king", "woman"], ["man"], topn=1)[0][0] == "queen"
    assert "britain" in [word for word, _ in analogy(glove, ["london", "italy"], ["rome"], topn=3)]


def test_query_errors(glove):
    with pytest.raises(KeyError, match="'londn' is not in the vocabulary.*london"):
        analogy(glove, ["londn", "italy"], ["rome"])
    with pytest.raises(ValueError, match="at least one word"):
        analogy(glove, [], ["rome"])


def test_gender_projection_by_hand():
    keyed = KeyedVectors(vector_size=2)
    keyed.add_vectors(["he", "she", "nurse", "engineer", "person"],
                      np.array([[1, 0], [0, 1], [0.1, 1], [1, 0.1], [1, 1]], dtype=np.float32))
    projection = gender_projection(keyed, ["nurse", "engineer", "person", "absent"])
    assert list(projection.index) == ["nurse", "person", "engineer"]
    assert projection["person"] == pytest.approx(0.0, abs=1e-6)
    assert projection["engineer"] == pytest.approx(-projection["nurse"], abs=1e-6)


def test_googlenews_is_found_where_the_user_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(vectors_module, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(vectors_module, "GENSIM_DATA_PATH", tmp_path / "gensim-data" / "absent.gz")
    monkeypatch.delenv(vectors_module.GOOGLENEWS_ENV_VAR, raising=False)
    assert find_googlenews() is None
    assert load_pretrained_vectors().name == "GloVe 6B 50d"

    path = save_word2vec(np.eye(3, 4, dtype=np.float32), ["king", "queen", "man"], tmp_path / "small.bin", binary=True)
    monkeypatch.setenv(vectors_module.GOOGLENEWS_ENV_VAR, str(path))
    assert find_googlenews() == path
    loaded = load_pretrained_vectors(limit=2)
    assert loaded.name == "GoogleNews word2vec" and len(loaded.keyed_vectors) == 2
    assert str(path) in loaded.description


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a complete word2vec binary file"), (b"3 4\nking 0.1 0.2 0.3 0.4\n", "text file, not binary")],
)
def test_bad_vectors_files(tmp_path, monkeypatch, content, message):
    bad = tmp_path / "GoogleNews-vectors-negative300.bin"
    bad.write_bytes(content)
    monkeypatch.setenv(vectors_module.GOOGLENEWS_ENV_VAR, str(bad))
    with pytest.raises(ValueError, match=message):
        load_pretrained_vectors()


def test_truncated_binary_vectors(tmp_path, monkeypatch):
    path = save_word2vec(np.ones((50, 10), dtype=np.float32), [f"w{i}" for i in range(50)], tmp_path / "v.bin", binary=True)
    path.write_bytes(path.read_bytes()[:-100])
    monkeypatch.setenv(vectors_module.GOOGLENEWS_ENV_VAR, str(path))
    with pytest.raises(ValueError, match="truncated"):
        load_pretrained_vectors()


def test_missing_analogy_file(glove, tmp_path):
    with pytest.raises(FileNotFoundError, match="No analogy file"):
        evaluate_analogies(glove, tmp_path / "absent.txt")
