"""Symmetric n-gram-set overlap between sequences of strings, vectorised.

LinguisticLens compares two rows by the overlap of their 1-, 2- and 3-gram
sets (of POS tags, dependency labels or tokens), averaged over the orders. It
divides by the first row's n-gram count, so sim(a, b) != sim(b, a), and it
loops over all pairs in Python. Lens uses the symmetric version of the same
idea, the Jaccard index of the two n-gram sets:

    J_n(a, b) = |A_n ∩ B_n| / |A_n ∪ B_n|

and averages it over the orders n for which at least one of the two
sequences has an n-gram (two 1-token rows have no 2-grams: that order says
nothing about them, so it is left out of their average rather than counted
as 0 or 1). Two identical sequences therefore always score 1.

How it is vectorised: each order becomes a binary sparse matrix M (rows ×
distinct n-grams). Then M @ M.T counts the shared n-grams of every pair, and
|A ∪ B| = |A| + |B| - |A ∩ B|. Products are taken a block of rows at a time
so memory stays at (block rows × columns), never n × n unless asked for.

The module knows nothing about spaCy: anything that is a list of strings per
row (tags, labels, words, template slots) works.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import scipy.sparse as sp

DEFAULT_ORDERS: tuple[int, ...] = (1, 2, 3)

# A similarity block holds at most about this many cells (float64: ~128 MB
# with the intermediate arrays). Block height = this // number of columns.
_BLOCK_CELLS = 4_000_000


def ngram_set_matrix(
    sequences: Sequence[Sequence[str]], orders: Sequence[int] = DEFAULT_ORDERS
) -> list[sp.csr_matrix]:
    """One binary row × n-gram matrix per order (1 where the row has the n-gram).

    Column numbering is deterministic (by n-gram id) but meaningless; a row
    shorter than n has an empty row in order n's matrix. Vectorised: tokens
    become integer ids once, and an n-gram's id is the pair
    (id of its first n−1 tokens, id of its last token), renumbered densely
    at each order, so no Python loop runs per n-gram.
    """
    if any(n < 1 for n in orders):
        raise ValueError(f"n-gram orders must be ≥ 1, got {tuple(orders)}")
    id_of: dict[str, int] = {}
    token_ids = np.fromiter(
        (id_of.setdefault(token, len(id_of)) for seq in sequences for token in seq), dtype=np.int64
    )
    lengths = np.fromiter((len(seq) for seq in sequences), dtype=np.int64, count=len(sequences))
    row_of_token = np.repeat(np.arange(len(sequences)), lengths)
    row_starts = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(lengths) else lengths
    position_in_row = np.arange(len(token_ids)) - np.repeat(row_starts, lengths)
    tokens_left = lengths[row_of_token] - position_in_row  # tokens from here to the row's end

    matrices: dict[int, sp.csr_matrix] = {}
    gram_ids = token_ids  # ids of the n-grams starting at each token (valid where tokens_left ≥ n)
    for n in range(1, max(orders, default=0) + 1):
        if n > 1:
            starts = np.flatnonzero(tokens_left >= n)
            pair = gram_ids[starts] * (len(id_of) + 1) + token_ids[starts + n - 1]
            gram_ids = np.full(len(token_ids), -1, dtype=np.int64)
            _, gram_ids[starts] = np.unique(pair, return_inverse=True)
        if n in orders:
            starts = np.flatnonzero(tokens_left >= n)
            n_columns = int(gram_ids[starts].max()) + 1 if len(starts) else 1
            matrix = sp.csr_matrix(
                (np.ones(len(starts)), (row_of_token[starts], gram_ids[starts])),
                shape=(len(sequences), n_columns),
            )
            matrix.sum_duplicates()
            matrix.data[:] = 1.0  # a set: an n-gram twice in a row still counts once
            matrices[n] = matrix
    return [matrices[n] for n in orders]


def ngram_feature_vectors(
    sequences: Sequence[Sequence[str]], orders: Sequence[int] = DEFAULT_ORDERS
) -> sp.csr_matrix:
    """Sparse vectors whose dot product is the n-gram-set overlap as a cosine.

    Each order's binary row is scaled to unit length and by 1/sqrt(#orders),
    and the orders are placed side by side, so

        x_a · x_b = mean over orders of |A_n ∩ B_n| / sqrt(|A_n| |B_n|)

    (the Ochiai coefficient, the set version of cosine similarity). Jaccard is
    not an inner product, but this is, and it ranks pairs almost the same way;
    Euclidean methods (Ward, k-means, SVD) need exactly this kind of vector.
    """
    blocks = ngram_set_matrix(sequences, orders)
    scale = 1.0 / np.sqrt(len(blocks))
    scaled = []
    for block in blocks:
        lengths = np.sqrt(np.asarray(block.sum(axis=1)).ravel())
        lengths[lengths == 0] = 1.0  # empty rows stay zero
        scaled.append(sp.diags(scale / lengths) @ block)
    return sp.hstack(scaled, format="csr")


def _ngram_matrices_for(
    sequences: Sequence[Sequence[str]],
    others: Sequence[Sequence[str]] | None,
    orders: Sequence[int],
) -> tuple[list[sp.csr_matrix], list[sp.csr_matrix]]:
    """n-gram matrices of ``sequences`` and ``others`` over one shared vocabulary."""
    if others is None:
        mats = ngram_set_matrix(sequences, orders)
        return mats, mats
    both = ngram_set_matrix(list(sequences) + list(others), orders)
    n = len(sequences)
    return [m[:n] for m in both], [m[n:] for m in both]


def _block_rows(n_columns: int, block_rows: int | None) -> int:
    if block_rows is not None:
        return max(1, block_rows)
    return max(1, _BLOCK_CELLS // max(n_columns, 1))


def _overlap_block(
    left: list[sp.csr_matrix],
    left_sizes: list[np.ndarray],
    right_transposed: list[sp.csc_matrix],
    right_sizes: list[np.ndarray],
) -> np.ndarray:
    """Overlap of every left row with every right row (dense, float64)."""
    total = np.zeros((left[0].shape[0], right_transposed[0].shape[1]))
    orders_counted = np.zeros_like(total)
    for m, rt, ls, rs in zip(left, right_transposed, left_sizes, right_sizes):
        shared = (m @ rt).toarray()  # |A ∩ B| for every pair
        union = ls[:, None] + rs[None, :] - shared
        has_ngrams = union > 0
        total += np.divide(shared, union, out=np.zeros_like(shared), where=has_ngrams)
        orders_counted += has_ngrams
    # Two empty sequences: no order applies; they are identical, so 1.
    return np.divide(total, orders_counted, out=np.ones_like(total), where=orders_counted > 0)


def _row_sizes(matrices: list[sp.csr_matrix]) -> list[np.ndarray]:
    """|A_n| per row, one array per order."""
    return [np.asarray(m.sum(axis=1)).ravel() for m in matrices]


def iter_overlap_blocks(
    sequences: Sequence[Sequence[str]],
    others: Sequence[Sequence[str]] | None = None,
    orders: Sequence[int] = DEFAULT_ORDERS,
    block_rows: int | None = None,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_row, block)``: the overlap of rows first_row.. with all of ``others``.

    ``others`` defaults to ``sequences`` themselves. Each block is a dense
    float64 array of shape (block height, len(others)).
    """
    left, right = _ngram_matrices_for(sequences, others, orders)
    left_sizes, right_sizes = _row_sizes(left), _row_sizes(right)
    right_transposed = [m.T.tocsc() for m in right]
    n_right = right[0].shape[0]
    step = _block_rows(n_right, block_rows)
    for start in range(0, len(sequences), step):
        rows = slice(start, min(start + step, len(sequences)))
        yield start, _overlap_block(
            [m[rows] for m in left], [s[rows] for s in left_sizes], right_transposed, right_sizes
        )


