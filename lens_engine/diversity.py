"""Corpus diversity scores (analysis 7): how repetitive a dataset is, as one set of numbers.

Where the ``diversity`` package (Shaib et al., "Standardizing the Measurement of Text
Diversity", PyPI ``diversity==0.3.1``) defines a metric, Lens computes the same number from
the same input, including that package's tokenisation and byte accounting, so that Lens's
scores can be set beside published ones.  tests/engine/test_diversity.py checks this
against the package itself.  Two places differ on purpose, each explained in its docstring:
homogenization when every pair scores 0 (the package then returns 1.0), and template
matching (the package looks for a template's words as raw substrings, which misses rows
where spaCy splits a word, e.g. "isn't" → "is n't"; Lens matches the row's own tags).

Everything pairwise is computed on a seeded sample of rows (``sample_size``), so the cost is
O(sample²) however large the corpus; everything else is a few numpy passes over integer
n-gram codes (no Python loop over n-grams, no all-pairs loop over rows).

Per-row contributions, where a metric has them, are returned as arrays aligned with the rows:
``row_repetition`` (the share of a row's word 4-grams that other rows also contain; the
editor's hover), ``row_self_repetition`` and the template arrays.
"""

from __future__ import annotations

import gzip
import io
import math
import re
import struct
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, fields

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from .syntax import TaggedText
from .text import words

# Defaults of the diversity package (compute_all_metrics, extract_patterns).
DISTINCT_MAX_N = 4
SELF_REPETITION_N = 4
TEMPLATE_N = 5
TEMPLATE_TOP_N = 100
SELF_BLEU_MAX_N = 4
# nltk's SmoothingFunction().method1 epsilon, as Texygen's Self-BLEU uses it.
SELF_BLEU_EPSILON = 0.1

_blas = None


def one_blas_thread():
    """A context with BLAS on one thread (threadpoolctl's library scan done once, not
    the ~10 ms per call of ``threadpool_limits``)."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController

        _blas = ThreadpoolController()
    return _blas.limit(limits=1, user_api="blas")


# Rows per block of a pairwise computation (memory: block × rows).
_PAIR_BLOCK = 1024

# rouge_score's default tokenizer: lower-case, every run of non-[a-z0-9] is a separator.
_ROUGE_SEPARATOR = re.compile(r"[^a-z0-9]+")


# ---------------------------------------------------------------------------
# Token streams and exact n-gram codes
# ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TokenStream:
    """All rows' tokens as one integer array, so n-grams can be counted with numpy."""

    ids: np.ndarray  # int64 token id per token, rows back to back
    row_of: np.ndarray  # int64 row index of each token
    row_lengths: np.ndarray  # int64 tokens per row
    vocab_size: int


def token_stream(token_lists: list[list[str]]) -> TokenStream:
    """Encode rows of tokens as dense ids (0..V-1) in one flat array."""
    flat = [t for tokens in token_lists for t in tokens]
    row_lengths = np.fromiter(map(len, token_lists), dtype=np.int64, count=len(token_lists))
    ids, vocab = _token_ids(flat)
    row_of = np.repeat(np.arange(len(token_lists), dtype=np.int64), row_lengths)
    return TokenStream(ids, row_of, row_lengths, len(vocab))


