"""Notebook 05's helpers: model choice, tokenizers, extraction, reload, neighbours."""

import json
import shutil
import unicodedata
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from transformers import (
    AutoModel,
    AutoModelForCausalLM,
    LlamaConfig,
    Qwen2Config,
    Qwen2ForCausalLM,
)

import helpers.llm as llm
from helpers.bert import minilm_dir
from helpers.llm import (
    EMBEDDING_KEY,
    choose_model,
    config_embedding_shape,
    downloads_allowed,
    embedding_parameter_name,
    find_llm_dir,
    load_causal_lm,
    load_embedding_model,
    load_qwen_tokenizer,
    load_tokenizer,
    nearest_tokens,
    original_cosine_loop,
    read_input_embeddings,
    save_embedding,
    token_table,
)
from helpers.neighbours import unit_rows

ORIGINAL_IDS = [151646, 5835, 20329, 388, 525, 537, 6509, 54846]


@pytest.fixture(scope="module")
def qwen_tokenizer():
    return load_qwen_tokenizer()


def tiny_qwen2_config(**overrides) -> Qwen2Config:
    settings = dict(
        vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
    )  # fmt: skip
    return Qwen2Config(**(settings | overrides))


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory):
    """A Qwen2 checkpoint from a tiny config, bf16, in several safetensors shards."""
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-qwen2")
    model = Qwen2ForCausalLM(tiny_qwen2_config()).to(torch.bfloat16)
    model.save_pretrained(folder, max_shard_size="100KB")
    return folder


@pytest.fixture(scope="module")
def qwen2_stand_in(tmp_path_factory, qwen_tokenizer):
    """A DeepSeek-shaped stand-in: Qwen2, 151,936 rows, and Qwen tokenizer files."""
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("qwen2-stand-in")
    config = tiny_qwen2_config(vocab_size=151936, hidden_size=32, intermediate_size=64)
    Qwen2ForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    qwen_tokenizer.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------- the Qwen tokenizer


def test_qwen_tokenizer_reproduces_the_original_ids(qwen_tokenizer):
    assert qwen_tokenizer.encode(llm.ORIGINAL_PROMPT) == ORIGINAL_IDS
    assert qwen_tokenizer.decode(ORIGINAL_IDS[1:]) == llm.ORIGINAL_PROMPT


def test_qwen_tokenizer_has_deepseeks_added_tokens(qwen_tokenizer):
    assert len(qwen_tokenizer) == 151665
    for token_id, text, _ in llm.DEEPSEEK_ADDED_TOKENS:
        assert qwen_tokenizer.convert_tokens_to_ids(text) == token_id
        assert (
            qwen_tokenizer.encode(f"a{text}b", add_special_tokens=False)[1] == token_id
        )
    assert (
        qwen_tokenizer.bos_token_id == 151646 and qwen_tokenizer.eos_token_id == 151643
    )


def test_qwen_tokenizer_normalises_decomposed_unicode(qwen_tokenizer):
    for text in [
        "Ångström façade",
        "Crème brûlée for Zoë",
        "Việt Nam, Hà Nội",
        "ñandú",
    ]:
        decomposed = unicodedata.normalize("NFD", text)
        assert decomposed != text
        assert qwen_tokenizer.encode(decomposed) == qwen_tokenizer.encode(text), text


def test_qwen_tokenizer_matches_tiktoken_on_hard_text(qwen_tokenizer):
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    from helpers.data import QWEN_TIKTOKEN, fetch

    ranks = load_tiktoken_bpe(str(fetch(QWEN_TIKTOKEN)))
    reference = tiktoken.Encoding(
        "qwen", pat_str=PRETOKENIZE_REGEX, mergeable_ranks=ranks, special_tokens={}
    )
    for text in [
        "USA and China are the most prominent countries in AI.",
        "12345 apples\n\n  tabs\tand 'll",
        "emoji 🤖🚀 and 中文字符 and Ünïcödé",
        "def f(x):\n    return x**2  # square",
    ]:
        nfc = unicodedata.normalize("NFC", text)
        assert qwen_tokenizer.encode(text)[1:] == reference.encode(nfc), text


