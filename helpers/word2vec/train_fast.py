"""The fast CBOW trainer: the readable trainer's update, written out by hand (02).

Notebook 02 explains the update with the readable trainer (`cbow_step`); this module is
its fast plumbing. It is the same algorithm, word2vec.c's: frequent words subsampled,
dynamic windows, noise words from the unigram distribution raised to 0.75 (a noise word
equal to the centre word is skipped), the undivided error of the context mean added to
every context word, one SGD step per batch, the learning rate decaying linearly. What
makes it fast:

- a batch is a contiguous stretch of the subsampled text, so each row of the stretch
  gathers the errors of the centres that saw it and is updated once;
- sums of rows are fused `embedding_bag` calls, and no autograd graph is built;
- the scores are only the dot products needed of hidden @ output_vectors.T (a sampled
  product, `sampled_addmm`), read in place; the output vectors move by one sparse
  (vocabulary x batch) gradient matrix times the hidden vectors, added in place: no
  (batch x scored words x dim) copy is ever made;
- noise words come from an alias table: exact, two array lookups per draw;
- with `workers` > 1, forked worker processes train on separate parts of the text and
  update the shared vectors without locks ("Hogwild"), as word2vec.c's threads do.

Worker processes need the "fork" start method (Linux). Where it is missing or unsafe
(Windows, macOS), `train_cbow` says so and trains with one worker.
"""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.lib.stride_tricks import sliding_window_view
from torch import nn
from tqdm import tqdm

from helpers.word2vec.sampling import (
    Vocabulary,
    context_offsets,
    keep_probabilities,
    noise_distribution,
    sample_window_sizes,
)
from helpers.word2vec.train import (
    CBOWConfig,
    CBOWResult,
    Epoch,
    TrainingDivergedError,
    check_finite,
    check_ids,
    linear_lr,
    word_progress,
)

def train_cbow(
    ids: np.ndarray,
    vocabulary: Vocabulary,
    config: CBOWConfig = CBOWConfig(),
    progress: bool = True,
    workers: int = 1,
) -> CBOWResult:
    """Train CBOW with hand-written word2vec.c updates: the fast trainer.

    With one worker, training is deterministic for a fixed seed. With `workers` > 1,
    forked processes share the vectors without locks, so results vary slightly from run
    to run; where fork is unavailable, one worker trains, with a warning. Stops with
    `TrainingDivergedError` when the loss or the vectors stop being finite (the learning
    rate is too large). Interrupting (Ctrl-C, SIGTERM) stops the worker processes.
    """
    ids = check_ids(ids, vocabulary, config)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(
            f"workers must be a whole number of at least 1, got {workers!r}."
        )
    if workers > 1 and _fork_context() is None:
        warnings.warn(
            f"train_cbow: worker processes need the 'fork' start method, which "
            f"{sys.platform} lacks or cannot use safely; training with 1 worker "
            f"instead of {workers}.",
            RuntimeWarning,
            stacklevel=2,
        )
        workers = 1
    if len(ids) < workers * 2 * config.window:
        raise ValueError(
            f"The text ({len(ids)} words) is too short to split among {workers} "
            f"workers: use fewer workers."
        )
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread per worker: PyTorch's threads only slow it
    try:
        return _train_cbow_fast(ids, vocabulary, config, progress, workers)
    finally:
        torch.set_num_threads(previous_threads)


# ------------------------------------------------------------------------------------
# One epoch's draws


