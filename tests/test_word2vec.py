"""word2vec CBOW: the pieces against gensim and hand computation, both trainers, file round trips."""

import numpy as np
import pytest
import torch
from gensim.models import Word2Vec

from helpers.corpus import load_tinyshakespeare, word_tokens
from helpers.similarity import NUMBER_WORDS, group_cohesion, nearest_neighbours
from helpers.word2vec.gensim_io import as_sentences, load_word2vec, save_word2vec
from helpers.word2vec.model import CBOWNegativeSampling, FullSoftmaxCBOW
from helpers.word2vec.sampling import (
    build_vocabulary,
    cbow_examples,
    context_mask,
    keep_probabilities,
    noise_distribution,
)
from helpers.word2vec.train import CBOWConfig, draw_epoch, train_cbow_autograd
from helpers.word2vec.train_fast import _train_batch, train_cbow


@pytest.fixture(scope="module")
def tokens():
    return word_tokens(load_tinyshakespeare())


@pytest.fixture(scope="module")
def vocabulary(tokens):
    return build_vocabulary(tokens, min_count=5)


@pytest.fixture(scope="module")
def gensim_model(tokens):
    model = Word2Vec(vector_size=10, min_count=5, sample=1e-3, workers=1)
    model.build_vocab(as_sentences(tokens))
    return model


def test_seed_numbers_of_the_corpus(tokens, vocabulary):
    assert len(tokens) == 204062
    assert len(vocabulary) == 3330
    assert len(build_vocabulary(tokens, min_count=2)) == 6927


def test_vocabulary_matches_gensim(vocabulary, gensim_model):
    assert set(vocabulary.words) == set(gensim_model.wv.index_to_key)
    for word in ["the", "king", "o'er"]:
        assert vocabulary.counts[vocabulary.index[word]] == gensim_model.wv.get_vecattr(word, "count")
    assert list(vocabulary.counts) == sorted(vocabulary.counts, reverse=True)


def test_keep_probabilities_match_gensim(vocabulary, gensim_model):
    ours = keep_probabilities(vocabulary.counts, 1e-3)
    theirs = np.array([gensim_model.wv.get_vecattr(w, "sample_int") for w in vocabulary.words]) / 2**32
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert ours[vocabulary.index["the"]] < 0.25 and ours[-1] == 1.0


def test_noise_distribution_matches_gensim(vocabulary, gensim_model):
    ours = np.cumsum(noise_distribution(vocabulary.counts))
    order = [gensim_model.wv.key_to_index[w] for w in vocabulary.words]
    theirs = gensim_model.cum_table / gensim_model.cum_table[-1]
    by_word = np.diff(np.concatenate([[0.0], theirs]))
    np.testing.assert_allclose(noise_distribution(vocabulary.counts), by_word[order], atol=1e-8)
    assert ours[-1] == pytest.approx(1.0)


def test_context_mask_by_hand():
    mask = context_mask(np.array([1, 2, 1, 2]), window=2)
    # offsets -2, -1, 1, 2; position 0 has nothing on its left, position 3 nothing on its right
    expected = [
        [0, 0, 1, 0],
        [0, 1, 1, 1],
        [0, 1, 1, 0],
        [1, 1, 0, 0],
    ]
    np.testing.assert_array_equal(mask, np.array(expected, dtype=bool))


def test_dynamic_window_sizes_are_uniform():
    rng = np.random.default_rng(0)
    _, mask, _ = cbow_examples(np.arange(100_000) % 50, window=5, rng=rng)
    reach = mask[:, 5:].sum(axis=1)[10:-10]  # words used on the right = the window size
    assert set(np.unique(reach)) == {1, 2, 3, 4, 5}
    np.testing.assert_allclose(np.bincount(reach)[1:] / len(reach), 0.2, atol=0.01)


def reference_batch(epoch, begin, end, input_vectors, output_vectors, lr):
    """word2vec.c's CBOW update, one centre word at a time from the same starting vectors."""
    new_in, new_out = input_vectors.copy(), output_vectors.copy()
    contexts, mask = epoch.contexts.numpy(), epoch.mask.numpy()
    scored, valid = epoch.scored_ids.numpy(), epoch.not_target.numpy()
    for i in range(begin, end):
        words = contexts[i][mask[i] > 0]
        hidden = input_vectors[words].mean(axis=0)
        error = np.zeros_like(hidden)
        for k, word in enumerate(scored[i]):
            if not valid[i, k]:
                continue
            label = 1.0 if k == 0 else 0.0
            g = (label - 1 / (1 + np.exp(-hidden @ output_vectors[word]))) * lr
            error += g * output_vectors[word]
            new_out[word] += g * hidden
        for word in words:
            new_in[word] += error
    return new_in, new_out


def test_fast_batch_update_equals_word2vec_c_rule():
    rng = np.random.default_rng(3)
    counts = np.array([50, 30, 20, 10, 8, 5, 3, 2])
    ids = rng.integers(0, 8, 300)
    config = CBOWConfig(dim=6, window=3, negative=4, sample=0)
    epoch = draw_epoch(ids, keep_probabilities(counts, 0), noise_distribution(counts), config, rng)
    input_vectors = torch.from_numpy(rng.normal(size=(8, 6)).astype(np.float32))
    output_vectors = torch.from_numpy(rng.normal(size=(8, 6)).astype(np.float32))
    expected_in, expected_out = reference_batch(epoch, 40, 90, input_vectors.numpy().astype(np.float64),
                                                output_vectors.numpy().astype(np.float64), 0.05)
    _train_batch(epoch, 40, 90, input_vectors, output_vectors, 0.05, config.window)
    np.testing.assert_allclose(input_vectors.numpy(), expected_in, atol=1e-4)
    np.testing.assert_allclose(output_vectors.numpy(), expected_out, atol=1e-4)


