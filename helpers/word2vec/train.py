"""CBOW settings, one epoch's draws and the readable autograd trainer (notebook 02).

`cbow_step` is the lesson: notebook 02 defines it and `make lesson-code` copies it here.
The rest is plumbing shared with the fast trainer (`train_fast`): the settings and their
checks, the learning-rate schedule, one epoch's draws, the progress bar and the check
that stops a diverging run.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from numbers import Integral, Real

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
        """Reject settings that cannot train, naming the setting and the fix."""
        meanings = {
            "dim": "numbers per word vector",
            "window": "context words on each side",
            "negative": "noise words per example",
            "min_count": "occurrences a word needs to be kept",
            "epochs": "passes over the text",
            "batch_size": "centre words per update",
        }
        for name, meaning in meanings.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(
                    f"{name} must be a whole number of at least 1 ({meaning}), "
                    f"got {value!r}."
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, Integral):
            raise ValueError(f"seed must be an integer, got {self.seed!r}.")
        for name in ("lr", "min_lr", "sample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, Real):
                raise ValueError(f"{name} must be a number, got {value!r}.")
            if name == "lr" and not (math.isfinite(value) and value > 0):
                raise ValueError(
                    f"lr must be a finite number greater than 0 (e.g. 0.025), "
                    f"got {value!r}."
                )
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f"{name} must be finite and not negative, got {value!r}."
                )
        if self.min_lr > self.lr:
            raise ValueError(
                f"min_lr ({self.min_lr}) must not exceed lr ({self.lr}): the learning "
                "rate decays from lr down to min_lr."
            )


@dataclass
class CBOWResult:
    """What training produced: word vectors, the loss per epoch and throughput.

    `losses` holds one value per epoch: the mean loss per training word (centre word
    after subsampling), the same for both trainers.
    """

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


class TrainingDivergedError(FloatingPointError):
    """Training produced a loss or a vector that is NaN or infinite."""


# No coordinate of a healthy word2vec vector comes near this (they stay below ~10).
MAX_COORDINATE = 1e3


def check_finite(loss: float, config: CBOWConfig, *vectors: torch.Tensor) -> None:
    """Stop training when the loss or a vector is not finite, or a vector blew up."""
    largest = max(
        (float(v.detach().abs().max()) for v in vectors if v.numel()), default=0.0
    )
    if math.isfinite(loss) and math.isfinite(largest) and largest <= MAX_COORDINATE:
        return
    if not math.isfinite(loss):
        what = f"the loss is {loss}"
    elif not math.isfinite(largest):
        what = "a vector holds NaN or inf"
    else:
        what = f"a vector coordinate reached {largest:.3g} (healthy ones stay below 10)"
    smaller = 0.025 if config.lr > 0.025 else config.lr / 10
    raise TrainingDivergedError(
        f"CBOW training diverged: {what} with lr={config.lr:g}. The learning rate is "
        f"too large for this text; try a smaller one, e.g. lr={smaller:g}."
    )


def linear_lr(config: CBOWConfig, done: int, total: int) -> float:
    """Learning rate decayed linearly from config.lr to config.min_lr over training."""
    return max(config.lr * (1 - done / max(total, 1)), config.min_lr)


def check_ids(
    ids: np.ndarray, vocabulary: Vocabulary, config: CBOWConfig
) -> np.ndarray:
    """Check the ids can train and return them as int64."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        raise ValueError(
            f"Need at least 2 tokens in the vocabulary to train, got {len(ids)}."
        )
    if ids.min() < 0 or ids.max() >= len(vocabulary):
        raise ValueError(
            "ids must be vocabulary indices (use vocabulary.encode(tokens))."
        )
    return ids


@dataclass
class Epoch:
    """One epoch's subsampled text and random draws, prepared in bulk with numpy."""

    padded: torch.Tensor  # kept ids with `window` zeros on each side
    contexts: torch.Tensor  # (n, 2*window) context word ids (0 where masked out)
    mask: torch.Tensor  # (n, 2*window) 1.0 where the context word counts
    weights: (
        torch.Tensor
    )  # (n, 2*window) mask / number of context words: the mean's weights
    scored_ids: torch.Tensor  # (n, 1 + negative): the centre word, then noise words
    not_target: (
        torch.Tensor
    )  # (n, 1 + negative) 0.0 where a noise word is the centre word

    @property
    def size(self) -> int:
        """Number of centre words in the epoch."""
        return len(self.mask)


