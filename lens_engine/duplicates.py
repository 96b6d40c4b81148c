"""Exact duplicates and near-duplicates, each pair knowing both rows.

Near-duplicates are found without comparing all pairs: MinHash signatures of
character 5-gram shingles (vectorised with numpy) go through LSH banding, and
only the candidate pairs that share a band are verified with rapidfuzz's
normalised InDel similarity against an absolute threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist

from .text import normalize

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


def exact_duplicates(texts: Sequence[str | None]) -> list[list[int]]:
    """Groups of rows equal after case and whitespace normalisation, each sorted;
    groups ordered by their first row."""
    groups: dict[str, list[int]] = defaultdict(list)
    for row, text in enumerate(texts):
        if text is not None and text.strip():
            groups[normalize(text)].append(row)
    return sorted((rows for rows in groups.values() if len(rows) > 1), key=lambda g: g[0])


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
    n, k = signatures.shape
    if n < 2:
        return np.zeros((0, 2), dtype=np.int64)
    pairs: list[np.ndarray] = []
    mix = np.random.default_rng(7).integers(1, 2**63, size=band_rows, dtype=np.uint64) | np.uint64(1)
    for start in range(0, k - band_rows + 1, band_rows):
        band = signatures[:, start : start + band_rows].astype(np.uint64)
        with np.errstate(over="ignore"):
            keys = (band * mix[None, :]).sum(axis=1) ^ np.uint64(start)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        same = sorted_keys[1:] == sorted_keys[:-1]
        if not same.any():
            continue
        # For each row in a run of equal keys, pair it with up to
        # MAX_BUCKET_NEIGHBOURS following rows of the same run.
        for gap in range(1, MAX_BUCKET_NEIGHBOURS + 1):
            if gap >= n:
                break
            equal = sorted_keys[gap:] == sorted_keys[:-gap]
            if not equal.any():
                break
            idx = np.nonzero(equal)[0]
            i, j = order[idx], order[idx + gap]
            pairs.append(np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1))
    if not pairs:
        return np.zeros((0, 2), dtype=np.int64)
    return np.unique(np.concatenate(pairs), axis=0)


def near_duplicates(
    texts: Sequence[str | None],
    threshold: float = 0.85,
    *,
    include_exact: bool = False,
) -> list[DuplicatePair]:
    """Pairs of rows whose normalised texts have rapidfuzz ``ratio`` ≥ threshold.

    Rows that are exact duplicates of each other are collapsed first (one
    representative each); unless ``include_exact``, pairs inside an exact group
    are left to :func:`exact_duplicates`.
    """
    normalized_by_row = {row: normalize(t) for row, t in enumerate(texts) if t is not None and t.strip()}
    members: dict[str, list[int]] = defaultdict(list)
    for row, norm in normalized_by_row.items():
        members[norm].append(row)
    uniques = list(members)
    pairs: list[DuplicatePair] = []
    if include_exact:
        for rows in members.values():
            pairs.extend(DuplicatePair(a, b, 1.0) for i, a in enumerate(rows) for b in rows[i + 1 :])
    if len(uniques) < 2:
        return pairs
    shingle_chars, band_rows = shingle_plan(uniques)
    candidates = _candidate_pairs(minhash_signatures(uniques, shingle_chars), band_rows)
    if len(candidates) == 0:
        return pairs
    # ratio can't reach the threshold when the lengths differ too much.
    lengths = np.fromiter((len(u) for u in uniques), dtype=np.int64, count=len(uniques))
    la, lb = lengths[candidates[:, 0]], lengths[candidates[:, 1]]
    candidates = candidates[2 * np.minimum(la, lb) >= threshold * (la + lb)]
    left = [uniques[i] for i in candidates[:, 0]]
    right = [uniques[j] for j in candidates[:, 1]]
    scores = cpdist(left, right, scorer=fuzz.ratio, workers=-1) / 100.0
    keep = np.nonzero(scores >= threshold)[0]
    for c in keep:
        i, j = candidates[c]
        sim = float(scores[c])
        for a in members[uniques[i]]:
            for b in members[uniques[j]]:
                pairs.append(DuplicatePair(min(a, b), max(a, b), sim))
    pairs.sort(key=lambda p: (p.a, p.b))
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
