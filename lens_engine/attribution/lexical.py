"""Lexical views of attribution: BM25, verbatim shared spans, TF-IDF keywords.

Studies of fact tracing find that plain BM25 often beats gradient methods at
finding the passage that states a fact, so Lens shows these beside influence
scores and measures them all (bench/attribution_accuracy.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse

from lens_engine.text import word_spans  # the project's word tokeniser

STOPWORDS = frozenset(
    """a an the and or but if of at by for with about against between into through during before after above
    below to from up down in out on off over under again further then once here there when where why how all any
    both each few more most other some such no nor not only own same so than too very can will just should now is
    are was were be been being have has had having do does did doing i me my we our you your he him his she her it
    its they them their what which who whom this that these those am would could""".split()
)


def tokens_with_spans(text: str) -> list[tuple[str, int, int]]:
    """Lower-cased words and punctuation marks with their character spans."""
    return [(text[s:e].lower(), s, e) for s, e in word_spans(text)]


def content_words(text: str) -> list[str]:
    return [w for w, _, _ in tokens_with_spans(text) if w not in STOPWORDS and any(ch.isalnum() for ch in w)]


# ---------------------------------------------------------------------------
# BM25


class BM25Index:
    """Okapi BM25 over a fixed list of documents, as one sparse matrix."""

    def __init__(self, documents: Sequence[str], k1: float = 1.5, b: float = 0.75):
        self.vocabulary: dict[str, int] = {}
        rows, cols, counts = [], [], []
        lengths = np.zeros(len(documents), dtype=np.float64)
        for d, doc in enumerate(documents):
            words = [w for w, _, _ in tokens_with_spans(doc) if any(ch.isalnum() for ch in w)]
            lengths[d] = len(words)
            for word, count in Counter(words).items():
                rows.append(d)
                cols.append(self.vocabulary.setdefault(word, len(self.vocabulary)))
                counts.append(count)
        n = len(documents)
        tf = sparse.csc_matrix((counts, (rows, cols)), shape=(n, len(self.vocabulary)), dtype=np.float64)
        df = np.diff(tf.indptr)
        self.idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
        norm = k1 * (1.0 - b + b * lengths / max(lengths.mean(), 1e-9))
        # Precompute each (document, term) weight so a query is a sparse column sum.
        tf = tf.tocoo()
        weights = tf.data * (k1 + 1.0) / (tf.data + norm[tf.row])
        self.weights = sparse.csc_matrix((weights, (tf.row, tf.col)), shape=tf.shape)

    def scores(self, query: str) -> np.ndarray:
        terms = Counter(w for w, _, _ in tokens_with_spans(query) if w in self.vocabulary)
        if not terms:
            return np.zeros(self.weights.shape[0])
        ids = np.array([self.vocabulary[t] for t in terms])
        qweights = self.idf[ids] * np.array(list(terms.values()), dtype=np.float64)
        return np.asarray(self.weights[:, ids] @ qweights).ravel()

    def idf_of(self, word: str) -> float:
        i = self.vocabulary.get(word)
        return float(self.idf[i]) if i is not None else float(np.log(1.0 + (self.weights.shape[0] + 0.5) / 0.5))


# ---------------------------------------------------------------------------
# Verbatim shared spans (like OLMoTrace)


@dataclass
class SharedSpan:
    """A run of words that appears verbatim in both the query text and an example field."""

    text: str  # as written in the query text
    words: int
    query_start: int  # character offsets in the query text
    query_end: int
    field: str  # which column of the example
    start: int  # character offsets in that field's text
    end: int


def _maximal_runs(query: list[str], other: list[str]) -> list[tuple[int, int, int]]:
    """(query_start, other_start, length) of maximal common word runs."""
    positions: dict[str, list[int]] = {}
    for i, w in enumerate(query):
        positions.setdefault(w, []).append(i)
    runs: list[tuple[int, int, int]] = []
    prev: dict[int, int] = {}
    for j, w in enumerate(other):
        cur = {i: prev.get(i - 1, 0) + 1 for i in positions.get(w, ())}
        # A run ends where it cannot be extended at the next word.
        for i, length in prev.items():
            if cur.get(i + 1) is None:
                runs.append((i - length + 1, j - length, length))
        prev = cur
    for i, length in prev.items():
        runs.append((i - length + 1, len(other) - length, length))
    return runs


def shared_spans(query_text: str, fields: dict[str, str], min_words: int = 2) -> list[SharedSpan]:
    """Maximal verbatim word runs (case-insensitive) shared by the query text and
    each field; a run must hold ``min_words`` tokens and one content word."""
    q = tokens_with_spans(query_text)
    q_words = [w for w, _, _ in q]
    found: list[SharedSpan] = []
    for name, text in fields.items():
        o = tokens_with_spans(text)
        for qs, os_, length in _maximal_runs(q_words, [w for w, _, _ in o]):
            if length < min_words:
                continue
            words = q_words[qs : qs + length]
            if not any(w not in STOPWORDS and any(ch.isalnum() for ch in w) for w in words):
                continue
            q_start, q_end = q[qs][1], q[qs + length - 1][2]
            found.append(SharedSpan(query_text[q_start:q_end], length, q_start, q_end, name, o[os_][1], o[os_ + length - 1][2]))
    found.sort(key=lambda s: (-s.words, s.query_start))
    return found


def longest_shared_run(query_text: str, documents: Sequence[str], min_words: int = 1) -> np.ndarray:
    """(n,) length in words of the longest verbatim run each document shares with the query."""
    q_words = [w for w, _, _ in tokens_with_spans(query_text)]
    out = np.zeros(len(documents), dtype=np.float64)
    for d, doc in enumerate(documents):
        runs = _maximal_runs(q_words, [w for w, _, _ in tokens_with_spans(doc)])
        best = max((r[2] for r in runs), default=0)
        out[d] = best if best >= min_words else 0
    return out


# ---------------------------------------------------------------------------
# Keywords


def tfidf_keywords(shown: Sequence[str], index: BM25Index, top: int = 10) -> list[tuple[str, float]]:
    """Top TF-IDF content words of the shown examples, IDF taken over the whole training set."""
    counts = Counter(w for doc in shown for w in content_words(doc))
    if not counts:
        return []
    scored = [(w, c * index.idf_of(w)) for w, c in counts.items()]
    scored.sort(key=lambda x: (-x[1], x[0]))
    best = scored[0][1]
    return [(w, round(s / best, 4)) for w, s in scored[:top]]
