"""Run every analysis on a dataset and turn the results into findings.

This is the one entry point the CLI and the language server share:
:func:`analyze_path` for a file on disk, :func:`analyze_text` for an editor
buffer.  The costly per-row work (tagging, embedding) comes from a cache keyed
by the row's text, so re-analysing after an edit redoes only the edited rows.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import findings as F
from .cache import RowCache, content_key
from .config import Settings
from .datasets import (DatasetError, DatasetReader, FieldValue, ParseProblem, Record, RecordMemo,
                       choose_text_column)
from .errors import AnalysisCancelled
from .duplicates import (DuplicatePair, NearDuplicateIndex, NearPairsMemo, duplicate_groups, exact_duplicates,
                         near_duplicates, normalized_rows)
from .findings import Finding, RelatedRow
from .phrases import RepeatedPhrase, WordCache, lexical_repetition
from .seeds import SeedCopy, read_seeds_file, seed_copies, seed_rows_by_text, seed_rows_by_value
from .source import Position, Range
from .suppressions import load_suppressions, row_key
from .syntax import (SequenceRows, SyntacticTemplate, TaggedText, dominant_count, load_pipeline, syntactic_templates,
                     tag_texts, template_index)
from .text import changed_rows
from .threads import one_torch_thread

Progress = Callable[[str, int, int], None]  # (stage, done, total)

SAMPLE_PATH = Path(__file__).parent / "data" / "music_requests.csv"




# ---------------------------------------------------------------------------
# Warm models and per-row caches, shared by every analysis in this process.

_models: dict[tuple[str, str], object] = {}
_models_lock = threading.Lock()


def spacy_pipeline(name: str):
    with _models_lock:
        key = ("spacy", name)
        if key not in _models:
            _models[key] = load_pipeline(name)
        return _models[key]


def embedding_model(name: str | None, device: str | None = None):
    from .semantic import load_embedding_model

    with _models_lock:
        key = ("embedding", f"{name}@{device}")
        if key not in _models:
            _models[key] = load_embedding_model(name, device=device)
        return _models[key]


class RowStore:
    """Per-row results by content: a memory dict in front of the on-disk cache."""

    def __init__(self, disk: RowCache | None, max_items: int = 500_000):
        self.disk = disk
        self.memory: dict[tuple[str, bytes], object] = {}
        self.max_items = max_items
        self.lock = threading.Lock()
        self.indexes: dict[tuple, object] = {}  # pair indexes and per-row caches kept across analyses

    def index(self, key: tuple, factory: Callable[[], object]):
        """The index or cache for ``key`` (kind, threshold, model), made on first use."""
        with self.lock:
            if key not in self.indexes:
                self.indexes[key] = factory()
            return self.indexes[key]

    def forget(self, key: tuple) -> None:
        """Drop the index or cache for ``key``."""
        with self.lock:
            self.indexes.pop(key, None)

    def forget_document(self, path: str) -> None:
        """Drop a closed document's warm state: every index keyed ``(kind, path, ...)``
        (its records, findings, pairs, embeddings and scores: ~15 MB per 1,000 rows)."""
        with self.lock:
            for key in [k for k in self.indexes if len(k) > 1 and k[1] == path]:
                del self.indexes[key]

    def get_many(self, namespace: str, keys: Sequence[bytes]) -> dict[bytes, object]:
        found: dict[bytes, object] = {}
        missing = []
        with self.lock:
            for k in keys:
                v = self.memory.get((namespace, k))
                if v is not None:
                    found[k] = v
                else:
                    missing.append(k)
        if missing and self.disk is not None:
            from_disk = self.disk.get_many(namespace, missing)
            with self.lock:
                for k, v in from_disk.items():
                    self.memory[(namespace, k)] = v
            found.update(from_disk)
        return found

    def put_many(self, namespace: str, items: list[tuple[bytes, object]]) -> None:
        with self.lock:
            if len(self.memory) + len(items) > self.max_items:
                self.memory.clear()
            for k, v in items:
                self.memory[(namespace, k)] = v
        if self.disk is not None:
            self.disk.put_many(namespace, items)


_default_store: RowStore | None = None


def default_row_store(use_disk: bool = True) -> RowStore:
    global _default_store
    if _default_store is None:
        disk = None
        if use_disk:
            try:
                disk = RowCache()
            except Exception:  # a read-only home must not stop an analysis
                disk = None
        _default_store = RowStore(disk)
    return _default_store


# ---------------------------------------------------------------------------
# Results


@dataclass
class ColumnData:
    name: str
    values: list[FieldValue | None]  # per data row

    @property
    def texts(self) -> list[str | None]:
        return [v.text if v is not None and v.text.strip() else None for v in self.values]


@dataclass
class ColumnResult:
    column: str
    texts: list[str | None] = field(default_factory=list, repr=False)
    values: list[FieldValue | None] = field(default_factory=list, repr=False)
    exact_groups: list[list[int]] = field(default_factory=list)
    near_pairs: list[DuplicatePair] = field(default_factory=list)
    semantic_pairs: list[tuple[int, int, float]] = field(default_factory=list)
    phrases: list[RepeatedPhrase] = field(default_factory=list)
    templates: list[SyntacticTemplate] = field(default_factory=list)
    seed_copies: list[SeedCopy] = field(default_factory=list)
    tagged: list[TaggedText | None] | None = None
    embeddings: np.ndarray | None = None
    scores: object | None = None  # DiversityScores
    clusters: object | None = None  # ClusterHierarchy
    row_repetition: np.ndarray | None = None
    diversity_state: object | None = field(default=None, repr=False, compare=False)  # DiversityState

    def to_dict(self) -> dict:
        return {
            "templates": [t.to_dict() for t in self.templates],
            "phrases": [p.to_dict() for p in self.phrases],
            "exact_duplicate_groups": self.exact_groups,
            "near_duplicate_pairs": [[p.a, p.b, round(p.similarity, 4)] for p in self.near_pairs],
            "semantic_duplicate_pairs": [[a, b, round(s, 4)] for a, b, s in self.semantic_pairs],
        }


@dataclass
class AnalysisResult:
    path: str | None
    format: str
    encoding: str
    rows: int
    columns: list[str]
    all_columns: list[str]
    findings: list[Finding]
    per_column: dict[str, ColumnResult]
    seed_rows: list[int]
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    row_ranges: list[Range] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for f in self.findings:
            counts[f.code] += 1
        return dict(sorted(counts.items()))

    def to_dict(self) -> dict:
        return {
            "version": 1,
            "path": self.path,
            "format": self.format,
            "encoding": self.encoding,
            "rows": self.rows,
            "columns": self.columns,
            "seed_rows": self.seed_rows,
            "notes": self.notes,
            "summary": self.summary(),
            "findings": [f.to_dict() for f in self.findings],
            "clusters": {c: r.clusters.to_dict() for c, r in self.per_column.items() if r.clusters is not None},
            "scores": {c: r.scores.to_dict() for c, r in self.per_column.items() if r.scores is not None},
            "analyses": {c: r.to_dict() for c, r in self.per_column.items()},
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }


# ---------------------------------------------------------------------------
# Reading


@dataclass
class _Read:
    reader: DatasetReader
    records: list[Record]
    rows: int


def _read(reader: DatasetReader, should_stop: Callable[[], bool] | None) -> _Read:
    records = []
    for i, record in enumerate(reader):
        records.append(record)
        if should_stop is not None and i % 4096 == 0 and should_stop():
            reader.close()
            raise AnalysisCancelled()
    return _Read(reader, records, len(records))


def _choose_columns(read: _Read, settings: Settings, notes: list[str], findings: list[Finding]) -> list[str]:
    columns = read.reader.columns
    header_range = Range(Position(0, 0), Position(0, 0))
    if settings.columns:
        chosen = []
        for col in settings.columns:
            if col in columns:
                chosen.append(col)
            else:
                findings.append(
                    Finding("missing-column", F.Severity.ERROR,
                            f"there is no column {col!r}; the columns are: {', '.join(columns) or '(none)'}",
                            None, header_range, col)
                )
        return chosen
    sample = [{c: r.text(c) for c in columns} for r in read.records[:300]]
    exclude = {settings.seed_column} if settings.seed_column else set()
    best = choose_text_column([c for c in columns if c not in exclude], sample)
    if best is None:
        return []
    if len(columns) > 1:
        notes.append(f"analysed column {best!r} (the one with the most free text); choose others with --column")
    return [best]


# ---------------------------------------------------------------------------
# The analysis


def analyze_path(path: str | Path | None = None, settings: Settings | None = None, **kwargs) -> AnalysisResult:
    """Analyse a dataset file (the bundled sample when ``path`` is None)."""
    path = Path(path) if path is not None else SAMPLE_PATH
    settings = settings or Settings()
    return _analyze(lambda: DatasetReader(path, format=settings.format), settings, base=path.parent, **kwargs)


def analyze_text(text: str, path: str | None = None, settings: Settings | None = None, **kwargs) -> AnalysisResult:
    """Analyse the text of an editor buffer; ``path`` gives the format by extension.

    Keyword arguments: ``progress``, ``should_stop``, ``store`` (see
    :func:`_analyze_dataset`) and ``freeze`` (see :func:`collector_paused`)."""
    settings = settings or Settings()
    store = kwargs.get("store")
    # With a row store, re-reading the same buffer after an edit parses only the changed records.
    memo = store.index(("records", path), RecordMemo) if store is not None else None
    return _analyze(lambda: DatasetReader(text=text, path=path, format=settings.format, memo=memo), settings,
                    base=Path(path).parent if path else Path.cwd(), **kwargs)


@contextmanager
def collector_paused(freeze: bool = False):
    """No cyclic garbage collection inside: the analysis (and the server's diagnostics
    after it) make hundreds of thousands of small objects and few cycles, and the
    collector's full passes over the warm caches took half of a re-analysis.

    Without ``freeze`` the collector, switched back on, still walks every object
    made inside once (200 ms for a 10k-row re-analysis). ``freeze`` moves them out
    of its sight instead (``gc.freeze``): for a long-lived process that keeps the
    results, like the language server. An analysis makes no reference cycles
    (checked: a collection after one finds nothing), so nothing frozen leaks; but
    ``gc.freeze`` also freezes whatever garbage cycles the process had pending,
    which is why a library caller doesn't get it by default."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


