"""Row normalisation and cosine nearest neighbours: their one home (notebooks 01-05).

The cosine similarity of two vectors is their dot product divided by the product of
their lengths. `nearest_rows` ranks every row of a matrix against a few query rows that
way. It reads the matrix in blocks and divides each block's scores by its row norms, so
a huge table (151,936 x 1,536 in bf16) is never copied whole into float32. Rows that are
all zeros or hold a NaN or an infinity have no direction: they are never ranked.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Integral

import numpy as np
import torch

# Rows per block: 4 MB counted at 8 bytes a number (2 MB of float32), small enough to
# stay in the CPU cache while the block's norms and products are taken.
BLOCK_BYTES = 4 * 1024 * 1024
# At most this many scores (queries x rows) are held at once.
MAX_SCORES = 32 * 1024 * 1024

Matrix = np.ndarray | torch.Tensor


def unit_rows(matrix: Matrix) -> Matrix:
    """Rows scaled to length 1, zero rows kept zero (numpy: float64, torch: float32).

    This copies the matrix. For a neighbour search over a big matrix use
    `nearest_rows`, which needs no normalised copy.
    """
    if isinstance(matrix, torch.Tensor):
        matrix = matrix.float()
        norms = torch.linalg.vector_norm(matrix, dim=1, keepdim=True)
        return matrix / torch.where(norms == 0, torch.ones_like(norms), norms)
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def _check_matrix(matrix: Matrix) -> None:
    """Refuse anything but a 2-D numpy array or torch tensor of floating-point type."""
    if not isinstance(matrix, (np.ndarray, torch.Tensor)):
        kind = type(matrix).__name__
        raise TypeError(f"Expected a numpy array or a torch tensor, got {kind}.")
    if matrix.ndim != 2:
        shape = tuple(matrix.shape)
        raise ValueError(f"Expected a 2-D matrix (rows, dim), got shape {shape}.")
    if isinstance(matrix, torch.Tensor):
        floating = matrix.is_floating_point()
    else:
        floating = np.issubdtype(matrix.dtype, np.floating)
    if not floating:
        raise TypeError(f"Expected floating-point numbers, got dtype {matrix.dtype}.")


def _rows_per_block(matrix: Matrix) -> int:
    """How many rows make a block of about BLOCK_BYTES (counting 8 bytes a number)."""
    return max(1, BLOCK_BYTES // (max(1, matrix.shape[1]) * 8))


def _block(matrix: Matrix, start: int, stop: int) -> Matrix:
    """Rows start..stop-1 in the working dtype: float64 for numpy, float32 for torch."""
    if isinstance(matrix, torch.Tensor):
        return matrix[start:stop].float()
    return np.asarray(matrix[start:stop], dtype=np.float64)


def row_norms(matrix: Matrix) -> Matrix:
    """The length of every row (numpy: float64, torch: float32), block by block."""
    _check_matrix(matrix)
    step = _rows_per_block(matrix)
    starts = range(0, matrix.shape[0], step)
    if isinstance(matrix, torch.Tensor):
        blocks = (_block(matrix, s, s + step) for s in starts)
        norms = [torch.linalg.vector_norm(block, dim=1) for block in blocks]
        return torch.cat(norms) if norms else torch.empty(0)
    norms = [np.linalg.norm(_block(matrix, s, s + step), axis=1) for s in starts]
    return np.concatenate(norms) if norms else np.empty(0)


def _check_ids(query_rows: Sequence[int] | Matrix, n_rows: int) -> list[int]:
    """The query ids as Python ints; refuse non-integers and ids outside 0..n_rows-1."""
    if isinstance(query_rows, (np.ndarray, torch.Tensor)):
        if query_rows.ndim != 1:
            shape = tuple(query_rows.shape)
            raise ValueError(f"Query ids must be 1-D, got shape {shape}.")
        query_rows = query_rows.tolist()
    ids = list(query_rows)
    if not ids:
        raise ValueError("No query rows: pass at least one row id.")
    for row in ids:
        if isinstance(row, bool) or not isinstance(row, Integral):
            kind = type(row).__name__
            raise TypeError(f"Row ids must be integers, got {row!r} ({kind}).")
        if row < 0:
            raise ValueError(
                f"Row id {row} is negative. Ids count from 0 to {n_rows - 1}; a "
                "negative id would silently wrap around to a row at the end."
            )
        if row >= n_rows:
            raise ValueError(
                f"Row id {row} is out of range: the matrix has rows 0..{n_rows - 1}."
            )
    return [int(row) for row in ids]


def _stable_top(scores: np.ndarray, n: int) -> np.ndarray:
    """Ids of the n largest scores, ties broken by the smaller id (as a stable sort)."""
    negative = -scores
    threshold = np.partition(negative, n - 1)[n - 1]
    candidates = np.flatnonzero(negative <= threshold)
    return candidates[np.lexsort((candidates, negative[candidates]))][:n]


def _norm_of(rows: Matrix) -> Matrix:
    """The length of each row of a block already in the working dtype."""
    if isinstance(rows, torch.Tensor):
        return torch.linalg.vector_norm(rows, dim=1)
    return np.linalg.norm(rows, axis=1)


def _scores(
    matrix: Matrix, queries: Matrix, norms: Matrix | None
) -> tuple[np.ndarray, Matrix]:
    """Cosine of every row with each unit query row, and the row norms, in one pass.

    Each block is read once: its norms (unless given) and its products with the
    queries are taken while it is in the cache.
    """
    is_torch = isinstance(matrix, torch.Tensor)
    n_rows, step = matrix.shape[0], _rows_per_block(matrix)
    scores = np.empty((len(queries), n_rows), np.float32 if is_torch else np.float64)
    block_norms = []
    for start in range(0, n_rows, step):
        block = _block(matrix, start, start + step)
        stop = start + len(block)
        block_norm = _norm_of(block) if norms is None else norms[start:stop]
        block_norms.append(block_norm)
        with np.errstate(invalid="ignore", divide="ignore"):  # rows never ranked
            part = (queries @ block.T) / block_norm
        scores[:, start:stop] = part.numpy() if is_torch else part
    if norms is None:
        norms = torch.cat(block_norms) if is_torch else np.concatenate(block_norms)
    return scores, norms


def nearest_rows(
    matrix: Matrix,
    query_rows: Sequence[int] | Matrix,
    n: int = 5,
    norms: Matrix | None = None,
) -> tuple[Matrix, Matrix]:
    """For each query row, the `n` rows of highest cosine similarity (itself excluded).

    Returns (similarities, ids), each (queries, n), best first, ties broken by the
    smaller id: float64 and int64 numpy arrays for a numpy matrix, float32 and int64
    tensors for a tensor. The matrix keeps its dtype (bf16 included): each block is
    multiplied in float32 (numpy: float64) and divided by its row norms. Pass `norms`
    (from `row_norms`) to reuse them across calls. Negative or out-of-range ids are
    refused; rows that are all zero or not finite are never ranked.
    """
    _check_matrix(matrix)
    n_rows = matrix.shape[0]
    ids = _check_ids(query_rows, n_rows)
    is_torch = isinstance(matrix, torch.Tensor)
    if norms is not None:
        if tuple(norms.shape) != (n_rows,):
            shape = tuple(norms.shape)
            message = f"norms must hold one value per row ({n_rows}), not {shape}."
            raise ValueError(message)
        norms = torch.as_tensor(norms).float() if is_torch else np.asarray(norms, float)
    if isinstance(n, bool) or not isinstance(n, Integral) or not 1 <= n < n_rows:
        raise ValueError(f"n must be an integer from 1 to {n_rows - 1}, got {n!r}.")
    stack = torch.stack if is_torch else np.stack
    queries = stack([_block(matrix, row, row + 1)[0] for row in ids])
    query_norms = _norm_of(queries)
    for row, norm in zip(ids, query_norms.tolist()):
        if not (np.isfinite(norm) and norm > 0):
            kind = "all zeros" if norm == 0 else "not finite (NaN or inf)"
            raise ValueError(f"Row {row} is {kind}: it has no direction to compare.")
    queries = queries / query_norms[:, None]
    chunk = max(1, MAX_SCORES // n_rows)
    found_similarities, found_ids = [], []
    for first in range(0, len(ids), chunk):
        scores, norms = _scores(matrix, queries[first : first + chunk], norms)
        finite = torch.isfinite(norms).numpy() if is_torch else np.isfinite(norms)
        rankable = finite & (np.asarray(norms) > 0)
        n_others = int(rankable.sum()) - 1
        if n > n_others:
            raise ValueError(
                f"n must be an integer from 1 to {n_others} (the other rows that can "
                f"be ranked: rows that are all zero or not finite never are), got {n}."
            )
        scores[:, ~rankable] = -np.inf
        for position, row in enumerate(ids[first : first + chunk]):
            scores[position, row] = -np.inf  # a row is not its own neighbour
            top = _stable_top(scores[position], n)
            found_ids.append(top)
            found_similarities.append(scores[position, top])
    similarities = np.stack(found_similarities)
    neighbour_ids = np.stack(found_ids).astype(np.int64)
    if is_torch:
        return torch.from_numpy(similarities), torch.from_numpy(neighbour_ids)
    return similarities, neighbour_ids
