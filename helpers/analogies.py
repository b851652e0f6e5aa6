"""The Google analogy benchmark: read the questions, answer them as gensim does (03).

gensim's `KeyedVectors.evaluate_word_analogies` answers one question at a time with
`most_similar(positive=[b, c], negative=[a], topn=5)` (3CosAdd). `evaluate_analogies`
gives the same answers, question for question, but scores blocks of questions at once.
Its scores round differently from gensim's, so every answer is certified: when the best
and the next candidate are closer than a proven bound on the rounding error, that
question is recomputed exactly as gensim computes it (same float32 operations).
"""

from __future__ import annotations

import gc
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
from gensim import matutils
from gensim.models import KeyedVectors

METHODS = ("3cosadd", "3cosmul")
# gensim's evaluator reads only most_similar(topn=5): if all five are casings of the
# question words, it gives up and takes the fifth as its answer.
GENSIM_TOPN = 5
# Below this many scorable rows, every question is answered by the exact path.
MIN_FAST_ROWS = 64
UNIT_ROUNDOFF = 2.0**-24  # float32
# Rows per tile of the fast path: a block of cells x tile rows stays in the CPU cache.
TILE_ROWS = 512
# Rows per sub-tile: each cell keeps its sub-tile maxima, then its best sub-tile is
# rescored row by row.
SUB_ROWS = 128
# Certified bounds carry this extra factor, on top of the proven constants.
SAFETY = 1.25
# What the last evaluate_analogies call did: questions covered, answered exactly.
LAST_RUN: dict[str, int] = {}


class AnalogyQuestion(NamedTuple):
    """One analogy question: a is to b as c is to expected, in section `section`."""

    section: int
    a: str
    b: str
    c: str
    expected: str