def _analyze(open_reader: Callable[[], DatasetReader], settings: Settings, *, freeze: bool = False,
             **kwargs) -> AnalysisResult:
    # The reader is made inside too: re-reading an edited buffer parses there, and a full
    # collection triggered by that parse once took 500 ms of a 300 ms re-analysis.
    with collector_paused(freeze):
        return _analyze_dataset(open_reader, settings, **kwargs)


def _analyze_dataset(
    open_reader: Callable[[], DatasetReader],
    settings: Settings,
    *,
    base: Path,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    store: RowStore | None = None,
) -> AnalysisResult:
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    reader = open_reader()
    read = _read(reader, should_stop)
    timings["read"] = time.perf_counter() - t0
    notes: list[str] = []
    findings: list[Finding] = []
    columns = _choose_columns(read, settings, notes, findings)
    store = store if store is not None else default_row_store(settings.cache)

    def check() -> None:
        if should_stop is not None and should_stop():
            raise AnalysisCancelled()

    seed_rows: list[int] = []
    extra_seeds: list[str] = []
    if settings.seed_column:
        if settings.seed_column not in reader.columns:
            # Information only: an editor-wide seed column setting meets files without it.
            findings.append(Finding("missing-column", F.Severity.INFORMATION,
                                    f"there is no seed column {settings.seed_column!r}, so seeds are not checked; "
                                    f"the columns are: {', '.join(reader.columns) or '(none)'}",
                                    None, Range(Position(0, 0), Position(0, 0)), settings.seed_column))
        else:
            values = [r.text(settings.seed_column) for r in read.records]
            seed_rows = seed_rows_by_value(values, settings.seed_value or "seed")

    result_columns: dict[str, ColumnResult] = {}
    for column in columns:
        data = ColumnData(column, [r.fields.get(column) for r in read.records])
        texts = data.texts
        if settings.seeds_file:
            seeds_path = Path(settings.seeds_file)
            if not seeds_path.is_absolute():
                seeds_path = base / seeds_path
            extra_seeds = read_seeds_file(seeds_path, column)
            in_file = seed_rows_by_text(texts, extra_seeds)
            seed_rows = sorted(set(seed_rows) | set(in_file))
        result = _analyze_column(data, texts, settings, seed_rows, extra_seeds, store, progress, check, timings,
                                 path=reader.path)
        result_columns[column] = result
        memo = store.index(("findings", str(reader.path), column), FindingsMemo)
        findings.extend(_column_findings(data, result, settings, seed_rows, read.rows, memo))
        _column_corpus_level(result, settings, check, timings)

    findings.extend(_problem_findings(reader.problems, settings))
    suppressed = load_suppressions(Path(reader.path)) if reader.path else set()
    if suppressed:
        findings = [f for f in findings if not _is_suppressed(f, result_columns, suppressed)]
    findings.sort(key=lambda f: (f.range.start.line, f.range.start.character, f.code))
    timings["total"] = time.perf_counter() - t0
    return AnalysisResult(
        path=reader.path, format=reader.format, encoding=reader.encoding, rows=read.rows, columns=columns,
        all_columns=reader.columns, findings=findings, per_column=result_columns, seed_rows=seed_rows,
        notes=notes, timings=timings, row_ranges=[r.range for r in read.records],
    )