def alias_table(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's method): draw word i with probability p[i] exactly.

    Pick a column k uniformly, then keep k with chance `keep[k]`, else take `alias[k]`.
    """
    size = len(probabilities)
    scaled = np.asarray(probabilities, dtype=np.float64) * size / np.sum(probabilities)
    keep, alias = np.ones(size), np.arange(size)
    small = [i for i in range(size) if scaled[i] < 1.0]
    large = [i for i in range(size) if scaled[i] >= 1.0]
    while small and large:
        low, high = small.pop(), large.pop()
        keep[low], alias[low] = scaled[low], high
        scaled[high] -= 1.0 - scaled[low]
        (small if scaled[high] < 1.0 else large).append(high)
    return keep, alias  # leftovers (rounding) keep themselves with chance 1


def draw_noise(
    table: tuple[np.ndarray, np.ndarray],
    shape: tuple[int, ...],
    rng: np.random.Generator,
) -> np.ndarray:
    """Draw noise word ids from an alias table: one uniform number per draw."""
    keep, alias = table
    position = rng.random(shape)
    position *= len(keep)
    column = position.astype(np.int64)
    np.minimum(column, len(keep) - 1, out=column)
    position -= column  # in place: the same numbers as position - column
    return np.where(position < keep.take(column), column, alias.take(column))


def epoch_rng(seed: int, worker: int, epoch: int) -> np.random.Generator:
    """The generator of one worker's epoch; its first draw decides the subsampling."""
    return np.random.default_rng([seed, worker, epoch])


def subsample(
    ids: np.ndarray, keep: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Keep each occurrence of word w with chance keep[w] (word2vec.c's subsampling)."""
    return ids[rng.random(len(ids)) < keep[ids]]


def draw_fast_epoch(
    ids: np.ndarray,
    keep: np.ndarray,
    table: tuple[np.ndarray, np.ndarray],
    config: CBOWConfig,
    rng: np.random.Generator,
) -> tuple[Epoch, torch.Tensor]:
    """One epoch's draws, as `train.draw_epoch` makes them, and the reverse mask.

    The reverse mask has one row per row of the padded text: 1 in column j where that
    word is context word j of centre p - window - offset[j] (so `_train_batch` can send
    each centre's error back to its context words without a scatter per context word).
    """
    window, width = config.window, 2 * config.window
    kept = subsample(ids, keep, rng)
    n = len(kept)
    sizes = sample_window_sizes(n, window, rng).astype(np.int8)
    offsets = context_offsets(window)
    reach = np.abs(offsets).astype(np.int8)
    # mask[c, j]: context word j of centre c is inside c's window and inside the text
    mask = reach <= sizes[:, None]
    edge = min(window, n)
    mask[:edge] &= np.arange(edge)[:, None] + offsets >= 0
    mask[n - edge :] &= np.arange(n - edge, n)[:, None] + offsets < n
    padded = np.pad(kept, window)
    # the 2*window words around each centre: slices of a sliding view, no fancy index
    windows = sliding_window_view(padded, width + 1)
    contexts = np.concatenate([windows[:, :window], windows[:, window + 1 :]], axis=1)
    contexts *= mask
    counts = 2 * sizes.astype(np.float32)
    counts[:edge] = mask[:edge].sum(axis=1)
    counts[n - edge :] = mask[n - edge :].sum(axis=1)
    weights = mask / np.maximum(counts, 1)[:, None]
    # reverse[p, j] = mask[p - window - offset[j], j], from the centres' window sizes
    padded_sizes = np.pad(sizes, width)  # 0 beyond the text: no centre there
    reverse = reach <= sliding_window_view(padded_sizes, width + 1)[:, window - offsets]
    reverse[:window] = reverse[n + window :] = False  # padding rows are no context word
    scored = np.empty((n, 1 + config.negative), dtype=np.int64)
    scored[:, 0] = kept
    scored[:, 1:] = draw_noise(table, (n, config.negative), rng)
    not_target = scored != kept[:, None]
    not_target[:, 0] = True  # word2vec.c skips a noise word equal to the centre word
    epoch = Epoch(
        padded=torch.from_numpy(padded),
        contexts=torch.from_numpy(contexts),
        mask=torch.from_numpy(mask.astype(np.float32)),
        weights=torch.from_numpy(weights.astype(np.float32, copy=False)),
        scored_ids=torch.from_numpy(scored),
        not_target=torch.from_numpy(not_target.astype(np.float32)),
    )
    return epoch, torch.from_numpy(reverse.astype(np.float32))


# ------------------------------------------------------------------------------------
# One step


@functools.lru_cache(maxsize=16)
def _bag_offsets(bags: int, width: int) -> torch.Tensor:
    """Offsets of `bags` bags of `width` rows each, then one empty bag (a zero row)."""
    offsets = torch.arange(0, bags * width + 1, width)
    return torch.cat([offsets, offsets[-1:]])


@functools.lru_cache(maxsize=16)
def _reverse_contexts(size: int, window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of the size + 2*window rows of a stretch: the centres that see it.

    Returns (centres, positions): centre ids, `size` (a zero row) for a centre outside
    the batch, and the flat positions in the batch's (size, 2*window) mask to read.
    """
    offsets = torch.from_numpy(context_offsets(window))
    centres = torch.arange(size + 2 * window)[:, None] - window - offsets[None, :]
    inside = (centres >= 0) & (centres < size)
    positions = centres.clamp(0, size - 1) * (2 * window) + torch.arange(2 * window)
    return torch.where(inside, centres, size).reshape(-1), positions.reshape(-1)


@functools.lru_cache(maxsize=16)
def _scored_layout(size: int, per_centre: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row starts of a (size, per_centre) CSR pattern, and each entry's centre (row)."""
    rows = torch.arange(0, size * per_centre + 1, per_centre)
    with warnings.catch_warnings():  # PyTorch warns once that sparse CSR is in beta
        warnings.simplefilter("ignore", UserWarning)
        torch.sparse_csr_tensor(rows, torch.zeros(len(rows) - 1, dtype=torch.int64),
                                torch.zeros(len(rows) - 1), (size, 1))
    return rows, torch.arange(size).repeat_interleave(per_centre)


@functools.lru_cache(maxsize=16)
def _zeros(size: int) -> torch.Tensor:
    """A read-only vector of zeros (the values of a sparsity pattern)."""
    return torch.zeros(size)


@functools.lru_cache(maxsize=8)
def _labels(scored: int) -> torch.Tensor:
    """Labels 1, 0, 0...: the centre word, then noise words.

    A score s costs -log sigmoid(s) for the centre, -log sigmoid(-s) for a noise word:
    the logistic loss of s against its label.
    """
    labels = torch.zeros(scored)
    labels[0] = 1.0
    return labels


def _bag_sum(
    table: torch.Tensor, rows: torch.Tensor, width: int, weights: torch.Tensor
) -> torch.Tensor:
    """Weighted sums of bags of `width` consecutive `rows` of `table`, one fused call.

    A zero row follows the sums (an empty bag at the end).
    """
    return nn.functional.embedding_bag(
        rows,
        table,
        _bag_offsets(len(rows) // width, width),
        mode="sum",
        per_sample_weights=weights,
        include_last_offset=True,
    )


def _train_batch(
    epoch: Epoch,
    begin: int,
    end: int,
    input_vectors: torch.Tensor,
    output_vectors: torch.Tensor,
    lr: float,
    window: int,
    reverse: torch.Tensor | None = None,
) -> float:
    """One SGD step on centre words begin..end of an epoch, in place; the summed loss.

    Every score and error comes from the vectors as they were before the step, as in
    one step of the readable trainer. `reverse` is `draw_fast_epoch`'s reverse mask
    (without it, the same numbers are gathered from `epoch.mask`).
    """
    size, width = end - begin, 2 * window
    scored = epoch.scored_ids[begin:end]  # (size, 1 + negative): centre, noise words
    per_centre = scored.shape[1]
    flat_scored = scored.reshape(-1)
    # h: the mean of each context's input vectors (plus a zero row, unused here)
    contexts = epoch.contexts[begin:end].reshape(-1)
    weights = epoch.weights[begin:end].reshape(-1)
    hidden = _bag_sum(input_vectors, contexts, width, weights)[:size]
    # scores v'_w . h of the centre word and of each noise word: only these dot
    # products of hidden @ output_vectors.T, read in place (no gathered copy)
    rows, centre_of = _scored_layout(size, per_centre)
    pattern = torch.sparse_csr_tensor(
        rows, flat_scored, _zeros(size * per_centre), (size, len(output_vectors)),
        check_invariants=False,
    )
    scores = torch.sparse.sampled_addmm(
        pattern, hidden, output_vectors.t(), beta=0.0
    ).values().view(size, per_centre)
    labels = _labels(per_centre)
    not_target = epoch.not_target[begin:end]  # 0: a noise word equal to the centre
    # -log sigmoid(s) for the centre word, -log sigmoid(-s) for a noise word, summed
    loss = nn.functional.binary_cross_entropy_with_logits(
        scores, labels.expand(size, per_centre), weight=not_target, reduction="sum"
    )
    gradient = torch.sigmoid(scores).sub_(labels).mul_(not_target).mul_(-lr)
    flat_gradient = gradient.reshape(-1)
    # the error of h (plus a zero row), from the output vectors before they move
    hidden_error = _bag_sum(output_vectors, flat_scored, per_centre, flat_gradient)
    # each scored word's output vector moves along h: output += G^T h, with G the
    # (vocabulary x size) sparse matrix of the gradients, one row update per score
    steps = torch.sparse_coo_tensor(
        torch.stack([flat_scored, centre_of]), flat_gradient,
        (len(output_vectors), size), check_invariants=False,
    )
    output_vectors.addmm_(steps, hidden)
    # word2vec.c: every context word gets the whole error of h, not 1/count of it;
    # each row of the stretch gathers the errors of the centres that saw it
    centres, positions = _reverse_contexts(size, window)
    if reverse is None:
        seen = epoch.mask[begin:end].reshape(-1)[positions]
    else:
        seen = reverse[begin : end + width].reshape(-1)
    row_errors = _bag_sum(hidden_error, centres, width, seen)[:-1]
    input_vectors.index_add_(0, epoch.padded[begin : end + width], row_errors)
    return float(loss)


# ------------------------------------------------------------------------------------
# Workers


@dataclass
class _Job:
    """What every worker shares: the settings, the draws' tables and the counters.

    The counters live in shared memory without locks: each worker writes only its own
    slots, so a killed worker can never leave a lock held.
    """

    config: CBOWConfig
    keep: np.ndarray  # each word's chance of being kept by subsampling
    noise: np.ndarray  # the noise distribution
    total: int  # training words in all epochs, exactly
    done: Any  # words trained so far, per worker
    epoch_sums: Any  # per worker and epoch: the loss sum and the word count


def _fork_context() -> multiprocessing.context.BaseContext | None:
    """The 'fork' multiprocessing context, or None where fork is missing or unsafe."""
    # macOS has fork, but forking a process that has started torch there is unsafe
    methods = multiprocessing.get_all_start_methods()
    if sys.platform == "darwin" or "fork" not in methods:
        return None
    return multiprocessing.get_context("fork")


def _train_cbow_fast(
    ids: np.ndarray,
    vocabulary: Vocabulary,
    config: CBOWConfig,
    progress: bool,
    workers: int,
) -> CBOWResult:
    """The body of `train_cbow`: exact word count, the workers, the losses."""
    start = time.perf_counter()
    torch.manual_seed(config.seed)
    input_vectors = (torch.rand(len(vocabulary), config.dim) - 0.5) / config.dim
    output_vectors = torch.zeros(len(vocabulary), config.dim)
    keep = keep_probabilities(vocabulary.counts, config.sample)
    parts = np.array_split(ids, workers)
    # the exact number of training words: replay each epoch's subsampling draw
    # (len(subsample(part, keep, rng)), counted without making the subsampled text)
    total = 0
    for worker, part in enumerate(parts):
        part_keep = keep[part]
        for epoch in range(config.epochs):
            draw = epoch_rng(config.seed, worker, epoch).random(len(part))
            total += int(np.count_nonzero(draw < part_keep))
    job = _Job(
        config=config,
        keep=keep,
        noise=noise_distribution(vocabulary.counts),
        total=total,
        done=multiprocessing.RawArray("q", workers),
        epoch_sums=multiprocessing.RawArray("d", workers * config.epochs * 2),
    )
    if workers == 1:
        with word_progress(total, "CBOW (fast)", progress) as bar:
            _train_part(0, parts[0], input_vectors, output_vectors, job, bar=bar)
    else:
        input_vectors.share_memory_()
        output_vectors.share_memory_()
        _run_workers(parts, input_vectors, output_vectors, job, progress)
    sums = np.frombuffer(job.epoch_sums, dtype=np.float64)
    sums = sums.reshape(workers, config.epochs, 2).sum(axis=0)
    return CBOWResult(
        vocabulary,
        input_vectors.numpy().copy(),
        output_vectors.numpy().copy(),
        list(sums[:, 0] / np.maximum(sums[:, 1], 1)),
        int(sum(job.done)),
        time.perf_counter() - start,
    )


def _train_part(
    worker: int,
    ids: np.ndarray,
    input_vectors: torch.Tensor,
    output_vectors: torch.Tensor,
    job: _Job,
    bar: tqdm | None = None,
    parent: int | None = None,
) -> None:
    """One worker: all epochs on its part of the text, updating the shared vectors.

    Stops early (quietly) when its parent process `parent` has gone away.
    """
    torch.set_num_threads(1)
    config, keep, table = job.config, job.keep, alias_table(job.noise)
    for epoch_index in range(config.epochs):
        rng = epoch_rng(config.seed, worker, epoch_index)
        epoch, reverse = draw_fast_epoch(ids, keep, table, config, rng)
        epoch_loss = 0.0
        for begin in range(0, epoch.size, config.batch_size):
            if parent is not None and os.getppid() != parent:
                os._exit(1)  # orphaned: the parent was killed
            end = min(begin + config.batch_size, epoch.size)
            lr = linear_lr(config, sum(job.done), job.total)
            batch_loss = _train_batch(
                epoch, begin, end, input_vectors, output_vectors, lr, config.window,
                reverse,
            )
            check_finite(batch_loss, config)
            epoch_loss += batch_loss
            job.done[worker] += end - begin
            if bar is not None:
                bar.update(end - begin)
        # copies: `isfinite` reads each value twice (x == x), and another worker's
        # write between the two reads would look like a NaN
        check_finite(epoch_loss, config, input_vectors.clone(), output_vectors.clone())
        slot = 2 * (worker * config.epochs + epoch_index)
        job.epoch_sums[slot] = epoch_loss
        job.epoch_sums[slot + 1] = epoch.size


def _worker_main(errors: Any, worker: int, *arguments: Any, **options: Any) -> None:
    """A worker process: train, and report a failure to the parent through `errors`."""
    # The parent decides when to stop: Jupyter's interrupt reaches the whole process
    # group, and the parent's SIGTERM handler must not run here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _keep_freed_memory()
    try:
        _train_part(worker, *arguments, **options)
    except TrainingDivergedError as error:
        errors.put((worker, "diverged", str(error)))
        sys.exit(1)
    except BaseException as error:  # noqa: BLE001 - any failure goes to the parent
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        errors.put((worker, "failed", text[-2000:]))
        sys.exit(1)


def _keep_freed_memory() -> None:
    """In a worker process: let glibc's malloc reuse freed memory, not unmap it.

    Each epoch's draws and each step's temporaries are large blocks; by default glibc
    maps and unmaps them every time, and the page faults of the fresh memory cost
    about a tenth of the training time. A worker process ends with its training, so
    keeping its freed memory for reuse costs nothing. No-op without glibc.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(-3, 64 << 20)  # M_MMAP_THRESHOLD: blocks under 64 MiB come from the heap
    mallopt(-1, 256 << 20)  # M_TRIM_THRESHOLD: keep up to 256 MiB of freed heap


def _run_workers(
    parts: list[np.ndarray],
    input_vectors: torch.Tensor,
    output_vectors: torch.Tensor,
    job: _Job,
    progress: bool,
) -> None:
    """Train in forked worker processes; always stop them, whatever happens."""
    context = _fork_context()
    errors = context.SimpleQueue()
    processes: list[multiprocessing.process.BaseProcess] = []
    reports: list[tuple[int, str, str]] = []
    try:
        with _stop_on_sigterm(processes):
            for worker, part in enumerate(parts):
                process = context.Process(
                    target=_worker_main,
                    args=(errors, worker, part, input_vectors, output_vectors, job),
                    kwargs={"parent": os.getpid()},
                    name=f"cbow-worker-{worker}",
                    daemon=True,
                )
                process.start()
                processes.append(process)
            with word_progress(job.total, "CBOW (fast)", progress) as bar:
                while True:
                    while not errors.empty():
                        reports.append(errors.get())
                    finished = all(p.exitcode is not None for p in processes)
                    failed = any(p.exitcode not in (None, 0) for p in processes)
                    bar.update(sum(job.done) - bar.n)
                    if finished or failed:
                        break
                    # wake as soon as a worker ends, else after 20 ms (the bar)
                    multiprocessing.connection.wait(
                        [p.sentinel for p in processes if p.exitcode is None], 0.02
                    )
    finally:
        _stop(processes)
    while not errors.empty():
        reports.append(errors.get())
    _raise_failures(processes, reports)


def _stop(processes: list[multiprocessing.process.BaseProcess]) -> None:
    """Terminate the worker processes still running and wait for all of them."""
    for process in processes:
        if process.exitcode is None:
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.exitcode is None:
            process.kill()
            process.join()


@contextmanager
def _stop_on_sigterm(processes: list) -> Iterator[None]:
    """While training, a SIGTERM to this process first stops the worker processes."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread
        return
    previous = signal.getsignal(signal.SIGTERM)

    def stop_then_resend(signum: int, frame: Any) -> None:
        _stop(processes)
        signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)  # then what SIGTERM did before

    signal.signal(signal.SIGTERM, stop_then_resend)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous or signal.SIG_DFL)


def _raise_failures(processes: list, reports: list[tuple[int, str, str]]) -> None:
    """Raise a clear error if a worker diverged, failed or was killed."""
    for _, kind, message in reports:
        if kind == "diverged":
            raise TrainingDivergedError(message)
    for worker, _, message in reports:
        raise RuntimeError(
            f"CBOW training worker {worker} failed: {message}. Try workers=1 to see "
            "the error in this process."
        )
    # a worker this process terminated (-SIGTERM) is reported only if no other failed
    order = sorted(enumerate(processes), key=lambda p: p[1].exitcode == -signal.SIGTERM)
    for worker, process in order:
        if process.exitcode != 0:
            code = process.exitcode
            how = (
                f"was killed by signal {-code} ({signal.Signals(-code).name})"
                if code < 0
                else f"exited with code {code}"
            )
            hint = " (out of memory?)" if code == -signal.SIGKILL else ""
            raise RuntimeError(
                f"CBOW training worker {worker} (pid {process.pid}) {how}{hint}; "
                "try workers=1."
            )