def _token_ids(flat: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    # A dict keyed by first occurrence is exact and, unlike np.unique on a string array,
    # needs no fixed-width copy of every token.
    vocab = {t: i for i, t in enumerate(dict.fromkeys(flat))}
    return np.fromiter(map(vocab.__getitem__, flat), dtype=np.int64, count=len(flat)), vocab


# Rows are tokenised as one joined string: one tokeniser call instead of one per row (~5x
# faster for whitespace splitting at 100k rows).  The joiner is a private-use character
# between spaces; both tokenisers used here return it as a token of its own, so it marks
# where each row ends.  A corpus that contains that character is tokenised row by row.
_ROW_BREAK = "\ue000"
_ROW_JOINER = f" {_ROW_BREAK} "


def joined_token_stream(texts: list[str], tokenize: Callable[[str], list[str]]) -> TokenStream:
    """Same as ``token_stream([tokenize(t) for t in texts])``, tokenising the corpus once.

    Valid for tokenisers whose tokens never span whitespace and that keep a lone
    private-use character as one token (``str.split`` and ``lens_engine.text.words`` do).
    """
    joined = _ROW_JOINER.join(texts)
    if len(texts) < 2 or joined.count(_ROW_BREAK) != len(texts) - 1:
        return token_stream([tokenize(t) for t in texts])
    ids, vocab = _token_ids(tokenize(joined))
    is_break = ids == vocab[_ROW_BREAK]
    row_of = np.cumsum(is_break)[~is_break]
    ids = ids[~is_break]
    row_lengths = np.bincount(row_of, minlength=len(texts)).astype(np.int64)
    return TokenStream(ids, row_of, row_lengths, len(vocab))


def _dense_groups(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber values 0..K-1 in sorted order (equal values, equal numbers), by one sort;
    also each number's first position in ``values``.

    (numpy 2's ``np.unique`` takes a hash path that is ~10x slower than sorting here.)
    """
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts_new = np.empty(values.size, dtype=bool)
    starts_new[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts_new[1:])
    dense = np.empty(values.size, dtype=np.int64)
    dense[order] = np.cumsum(starts_new) - 1
    return dense, order[starts_new]


def _dense(values: np.ndarray) -> np.ndarray:
    return _dense_groups(values)[0]


def count_unique(values: np.ndarray) -> int:
    """Number of distinct values, by one sort."""
    if values.size == 0:
        return 0
    ordered = np.sort(values)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1


# Packed codes stay below this, so products and sums of codes never overflow int64.
_PACKED_LIMIT = 1 << 62


def window_codes(ids: np.ndarray, vocab_size: int, max_n: int) -> list[np.ndarray]:
    """Exact codes of every n-gram window of ``ids`` for n = 1..max_n.

    ``codes[n-1][i]`` identifies ``ids[i:i+n]``: equal n-grams get equal codes, different
    ones different codes (no hashing, so no collisions).  Each order packs the previous
    order's code with one more token id (base V); only if the packed value could pass
    2⁶² is the previous order first renumbered densely.
    """
    codes = [ids.astype(np.int64)]
    base = max(vocab_size, 1)
    code_bound = base  # every code of the last order is below this
    for n in range(2, max_n + 1):
        prev = codes[-1]
        if prev.size <= 1:
            codes.append(np.zeros(0, dtype=np.int64))
            continue
        if code_bound * base >= _PACKED_LIMIT:
            prev = _dense(prev)
            code_bound = int(prev.max()) + 1
        codes.append(prev[:-1] * base + ids[n - 1 :])
        code_bound *= base
    return codes


def row_ngrams(stream: TokenStream, codes_n: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes and rows of the n-gram windows that lie inside one row."""
    if codes_n.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    inside = stream.row_of[: codes_n.size] == stream.row_of[n - 1 :]
    return codes_n[inside], stream.row_of[: codes_n.size][inside]


@dataclass(frozen=True, slots=True)
class RowNgramCounts:
    """Each distinct (row, n-gram) pair once, with the n-gram as a dense group number."""

    rows: np.ndarray  # row of each pair
    groups: np.ndarray  # dense n-gram number (0..G-1) of each pair
    counts: np.ndarray  # occurrences of the n-gram in that row
    rows_containing: np.ndarray  # per group: how many rows contain the n-gram


def row_ngram_counts(codes: np.ndarray, rows: np.ndarray) -> RowNgramCounts:
    """Group n-gram occurrences by (n-gram, row) with one stable sort.

    ``rows`` is non-decreasing (rows are laid out back to back), so a stable sort by code
    leaves each code's occurrences ordered by row, and a pair starts wherever the code or
    the row changes.
    """
    if codes.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return RowNgramCounts(empty, empty, empty, empty)
    order = np.argsort(codes, kind="stable")
    sorted_codes, sorted_rows = codes[order], rows[order]
    new_code = np.empty(codes.size, dtype=bool)
    new_code[:1] = True
    np.not_equal(sorted_codes[1:], sorted_codes[:-1], out=new_code[1:])
    new_pair = new_code.copy()
    new_pair[1:] |= sorted_rows[1:] != sorted_rows[:-1]
    pair_starts = np.flatnonzero(new_pair)
    groups = (np.cumsum(new_code) - 1)[pair_starts]
    counts = np.diff(np.append(pair_starts, codes.size))
    rows_containing = np.bincount(groups)
    return RowNgramCounts(sorted_rows[pair_starts], groups, counts, rows_containing)


def ngrams_within_rows(stream: TokenStream, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes and rows of every n-gram of the stream that lies inside one row."""
    return row_ngrams(stream, window_codes(stream.ids, stream.vocab_size, n)[n - 1], n)


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------


def package_gzip_size(member: bytes) -> int:
    """Bytes of the file the diversity package writes to measure compressed size, given
    ``member``, the gzip of the payload.

    The package writes ``gzip.compress(payload)`` *through* a ``GzipFile`` named
    ``compressed.gz``, i.e. a gzip of a gzip with that file name in its header.  Lens
    reproduces that accounting (in memory) so its ratios equal the package's and so stay
    comparable with scores published with it; the extra container costs a few dozen bytes.
    """
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="compressed.gz", mode="wb", fileobj=buffer) as container:
        container.write(member)
    return buffer.getbuffer().nbytes


def gzip_of_raw(payload: bytes, raw: bytes) -> bytes:
    """``gzip.compress(payload)`` (level 9), given the payload's raw deflate stream.

    The header carries the current time, as the package's does.  Those 4 bytes are
    compressed again by the outer file, so its size can differ by a byte or two from one
    second to the next: the package's ratio wobbles by that much too."""
    header = struct.pack("<BBBBLBB", 0x1F, 0x8B, 8, 0, int(time.time()), 2, 255)
    return header + raw + struct.pack("<LL", zlib.crc32(payload), len(payload) & 0xFFFFFFFF)


def gzip_member(payload: bytes) -> bytes:
    """``gzip.compress(payload)``, by way of :func:`gzip_of_raw`."""
    return gzip_of_raw(payload, zlib.compress(payload, 9, wbits=-15))


def compression_ratio(texts: list[str]) -> float:
    """Compression ratio: size of the rows joined by spaces / its gzip size (level 9).

    Higher means more repetitive.  Same number as ``diversity.compression_ratio(texts)``
    before that function's rounding to 3 decimals.
    """
    payload = " ".join(texts).encode("utf-8")
    return len(payload) / package_gzip_size(gzip_member(payload))


def pos_compression_ratio(tagged: list[TaggedText]) -> float:
    """Compression ratio of the part-of-speech sequences (CR-POS in Shaib et al.).

    Each row becomes its tags joined by spaces; the ratio is then :func:`compression_ratio`
    of those rows.  Measures syntactic rather than lexical repetition.
    """
    return compression_ratio([" ".join(t.pos) for t in tagged])


# ---------------------------------------------------------------------------
# Lexical repetition
# ---------------------------------------------------------------------------


def distinct_n(texts: list[str], max_n: int = DISTINCT_MAX_N) -> list[float]:
    """distinct-n for n = 1..max_n: unique n-grams / all n-grams in the corpus.

    Tokenised as the diversity package's ``ngram_diversity_score`` does, so that the sum of
    these values is that function's score: the rows are joined with single spaces and split
    on single spaces (case and punctuation kept; n-grams run across row boundaries).  An
    order with no n-grams scores 0.
    """
    tokens = " ".join(texts).split(" ")
    stream = token_stream([tokens])
    codes = window_codes(stream.ids, stream.vocab_size, max_n)
    return [count_unique(c) / c.size if c.size else 0.0 for c in codes]


def self_repetition(texts: list[str], n: int = SELF_REPETITION_N) -> tuple[float, np.ndarray]:
    """Self-repetition (Salkar et al.; diversity.self_repetition_score) and each row's term.

    For row i with distinct whitespace n-grams G_i, let s_i = Σ_{g ∈ G_i} (number of *other*
    rows containing g).  The row's term is log(s_i + 1); the score is the mean over rows
    (rows with fewer than n words contribute log 1 = 0).  Higher means more repetitive.
    Tokens are whitespace-split and case-sensitive, as in the package.
    """
    if not texts:
        return 0.0, np.zeros(0)
    codes, rows = ngrams_within_rows(joined_token_stream(texts, str.split), n)
    pairs = row_ngram_counts(codes, rows)
    in_other_rows = np.bincount(pairs.rows, weights=pairs.rows_containing[pairs.groups] - 1, minlength=len(texts))
    per_row = np.log(in_other_rows + 1)
    return float(per_row.mean()), per_row


def row_repetition(texts: list[str], n: int = 4) -> np.ndarray:
    """Per row: the share of its distinct word n-grams that also occur in another row.

    Words are :func:`lens_engine.text.words` (lower-cased, punctuation split off).  0 for a
    row with fewer than n words (it has no n-gram to share).  This is what the editor shows
    on hover: 1.0 means every phrase of the row is found elsewhere in the dataset.
    """
    if not texts:
        return np.zeros(0)
    codes, rows = ngrams_within_rows(joined_token_stream(texts, words), n)
    pairs = row_ngram_counts(codes, rows)
    total = np.bincount(pairs.rows, minlength=len(texts))
    shared = np.bincount(pairs.rows, weights=pairs.rows_containing[pairs.groups] > 1, minlength=len(texts))
    return np.divide(shared, total, out=np.zeros(len(texts)), where=total > 0)


# ---------------------------------------------------------------------------
# Pairwise similarity on a sample: homogenization (ROUGE-L) and Self-BLEU
# ---------------------------------------------------------------------------


def sample_rows(n_rows: int, sample_size: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded uniform sample (all rows when there are few enough)."""
    if n_rows <= sample_size:
        return np.arange(n_rows)
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=sample_size, replace=False))


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenisation (no stemming): lower-case [a-z0-9] runs."""
    return _ROUGE_SEPARATOR.sub(" ", text.lower()).split()


def _as_symbol_strings(token_lists: list[list[str]]) -> list[str]:
    """One character per distinct token, so rapidfuzz's bit-parallel LCS works on words.

    Room for ~1.1M distinct tokens (Unicode's code points), far more than a sample holds.
    """
    vocab: dict[str, str] = {}
    for tokens in token_lists:
        for t in tokens:
            if t not in vocab:
                code = 0x100 + len(vocab)
                # Skip the surrogate block: those code points cannot stand alone in a str.
                vocab[t] = chr(code if code < 0xD800 else code + 0x800)
    return ["".join(vocab[t] for t in tokens) for tokens in token_lists]


def homogenization_rougel(texts: list[str]) -> float:
    """Homogenization score with ROUGE-L (Padmakumar & He; diversity.homogenization_score).

    The mean, over all ordered pairs of different rows, of the ROUGE-L F-measure
    2·LCS(a, b) / (|a| + |b|) on rouge_score's tokens (0 when either row has none).  Higher
    means more homogeneous.  Called on a sample by :func:`diversity_scores`.

    Differs from the package only on degenerate input: when every pair scores 0 the package
    returns 1.0 (a guard meant for identical rows, which already score 1); Lens returns 0.
    """
    if len(texts) < 2:
        raise ValueError("homogenization needs at least two rows")
    token_lists = [rouge_tokens(t) for t in texts]
    symbols = _as_symbol_strings(token_lists)
    lengths = np.array([len(t) for t in token_lists], dtype=np.float64)
    n = len(texts)
    total = 0.0
    # Blocks of rows against all rows keep memory at block × n (a 10k-row call stays small).
    for start in range(0, n, _PAIR_BLOCK):
        stop = min(start + _PAIR_BLOCK, n)
        lcs = process.cdist(symbols[start:stop], symbols, scorer=LCSseq.similarity, dtype=np.int32, workers=1)
        length_sums = lengths[start:stop, None] + lengths[None, :]
        f_measure = np.divide(2.0 * lcs, length_sums, out=np.zeros(lcs.shape), where=length_sums > 0)
        f_measure[np.arange(stop - start), np.arange(start, stop)] = 0.0  # a row with itself
        total += float(f_measure.sum())
    return total / (n * (n - 1))


def _closest_other_length(lengths: np.ndarray) -> np.ndarray:
    """For each row, the length of another row closest to its own (ties: the shorter).

    nltk's closest_ref_length over "all other rows" without an O(n²) loop: look only at the
    neighbours of the row's length among the sorted distinct lengths, after removing the row
    itself from its length's count.
    """
    values, counts = np.unique(lengths, return_counts=True)
    position = np.searchsorted(values, lengths)
    shared = counts[position] > 1  # another row has exactly this length
    below = np.where(position > 0, values[np.maximum(position - 1, 0)], -1)
    above = np.where(position + 1 < values.size, values[np.minimum(position + 1, values.size - 1)], -1)
    has_below, has_above = below >= 0, above >= 0
    below_gap = np.where(has_below, lengths - below, np.iinfo(np.int64).max)
    above_gap = np.where(has_above, above - lengths, np.iinfo(np.int64).max)
    nearest = np.where(below_gap <= above_gap, below, above)
    return np.where(shared, lengths, nearest)


def _clipped_matches(pairs: RowNgramCounts, n_rows: int) -> np.ndarray:
    """Per row: Σ over its n-grams of min(count in row, largest count in any other row)."""
    n_groups = pairs.rows_containing.size
    # Each group's pairs ordered by count, largest first: the first is the top row.
    order = np.lexsort((-pairs.counts, pairs.groups))
    groups, counts, rows = pairs.groups[order], pairs.counts[order], pairs.rows[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = groups[1:] != groups[:-1]
    second = np.zeros(order.size, dtype=bool)
    second[1:] = first[:-1] & ~first[1:]
    top_count = np.zeros(n_groups, dtype=np.int64)
    top_row = np.full(n_groups, -1, dtype=np.int64)
    second_count = np.zeros(n_groups, dtype=np.int64)
    top_count[groups[first]] = counts[first]
    top_row[groups[first]] = rows[first]
    second_count[groups[second]] = counts[second]
    in_others = np.where(top_row[groups] == rows, second_count[groups], top_count[groups])
    return np.bincount(rows, weights=np.minimum(counts, in_others), minlength=n_rows)


def self_bleu_per_row(token_lists: list[list[str]], max_n: int = SELF_BLEU_MAX_N) -> np.ndarray:
    """Self-BLEU of each row: BLEU-max_n of the row against all other rows as references.

    Exactly nltk's ``sentence_bleu(others, row, weights=(1/max_n,)*max_n,
    smoothing_function=SmoothingFunction().method1)`` as Texygen's Self-BLEU uses it:
    clipped n-gram precisions p_n (a zero numerator becomes 0.1), brevity penalty against
    the closest other length, 0 when no unigram matches.

    All rows at once in linear time: a row's clip count for an n-gram is the largest count
    of it in any *other* row, i.e. the top count over rows, or the second one where the row
    itself holds the top.
    """
    n_rows = len(token_lists)
    stream = token_stream(token_lists)
    all_codes = window_codes(stream.ids, stream.vocab_size, max_n)
    log_precision = np.zeros(n_rows)
    no_unigram_match = np.zeros(n_rows, dtype=bool)
    for n in range(1, max_n + 1):
        codes, rows = row_ngrams(stream, all_codes[n - 1], n)
        windows = np.maximum(stream.row_lengths - n + 1, 0)
        matched = np.zeros(n_rows)
        if codes.size:
            matched = _clipped_matches(row_ngram_counts(codes, rows), n_rows)
        if n == 1:
            no_unigram_match = matched == 0
        denominator = np.maximum(windows, 1)
        precision = np.where(matched > 0, matched, SELF_BLEU_EPSILON) / denominator
        log_precision += np.log(precision) / max_n
    lengths = stream.row_lengths
    reference_lengths = _closest_other_length(lengths)
    with np.errstate(divide="ignore", invalid="ignore"):
        brevity = np.where(lengths > reference_lengths, 1.0, np.exp(1 - reference_lengths / np.maximum(lengths, 1)))
    return np.where(no_unigram_match, 0.0, brevity * np.exp(log_precision))


def self_bleu(texts: list[str]) -> float:
    """Self-BLEU-4 (Zhu et al., Texygen): mean over rows of :func:`self_bleu_per_row`.

    Words are :func:`lens_engine.text.words`.  Higher means more homogeneous.  Because each
    row is scored against all the others, the value grows with the number of rows;
    :func:`diversity_scores` therefore reports it on a fixed-size sample so that datasets of
    different sizes compare.
    """
    if len(texts) < 2:
        raise ValueError("Self-BLEU needs at least two rows")
    return float(self_bleu_per_row([words(t) for t in texts]).mean())


# ---------------------------------------------------------------------------
# Syntactic templates (Shaib et al. 2024, "Detection and Measurement of Syntactic Templates")
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class TemplateScores:
    """Templates are the corpus's top_n most frequent part-of-speech n-grams."""

    templates: list[tuple[str, int]]  # (tags joined by spaces, occurrences), most frequent first
    template_rate: float  # share of rows containing at least one template
    templates_per_token: float  # mean over rows of row_templates_per_token
    row_has_template: np.ndarray  # bool per row
    row_templates_per_token: np.ndarray  # template occurrences / whitespace words, per row


def template_scores(
    tagged: list[TaggedText], texts: list[str], n: int = TEMPLATE_N, top_n: int = TEMPLATE_TOP_N
) -> TemplateScores:
    """Template rate and templates-per-token, as the diversity package defines them.

    Templates: count every tag n-gram inside a row over the whole corpus; the top_n by
    count (ties: first seen first, like nltk's FreqDist ordering) are the templates.
    A row contains a template where its tag sequence has one of those n-grams; its
    templates-per-token is the number of positions where a template starts divided by its
    whitespace word count (the package's denominator).

    Differences from the package (see the agreement test for their size): the package
    finds templates in sentence-split text joined across rows, and then searches each row
    for the *words* that carried a template anywhere (as raw substrings); Lens keeps
    templates inside rows and matches the row's own tags, which is what a template means.
    Tags are whatever ``TaggedText.pos`` holds: Lens's tagger stores coarse universal POS
    (17 tags), the package fine-grained Penn tags (~50), so Lens's rates run somewhat higher
    unless Penn tags are passed (on the LinguisticLens music queries: 0.28 vs 0.26).
    """
    if len(tagged) != len(texts):
        raise ValueError(f"{len(tagged)} tagged rows for {len(texts)} texts")
    n_rows = len(texts)
    stream = token_stream([t.pos for t in tagged])
    codes, rows = ngrams_within_rows(stream, n)
    whitespace_words = np.fromiter((len(t.split()) for t in texts), dtype=np.float64, count=n_rows)
    if codes.size == 0:
        zeros = np.zeros(n_rows)
        return TemplateScores([], 0.0, 0.0, zeros.astype(bool), zeros)
    groups, first_index = _dense_groups(codes)
    counts = np.bincount(groups)
    ranked = np.lexsort((first_index, -counts))[:top_n]
    is_template = np.zeros(counts.size, dtype=bool)
    is_template[ranked] = True
    # Read each template's tags back from its first occurrence in the flat tag stream.
    window_starts = np.flatnonzero(stream.row_of[: stream.row_of.size - n + 1] == stream.row_of[n - 1 :])
    flat_tags = [tag for t in tagged for tag in t.pos]
    templates = [
        (" ".join(flat_tags[window_starts[first_index[k]] : window_starts[first_index[k]] + n]), int(counts[k]))
        for k in ranked
    ]
    starts_per_row = np.bincount(rows[is_template[groups]], minlength=n_rows).astype(np.float64)
    per_row = np.divide(starts_per_row, whitespace_words, out=np.zeros(n_rows), where=whitespace_words > 0)
    has_template = starts_per_row > 0
    return TemplateScores(templates, float(has_template.mean()), float(per_row.mean()), has_template, per_row)


# ---------------------------------------------------------------------------
# Embedding scores
# ---------------------------------------------------------------------------


def unit_rows(embeddings: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, in float64 (a zero row stays zero)."""
    x = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def vendi_score(embeddings: np.ndarray, unit: np.ndarray | None = None) -> float:
    """Vendi score (Friedman & Dieng 2023) with the cosine kernel: the effective number of
    distinct rows.

    exp(−Σ λ_i log λ_i) over the eigenvalues λ of K/n, K_ij = cos(x_i, x_j).  1 when all rows
    are the same, n when all are orthogonal.  K/n = XXᵀ/n has the same non-zero eigenvalues
    as XᵀX/n (d×d), so the cost is O(n·d²), not O(n³).
    """
    x = unit_rows(embeddings) if unit is None else unit
    n, d = x.shape
    gram = (x @ x.T) if n <= d else (x.T @ x)
    eigenvalues = np.linalg.eigvalsh(gram / n)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    return float(np.exp(-np.sum(eigenvalues * np.log(eigenvalues))))


def remote_clique(embeddings: np.ndarray, unit: np.ndarray | None = None) -> float:
    """Remote-clique score (diversity.remote_clique, given embeddings): mean cosine
    distance over all n² pairs, the zero self-distances included.

    Σ_{i≠j} cos(x_i, x_j) = ‖Σ_i x̂_i‖² − Σ_i ‖x̂_i‖² for unit rows x̂, so it costs O(n·d)
    instead of the n×n distance matrix.
    """
    x = unit_rows(embeddings) if unit is None else unit
    n = x.shape[0]
    total = x.sum(axis=0)
    off_diagonal_similarity = float(total @ total) - float(np.einsum("ij,ij->", x, x))
    return (n * (n - 1) - off_diagonal_similarity) / (n * n)


def chamfer_distance(embeddings: np.ndarray, queries: np.ndarray, block: int = _PAIR_BLOCK,
                     unit: np.ndarray | None = None) -> float:
    """Chamfer distance (diversity.chamfer_dist, given embeddings): mean over rows of the
    cosine distance to the nearest other row.  Higher means fewer near-duplicates.

    Averaged over the ``queries`` rows (a sample), each against *all* rows, which is an
    unbiased estimate of the full mean and exact when ``queries`` is every row.  Computed
    in the embeddings' own precision when that is float32 (sentence-transformers' output,
    and what the package computes in): half the time of float64 for the rows × rows product.
    ``unit``: the rows already scaled to unit length (float64), when the caller has them.
    """
    precision = np.float32 if np.asarray(embeddings).dtype == np.float32 else np.float64
    x = (unit if unit is not None else unit_rows(embeddings)).astype(precision, copy=False)
    nearest_similarity, _ = nearest_other(x, queries, block)
    # sklearn's cosine_distances (which the package uses) clips 1 − cos to [0, 2].
    return float(np.clip(1.0 - nearest_similarity, 0.0, 2.0).mean())


def nearest_other(unit: np.ndarray, queries: np.ndarray, block: int = _PAIR_BLOCK) -> tuple[np.ndarray, np.ndarray]:
    """For each query row: the cosine of its nearest other row (of unit rows), and that row."""
    similarity_out = np.empty(queries.size, dtype=np.float64)
    row_out = np.empty(queries.size, dtype=np.int64)
    for start in range(0, queries.size, block):
        chunk = queries[start : start + block]
        similarity = unit[chunk] @ unit.T
        similarity[np.arange(chunk.size), chunk] = -np.inf  # not its own neighbour
        best = similarity.argmax(axis=1)
        row_out[start : start + chunk.size] = best
        similarity_out[start : start + chunk.size] = similarity[np.arange(chunk.size), best]
    return similarity_out, row_out


# ---------------------------------------------------------------------------
# All scores
# ---------------------------------------------------------------------------


@dataclass
class DiversityScores:
    """Corpus diversity scores; a field is None when its input was not given (or too small).

    Lower is more diverse for compression ratios, self-repetition, homogenization, Self-BLEU
    and template scores; higher is more diverse for distinct-n, n-gram diversity, Vendi,
    remote clique and Chamfer distance.  The ``row_*`` arrays are per-row contributions,
    aligned with the input rows.
    """

    n_rows: int
    compression_ratio: float | None = None
    pos_compression_ratio: float | None = None
    distinct_1: float | None = None
    distinct_2: float | None = None
    distinct_3: float | None = None
    distinct_4: float | None = None
    ngram_diversity: float | None = None  # distinct_1 + … + distinct_4
    self_repetition: float | None = None
    homogenization_rougel: float | None = None  # on the sample
    self_bleu: float | None = None  # on the sample
    sample_size: int = 0  # rows the pairwise scores (and Chamfer queries) used
    seed: int = 0
    template_rate: float | None = None
    templates_per_token: float | None = None
    templates: list[tuple[str, int]] | None = None
    vendi_score: float | None = None
    remote_clique: float | None = None
    chamfer_distance: float | None = None
    row_repetition: np.ndarray | None = None
    row_self_repetition: np.ndarray | None = None
    row_has_template: np.ndarray | None = None
    row_templates_per_token: np.ndarray | None = None

    def to_dict(self, *, rows: bool = False) -> dict:
        """JSON-ready scores; the per-row arrays only when ``rows`` is true (they are long)."""
        out: dict = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("row_") and not rows:
                continue
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif f.name == "templates" and value is not None:
                value = [{"pattern": pattern, "count": count} for pattern, count in value]
            out[f.name] = value
        return out


def diversity_scores(
    texts: list[str],
    tagged: list[TaggedText] | None = None,
    embeddings: np.ndarray | None = None,
    *,
    sample_size: int = 500,
    seed: int = 0,
) -> DiversityScores:
    """Every corpus diversity score Lens reports, with per-row contributions.

    ``tagged`` (aligned with ``texts``) enables the POS compression ratio and the template
    scores; ``embeddings`` (one row per text) the Vendi, remote-clique and Chamfer scores.
    Homogenization, Self-BLEU and the Chamfer queries use the same seeded sample of
    ``sample_size`` rows (all rows when there are fewer).
    """
    n_rows = len(texts)
    if tagged is not None and len(tagged) != n_rows:
        raise ValueError(f"{len(tagged)} tagged rows for {n_rows} texts")
    if embeddings is not None and len(embeddings) != n_rows:
        raise ValueError(f"{len(embeddings)} embeddings for {n_rows} texts")
    scores = DiversityScores(n_rows=n_rows, seed=seed)
    if n_rows == 0:
        return scores
    # gzip at level 9 is the costliest single step; zlib releases the GIL, so both
    # compressions run in a worker thread while the n-gram counts run here.
    with ThreadPoolExecutor(max_workers=1) as compressor:
        text_compression = compressor.submit(compression_ratio, texts)
        pos_compression = compressor.submit(pos_compression_ratio, tagged) if tagged is not None else None
        _lexical_scores(scores, texts, sample_size, seed)
        if tagged is not None:
            template_fields(scores, template_scores(tagged, texts, TEMPLATE_N, TEMPLATE_TOP_N))
        if embeddings is not None:
            _embedding_scores(scores, embeddings, sample_rows(n_rows, sample_size, seed))
        scores.compression_ratio = text_compression.result()
        scores.pos_compression_ratio = pos_compression.result() if pos_compression is not None else None
    return scores


def _lexical_scores(scores: DiversityScores, texts: list[str], sample_size: int, seed: int) -> None:
    distinct = distinct_n(texts, DISTINCT_MAX_N)
    scores.distinct_1, scores.distinct_2, scores.distinct_3, scores.distinct_4 = distinct
    scores.ngram_diversity = math.fsum(distinct)
    scores.self_repetition, scores.row_self_repetition = self_repetition(texts, SELF_REPETITION_N)
    scores.row_repetition = row_repetition(texts, 4)
    sample = sample_rows(len(texts), sample_size, seed)
    scores.sample_size = int(sample.size)
    if sample.size >= 2:
        sampled = [texts[i] for i in sample]
        scores.homogenization_rougel = homogenization_rougel(sampled)
        scores.self_bleu = self_bleu(sampled)


def template_fields(scores: DiversityScores, template: TemplateScores) -> None:
    scores.template_rate = template.template_rate
    scores.templates_per_token = template.templates_per_token
    scores.templates = template.templates
    scores.row_has_template = template.row_has_template
    scores.row_templates_per_token = template.row_templates_per_token


def _embedding_scores(scores: DiversityScores, embeddings: np.ndarray, sample: np.ndarray) -> None:
    # These products are small (n×384); on a shared 2-core machine a second BLAS thread
    # spin-waiting for a core made them ~5x slower than one thread, so use one.
    with one_blas_thread():
        unit = unit_rows(embeddings)  # once: it is a copy of every vector
        scores.vendi_score = vendi_score(embeddings, unit)
        scores.remote_clique = remote_clique(embeddings, unit)
        if len(embeddings) >= 2:
            scores.chamfer_distance = chamfer_distance(embeddings, sample, unit=unit)