def _is_suppressed(f: Finding, columns: dict[str, "ColumnResult"], suppressed: set[tuple[str, str, str]]) -> bool:
    if f.row is None or f.column not in columns:
        return False
    value = columns[f.column].values[f.row]
    return value is not None and (f.code, f.column, row_key(value.text)) in suppressed


@contextmanager
def _timed(timings: dict[str, float], name: str):
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def _analyze_column(
    data: ColumnData,
    texts: list[str | None],
    settings: Settings,
    seed_rows: list[int],
    extra_seeds: list[str],
    store: RowStore,
    progress: Progress | None,
    check: Callable[[], None],
    timings: dict[str, float],
    path: str | None = None,
) -> ColumnResult:
    result = ColumnResult(data.name, texts, data.values)
    from .diversity_state import DiversityState

    # Scores of this document's column kept warm: the next analysis recounts only changed rows.
    result.diversity_state = state = store.index(("diversity", str(path), data.name, settings.analysis_key()),
                                                 DiversityState)
    # Warm scores: their compressions run on another core while the findings are made, from
    # when the rows are tagged (without tags: from now); see DiversityState.compress.
    scored_rows = [r for r, t in enumerate(texts) if t] if settings.scores and state.used else None
    if scored_rows is not None and len(scored_rows) > WARM_SCORES_MAX_ROWS:
        scored_rows = None
    if scored_rows is not None and not settings.syntax:
        state.compress([texts[r] for r in scored_rows])
    n_text = sum(1 for t in texts if t)
    min_count = dominant_count(n_text, settings.min_share, settings.min_rows)

    if settings.syntax:
        # Tagged first: on a warm run the compressions then have the other stages' time to
        # finish in (on a cold run, the order makes no difference).
        with _timed(timings, "tagging"):
            result.tagged = _tagged(texts, settings, store, progress, check)
            if scored_rows is not None:
                state.compress([texts[r] for r in scored_rows], [result.tagged[r] for r in scored_rows])
        check()
    with _timed(timings, "duplicates"):
        normalized = normalized_rows(texts)
        result.exact_groups = exact_duplicates(texts, normalized)
        check()
        threshold = settings.near_duplicate_threshold
        result.near_pairs = near_duplicates(
            texts, threshold, signatures=lambda uniques, q: _signatures(uniques, q, store),
            index=lambda q, r: store.index(("near", threshold, q, r), lambda: NearDuplicateIndex(threshold, q, r)),
            check=check, memo=store.index(("near-pairs", str(path), data.name), NearPairsMemo), normalized=normalized)
    check()
    with _timed(timings, "phrases"):
        result.phrases = lexical_repetition(texts, min_count=min_count, min_words=settings.phrase_min_words,
                                            max_words=settings.phrase_max_words,
                                            cache=store.index(("words",), WordCache))
    check()
    if settings.syntax:
        with _timed(timings, "templates"):
            index = store.index(("templates", settings.template_similarity),
                                lambda: template_index(settings.template_similarity))
            result.templates = syntactic_templates(
                result.tagged, min_count=min_count, similarity=settings.template_similarity,
                min_words=settings.min_template_words, index=index,
                rows_memo=store.index(("template-rows", str(path), data.name, settings.analysis_key()), SequenceRows))
    check()
    if seed_rows or extra_seeds:
        with _timed(timings, "seeds"):
            result.seed_copies = seed_copies(texts, seed_rows, threshold=settings.seed_copy_threshold,
                                             tagged=result.tagged, extra_seeds=extra_seeds)
    check()
    if settings.semantic:
        with _timed(timings, "embedding"):
            last = store.index(("embeddings", str(path), data.name, settings.analysis_key()), LastEmbeddings)
            # While the warm scores' compressions run (an edit's few rows to embed), torch's
            # second thread would fight them for the other core: one row took 37 ms, 13 on one.
            with one_torch_thread(scored_rows is not None):
                result.embeddings = _embeddings(texts, settings, store, progress, check, last)
        with _timed(timings, "semantic"):
            lexical = {(p.a, p.b) for p in result.near_pairs}
            for group in result.exact_groups:
                lexical.update((a, b) for i, a in enumerate(group) for b in group[i + 1:])
            rows = [r for r, t in enumerate(texts) if t]
            from .semantic import SemanticIndexPool, duplicate_rule

            rule = duplicate_rule(settings)  # kept across analyses: an edit re-scores only its rows
            # One per document column: two files that share most rows would otherwise take
            # turns with one index, each turn re-scoring the other's rows (0.5 s at 10k rows).
            index = store.index(("semantic", str(path), data.name, rule, settings.analysis_key()),
                                lambda: SemanticIndexPool(rule))
            present = [texts[r] for r in rows]
            pairs = index.pairs([content_key(t) for t in present], result.embeddings[rows], present) if rows else []
            result.semantic_pairs = [(rows[i], rows[j], float(s)) for i, j, s in pairs
                                     if (min(rows[i], rows[j]), max(rows[i], rows[j])) not in lexical]
    return result