def draw_epoch(
    ids: np.ndarray,
    keep: np.ndarray,
    noise: np.ndarray,
    config: CBOWConfig,
    rng: np.random.Generator,
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


@contextmanager
def word_progress(total: int, description: str, enabled: bool = True) -> Iterator[tqdm]:
    """A progress bar of training words, closed and flushed before the caller prints.

    Set `bar.total` to the exact count once it is known, so the bar ends full at 100%.
    """
    bar = tqdm(
        total=total,
        unit="word",
        unit_scale=True,
        disable=not enabled,
        desc=description,
        file=sys.stderr,
    )
    try:
        yield bar
    finally:
        bar.close()
        sys.stderr.flush()


# From notebooks/02_word2vec_cbow.ipynb: edit it there, then `make lesson-code`.
def cbow_step(model, optimizer, epoch: Epoch, batch: torch.Tensor, lr: float) -> float:
    """One SGD step on the centre words `batch` of an epoch; return their total loss."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    losses = model(
        epoch.contexts[batch],  # context word ids
        epoch.mask[batch],  # 1 where a context word counts
        epoch.scored_ids[batch, 0],  # the centre words
        epoch.scored_ids[batch, 1:],  # K noise words each
        epoch.not_target[batch, 1:],  # 0 where a noise word is the centre word
    )
    total = losses.sum()  # the sum, not the mean: each example gets the whole lr
    optimizer.zero_grad()
    total.backward()
    optimizer.step()
    return total.item()


def train_cbow_autograd(
    ids: np.ndarray,
    vocabulary: Vocabulary,
    config: CBOWConfig = CBOWConfig(),
    progress: bool = True,
    true_gradient: bool = False,
) -> CBOWResult:
    """The readable trainer: autograd and sparse SGD, one `cbow_step` per batch.

    Each epoch is subsampled and shuffled, then cut into batches of `config.batch_size`
    centre words; the learning rate decays linearly. `true_gradient=True` gives every
    context word 1/count of the error (the true gradient of the mean) instead of
    word2vec.c's whole error. Stops with `TrainingDivergedError` if the loss or the
    vectors stop being finite.
    """
    ids = check_ids(ids, vocabulary, config)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = CBOWNegativeSampling(len(vocabulary), config.dim, true_gradient)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    keep = keep_probabilities(vocabulary.counts, config.sample)
    noise = noise_distribution(vocabulary.counts)
    per_epoch = float(keep[ids].sum())  # expected words per epoch, as word2vec.c plans
    expected_total = int(per_epoch * config.epochs)
    losses, done, start = [], 0, time.perf_counter()
    weights = (model.input_embeddings.weight, model.output_embeddings.weight)
    with word_progress(expected_total, "CBOW (readable)", progress) as bar:
        for epoch_index in range(config.epochs):
            epoch = draw_epoch(ids, keep, noise, config, rng)
            epochs_left = config.epochs - epoch_index - 1
            bar.total = done + epoch.size + round(per_epoch * epochs_left)
            bar.refresh()
            order = torch.from_numpy(rng.permutation(epoch.size))
            epoch_loss = 0.0
            for batch in order.split(config.batch_size):
                lr = linear_lr(config, done, expected_total)
                batch_loss = cbow_step(model, optimizer, epoch, batch, lr)
                check_finite(batch_loss, config)
                epoch_loss += batch_loss
                done += len(batch)
                bar.update(len(batch))
            check_finite(epoch_loss, config, *weights)
            losses.append(epoch_loss / epoch.size)
    return CBOWResult(
        vocabulary,
        model.input_embeddings.weight.detach().numpy().copy(),
        model.output_embeddings.weight.detach().numpy().copy(),
        losses,
        done,
        time.perf_counter() - start,
    )
