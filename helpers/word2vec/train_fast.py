"""The fast CBOW trainer: word2vec.c's update written out by hand, on 1+ processes (notebook 02).

Each batch is a contiguous stretch of the (subsampled) text. The mean of each context is
one fused `embedding_bag`; as in word2vec.c, the error of that mean is added, undivided,
to every context word.
"""

from __future__ import annotations

import functools
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from helpers.word2vec.sampling import Vocabulary, context_offsets, keep_probabilities, noise_distribution
from helpers.word2vec.train import CBOWConfig, CBOWResult, Epoch, check_ids, draw_epoch, linear_lr


@dataclass
class _SharedProgress:
    """Counters shared by the workers: words done, and per epoch the loss sum and word count."""

    done: Any
    epoch_sums: Any


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
    ids = check_ids(ids, vocabulary, config)
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
    epoch: Epoch,
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
        epoch = draw_epoch(ids, keep, noise, config, rng)
        epoch_loss = 0.0
        for begin in range(0, epoch.size, config.batch_size):
            end = min(begin + config.batch_size, epoch.size)
            lr = linear_lr(config, shared.done.value, expected_total)
            epoch_loss += _train_batch(epoch, begin, end, input_vectors, output_vectors, lr, config.window)
            with shared.done.get_lock():
                shared.done.value += end - begin
            if bar is not None:
                bar.update(end - begin)
        with shared.epoch_sums.get_lock():
            shared.epoch_sums[2 * epoch_index] += epoch_loss
            shared.epoch_sums[2 * epoch_index + 1] += epoch.size