def _column_corpus_level(result: ColumnResult, settings: Settings, check: Callable[[], None],
                         timings: dict[str, float]) -> None:
    """The scores and clusters of an analysed column.  They come after its findings: a warm
    analysis's compressions (on another core, see ``_analyze_column``) then have the
    findings' time to finish in too."""
    check()
    if settings.scores:
        with _timed(timings, "scores"):
            column_scores(result, result.texts)
    check()
    if settings.clusters:
        with _timed(timings, "clusters"):
            result.clusters = column_clusters(result, result.texts, settings)


# The warm scores' per-row n-grams take ~11 MB per 1,000 rows; above this many rows a
# re-analysis computes the scores in one pass again (0.5 s per 10k rows) instead.
WARM_SCORES_MAX_ROWS = 25_000


def column_scores(result: ColumnResult, texts: Sequence[str | None]) -> None:
    """Corpus diversity scores and per-row repetition (kept apart from the findings so
    the language server can compute them after publishing diagnostics)."""
    from .diversity import diversity_scores

    present = [r for r, t in enumerate(texts) if t]
    present_texts = [texts[r] for r in present]
    tagged = [result.tagged[r] for r in present] if result.tagged is not None else None
    emb = result.embeddings[present] if result.embeddings is not None else None
    state = result.diversity_state
    if state is not None and state.used and len(present_texts) <= WARM_SCORES_MAX_ROWS:
        result.scores = state.scores(present_texts, tagged, emb, [content_key(t) for t in present_texts])
    else:
        # A document's first scores: the one-pass computation is faster than filling the
        # per-row state, which only pays off from the next analysis of the same document.
        result.scores = diversity_scores(present_texts, tagged, emb)
        if state is not None:
            state.used = True
    repetition = np.zeros(len(texts), dtype=np.float32)
    if present and result.scores.row_repetition is not None:
        repetition[present] = result.scores.row_repetition
    result.row_repetition = repetition


