"""Word n-grams that many rows share, with their span in every row.

Counting is vectorised: each row's words become integer ids, every window of n
ids a 64-bit polynomial hash, and document frequency is a sort over
(hash, row) pairs.  Only the phrases that clear the threshold are turned back
into text.  A phrase is reported only when no longer phrase containing it
covers nearly the same rows (so "for a rainy day" disappears behind
"perfect for a rainy day").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .text import word_spans

_PRIME = np.uint64(0x100000001B3)
SUBSUMED_SHARE = 0.8  # a longer phrase covering ≥ 80% of a shorter one's rows hides it


@dataclass
class RepeatedPhrase:
    text: str  # as written in its first row
    words: int
    kind: str  # "phrase" | "opening" | "ending"
    rows: list[int]
    spans: list[tuple[int, int]] = field(default_factory=list)  # character span in each row, aligned with rows

    @property
    def count(self) -> int:
        return len(self.rows)

    def to_dict(self, include_rows: bool = True) -> dict:
        d = {"phrase": self.text, "words": self.words, "kind": self.kind, "count": self.count}
        if include_rows:
            d["rows"] = self.rows
        return d


@dataclass
class _Tokens:
    ids: np.ndarray  # word id per token, all rows concatenated
    owner: np.ndarray  # row of each token
    pos: np.ndarray  # index of the token within its row
    length: np.ndarray  # tokens in the token's row
    starts: np.ndarray  # character span of each token
    ends: np.ndarray
    alnum: np.ndarray  # bool: the token is a word, not punctuation
    row_offset: np.ndarray  # first token index of each row


class WordCache:
    """Each distinct row's word ids and spans, kept across analyses.

    Tokenising every row was a third of a warm re-analysis; with this cache an
    edit tokenises only the rows whose text is new. Word ids come from one
    vocabulary that grows with the cache (they only need to be consistent).
    """

    def __init__(self, max_rows: int = 400_000):
        self.max_rows = max_rows
        self.vocab: dict[str, int] = {}
        self.is_word: list[bool] = []
        self.rows: dict[str, np.ndarray] = {}  # text -> int64 array (3, words): ids, starts, ends
        self.lock = threading.Lock()

    def row(self, text: str) -> np.ndarray:
        found = self.rows.get(text)
        if found is not None:
            return found
        with self.lock:  # the vocabulary must hand out each id once
            if len(self.rows) >= self.max_rows:
                self.rows.clear()
            spans = word_spans(text)
            ids = [self._word_id(text[s:e].lower()) for s, e in spans]
            found = np.array([ids, [s for s, _ in spans], [e for _, e in spans]], dtype=np.int64).reshape(3, -1)
            self.rows[text] = found
            return found

    def _word_id(self, word: str) -> int:
        i = self.vocab.get(word)
        if i is None:
            i = self.vocab[word] = len(self.vocab)
            self.is_word.append(word[:1].isalnum() or word[:1] == "_")
        return i


def _tokenize(texts: Sequence[str | None], cache: WordCache | None = None) -> _Tokens:
    cache = cache if cache is not None else WordCache()
    per_row = [cache.row(t) if t else _EMPTY_ROW for t in texts]
    counts = np.fromiter((r.shape[1] for r in per_row), dtype=np.int64, count=len(per_row))
    joined = np.concatenate(per_row, axis=1) if per_row else _EMPTY_ROW
    ids_arr, starts, ends = joined[0], joined[1], joined[2]
    owner_arr = np.repeat(np.arange(len(texts), dtype=np.int64), counts)
    row_offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pos = np.arange(len(owner_arr), dtype=np.int64) - row_offset[owner_arr] if len(owner_arr) else np.zeros(0, np.int64)
    is_word = np.asarray(cache.is_word, dtype=bool)
    return _Tokens(ids_arr, owner_arr, pos, counts[owner_arr] if len(owner_arr) else np.zeros(0, np.int64),
                   starts, ends, is_word[ids_arr] if len(ids_arr) else np.zeros(0, bool), row_offset)


_EMPTY_ROW = np.zeros((3, 0), dtype=np.int64)


def _padded_ids(tok: _Tokens, pad: int) -> np.ndarray:
    """Word ids + 1 (0 stays free for "past the end") followed by ``pad`` zeros."""
    return np.concatenate((tok.ids.astype(np.uint64) + np.uint64(1), np.zeros(pad, np.uint64)))


def _hashes_at(padded_ids: np.ndarray, starts: np.ndarray, n: int) -> np.ndarray:
    """Hash of the n-gram starting at each of the token indices ``starts``."""
    h = np.zeros(len(starts), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = h * _PRIME + padded_ids[starts + j]
    return h ^ (np.uint64(n) << np.uint64(58))  # keep different lengths apart


def _frequent_windows(h: np.ndarray, rows: np.ndarray, min_count: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of the windows (hashes ``h`` in rows ``rows``, in token order) have a
    hash found in at least ``min_count`` distinct rows; and, in hash order, the
    first such window of each (hash, row), as positions in ``h``."""
    # Tokens come in row order, so a stable sort by hash orders by (hash, row, token).
    order = np.argsort(h, kind="stable")
    hs, rs = h[order], rows[order]
    new_hash = np.ones(len(hs), dtype=bool)
    new_hash[1:] = hs[1:] != hs[:-1]
    first_in_row = new_hash.copy()
    first_in_row[1:] |= rs[1:] != rs[:-1]
    run = np.cumsum(new_hash) - 1
    rows_of_run = np.bincount(run, weights=first_in_row)
    frequent_sorted = rows_of_run[run] >= min_count
    frequent = np.zeros(len(h), dtype=bool)
    frequent[order] = frequent_sorted
    return frequent, order[first_in_row & frequent_sorted]


