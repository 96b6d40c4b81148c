"""Shared helpers for the speed benchmarks in bench/ (not a benchmark itself).

* :func:`set_quiet_env` — the environment every benchmark runs in
  (``OMP_WAIT_POLICY=PASSIVE``, ``HF_HUB_OFFLINE=1``); call it before numpy,
  torch or sentence-transformers are imported.
* :func:`long_rows` — realistic English rows of 10–30 words with planted
  near-copies (one or two words changed) and exact copies (case/space), built
  from the bundled generator's few-shot music requests
  (``lens_engine.sample_data.planted_dataset``): its rows are mostly 5–15
  words, so 1–3 of them are joined as the sentences of one longer request.
* timing helpers: :func:`timed`, :func:`median`, :func:`load_average`,
  :func:`print_table`.
"""

from __future__ import annotations

import csv
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MIN_WORDS = 10
MAX_WORDS = 30


def set_quiet_env() -> None:
    """OpenMP threads sleep instead of spinning (the default spin-wait collapses
    MiniLM throughput on a shared CPU); no model hub access, ever."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


# ---------------------------------------------------------------------------
# Timing and reporting


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """(seconds, result) of one call."""
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def peak_rss_mb() -> float:
    """This process's peak resident set (VmHWM), in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fmt_runs(values: Sequence[float], unit: str = "s", digits: int = 2) -> str:
    """``median (run1, run2, …)``."""
    runs = ", ".join(f"{v:.{digits}f}" for v in values)
    return f"{median(values):.{digits}f} {unit} ({runs})"


def print_table(title: str, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain Markdown table on stdout."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")
    print(flush=True)


def engine_version() -> str:
    """Which engine is measured: its folder, the git commit there (if any) and a
    hash of its Python sources (others edit the engine while benchmarks run)."""
    import hashlib
    import subprocess

    import lens_engine

    folder = Path(lens_engine.__file__).resolve().parent
    digest = hashlib.sha1()
    for source in sorted(folder.rglob("*.py")):
        digest.update(source.read_bytes())
    try:
        commit = subprocess.run(["git", "-C", str(folder), "log", "-1", "--format=%h %cI"], capture_output=True,
                                text=True, timeout=10).stdout.strip() or "no git"
    except (OSError, subprocess.SubprocessError):
        commit = "no git"
    return f"lens_engine at {folder} (commit {commit}; sources sha1 {digest.hexdigest()[:10]})"


# ---------------------------------------------------------------------------
# Rows of 10–30 words


_WORDS = re.compile(r"\S+")


def n_words(text: str) -> int:
    return len(_WORDS.findall(text))


def sentence_pool(n_sentences: int, seed: int = 0) -> list[str]:
    """Distinct-ish few-shot music requests from the bundled generator (several
    seeds of ≤10k rows each: one seed cannot make more fresh template rows)."""
    from lens_engine.sample_data import planted_dataset

    pool: list[str] = []
    k = 0
    while len(pool) < n_sentences:
        size = min(10_000, max(1_000, n_sentences - len(pool)))
        pool.extend(planted_dataset(size, seed=seed * 1000 + k).texts)
        k += 1
    return pool[:n_sentences]


def _join(first: str, second: str) -> str:
    first = first.rstrip()
    if not first.endswith((".", "?", "!", ")")):
        first += "."
    second = second.strip()
    return f"{first} {second[:1].upper()}{second[1:]}"


def compose_row(pool: Sequence[str], rng: random.Random) -> str:
    """1–3 requests joined as sentences, 10–30 words in all."""
    target = rng.randint(MIN_WORDS, MAX_WORDS)
    row = rng.choice(pool)
    while n_words(row) < target:
        for _ in range(8):  # an addition that keeps the row within MAX_WORDS
            candidate = _join(row, rng.choice(pool))
            if n_words(candidate) <= MAX_WORDS:
                break
        else:
            if n_words(row) >= MIN_WORDS:
                break
            candidate = " ".join(_join(row, rng.choice(pool)).split()[:MAX_WORDS])
        row = candidate
    return row


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def perturb(text: str, rng: random.Random, edits: int) -> str:
    """One or two LLM-style word edits, as the planted generator makes them:
    a synonym, a dropped filler word, an added intensifier or "please", or one
    content word replaced by another.  The copy differs from the original even
    after case and whitespace are normalised (else it would be an exact copy)."""
    seen = {_squash(text)}  # a second edit must not undo the first ("songs" → "tunes" → "songs")
    for _ in range(edits):
        for _ in range(20):
            edited = _edit_once(text, rng)
            if _squash(edited) not in seen:
                text = edited
                seen.add(_squash(text))
                break
    return text


