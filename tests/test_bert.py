"""BERT helpers against transformers (the real model, tiny saved ones); bad input."""

import shutil

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForMaskedLM, pipeline

from helpers.bert import (
    BERT_ENV_VAR,
    MINILM,
    attention_head,
    bootstrap_separation,
    cosine_by_layer,
    fill_mask,
    find_bert_base,
    layer_norm,
    load_bert,
    mask_for_mlm,
    mean_pooling,
    minilm_dir,
    sense_separation,
    sentence_vectors,
    separation_by_layer,
    static_word_embedding,
    transformer_layer,
    word_states,
)

TOKENIZER_FILES = [
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
]


@pytest.fixture(scope="module")
def bert():
    return load_bert()


@pytest.fixture()
def no_bert_env(monkeypatch):
    monkeypatch.delenv(BERT_ENV_VAR, raising=False)


def tiny_mlm_folder(folder):
    """A 2-layer, 32-wide BertForMaskedLM with random weights and MiniLM's tokenizer."""
    torch.manual_seed(0)
    config = BertConfig(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    BertForMaskedLM(config).save_pretrained(folder)
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_dir() / name, folder / name)
    return folder


def fake_hub_cache(root, files):
    """A Hugging Face cache of bert-base-uncased with only `files` (name -> source)."""
    repo = root / "models--bert-base-uncased"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    for name, source in files.items():
        shutil.copy(source, snapshot / name)
    return snapshot


def test_offline_model_is_the_real_minilm(bert):
    assert bert.name in {MINILM, "bert-base-uncased"}
    if bert.name == MINILM:
        assert bert.model.config.num_hidden_layers == 6
        assert bert.model.config.hidden_size == 384
        assert "6 layers" in bert.description and "mean pooling" in bert.description
        assert not bert.has_mlm_head
    pieces = bert.tokenizer.tokenize("HTML coders are not considered programmers")
    assert pieces[:3] == ["html", "code", "##rs"]


def test_word_states_equal_a_direct_transformers_call(bert):
    sentence = "The embeddings of tokenization are fascinating."
    result = word_states(bert, sentence, "tokenization")
    assert result.pieces == ["token", "##ization"]
    encoding = bert.tokenizer(sentence, return_tensors="pt")
    tokens = bert.tokenizer.convert_ids_to_tokens(encoding["input_ids"][0])
    # [CLS] the em ##bed ##ding ##s of token ##ization ...: the word is at 7 and 8
    assert tokens[7:9] == ["token", "##ization"]
    with torch.no_grad():
        hidden = bert.model(**encoding, output_hidden_states=True).hidden_states
    expected = torch.stack([layer[0, 7:9].mean(dim=0) for layer in hidden])
    assert torch.allclose(result.states, expected, atol=1e-6)
    config = bert.model.config
    assert result.states.shape == (config.num_hidden_layers + 1, config.hidden_size)


def test_static_embedding_is_the_same_row_everywhere(bert):
    table = bert.model.get_input_embeddings().weight
    bank_id = bert.tokenizer.convert_tokens_to_ids("bank")
    assert torch.equal(static_word_embedding(bert, "bank"), table[bank_id])
    river = word_states(bert, "We walked along the river bank.", "bank").states
    money = word_states(bert, "I deposited money at the bank.", "bank").states
    assert not torch.allclose(river[-1], money[-1])  # contextual: differs by sentence