def _decode_analogy_file(path: Path) -> str:
    """The text of an analogy file, or a ValueError saying why it cannot be read."""
    data = path.read_bytes()
    fix = "Save it as UTF-8 text: ': section' lines, then lines of four words."
    if not data.strip():
        raise ValueError(f"The analogy file {path} is empty. {fix}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(f"The analogy file {path} is UTF-16 text, not UTF-8. {fix}")
    if b"\x00" in data:
        raise ValueError(
            f"The analogy file {path} holds NUL bytes: it is binary. {fix}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"The analogy file {path} is not UTF-8 text (byte {error.start} is "
            f"{data[error.start : error.start + 1]!r}). {fix}"
        ) from error
    return text.removeprefix("\ufeff")


def read_analogies(
    path: str | Path, case_insensitive: bool = True
) -> tuple[list[str], list[AnalogyQuestion], int]:
    """Parse an analogy file: section names, questions, how many lines were skipped."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No analogy file at {path}.")
    sections: list[str] = []
    questions: list[AnalogyQuestion] = []
    malformed = 0
    # split on "\n" only, as gensim reads the file (in binary, line by line)
    for line in _decode_analogy_file(path).split("\n"):
        if line.startswith(": "):
            sections.append(line.lstrip(": ").strip())
            continue
        # (upper-casing the line upper-cases each word, and keeps the whitespace)
        words = (line.upper() if case_insensitive else line).split()
        if not words:
            continue  # gensim skips blank lines too, without counting them
        if len(words) != 4 or not sections:
            malformed += 1
            continue
        questions.append(AnalogyQuestion(len(sections) - 1, *words))
    if not questions:
        raise ValueError(
            f"The analogy file {path} holds no questions ({len(sections)} section "
            f"line(s), {malformed} malformed line(s)). Each question is a line of four "
            "words 'a b c expected' after a ': section' line."
        )
    return sections, questions, malformed


@dataclass
class _Vocabulary:
    """The rows gensim's evaluator may use, and the casings of each normalised word."""

    vectors: np.ndarray
    norms: np.ndarray
    n_rows: int
    words: list[str]  # normalised key of each row (upper-cased if case-insensitive)
    ok_vocab: dict[str, int]  # word -> its first (most frequent) row, as gensim
    more_casings: dict[str, list[int]]  # word -> all its rows, if it has several

    def casing_rows(self, word: str) -> list[int]:
        """Every row whose key is `word` once normalised (all its casings)."""
        return self.more_casings.get(word) or [self.ok_vocab[word]]


def _vocabulary(
    keyed: KeyedVectors, restrict_vocab: int | None, case_insensitive: bool
) -> _Vocabulary:
    """Rows, norms and casings exactly as gensim's evaluator and most_similar see."""
    keys = keyed.index_to_key[:restrict_vocab]
    if len(keyed.vectors) < len(keys):
        raise ValueError(f"{len(keys)} keys but only {len(keyed.vectors)} vectors.")
    keyed.fill_norms()  # what most_similar does first; norms is gensim's cache
    words = list(map(str.upper, keys)) if case_insensitive else list(keys)
    # as gensim: {k.upper(): index} over reversed keys, so the first casing wins
    ok_vocab = dict(zip(reversed(words), range(len(words) - 1, -1, -1)))
    more_casings: dict[str, list[int]] = {}
    if len(ok_vocab) < len(words):
        first = np.fromiter(map(ok_vocab.__getitem__, words), np.int64, len(words))
        for row in np.flatnonzero(first != np.arange(len(words))).tolist():
            more_casings.setdefault(words[row], [int(first[row])]).append(row)
    return _Vocabulary(
        keyed.vectors, keyed.norms, len(keys), words, ok_vocab, more_casings
    )


# --------------------------------------------------------------------------------------
# The exact path: gensim's own float arithmetic, one question at a time.


def _gensim_unit(vocab: _Vocabulary, row: int) -> np.ndarray:
    """gensim's get_vector(key, norm=True): the row divided by its float32 norm."""
    return vocab.vectors[row] / vocab.norms[row]


def _gensim_mean32(units: Sequence[np.ndarray]) -> np.ndarray:
    """gensim's get_mean_vector sum b + c - a, before /3: float32, rounded as gensim."""
    # units = (b, c, a); gensim's weights are float64, so each += runs in float64
    weights = np.concatenate((np.ones(2), -1.0 * np.ones(1)))
    mean = np.zeros(units[0].shape, units[0].dtype)
    for weight, unit in zip(weights, units):
        mean += weight * unit
    return mean


def _gensim_3cosadd_scores(vocab: _Vocabulary, a: int, b: int, c: int) -> np.ndarray:
    """most_similar(positive=[b, c], negative=[a]) scores of every row, as gensim."""
    units = [_gensim_unit(vocab, row) for row in (b, c, a)]
    mean = _gensim_mean32(units) / np.float64(3.0)  # gensim's total_weight is float64
    mean = matutils.unitvec(mean).astype(np.float32)
    n = vocab.n_rows
    return np.dot(vocab.vectors[0:n], mean) / vocab.norms[0:n]


def _gensim_cosmul_term(vocab: _Vocabulary, row: int) -> np.ndarray:
    """One factor of most_similar_cosmul: (1 + cos(word, every row)) / 2, as gensim."""
    n = vocab.n_rows
    return (
        1 + np.dot(vocab.vectors[0:n], _gensim_unit(vocab, row)) / vocab.norms[0:n]
    ) / 2


def _gensim_3cosmul_scores(
    vocab: _Vocabulary,
    a: int,
    b: int,
    c: int,
    terms: dict[int, np.ndarray] | None = None,
) -> np.ndarray:
    """Each row's most_similar_cosmul(positive=[b, c], negative=[a]) score (gensim)."""
    terms = terms if terms is not None else {}
    term_b, term_c, term_a = (
        terms[row] if row in terms else _gensim_cosmul_term(vocab, row)
        for row in (b, c, a)
    )
    return np.prod([term_b, term_c], axis=0) / (np.prod([term_a], axis=0) + 0.000001)


def _gensim_answer(
    scores: np.ndarray, question_rows: Sequence[int], ignore: set[str], words: list[str]
) -> str | None:
    """gensim's evaluator: the first of the top 5 not a question word, else the 5th."""
    excluded = list(question_rows)
    best = matutils.argsort(scores, topn=GENSIM_TOPN + len(excluded), reverse=True)
    top = [int(row) for row in best if row not in excluded][:GENSIM_TOPN]
    predicted = None
    for row in top:
        predicted = words[row]
        if predicted not in ignore:
            break
    return predicted


def _answer_excluding_casings(
    scores: np.ndarray, excluded: set[int], words: list[str]
) -> str | None:
    """The best-scoring word that is no casing of a question word (gensim's ties)."""
    best = matutils.argsort(scores, topn=len(excluded) + 1, reverse=True)
    return next((words[row] for row in best if row not in excluded), None)


# --------------------------------------------------------------------------------------
# The fast path. 3CosAdd's score of a row w is cos(w, b) - cos(w, a) + cos(w, c), up to
# a factor that is the same for every w. The questions use few distinct words (~900),
# and come in grids: each pair (a, b) of a section meets most words c of the section.
# So, one tile of rows at a time: one matrix product gives the cosines of the question
# words with the tile's rows; the pair rows cos(w, b) - cos(w, a) and the c rows are
# added for a whole block of pairs x words c at once, and each cell keeps the maxima of
# its two best sub-tiles. Then each question's best sub-tile is rescored (one small
# matrix product) to find the best row. 3CosMul works the same way on gensim's exact
# per-word factors (1 + cos) / 2.


@dataclass
class _Problem:
    """The covered questions, as rows, and what the fast engines need about the rows."""

    vocab: _Vocabulary
    rows: np.ndarray  # (questions, 3): rows of a, b, c (their first casings)
    casings: list[list[int]]  # per question: every row of every casing of a, b, c
    others: list[list[int]]  # per question: the casings gensim does not exclude
    sections: list[int]
    unscored: np.ndarray  # rows gensim scores NaN, and padding up to n_padded
    rho: float  # max |vector| / gensim's float32 norm over the rows
    n_padded: int  # rows, rounded up to whole sub-tiles


@dataclass
class _Candidates:
    """Per question: best row (casings of a, b, c excluded), its score, runner-up."""

    best_rows: np.ndarray
    best: np.ndarray
    second: np.ndarray
    eps: np.ndarray  # proven bound on |our score - gensim's score|, on our scale
    others: list[np.ndarray | None]  # our scores of the other casings of a, b and c


@dataclass
class _Grid:
    """Questions as blocks of cells (pair a:b) x (word c), each block scored at once."""

    pair_words: np.ndarray  # (pairs, 2): local word ids of a and b, block by block
    third_words: np.ndarray  # (thirds,): local word id of c, block by block
    blocks: list[tuple[int, int, int, int, int]]  # pairs p0:p1, thirds c0:c1, cell0
    cell_of: np.ndarray  # per question: its cell
    n_cells: int


def _grid(local: np.ndarray, groups: Sequence[int], max_cells: int) -> _Grid:
    """Blocks of pairs x thirds, dense enough (>= 3/4 of the cells are questions)."""
    by_pair: dict[tuple[int, int, int], list[int]] = {}
    for q, (a, b, _) in enumerate(local.tolist()):
        by_pair.setdefault((groups[q], a, b), []).append(q)
    pair_words: list[tuple[int, int]] = []
    third_words: list[int] = []
    blocks: list[tuple[int, int, int, int, int]] = []
    cell_of = np.empty(len(local), np.int64)

    def emit(members: list[tuple[int, int, int]], thirds: list[int]) -> None:
        p0, c0 = len(pair_words), len(third_words)
        k0 = (
            blocks[-1][4] + (p0 - blocks[-1][0]) * (c0 - blocks[-1][2]) if blocks else 0
        )
        where = {c: i for i, c in enumerate(thirds)}
        for i, key in enumerate(members):
            pair_words.append(key[1:])
            for q in by_pair[key]:
                cell_of[q] = k0 + i * len(thirds) + where[int(local[q, 2])]
        third_words.extend(thirds)
        blocks.append((p0, len(pair_words), c0, len(third_words), k0))

    members: list[tuple[int, int, int]] = []
    thirds: dict[int, None] = {}
    n_questions = 0
    for key, questions in by_pair.items():
        new = dict.fromkeys(int(local[q, 2]) for q in questions)
        union = thirds | new
        cells = (len(members) + 1) * len(union)
        fits = 4 * (n_questions + len(questions)) >= 3 * cells and cells <= max_cells
        if members and not (members[0][0] == key[0] and fits):
            emit(members, list(thirds))
            members, union, n_questions = [], new, 0
        members.append(key)
        thirds = union
        n_questions += len(questions)
    if members:
        emit(members, list(thirds))
    p0, p1, c0, c1, k0 = blocks[-1]
    return _Grid(
        np.array(pair_words, np.int64).reshape(-1, 2),
        np.array(third_words, np.int64),
        blocks,
        cell_of,
        k0 + (p1 - p0) * (c1 - c0),
    )


class _TileMask:
    """Rows to exclude per table entry, sorted by row so a tile's share is one slice."""

    def __init__(self, rows_per_entry: Sequence[Sequence[int]]) -> None:
        pairs = sorted(
            (row, e) for e, rows in enumerate(rows_per_entry) for row in rows
        )
        self.rows = np.array([row for row, _ in pairs], np.int64)
        self.entries = torch.tensor([e for _, e in pairs], dtype=torch.int64)
        self.rows_t = torch.from_numpy(self.rows)

    def apply(self, table: torch.Tensor, start: int, stop: int) -> None:
        """Set table[entry, row - start] to -inf for the entries' rows in start:stop."""
        i, j = np.searchsorted(self.rows, [start, stop])
        if j > i:
            table[self.entries[i:j], self.rows_t[i:j] - start] = -torch.inf


def _entry_masks(
    problem: _Problem, words: np.ndarray, grid: _Grid
) -> tuple[_TileMask, _TileMask]:
    """Rows each pair entry excludes (casings of a and b), and each third (of c)."""
    casings = [problem.vocab.casing_rows(problem.vocab.words[row]) for row in words]
    pairs = [casings[a] + casings[b] for a, b in grid.pair_words.tolist()]
    return _TileMask(pairs), _TileMask([casings[c] for c in grid.third_words.tolist()])


TableMaker = Callable[[int, int], tuple[list[torch.Tensor], list[torch.Tensor]]]


def _scan_tiles(
    grid: _Grid,
    n_padded: int,
    tables: TableMaker,
    combine: Callable[..., None],
    tile: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per cell: the best and second-best sub-tile maxima, and the best's sub-tile."""
    tile = tile or TILE_ROWS
    best = torch.full((grid.n_cells,), -torch.inf)
    second = torch.full((grid.n_cells,), -torch.inf)
    best_sub = torch.zeros(grid.n_cells, dtype=torch.int64)
    largest = max((p1 - p0) * (c1 - c0) for p0, p1, c0, c1, _ in grid.blocks)
    buffer = torch.empty(largest * tile)
    for start in range(0, n_padded, tile):
        stop = min(start + tile, n_padded)
        n_sub = (stop - start) // SUB_ROWS
        sub_max = torch.empty(grid.n_cells, n_sub)
        pair_tables, third_tables = tables(start, stop)
        for p0, p1, c0, c1, k0 in grid.blocks:
            shape = (p1 - p0, c1 - c0, stop - start)
            cells = buffer[: shape[0] * shape[1] * shape[2]].view(shape)
            combine(
                cells,
                [t[p0:p1, None, :] for t in pair_tables],
                [t[None, c0:c1, :] for t in third_tables],
            )
            out = sub_max[k0 : k0 + shape[0] * shape[1]].view(*shape[:2], n_sub)
            torch.amax(cells.view(*shape[:2], n_sub, SUB_ROWS), dim=3, out=out)
        tile_best, where = sub_max.max(dim=1)
        sub_max.scatter_(1, where[:, None], -torch.inf)
        tile_second = sub_max.amax(dim=1)
        torch.maximum(
            torch.minimum(best, tile_best),
            torch.maximum(second, tile_second),
            out=second,
        )
        improved = tile_best > best
        best_sub[improved] = where[improved] + start // SUB_ROWS
        torch.maximum(best, tile_best, out=best)
    return best, second, best_sub


def _refine(
    problem: _Problem,
    best_sub: np.ndarray,
    scores_of: Callable[[torch.Tensor, int, int], torch.Tensor],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """In each question's best sub-tile: the best row, its score and the runner-up."""
    n = len(best_sub)
    scores = torch.full((n, SUB_ROWS + 1), -torch.inf)  # the last column is a sink
    order = np.argsort(best_sub, kind="stable")
    bounds = np.flatnonzero(np.diff(best_sub[order])) + 1
    for group in np.split(order, bounds):
        start = int(best_sub[group[0]]) * SUB_ROWS
        group_t = torch.from_numpy(group)
        scores[group_t, :SUB_ROWS] = scores_of(group_t, start, start + SUB_ROWS)
    starts = torch.from_numpy(best_sub * SUB_ROWS)
    columns = _padded(problem.casings) - starts[:, None]
    outside = (columns < 0) | (columns >= SUB_ROWS)
    scores.scatter_(1, torch.where(outside, SUB_ROWS, columns), -torch.inf)
    unscored = torch.from_numpy(problem.unscored).view(-1, SUB_ROWS)
    scores[:, :SUB_ROWS].masked_fill_(unscored[torch.from_numpy(best_sub)], -torch.inf)
    best, rows = scores.max(dim=1)
    scores.scatter_(1, rows[:, None], -torch.inf)
    second = scores.amax(dim=1)
    return (rows + starts).numpy(), best.numpy(), second.numpy()


def _row_health(vocab: _Vocabulary) -> tuple[np.ndarray, float, bool]:
    """Rows gensim scores NaN (zero, NaN, inf), max |v| / norm, and whether all sane."""
    n = vocab.n_rows
    norms64 = np.empty(n)
    for start in range(0, n, 4096):  # small blocks: their memory is reused
        block = vocab.vectors[start : min(start + 4096, n)].astype(np.float64)
        norms64[start : start + len(block)] = np.sqrt(
            np.einsum("ij,ij->i", block, block)
        )
    nan_rows = ~np.isfinite(norms64) | (norms64 == 0)
    good_norms64 = norms64[~nan_rows]
    norms32 = vocab.norms[:n][~nan_rows].astype(np.float64)
    # a finite non-zero row whose float32 norm under- or overflowed is scored 0 or +-inf
    # by gensim: leave such vocabularies to the exact path
    if not np.all(np.isfinite(norms32) & (norms32 > 0)):
        return nan_rows, np.inf, False
    ratio = good_norms64 / norms32 if len(norms32) else np.ones(1)
    rho = float(np.max(ratio))
    return nan_rows, rho, bool(rho < 1.001 and np.min(ratio) > 0.999)


def _float32_matmul(
    left: torch.Tensor, right: torch.Tensor, out: torch.Tensor | None = None
) -> torch.Tensor:
    """A float32 matrix product in full float32 (never bf16 or tf32 shortcuts)."""
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        return torch.matmul(left, right, out=out)
    finally:
        torch.set_float32_matmul_precision(previous)


def _padded(rows: Sequence[Sequence[int]]) -> torch.Tensor:
    """Row lists padded (by repeating their first entry) into one int64 tensor."""
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [r[0]] * (width - len(r)) for r in rows])


def _scan_and_refine(
    problem: _Problem,
    grid: _Grid,
    tables: TableMaker,
    combine: Callable[..., None],
    scores_of: Callable[[torch.Tensor, int, int], torch.Tensor],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best row, its score and the runner-up's score of every question."""
    with torch.no_grad():
        table_best, table_second, best_sub = _scan_tiles(
            grid, problem.n_padded, tables, combine
        )
        cell = torch.from_numpy(grid.cell_of)
        best_rows, best, sub_second = _refine(
            problem, best_sub[cell].numpy(), scores_of
        )
    second = np.maximum(sub_second, table_second[cell].numpy())
    best[~np.isfinite(table_best[cell].numpy())] = np.nan
    return best_rows, best, second


def _fast_3cosadd(problem: _Problem, max_cells: int) -> _Candidates:
    """3CosAdd candidates: bounds prune the rows, float32 products score the rest."""
    vocab, n = problem.vocab, problem.vocab.n_rows
    dim = vocab.vectors.shape[1]
    # gensim's unit vectors: float32 row / float32 norm. helpers.neighbours.unit_rows
    # divides by float64 norms, which rounds differently from gensim's get_vector.
    # A last column of ones lets one product subtract the pruning shifts (below).
    augmented = np.empty((problem.n_padded, dim + 1), np.float32)
    augmented[:, dim] = 1
    units = augmented[:, :dim]
    np.divide(vocab.vectors[:n], vocab.norms[:n, None], out=units[:n])
    units[n:] = 0
    units[problem.unscored] = 0
    words, local = np.unique(problem.rows, return_inverse=True)
    local = local.reshape(problem.rows.shape)
    grid = _grid(local, problem.sections, max_cells)
    # the exact sum b + c - a that gensim normalises (its `mean` before the division)
    means = _gensim_mean32([units[problem.rows[:, k]] for k in (1, 2, 0)])
    lengths = np.linalg.norm(means.astype(np.float64), axis=1)
    eps = _eps(lengths, problem.rho, dim)
    best_rows, best, second, active = _best_in_bounds(
        problem, augmented, words, means, grid, eps
    )
    LAST_RUN["active_sub_tiles"] = active
    others = [
        units[rows] @ means[q] if rows else None
        for q, rows in enumerate(problem.others)
    ]
    return _Candidates(best_rows, best, second, eps, others)


# Why the bound holds. Let u = 2**-24, g = dim * u / (1 - dim * u) (a float32 dot
# product of length dim is within g * sum|x_i y_i| of the exact value, in any order),
# rho >= |v| / norm for every row, e = v / norm (exact), s = u_b + u_c - u_a (exact sum
# of gensim's float32 unit vectors), m32 = gensim's float32 rounding of s, L = |m32|.
# gensim's score d = fl(sgemv(v, m) / norm), with m = m32 / L rounded to float32, obeys
# |L d - e.m32| <= L rho (g + 2u)(1 + 2u), and |e.(m32 - s)| <= 5.1 u rho^2. Our score
# fl(units . m32) obeys the same two bounds. So both are within `each` of e.s, and a
# gap above 2 * (2 * each) between two rows of ours orders them as gensim orders them.


def _eps(lengths: np.ndarray, rho: float, dim: int) -> np.ndarray:
    """Proven bound on |our 3CosAdd score - |m32| * gensim's score| (notes above)."""
    u = UNIT_ROUNDOFF
    g = dim * u / (1 - dim * u)
    lengths = lengths + 6 * u * rho
    each = lengths * rho * (g + 2 * u) * (1 + 2 * u) + 5.1 * u * rho**2
    return SAFETY * 2 * each


# Pruning (3CosAdd). For a cell (pair a:b, word c) and a sub-tile of PRUNE_ROWS rows
# i, the 3CosAdd score is x_i = D_i + T_i with D_i = (u_b - u_a).e_i, T_i = u_c.e_i.
# With D_i <= MD = |u_b - u_a| rho and T_i <= MT = rho^2, and Z = sum_i exp(beta (D_i -
# MD)) exp(beta (T_i - MT)), max x_i <= MD + MT + ln(Z) / beta <= max x_i + ln(n) / beta
# (n rows). Z is one batched matrix product per block of cells, so every cell gets an
# upper bound per sub-tile at little cost, and only the sub-tiles whose bound comes
# within ln(n) / beta of the cell's best bound are scored row by row (about 1 in 50).
# Floating-point: the exponents (one product each, the shift included as a last term)
# are within 2 beta (MD + MT) (g + 10u) ~ 1e-3 of their exact values, and the sums of
# n <= 128 positive terms within a relative 1e-5: BOUND_SLACK (beta BOUND_SLACK = 4e-3)
# covers both. A row whose factor underflows scores below MD + MT - 80 / beta: each
# question checks that its threshold lies above that, else the exact path answers it.
# Sub-tiles are kept while scanning (against the best bound so far, a lower one) and cut
# again against the final threshold; `outside` bounds every sub-tile not kept.
PRUNE_ROWS = 128  # divides SUB_ROWS: the padded rows are whole sub-tiles
PRUNE_TILE = 4096
PRUNE_GROUP = 4  # sub-tiles scored together
BETA = 40.0
BOUND_SLACK = 1e-4


@dataclass
class _Pruned:
    """Sub-tiles kept per cell (ascending sub-tile), and bounds on all the others."""

    sub_of: torch.Tensor  # sub-tile of each kept (sub-tile, cell)
    cell_of: torch.Tensor  # its cell
    bound: torch.Tensor  # its bound
    threshold: torch.Tensor  # per cell: a lower bound on its best score, minus margin
    outside: torch.Tensor  # per cell: max bound over the sub-tiles not kept
    cell_shift: torch.Tensor  # per cell: MD + MT


def _cell_margins(grid: _Grid, eps: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """One question per cell (-1: none), and how far below its top bound to search."""
    question = np.full(grid.n_cells, -1)
    question[grid.cell_of] = np.arange(len(grid.cell_of))
    used = question >= 0
    # the best row's sub-tile bound is at most ln(n)/beta + 2 * BOUND_SLACK above it
    slack = math.log(PRUNE_ROWS) / BETA + 2 * BOUND_SLACK
    # a cell without a question keeps nothing (margin -inf: an infinite threshold)
    margin = torch.full((grid.n_cells,), -torch.inf, dtype=torch.float64)
    margin[used] = torch.from_numpy(slack + 3 * eps[question[used]] + 1e-6)
    return question, margin


def _tile_sums(
    pair_exp: torch.Tensor,
    third_exp: torch.Tensor,
    grid: _Grid,
    subs: int,
    buffer: torch.Tensor,
) -> torch.Tensor:
    """Per sub-tile and cell: sum over rows of exp(beta (D - MD) + beta (T - MT))."""
    pairs = pair_exp.view(-1, subs, PRUNE_ROWS).transpose(0, 1)
    thirds = third_exp.view(-1, subs, PRUNE_ROWS).permute(1, 2, 0)
    sums = buffer[: subs * grid.n_cells].view(subs, grid.n_cells)
    for p0, p1, c0, c1, k0 in grid.blocks:
        block = torch.bmm(pairs[:, p0:p1], thirds[:, :, c0:c1])
        sums[:, k0 : k0 + (p1 - p0) * (c1 - c0)] = block.view(subs, -1)
    return sums


def _with_shift(scaled: np.ndarray, shift: np.ndarray) -> torch.Tensor:
    """Rows `scaled` with a last column -shift, as one float32 tensor."""
    return torch.from_numpy(np.hstack([scaled, -shift[:, None]]).astype(np.float32))


def _sub_tile_bounds(
    problem: _Problem,
    augmented: np.ndarray,
    words: np.ndarray,
    grid: _Grid,
    margin: torch.Tensor,
) -> _Pruned:
    """The sub-tiles whose bound comes within `margin` of their cell's top bound."""
    rho = problem.rho * (1 + 1e-5)
    question_units = augmented[words, :-1]
    pair_units = (
        question_units[grid.pair_words[:, 1]] - question_units[grid.pair_words[:, 0]]
    )
    pair_max = np.linalg.norm(pair_units.astype(np.float64), axis=1) * rho + 1e-6
    third_max = rho * rho + 1e-6
    # times the rows (and their ones): beta (D_i - MD) and beta (T_i - MT)
    pair_scaled = _with_shift(pair_units * np.float32(BETA), BETA * pair_max)
    third_units = question_units[grid.third_words] * np.float32(BETA)
    third_scaled = _with_shift(third_units, np.full(len(third_units), BETA * third_max))
    pair_mask, third_mask = _entry_masks(problem, words, grid)
    cell_shift = torch.empty(grid.n_cells)  # MD + MT of each cell
    for p0, p1, c0, c1, k0 in grid.blocks:
        per_pair = torch.from_numpy(pair_max[p0:p1]).float() + third_max
        cell_shift[k0 : k0 + (p1 - p0) * (c1 - c0)] = per_pair.repeat_interleave(
            c1 - c0
        )
    augmented_t = torch.from_numpy(augmented)
    unscored_rows = np.flatnonzero(problem.unscored)
    # in sums: bound >= top bound - margin <=> sum > top sum * exp(-beta margin),
    # here rounded down (more sub-tiles kept)
    factor = (torch.exp(-BETA * margin) * (1 - 1e-5)).float()
    top_sum = torch.zeros(grid.n_cells)
    out_sum = torch.zeros(grid.n_cells)
    kept: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    # buffers reused by every tile (fresh ones would be paged in again each time)
    buffers = [torch.empty(len(t) * PRUNE_TILE) for t in (pair_scaled, third_scaled)]
    sums_buffer = torch.empty(PRUNE_TILE // PRUNE_ROWS * grid.n_cells)
    above_buffer = torch.empty(len(sums_buffer), dtype=torch.bool)
    with torch.no_grad():
        for start in range(0, problem.n_padded, PRUNE_TILE):
            stop = min(start + PRUNE_TILE, problem.n_padded)
            tile_units = augmented_t[start:stop].T
            pair_exp, third_exp = (
                b[: len(t) * (stop - start)].view(len(t), stop - start)
                for b, t in zip(buffers, (pair_scaled, third_scaled))
            )
            _float32_matmul(pair_scaled, tile_units, out=pair_exp)
            pair_mask.apply(pair_exp, start, stop)
            i, j = np.searchsorted(unscored_rows, [start, stop])
            if j > i:
                pair_exp[:, torch.from_numpy(unscored_rows[i:j] - start)] = -torch.inf
            pair_exp.exp_()
            _float32_matmul(third_scaled, tile_units, out=third_exp)
            third_mask.apply(third_exp, start, stop)
            third_exp.exp_()
            subs = (stop - start) // PRUNE_ROWS
            sums = _tile_sums(pair_exp, third_exp, grid, subs, sums_buffer)
            torch.maximum(top_sum, sums.amax(dim=0), out=top_sum)
            limit = top_sum * factor  # bounds every sub-tile not kept
            above = torch.gt(
                sums, limit, out=above_buffer[: sums.numel()].view_as(sums)
            )
            sub, cell = torch.nonzero(above, as_tuple=True)
            kept.append((sub + start // PRUNE_ROWS, cell, sums[sub, cell]))
            torch.maximum(out_sum, limit, out=out_sum)
    sub_of, cell_of, kept_sum = (torch.cat(parts) for parts in zip(*kept))
    return _final_cut(sub_of, cell_of, kept_sum, top_sum, out_sum, cell_shift, margin)


def _final_cut(
    sub_of: torch.Tensor,
    cell_of: torch.Tensor,
    kept_sum: torch.Tensor,
    top_sum: torch.Tensor,
    out_sum: torch.Tensor,
    cell_shift: torch.Tensor,
    margin: torch.Tensor,
) -> _Pruned:
    """Drop the kept sub-tiles below the final threshold; bounds from the sums."""
    shift = cell_shift + BOUND_SLACK
    threshold = (top_sum.log() / BETA + shift - margin).float()
    bound = kept_sum.log_().div_(BETA).add_(shift[cell_of])
    keep = bound >= threshold[cell_of]
    outside = out_sum.log_().div_(BETA).add_(shift)
    outside.scatter_reduce_(0, cell_of[~keep], bound[~keep], "amax")
    return _Pruned(
        sub_of[keep], cell_of[keep], bound[keep], threshold, outside, cell_shift
    )


def _best_in_bounds(
    problem: _Problem,
    augmented: np.ndarray,
    words: np.ndarray,
    means: np.ndarray,
    grid: _Grid,
    eps: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Best row, its score and the runner-up's (or a bound) of every question."""
    question, margin = _cell_margins(grid, eps)
    pruned = _sub_tile_bounds(problem, augmented, words, grid, margin)
    units = augmented[:, :-1]
    used = question >= 0
    cell_means = torch.zeros(grid.n_cells, units.shape[1])
    cell_means[used] = torch.from_numpy(means[question[used]])
    excluded = _excluded_rows(problem, np.maximum(question, 0))
    late = torch.zeros(grid.n_cells)  # see _score_kept
    late[used] = torch.from_numpy(3 * eps[question[used]] + 1e-6).float()
    best_rows, best, second = _score_kept(
        problem, units, pruned, cell_means, excluded, late
    )
    # rows whose exponentials underflowed score below MD + MT - 80 / beta (the floor)
    floor = pruned.cell_shift - 80 / BETA
    second = np.maximum(second, torch.maximum(pruned.outside, floor).numpy())
    # then the exact path decides
    best[(pruned.threshold <= floor + 1e-3).numpy()] = np.nan
    q = grid.cell_of
    return best_rows[q], best[q], second[q], len(pruned.sub_of)


def _excluded_rows(problem: _Problem, questions: np.ndarray) -> torch.Tensor:
    """Rows of every casing of a, b and c per question, padded with repeats."""
    extra = [problem.others[q] for q in questions.tolist()]
    width = max(map(len, extra), default=0)
    rows = np.repeat(problem.rows[questions, :1], 3 + width, axis=1)
    rows[:, :3] = problem.rows[questions]
    for i, others in enumerate(extra):
        if others:
            rows[i, 3 : 3 + len(others)] = others
    return torch.from_numpy(rows)


def _score_kept(
    problem: _Problem,
    units: np.ndarray,
    pruned: _Pruned,
    cell_means: torch.Tensor,
    excluded: torch.Tensor,
    late: torch.Tensor,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per cell: best row, its score and the runner-up over its kept sub-tiles' rows.

    Rows are scored a window of PRUNE_GROUP sub-tiles at a time, for every cell with a
    kept sub-tile in the window; scoring more rows than kept leaves the result valid.
    A kept sub-tile whose bound lies `late` below the cell's best score so far cannot
    hold the best row or one within 2 eps of it: its bound joins pruned.outside.
    """
    n_cells = len(cell_means)
    best = np.full(n_cells, -np.inf, np.float32)
    second = np.full(n_cells, -np.inf, np.float32)
    best_rows = np.zeros(n_cells, np.int64)
    units_t = torch.from_numpy(units)
    unscored = torch.from_numpy(problem.unscored)
    width = PRUNE_ROWS * PRUNE_GROUP
    n_windows = -(-problem.n_padded // width)
    has_unscored = np.zeros(n_windows * width, bool)
    has_unscored[: problem.n_padded] = problem.unscored
    has_unscored = has_unscored.reshape(n_windows, width).any(axis=1)
    window_of = (pruned.sub_of // PRUNE_GROUP).numpy()
    buffer = torch.empty(n_cells * width)  # reused: fresh memory is paged in each time
    edges = np.searchsorted(window_of, np.arange(n_windows + 1))
    with torch.no_grad():
        for number, (lo, hi) in enumerate(itertools.pairwise(edges.tolist())):
            if lo == hi:
                continue
            cells = pruned.cell_of[lo:hi]
            alive = pruned.bound[lo:hi] >= torch.from_numpy(best)[cells] - late[cells]
            dead = ~alive
            pruned.outside.scatter_reduce_(
                0, cells[dead], pruned.bound[lo:hi][dead], "amax"
            )
            cells = torch.unique(cells[alive])
            if not len(cells):
                continue
            start = number * width
            stop = min(start + width, problem.n_padded)
            scores = buffer[: len(cells) * (stop - start)].view(len(cells), -1)
            _float32_matmul(cell_means[cells], units_t[start:stop].T, out=scores)
            if has_unscored[number]:
                scores.masked_fill_(unscored[start:stop], -torch.inf)
            columns = excluded[cells] - start
            inside = (columns >= 0) & (columns < stop - start)
            i, j = torch.nonzero(inside, as_tuple=True)
            scores[i, columns[i, j]] = -torch.inf
            value, where = scores.max(dim=1)
            scores.scatter_(1, where[:, None], -torch.inf)
            runner_up = scores.amax(dim=1).numpy()
            k, value = cells.numpy(), value.numpy()
            second[k] = np.maximum(
                np.maximum(second[k], runner_up), np.minimum(best[k], value)
            )
            improved = value > best[k]
            best_rows[k[improved]] = where.numpy()[improved] + start
            best[k] = np.maximum(best[k], value)
    return best_rows, best, second


def _fast_3cosmul(
    problem: _Problem, max_cells: int, terms: dict[int, np.ndarray]
) -> _Candidates:
    """3CosMul candidates from gensim's own per-word factors: exact scores, no bound."""
    vocab, n = problem.vocab, problem.vocab.n_rows
    words, local = np.unique(problem.rows, return_inverse=True)
    local = local.reshape(problem.rows.shape)
    factor = np.zeros((len(words), problem.n_padded), np.float32)
    for i, row in enumerate(words.tolist()):  # one sgemv per word, as gensim
        if row not in terms:
            terms[row] = _gensim_cosmul_term(vocab, row)
        factor[i, :n] = terms[row]
    shifted = factor + 0.000001  # gensim's denominator, computed as gensim computes it
    factor[:, problem.unscored] = 0  # rows gensim scores NaN: finite here, masked below
    shifted[:, problem.unscored] = 1
    factor_t, shifted_t = torch.from_numpy(factor), torch.from_numpy(shifted)
    grid = _grid(local, problem.sections, max_cells)
    pair_mask, third_mask = _entry_masks(problem, words, grid)
    a_of, b_of = (torch.from_numpy(grid.pair_words[:, k]) for k in (0, 1))
    c_of = torch.from_numpy(grid.third_words)
    unscored = torch.from_numpy(problem.unscored)

    def tables(start: int, stop: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        excluded = torch.zeros(len(a_of), stop - start)  # 0, or -inf where excluded
        pair_mask.apply(excluded, start, stop)
        excluded[:, unscored[start:stop]] = -torch.inf
        third_excluded = torch.zeros(len(c_of), stop - start)
        third_mask.apply(third_excluded, start, stop)
        pair = [factor_t[b_of, start:stop], shifted_t[a_of, start:stop], excluded]
        return pair, [factor_t[c_of, start:stop], third_excluded]

    def combine(cells: torch.Tensor, pair: list, third: list) -> None:
        torch.mul(pair[0], third[0], out=cells)  # gensim: (b * c) / (a + 0.000001)
        cells.div_(pair[1])
        cells.add_(pair[2])
        cells.add_(third[1])

    local_t = torch.from_numpy(local)

    def scores_of(questions: torch.Tensor, start: int, stop: int) -> torch.Tensor:
        a, b, c = (local_t[questions, k] for k in range(3))
        product = factor_t[b, start:stop] * factor_t[c, start:stop]
        return product / shifted_t[a, start:stop]

    best_rows, best, second = _scan_and_refine(
        problem, grid, tables, combine, scores_of
    )
    others: list[np.ndarray | None] = []
    for q, rows in enumerate(problem.others):
        a, b, c = (factor[k, rows] for k in local[q])
        scores = np.prod([b, c], axis=0) / (np.prod([a], axis=0) + 0.000001)
        others.append(scores if rows else None)
    return _Candidates(best_rows, best, second, np.zeros(len(local)), others)


def _word_groups(problem: _Problem, max_words: int) -> list[np.ndarray]:
    """Questions in groups (whole pairs, in file order) of at most ~max_words words."""
    by_pair: dict[tuple[int, int], list[int]] = {}
    for q, (a, b, _) in enumerate(problem.rows.tolist()):
        by_pair.setdefault((a, b), []).append(q)
    groups: list[list[int]] = []
    words: set[int] = set()
    for (a, b), questions in by_pair.items():
        new = {a, b} | {int(problem.rows[q, 2]) for q in questions}
        if not groups or len(words | new) > max_words:
            groups.append([])
            words = set()
        groups[-1].extend(questions)
        words |= new
    return [np.array(sorted(g), np.int64) for g in groups]


def _fast_candidates(
    problem: _Problem, method: str, max_cells: int, terms: dict[int, np.ndarray]
) -> _Candidates:
    """Candidates of every question; 3CosMul in groups that bound its factor tables."""
    if method == "3cosadd":
        return _fast_3cosadd(problem, max_cells)
    # a word's factor table holds one float32 per row: keep the tables to ~200 MB
    max_words = max(32, 50_000_000 // problem.n_padded)
    n = len(problem.rows)
    result = _Candidates(
        np.zeros(n, np.int64),
        np.full(n, np.nan, np.float32),
        np.full(n, np.nan, np.float32),
        np.zeros(n),
        [None] * n,
    )
    for questions in _word_groups(problem, max_words):
        part = _Problem(
            problem.vocab,
            problem.rows[questions],
            [problem.casings[q] for q in questions],
            [problem.others[q] for q in questions],
            [problem.sections[q] for q in questions],
            problem.unscored,
            problem.rho,
            problem.n_padded,
        )
        found = _fast_3cosmul(part, max_cells, terms)
        result.best_rows[questions] = found.best_rows
        result.best[questions] = found.best
        result.second[questions] = found.second
        for i, q in enumerate(questions.tolist()):
            result.others[q] = found.others[i]
        terms.clear()  # free the factor tables; the exact path recomputes what it needs
    return result


def _certified_answers(
    problem: _Problem, candidates: _Candidates, exclude_all_casings: bool
) -> list[str | None]:
    """Answers whose ranking the bounds prove; None where the exact path must decide."""
    margin = 2 * candidates.eps
    gap = candidates.best.astype(np.float64) - candidates.second
    sure = (
        np.isfinite(candidates.best) & np.isfinite(candidates.second) & (gap > margin)
    )
    answers: list[str | None] = [None] * len(problem.rows)
    for q in np.flatnonzero(sure).tolist():
        others = candidates.others[q]
        if others is not None and not exclude_all_casings:
            # gensim does not exclude these casings of a, b, c: if 5 of them outrank
            # the best other word, gensim gives up (then the exact path decides)
            diff = others.astype(np.float64) - candidates.best[q]
            unsure = ~np.isfinite(diff) | (np.abs(diff) <= margin[q])
            if np.any(unsure) or np.sum(diff > 0) >= GENSIM_TOPN:
                continue
        answers[q] = problem.vocab.words[int(candidates.best_rows[q])]
    return answers


# --------------------------------------------------------------------------------------


def _exact_answer(
    vocab: _Vocabulary,
    method: str,
    q_rows: np.ndarray,
    ignore: set[str],
    casing_rows: list[int],
    exclude_all_casings: bool,
    terms: dict[int, np.ndarray],
) -> str | None:
    """One question answered exactly as gensim's evaluator (with `method`) does."""
    a, b, c = (int(r) for r in q_rows)
    if method == "3cosadd":
        scores = _gensim_3cosadd_scores(vocab, a, b, c)
        question_rows: Sequence[int] = [b, c, a]  # most_similar: a list of 3
    else:
        scores = _gensim_3cosmul_scores(vocab, a, b, c, terms)
        question_rows = sorted({a, b, c})  # most_similar_cosmul: a set
    if exclude_all_casings:
        return _answer_excluding_casings(scores, set(casing_rows), vocab.words)
    return _gensim_answer(scores, question_rows, ignore, vocab.words)


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cycle collector: with 400,000 keys alive, each pass costs 0.1 s."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _answers(
    vocab: _Vocabulary,
    covered: list[AnalogyQuestion],
    method: str,
    exclude_all_casings: bool,
    max_cells: int,
) -> list[str]:
    """The answer (normalised word, or "" for none) gensim gives to each question."""
    ok = vocab.ok_vocab
    abc = (word for q in covered for word in (q.a, q.b, q.c))
    rows = np.fromiter(map(ok.__getitem__, abc), np.int64, 3 * len(covered))
    rows = rows.reshape(-1, 3)
    # sorted rows: a repeated row sits next to its twin
    casings = [
        r if r[0] != r[1] != r[2] else sorted(set(r))
        for r in np.sort(rows, axis=1).tolist()
    ]
    others: list[list[int]] = [[] for _ in covered]
    for i, q in enumerate(covered if vocab.more_casings else []):
        for word in (q.a, q.b, q.c):
            if word in vocab.more_casings:
                others[i] += [
                    r for r in vocab.more_casings[word] if r not in casings[i]
                ]
        if others[i]:
            casings[i] = sorted(set(casings[i] + others[i]))
            others[i] = sorted(set(others[i]))
    answers: list[str | None] = [None] * len(covered)
    terms: dict[int, np.ndarray] = {}
    LAST_RUN.clear()
    nan_rows, rho, sane = _row_health(vocab)
    fast = (
        sane
        and vocab.vectors.dtype == np.float32
        and len(covered) > 0
        and vocab.n_rows - int(nan_rows.sum()) >= MIN_FAST_ROWS
    )
    if fast:
        n_padded = -(-vocab.n_rows // SUB_ROWS) * SUB_ROWS
        unscored = np.ones(n_padded, bool)
        unscored[: vocab.n_rows] = nan_rows
        sections = [q.section for q in covered]
        problem = _Problem(
            vocab, rows, casings, others, sections, unscored, rho, n_padded
        )
        candidates = _fast_candidates(problem, method, max_cells, terms)
        candidates.best[nan_rows[rows].any(axis=1)] = np.nan  # NaN question words
        answers = _certified_answers(problem, candidates, exclude_all_casings)
    exact = [i for i, answer in enumerate(answers) if answer is None]
    for i in exact:
        q = covered[i]
        if len(terms) > 1000:
            terms.clear()
        answers[i] = _exact_answer(
            vocab,
            method,
            rows[i],
            {q.a, q.b, q.c},
            casings[i],
            exclude_all_casings,
            terms,
        )
    LAST_RUN.update(covered=len(covered), exact=len(exact), fast=int(fast))
    return [answer or "" for answer in answers]


def evaluate_analogies(
    keyed_vectors: KeyedVectors,
    analogies_path: str | Path,
    restrict_vocab: int | None = 300_000,
    case_insensitive: bool = True,
    *,
    method: str = "3cosadd",
    exclude_all_casings: bool = False,
    dummy4unknown: bool = False,
    chunk_size: int = 2048,
    report_malformed: bool = True,
) -> tuple[float, list[dict]]:
    """gensim's `evaluate_word_analogies`, same answers, many times faster.

    `(total_accuracy, sections)` shaped like gensim's; the last section is
    "Total accuracy".
    method="3cosadd": gensim's answers exactly (most_similar(positive=[b, c],
    negative=[a], topn=5), its first casing of each word, its float32 rounding).
    method="3cosmul" (Levy & Goldberg 2014): the answers gensim's evaluator would give
    with most_similar_cosmul in place of most_similar, searching the first
    `restrict_vocab` words (gensim 4.4's most_similar_cosmul ignores restrict_vocab).
    Like gensim, only the most frequent casing of a, b and c is excluded and only the
    top 5 are read: when five other casings of a question word outrank every other
    word, the fifth is the answer. exclude_all_casings=True excludes every casing and
    answers with the best other word. Rows gensim scores as NaN (all zeros, NaN, inf)
    never win. A question line before the first section is skipped (gensim raises).
    """
    method = method.lower()
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}.")
    if (
        isinstance(chunk_size, bool)
        or not isinstance(chunk_size, int)
        or chunk_size < 1
    ):
        raise ValueError(
            f"chunk_size is the number of questions scored at once; it must be a "
            f"positive integer, got {chunk_size!r}."
        )
    path = Path(analogies_path)
    with np.errstate(invalid="ignore", divide="ignore"), _no_cyclic_gc():
        # (np.errstate: rows that are all zeros give NaN scores, as in gensim)
        section_names, questions, malformed = read_analogies(path, case_insensitive)
        if malformed and report_malformed:
            print(f"skipped {malformed} malformed line(s) in {path.name}")
        vocab = _vocabulary(keyed_vectors, restrict_vocab, case_insensitive)
        ok = vocab.ok_vocab
        covered = [
            q
            for q in questions
            if q.a in ok and q.b in ok and q.c in ok and q.expected in ok
        ]
        answers = _answers(vocab, covered, method, exclude_all_casings, chunk_size)
        return _scores(
            section_names,
            questions,
            dict(zip(map(id, covered), answers)),
            dummy4unknown,
        )


def _scores(
    section_names: list[str],
    questions: list[AnalogyQuestion],
    answer_of: dict[int, str],
    dummy4unknown: bool,
) -> tuple[float, list[dict]]:
    """gensim's result: accuracy and sections of correct/incorrect quadruplets."""
    results = [
        {"section": name, "correct": [], "incorrect": []} for name in section_names
    ]
    for q in questions:
        quad = (q.a, q.b, q.c, q.expected)
        if id(q) in answer_of:
            right = answer_of[id(q)] == q.expected
            results[q.section]["correct" if right else "incorrect"].append(quad)
        elif dummy4unknown:
            results[q.section]["incorrect"].append(quad)
    total = {
        "section": "Total accuracy",
        "correct": [t for s in results for t in s["correct"]],
        "incorrect": [t for s in results for t in s["incorrect"]],
    }
    n_total = len(total["correct"]) + len(total["incorrect"])
    accuracy = len(total["correct"]) / n_total if n_total else 0.0
    return accuracy, results + [total]


def analogy_table(sections: list[dict]) -> pd.DataFrame:
    """Per-section accuracy table from `evaluate_analogies` or gensim's sections."""
    rows = []
    for s in sections:
        n = len(s["correct"]) + len(s["incorrect"])
        rows.append(
            {
                "section": s["section"],
                "covered": n,
                "correct": len(s["correct"]),
                "accuracy": len(s["correct"]) / n if n else float("nan"),
            }
        )
    return pd.DataFrame(rows).set_index("section")
