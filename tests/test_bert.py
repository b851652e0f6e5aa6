"""BERT helpers against direct transformers calls, and bad input."""

import pytest
import torch

from helpers.bert import (
    load_bert,
    mask_for_mlm,
    sentence_vectors,
    separation_by_layer,
    static_word_embedding,
    word_states,
)


@pytest.fixture(scope="module")
def bert():
    return load_bert()


def test_offline_model_is_the_real_minilm(bert):
    assert bert.name in {"all-MiniLM-L6-v2", "bert-base-uncased"}
    if bert.name == "all-MiniLM-L6-v2":
        assert bert.model.config.num_hidden_layers == 6 and bert.model.config.hidden_size == 384
        assert "6 layers" in bert.description and "bert-base-uncased is not on this machine" in bert.description
    assert bert.tokenizer.tokenize("HTML coders are not considered programmers")[:3] == ["html", "code", "##rs"]


def test_word_states_equal_a_direct_transformers_call(bert):
    sentence = "The embeddings of tokenization are fascinating."
    result = word_states(bert, sentence, "tokenization")
    assert len(result.pieces) > 1  # split into several WordPieces
    encoding = bert.tokenizer(sentence, return_tensors="pt")
    tokens = bert.tokenizer.convert_ids_to_tokens(encoding["input_ids"][0])
    positions = [tokens.index(piece) for piece in result.pieces]
    with torch.no_grad():
        hidden = bert.model(**encoding, output_hidden_states=True).hidden_states
    expected = torch.stack([layer[0, positions].mean(dim=0) for layer in hidden])
    assert torch.allclose(result.states, expected, atol=1e-6)
    assert result.states.shape == (bert.model.config.num_hidden_layers + 1, bert.model.config.hidden_size)


def test_static_embedding_is_the_same_row_everywhere(bert):
    table = bert.model.get_input_embeddings().weight
    bank_id = bert.tokenizer.convert_tokens_to_ids("bank")
    assert torch.equal(static_word_embedding(bert, "bank"), table[bank_id])
    river = word_states(bert, "We walked along the river bank.", "bank").states
    money = word_states(bert, "I deposited money at the bank.", "bank").states
    assert not torch.allclose(river[-1], money[-1])  # contextual: differs by sentence


def test_senses_separate_in_upper_layers(bert):
    sentences = {
        "river": ["The boat drifted to the river bank.", "Grass grew on the muddy bank of the stream."],
        "money": ["She opened an account at the bank.", "The bank raised its interest rates."],
    }
    states = {sense: [word_states(bert, s, "bank").states for s in group] for sense, group in sentences.items()}
    separation = separation_by_layer(states)
    assert separation.shape == (bert.model.config.num_hidden_layers + 1,)
    assert abs(separation[0]) < 0.05  # layer 0 is nearly static: same word, same vector
    assert separation[1:].max() > 0.1


def test_sentence_pooling(bert):
    sentences = ["A cat sat on the mat.", "A kitten rested on the rug.", "Stock markets fell sharply."]
    for pooling in ("mean", "cls"):
        vectors = sentence_vectors(bert, sentences, pooling)
        assert vectors.shape == (3, bert.model.config.hidden_size)
    mean = torch.nn.functional.normalize(sentence_vectors(bert, sentences, "mean"), dim=1)
    similarity = mean @ mean.T
    assert similarity[0, 1] > similarity[0, 2]
    with pytest.raises(ValueError, match="pooling"):
        sentence_vectors(bert, sentences, "max")


def test_mlm_masking_statistics(bert):
    ids = torch.tensor([bert.tokenizer.cls_token_id] + [2000 + i % 5000 for i in range(20000)] + [bert.tokenizer.sep_token_id])
    masked, labels = mask_for_mlm(ids, bert.tokenizer, seed=0)
    chosen = labels != -100
    assert not chosen[0] and not chosen[-1]  # special tokens are never picked
    assert 0.14 < chosen.float().mean() < 0.16
    to_mask = (masked == bert.tokenizer.mask_token_id) & chosen
    kept = (masked == ids) & chosen
    assert 0.77 < to_mask.sum() / chosen.sum() < 0.83
    assert 0.08 < kept.sum() / chosen.sum() < 0.12
    assert torch.equal(labels[chosen], ids[chosen])


def test_bad_input(bert):
    with pytest.raises(ValueError, match="does not occur"):
        word_states(bert, "The river is wide.", "bank")
    with pytest.raises(ValueError, match="empty"):
        word_states(bert, "   ", "bank")
    long_sentence = "word " * 600 + "bank"
    with pytest.warns(UserWarning, match="truncated to the model's 512"):
        with pytest.raises(ValueError, match="beyond the truncation point"):
            word_states(bert, long_sentence, "bank")
    with pytest.warns(UserWarning, match="truncated"):
        result = word_states(bert, "bank " + "word " * 600, "bank")
    assert result.truncated


def test_missing_model_path_says_how_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("BERT_MODEL", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="BERT_MODEL.*unset it"):
        load_bert()
