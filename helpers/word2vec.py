"""word2vec CBOW from scratch in PyTorch, with negative sampling (notebook 02).

Two trainers learn the same model:

- `train_cbow_autograd`: the readable one. An `nn.Module` computes the loss, autograd the
  gradients, `torch.optim.SGD` the update.
- `train_cbow`: the fast one. The same model with the update written out by hand, as
  word2vec.c and gensim do it, over contiguous stretches of text.

Both follow word2vec.c: frequent words are subsampled, the context window shrinks at random
to 1..window words on each side, negatives come from the unigram distribution raised to
0.75, and the learning rate decays linearly to nearly zero.
"""

from __future__ import annotations

import functools
import gzip
import multiprocessing
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gensim.models import KeyedVectors, Word2Vec
from torch import nn
from tqdm import tqdm


@dataclass(frozen=True)
class Vocabulary:
    """Words kept for training, most frequent first, with their corpus counts."""

    words: list[str]
    counts: np.ndarray
    index: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        """Number of words in the vocabulary."""
        return len(self.words)

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Map tokens to ids, dropping tokens that are not in the vocabulary."""
        index = self.index
        return np.array([index[t] for t in tokens if t in index], dtype=np.int64)


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


def build_vocabulary(tokens: Sequence[str], min_count: int = 5) -> Vocabulary:
    """Count tokens and keep those seen at least `min_count` times, most frequent first."""
    if len(tokens) == 0:
        raise ValueError("The corpus is empty: there are no tokens to build a vocabulary from.")
    counted = Counter(tokens)
    kept = sorted(
        ((word, count) for word, count in counted.items() if count >= min_count),
        key=lambda pair: (-pair[1], pair[0]),
    )
    if len(kept) < 2:
        raise ValueError(
            f"min_count={min_count} leaves {len(kept)} word(s) of {len(counted)} distinct ones; "
            "training needs at least 2. Lower min_count or use a larger corpus."
        )
    words = [word for word, _ in kept]
    counts = np.array([count for _, count in kept], dtype=np.int64)
    return Vocabulary(words, counts, {word: i for i, word in enumerate(words)})


def keep_probabilities(counts: np.ndarray, sample: float = 1e-3) -> np.ndarray:
    """word2vec.c's chance of keeping each occurrence of a word: (sqrt(f/t) + 1) * t/f, capped at 1."""
    if sample <= 0:
        return np.ones(len(counts))
    threshold = sample * counts.sum()
    return np.minimum((np.sqrt(counts / threshold) + 1) * threshold / counts, 1.0)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """The negative-sampling distribution: unigram counts raised to `power`, normalised."""
    weights = counts.astype(np.float64) ** power
    return weights / weights.sum()


def sample_window_sizes(n: int, window: int, rng: np.random.Generator) -> np.ndarray:
    """Draw each position's effective window, uniform in 1..window as word2vec.c does."""
    return rng.integers(1, window + 1, size=n)


def context_offsets(window: int) -> np.ndarray:
    """Offsets of the context words around a centre: -window..-1, 1..window."""
    return np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])


def context_mask(window_sizes: np.ndarray, window: int) -> np.ndarray:
    """(n, 2*window) booleans: is the word at each offset inside the window and the text?"""
    n = len(window_sizes)
    offsets = context_offsets(window)
    positions = np.arange(n)[:, None] + offsets[None, :]
    inside_text = (positions >= 0) & (positions < n)
    return inside_text & (np.abs(offsets)[None, :] <= window_sizes[:, None])


