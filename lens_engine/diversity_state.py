"""Corpus diversity scores kept warm between analyses of one document.

:func:`lens_engine.diversity.diversity_scores` recomputes every score from the rows: about
half a second at 10k rows, nearly all of it re-tokenising, re-sorting and re-compressing
rows an edit did not touch.  A :class:`DiversityState` keeps what the rows' content fixes:

* per distinct row text, the ids of its n-grams in each tokenisation the scores use (one
  growing id space per tokenisation), so a count over the corpus is a ``bincount`` over
  cached ids instead of a sort of every n-gram; and all rows' ids joined, which an edit
  patches where it changed rows;
* the gzip compressor's state at checkpoints of the joined rows, so an edit recompresses
  from the last checkpoint before it (deflate's output does not depend on how its input
  is chunked, so the bytes are the same as one call's);
* the Gram matrix, sum and Chamfer nearest neighbours of the embeddings, updated for the
  rows that changed.

The numbers are those of ``diversity_scores`` (tests/engine/test_diversity_state.py checks
a sequence of edits against it): the lexical and template scores exactly, the embedding
scores up to float rounding.
"""

from __future__ import annotations

import math
import threading
import zlib
from collections.abc import Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import diversity as dv
from .syntax import TaggedText
from .text import changed_rows, words

# ---------------------------------------------------------------------------
# Compression from checkpoints
# ---------------------------------------------------------------------------

class CheckpointedDeflate:
    """Raw deflate (level 9) of a payload that changes a little between calls.

    Keeps a copy of the compressor every ``step`` input bytes; the next payload is
    compressed from the last checkpoint whose input prefix it shares.  A copy holds
    zlib's ~256 KB of state, so the default (32 checkpoints of at least 32 KB) keeps
    8 MB per payload series and recompresses 20 KB on average before an edited byte."""

    def __init__(self, checkpoints: int = 32, min_step: int = 1 << 15):
        self.checkpoints = checkpoints
        self.min_step = min_step
        self._payload = b""
        self._marks: list[tuple[int, object, int]] = []  # (input offset, compressor, output length)
        self._output = bytearray()
        self.resumed_at = 0  # input offset the last call compressed from (for tests and benches)

    def raw(self, payload: bytes) -> bytes:
        keep = self._marks_within_shared_prefix(payload)
        del self._marks[keep:]
        if keep:
            start, saved, out_length = self._marks[-1]
            compressor = saved.copy()
        else:
            start, out_length = 0, 0
            compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
        del self._output[out_length:]
        self.resumed_at = start
        new = memoryview(payload)
        step = max(self.min_step, len(payload) // self.checkpoints)
        for offset in range(start, len(payload), step):
            self._output += compressor.compress(new[offset: offset + step])
            end = min(offset + step, len(payload))
            if end < len(payload):
                self._marks.append((end, compressor.copy(), len(self._output)))
        self._payload = payload
        return bytes(self._output) + compressor.flush()

    def _marks_within_shared_prefix(self, payload: bytes) -> int:
        """How many checkpoints lie inside the prefix ``payload`` shares with the last payload.

        A binary search: sharing a prefix is monotone in its length.  Bytes slices, because
        comparing memoryviews goes item by item, ten times slower, holding the GIL."""
        old = self._payload
        low, high = 0, len(self._marks)
        while low < high:
            middle = (low + high + 1) // 2
            offset = self._marks[middle - 1][0]
            if offset <= len(payload) and payload[:offset] == old[:offset]:
                low = middle
            else:
                high = middle - 1
        return low


# zlib releases the GIL: compressions run on this thread beside the Python work (one thread:
# the other core is the analysis's, and a third runnable thread on 2 cores slowed it by half).
_COMPRESSORS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lens-gzip")


class _CompressionRatio:
    """The compression ratio of one payload series (the rows, or their tags), computed
    on a compressor thread; asked for early, it is ready by the time the scores are."""

    def __init__(self) -> None:
        self._deflate = CheckpointedDeflate()
        self._lock = threading.Lock()  # one compression at a time per series
        self._pending: tuple[bytes, Future] | None = None
        self._pending_lock = threading.Lock()

    def of(self, payload: bytes) -> Future:
        with self._pending_lock:
            pending = self._pending
            if pending is not None and pending[0] == payload:
                return pending[1]
            future = _COMPRESSORS.submit(self._ratio, payload)
            self._pending = (payload, future)
            return future

    def value(self, payload: bytes) -> float:
        """The ratio: the compressor thread's if it has started on it, else computed on the
        calling thread, which would otherwise only wait while that thread does the other
        series (both cores then compress; a second compressor thread running beside the
        analysis's own work made every edit slower)."""
        future = self.of(payload)
        if not future.cancel():
            return future.result()
        with self._pending_lock:
            if self._pending is not None and self._pending[1] is future:
                self._pending = None
        return self._ratio(payload)

    def _ratio(self, payload: bytes) -> float:
        with self._lock:
            raw = self._deflate.raw(payload)
        return len(payload) / dv.package_gzip_size(dv.gzip_of_raw(payload, raw))


# ---------------------------------------------------------------------------
# N-gram ids per row text
# ---------------------------------------------------------------------------


class _GramIds:
    """A growing id space: each distinct n-gram (a tuple of tokens) gets the next id."""

    def __init__(self) -> None:
        self.ids: dict[tuple, int] = {}
        self.grams: list[tuple] = []

    def __len__(self) -> int:
        return len(self.ids)

    def of(self, grams: list[tuple]) -> np.ndarray:
        ids, known = self.ids, self.grams
        out = np.empty(len(grams), dtype=np.int64)
        for i, g in enumerate(grams):
            k = ids.get(g)
            if k is None:
                k = ids[g] = len(known)
                known.append(g)
            out[i] = k
        return out


def _windows(tokens: Sequence[str], n: int) -> list[tuple]:
    return [tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1)]