def _runs(sorted_values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(..., return_index=True, return_counts=True)`` of an already sorted array."""
    if len(sorted_values) == 0:
        return sorted_values, np.zeros(0, np.int64), np.zeros(0, np.int64)
    first = np.flatnonzero(np.concatenate(([True], sorted_values[1:] != sorted_values[:-1])))
    counts = np.diff(np.append(first, len(sorted_values)))
    return sorted_values[first], first, counts


def _spans(tok: _Tokens, first_tokens: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Character span of the n words from each of ``first_tokens``."""
    return list(zip(tok.starts[first_tokens].tolist(), tok.ends[first_tokens + n - 1].tolist()))


def _phrase_ok(tok: _Tokens, start: int, n: int) -> bool:
    words = tok.alnum[start : start + n]
    return bool(words[0] and words[-1] and words.sum() >= 2)


def repeated_phrases(
    texts: Sequence[str | None],
    *,
    min_count: int,
    min_words: int = 3,
    max_words: int = 8,
    tokens: _Tokens | None = None,
) -> list[RepeatedPhrase]:
    """Phrases of ``min_words``..``max_words`` words found in at least ``min_count`` rows."""
    tok = tokens if tokens is not None else _tokenize(texts)
    if len(tok.ids) == 0:
        return []
    frequent: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
    hashes_by_n: dict[int, np.ndarray] = {}
    # Apriori pruning: an n-gram in k rows has its words, and its two (n−1)-grams,
    # in at least k rows each, so only windows made of frequent parts are counted.
    candidate = np.bincount(tok.ids)[tok.ids] >= min_count  # tokens ≥ rows: a safe bound
    padded_ids = _padded_ids(tok, max_words)
    rolling = np.zeros(len(tok.ids), dtype=np.uint64)  # hash of the n-gram at each token, before its length mark
    for n in range(min_words, max_words + 1):
        with np.errstate(over="ignore"):
            for j in range(n) if n == min_words else (n - 1,):  # then one more word per length
                rolling = rolling * _PRIME + padded_ids[j : j + len(rolling)]
        h = rolling ^ (np.uint64(n) << np.uint64(58))
        valid = tok.pos + n <= tok.length
        hashes_by_n[n] = np.where(valid, h, np.uint64(0))
        if n == min_words:
            for j in range(n):  # every word of the window
                valid[: len(valid) - j] &= candidate[j:]
        else:
            valid[:-1] &= known[:-1] & known[1:]  # both (n−1)-grams inside the window
            valid[-1] = False
        idx = np.nonzero(valid)[0]
        if len(idx) == 0:
            break
        is_frequent, firsts = _frequent_windows(h[idx], tok.owner[idx], min_count)
        if len(firsts) == 0:
            break  # a longer phrase can't be more frequent than all shorter ones
        known = np.zeros(len(tok.ids), dtype=bool)
        known[idx[is_frequent]] = True
        token_idx, rows = idx[firsts], tok.owner[idx[firsts]]
        uniq, first, counts = _runs(h[token_idx])
        per_phrase: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for u, f, c in zip(uniq, first, counts):
            per_phrase[int(u)] = (rows[f : f + c], token_idx[f : f + c])
        frequent[n] = per_phrase

    # Hide a phrase behind a longer one that covers most of its rows.
    hidden: set[tuple[int, int]] = set()
    for n, phrases in frequent.items():
        longer = frequent.get(n + 1)
        if not longer:
            continue
        for h_long, (rows_long, tokens_long) in longer.items():
            if not _phrase_ok(tok, int(tokens_long[0]), n + 1):
                continue  # only a phrase we would report may hide a shorter one
            for child in (hashes_by_n[n][tokens_long[0]], hashes_by_n[n][tokens_long[0] + 1]):
                child = int(child)
                if child in phrases and len(rows_long) >= SUBSUMED_SHARE * len(phrases[child][0]):
                    hidden.add((n, child))

    results: list[RepeatedPhrase] = []
    for n, phrases in frequent.items():
        for h, (rows, tokens) in phrases.items():
            if (n, h) in hidden or not _phrase_ok(tok, int(tokens[0]), n):
                continue
            first_row, first_token = int(rows[0]), int(tokens[0])
            text = texts[first_row][tok.starts[first_token] : tok.ends[first_token + n - 1]]
            results.append(RepeatedPhrase(text, n, "phrase", rows.tolist(), _spans(tok, tokens, n)))
    results.sort(key=lambda p: (-p.count, -p.words, p.rows[0]))
    return results


def _words_only(tok: _Tokens) -> _Tokens:
    """The same token stream without punctuation, positions renumbered."""
    keep = np.nonzero(tok.alnum)[0]
    owner = tok.owner[keep]
    n_rows = len(tok.row_offset)
    counts = np.bincount(owner, minlength=n_rows).astype(np.int64)
    row_offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pos = np.arange(len(keep), dtype=np.int64) - row_offset[owner]
    return _Tokens(tok.ids[keep], owner, pos, counts[owner], tok.starts[keep], tok.ends[keep],
                   np.ones(len(keep), dtype=bool), row_offset)


def repeated_edges(
    texts: Sequence[str | None],
    *,
    min_count: int,
    min_words: int = 3,
    max_words: int = 8,
    tokens: _Tokens | None = None,
) -> list[RepeatedPhrase]:
    """Openings and endings (the first or last words, punctuation aside) that
    at least ``min_count`` rows share; the longest shared form of each."""
    tok = _words_only(tokens if tokens is not None else _tokenize(texts))
    results: list[RepeatedPhrase] = []
    if len(tok.ids) == 0:
        return results
    padded_ids = _padded_ids(tok, max_words)
    lengths = np.diff(np.append(tok.row_offset, len(tok.ids)))  # words per row
    for kind in ("opening", "ending"):
        # n -> {hash: token indices where the edge starts, one per row}
        frequent: dict[int, dict[int, np.ndarray]] = {}
        for n in range(min_words, max_words + 1):
            # Only the windows at a row's edge: one per row with n words or more.
            long_enough = np.flatnonzero(lengths >= n)
            idx = tok.row_offset[long_enough] + (0 if kind == "opening" else lengths[long_enough] - n)
            h = _hashes_at(padded_ids, idx, n)
            order = np.argsort(h, kind="stable")  # rows in order within each hash
            uniq, first, counts = _runs(h[order])
            keep = np.flatnonzero(counts >= min_count)
            if len(keep) == 0:
                break
            frequent[n] = {int(uniq[k]): idx[order[first[k]: first[k] + counts[k]]] for k in keep}
        hidden: set[tuple[int, int]] = set()
        for n, edges in frequent.items():
            longer = frequent.get(n + 1, {})
            for starts in longer.values():
                # The shorter edge inside this one: same start for an opening,
                # one token later for an ending.
                inner = int(_hashes_at(padded_ids, starts[:1] + (0 if kind == "opening" else 1), n)[0])
                if inner in edges and len(starts) >= SUBSUMED_SHARE * len(edges[inner]):
                    hidden.add((n, inner))
        for n, edges in frequent.items():
            for h, starts in edges.items():
                if (n, h) in hidden:
                    continue
                rows = tok.owner[starts].tolist()
                spans = _spans(tok, starts, n)
                text = texts[rows[0]][spans[0][0] : spans[0][1]]
                results.append(RepeatedPhrase(text, n, kind, rows, spans))
    results.sort(key=lambda p: (-p.count, -p.words, p.rows[0]))
    return results


def lexical_repetition(
    texts: Sequence[str | None],
    *,
    min_count: int,
    min_words: int = 3,
    max_words: int = 8,
    cache: WordCache | None = None,
) -> list[RepeatedPhrase]:
    """Repeated phrases, openings and endings from one tokenisation.

    ``cache`` keeps each row's words for the next call (see :class:`WordCache`)."""
    tok = _tokenize(texts, cache)
    return repeated_phrases(texts, min_count=min_count, min_words=min_words, max_words=max_words, tokens=tok) + \
        repeated_edges(texts, min_count=min_count, min_words=min_words, max_words=max_words, tokens=tok)