def test_layer_norm_equals_torch():
    norm = torch.nn.LayerNorm(6, eps=1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.uniform_(-1.0, 1.0)
    x = torch.randn(3, 4, 6, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(layer_norm(x, norm), norm(x), atol=1e-6)


def test_attention_head_by_hand_on_a_toy():
    class Identity:
        attention_head_size = 2
        query = key = value = torch.nn.Linear(2, 2)

    with torch.no_grad():
        Identity.query.weight.copy_(torch.eye(2))
        Identity.query.bias.zero_()
        x = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        output, weights = attention_head(x, Identity, head=0)
    # scores x x^T / sqrt(2): [[1, 0], [0, 1]] / sqrt(2); softmax by hand
    high = 1 / (1 + np.exp(-1 / np.sqrt(2)))
    expected = torch.tensor([[high, 1 - high], [1 - high, high]], dtype=torch.float32)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(output, expected @ x, atol=1e-6)


def test_every_head_and_layer_by_hand_equal_the_model(bert):
    encoding = bert.tokenizer("The bank of the river flooded.", return_tensors="pt")
    recorded = []
    layers = bert.model.encoder.layer
    hooks = [
        layer.attention.self.register_forward_hook(
            lambda module, inputs, output: recorded.append(output[0])
        )
        for layer in layers
    ]
    with torch.no_grad():
        hidden = bert.model(**encoding).hidden_states
        for hook in hooks:
            hook.remove()
        for index, layer in enumerate(layers):
            x = hidden[index][0]
            attention = layer.attention.self
            d = attention.attention_head_size
            for head in range(attention.num_attention_heads):
                output, weights = attention_head(x, attention, head)
                own = recorded[index][0, :, head * d : (head + 1) * d]
                assert torch.allclose(output, own, atol=1e-5), (index, head)
                assert torch.allclose(weights.sum(dim=-1), torch.ones(len(x)))
            assert torch.allclose(
                transformer_layer(x, layer), hidden[index + 1][0], atol=1e-4
            ), index


def test_mean_pooling_by_hand():
    vectors = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert torch.equal(
        mean_pooling(vectors, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]])
    )


def test_mean_pooling_ignores_padding(bert):
    short = "A cat sat on the mat."
    longer = (
        "Share prices dropped sharply today after the central bank raised its rates."
    )
    batch = bert.tokenizer([short, longer], padding=True)
    assert batch["attention_mask"][0][-1] == 0  # the short sentence really is padded
    alone = sentence_vectors(bert, [short], "mean")[0]
    padded = sentence_vectors(bert, [short, longer], "mean")[0]
    assert torch.allclose(alone, padded, atol=1e-5)
    # and the pooled vector is the plain mean of the sentence's own token vectors
    encoding = bert.tokenizer(short, return_tensors="pt")
    with torch.no_grad():
        tokens = bert.model(**encoding).last_hidden_state[0]
    assert torch.allclose(alone, tokens.mean(dim=0), atol=1e-5)


def test_sentence_pooling(bert):
    sentences = [
        "A cat sat on the mat.",
        "A kitten rested on the rug.",
        "Stock markets fell sharply.",
    ]
    for pooling in ("mean", "cls"):
        vectors = sentence_vectors(bert, sentences, pooling)
        assert vectors.shape == (3, bert.model.config.hidden_size)
    encoding = bert.tokenizer(sentences[1], return_tensors="pt")
    with torch.no_grad():
        cls = bert.model(**encoding).last_hidden_state[0, 0]
    assert torch.allclose(sentence_vectors(bert, sentences, "cls")[1], cls, atol=1e-5)
    mean = torch.nn.functional.normalize(
        sentence_vectors(bert, sentences, "mean"), dim=1
    )
    similarity = mean @ mean.T
    assert similarity[0, 1] > similarity[0, 2]
    with pytest.raises(ValueError, match="pooling"):
        sentence_vectors(bert, sentences, "max")
    with pytest.warns(UserWarning, match="truncated"):
        sentence_vectors(bert, ["word " * 600])


def reference_separation(vectors, senses, sample):
    """Within minus across mean cosine, by loops over the pairs of a (re)sample."""
    within, across = [], []
    for p in range(len(sample)):
        for q in range(len(sample)):
            i, j = sample[p], sample[q]
            if i == j:
                continue  # a sentence is never paired with itself or its own copy
            a, b = vectors[i], vectors[j]
            cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
            (within if senses[i] == senses[j] else across).append(cosine)
    return np.mean(within) - np.mean(across)


