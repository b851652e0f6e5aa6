"""The LLM embedding layer: Qwen tokenizer, extraction from safetensors, reload, neighbours."""

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import AutoModel, Qwen2Config, Qwen2ForCausalLM

from helpers.bert import minilm_dir
from helpers.llm import (
    choose_model,
    config_embedding_shape,
    EMBEDDING_KEY,
    embedding_parameter_name,
    load_embedding_model,
    load_qwen_tokenizer,
    nearest_tokens,
    read_input_embeddings,
    save_embedding,
    seed_cosine_loop,
    token_table,
    unit_rows,
)
from helpers.tokens import token_text

SEED_IDS = [151646, 5835, 20329, 388, 525, 537, 6509, 54846]


@pytest.fixture(scope="module")
def qwen_tokenizer():
    return load_qwen_tokenizer()


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory):
    """A Qwen2 checkpoint from a tiny config, bf16, split into several safetensors shards."""
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder, max_shard_size="100KB")
    return folder


def test_qwen_tokenizer_reproduces_the_seed_ids(qwen_tokenizer):
    assert qwen_tokenizer.encode("HTML coders are not considered programmers") == SEED_IDS
    assert qwen_tokenizer.decode(SEED_IDS[1:]) == "HTML coders are not considered programmers"


def test_qwen_tokenizer_matches_tiktoken_on_hard_text(qwen_tokenizer):
    import tiktoken

    from helpers.data import QWEN_TIKTOKEN, fetch
    from helpers.llm import QWEN2_PATTERN
    from tiktoken.load import load_tiktoken_bpe

    reference = tiktoken.Encoding("qwen", pat_str=QWEN2_PATTERN, mergeable_ranks=load_tiktoken_bpe(str(fetch(QWEN_TIKTOKEN))),
                                  special_tokens={})
    for text in ["USA and China are the most prominent countries in AI.", "12345 apples\n\n  tabs\tand 'll",
                 "emoji 🤖🚀 and 中文字符 and Ünïcödé", "def f(x):\n    return x**2  # square"]:
        assert qwen_tokenizer.encode(text)[1:] == reference.encode(text), text


def test_special_tokens_and_unreadable_bytes(qwen_tokenizer):
    ids = qwen_tokenizer.encode("<think> 🤖")
    assert ids[:2] == [151646, 151648]
    texts = [token_text(qwen_tokenizer, i) for i in ids]
    assert texts[1] == "<think>"
    assert any(text.startswith("bytes ") for text in texts), texts  # the emoji is split mid-character
    assert token_text(qwen_tokenizer, 5835) == "HTML" and token_text(qwen_tokenizer, 20329) == "#cod"


def test_extraction_equals_transformers_on_minilm():
    folder = minilm_dir()
    ours = read_input_embeddings(folder)
    reference = AutoModel.from_pretrained(str(folder)).get_input_embeddings().weight
    assert torch.equal(ours, reference)
    assert tuple(ours.shape) == config_embedding_shape(folder) == (30522, 384)


def test_extraction_equals_transformers_on_sharded_bf16_qwen2(tiny_qwen2):
    assert len(list(tiny_qwen2.glob("*.safetensors"))) > 1
    assert embedding_parameter_name(tiny_qwen2) == "model.embed_tokens.weight"
    ours = read_input_embeddings(tiny_qwen2)
    reference = AutoModel.from_pretrained(str(tiny_qwen2), dtype=torch.bfloat16).get_input_embeddings().weight
    assert ours.dtype == torch.bfloat16 and ours.shape == (1000, 64)
    assert torch.equal(ours, reference)


def test_save_and_reload_as_embedding_model(tmp_path, tiny_qwen2):
    matrix = read_input_embeddings(tiny_qwen2)
    path = save_embedding(matrix, tmp_path / "embedding.safetensors", source="tiny")
    model = load_embedding_model(path, expected_shape=config_embedding_shape(tiny_qwen2))
    ids = torch.tensor([0, 5, 999])
    assert torch.equal(model(ids), matrix[ids])
    assert [p.name for p in tmp_path.iterdir()] == ["embedding.safetensors"]


def test_embedding_is_one_hot_times_linear(tmp_path):
    weight = torch.randn(50, 8)
    model = load_embedding_model(save_embedding(weight, tmp_path / "embedding.safetensors"))
    linear = torch.nn.Linear(50, 8, bias=False)
    linear.weight = torch.nn.Parameter(model.embedding.weight.T)
    ids = torch.tensor([3, 7, 49])
    assert torch.equal(model(ids), linear(torch.nn.functional.one_hot(ids, 50).float()))


def test_pth_is_read_with_weights_only(tmp_path):
    weight = torch.randn(10, 4)
    torch.save({EMBEDDING_KEY: weight}, tmp_path / "embedding.pth")
    assert torch.equal(load_embedding_model(tmp_path / "embedding.pth")(torch.tensor([2])), weight[2:3])

    class Sneaky:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"embedding": weight, "extra": Sneaky()}, tmp_path / "unsafe.pth")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported"):
        load_embedding_model(tmp_path / "unsafe.pth")


def test_bad_saved_files(tmp_path):
    wrong_key = tmp_path / "wrong_key.safetensors"
    save_file({"weights": torch.zeros(4, 2)}, str(wrong_key))
    with pytest.raises(KeyError, match="no tensor 'embedding'"):
        load_embedding_model(wrong_key)
    good = save_embedding(torch.zeros(4, 2), tmp_path / "good.safetensors")
    with pytest.raises(ValueError, match="does not match the model config"):
        load_embedding_model(good, expected_shape=(151936, 1536))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_embedding_model(corrupt)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-8])
    with pytest.raises(ValueError):
        load_embedding_model(truncated)
    with pytest.raises(FileNotFoundError, match="notebook 05"):
        load_embedding_model(tmp_path / "absent.safetensors")


def test_model_folder_without_safetensors(tmp_path):
    (tmp_path / "config.json").write_text(Qwen2Config(vocab_size=10, hidden_size=8, num_hidden_layers=1,
                                                      num_attention_heads=2, num_key_value_heads=1,
                                                      intermediate_size=16).to_json_string())
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match=r"No safetensors weights .*pytorch_model.bin"):
        read_input_embeddings(tmp_path)


def test_batched_neighbours_equal_the_seed_loop():
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(2000, 32)).astype(np.float32)
    ids = [5, 17, 1999, 0]
    similarities, neighbours = nearest_tokens(unit_rows(torch.from_numpy(matrix)), ids, n=5)
    assert neighbours.tolist() == seed_cosine_loop(matrix, ids, n=5)
    assert similarities.shape == (4, 5) and bool((similarities[:, :-1] >= similarities[:, 1:]).all())


def test_neighbour_errors(qwen_tokenizer):
    units = unit_rows(torch.randn(100, 8))
    with pytest.raises(ValueError, match="prompt is empty"):
        nearest_tokens(units, [], n=3)
    with pytest.raises(ValueError, match="n must be between 1 and 99"):
        nearest_tokens(units, [1], n=100)


def test_token_table_format(qwen_tokenizer):
    embedding = torch.arange(151936 * 4, dtype=torch.float32).reshape(151936, 4) / 1e6
    table = token_table(qwen_tokenizer, SEED_IDS[:3], embedding).get_string()
    assert "#cod" in table and "5835" in table and "..." in table


def test_offline_choice_says_so(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    source = choose_model("no-such-org/no-such-model", allow_download=False)
    assert not source.is_requested_llm
    assert source.note.startswith("NOTE:") and "no-such-org/no-such-model" in source.note
    assert (source.model_dir / "model.safetensors").exists()