def column_clusters(result: ColumnResult, texts: Sequence[str | None], settings: Settings,
                    should_stop: Callable[[], bool] | None = None):
    """The cluster hierarchy of one analysed column (None without tags).

    Kept apart from the findings because it is the slowest corpus-level step:
    the language server computes it when edits pause, and stops it (``should_stop``
    true: AnalysisCancelled) when they resume.
    """
    from .hierarchy import cluster_hierarchy

    def check() -> None:
        if should_stop is not None and should_stop():
            raise AnalysisCancelled()

    if result.tagged is None:
        return None
    present = [r for r, t in enumerate(texts) if t]
    if not present:
        return None
    hierarchy = cluster_hierarchy(
        [texts[r] for r in present], [result.tagged[r] for r in present],
        result.embeddings[present] if result.embeddings is not None else None, ks=settings.ks, check=check,
    )
    # Clusters are computed over the rows that have text; number them as data rows.
    if len(present) != len(texts):
        hierarchy = hierarchy.remap_rows(present, len(texts))
    return hierarchy


def _tagged(texts, settings: Settings, store: RowStore, progress, check) -> list[TaggedText | None]:
    namespace = f"tags:{settings.analysis_key()}"
    keys = [content_key(t) if t else None for t in texts]
    cached = store.get_many(namespace, [k for k in keys if k is not None])
    missing_rows = [r for r, k in enumerate(keys) if k is not None and k not in cached]
    if missing_rows:
        nlp = spacy_pipeline(settings.spacy_model)
        unique_rows = list({keys[r]: r for r in missing_rows}.values())
        total = len(unique_rows)
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            if progress is not None:
                progress("tagging", done[0], total)

        # Batches of 64 rows (~80 ms) bound how long a cancelled analysis keeps going.
        tagged = tag_texts([texts[r] for r in unique_rows], nlp, batch_size=64, progress=step,
                           should_stop=lambda: _stopped(check))
        new = [(keys[r], t.to_list()) for r, t in zip(unique_rows, tagged)]
        store.put_many(namespace, new)
        cached.update(dict(new))
    # The same row objects as last time for unchanged rows (they carry derived keys,
    # see TaggedText.pos_key); the memo holds this analysis's rows only.
    memo: dict = store.index(("tagged-rows", namespace), dict)
    rows = {k: memo.get(k) or TaggedText.from_list(cached[k]) for k in keys if k is not None}
    memo.clear()
    memo.update(rows)
    return [rows[k] if k is not None else None for k in keys]


def _signatures(uniques: list[str], shingle_chars: int, store: RowStore) -> np.ndarray:
    """MinHash signatures of normalised texts, from the row store when known."""
    from .duplicates import N_PERMUTATIONS, minhash_signatures

    namespace = f"minhash:{shingle_chars}:{N_PERMUTATIONS}"
    keys = [content_key(u) for u in uniques]
    found = store.get_many(namespace, keys) if store.disk is None else {}
    # Signatures are cheap next to a disk read, so only the memory store keeps them.
    missing = [i for i, k in enumerate(keys) if k not in found]
    out = np.empty((len(uniques), N_PERMUTATIONS), dtype=np.uint32)
    if missing:
        fresh = minhash_signatures([uniques[i] for i in missing], shingle_chars)
        for row, i in enumerate(missing):
            out[i] = fresh[row]
        with store.lock:
            for row, i in enumerate(missing):
                store.memory[(namespace, keys[i])] = fresh[row]
    for i, k in enumerate(keys):
        if k in found:
            out[i] = found[k]
    return out


class LastEmbeddings:
    """A document column's embedding matrix from its last analysis and the row keys it
    was made for: after an edit of a few rows, a copy with those rows replaced (gathering
    10k vectors from the row store again took 15 ms per edit)."""

    def __init__(self) -> None:
        self.keys: list[bytes | None] = []
        self.matrix: np.ndarray | None = None


