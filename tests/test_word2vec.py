"""word2vec CBOW: pieces against gensim and hand computation, both trainers, files."""

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from gensim.models import Word2Vec
from tqdm import tqdm

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
    sample_negatives,
)
from helpers.word2vec.train import (
    CBOWConfig,
    TrainingDivergedError,
    check_finite,
    cbow_step,
    draw_epoch,
    train_cbow_autograd,
)
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


def test_corpus_numbers(tokens, vocabulary):
    assert len(tokens) == 204062
    assert len(vocabulary) == 3330
    assert len(build_vocabulary(tokens, min_count=2)) == 6927


def test_vocabulary_matches_gensim(vocabulary, gensim_model):
    assert set(vocabulary.words) == set(gensim_model.wv.index_to_key)
    for word in ["the", "king", "o'er"]:
        assert vocabulary.counts[vocabulary.index[word]] == gensim_model.wv.get_vecattr(
            word, "count"
        )
    assert list(vocabulary.counts) == sorted(vocabulary.counts, reverse=True)


def test_keep_probabilities_match_gensim(vocabulary, gensim_model):
    ours = keep_probabilities(vocabulary.counts, 1e-3)
    theirs = (
        np.array(
            [gensim_model.wv.get_vecattr(w, "sample_int") for w in vocabulary.words]
        )
        / 2**32
    )
    np.testing.assert_allclose(ours, theirs, atol=1e-9)
    assert ours[vocabulary.index["the"]] < 0.25 and ours[-1] == 1.0


def test_noise_distribution_matches_gensim(vocabulary, gensim_model):
    order = [gensim_model.wv.key_to_index[w] for w in vocabulary.words]
    theirs = gensim_model.cum_table / gensim_model.cum_table[-1]
    by_word = np.diff(np.concatenate([[0.0], theirs]))
    np.testing.assert_allclose(
        noise_distribution(vocabulary.counts), by_word[order], atol=1e-8
    )


def test_sample_negatives_follow_the_noise_distribution(vocabulary):
    noise = noise_distribution(vocabulary.counts)
    draws = sample_negatives(noise, (400_000,), np.random.default_rng(0))
    observed = np.bincount(draws, minlength=len(noise)) / len(draws)
    # the most likely words within 4 standard errors of a binomial share
    top = np.argsort(-noise)[:50]
    error = np.sqrt(noise[top] * (1 - noise[top]) / len(draws))
    assert np.all(np.abs(observed[top] - noise[top]) < 4 * error)
    # hand-made distribution: id 2 is never drawn, ids 0 and 1 at 1:3
    draws = sample_negatives(
        np.array([0.25, 0.75, 0.0]), (100_000,), np.random.default_rng(1)
    )
    assert set(np.unique(draws)) == {0, 1}
    assert np.mean(draws == 1) == pytest.approx(0.75, abs=0.01)


def test_context_mask_by_hand():
    mask = context_mask(np.array([1, 2, 1, 2]), window=2)
    # offsets -2, -1, 1, 2; position 0 has nothing on its left, 3 nothing on its right
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


def reference_batch(
    epoch, begin, end, input_vectors, output_vectors, lr, true_gradient=False
):
    """word2vec.c's CBOW rule for centre words begin..end, from the same start vectors.

    The batch reads the vectors as they were before it (a batched, "stale" update),
    as both trainers do within a batch; word2vec.c itself updates after every word.
    """
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
            new_in[word] += error / len(words) if true_gradient else error
    return new_in, new_out


@pytest.fixture
def small_epoch():
    """An epoch of 300 words from an 8-word vocabulary: many noise = centre draws."""
    rng = np.random.default_rng(3)
    counts = np.array([50, 30, 20, 10, 8, 5, 3, 2])
    ids = rng.integers(0, 8, 300)
    config = CBOWConfig(dim=6, window=3, negative=4, sample=0)
    epoch = draw_epoch(
        ids, keep_probabilities(counts, 0), noise_distribution(counts), config, rng
    )
    input_vectors = rng.normal(size=(8, 6)).astype(np.float32)
    output_vectors = rng.normal(size=(8, 6)).astype(np.float32)
    assert (epoch.not_target[40:90] == 0).sum() > 10  # the skip rule is exercised
    return epoch, config, input_vectors, output_vectors