@dataclass(slots=True)
class _RowGrams:
    """What one row text contributes to the lexical scores."""

    self_repetition: np.ndarray  # ids of its distinct whitespace 4-grams
    repetition: np.ndarray  # ids of its distinct word 4-grams (lens_engine.text.words)
    distinct: np.ndarray  # ids of its space-split 1..4-grams, every occurrence
    whitespace_words: int
    tokens: int  # space-split tokens
    head: tuple[str, ...]  # first 3 space-split tokens
    tail: tuple[str, ...]  # last 3


@dataclass(slots=True)
class _RowIds:
    """Every row's n-gram ids back to back, with the row of each: what the corpus counts are
    bincounts over.  An edit patches the few rows it changed instead of joining 10k arrays
    again."""

    ids: np.ndarray
    row_of: np.ndarray
    lengths: np.ndarray  # ids per row

    @staticmethod
    def of(per_row: list[np.ndarray]) -> _RowIds:
        lengths = np.fromiter(map(len, per_row), dtype=np.int64, count=len(per_row))
        ids = np.concatenate(per_row) if per_row else np.zeros(0, dtype=np.int64)
        return _RowIds(ids, np.repeat(np.arange(len(per_row), dtype=np.int64), lengths), lengths)

    def patched(self, rows: list[int], new: list[np.ndarray]) -> _RowIds:
        """The same rows, but ``rows`` (ascending) holding ``new``."""
        ends = np.cumsum(self.lengths)
        ids, row_of, at = [], [], 0
        for r, row_ids in zip(rows, new):
            start = int(ends[r] - self.lengths[r])
            ids += [self.ids[at:start], row_ids]
            row_of += [self.row_of[at:start], np.full(len(row_ids), r, dtype=np.int64)]
            at = int(ends[r])
        ids.append(self.ids[at:])
        row_of.append(self.row_of[at:])
        lengths = self.lengths.copy()
        lengths[rows] = [len(row_ids) for row_ids in new]
        return _RowIds(np.concatenate(ids), np.concatenate(row_of), lengths)