def _embeddings(texts, settings: Settings, store: RowStore, progress, check,
                last: LastEmbeddings | None = None) -> np.ndarray:
    namespace = f"emb:{settings.analysis_key()}"
    keys = [content_key(t) if t else None for t in texts]
    changed = changed_rows(last.keys, keys) if last is not None and last.matrix is not None else None
    if changed is not None:
        out = last.matrix.copy()  # the last result keeps its own
        if changed:
            out[changed] = _embeddings_of([texts[r] for r in changed], [keys[r] for r in changed], namespace,
                                          settings, store, progress, check, dim=out.shape[1])
        last.keys, last.matrix = keys, out
        return out
    out = _embeddings_of(texts, keys, namespace, settings, store, progress, check)
    if last is not None:
        last.keys, last.matrix = keys, out
    return out


def _embeddings_of(texts, keys, namespace: str, settings: Settings, store: RowStore, progress, check,
                   dim: int | None = None) -> np.ndarray:
    """Rows' vectors (zeros for rows without text), from the row store or the model."""
    from .semantic import embed_texts

    cached = store.get_many(namespace, [k for k in keys if k is not None])
    missing = list({keys[r]: r for r, k in enumerate(keys) if k is not None and k not in cached}.values())
    if missing:
        model = embedding_model(settings.embedding_model, settings.device)
        total = len(missing)
        def step(done: int, _total: int) -> None:
            check()  # raises AnalysisCancelled between batches
            if progress is not None:
                progress("embedding", done, total)

        vectors = embed_texts([texts[r] for r in missing], model, batch_size=32, progress=step)
        new = [(keys[r], vectors[i].astype(np.float32).tobytes()) for i, r in enumerate(missing)]
        store.put_many(namespace, new)
        cached.update(dict(new))
        check()
    dim = dim or (len(next(iter(cached.values()))) // 4 if cached else 384)
    out = np.zeros((len(texts), dim), dtype=np.float32)
    present = [r for r, k in enumerate(keys) if k is not None]
    if present:  # one join and one copy, not a copy per row
        out[present] = np.frombuffer(b"".join([cached[keys[r]] for r in present]), dtype=np.float32).reshape(-1, dim)
    return out


def _stopped(check: Callable[[], None]) -> bool:
    try:
        check()
        return False
    except AnalysisCancelled:
        return True


# ---------------------------------------------------------------------------
# Findings


def _line(value: FieldValue | None) -> str:
    return f"line {value.range.start.line + 1}" if value is not None else "a missing row"


def _lines(values: Sequence[FieldValue | None], limit: int = 4) -> str:
    shown = ", ".join(str(v.range.start.line + 1) for v in values[:limit] if v is not None)
    more = f" and {len(values) - limit} more" if len(values) > limit else ""
    return f"line{'s' if len(values) > 1 else ''} {shown}{more}"


def _preview(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _adder(out: list[Finding], values: Sequence[FieldValue | None], column: str):
    """``add(code, severity, row, message, range, related, data)``: a finding on ``row``
    (skipped when the code is off or the row is missing; ``range`` defaults to the field's)."""
    def add(code: str, severity: F.Severity | None, row: int, message: str, rng: Range | None,
            rel: list[RelatedRow], data_: dict) -> None:
        value = values[row]
        if severity is not None and value is not None:
            out.append(Finding(code, severity, message, row, rng or value.range, column, rel, data_))

    return add


@dataclass
class NearSection:
    """A column's near-duplicate findings, reused whole while ``pairs`` is the same list
    (``NearPairsMemo`` keeps it when an edit touches no near-duplicate) and the ``rows``
    it involves keep the same ``values`` objects (so the same ranges and texts)."""

    pairs: list[DuplicatePair]
    settings: tuple
    rows: list[int]
    values: list[FieldValue | None]
    keys: list[tuple]  # FindingsMemo keys of its findings
    findings: list[Finding]

    def fits(self, pairs: list[DuplicatePair], settings: tuple, values: Sequence[FieldValue | None]) -> bool:
        return (self.pairs is pairs and self.settings == settings
                and all(values[r] is v for r, v in zip(self.rows, self.values)))


class FindingsMemo:
    """A document column's duplicate, template and phrase findings from its last analysis.

    Most of them come through a one-row edit unchanged: same rows, counts and
    similarities, and (the reader keeps unchanged records) equal field values.  Those
    findings, read-only, are then reused instead of rebuilt: thousands of objects per edit."""

    def __init__(self) -> None:
        self._last: dict[tuple, tuple[list, list[Finding]]] = {}
        self._next: dict[tuple, tuple[list, list[Finding]]] = {}
        self.near: NearSection | None = None  # the near-duplicate findings as a whole

    def carry(self, keys: list[tuple]) -> None:
        """Keep the findings of ``keys`` for the next analysis without rebuilding them."""
        for key in keys:
            hit = self._last.get(key)
            if hit is not None:
                self._next[key] = hit

    def reuse(self, key: tuple, values: list, build: Callable[[], list[Finding]]) -> list[Finding]:
        hit = self._last.get(key)
        found = hit[1] if hit is not None and hit[0] == values else build()
        self._next[key] = (values, found)
        return found

    def done(self) -> None:
        """Keep only this analysis's findings for the next one."""
        self._last, self._next = self._next, {}


def _near_findings(result: ColumnResult, values: Sequence[FieldValue | None], col: str, limit: int,
                   near_severity, reuse, n_rows: int) -> NearSection:
    """The near-duplicate findings, with their memo keys and the rows they involve."""
    out: list[Finding] = []
    keys: list[tuple] = []
    # Matches as (−similarity, row): sorted as they are, most similar first.
    matches: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for p in result.near_pairs:
        matches[p.a].append((-p.similarity, p.b))
        matches[p.b].append((-p.similarity, p.a))
    groups: dict[int, list[int]] = {}
    group_keys: dict[int, tuple[int, int, int]] = {}  # a group's key, hashed once, not once per row
    for g in duplicate_groups(result.near_pairs, n_rows):
        g_key = (len(g), g[0], hash(tuple(g)))
        for r in g:
            groups[r], group_keys[r] = g, g_key
    for row, ms in sorted(matches.items()):
        ms.sort()
        shown = ms[:limit]

        def near_findings(row=row, ms=ms, shown=shown) -> list[Finding]:
            found: list[Finding] = []
            best, best_row = -ms[0][0], ms[0][1]
            more = f" and {len(ms) - 1} more row{'s' if len(ms) > 2 else ''}" if len(ms) > 1 else ""
            _adder(found, values, col)(
                "near-duplicate", near_severity, row,
                f"Near-duplicate of {_line(values[best_row])} ({best:.0%} similar){more}: “{_preview(values[best_row].text)}”",
                None, [RelatedRow(r, values[r].range, f"{-s:.0%} similar") for s, r in shown],
                {"similarity": round(best, 4), "group": groups.get(row, [row]),
                 "matches": [[r, round(-s, 4)] for s, r in shown]})
            return found

        key = ("near", row, tuple(shown), len(ms), group_keys.get(row), limit, near_severity)
        keys.append(key)
        out.extend(reuse(key, [values[row]] + [values[r] for _, r in shown], near_findings))

    rows = sorted(matches)
    return NearSection(result.near_pairs, (limit, near_severity), rows, [values[r] for r in rows], keys, out)


def _column_findings(data: ColumnData, result: ColumnResult, settings: Settings,
                     seed_rows: list[int], n_rows: int, memo: FindingsMemo | None = None) -> list[Finding]:
    out: list[Finding] = []
    values = data.values
    col = data.name
    limit = settings.max_related

    def related(rows: Sequence[int], message: str = "") -> list[RelatedRow]:
        return [RelatedRow(r, values[r].range, message) for r in rows[:limit] if values[r] is not None]

    reuse = memo.reuse if memo is not None else (lambda key, rows, build: build())
    exact_severity = settings.severity_of("exact-duplicate")
    for group in result.exact_groups:
        def exact_findings(group=group) -> list[Finding]:
            found: list[Finding] = []
            add = _adder(found, values, col)
            data_ = {"group": group, "keep": group[0]}
            for row in group:
                others = [r for r in group if r != row]
                add("exact-duplicate", exact_severity, row,
                    f"Exact duplicate (ignoring case and spacing) of {_lines([values[r] for r in others])}; "
                    f"{len(group)} copies in all", None, related(others, "the same text"), data_)
            return found

        out.extend(reuse(("exact", tuple(group), limit, exact_severity), [values[r] for r in group], exact_findings))

    near_severity = settings.severity_of("near-duplicate")
    section = memo.near if memo is not None else None
    if section is not None and section.fits(result.near_pairs, (limit, near_severity), values):
        memo.carry(section.keys)
        out.extend(section.findings)
    else:
        section = _near_findings(result, values, col, limit, near_severity, reuse, n_rows)
        out.extend(section.findings)
        if memo is not None:
            memo.near = section

    sem: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for a, b, s in result.semantic_pairs:
        sem[a].append((-s, b))
        sem[b].append((-s, a))
    semantic_severity = settings.severity_of("semantic-duplicate")
    for row, ms in sorted(sem.items()):
        ms.sort()
        shown = ms[:limit]

        def semantic_findings(row=row, shown=shown) -> list[Finding]:
            found: list[Finding] = []
            best, best_row = -shown[0][0], shown[0][1]
            _adder(found, values, col)(
                "semantic-duplicate", semantic_severity, row,
                f"Says the same as {_line(values[best_row])} in other words (cosine {best:.2f}): “{_preview(values[best_row].text)}”",
                None, [RelatedRow(r, values[r].range, f"cosine {-s:.2f}") for s, r in shown],
                {"similarity": round(best, 4), "matches": [[r, round(-s, 4)] for s, r in shown]})
            return found

        key = ("semantic", row, tuple(shown), limit, semantic_severity)
        out.extend(reuse(key, [values[row]] + [values[r] for _, r in shown], semantic_findings))

    add = _adder(out, values, col)
    for copy in result.seed_copies:
        seed_value = values[copy.seed_row] if copy.seed_row >= 0 else None
        seed_text = seed_value.text if seed_value is not None else "a seed from the seeds file"
        where = _line(seed_value) if seed_value is not None else "the seeds file"
        if copy.kind == "wording":
            add("seed-copy", settings.severity_of("seed-copy"), copy.row,
                f"Copies the seed on {where} ({copy.similarity:.0%} similar): “{_preview(seed_text)}”",
                None, related([copy.seed_row], "the seed") if copy.seed_row >= 0 else [],
                {"seed_row": copy.seed_row, "similarity": round(copy.similarity, 4)})
        else:
            template = " ".join(result.tagged[copy.row].pos) if result.tagged else ""
            add("seed-template", settings.severity_of("seed-template"), copy.row,
                f"Same grammatical template as the seed on {where}: {template}",
                None, related([copy.seed_row], "the seed") if copy.seed_row >= 0 else [],
                {"seed_row": copy.seed_row, "template": template})

    n_text = max(sum(1 for v in values if v is not None and v.text.strip()), 1)
    # Every row of a template (or phrase) gets the same message, data and related rows
    # (the first ones), except the rows among those: one shared copy for the rest.
    # Findings are read-only, and a re-analysis makes fewer objects this way.
    template_severity = settings.severity_of("syntactic-template")
    for t in result.templates:
        def template_findings(t=t) -> list[Finding]:
            found: list[Finding] = []
            add = _adder(found, values, col)
            share = t.count / n_text
            head = t.rows[: limit + 1]  # the related rows shown: the template's first ones
            message = f"Follows template {t.id} “{t.summary}”, shared by {t.count} rows ({share:.1%})"
            shared_data = {"template_id": t.id, "template": t.summary, "pos": " ".join(t.pos), "count": t.count,
                           "share": round(share, 4)}
            shared_related = related(head[:limit], f"also template {t.id}")
            for row in t.rows:
                rel = shared_related if row not in head else related([r for r in head if r != row][:limit],
                                                                    f"also template {t.id}")
                add("syntactic-template", template_severity, row, message, None, rel, shared_data)
            return found

        key = ("template", t.id, t.summary, tuple(t.pos), t.count, tuple(t.rows), n_text, limit, template_severity)
        out.extend(reuse(key, [values[r] for r in t.rows], template_findings))

    code_by_kind = {"phrase": "repeated-phrase", "opening": "repeated-opening", "ending": "repeated-ending"}
    severity_by_kind = {kind: settings.severity_of(code) for kind, code in code_by_kind.items()}
    verb = {"phrase": "appears in", "opening": "opens", "ending": "ends"}
    edge_spans = {(r, s) for p in result.phrases if p.kind != "phrase" for r, s in zip(p.rows, p.spans)}
    for p in result.phrases:
        if p.kind == "phrase" and edge_spans:  # an opening/ending finding already says it
            shown = [(row, span) for row, span in zip(p.rows, p.spans) if (row, span) not in edge_spans]
        else:
            shown = list(zip(p.rows, p.spans))

        def phrase_findings(p=p, shown=shown) -> list[Finding]:
            found: list[Finding] = []
            add = _adder(found, values, col)
            code, severity, count = code_by_kind[p.kind], severity_by_kind[p.kind], p.count
            share = count / n_text
            message = f"“{p.text}” {verb[p.kind]} {count} rows ({share:.1%})"
            head = p.rows[: limit + 1]
            shared_related = related(head[:limit], f"also has “{p.text}”")
            rounded = round(share, 4)
            for row, (s, e) in shown:
                value = values[row]
                if value is None:
                    continue
                rel = shared_related if row not in head else related([r for r in head if r != row][:limit],
                                                                    f"also has “{p.text}”")
                add(code, severity, row, message, value.span_range(s, e), rel,
                    {"phrase": p.text, "span": [s, e], "count": count, "share": rounded, "kind": p.kind})
            return found

        key = ("phrase", p.kind, p.text, tuple(p.rows), tuple(shown), n_text, limit, severity_by_kind[p.kind])
        out.extend(reuse(key, [values[r] for r in p.rows], phrase_findings))
    if memo is not None:
        memo.done()
    return out


def _problem_findings(problems: list[ParseProblem], settings: Settings) -> list[Finding]:
    out = []
    for p in problems:
        code = "encoding" if p.kind == "encoding" else "parse-error"
        severity = settings.severity_of(code)
        if severity is not None:
            out.append(Finding(code, severity, p.message, p.row, p.range))
    return out