def readable_step(
    epoch, begin, end, input_vectors, output_vectors, lr, true_gradient=False
):
    """One `cbow_step` of the readable trainer's model from the given vectors."""
    model = CBOWNegativeSampling(
        len(input_vectors), input_vectors.shape[1], true_gradient
    )
    with torch.no_grad():
        model.input_embeddings.weight.copy_(torch.from_numpy(input_vectors))
        model.output_embeddings.weight.copy_(torch.from_numpy(output_vectors))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss = cbow_step(model, optimizer, epoch, torch.arange(begin, end), lr)
    weights = model.input_embeddings.weight, model.output_embeddings.weight
    return loss, *(w.detach().numpy() for w in weights)


def reference_on_small_epoch(small_epoch, true_gradient=False):
    """The reference update of words 40..90 of `small_epoch`, lr 0.05, in float64."""
    epoch, _, input_vectors, output_vectors = small_epoch
    return reference_batch(
        epoch,
        40,
        90,
        input_vectors.astype(np.float64),
        output_vectors.astype(np.float64),
        0.05,
        true_gradient,
    )


def test_fast_batch_update_equals_batched_word2vec_c_rule(small_epoch):
    epoch, config, input_vectors, output_vectors = small_epoch
    expected_in, expected_out = reference_on_small_epoch(small_epoch)
    fast_in, fast_out = (
        torch.from_numpy(input_vectors.copy()),
        torch.from_numpy(output_vectors.copy()),
    )
    _train_batch(epoch, 40, 90, fast_in, fast_out, 0.05, config.window)
    np.testing.assert_allclose(fast_in.numpy(), expected_in, atol=1e-4)
    np.testing.assert_allclose(fast_out.numpy(), expected_out, atol=1e-4)


@pytest.mark.parametrize("true_gradient", [False, True])
def test_readable_step_equals_batched_word2vec_c_rule(small_epoch, true_gradient):
    epoch, _, input_vectors, output_vectors = small_epoch
    expected_in, expected_out = reference_on_small_epoch(small_epoch, true_gradient)
    _, new_in, new_out = readable_step(
        epoch, 40, 90, input_vectors, output_vectors, 0.05, true_gradient
    )
    np.testing.assert_allclose(new_in, expected_in, atol=1e-5)
    np.testing.assert_allclose(new_out, expected_out, atol=1e-5)


def test_one_step_of_each_trainer_gives_the_same_vectors(small_epoch):
    """The fast trainer is the readable one's update, fused (issue 13.5)."""
    epoch, config, input_vectors, output_vectors = small_epoch
    readable_loss, readable_in, readable_out = readable_step(
        epoch, 40, 90, input_vectors, output_vectors, 0.05
    )
    fast_in, fast_out = (
        torch.from_numpy(input_vectors.copy()),
        torch.from_numpy(output_vectors.copy()),
    )
    fast_loss = _train_batch(epoch, 40, 90, fast_in, fast_out, 0.05, config.window)
    np.testing.assert_allclose(readable_in, fast_in.numpy(), rtol=0, atol=2e-6)
    np.testing.assert_allclose(readable_out, fast_out.numpy(), rtol=0, atol=2e-6)
    assert readable_loss == pytest.approx(fast_loss, rel=1e-6)


