"""Pretrained vectors, 3CosAdd, the bias probe, similarity scores, against gensim."""

import numpy as np
import pytest
from gensim.models import KeyedVectors
from gensim.test.utils import datapath

from helpers import vectors as vectors_module
from helpers.vectors import (
    GOOGLENEWS_COMMAND,
    analogy,
    analogy_scores,
    check_words,
    find_googlenews,
    gender_projection,
    load_glove_6b_50d,
    load_or_train_cbow,
    load_pretrained_vectors,
    pair_spearman,
    read_word_pairs,
    shared_pairs,
    spearman_difference,
    top_answers,
)
from helpers.word2vec.gensim_io import load_word2vec, save_word2vec
from helpers.word2vec.train import CBOWConfig


@pytest.fixture(scope="module")
def glove():
    return load_glove_6b_50d()


def test_glove_is_the_real_400k_by_50(glove):
    assert glove.vectors.shape == (400_000, 50)
    assert glove.vectors.flags.c_contiguous and glove.vectors.dtype == np.float32
    assert glove.index_to_key[:3] == ["the", ",", "."]
    assert glove.key_to_index["king"] == glove.index_to_key.index("king")
    np.testing.assert_allclose(glove["the"][:3], [0.418, 0.24968, -0.41242], rtol=1e-6)


@pytest.mark.parametrize(
    ("a", "b", "c"),
    [
        ("rome", "italy", "london"),
        ("man", "king", "woman"),
        ("man", "doctor", "woman"),
        ("good", "better", "bad"),
        ("france", "paris", "japan"),
    ],
)
def test_lesson_3cosadd_equals_gensim_most_similar(glove, a, b, c):
    units = glove.get_normed_vectors()
    rows = check_words(glove, [a, b, c])
    ours = top_answers(analogy_scores(units, *rows), glove.index_to_key, rows, n=10)
    theirs = glove.most_similar(positive=[b, c], negative=[a], topn=10)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], atol=1e-6)
    assert analogy(glove, [b, c], [a], topn=10) == theirs


def test_3cosadd_by_hand_with_and_without_the_rule():
    words = ["a", "b", "c", "d"]
    units = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [-0.6, 0.8]])
    scores = analogy_scores(units, 0, 1, 2)  # target b - a + c = (-0.4, 1.8)
    target = np.array([-0.4, 1.8]) / np.hypot(-0.4, 1.8)
    np.testing.assert_allclose(scores, units @ target)
    assert [w for w, _ in top_answers(scores, words, [0, 1, 2], n=1)] == ["d"]
    allowed = top_answers(scores, words, [0, 1, 2], n=4, exclude_question_words=False)
    assert [w for w, _ in allowed] == ["c", "d", "b", "a"]
    assert scores[2] == pytest.approx(1.8 / np.hypot(-0.4, 1.8))


def test_original_queries_on_glove(glove):
    assert analogy(glove, ["king", "woman"], ["man"], topn=1)[0][0] == "queen"
    answers = analogy(glove, ["london", "italy"], ["rome"], topn=3)
    assert "britain" in [word for word, _ in answers]


def test_unknown_words_are_named_with_suggestions(glove, monkeypatch):
    with pytest.raises(KeyError, match="'londn' is not in the vocabulary.*london"):
        analogy(glove, ["londn", "italy"], ["rome"])
    with pytest.raises(ValueError, match="at least one word"):
        analogy(glove, [], ["rome"])
    assert check_words(glove, ["the", "king"]) == [0, glove.key_to_index["king"]]
    # suggestions come from the most frequent words only
    monkeypatch.setattr(vectors_module, "SUGGESTION_WORDS", 3)
    with pytest.raises(KeyError) as error:
        check_words(glove, ["londn"])
    assert "london" not in str(error.value) and "400,000 words" in str(error.value)


def test_gender_projection_by_hand():
    keyed = KeyedVectors(vector_size=2)
    keyed.add_vectors(
        ["he", "she", "nurse", "engineer", "person"],
        np.array([[1, 0], [0, 1], [0.1, 1], [1, 0.1], [1, 1]], dtype=np.float32),
    )
    projection = gender_projection(keyed, ["nurse", "engineer", "person", "absent"])
    assert list(projection.index) == ["nurse", "person", "engineer"]
    assert projection["person"] == pytest.approx(0.0, abs=1e-6)
    assert projection["engineer"] == pytest.approx(-projection["nurse"], abs=1e-6)
    # (1, 0.1) against the direction (1, -1) / sqrt(2)
    expected = 0.9 / (np.hypot(1, 0.1) * np.sqrt(2))
    assert projection["engineer"] == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match="None of the words"):
        gender_projection(keyed, ["absent"])


def test_word_pairs_and_spearman_equal_gensim(glove):
    pairs = read_word_pairs(datapath("wordsim353.tsv"))
    assert len(pairs) == 353 and pairs.iloc[0].tolist() == ["love", "sex", 6.77]
    known = shared_pairs(pairs, [glove])
    assert len(known) == 353  # GloVe knows every WordSim-353 word
    rho, low, high = pair_spearman(glove, known, n_resamples=200)
    _, theirs, _ = glove.evaluate_word_pairs(datapath("wordsim353.tsv"))
    assert rho == pytest.approx(theirs.statistic, abs=1e-6)
    assert low < rho < high


