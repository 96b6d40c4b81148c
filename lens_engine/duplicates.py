"""Exact duplicates and near-duplicates, each pair knowing both rows.

Near-duplicates are found without comparing all pairs: MinHash signatures of
character 5-gram shingles (vectorised with numpy) go through LSH banding, and
only the candidate pairs that share a band are verified with rapidfuzz's
normalised InDel similarity against an absolute threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist

from .text import changed_rows, normalize

N_PERMUTATIONS = 126


def shingle_plan(normalized: Sequence[str]) -> tuple[int, int]:
    """(characters per shingle, signature rows per LSH band) for this dataset.

    A one-word edit changes a larger share of a short text's shingles, so short
    texts need short shingles and narrow bands to keep recall; long texts get
    longer shingles so that unrelated rows rarely collide.  Measured on the
    LinguisticLens music queries (short): 3-char shingles in bands of 3 found all
    pairs at ratio >= 0.85 from 1.2% of the pairs; 5/4 found only 81%.  On
    rows of 10-30 words, 4/3 made 2.7M candidates from 20k rows and 5/4 made
    881, with every planted one-word edit found.
    """
    if not normalized:
        return 3, 3
    median = sorted(len(t) for t in normalized)[len(normalized) // 2]
    return (3, 3) if median < 60 else (5, 4)
MAX_BUCKET_NEIGHBOURS = 64  # in a huge bucket, compare each row with this many neighbours only
_MASK32 = np.uint64(0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    a: int
    b: int
    similarity: float  # in [0, 1]


@dataclass
class NormalizedRows:
    """What exact and near-duplicates both start from: each row's normalised text (None
    without text) and the rows of each normalised text, in the order of their first row."""

    norms: list[str | None]
    members: dict[str, list[int]]


def normalized_rows(texts: Sequence[str | None]) -> NormalizedRows:
    norms = [(normalize(t) or None) if t else None for t in texts]  # a blank row normalises to ""
    members: dict[str, list[int]] = defaultdict(list)
    for row, norm in enumerate(norms):
        if norm is not None:
            members[norm].append(row)
    return NormalizedRows(norms, members)


def exact_duplicates(texts: Sequence[str | None], normalized: NormalizedRows | None = None) -> list[list[int]]:
    """Groups of rows equal after case and whitespace normalisation, each sorted;
    groups ordered by their first row (``normalized``: the texts' :func:`normalized_rows`)."""
    members = (normalized or normalized_rows(texts)).members
    return [rows for rows in members.values() if len(rows) > 1]  # in first-row order already


def _shingle_hashes(normalized: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of every character k-gram (UTF-8 bytes) of every text, and
    the start of each text's run in that array."""
    encoded = [t.encode("utf-8") for t in normalized]
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    buffer = np.frombuffer(b"".join(encoded), dtype=np.uint8).astype(np.uint64)
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    n_windows = np.maximum(lengths - k + 1, 1)  # a short text is one shingle
    total = int(n_windows.sum())
    owner = np.repeat(np.arange(len(encoded)), n_windows)
    offset_in_text = np.arange(total) - np.repeat(np.concatenate([[0], np.cumsum(n_windows)[:-1]]), n_windows)
    position = starts[owner] + offset_in_text
    h = np.zeros(total, dtype=np.uint64)
    prime = np.uint64(1099511628211)
    with np.errstate(over="ignore"):
        for j in range(k):
            idx = position + j
            inside = offset_in_text + j < lengths[owner]
            byte = np.where(inside, buffer[np.minimum(idx, max(len(buffer) - 1, 0))] if len(buffer) else 0, 0)
            h = (h ^ byte.astype(np.uint64)) * prime
    run_starts = np.concatenate([[0], np.cumsum(n_windows)[:-1]]).astype(np.int64)
    return h, run_starts


def minhash_signatures(normalized: Sequence[str], shingle_chars: int = 5, n_permutations: int = N_PERMUTATIONS,
                       seed: int = 1) -> np.ndarray:
    """(rows, n_permutations) uint32 MinHash signatures of character shingles;
    multiply-shift hashing."""
    if not normalized:
        return np.zeros((0, n_permutations), dtype=np.uint32)
    shingles, run_starts = _shingle_hashes(normalized, shingle_chars)
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 2**63, size=n_permutations, dtype=np.uint64) | np.uint64(1)
    b = rng.integers(0, 2**63, size=n_permutations, dtype=np.uint64)
    signatures = np.empty((len(normalized), n_permutations), dtype=np.uint32)
    # Bounded memory: at most ~8M shingle×permutation cells at a time.
    step = max(1, 8_000_000 // max(len(shingles), 1))
    with np.errstate(over="ignore"):
        for p in range(0, n_permutations, step):
            aa, bb = a[p : p + step], b[p : p + step]
            hashed = ((shingles[:, None] * aa[None, :] + bb[None, :]) >> np.uint64(32)).astype(np.uint32)
            signatures[:, p : p + step] = np.minimum.reduceat(hashed, run_starts, axis=0)
    return signatures


def _candidate_pairs(signatures: np.ndarray, band_rows: int) -> np.ndarray:
    """Unique (i, j), i < j, of rows that agree on at least one LSH band."""
    if len(signatures) < 2:
        return np.zeros((0, 2), dtype=np.int64)
    return _candidate_pairs_from_keys(_band_keys(signatures, band_rows))


def _band_keys(signatures: np.ndarray, band_rows: int) -> np.ndarray:
    """(rows, bands) uint64: one hash per LSH band of each signature."""
    n, k = signatures.shape
    n_bands = k // band_rows
    mix = np.random.default_rng(7).integers(1, 2**63, size=band_rows, dtype=np.uint64) | np.uint64(1)
    bands = signatures[:, : n_bands * band_rows].astype(np.uint64).reshape(n, n_bands, band_rows)
    with np.errstate(over="ignore"):
        return (bands * mix[None, None, :]).sum(axis=2)


class NearDuplicateIndex:
    """Near-duplicate pairs among normalised texts, kept across analyses.

    The first call finds every pair with the vectorised LSH pass; later calls
    look up only the new texts' LSH buckets and verify those candidates, so a
    one-row edit costs one row's worth of work.
    """

    def __init__(self, threshold: float, shingle_chars: int, band_rows: int, max_items: int = 500_000):
        self.threshold, self.shingle_chars, self.band_rows, self.max_items = threshold, shingle_chars, band_rows, max_items
        self.texts: list[str] = []
        self.position: dict[str, int] = {}
        self.buckets: list[dict[int, list[int]]] = []
        self.neighbours: dict[int, dict[int, float]] = {}

    def _add_to_buckets(self, ids: Sequence[int], keys: np.ndarray) -> None:
        if not self.buckets:
            self.buckets = [{} for _ in range(keys.shape[1])]
        for b, bucket in enumerate(self.buckets):
            for i, key in zip(ids, keys[:, b].tolist()):
                bucket.setdefault(key, []).append(i)

    def _link(self, a: np.ndarray, b: np.ndarray, check: Callable[[], None] | None = None) -> None:
        for start in range(0, len(a), 50_000):  # chunks, so a cancelled analysis stops between them
            if check is not None:
                check()
            aa, bb = a[start:start + 50_000], b[start:start + 50_000]
            scores = cpdist([self.texts[i] for i in aa], [self.texts[j] for j in bb], scorer=fuzz.ratio,
                            workers=-1) / 100.0
            keep = np.nonzero(scores >= self.threshold)[0]
            for i, j, sim in zip(aa[keep].tolist(), bb[keep].tolist(), scores[keep].tolist()):
                if i != j:
                    self.neighbours.setdefault(i, {})[j] = sim
                    self.neighbours.setdefault(j, {})[i] = sim

    def learn(self, uniques: Sequence[str], signatures: Callable[[list[str], int], np.ndarray],
              check: Callable[[], None] | None = None) -> None:
        new = [u for u in dict.fromkeys(uniques) if u not in self.position]
        if not new:
            return
        if len(self.texts) + len(new) > self.max_items:
            self.__init__(self.threshold, self.shingle_chars, self.band_rows, self.max_items)
            new = list(dict.fromkeys(uniques))
        first = len(self.texts)
        for u in new:
            self.position[u] = len(self.texts)
            self.texts.append(u)
        ids = np.arange(first, len(self.texts))
        keys = _band_keys(signatures(new, self.shingle_chars), self.band_rows)
        if first == 0 or len(new) > 0.2 * first:
            # Cold (or mostly new): the vectorised all-bands pass over everything.
            all_keys = keys if first == 0 else np.concatenate(
                [_band_keys(signatures(self.texts[:first], self.shingle_chars), self.band_rows), keys])
            candidates = _candidate_pairs_from_keys(all_keys, check)
            lengths = np.fromiter((len(t) for t in self.texts), dtype=np.int64, count=len(self.texts))
            la, lb = lengths[candidates[:, 0]], lengths[candidates[:, 1]]
            candidates = candidates[2 * np.minimum(la, lb) >= self.threshold * (la + lb)]
            self.buckets = []
            self.neighbours = {}
            self._add_to_buckets(np.arange(len(self.texts)), all_keys)
            try:
                self._link(candidates[:, 0], candidates[:, 1], check)
            except BaseException:
                self.__init__(self.threshold, self.shingle_chars, self.band_rows, self.max_items)  # half-built: forget it
                raise
            return
        # Each new text against the texts before it that share a band with it. Per-row sets
        # and numpy arrays, not one set of pairs: sorting millions of tuples held the GIL
        # for 0.4 s (hovers waited) when a fifth of a 10k-row file was new.
        try:
            olds: list[np.ndarray] = []
            news: list[np.ndarray] = []
            for row, (i, row_keys) in enumerate(zip(ids.tolist(), keys.tolist())):
                if check is not None and row % 512 == 511:
                    check()
                near: set[int] = set()
                for bucket, key in zip(self.buckets, row_keys):
                    members = bucket.setdefault(key, [])
                    near.update(members[-MAX_BUCKET_NEIGHBOURS:])
                    members.append(i)  # the next new texts meet this one too (a pasted block)
                if near:
                    olds.append(np.fromiter(near, dtype=np.int64, count=len(near)))
                    news.append(np.full(len(near), i, dtype=np.int64))
            if olds:
                a, b = np.concatenate(olds), np.concatenate(news)
                la = np.fromiter((len(self.texts[k]) for k in a.tolist()), dtype=np.int64, count=len(a))
                lb = np.fromiter((len(self.texts[k]) for k in b.tolist()), dtype=np.int64, count=len(b))
                fits = 2 * np.minimum(la, lb) >= self.threshold * (la + lb)  # ratio's upper bound
                self._link(a[fits], b[fits], check)
        except BaseException:  # cancelled half-way: forget the half-learned texts
            self.__init__(self.threshold, self.shingle_chars, self.band_rows, self.max_items)
            raise

    def pairs(self, uniques: Sequence[str]) -> list[tuple[int, int, float]]:
        """(i, j, similarity), i < j, over positions in ``uniques`` (learned first)."""
        where = {self.position[u]: i for i, u in enumerate(uniques) if u in self.position}
        out = []
        for p, i in where.items():
            for q, sim in self.neighbours.get(p, {}).items():
                j = where.get(q)
                if j is not None and i < j:
                    out.append((i, j, sim))
        return out


def _candidate_pairs_from_keys(keys: np.ndarray, check: Callable[[], None] | None = None) -> np.ndarray:
    """Unique (i, j), i < j, of rows whose band keys agree in at least one band."""
    n = len(keys)
    chunks: list[np.ndarray] = []
    pending = 0
    for b in range(keys.shape[1]):
        if check is not None:
            check()
        if pending > 4_000_000:  # fold duplicates as we go: bounded memory, cancellable steps
            chunks = [np.unique(np.concatenate(chunks))]
            pending = len(chunks[0])
        order = np.argsort(keys[:, b], kind="stable")
        sorted_keys = keys[order, b]
        for gap in range(1, min(MAX_BUCKET_NEIGHBOURS, n - 1) + 1):
            equal = sorted_keys[gap:] == sorted_keys[:-gap]
            if not equal.any():
                break
            idx = np.nonzero(equal)[0]
            i, j = order[idx], order[idx + gap]
            chunks.append(np.minimum(i, j) * n + np.maximum(i, j))
            pending += len(idx)
    if not chunks:
        return np.zeros((0, 2), dtype=np.int64)
    codes = np.unique(np.concatenate(chunks))
    return np.stack([codes // n, codes % n], axis=1)


class NearPairsMemo:
    """A document column's near-duplicate pairs from its last call, so that after an edit
    of a few rows the other rows' pairs are kept and only the edited rows are looked up
    in the index (building every pair again was a fifth of a re-analysis)."""

    def __init__(self) -> None:
        self.norms: list[str | None] | None = None
        self.pairs: list[DuplicatePair] = []
        self.context: tuple | None = None  # what the pairs depend on besides the rows


def near_duplicates(
    texts: Sequence[str | None],
    threshold: float = 0.85,
    *,
    include_exact: bool = False,
    signatures: "Callable[[list[str], int], np.ndarray] | None" = None,
    index: Callable[[int, int], NearDuplicateIndex] | None = None,
    check: Callable[[], None] | None = None,
    memo: NearPairsMemo | None = None,
    normalized: NormalizedRows | None = None,
) -> list[DuplicatePair]:
    """Pairs of rows whose normalised texts have rapidfuzz ``ratio`` ≥ threshold.

    Rows that are exact duplicates of each other are collapsed first (one
    representative each); unless ``include_exact``, pairs inside an exact group
    are left to :func:`exact_duplicates`.  ``signatures(uniques, shingle_chars)``
    may supply cached MinHash signatures; ``index(shingle_chars, band_rows)``
    a :class:`NearDuplicateIndex` kept across calls, and ``memo`` the last call's
    pairs for the same document (used with ``index`` only); ``normalized`` the texts'
    :func:`normalized_rows` when the caller has them.
    """
    normalized = normalized or normalized_rows(texts)
    norms, members = normalized.norms, normalized.members
    uniques = list(members)
    if len(uniques) < 2:
        pairs = _exact_pairs(members) if include_exact else []
        if memo is not None:
            memo.norms, memo.pairs, memo.context = None, [], None
        return pairs
    shingle_chars, band_rows = shingle_plan(uniques)
    signatures = signatures or (lambda texts, q: minhash_signatures(texts, q))
    near = index(shingle_chars, band_rows) if index is not None else \
        NearDuplicateIndex(threshold, shingle_chars, band_rows)
    context = (id(near), threshold, include_exact)
    changed = changed_rows(memo.norms, norms) if memo is not None and memo.context == context else None
    if changed is not None and len(near.texts) + len(changed) <= near.max_items:
        near.learn([norms[r] for r in changed if norms[r] is not None], signatures, check)
        if all(u in near.position for u in uniques):  # else the index started over: the full path
            pairs = _pairs_after_edit(memo.pairs, changed, norms, members, near, include_exact)
            memo.norms, memo.pairs = norms, pairs
            return pairs
    near.learn(uniques, signatures, check)
    pairs = _exact_pairs(members) if include_exact else []
    for i, j, sim in near.pairs(uniques):
        for a in members[uniques[i]]:
            for b in members[uniques[j]]:
                pairs.append(DuplicatePair(min(a, b), max(a, b), sim))
    pairs.sort(key=_pair_order)
    if memo is not None:
        memo.norms, memo.pairs, memo.context = norms, pairs, context
    return pairs


def _pair_order(p: DuplicatePair) -> tuple[int, int]:
    return p.a, p.b


def _exact_pairs(members: dict[str, list[int]]) -> list[DuplicatePair]:
    return [DuplicatePair(a, b, 1.0) for rows in members.values() for i, a in enumerate(rows) for b in rows[i + 1:]]


def _pairs_after_edit(old_pairs: list[DuplicatePair], changed: list[int], norms: list[str | None],
                      members: dict[str, list[int]], near: NearDuplicateIndex,
                      include_exact: bool) -> list[DuplicatePair]:
    """The pairs of the rows that kept their text, and the changed rows' pairs afresh:
    the same list as the full path gives (``test_near_pairs_memo_equals_a_fresh_call``)."""
    gone = set(changed)
    pairs = [p for p in old_pairs if p.a not in gone and p.b not in gone]
    fresh: dict[tuple[int, int], float] = {}
    for r in changed:
        norm = norms[r]
        if norm is None:
            continue
        if include_exact:
            for b in members[norm]:
                if b != r:
                    fresh[(min(r, b), max(r, b))] = 1.0
        for q, sim in near.neighbours.get(near.position[norm], {}).items():
            for b in members.get(near.texts[q], ()):
                fresh[(min(r, b), max(r, b))] = sim
    if not fresh and len(pairs) == len(old_pairs):
        return old_pairs  # the same list: callers may skip what they derived from it
    pairs.extend(DuplicatePair(a, b, sim) for (a, b), sim in fresh.items())
    pairs.sort(key=_pair_order)
    return pairs


def duplicate_groups(pairs: Sequence[DuplicatePair], n_rows: int) -> list[list[int]]:
    """Connected groups of rows linked by pairs (union-find), each sorted."""
    parent = list(range(n_rows))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        ra, rb = find(p.a), find(p.b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    groups: dict[int, list[int]] = defaultdict(list)
    involved = {r for p in pairs for r in (p.a, p.b)}
    for r in sorted(involved):
        groups[find(r)].append(r)
    return sorted(groups.values(), key=lambda g: g[0])
