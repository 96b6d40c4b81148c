"""Word n-grams that many rows share, with their span in every row.

Counting is vectorised: each row's words become integer ids, every window of n
ids a 64-bit polynomial hash, and document frequency is a sort over
(hash, row) pairs.  Only the phrases that clear the threshold are turned back
into text.  A phrase is reported only when no longer phrase containing it
covers nearly the same rows (so "for a rainy day" disappears behind
"perfect for a rainy day").
"""

from __future__ import annotations

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


def _tokenize(texts: Sequence[str | None]) -> _Tokens:
    vocab: dict[str, int] = {}
    ids: list[int] = []
    owner: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    counts = np.zeros(len(texts), dtype=np.int64)
    for row, text in enumerate(texts):
        if not text:
            continue
        spans = word_spans(text)
        counts[row] = len(spans)
        for s, e in spans:
            ids.append(vocab.setdefault(text[s:e].lower(), len(vocab)))
            starts.append(s)
            ends.append(e)
        owner.extend([row] * len(spans))
    owner_arr = np.asarray(owner, dtype=np.int64)
    row_offset = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pos = np.arange(len(owner_arr), dtype=np.int64) - row_offset[owner_arr] if len(owner_arr) else np.zeros(0, np.int64)
    is_word = np.zeros(len(vocab), dtype=bool)
    for word, i in vocab.items():
        is_word[i] = word[:1].isalnum() or word[:1] == "_"
    ids_arr = np.asarray(ids, dtype=np.int64)
    return _Tokens(ids_arr, owner_arr, pos, counts[owner_arr] if len(owner_arr) else np.zeros(0, np.int64),
                   np.asarray(starts, dtype=np.int64), np.asarray(ends, dtype=np.int64),
                   is_word[ids_arr] if len(ids_arr) else np.zeros(0, bool), row_offset)


def _window_hashes(tok: _Tokens, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Hash of the n-gram starting at each token, and whether it fits in its row."""
    total = len(tok.ids)
    valid = tok.pos + n <= tok.length
    h = np.zeros(total, dtype=np.uint64)
    ids = tok.ids.astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        for j in range(n):
            shifted = np.zeros(total, dtype=np.uint64)
            if j < total:
                shifted[: total - j] = ids[j:]
            h = h * _PRIME + shifted
    h ^= np.uint64(n) << np.uint64(58)  # keep different lengths apart
    return h, valid


def _document_frequency(h: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct hash: its number of distinct rows, and the token index
    of its first occurrence in each of those rows (as (hash, token) pairs)."""
    order = np.lexsort((np.arange(len(h)), rows, h))
    hs, rs = h[order], rows[order]
    first_in_row = np.ones(len(hs), dtype=bool)
    first_in_row[1:] = (hs[1:] != hs[:-1]) | (rs[1:] != rs[:-1])
    return hs[first_in_row], order[first_in_row], rs[first_in_row]


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
    for n in range(min_words, max_words + 1):
        h, valid = _window_hashes(tok, n)
        hashes_by_n[n] = np.where(valid, h, np.uint64(0))
        idx = np.nonzero(valid)[0]
        if len(idx) == 0:
            break
        hs, token_idx, rows = _document_frequency(h[idx], tok.owner[idx])
        token_idx = idx[token_idx]
        uniq, first, counts = np.unique(hs, return_index=True, return_counts=True)
        keep = counts >= min_count
        if not keep.any():
            break  # a longer phrase can't be more frequent than all shorter ones
        per_phrase: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for u, f, c in zip(uniq[keep], first[keep], counts[keep]):
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
            spans = [(int(tok.starts[t]), int(tok.ends[t + n - 1])) for t in tokens]
            results.append(RepeatedPhrase(text, n, "phrase", [int(r) for r in rows], spans))
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
    for kind in ("opening", "ending"):
        # n -> {hash: token indices where the edge starts, one per row}
        frequent: dict[int, dict[int, np.ndarray]] = {}
        hashes_by_n: dict[int, np.ndarray] = {}
        for n in range(min_words, max_words + 1):
            h, valid = _window_hashes(tok, n)
            hashes_by_n[n] = h
            at_edge = valid & ((tok.pos == 0) if kind == "opening" else (tok.pos == tok.length - n))
            idx = np.nonzero(at_edge)[0]
            uniq, inverse, counts = np.unique(h[idx], return_inverse=True, return_counts=True)
            keep = np.nonzero(counts >= min_count)[0]
            if len(keep) == 0:
                break
            order = np.argsort(inverse, kind="stable")
            bounds = np.concatenate([[0], np.cumsum(counts)])
            frequent[n] = {int(uniq[k]): idx[order[bounds[k] : bounds[k + 1]]] for k in keep}
        hidden: set[tuple[int, int]] = set()
        for n, edges in frequent.items():
            longer = frequent.get(n + 1, {})
            for starts in longer.values():
                # The shorter edge inside this one: same start for an opening,
                # one token later for an ending.
                inner = int(hashes_by_n[n][starts[0] + (0 if kind == "opening" else 1)])
                if inner in edges and len(starts) >= SUBSUMED_SHARE * len(edges[inner]):
                    hidden.add((n, inner))
        for n, edges in frequent.items():
            for h, starts in edges.items():
                if (n, h) in hidden:
                    continue
                rows = [int(tok.owner[t]) for t in starts]
                spans = [(int(tok.starts[t]), int(tok.ends[t + n - 1])) for t in starts]
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
) -> list[RepeatedPhrase]:
    """Repeated phrases, openings and endings from one tokenisation."""
    tok = _tokenize(texts)
    return repeated_phrases(texts, min_count=min_count, min_words=min_words, max_words=max_words, tokens=tok) + \
        repeated_edges(texts, min_count=min_count, min_words=min_words, max_words=max_words, tokens=tok)