def test_spearman_difference_is_paired(glove):
    pairs = read_word_pairs(datapath("simlex999.txt")).head(200)
    assert spearman_difference(glove, glove, pairs, n_resamples=50) == (0.0, 0.0, 0.0)
    shuffled = KeyedVectors(vector_size=50)
    rng = np.random.default_rng(0)
    shuffled.add_vectors(
        glove.index_to_key[:20_000], rng.normal(size=(20_000, 50)).astype(np.float32)
    )
    pairs = shared_pairs(pairs, [glove, shuffled])
    value, low, high = spearman_difference(glove, shuffled, pairs, n_resamples=200)
    first, second = pair_spearman(glove, pairs)[0], pair_spearman(shuffled, pairs)[0]
    assert value == pytest.approx(first - second)
    assert low < value < high


def test_shared_pairs_keep_only_words_every_model_knows(tmp_path):
    first, second = KeyedVectors(vector_size=2), KeyedVectors(vector_size=2)
    first.add_vectors(["cup", "coffee", "tea"], np.eye(3, 2, dtype=np.float32))
    second.add_vectors(["cup", "tea", "milk"], np.eye(3, 2, dtype=np.float32))
    path = tmp_path / "pairs.txt"
    path.write_text("# comment\ncup\tcoffee\t6\ncup\ttea\t5\nTea\tmilk\t4\n")
    pairs = read_word_pairs(path)
    assert shared_pairs(pairs, [first, second]).values.tolist() == [["cup", "tea", 5.0]]


def test_bad_word_pair_files(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("# header\ncup\tcoffee\t6.5\ncup coffee\n")
    with pytest.raises(ValueError, match="line 3: expected"):
        read_word_pairs(bad)
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n")
    with pytest.raises(ValueError, match="holds no word pairs"):
        read_word_pairs(empty)


def test_cbow_is_trained_once_then_loaded(tmp_path):
    text = "the king and the queen rule the land with love and with law " * 300
    path = tmp_path / "vectors" / "cbow.txt"
    config = CBOWConfig(dim=8, epochs=1, seed=0)
    trained, message = load_or_train_cbow(path, config=config, text=text)
    assert "trained" in message and path.is_file()
    assert set(trained.index_to_key) == {
        "the",
        "king",
        "and",
        "queen",
        "rule",
        "land",
        "with",
        "love",
        "law",
    }
    loaded, message = load_or_train_cbow(path, config=config, text=text)
    assert "loaded" in message
    np.testing.assert_allclose(loaded.vectors, trained.vectors, atol=1e-5)
    assert (
        loaded.index_to_key == trained.index_to_key == load_word2vec(path).index_to_key
    )


def test_googlenews_is_found_where_the_user_put_it(tmp_path, monkeypatch):
    monkeypatch.setattr(vectors_module, "DATA_DIR", tmp_path / "data")
    monkeypatch.setattr(
        vectors_module, "GENSIM_DATA_PATH", tmp_path / "gensim-data" / "absent.gz"
    )
    monkeypatch.delenv(vectors_module.GOOGLENEWS_ENV_VAR, raising=False)
    assert find_googlenews() is None
    fallback = load_pretrained_vectors()
    assert fallback.name == "GloVe 6B 50d" and "not word2vec" in fallback.description

    path = save_word2vec(
        np.eye(3, 4, dtype=np.float32),
        ["king", "queen", "man"],
        tmp_path / "small.bin",
        binary=True,
    )
    monkeypatch.setenv(vectors_module.GOOGLENEWS_ENV_VAR, str(path))
    assert find_googlenews() == path
    loaded = load_pretrained_vectors(limit=2)
    assert loaded.name == "GoogleNews word2vec" and len(loaded.keyed_vectors) == 2
    assert str(path) in loaded.description
    assert "CBOW" in loaded.description and GOOGLENEWS_COMMAND in loaded.description
    assert "skip-gram" not in loaded.description


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a (complete|valid) word2vec binary file"),
        (b"3 4\nking 0.1 0.2 0.3 0.4\n", "text file, not binary"),
    ],
)
def test_bad_vectors_files(tmp_path, monkeypatch, content, message):
    bad = tmp_path / "GoogleNews-vectors-negative300.bin"
    bad.write_bytes(content)
    monkeypatch.setenv(vectors_module.GOOGLENEWS_ENV_VAR, str(bad))
    with pytest.raises(ValueError, match=message):
        load_pretrained_vectors()


def test_truncated_binary_vectors(tmp_path, monkeypatch):
    words = [f"w{i}" for i in range(50)]
    path = save_word2vec(
        np.ones((50, 10), dtype=np.float32), words, tmp_path / "v.bin", binary=True
    )
    path.write_bytes(path.read_bytes()[:-100])
    monkeypatch.setenv(vectors_module.GOOGLENEWS_ENV_VAR, str(path))
    with pytest.raises(ValueError, match="truncated"):
        load_pretrained_vectors()