@dataclass(slots=True)
class _RowTable:
    """The last call's rows (their texts and :class:`_RowGrams`) with their ids joined."""

    texts: list[str]
    rows: list[_RowGrams]
    self_repetition: _RowIds
    repetition: _RowIds
    distinct: _RowIds
    tokens: int
    whitespace_words: np.ndarray  # per row

    @staticmethod
    def of(texts: list[str], rows: list[_RowGrams]) -> _RowTable:
        return _RowTable(list(texts), rows, _RowIds.of([r.self_repetition for r in rows]),
                         _RowIds.of([r.repetition for r in rows]), _RowIds.of([r.distinct for r in rows]),
                         sum(r.tokens for r in rows),
                         np.fromiter((r.whitespace_words for r in rows), dtype=np.float64, count=len(rows)))

    def patched(self, texts: list[str], changed: list[int], new: list[_RowGrams]) -> _RowTable:
        rows = list(self.rows)
        whitespace_words = self.whitespace_words.copy()
        tokens = self.tokens
        for i, row in zip(changed, new):
            tokens += row.tokens - rows[i].tokens
            rows[i] = row
            whitespace_words[i] = row.whitespace_words
        return _RowTable(list(texts), rows,
                         self.self_repetition.patched(changed, [r.self_repetition for r in new]),
                         self.repetition.patched(changed, [r.repetition for r in new]),
                         self.distinct.patched(changed, [r.distinct for r in new]), tokens, whitespace_words)


_CROSS_WIDTH = 6  # n-grams over a boundary between two rows of ≥ 3 tokens: 1 + 2 + 3