def test_sense_separation_against_loops():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(7, 3, 5))  # 7 sentences, 3 layers, 5 dimensions
    senses = [0, 0, 0, 1, 1, 2, 2]
    similarity = cosine_by_layer(torch.tensor(vectors, dtype=torch.float32))
    separation = sense_separation(similarity, senses).numpy()
    for layer in range(3):
        expected = reference_separation(vectors[:, layer], senses, list(range(7)))
        assert separation[layer] == pytest.approx(expected, abs=1e-5)
    # a resample with repeated sentences, as counts
    sample = [0, 0, 2, 3, 3, 3, 6]
    counts = np.bincount(sample, minlength=7)
    weighted = sense_separation(similarity, senses, counts).numpy()
    for layer in range(3):
        expected = reference_separation(vectors[:, layer], senses, sample)
        assert weighted[layer] == pytest.approx(expected, abs=1e-5)
    by_sense = {
        s: [
            torch.tensor(vectors[i], dtype=torch.float32)
            for i in range(7)
            if senses[i] == s
        ]
        for s in (0, 1, 2)
    }
    assert np.allclose(separation_by_layer(by_sense), separation, atol=1e-6)


def test_bootstrap_resamples_within_each_sense():
    rng = np.random.default_rng(1)
    vectors = torch.tensor(rng.normal(size=(6, 2, 4)), dtype=torch.float32)
    similarity = cosine_by_layer(vectors)
    first = bootstrap_separation(similarity, [0, 0, 0, 1, 1, 1], n_resamples=50, seed=3)
    again = bootstrap_separation(similarity, [0, 0, 0, 1, 1, 1], n_resamples=50, seed=3)
    assert first.shape == (50, 2) and np.array_equal(first, again)
    assert np.isfinite(first).all()


def test_senses_separate_in_the_upper_layers(bert):
    sentences = {
        "river": [
            "The boat drifted to the river bank.",
            "Grass grew on the muddy bank of the stream.",
        ],
        "money": [
            "She opened an account at the bank.",
            "The bank raised its interest rates.",
        ],
    }
    states = {
        sense: [word_states(bert, s, "bank").states for s in group]
        for sense, group in sentences.items()
    }
    separation = separation_by_layer(states)
    assert separation.shape == (bert.model.config.num_hidden_layers + 1,)
    assert abs(separation[0]) < 0.05  # layer 0 is nearly static: same word, same vector
    assert separation[1:].max() > 0.1


def test_mlm_masking_statistics(bert):
    tokenizer = bert.tokenizer
    body = [2000 + i % 5000 for i in range(20000)]
    ids = torch.tensor([tokenizer.cls_token_id] + body + [tokenizer.sep_token_id])
    masked, labels = mask_for_mlm(ids, tokenizer, seed=0)
    chosen = labels != -100
    assert not chosen[0] and not chosen[-1]  # special tokens are never picked
    assert 0.14 < chosen.float().mean() < 0.16
    to_mask = (masked == tokenizer.mask_token_id) & chosen
    kept = (masked == ids) & chosen
    assert 0.77 < to_mask.sum() / chosen.sum() < 0.83
    assert 0.08 < kept.sum() / chosen.sum() < 0.12
    assert torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(masked[~chosen], ids[~chosen])


def test_bad_input(bert):
    with pytest.raises(ValueError, match="does not occur"):
        word_states(bert, "The river is wide.", "bank")
    with pytest.raises(ValueError, match="empty"):
        word_states(bert, "   ", "bank")
    long_sentence = "word " * 600 + "bank"
    with (
        pytest.warns(UserWarning, match="truncated to the model's 512"),
        pytest.raises(ValueError, match="beyond the truncation point"),
    ):
        word_states(bert, long_sentence, "bank")
    with pytest.warns(UserWarning, match="truncated"):
        result = word_states(bert, "bank " + "word " * 600, "bank")
    assert result.truncated