# ---------------------------------------------------------------- a folder's tokenizer


def test_folder_with_its_tokenizer_files_uses_them(qwen2_stand_in, qwen_tokenizer):
    tokenizer = load_qwen_tokenizer(qwen2_stand_in)
    assert "qwen.tiktoken" not in tokenizer.name_or_path
    assert len(tokenizer) == 151665
    assert tokenizer.encode("Crème brûlée") == qwen_tokenizer.encode("Crème brûlée")


def test_qwen2_folder_without_tokenizer_falls_back_saying_why(tmp_path):
    Qwen2ForCausalLM(
        tiny_qwen2_config(vocab_size=151936, hidden_size=16)
    ).save_pretrained(tmp_path)
    tokenizer = load_qwen_tokenizer(tmp_path)
    assert "qwen.tiktoken" in tokenizer.name_or_path
    assert "the folder's own tokenizer failed" in tokenizer.name_or_path
    ids = tokenizer.encode("Programmers write code")
    assert ids[0] == 151646 and tokenizer.decode(ids[1:]) == "Programmers write code"


def test_qwen2_folder_too_small_for_the_qwen_bpe_raises(tmp_path):
    (tmp_path / "config.json").write_text(
        tiny_qwen2_config(vocab_size=1000, hidden_size=16).to_json_string()
    )
    with pytest.raises(
        ValueError, match=r"(?s)Qwen BPE cannot stand in.*151,665 tokens.*1,000 rows"
    ):
        load_qwen_tokenizer(tmp_path)


def test_qwen2_folder_with_corrupt_tokenizer_falls_back(qwen2_stand_in, tmp_path):
    folder = tmp_path / "corrupt"
    shutil.copytree(qwen2_stand_in, folder)
    (folder / "tokenizer.json").write_text("{ not json")
    tokenizer = load_qwen_tokenizer(folder)
    assert "qwen.tiktoken" in tokenizer.name_or_path and len(tokenizer) == 151665


def test_other_models_without_a_usable_tokenizer_raise(tmp_path):
    llama = tmp_path / "llama"
    llama.mkdir()
    config = LlamaConfig(vocab_size=32000, hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2)  # fmt: skip
    (llama / "config.json").write_text(config.to_json_string())
    with pytest.raises(
        ValueError, match=r"(?s)\(llama\) has no usable tokenizer.*tokenizer\.json"
    ):
        load_qwen_tokenizer(llama)
    bert = tmp_path / "bert"
    bert.mkdir()
    shutil.copy(minilm_dir() / "config.json", bert / "config.json")
    (bert / "tokenizer.json").write_text("{ not json")
    with pytest.raises(ValueError, match=r"\(bert\) has no usable tokenizer"):
        load_qwen_tokenizer(bert)
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        load_qwen_tokenizer(tmp_path / "absent")


def test_a_sane_non_qwen_tokenizer_is_kept(tmp_path):
    bert = tmp_path / "bert"
    shutil.copytree(minilm_dir(), bert)
    (bert / "tokenizer.json").unlink()  # vocab.txt is enough for BERT
    tokenizer = load_qwen_tokenizer(bert)
    assert len(tokenizer) == 30522 and "qwen.tiktoken" not in tokenizer.name_or_path
    assert tokenizer.tokenize("Embedding layers") == ["em", "##bed", "##ding", "layers"]


def test_tokenizer_size_and_probe_checks():
    class Fake:
        all_special_ids, unk_token_id = [0], 0

        def __init__(self, size, ids):
            self.size, self.ids = size, ids

        def __len__(self):
            return self.size

        def encode(self, text, add_special_tokens=False):
            return self.ids

    assert llm.tokenizer_problem(Fake(1000, [5, 6]), 1000) is None
    assert "1 tokens for an embedding of 1,000 rows" in llm.tokenizer_problem(
        Fake(1, [5]), 1000
    )
    assert "no real token" in llm.tokenizer_problem(Fake(1000, [0, 0]), 1000)
    assert "no real token" in llm.tokenizer_problem(Fake(1000, []), 1000)
    assert "beyond" in llm.tokenizer_problem(Fake(950, [5, 999]), 990)