def _edit_once(text: str, rng: random.Random) -> str:
    from lens_engine.sample_data import DROPPABLE_WORDS, INTENSIFIERS, MOODS, SYNONYMS

    words = text.split(" ")
    swappable = [i for i, w in enumerate(words) if w.lower() in SYNONYMS]
    droppable = [i for i, w in enumerate(words) if w.lower() in DROPPABLE_WORDS]
    content = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    choice = rng.random()
    if choice < 0.35 and swappable:
        i = rng.choice(swappable)
        words[i] = rng.choice(SYNONYMS[words[i].lower()])
    elif choice < 0.5 and droppable and len(words) > MIN_WORDS:
        del words[rng.choice(droppable)]
    elif choice < 0.7:
        words.insert(rng.randrange(1, len(words)), rng.choice(INTENSIFIERS))
    elif choice < 0.8:
        words[-1] = words[-1].rstrip("?.!") + ", please"
    elif content:
        words[rng.choice(content)] = rng.choice(MOODS).split(" ")[0]
    else:
        words.insert(rng.randrange(1, len(words)), rng.choice(INTENSIFIERS))
    return " ".join(words)


def _case_or_space_variant(text: str, rng: random.Random) -> str:
    variants = (str.lower, lambda t: t + " ", lambda t: t.replace(" ", "  ", 1), lambda t: t[:1].upper() + t[1:])
    return rng.choice(variants)(text)


@dataclass
class Corpus:
    texts: list[str]
    near_pairs: list[tuple[int, int]] = field(default_factory=list)  # (source row, copy row), sorted
    exact_pairs: list[tuple[int, int]] = field(default_factory=list)

    def words(self) -> int:
        return sum(n_words(t) for t in self.texts)

    def write_csv(self, path: Path, column: str = "query") -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow([column, "tags"])
            for t in self.texts:
                writer.writerow([t, "generated"])
        return path


def long_rows(n: int, seed: int = 0, near_share: float = 0.04, exact_share: float = 0.02,
              pool: Sequence[str] | None = None) -> Corpus:
    """``n`` rows of 10–30 words: background rows, plus ``near_share`` of rows
    that are near-copies of another row (one edit, or two for a third of them)
    and ``exact_share`` that repeat one (case/space aside), in shuffled order."""
    rng = random.Random(seed)
    pool = pool if pool is not None else sentence_pool(min(40_000, max(2_000, n // 2)), seed)
    n_near = round(near_share * n)
    n_exact = round(exact_share * n)
    n_background = n - n_near - n_exact
    items: list[tuple[str, int | None, str]] = []  # (text, source item, kind)
    seen: set[str] = set()
    while len(items) < n_background:
        text = compose_row(pool, rng)
        key = " ".join(text.split()).casefold()
        if key not in seen:
            seen.add(key)
            items.append((text, None, "background"))
    sources = rng.sample(range(n_background), n_near + n_exact)
    for src in sources[:n_near]:
        items.append((perturb(items[src][0], rng, rng.choice((1, 1, 2))), src, "near"))
    for src in sources[n_near:]:
        items.append((_case_or_space_variant(items[src][0], rng), src, "exact"))
    order = list(range(len(items)))
    rng.shuffle(order)
    row_of = {item: row for row, item in enumerate(order)}
    texts = [items[i][0] for i in order]
    near = sorted((row_of[s], row_of[i]) for i, (_, s, k) in enumerate(items) if k == "near")
    exact = sorted((row_of[s], row_of[i]) for i, (_, s, k) in enumerate(items) if k == "exact")
    return Corpus(texts, near, exact)