def test_one_step_on_tinyshakespeare_batch(tokens, vocabulary):
    ids = vocabulary.encode(tokens)
    config = CBOWConfig()
    rng = np.random.default_rng(0)
    keep = keep_probabilities(vocabulary.counts, config.sample)
    epoch = draw_epoch(ids, keep, noise_distribution(vocabulary.counts), config, rng)
    input_vectors = ((rng.random((len(vocabulary), 100)) - 0.5) / 100).astype(
        np.float32
    )
    output_vectors = rng.normal(0, 0.1, (len(vocabulary), 100)).astype(np.float32)
    _, readable_in, readable_out = readable_step(
        epoch, 0, 1024, input_vectors, output_vectors, 0.025
    )
    fast_in, fast_out = (
        torch.from_numpy(input_vectors.copy()),
        torch.from_numpy(output_vectors.copy()),
    )
    _train_batch(epoch, 0, 1024, fast_in, fast_out, 0.025, config.window)
    np.testing.assert_allclose(readable_in, fast_in.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(readable_out, fast_out.numpy(), rtol=0, atol=1e-6)


def test_autograd_model_loss_by_hand():
    model = CBOWNegativeSampling(vocab_size=4, dim=2)
    with torch.no_grad():
        model.input_embeddings.weight.copy_(
            torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
        )
        model.output_embeddings.weight.copy_(
            torch.tensor([[0.5, 0.5], [1.0, -1.0], [0.0, 2.0], [1.0, 1.0]])
        )
    contexts = torch.tensor([[0, 1, 3]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    hidden = np.array([0.5, 0.5])
    positive = -np.log(sigmoid(hidden @ [0, 2]))
    noise_terms = [
        -np.log(sigmoid(-hidden @ [1, -1])),
        -np.log(sigmoid(-hidden @ [1, 1])),
    ]
    loss = model(
        contexts, mask, torch.tensor([2]), torch.tensor([[1, 3]]), torch.ones(1, 2)
    )
    assert loss.item() == pytest.approx(positive + sum(noise_terms), rel=1e-6)
    # a noise word with mask 0 (it was the centre word) adds nothing
    loss = model(
        contexts,
        mask,
        torch.tensor([2]),
        torch.tensor([[1, 3]]),
        torch.tensor([[1.0, 0.0]]),
    )
    assert loss.item() == pytest.approx(positive + noise_terms[0], rel=1e-6)


def test_untrained_loss_is_k_plus_one_ln_2():
    model = CBOWNegativeSampling(vocab_size=50, dim=8)
    contexts = torch.randint(0, 50, (7, 4))
    loss = model(
        contexts,
        torch.ones(7, 4),
        torch.arange(7),
        torch.randint(0, 50, (7, 5)),
        torch.ones(7, 5),
    )
    np.testing.assert_allclose(loss.detach().numpy(), 6 * np.log(2), rtol=1e-6)


def test_full_softmax_cbow_loss_by_hand_and_learning():
    torch.manual_seed(0)
    model = FullSoftmaxCBOW(vocab_size=20, dim=8)
    contexts = torch.randint(0, 20, (64, 4))
    mask = torch.ones(64, 4)
    targets = contexts[:, 0]
    # untrained: zero output vectors give every word probability 1/20
    np.testing.assert_allclose(
        model(contexts, mask, targets).detach().numpy(), np.log(20), rtol=1e-6
    )
    with torch.no_grad():
        model.output_embeddings.weight.normal_()
    hidden = model.input_embeddings.weight[contexts].mean(dim=1)
    logits = hidden @ model.output_embeddings.weight.T
    expected = torch.logsumexp(logits, dim=1) - logits[torch.arange(64), targets]
    np.testing.assert_allclose(
        model(contexts, mask, targets).detach().numpy(),
        expected.detach().numpy(),
        rtol=1e-5,
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    first = model(contexts, mask, targets).mean().item()
    for _ in range(100):
        loss = model(contexts, mask, targets).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.5 * first


def test_both_trainers_learn_what_tfidf_could_not(tokens, vocabulary):
    ids = vocabulary.encode(tokens)
    fast = train_cbow(ids, vocabulary, CBOWConfig(epochs=20), progress=False)
    readable = train_cbow_autograd(
        ids, vocabulary, CBOWConfig(epochs=20), progress=False
    )
    for result in (fast, readable):
        cohesion = group_cohesion(result.input_vectors, vocabulary.words, NUMBER_WORDS)
        assert cohesion.gap > 0.1, cohesion
        assert cohesion.neighbour_precision >= 0.15, cohesion  # TF-IDF: 0.02
        matched = group_cohesion(
            result.input_vectors,
            vocabulary.words,
            NUMBER_WORDS,
            frequencies=vocabulary.counts,
            n_random_groups=50,
        )
        assert matched.group_mean > matched.matched_mean + 0.2, matched
        assert matched.share_as_close_neighbours == 0.0, matched
        assert result.losses[-1] < result.losses[0]
        neighbours = [
            w
            for w, _ in nearest_neighbours(
                result.input_vectors, vocabulary.words, "three", n=10
            )
        ]
        assert len(set(neighbours) & set(NUMBER_WORDS)) >= 2, neighbours


def test_fast_trainer_is_deterministic_with_one_worker(tokens, vocabulary):
    ids = vocabulary.encode(tokens[:20000])
    config = CBOWConfig(epochs=2)
    first = train_cbow(ids, vocabulary, config, progress=False)
    second = train_cbow(ids, vocabulary, config, progress=False)
    np.testing.assert_array_equal(first.input_vectors, second.input_vectors)


def test_two_workers_train_the_shared_vectors(tokens, vocabulary):
    ids = vocabulary.encode(tokens)
    result = train_cbow(
        ids, vocabulary, CBOWConfig(epochs=20), progress=False, workers=2
    )
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
    binary_path = save_word2vec(
        vectors, ["a", "b", "c"], tmp_path / "v.bin", binary=True
    )
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
    with pytest.raises(ValueError, match="window must be a whole number of at least 1"):
        CBOWConfig(window=0)
    with pytest.raises(
        ValueError, match="negative must be a whole number of at least 1"
    ):
        CBOWConfig(negative=0)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lr": -0.025}, "lr must be a finite number greater than 0"),
        ({"lr": 0.0}, "lr must be a finite number greater than 0"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"lr": float("inf")}, "lr must be a finite number"),
        ({"min_lr": 1.0}, r"min_lr \(1.0\) must not exceed lr \(0.025\)"),
        ({"min_lr": -1e-4}, "min_lr must be finite and not negative"),
        ({"sample": -1e-3}, "sample must be finite and not negative"),
        ({"sample": float("nan")}, "sample must be finite"),
        ({"window": 2.5}, r"window must be a whole number of at least 1 .*got 2.5"),
        ({"dim": 0}, "dim must be a whole number"),
        ({"dim": True}, "dim must be a whole number"),
        ({"epochs": 1.5}, "epochs must be a whole number"),
        ({"batch_size": "1024"}, "batch_size must be a whole number"),
        ({"negative": -5}, "negative must be a whole number"),
        ({"min_count": 0}, "min_count must be a whole number"),
        ({"seed": 0.5}, "seed must be an integer"),
        ({"lr": "0.1"}, "lr must be a number"),
    ],
)
def test_config_refuses_nonsense(settings, message):
    with pytest.raises(ValueError, match=message):
        CBOWConfig(**settings)


def test_config_accepts_numpy_integers_and_sample_zero():
    config = CBOWConfig(
        dim=np.int64(8), window=np.int32(2), sample=0, min_lr=0.025, lr=0.025
    )
    assert config.dim == 8 and config.sample == 0


def test_readable_trainer_stops_when_it_diverges(tokens):
    vocabulary = build_vocabulary(tokens[:6000], min_count=2)
    ids = vocabulary.encode(tokens[:6000])
    config = CBOWConfig(dim=8, epochs=2, min_count=2, lr=1e6)
    with pytest.raises(
        TrainingDivergedError, match=r"lr=1e\+06.*smaller one, e.g. lr=0.025"
    ):
        train_cbow_autograd(ids, vocabulary, config, progress=False)
    # an lr that overflows the vectors before the loss, too
    with pytest.raises(FloatingPointError, match="diverged"):
        train_cbow_autograd(
            ids, vocabulary, CBOWConfig(dim=8, epochs=2, lr=1e30), progress=False
        )


def test_losses_mean_the_same_for_both_trainers(tokens):
    """One value per epoch: the mean loss per training word. With a negligible learning
    rate the output vectors stay near 0: a word costs (1 + valid noise words) ln 2."""
    vocabulary = build_vocabulary(tokens[:20000], min_count=5)
    ids = vocabulary.encode(tokens[:20000])
    config = CBOWConfig(dim=10, epochs=3, lr=1e-12, min_lr=0.0)
    expected = (config.negative + 1) * math.log(2)
    readable = train_cbow_autograd(ids, vocabulary, config, progress=False)
    fast = train_cbow(ids, vocabulary, config, progress=False)
    for result in (readable, fast):
        assert len(result.losses) == config.epochs
        # a noise word equal to its centre word is skipped: slightly below (K+1) ln 2
        assert all(expected - 0.05 < loss <= expected + 1e-9 for loss in result.losses)
    assert readable.effective_words == pytest.approx(
        3 * keep_probabilities(vocabulary.counts, config.sample)[ids].sum(), rel=0.02
    )


def test_readable_progress_bar_ends_full(tokens, capsys):
    vocabulary = build_vocabulary(tokens[:8000], min_count=3)
    ids = vocabulary.encode(tokens[:8000])
    result = train_cbow_autograd(
        ids, vocabulary, CBOWConfig(dim=8, epochs=3), progress=True
    )
    final = capsys.readouterr().err.rstrip().split("\r")[-1]
    assert "100%" in final and "|██████████|" in final, final
    words = tqdm.format_sizeof(result.effective_words)
    assert f"| {words}/{words} [" in final, (words, final)


@pytest.mark.parametrize("lr", [1e6, 100.0])
def test_fast_trainer_stops_when_it_diverges(tokens, lr):
    """Non-finite numbers (lr=1e6) and finite blow-ups (lr=100: |v| ~ 1e19) stop it."""
    vocabulary = build_vocabulary(tokens[:6000], min_count=2)
    ids = vocabulary.encode(tokens[:6000])
    config = CBOWConfig(dim=8, epochs=2, min_count=2, lr=lr)
    with pytest.raises(TrainingDivergedError, match=r"diverged.*e.g. lr=0.025"):
        train_cbow(ids, vocabulary, config, progress=False)


def test_a_finite_blow_up_counts_as_divergence():
    config = CBOWConfig(lr=0.01)
    check_finite(3.0, config, torch.full((2, 2), 9.0))  # healthy: no error
    with pytest.raises(TrainingDivergedError, match=r"reached 7e\+19.*e.g. lr=0.001"):
        check_finite(3.0, config, torch.tensor([[1.0, -7e19]]))



# Train for a long time with 2 workers in a child process that prints "ready" first;
# argv[1] is a marker that the child and its forked workers carry in their command line.
LONG_TRAINING = """
import sys
from helpers.corpus import load_tinyshakespeare, word_tokens
from helpers.word2vec import CBOWConfig, build_vocabulary, train_cbow
tokens = word_tokens(load_tinyshakespeare())[:50_000]
vocabulary = build_vocabulary(tokens, min_count=2)
print("ready", flush=True)
config = CBOWConfig(dim=20, epochs=10_000, min_count=2)
train_cbow(vocabulary.encode(tokens), vocabulary, config, progress=False, workers=2)
"""


def processes_with(marker: str) -> list[int]:
    """Process ids whose command line holds `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker in (entry / "cmdline").read_text():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until(condition, seconds: float) -> bool:
    """Poll `condition` every 0.1 s for up to `seconds`; whether it became true."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.mark.skipif(sys.platform != "linux", reason="workers are forked on Linux only")
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_stopping_the_trainer_stops_its_workers(stop):
    """Ctrl-C, a kernel's SIGTERM, or a hard kill of the parent: no worker lives on."""
    marker = f"cbow-workers-{os.getpid()}-{int(stop)}"
    child = subprocess.Popen(
        [sys.executable, "-c", LONG_TRAINING, marker],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert child.stdout.readline().strip() == "ready"
        assert wait_until(lambda: len(processes_with(marker)) >= 3, 60), "no workers"
        child.send_signal(stop)
        child.wait(timeout=30)
        assert wait_until(lambda: processes_with(marker) == [], 15), (
            f"workers still running after {stop.name}: {processes_with(marker)}"
        )
    finally:
        child.kill()
        for pid in processes_with(marker):
            os.kill(pid, signal.SIGKILL)