class DiversityState:
    """Warm inputs of :func:`lens_engine.diversity.diversity_scores` for one document column."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.used = False  # set by the caller after a document's first (one-pass) scores
        self._reset()

    def _reset(self) -> None:
        self._self_ids = _GramIds()
        self._word_ids = _GramIds()
        self._space_ids = _GramIds()
        self._space_order = np.zeros(0, dtype=np.int64)  # order (n) of each space-split n-gram id
        self._last_crossing: tuple[list[str], np.ndarray] | None = None
        self._pos_ids = _GramIds()
        self._rows: dict[str, _RowGrams] = {}
        self._table: _RowTable | None = None  # the last call's rows, ids joined
        self._pos_table: tuple[list[TaggedText], _RowIds] | None = None
        self._pos_rows: dict[tuple[str, ...], np.ndarray] = {}
        self._cross: dict[tuple[str, str], tuple[int, ...]] = {}
        self._text_ratio = _CompressionRatio()
        self._pos_ratio = _CompressionRatio()
        self._pos_payload: tuple[list[TaggedText], bytes] | None = None
        self._sampled: tuple[tuple[str, ...], float, float] | None = None
        self._embeddings = _EmbeddingState()

    # -- the scores ------------------------------------------------------------------

    def scores(self, texts: list[str], tagged: list[TaggedText] | None = None,
               embeddings: np.ndarray | None = None, keys: Sequence[Hashable] | None = None, *,
               sample_size: int = 500, seed: int = 0) -> dv.DiversityScores:
        """Same as ``diversity_scores(texts, tagged, embeddings, sample_size=…, seed=…)``.

        ``keys`` (one per row, equal for equal texts) lets the embedding scores find the
        changed rows; without it the texts are the keys."""
        n_rows = len(texts)
        if tagged is not None and len(tagged) != n_rows:
            raise ValueError(f"{len(tagged)} tagged rows for {n_rows} texts")
        if embeddings is not None and len(embeddings) != n_rows:
            raise ValueError(f"{len(embeddings)} embeddings for {n_rows} texts")
        scores = dv.DiversityScores(n_rows=n_rows, seed=seed)
        if n_rows == 0:
            return scores
        with self._lock:
            text_payload, pos_payload = self.compress(texts, tagged)
            table = self._row_table(texts)
            self._lexical(scores, texts, table, sample_size, seed)
            if tagged is not None:
                dv.template_fields(scores, self._templates(tagged, table))
            if embeddings is not None:
                self._embeddings.fill(scores, embeddings, list(keys) if keys is not None else texts,
                                      dv.sample_rows(n_rows, sample_size, seed))
            # The rows' ratio first: queued behind the tags' (the longer compression), it is
            # done here if the compressor thread has not reached it yet.
            scores.compression_ratio = self._text_ratio.value(text_payload)
            scores.pos_compression_ratio = self._pos_ratio.value(pos_payload) if pos_payload is not None else None
            self._trim(texts, tagged)
        return scores

    def compress(self, texts: list[str], tagged: list[TaggedText] | None = None) -> tuple[bytes, bytes | None]:
        """Queue the compressions of these rows and their tags on the compressor thread (or
        find them queued); return the payloads (rows, tags) for :meth:`_CompressionRatio.value`.

        An analysis calls this as soon as it has the tags (without tags: the rows), so the
        compressions run on another core while the findings are made."""
        text_payload = " ".join(texts).encode("utf-8")
        if tagged is None:
            self._text_ratio.of(text_payload)
            return text_payload, None
        last = self._pos_payload
        if last is None or last[0] != tagged:  # the same rows' tags: don't join them again
            last = self._pos_payload = (list(tagged), " ".join([" ".join(t.pos) for t in tagged]).encode("utf-8"))
        # The tags first: theirs is the longer compression (level-9 deflate is slow on the
        # repetitive tag text); the rows' is the one the scores take over if still queued.
        self._pos_ratio.of(last[1])
        self._text_ratio.of(text_payload)
        return text_payload, last[1]

    # -- lexical ---------------------------------------------------------------------

    def _row_table(self, texts: list[str]) -> _RowTable:
        """The rows' n-gram ids: the last call's, patched where an edit changed rows."""
        last = self._table
        changed = changed_rows(last.texts, texts) if last is not None else None
        if changed is None:
            table = _RowTable.of(texts, self._row_grams(texts))
        else:
            table = last.patched(texts, changed, self._row_grams([texts[i] for i in changed]))
        self._table = table
        return table

    def _row_grams(self, texts: list[str]) -> list[_RowGrams]:
        cache = self._rows
        out = []
        for text in texts:
            row = cache.get(text)
            if row is None:
                row = cache[text] = self._new_row(text)
            out.append(row)
        return out

    def _new_row(self, text: str) -> _RowGrams:
        split = text.split()
        spaced = text.split(" ")
        grams = [g for n in range(1, dv.DISTINCT_MAX_N + 1) for g in _windows(spaced, n)]
        distinct = self._space_ids.of(grams)
        return _RowGrams(
            self_repetition=self._self_ids.of(list(dict.fromkeys(_windows(split, dv.SELF_REPETITION_N)))),
            repetition=self._word_ids.of(list(dict.fromkeys(_windows(words(text), 4)))),
            distinct=distinct,
            whitespace_words=len(split),
            tokens=len(spaced),
            head=tuple(spaced[:3]),
            tail=tuple(spaced[-3:]),
        )

    def _orders(self) -> np.ndarray:
        """The order n of each space-split n-gram id."""
        order, grams = self._space_order, self._space_ids.grams
        if order.size < len(grams):
            self._space_order = order = np.concatenate(
                [order, np.fromiter(map(len, grams[order.size:]), dtype=np.int64)])
        return order

    def _lexical(self, scores: dv.DiversityScores, texts: list[str], table: _RowTable,
                 sample_size: int, seed: int) -> None:
        n = len(texts)
        distinct = self._distinct_n(texts, table)
        scores.distinct_1, scores.distinct_2, scores.distinct_3, scores.distinct_4 = distinct
        scores.ngram_diversity = math.fsum(distinct)

        ids, row_of = table.self_repetition.ids, table.self_repetition.row_of
        rows_containing = np.bincount(ids, minlength=len(self._self_ids))
        in_other_rows = np.bincount(row_of, weights=rows_containing[ids] - 1, minlength=n)
        per_row = np.log(in_other_rows + 1)
        scores.self_repetition, scores.row_self_repetition = float(per_row.mean()), per_row

        ids, row_of = table.repetition.ids, table.repetition.row_of
        rows_containing = np.bincount(ids, minlength=len(self._word_ids))
        total = np.bincount(row_of, minlength=n)
        shared = np.bincount(row_of, weights=rows_containing[ids] > 1, minlength=n)
        scores.row_repetition = np.divide(shared, total, out=np.zeros(n), where=total > 0)

        sample = dv.sample_rows(n, sample_size, seed)
        scores.sample_size = int(sample.size)
        if sample.size >= 2:
            sampled = tuple(texts[i] for i in sample)
            if self._sampled is None or self._sampled[0] != sampled:
                self._sampled = (sampled, dv.homogenization_rougel(list(sampled)), dv.self_bleu(list(sampled)))
            scores.homogenization_rougel, scores.self_bleu = self._sampled[1], self._sampled[2]

    def _distinct_n(self, texts: list[str], table: _RowTable) -> list[float]:
        """distinct-n over the rows joined by spaces: the n-grams inside rows, plus those
        that run over each boundary between rows (from the rows' first and last tokens)."""
        crossing = self._crossing(texts, table.rows)
        ids = np.concatenate([table.distinct.ids, crossing[crossing >= 0]])
        present = np.bincount(ids, minlength=len(self._space_ids)) > 0
        unique = np.bincount(self._orders()[present], minlength=dv.DISTINCT_MAX_N + 1)
        tokens = table.tokens
        return [int(unique[n]) / (tokens - n + 1) if tokens - n + 1 > 0 else 0.0
                for n in range(1, dv.DISTINCT_MAX_N + 1)]

    def _crossing(self, texts: list[str], rows: list[_RowGrams]) -> np.ndarray:
        """Ids of the n-grams (n = 2..4) over each row boundary, −1 where there are fewer."""
        if len(rows) < 2:
            return np.zeros(0, dtype=np.int64)
        if not all(len(r.head) == 3 for r in rows):
            # A row of < 3 tokens: n-grams can run over it, into the rows beyond.
            self._last_crossing = None
            tails, heads = _stream_tails(rows), _stream_heads(rows)
            return np.array([self._boundary(tails[i], heads[i + 1]) for i in range(len(rows) - 1)],
                            dtype=np.int64).ravel()
        # Every boundary's n-grams depend only on the two rows beside it: after an edit of a
        # few rows, only the boundaries beside them are new.
        last = self._last_crossing
        changed = changed_rows(last[0], texts) if last is not None else None
        if changed is None:
            cache = self._cross
            out = []
            for i in range(len(rows) - 1):
                key = (texts[i], texts[i + 1])
                got = cache.get(key)
                if got is None:
                    got = cache[key] = self._boundary(rows[i].tail, rows[i + 1].head)
                out.append(got)
            crossing = np.array(out, dtype=np.int64)
        else:
            crossing = last[1].copy()
            for b in {b for i in changed for b in (i - 1, i) if 0 <= b < len(rows) - 1}:
                crossing[b] = self._boundary(rows[b].tail, rows[b + 1].head)
        self._last_crossing = (list(texts), crossing)
        return crossing.ravel()

    def _boundary(self, tail: tuple[str, ...], head: tuple[str, ...]) -> tuple[int, ...]:
        joined = tail + head
        grams = [joined[j: j + n] for n in range(2, dv.DISTINCT_MAX_N + 1)
                 for j in range(len(tail) - n + 1, len(tail)) if j >= 0 and j + n <= len(joined)]
        ids = self._space_ids.of(grams).tolist()
        return tuple(ids + [-1] * (_CROSS_WIDTH - len(ids)))

    # -- templates -------------------------------------------------------------------

    def _templates(self, tagged: list[TaggedText], table: _RowTable) -> dv.TemplateScores:
        n_rows = len(tagged)
        last = self._pos_table
        changed = changed_rows(last[0], tagged) if last is not None else None
        if changed is None:
            joined = _RowIds.of(self._pos_windows(tagged))
        else:
            joined = last[1].patched(changed, self._pos_windows([tagged[i] for i in changed]))
        self._pos_table = (list(tagged), joined)
        pos_ids = self._pos_ids
        flat, row_of = joined.ids, joined.row_of
        whitespace_words = table.whitespace_words
        if flat.size == 0:
            zeros = np.zeros(n_rows)
            return dv.TemplateScores([], 0.0, 0.0, zeros.astype(bool), zeros)
        counts = np.bincount(flat, minlength=len(pos_ids))
        k = min(dv.TEMPLATE_TOP_N, int(np.count_nonzero(counts)))
        threshold = np.partition(counts, counts.size - k)[counts.size - k]
        candidate = counts >= max(threshold, 1)
        # Ties are ranked by first occurrence, as in template_scores.
        at = np.flatnonzero(candidate[flat])
        ids, first = np.unique(flat[at], return_index=True)
        ranked = ids[np.lexsort((at[first], -counts[ids]))][: dv.TEMPLATE_TOP_N]
        is_template = np.zeros(counts.size, dtype=bool)
        is_template[ranked] = True
        templates = [(" ".join(pos_ids.grams[g]), int(counts[g])) for g in ranked]
        starts = np.bincount(row_of[is_template[flat]], minlength=n_rows).astype(np.float64)
        per_token = np.divide(starts, whitespace_words, out=np.zeros(n_rows), where=whitespace_words > 0)
        has = starts > 0
        return dv.TemplateScores(templates, float(has.mean()), float(per_token.mean()), has, per_token)

    def _pos_windows(self, tagged: list[TaggedText]) -> list[np.ndarray]:
        """The ids of each row's POS n-grams (``TEMPLATE_N`` tags)."""
        cache, pos_ids = self._pos_rows, self._pos_ids
        out = []
        for t in tagged:
            key = t.pos_key
            ids = cache.get(key)
            if ids is None:
                ids = cache[key] = pos_ids.of(_windows(key, dv.TEMPLATE_N))
            out.append(ids)
        return out

    # -- housekeeping ----------------------------------------------------------------

    def _trim(self, texts: list[str], tagged: list[TaggedText] | None) -> None:
        """Forget rows no longer in the document; start over when dead n-grams dominate."""
        live = len(texts)
        if len(self._rows) > 2 * live + 1000:
            keep = set(texts)
            self._rows = {t: r for t, r in self._rows.items() if t in keep}
            self._cross = {}
            if tagged is not None:
                keep_pos = {t.pos_key for t in tagged}
                self._pos_rows = {k: v for k, v in self._pos_rows.items() if k in keep_pos}
            if len(self._space_ids) > 4 * sum(r.distinct.size for r in self._rows.values()) + 100_000:
                embeddings = self._embeddings
                self._reset()
                self._embeddings = embeddings


def _stream_tails(rows: list[_RowGrams]) -> list[tuple[str, ...]]:
    """Per row: the last 3 tokens of the joined rows up to its end."""
    out, tail = [], ()
    for r in rows:
        tail = r.tail if len(r.head) == 3 else (tail + r.head)[-3:]
        out.append(tail)
    return out


def _stream_heads(rows: list[_RowGrams]) -> list[tuple[str, ...]]:
    """Per row: the first 3 tokens of the joined rows from its start."""
    out, head = [], ()
    for r in reversed(rows):
        head = r.head if len(r.head) == 3 else (r.head + head)[:3]
        out.append(head)
    return out[::-1]


# ---------------------------------------------------------------------------
# Embedding scores
# ---------------------------------------------------------------------------


class _EmbeddingState:
    """Vendi (Gram matrix), remote clique (sums) and Chamfer (each sampled row's nearest
    other row), updated for the rows whose key changed; recomputed in full after many
    updates (to bound float drift) or when many rows changed."""

    FULL_EVERY = 200

    def __init__(self) -> None:
        self.keys: list[Hashable] | None = None
        self.unit: np.ndarray | None = None  # float32 unit rows of the last call
        self.gram: np.ndarray | None = None
        self.total: np.ndarray | None = None
        self.square_sum = 0.0
        self.updates = 0
        self.queries: np.ndarray | None = None
        self.nearest: np.ndarray | None = None  # per query: cosine of the nearest other row
        self.nearest_row: np.ndarray | None = None

    def fill(self, scores: dv.DiversityScores, embeddings: np.ndarray, keys: list[Hashable],
             queries: np.ndarray) -> None:
        with dv.one_blas_thread():
            changed = self._changed(keys, embeddings)
            if changed is None:
                self._full(embeddings, keys, queries)
            else:
                self._update(embeddings, keys, changed, queries)
            n = len(keys)
            eigenvalues = np.linalg.eigvalsh(self.gram / n)
            eigenvalues = eigenvalues[eigenvalues > 1e-12]
            scores.vendi_score = float(np.exp(-np.sum(eigenvalues * np.log(eigenvalues))))
            off_diagonal = float(self.total @ self.total) - self.square_sum
            scores.remote_clique = (n * (n - 1) - off_diagonal) / (n * n)
            if n >= 2:
                scores.chamfer_distance = float(np.clip(1.0 - self.nearest, 0.0, 2.0).mean())

    def _changed(self, keys: list[Hashable], embeddings: np.ndarray) -> list[int] | None:
        """Rows whose key differs from the last call's, or None for a full recomputation."""
        old = self.keys
        if (old is None or len(old) != len(keys) or self.unit is None or self.unit.shape[1] != embeddings.shape[1]
                or self.updates >= self.FULL_EVERY):
            return None
        changed = [i for i, (a, b) in enumerate(zip(old, keys)) if a != b]
        return changed if len(changed) <= max(8, len(keys) // 64) else None

    def _full(self, embeddings: np.ndarray, keys: list[Hashable], queries: np.ndarray) -> None:
        # The Gram matrix and sums come from the float32 rows kept for the updates, so that
        # subtracting a row later removes exactly what adding it put in.
        self.unit = dv.unit_rows(embeddings).astype(np.float32)
        x = self.unit.astype(np.float64)
        self.gram = x.T @ x
        self.total = x.sum(axis=0)
        self.square_sum = float(np.einsum("ij,ij->", x, x))
        self.keys = list(keys)
        self.updates = 0
        self.queries = queries
        self.nearest, self.nearest_row = dv.nearest_other(self.unit, queries)

    def _update(self, embeddings: np.ndarray, keys: list[Hashable], changed: list[int],
                queries: np.ndarray) -> None:
        rows = np.asarray(changed, dtype=np.int64)
        old = self.unit[rows].astype(np.float64)
        new32 = dv.unit_rows(embeddings[rows]).astype(np.float32)
        new = new32.astype(np.float64)
        self.gram += new.T @ new - old.T @ old
        self.total += new.sum(axis=0) - old.sum(axis=0)
        self.square_sum += float(np.einsum("ij,ij->", new, new) - np.einsum("ij,ij->", old, old))
        self.unit[rows] = new32
        self.keys = list(keys)
        self.updates += 1
        if rows.size == 0:
            return
        # A query that changed, or whose nearest row changed, is searched again over all rows;
        # the others only compare against the changed rows.
        moved = np.isin(self.queries, rows) | np.isin(self.nearest_row, rows)
        if moved.any():
            self.nearest[moved], self.nearest_row[moved] = dv.nearest_other(self.unit, self.queries[moved])
        rest = np.flatnonzero(~moved)
        if rest.size:
            similarity = self.unit[self.queries[rest]] @ self.unit[rows].T
            similarity[self.queries[rest][:, None] == rows[None, :]] = -np.inf
            best = similarity.argmax(axis=1)
            value = similarity[np.arange(rest.size), best]
            better = value > self.nearest[rest]
            self.nearest[rest[better]] = value[better]
            self.nearest_row[rest[better]] = rows[best[better]]