def test_minilm_cannot_fill_masks(bert):
    if bert.has_mlm_head:
        pytest.skip("a model with an MLM head is installed")
    with pytest.raises(ValueError, match="no MLM head"):
        fill_mask(bert, "I [MASK] this book before.")


def test_missing_model_path_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv(BERT_ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="BERT_MODEL.*unset it"):
        load_bert()
    folder = tmp_path / "no-weights"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv(BERT_ENV_VAR, str(folder))
    with pytest.raises(
        FileNotFoundError, match="model.safetensors or pytorch_model.bin"
    ):
        load_bert()


def test_absent_cache_falls_back_and_says_why(tmp_path, no_bert_env):
    location = find_bert_base(cache_dir=tmp_path)
    assert location.path is None and "not in the Hugging Face cache" in location.reason
    bundle = load_bert(cache_dir=tmp_path)
    assert (
        bundle.name == MINILM and "not in the Hugging Face cache" in bundle.description
    )


def test_partial_cache_falls_back_with_the_reason(tmp_path, no_bert_env):
    source = tiny_mlm_folder(tmp_path / "tiny")
    files = {name: source / name for name in ["config.json"] + TOKENIZER_FILES}
    fake_hub_cache(tmp_path / "cache", files)  # config and tokenizer, no weights
    location = find_bert_base(cache_dir=tmp_path / "cache")
    assert location.path is None
    assert "only part of bert-base-uncased" in location.reason
    assert "model.safetensors" in location.reason
    bundle = load_bert(cache_dir=tmp_path / "cache")
    assert (
        bundle.name == MINILM and "only part of bert-base-uncased" in bundle.description
    )


def test_sharded_cache_with_a_missing_shard_is_partial(tmp_path, no_bert_env):
    source = tiny_mlm_folder(tmp_path / "tiny")
    index = tmp_path / "model.safetensors.index.json"
    index.write_text(
        '{"weight_map": {"a": "model-1.safetensors", "b": "model-2.safetensors"}}'
    )
    files = {name: source / name for name in ["config.json"] + TOKENIZER_FILES}
    files |= {
        "model.safetensors.index.json": index,
        "model-1.safetensors": source / "model.safetensors",
    }
    fake_hub_cache(tmp_path / "cache", files)
    location = find_bert_base(cache_dir=tmp_path / "cache")
    assert location.path is None and "model-2.safetensors" in location.reason


def test_complete_cache_is_used_and_fills_masks(tmp_path, no_bert_env, capfd):
    source = tiny_mlm_folder(tmp_path / "tiny")
    files = {
        name: source / name
        for name in ["config.json", "model.safetensors"] + TOKENIZER_FILES
    }
    snapshot = fake_hub_cache(tmp_path / "cache", files)
    capfd.readouterr()
    bundle = load_bert(cache_dir=tmp_path / "cache")
    assert "Loading weights" not in capfd.readouterr().err  # no progress bar
    assert bundle.name == "bert-base-uncased" and bundle.path == snapshot
    assert bundle.has_mlm_head and bundle.model.config.hidden_size == 32
    text = "I [MASK] this book [MASK]."
    guesses = fill_mask(bundle, text, n=3)
    reference = pipeline("fill-mask", model=str(snapshot), top_k=3)(text)
    assert len(guesses) == 2
    for ours, theirs in zip(guesses, reference):
        assert [piece for piece, _ in ours] == [t["token_str"] for t in theirs]
        assert [p for _, p in ours] == pytest.approx(
            [t["score"] for t in theirs], abs=1e-5
        )
    with pytest.raises(ValueError, match="holds no"):
        fill_mask(bundle, "No mask here.")


def test_model_folder_from_the_environment(tmp_path, monkeypatch):
    folder = tiny_mlm_folder(tmp_path / "my-bert")
    monkeypatch.setenv(BERT_ENV_VAR, str(folder))
    bundle = load_bert()
    assert bundle.name == "my-bert" and "BERT_MODEL" in bundle.description
    assert bundle.has_mlm_head