def overlap_similarity(
    sequences: Sequence[Sequence[str]],
    others: Sequence[Sequence[str]] | None = None,
    orders: Sequence[int] = DEFAULT_ORDERS,
    block_rows: int | None = None,
) -> np.ndarray:
    """Dense matrix of n-gram-set overlap, float32, shape (len(sequences), len(others)).

    With ``others`` omitted it is the symmetric n × n matrix with 1 on the
    diagonal. Use it for a few thousand rows; past that use ``similar_pairs``.
    """
    n_right = len(sequences) if others is None else len(others)
    result = np.empty((len(sequences), n_right), dtype=np.float32)
    for start, block in iter_overlap_blocks(sequences, others, orders, block_rows):
        result[start : start + len(block)] = block
    return result


def similar_pairs(
    sequences: Sequence[Sequence[str]],
    threshold: float,
    orders: Sequence[int] = DEFAULT_ORDERS,
    block_rows: int | None = None,
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, sim)`` with i < j and overlap ≥ ``threshold``, sorted by (i, j).

    Works a block of rows at a time and scores each block only against the
    rows after it (the upper triangle), so memory is bounded by the block
    size whatever n is. Time is still quadratic in n (every pair is scored):
    for many rows, pass the distinct sequences (e.g. distinct templates).
    """
    matrices = ngram_set_matrix(sequences, orders)
    sizes = _row_sizes(matrices)
    n = len(sequences)
    step = _block_rows(n, block_rows)
    transposed = [m.T.tocsc() for m in matrices]  # column slices of CSC are cheap
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, n, step):
        stop = min(start + step, n)
        # Columns start.. only: pairs with an earlier row were found before.
        block = _overlap_block(
            [m[start:stop] for m in matrices],
            [s[start:stop] for s in sizes],
            [t[:, start:] for t in transposed],
            [s[start:] for s in sizes],
        )
        rows, cols = np.nonzero(block >= threshold)
        upper = cols > rows  # (row, row + offset): skip each row with itself
        for r, c in zip(rows[upper].tolist(), cols[upper].tolist()):
            pairs.append((start + r, start + c, float(block[r, c])))
    return pairs


class GrowingOverlap:
    """``overlap_similarity(new, items)`` for a list of items that only grows.

    A :class:`~lens_engine.neighbours.PairIndex` appends new items to its list and
    scores them against the whole list. Rebuilding every item's n-gram matrix for
    that took most of a warm template pass; this keeps the n-gram sets of the
    items it has seen, so scoring a few new sequences against thousands is one
    sparse product per order. Scores equal :func:`overlap_similarity`'s.
    """

    def __init__(self, orders: Sequence[int] = DEFAULT_ORDERS):
        self.orders = tuple(orders)
        self._reset(None)

    def _reset(self, items: Sequence[Sequence[str]] | None) -> None:
        self._items = items  # the list whose prefix is indexed (the PairIndex's own)
        self._count = 0
        self._columns: list[dict[tuple[str, ...], int]] = [{} for _ in self.orders]
        self._indices: list[np.ndarray] = [np.zeros(0, np.int64) for _ in self.orders]
        self._indptr: list[np.ndarray] = [np.zeros(1, np.int64) for _ in self.orders]

    def learn(self, items: Sequence[Sequence[str]]) -> None:
        """Index the items not seen yet (``items`` must extend the list seen before)."""
        if items is not self._items or len(items) < self._count:
            self._reset(items)
        fresh = items[self._count :]
        if not fresh:
            return
        for k, n in enumerate(self.orders):
            columns = self._columns[k]
            rows = [sorted({columns.setdefault(tuple(seq[i : i + n]), len(columns)) for i in range(len(seq) - n + 1)})
                    for seq in fresh]
            lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
            flat = np.fromiter((c for r in rows for c in r), dtype=np.int64, count=int(lengths.sum()))
            self._indices[k] = np.concatenate((self._indices[k], flat))
            self._indptr[k] = np.concatenate((self._indptr[k], self._indptr[k][-1] + np.cumsum(lengths)))
        self._count = len(items)

    def _matrices(self, rows: slice) -> list[sp.csr_matrix]:
        out = []
        for k in range(len(self.orders)):
            indptr = self._indptr[k][rows.start : rows.stop + 1]
            indices = self._indices[k][indptr[0] : indptr[-1]]
            out.append(sp.csr_matrix((np.ones(len(indices)), indices, indptr - indptr[0]),
                                     shape=(rows.stop - rows.start, max(len(self._columns[k]), 1))))
        return out

    def __call__(self, sequences: Sequence[Sequence[str]], items: Sequence[Sequence[str]]) -> np.ndarray:
        """Overlap of each of ``sequences`` (a run of ``items`` itself, as a PairIndex
        passes them) with every item."""
        self.learn(items)
        first = _run_start(sequences, items)
        if first is None:
            return overlap_similarity(sequences, items)  # not a run of the items: score from scratch
        right = self._matrices(slice(0, len(items)))
        rows = slice(first, first + len(sequences))
        sizes = _row_sizes(right)
        return _overlap_block([m[rows] for m in right], [s[rows] for s in sizes], [m.T for m in right],
                              sizes).astype(np.float32)


def _run_start(run: Sequence[object], items: Sequence[object]) -> int | None:
    """Where ``run`` (the same objects, in order) starts in ``items``; None if it doesn't."""
    if not run:
        return None
    for start in range(len(items) - len(run), -1, -1):  # new items sit at the end
        if items[start] is run[0]:
            return start if all(a is b for a, b in zip(run, items[start:])) else None
    return None