def test_autograd_model_loss_by_hand():
    model = CBOWNegativeSampling(vocab_size=4, dim=2)
    with torch.no_grad():
        model.input_embeddings.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]]))
        model.output_embeddings.weight.copy_(torch.tensor([[0.5, 0.5], [1.0, -1.0], [0.0, 2.0], [1.0, 1.0]]))
    contexts = torch.tensor([[0, 1, 3]])
    mask = torch.tensor([[True, True, False]])
    loss = model(contexts, mask, torch.tensor([2]), torch.tensor([[1, 3]])).sum()
    hidden = np.array([0.5, 0.5])
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    expected = -np.log(sigmoid(hidden @ [0, 2])) - np.log(sigmoid(-hidden @ [1, -1])) - np.log(sigmoid(-hidden @ [1, 1]))
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_full_softmax_cbow_shapes_and_learning():
    torch.manual_seed(0)
    model = FullSoftmaxCBOW(vocab_size=20, dim=8)
    contexts = torch.randint(0, 20, (64, 4))
    mask = torch.ones(64, 4, dtype=torch.bool)
    targets = contexts[:, 0]
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    first = None
    for _ in range(50):
        loss = torch.nn.functional.cross_entropy(model(contexts, mask), targets)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert model(contexts, mask).shape == (64, 20)
    assert loss.item() < 0.5 * first


def test_both_trainers_learn_what_tfidf_could_not(tokens, vocabulary):
    ids = vocabulary.encode(tokens)
    fast = train_cbow(ids, vocabulary, CBOWConfig(epochs=20), progress=False)
    readable = train_cbow_autograd(ids, vocabulary, CBOWConfig(epochs=20, batch_size=256), progress=False)
    for result in (fast, readable):
        cohesion = group_cohesion(result.input_vectors, vocabulary.words, NUMBER_WORDS)
        assert cohesion.gap > 0.1, cohesion
        assert cohesion.neighbour_precision >= 0.15, cohesion  # TF-IDF: 0.02
        assert result.losses[-1] < result.losses[0]
        neighbours = [w for w, _ in nearest_neighbours(result.input_vectors, vocabulary.words, "three", n=10)]
        assert len(set(neighbours) & set(NUMBER_WORDS)) >= 2, neighbours


def test_fast_trainer_is_deterministic_with_one_worker(tokens, vocabulary):
    ids = vocabulary.encode(tokens[:20000])
    config = CBOWConfig(epochs=2)
    first = train_cbow(ids, vocabulary, config, progress=False)
    second = train_cbow(ids, vocabulary, config, progress=False)
    np.testing.assert_array_equal(first.input_vectors, second.input_vectors)


def test_two_workers_train_the_shared_vectors(tokens, vocabulary):
    ids = vocabulary.encode(tokens)
    result = train_cbow(ids, vocabulary, CBOWConfig(epochs=20), progress=False, workers=2)
    assert result.effective_words > 0.9 * 20 * 139_000
    assert group_cohesion(result.input_vectors, vocabulary.words).gap > 0.1


@pytest.mark.parametrize("binary", [False, True])
def test_word2vec_file_round_trip(tmp_path, binary):
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(5, 4)).astype(np.float32)
    words = ["king", "queen", "o'er", "thee", "two"]
    path = save_word2vec(vectors, words, tmp_path / "vectors.bin", binary=binary)
    loaded = load_word2vec(path, binary=binary)
    assert loaded.index_to_key == words
    np.testing.assert_allclose(loaded.vectors, vectors, atol=0 if binary else 1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["vectors.bin"]


def test_truncated_and_wrong_format_files_are_explained(tmp_path):
    vectors = np.ones((3, 4), dtype=np.float32)
    text_path = save_word2vec(vectors, ["a", "b", "c"], tmp_path / "v.txt")
    binary_path = save_word2vec(vectors, ["a", "b", "c"], tmp_path / "v.bin", binary=True)
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(binary_path.read_bytes()[:-7])
    with pytest.raises(ValueError, match="truncated"):
        load_word2vec(truncated, binary=True)
    truncated_text = tmp_path / "truncated.txt"
    truncated_text.write_text("\n".join(text_path.read_text().splitlines()[:2]))
    with pytest.raises(ValueError, match="not a complete word2vec text file"):
        load_word2vec(truncated_text)
    with pytest.raises(ValueError, match="text file, not binary"):
        load_word2vec(text_path, binary=True)
    with pytest.raises(FileNotFoundError, match="notebook 02"):
        load_word2vec(tmp_path / "absent.txt")


def test_bad_input_is_rejected_clearly(tokens):
    with pytest.raises(ValueError, match="corpus is empty"):
        build_vocabulary([])
    with pytest.raises(ValueError, match="leaves 0 word"):
        build_vocabulary(tokens, min_count=10**9)
    with pytest.raises(ValueError, match="leaves 1 word"):
        build_vocabulary(["the"] * 10 + ["a"], min_count=5)
    with pytest.raises(ValueError, match="window must be at least 1"):
        CBOWConfig(window=0)
    with pytest.raises(ValueError, match="negative must be at least 1"):
        CBOWConfig(negative=0)


def test_unknown_word_suggests_close_matches(vocabulary):
    vectors = np.random.default_rng(0).normal(size=(len(vocabulary), 5))
    with pytest.raises(KeyError, match="'romoe' is not in the vocabulary.*romeo"):
        nearest_neighbours(vectors, vocabulary.words, "romoe")