# ---------------------------------------------------------------- choosing the model


def fake_cache(root: Path, repo: str, files: dict[str, bytes]) -> Path:
    """A Hugging Face cache entry for `repo` holding `files` in one snapshot."""
    entry = root / ("models--" + repo.replace("/", "--"))
    snapshot = entry / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text("0" * 40)
    for name, content in files.items():
        (snapshot / name).write_bytes(content)
    return snapshot


@pytest.fixture()
def empty_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.delenv(llm.MODEL_ENV_VAR, raising=False)
    monkeypatch.delenv(llm.DOWNLOAD_ENV_VAR, raising=False)
    return tmp_path / "hub"


def test_offline_default_is_smollm2_with_the_reason(empty_cache):
    source = choose_model()
    assert not source.is_requested_llm and source.name == "SmolLM2-135M-Instruct"
    assert (
        source.weights.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
        and source.weights.is_file()
    )
    assert source.note.startswith("Model: SmolLM2-135M-Instruct")
    assert "NOTE" not in source.note
    why = "Why not deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B: it is not in the Hugging"
    assert why + " Face cache" in source.note
    assert "downloading is off" in source.note


def test_complete_cache_is_used(empty_cache, tiny_qwen2):
    files = {p.name: p.read_bytes() for p in tiny_qwen2.iterdir()}
    snapshot = fake_cache(empty_cache, "someone/tiny-qwen2", files)
    source = choose_model("someone/tiny-qwen2")
    assert source.is_requested_llm and source.model_dir == snapshot
    assert source.note == f"Model: someone/tiny-qwen2, from {snapshot}."


def test_partial_cache_falls_back_with_the_real_reason(empty_cache):
    config = tiny_qwen2_config().to_json_string().encode()
    fake_cache(
        empty_cache, "someone/partial", {"config.json": config, "tokenizer.json": b"{}"}
    )
    source = choose_model("someone/partial", allow_download=False)
    assert not source.is_requested_llm
    assert "holds only part of someone/partial (no .safetensors weights" in source.note
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    index = json.dumps({"weight_map": {"a": shards[0], "b": shards[1]}})
    fake_cache(empty_cache, "someone/sharded", {
        "config.json": config, "model.safetensors.index.json": index.encode(),
        "model-00001-of-00002.safetensors": b"x",
    })  # fmt: skip
    note = choose_model("someone/sharded", allow_download=False).note
    assert "missing weight shards ['model-00002-of-00002.safetensors']" in note