def cbow_examples(
    ids: np.ndarray, window: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (contexts, mask, targets): each position's 2*window context ids and which are real."""
    ids = np.asarray(ids, dtype=np.int64)
    mask = context_mask(sample_window_sizes(len(ids), window, rng), window)
    positions = np.arange(len(ids))[:, None] + context_offsets(window)[None, :]
    contexts = np.where(mask, ids[np.clip(positions, 0, len(ids) - 1)], 0)
    return contexts, mask, ids


def sample_negatives(
    noise: np.ndarray, shape: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Draw word ids from the noise distribution (inverse-CDF sampling)."""
    cdf = np.cumsum(noise)
    return np.minimum(np.searchsorted(cdf, rng.random(shape) * cdf[-1]), len(noise) - 1)


class CBOWNegativeSampling(nn.Module):
    """CBOW: the mean of the context's input vectors scores the centre word against noise words."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        """Create input vectors (small random, as word2vec.c) and output vectors (zeros)."""
        super().__init__()
        self.input_embeddings = nn.Embedding(vocab_size, dim, sparse=True)
        self.output_embeddings = nn.Embedding(vocab_size, dim, sparse=True)
        nn.init.uniform_(self.input_embeddings.weight, -0.5 / dim, 0.5 / dim)
        nn.init.zeros_(self.output_embeddings.weight)

    def forward(
        self, contexts: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor
    ) -> torch.Tensor:
        """Return each example's negative-sampling loss (sum them to train, as word2vec does)."""
        mask = mask.to(self.input_embeddings.weight.dtype)
        summed = (self.input_embeddings(contexts) * mask[..., None]).sum(dim=1)
        mean = summed / mask.sum(dim=1, keepdim=True).clamp(min=1)
        # Forward: the mean. Backward: word2vec.c's rule, the undivided error for every
        # context word (the true gradient of a mean is 1/count of it and learns far slower).
        hidden = summed + (mean - summed).detach()
        positive = (self.output_embeddings(targets) * hidden).sum(dim=-1)
        negative = torch.einsum("bkd,bd->bk", self.output_embeddings(negatives), hidden)
        return -nn.functional.logsigmoid(positive) - nn.functional.logsigmoid(-negative).sum(dim=1)


class FullSoftmaxCBOW(nn.Module):
    """The textbook CBOW: mean of context vectors, then a softmax over the whole vocabulary."""

    def __init__(self, vocab_size: int, dim: int) -> None:
        """An embedding layer and a linear layer with one output per vocabulary word."""
        super().__init__()
        self.embeddings = nn.Embedding(vocab_size, dim)
        self.output = nn.Linear(dim, vocab_size)

    def forward(self, contexts: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Return logits over the vocabulary for each example."""
        mask = mask.to(self.embeddings.weight.dtype)
        summed = (self.embeddings(contexts) * mask[..., None]).sum(dim=1)
        return self.output(summed / mask.sum(dim=1, keepdim=True).clamp(min=1))


def _linear_lr(config: CBOWConfig, done: int, total: int) -> float:
    """Learning rate decayed linearly from config.lr to config.min_lr over training."""
    return max(config.lr * (1 - done / max(total, 1)), config.min_lr)


def _prepare(ids: np.ndarray, vocabulary: Vocabulary, config: CBOWConfig) -> np.ndarray:
    """Check the ids can train and return them as int64."""
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) < 2:
        raise ValueError(f"Need at least 2 tokens in the vocabulary to train, got {len(ids)}.")
    if ids.min() < 0 or ids.max() >= len(vocabulary):
        raise ValueError("ids must be vocabulary indices (use vocabulary.encode(tokens)).")
    return ids


def train_cbow_autograd(
    ids: np.ndarray, vocabulary: Vocabulary, config: CBOWConfig = CBOWConfig(), progress: bool = True
) -> CBOWResult:
    """Train CBOW with autograd and sparse SGD: the readable trainer."""
    ids = _prepare(ids, vocabulary, config)
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
        epoch = _draw_epoch(ids, keep, noise, config, rng)
        order = rng.permutation(epoch.size)
        for batch in np.array_split(order, max(1, len(order) // config.batch_size)):
            for group in optimizer.param_groups:
                group["lr"] = _linear_lr(config, done, expected_total)
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


def train_cbow(
    ids: np.ndarray,
    vocabulary: Vocabulary,
    config: CBOWConfig = CBOWConfig(),
    progress: bool = True,
    workers: int = 1,
) -> CBOWResult:
    """Train CBOW with hand-written word2vec.c updates: the fast trainer.

    Each batch is a contiguous stretch of the (subsampled) text. The mean of each context
    is one fused `embedding_bag`; as in word2vec.c, the error of that mean is added,
    undivided, to every context word. With `workers` > 1, worker processes train on
    separate parts of the text and update the shared vectors without locks ("Hogwild"), as
    word2vec.c's and gensim's threads do; results then vary slightly from run to run.
    With one worker, training is deterministic for a fixed seed.
    """
    ids = _prepare(ids, vocabulary, config)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}.")
    if len(ids) < workers * 2 * config.window:
        raise ValueError(f"The text ({len(ids)} words) is too short to split among {workers} workers.")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per worker; PyTorch's own threads only add overhead here
    try:
        return _train_cbow_fast(ids, vocabulary, config, progress, workers)
    finally:
        torch.set_num_threads(previous_threads)


@dataclass
class _Epoch:
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


def _draw_epoch(
    ids: np.ndarray, keep: np.ndarray, noise: np.ndarray, config: CBOWConfig, rng: np.random.Generator
) -> _Epoch:
    """Subsample the text, draw window sizes and negatives for one epoch."""
    kept = ids[rng.random(len(ids)) < keep[ids]]
    contexts, mask, _ = cbow_examples(kept, config.window, rng)
    scored = np.empty((len(kept), 1 + config.negative), dtype=np.int64)
    scored[:, 0] = kept
    scored[:, 1:] = sample_negatives(noise, (len(kept), config.negative), rng)
    # word2vec.c skips a noise word that happens to be the target itself
    not_target = (scored != kept[:, None]) | (np.arange(1 + config.negative) == 0)
    mask = mask.astype(np.float32)
    return _Epoch(
        padded=torch.from_numpy(np.pad(kept, config.window)),
        contexts=torch.from_numpy(contexts),
        mask=torch.from_numpy(mask),
        weights=torch.from_numpy(mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)),
        scored_ids=torch.from_numpy(scored),
        not_target=torch.from_numpy(not_target.astype(np.float32)),
    )


@functools.lru_cache(maxsize=8)
def _reverse_contexts(size: int, window: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of size + 2*window rows of a stretch: which centres (and columns) see it."""
    offsets = torch.from_numpy(context_offsets(window))
    centres = torch.arange(size + 2 * window)[:, None] - window - offsets[None, :]
    inside = (centres >= 0) & (centres < size)
    centres = centres.clamp(0, size - 1)
    columns = torch.arange(2 * window).expand_as(centres)
    return centres, centres * (2 * window) + columns, inside


def _train_batch(
    epoch: _Epoch,
    begin: int,
    end: int,
    input_vectors: torch.Tensor,
    output_vectors: torch.Tensor,
    lr: float,
    window: int,
) -> float:
    """Update the vectors in place for centre words begin..end; return the summed loss.

    The mean of each context is one fused `embedding_bag`. The update runs it backwards:
    each row of the batch's stretch of text gathers the errors of the centres that saw it.
    """
    size, dim = end - begin, input_vectors.shape[1]
    hidden = nn.functional.embedding_bag(
        epoch.contexts[begin:end], input_vectors, mode="sum", per_sample_weights=epoch.weights[begin:end]
    )

    batch_ids = epoch.scored_ids[begin:end].reshape(-1)
    targets = output_vectors.index_select(0, batch_ids).view(size, -1, dim)
    scores = torch.linalg.vecdot(targets, hidden[:, None, :])  # (size, 1 + negative)
    not_target = epoch.not_target[begin:end]
    labels = torch.zeros(scores.shape[1])
    labels[0] = 1.0
    gradient = (labels - torch.sigmoid(scores)) * not_target * lr
    loss = -(
        nn.functional.logsigmoid(scores[:, 0]).sum()
        + (nn.functional.logsigmoid(-scores[:, 1:]) * not_target[:, 1:]).sum()
    )

    hidden_error = (gradient[:, None, :] @ targets).squeeze(1)  # (size, dim)
    output_vectors.index_add_(0, batch_ids, (gradient[:, :, None] * hidden[:, None, :]).view(-1, dim))
    # word2vec.c: every context word gets the whole error of the mean, not 1/count of it
    centres, flat_positions, inside = _reverse_contexts(size, window)
    seen = epoch.mask[begin:end].reshape(-1)[flat_positions] * inside
    row_updates = nn.functional.embedding_bag(centres, hidden_error, mode="sum", per_sample_weights=seen)
    input_vectors.index_add_(0, epoch.padded[begin : end + 2 * window], row_updates)
    return float(loss)


def _train_cbow_fast(
    ids: np.ndarray, vocabulary: Vocabulary, config: CBOWConfig, progress: bool, workers: int
) -> CBOWResult:
    """The body of `train_cbow`: start the workers, follow their progress, collect losses."""
    torch.manual_seed(config.seed)
    input_vectors = (torch.rand(len(vocabulary), config.dim) - 0.5) / config.dim
    output_vectors = torch.zeros(len(vocabulary), config.dim)
    keep = keep_probabilities(vocabulary.counts, config.sample)
    expected_total = int(keep[ids].sum() * config.epochs)
    shared = _SharedProgress(
        done=multiprocessing.Value("q", 0), epoch_sums=multiprocessing.Array("d", 2 * config.epochs)
    )
    parts = np.array_split(ids, workers)
    bar = tqdm(total=expected_total, unit="word", unit_scale=True, disable=not progress, desc="CBOW (fast)")
    start = time.perf_counter()
    if workers == 1:
        _train_part(parts[0], np.random.default_rng(config.seed), input_vectors, output_vectors,
                    vocabulary.counts, config, expected_total, shared, bar)
    else:
        input_vectors.share_memory_()
        output_vectors.share_memory_()
        context = multiprocessing.get_context("fork")
        processes = [
            context.Process(
                target=_train_part,
                args=(part, np.random.default_rng([config.seed, k]), input_vectors, output_vectors,
                      vocabulary.counts, config, expected_total, shared, None),
                daemon=True,
            )
            for k, part in enumerate(parts)
        ]
        for process in processes:
            process.start()
        while any(process.is_alive() for process in processes):
            bar.update(shared.done.value - bar.n)
            time.sleep(0.05)
        bar.update(shared.done.value - bar.n)
        failed = [process.exitcode for process in processes if process.exitcode != 0]
        if failed:
            raise RuntimeError(f"{len(failed)} training worker(s) failed (exit codes {failed}); try workers=1.")
    seconds = time.perf_counter() - start
    bar.close()
    sums = np.array(shared.epoch_sums[:]).reshape(config.epochs, 2)
    return CBOWResult(
        vocabulary,
        input_vectors.numpy().copy(),
        output_vectors.numpy().copy(),
        list(sums[:, 0] / np.maximum(sums[:, 1], 1)),
        int(shared.done.value),
        seconds,
    )


@dataclass
class _SharedProgress:
    """Counters shared by the workers: words done, and per epoch the loss sum and word count."""

    done: Any
    epoch_sums: Any


def _train_part(
    ids: np.ndarray,
    rng: np.random.Generator,
    input_vectors: torch.Tensor,
    output_vectors: torch.Tensor,
    counts: np.ndarray,
    config: CBOWConfig,
    expected_total: int,
    shared: _SharedProgress,
    bar: tqdm | None,
) -> None:
    """One worker: train all epochs on its part of the text, updating the shared vectors."""
    torch.set_num_threads(1)
    keep = keep_probabilities(counts, config.sample)
    noise = noise_distribution(counts)
    for epoch_index in range(config.epochs):
        epoch = _draw_epoch(ids, keep, noise, config, rng)
        epoch_loss = 0.0
        for begin in range(0, epoch.size, config.batch_size):
            end = min(begin + config.batch_size, epoch.size)
            lr = _linear_lr(config, shared.done.value, expected_total)
            epoch_loss += _train_batch(epoch, begin, end, input_vectors, output_vectors, lr, config.window)
            with shared.done.get_lock():
                shared.done.value += end - begin
            if bar is not None:
                bar.update(end - begin)
        with shared.epoch_sums.get_lock():
            shared.epoch_sums[2 * epoch_index] += epoch_loss
            shared.epoch_sums[2 * epoch_index + 1] += epoch.size


def to_keyed_vectors(vectors: np.ndarray, words: Sequence[str]) -> KeyedVectors:
    """Wrap a (words x dim) matrix as gensim KeyedVectors, for gensim's tools and file formats."""
    if len(vectors) != len(words):
        raise ValueError(f"{len(vectors)} vectors but {len(words)} words.")
    keyed = KeyedVectors(vector_size=vectors.shape[1])
    keyed.add_vectors(list(words), np.asarray(vectors, dtype=np.float32))
    return keyed


def save_word2vec(vectors: np.ndarray, words: Sequence[str], path: str | Path, binary: bool = False) -> Path:
    """Save vectors in the word2vec text (or binary) format, atomically: no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    to_keyed_vectors(vectors, words).save_word2vec_format(str(partial), binary=binary)
    partial.replace(path)
    return path


def load_word2vec(path: str | Path, binary: bool = False, limit: int | None = None) -> KeyedVectors:
    """Load a word2vec-format file (optionally .gz, first `limit` words), explaining bad files."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No word2vec file at {path}: train and save vectors first (notebook 02).")
    if binary and _looks_like_text_format(path):
        raise ValueError(f"{path} is a word2vec text file, not binary: load it with binary=False.")
    try:
        keyed = KeyedVectors.load_word2vec_format(str(path), binary=binary, limit=limit)
    except (ValueError, EOFError, UnicodeDecodeError, IndexError, OSError) as error:
        kind = "binary" if binary else "text"
        raise ValueError(
            f"{path} is not a complete word2vec {kind} file ({type(error).__name__}: {error}). "
            f"It may be truncated, or in the other format (try binary={not binary}); "
            "save or download it again."
        ) from error
    return keyed


def _looks_like_text_format(path: Path) -> bool:
    """True when the line after the header is a word followed by `dim` decimal numbers."""
    with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as handle:
        header = handle.readline().split()
        line = handle.readline(1 << 16)
    try:
        fields = line.decode("utf-8").split()
        dim = int(header[1])
        [float(value) for value in fields[1:]]
    except (UnicodeDecodeError, ValueError, IndexError):
        return False
    return len(fields) == dim + 1


def train_gensim_cbow(sentences: Sequence[Sequence[str]], config: CBOWConfig, workers: int = 1) -> tuple[Word2Vec, int, float]:
    """Train gensim's CBOW with the same settings; return the model, effective words and seconds."""
    model = Word2Vec(
        vector_size=config.dim, window=config.window, negative=config.negative, min_count=config.min_count,
        sample=config.sample, alpha=config.lr, min_alpha=config.min_lr, sg=0, cbow_mean=1, hs=0,
        seed=config.seed, workers=workers,
    )
    model.build_vocab(sentences)
    start = time.perf_counter()
    effective_words, _ = model.train(sentences, total_examples=model.corpus_count, epochs=config.epochs)
    return model, effective_words, time.perf_counter() - start


def as_sentences(tokens: Sequence[str], length: int = 10_000) -> list[list[str]]:
    """Cut a token stream into gensim 'sentences' of at most `length` tokens (gensim's limit)."""
    return [list(tokens[i : i + length]) for i in range(0, len(tokens), length)]
