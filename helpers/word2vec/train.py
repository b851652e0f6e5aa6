"""CBOW settings, one epoch's random draws, and the readable autograd trainer (notebook 02)."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from helpers.word2vec.model import CBOWNegativeSampling
from helpers.word2vec.sampling import (
    Vocabulary,
    cbow_examples,
    keep_probabilities,
    noise_distribution,
    sample_negatives,
)


@dataclass(frozen=True)
class CBOWConfig:
    """Hyper-parameters of CBOW training; the defaults are gensim's, with 20 epochs."""

    dim: int = 100
    window: int = 5
    negative: int = 5
    min_count: int = 5
    sample: float = 1e-3
    lr: float = 0.025
    min_lr: float = 0.0001
    epochs: int = 20
    batch_size: int = 1024
    seed: int = 0

    def __post_init__(self) -> None:
        """Reject settings that cannot train."""
        if self.window < 1:
            raise ValueError(f"window must be at least 1 (words on each side), got {self.window}.")
        if self.negative < 1:
            raise ValueError(
                f"negative must be at least 1 (noise words per example), got {self.negative}."
            )
        if self.dim < 1 or self.epochs < 1 or self.batch_size < 1:
            raise ValueError("dim, epochs and batch_size must all be at least 1.")
        if self.min_count < 1:
            raise ValueError(f"min_count must be at least 1, got {self.min_count}.")


@dataclass
class CBOWResult:
    """What training produced: word vectors, loss history and throughput."""

    vocabulary: Vocabulary
    input_vectors: np.ndarray
    output_vectors: np.ndarray
    losses: list[float]
    effective_words: int
    seconds: float

    @property
    def words_per_second(self) -> float:
        """Training words (after subsampling) processed per second."""
        return self.effective_words / self.seconds


def linear_lr(config: CBOWConfig, done: int, total: int) -> float:
    """Learning rate decayed linearly from config.lr to config.min_lr over training."""
    return max(config.lr * (1 - done / max(total, 1)), config.min_lr)


def check_ids(ids: np.ndarray, vocabulary: Vocabulary, config: CBOWConfig) -> np.ndarray:
    """Check the ids can train and return them as int64."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        raise ValueError(f"Need at least 2 tokens in the vocabulary to train, got {len(ids)}.")
    if ids.min() < 0 or ids.max() >= len(vocabulary):
        raise ValueError("ids must be vocabulary indices (use vocabulary.encode(tokens)).")
    return ids


@dataclass
class Epoch:
    """One epoch's subsampled text and random draws, prepared in bulk with numpy."""

    padded: torch.Tensor  # kept ids with `window` zeros on each side
    contexts: torch.Tensor  # (n, 2*window) context word ids (0 where masked out)
    mask: torch.Tensor  # (n, 2*window) 1.0 where the context word counts
    weights: torch.Tensor  # (n, 2*window) mask / number of context words: the mean's weights
    scored_ids: torch.Tensor  # (n, 1 + negative): the centre word, then noise words
    not_target: torch.Tensor  # (n, 1 + negative) 0.0 where a noise word is the centre word

    @property
    def size(self) -> int:
        """Number of centre words in the epoch."""
        return len(self.mask)


def draw_epoch(
    ids: np.ndarray, keep: np.ndarray, noise: np.ndarray, config: CBOWConfig, rng: np.random.Generator
) -> Epoch:
    """Subsample the text, draw window sizes and negatives for one epoch."""
    kept = ids[rng.random(len(ids)) < keep[ids]]
    contexts, mask, _ = cbow_examples(kept, config.window, rng)
    scored = np.empty((len(kept), 1 + config.negative), dtype=np.int64)
    scored[:, 0] = kept
    scored[:, 1:] = sample_negatives(noise, (len(kept), config.negative), rng)
    # word2vec.c skips a noise word that happens to be the target itself
    not_target = (scored != kept[:, None]) | (np.arange(1 + config.negative) == 0)
    mask = mask.astype(np.float32)
    return Epoch(
        padded=torch.from_numpy(np.pad(kept, config.window)),
        contexts=torch.from_numpy(contexts),
        mask=torch.from_numpy(mask),
        weights=torch.from_numpy(mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)),
        scored_ids=torch.from_numpy(scored),
        not_target=torch.from_numpy(not_target.astype(np.float32)),
    )


def train_cbow_autograd(
    ids: np.ndarray, vocabulary: Vocabulary, config: CBOWConfig = CBOWConfig(), progress: bool = True
) -> CBOWResult:
    """Train CBOW with autograd and sparse SGD: the readable trainer."""
    ids = check_ids(ids, vocabulary, config)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = CBOWNegativeSampling(len(vocabulary), config.dim)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    keep = keep_probabilities(vocabulary.counts, config.sample)
    noise = noise_distribution(vocabulary.counts)
    expected_total = int(keep[ids].sum() * config.epochs)
    losses, done, start = [], 0, time.perf_counter()
    bar = tqdm(total=expected_total, unit="word", unit_scale=True, disable=not progress, desc="CBOW (autograd)")
    for _ in range(config.epochs):
        epoch = draw_epoch(ids, keep, noise, config, rng)
        order = rng.permutation(epoch.size)
        for batch in np.array_split(order, max(1, len(order) // config.batch_size)):
            for group in optimizer.param_groups:
                group["lr"] = linear_lr(config, done, expected_total)
            batch = torch.from_numpy(batch)
            example_losses = model(
                epoch.contexts[batch], epoch.mask[batch], epoch.scored_ids[batch, 0], epoch.scored_ids[batch, 1:]
            )
            optimizer.zero_grad()
            # the sum, not the mean: each example gets the full learning rate, as in word2vec
            example_losses.sum().backward()
            optimizer.step()
            losses.append(example_losses.mean().item())
            done += len(batch)
            bar.update(len(batch))
    bar.close()
    return CBOWResult(
        vocabulary,
        model.input_embeddings.weight.detach().numpy().copy(),
        model.output_embeddings.weight.detach().numpy().copy(),
        losses,
        done,
        time.perf_counter() - start,
    )