def test_failed_download_is_reported(empty_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not downloads_allowed()
    note = choose_model("no-such-org/no-such-model", allow_download=True).note
    assert (
        "Why not no-such-org/no-such-model: it is not in the Hugging Face cache" in note
    )
    assert "the download failed (" in note


def test_downloads_are_opt_in(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for name in (llm.DOWNLOAD_ENV_VAR, "HF_HUB_OFFLINE", "EMBEDDINGS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    assert not downloads_allowed()
    for value, expected in [("1", True), ("yes", True), ("TRUE", True), ("0", False)]:
        monkeypatch.setenv(llm.DOWNLOAD_ENV_VAR, value)
        assert downloads_allowed() is expected, value
    monkeypatch.setenv(llm.DOWNLOAD_ENV_VAR, "1")
    monkeypatch.setenv("EMBEDDINGS_OFFLINE", "1")
    assert not downloads_allowed()


def test_local_folders_and_paths(tmp_path, tiny_qwen2, monkeypatch):
    monkeypatch.setenv(llm.MODEL_ENV_VAR, str(tiny_qwen2))
    source = choose_model()
    assert source.is_requested_llm and source.model_dir == tiny_qwen2
    with pytest.raises(FileNotFoundError, match=r"/nonexistent/model is not a folder"):
        find_llm_dir("/nonexistent/model")
    with pytest.raises(FileNotFoundError, match=r"not a folder on this machine"):
        find_llm_dir("~/models/deepseek/v1")
    (tmp_path / "config.json").write_text(tiny_qwen2_config().to_json_string())
    with pytest.raises(
        FileNotFoundError, match=r"is incomplete: no \.safetensors weights"
    ):
        find_llm_dir(str(tmp_path))
    with pytest.raises(ValueError, match="neither a folder nor a Hugging Face id"):
        find_llm_dir("not a valid id!")


# ---------------------------------------------------------------- reading the embedding


def test_extraction_equals_transformers_on_sharded_bf16_qwen2(tiny_qwen2):
    assert len(list(tiny_qwen2.glob("*.safetensors"))) > 1
    assert embedding_parameter_name(tiny_qwen2) == "model.embed_tokens.weight"
    ours = read_input_embeddings(tiny_qwen2)
    reference = AutoModel.from_pretrained(str(tiny_qwen2), dtype=torch.bfloat16)
    assert ours.dtype == torch.bfloat16 and ours.shape == (1000, 64)
    assert torch.equal(ours, reference.get_input_embeddings().weight)
    assert config_embedding_shape(tiny_qwen2) == (1000, 64)


def test_extraction_equals_transformers_on_a_bert():
    ours = read_input_embeddings(minilm_dir())
    reference = (
        AutoModel.from_pretrained(str(minilm_dir())).get_input_embeddings().weight
    )
    assert torch.equal(ours, reference) and ours.shape == (30522, 384)


def test_gguf_file_or_folder(tmp_path):
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(40, 32)).astype(np.float32)
    folder = tmp_path / "model"
    folder.mkdir()
    writer = gguf.GGUFWriter(str(folder / "tiny.gguf"), arch="llama")
    writer.add_uint32("llama.vocab_size", 40)
    writer.add_uint32("llama.embedding_length", 32)
    quantized = gguf.quants.quantize(matrix, gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor(
        "token_embd.weight", quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0
    )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    expected = gguf.quants.dequantize(quantized, gguf.GGMLQuantizationType.Q8_0)
    for path in (folder, folder / "tiny.gguf"):
        assert np.array_equal(read_input_embeddings(path).numpy(), expected)
        assert config_embedding_shape(path) == (40, 32)
    shutil.copy(folder / "tiny.gguf", folder / "other.gguf")
    with pytest.raises(ValueError, match="several GGUF files"):
        read_input_embeddings(folder)


def test_model_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(tiny_qwen2_config().to_json_string())
    (tmp_path / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(
        FileNotFoundError, match=r"No safetensors weights .*pytorch_model.bin"
    ):
        read_input_embeddings(tmp_path)


# ---------------------------------------------------------------- saving and reloading


def test_save_and_reload_as_embedding_model(tmp_path, tiny_qwen2):
    matrix = read_input_embeddings(tiny_qwen2)
    path = save_embedding(matrix, tmp_path / "embedding.safetensors", source="tiny")
    model = load_embedding_model(
        path, expected_shape=config_embedding_shape(tiny_qwen2)
    )
    ids = torch.tensor([0, 5, 999])
    assert torch.equal(model(ids), matrix[ids])
    assert torch.equal(model.embedding.weight, matrix)
    assert [p.name for p in tmp_path.iterdir()] == ["embedding.safetensors"]


def test_torch_files_are_read_with_weights_only(tmp_path):
    weight = torch.randn(10, 4)
    torch.save({EMBEDDING_KEY: weight}, tmp_path / "embedding.pth")
    assert torch.equal(
        load_embedding_model(tmp_path / "embedding.pth").embedding.weight, weight
    )
    torch.save(weight, tmp_path / "bare.pt")  # the most common way to save a matrix
    assert torch.equal(
        load_embedding_model(tmp_path / "bare.pt")(torch.tensor([3])), weight[3:4]
    )
    torch.save({"embedding.weight": weight.T.contiguous()}, tmp_path / "state.pt")
    assert load_embedding_model(tmp_path / "state.pt").embedding.weight.shape == (4, 10)

    class Sneaky:
        def __reduce__(self):
            return (print, ("code ran",))

    torch.save({"embedding": weight, "extra": Sneaky()}, tmp_path / "unsafe.pth")
    with pytest.raises(Exception, match="(?i)weights_only|unsupported"):
        load_embedding_model(tmp_path / "unsafe.pth")


def test_bad_saved_files(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(TypeError, match="holds a list, not a tensor or a state dict"):
        load_embedding_model(tmp_path / "list.pt")
    torch.save({"embedding": [1.0, 2.0]}, tmp_path / "nested.pt")
    with pytest.raises(TypeError, match="'embedding' is a list, not a tensor"):
        load_embedding_model(tmp_path / "nested.pt")
    torch.save({"other": torch.zeros(2, 2)}, tmp_path / "other.pt")
    with pytest.raises(KeyError, match=r"no embedding tensor \(keys: \['other'\]\)"):
        load_embedding_model(tmp_path / "other.pt")
    empty = save_embedding(torch.zeros(0, 4), tmp_path / "empty.safetensors")
    with pytest.raises(ValueError, match=r"the embedding is empty, shape \(0, 4\)"):
        load_embedding_model(empty)
    torch.save(torch.zeros(0, 8), tmp_path / "empty.pt")
    with pytest.raises(ValueError, match=r"the embedding is empty"):
        load_embedding_model(tmp_path / "empty.pt")
    wrong_key = tmp_path / "wrong_key.safetensors"
    save_file({"weights": torch.zeros(4, 2)}, str(wrong_key))
    with pytest.raises(KeyError, match="no tensor 'embedding'; it has \\['weights'\\]"):
        load_embedding_model(wrong_key)
    good = save_embedding(torch.zeros(4, 2), tmp_path / "good.safetensors")
    with pytest.raises(ValueError, match="does not match the model config"):
        load_embedding_model(good, expected_shape=(151936, 1536))
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:-8])
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_embedding_model(truncated)
    with pytest.raises(FileNotFoundError, match="notebook 05"):
        load_embedding_model(tmp_path / "absent.safetensors")


# ---------------------------------------------------------------- exploring


def test_batched_neighbours_equal_the_original_loop():
    torch.manual_seed(0)
    matrix = torch.randn(3000, 32)
    ids = [5, 17, 2999, 0]
    similarities, neighbours = nearest_tokens(matrix, ids, n=5)
    assert neighbours.tolist() == original_cosine_loop(matrix, ids, n=5)
    assert torch.equal(nearest_tokens(unit_rows(matrix), ids, n=5)[1], neighbours)
    assert bool((similarities[:, :-1] >= similarities[:, 1:]).all())


def test_neighbour_errors():
    matrix = torch.randn(100, 8)
    with pytest.raises(ValueError, match="prompt is empty"):
        nearest_tokens(matrix, [], n=3)
    with pytest.raises(ValueError, match="n must be an integer from 1 to 99"):
        nearest_tokens(matrix, [1], n=100)
    with pytest.raises(ValueError, match="Row id -1 is negative"):
        nearest_tokens(matrix, [-1], n=3)


def test_token_table_is_the_original_layout(qwen_tokenizer):
    embedding = torch.zeros(151936, 4)
    embedding[20329] = torch.tensor([0.5, -0.25, 1 / 3, 2.0])
    lines = token_table(qwen_tokenizer, [20329], embedding).get_string().splitlines()
    assert lines[1].strip("| ") == "Token Embeddings"
    assert [cell.strip() for cell in lines[3].split("|")[1:4]] == [
        "token_id",
        "token",
        "Embedding Vector",
    ]
    cells = [cell.strip() for cell in lines[5].split("|")[1:4]]
    assert cells == ["20329", "#cod", "0.500000, -0.250000, 0.333333 ... 2.000000"]


# ---------------------------------------------------------------- the DeepSeek path


def test_deepseek_path_on_a_stand_in_checkpoint(qwen2_stand_in, monkeypatch):
    """Everything notebook 05 does with a local DeepSeek folder, on a small stand-in."""
    monkeypatch.setenv(llm.MODEL_ENV_VAR, str(qwen2_stand_in))
    source = choose_model()
    assert source.is_requested_llm and source.gguf_file is None
    tokenizer = load_tokenizer(source)
    ids = tokenizer.encode(llm.ORIGINAL_PROMPT)
    assert ids == ORIGINAL_IDS
    matrix = read_input_embeddings(source.weights)
    assert matrix.shape == (151936, 32) and matrix.dtype == torch.bfloat16
    model = load_causal_lm(source)
    assert torch.equal(model.get_input_embeddings().weight, matrix)
    reference = AutoModelForCausalLM.from_pretrained(str(qwen2_stand_in), dtype="auto")
    assert model.dtype == reference.dtype == torch.bfloat16
    output = model(torch.tensor([ids]), output_hidden_states=True)
    assert len(output.hidden_states) == 3 and output.logits.shape == (1, 8, 151936)


# ---------------------------------------------------------------- notebook 05's helpers


def test_spelled_like_and_split_neighbours(qwen_tokenizer):
    assert llm.spelled_like("#cat", "Cats") and llm.spelled_like("#print", "#printed")
    assert not llm.spelled_like("#mouse", "#mice") and not llm.spelled_like("#a", "#an")
    ids = qwen_tokenizer(" dog", add_special_tokens=False)["input_ids"]
    found = [
        qwen_tokenizer.encode(w, add_special_tokens=False)[0] for w in (" dogs", " cat")
    ]
    same, total, others = llm.split_neighbours(
        qwen_tokenizer, ids, torch.tensor([found])
    )
    assert (same, total, others) == (1, 2, {"#dog": ["#cat"]})


def test_neighbour_table_rows(qwen_tokenizer):
    matrix = torch.zeros(151936, 3)
    ids = [
        qwen_tokenizer.encode(w, add_special_tokens=False)[0]
        for w in (" a", " b", " c")
    ]
    matrix[ids[0]], matrix[ids[1]], matrix[ids[2]] = (
        torch.tensor([1.0, 0, 0]), torch.tensor([1.0, 1, 0]), torch.tensor([0, 0, 1.0])
    )  # fmt: skip
    table = llm.neighbour_table(qwen_tokenizer, matrix, ids[:1], n=2)
    assert table.to_dict("records") == [
        {"token": "#a", "nearest tokens": "#b (0.71), #c (0.00)"}
    ]


def test_token_states_are_the_models_hidden_states(qwen2_stand_in, qwen_tokenizer):
    model = load_causal_lm(choose_model(str(qwen2_stand_in)))
    states = llm.token_states(model, qwen_tokenizer, "The river bank is muddy", " bank")
    ids = qwen_tokenizer.encode("The river bank is muddy")
    with torch.no_grad():
        hidden = model(torch.tensor([ids]), output_hidden_states=True).hidden_states
    position = ids.index(qwen_tokenizer.encode(" bank", add_special_tokens=False)[0])
    assert states.shape == (3, 32)
    assert torch.equal(
        states[0], model.get_input_embeddings().weight[ids[position]].float()
    )
    assert torch.equal(states[-1], hidden[-1][0, position].float())
    with pytest.raises(ValueError, match="occurs 2 times"):
        llm.token_states(model, qwen_tokenizer, "bank to bank, the bank", " bank")
    with pytest.raises(ValueError, match=r"is \d+ tokens here"):
        llm.token_states(model, qwen_tokenizer, "x", " antidisestablishment")


def test_greedy_answer_takes_the_likeliest_token_each_step(
    qwen2_stand_in, qwen_tokenizer
):
    model = load_causal_lm(choose_model(str(qwen2_stand_in)))
    qwen_tokenizer.chat_template = (
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )
    try:
        answer = llm.greedy_answer(model, qwen_tokenizer, "Tell me", max_new_tokens=4)
    finally:
        qwen_tokenizer.chat_template = None
    ids = qwen_tokenizer.encode("Tell me", add_special_tokens=False)
    prompt_length = len(ids)
    with torch.no_grad():
        for _ in range(4):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    expected = qwen_tokenizer.decode(ids[prompt_length:], skip_special_tokens=True)
    assert answer == expected
    plain = llm.greedy_answer(model, qwen_tokenizer, "Tell me", max_new_tokens=2)
    ids = qwen_tokenizer.encode("Tell me")  # no chat template: the plain question
    with torch.no_grad():
        for _ in range(2):
            ids.append(int(model(torch.tensor([ids])).logits[0, -1].argmax()))
    assert plain == qwen_tokenizer.decode(ids[-2:], skip_special_tokens=True)


def test_rope_matches_transformers_and_keeps_relative_scores():
    from transformers.models.llama.modeling_llama import rotate_half

    torch.manual_seed(0)
    dim, base, position = 8, 10000.0, 5
    vector = torch.randn(dim)
    ours = llm.rope(vector, position, base)
    # transformers pairs dimension i with i + dim/2: reorder ours to that layout
    half = torch.cat([vector[0::2], vector[1::2]])
    angles = position * base ** (-torch.arange(0, dim, 2) / dim)
    cos, sin = torch.cat([angles, angles]).cos(), torch.cat([angles, angles]).sin()
    theirs = half * cos + rotate_half(half) * sin
    torch.testing.assert_close(torch.cat([ours[0::2], ours[1::2]]), theirs)
    query, key = torch.randn(dim), torch.randn(dim)
    near = llm.rope(query, 3) @ llm.rope(key, 5)
    torch.testing.assert_close(near, llm.rope(query, 40) @ llm.rope(key, 42))
    assert torch.linalg.vector_norm(ours).item() == pytest.approx(vector.norm().item())


def test_token_map_frame_draws_each_token_once(qwen_tokenizer):
    import holoviews.plotting.bokeh  # noqa: F401 - the backend that plot options need

    torch.manual_seed(0)
    matrix = torch.randn(151936, 16)
    ids = [100, 200, 300]
    matrix[200] = matrix[100] * 2  # 200 is 100's nearest neighbour and a prompt token
    frame = llm.token_map_frame(qwen_tokenizer, matrix, ids, n=3)
    assert frame["id"].is_unique and frame["id"].tolist()[:3] == ids
    assert (frame["group"] == "prompt token").sum() == 3 and len(frame) <= 3 + 9
    overlay = llm.token_map(frame, "test")
    assert len(overlay) == 4  # neighbours, prompt tokens, leader lines, labels


def test_label_boxes_never_overlap():
    torch.manual_seed(1)
    x, y = (torch.rand(15) * 60).tolist(), (torch.rand(15) * 60).tolist()  # crowded
    texts = [f"token{i}" for i in range(15)]
    boxes = llm._label_boxes(x, y, texts, list(zip(x, y)))
    for i, (ax, ay, aw, ah) in enumerate(boxes):
        for bx, by, bw, bh in boxes[i + 1 :]:
            assert (
                abs(ax - bx) >= (aw + bw) / 2 - 1e-9
                or abs(ay - by) >= (ah + bh) / 2 - 1e-9
            )


def test_tensor_names_of_both_formats(tiny_qwen2):
    gguf_names = llm.tensor_names(choose_model("no-such/model", allow_download=False))
    assert "token_embd.weight" in gguf_names and len(gguf_names) == 272
    folder_names = llm.tensor_names(choose_model(str(tiny_qwen2)))
    assert (
        "model.embed_tokens.weight" in folder_names and "lm_head.weight" in folder_names
    )


def test_a_gguf_file_can_be_requested(monkeypatch):
    path = llm.smollm2_gguf()
    monkeypatch.setenv(llm.MODEL_ENV_VAR, str(path))
    source = choose_model()
    assert source.is_requested_llm and source.weights == path
    assert source.note == f"Model: {path.name}, from {path.parent}."
