"""Dataset lens speed and memory against the issue's targets, each against a
baseline measured in the same run.

What it compares (rows: realistic few-shot music requests of 10–30 words from
``bench_common.long_rows``, with 4% near-copies and 2% exact copies planted):

a. ``analyze_path`` with every analysis but semantic (``Settings(semantic=False)``,
   clusters off and on, cold: a fresh memory-only ``RowStore``) against spaCy
   alone tagging and parsing the same rows (the pipeline Lens loads:
   tok2vec, tagger, attribute_ruler, parser; ``nlp.pipe``, spaCy's own batch
   size).  Target: Lens ≤ 1.5× spaCy.
b. The extra time semantic analysis adds (``semantic=True`` minus
   ``semantic=False``, same clusters setting) against raw MiniLM encoding of the
   same rows (``SentenceTransformer.encode``, batch 64, the model Lens loads).
   Target: extra ≤ 1.2× encoding.
c. 100k rows, lexical analyses and near-duplicates
   (``Settings(syntax=False, semantic=False, clusters=False)``), each run in a
   child process: wall time of ``analyze_path`` and the child's peak RSS
   (VmHWM).  Targets: < 60 s, < 2 GB.
d. Re-analysis of a 10k-row buffer after one row changed, warm cache
   (``analyze_text`` with one ``RowStore``; every timed run changes one more
   row), all analyses but clusters (target: < 300 ms); also with clusters, and
   without corpus scores and clusters (what the language server computes
   before publishing diagnostics; it adds scores afterwards).

Every figure is the median of ``--repeats`` runs (each run listed beside it).
Each Lens run in a and b is paired with a baseline run just before it (spaCy,
or MiniLM for the semantic runs), so load drift on the shared machine hits
both alike; ratios are taken per pair, then the median.  Model loading is
excluded everywhere (both sides use warm models).
The load average is printed, since the machine is shared.

Run (quick, then full):
    .venv/bin/python bench/dataset_speed.py --rows 1000 --big-rows 10000 --repeats 1
    .venv/bin/python bench/dataset_speed.py                # 10k / 100k rows, 3 runs
    .venv/bin/python bench/dataset_speed.py --parts c      # one part only (a, b, c, d)
    .venv/bin/python bench/dataset_speed.py --parts ab --repeats 5 --semantic-repeats 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import (  # noqa: E402
    Corpus, engine_version, fmt_runs, load_average, long_rows, median, n_words, peak_rss_mb, perturb, print_table,
    set_quiet_env, timed,
)

set_quiet_env()
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TEXT_COLUMN = "query"


def settings(**changes):
    from lens_engine.config import Settings

    return Settings(columns=[TEXT_COLUMN], cache=False, **changes)


# ---------------------------------------------------------------------------
# Baselines


def spacy_alone(texts: list[str]) -> float:
    """Seconds for spaCy to tag and parse ``texts`` (the pipeline Lens uses, warm)."""
    from lens_engine.analyze import spacy_pipeline

    nlp = spacy_pipeline(settings().spacy_model)
    seconds, _ = timed(lambda: sum(1 for _ in nlp.pipe(texts)))
    return seconds


def minilm_alone(texts: list[str]) -> float:
    """Seconds for raw sentence-transformers encoding of ``texts`` (the model Lens uses, warm)."""
    from lens_engine.analyze import embedding_model

    model = embedding_model(None, None)
    seconds, _ = timed(lambda: model.encode(texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False))
    return seconds


def warm_models(texts: list[str], semantic: bool) -> None:
    """Load the models once so that no timed run pays for loading them."""
    from lens_engine.analyze import RowStore, analyze_text

    analyze_text(csv_text(texts[:50]), path="warm.csv", settings=settings(semantic=semantic), store=RowStore(None))
    spacy_alone(texts[:50])
    if semantic:
        minilm_alone(texts[:50])


def lens_cold(path: Path, **changes) -> tuple[float, dict[str, float]]:
    """Seconds for ``analyze_path`` with a fresh memory-only row cache, and its stage timings."""
    from lens_engine.analyze import RowStore, analyze_path

    seconds, result = timed(lambda: analyze_path(path, settings(**changes), store=RowStore(None)))
    return seconds, result.timings


# ---------------------------------------------------------------------------
# Parts a and b: 10k rows against spaCy and MiniLM


LENS_VARIANTS = {  # name -> Settings changes
    "lens (no semantic, no clusters)": dict(semantic=False, clusters=False),
    "lens (no semantic, clusters)": dict(semantic=False, clusters=True),
    "lens (semantic, no clusters)": dict(semantic=True, clusters=False),
    "lens (semantic, clusters)": dict(semantic=True, clusters=True),
}


def run_10k(corpus: Corpus, path: Path, repeats: int, semantic_repeats: int) -> None:
    """Each Lens run is paired with a baseline run just before it (spaCy for the runs
    without semantic, MiniLM for those with), so load drift hits both alike."""
    print(f"\n## a/b. {len(corpus.texts)} rows, {corpus.words()} words; load before: {load_average()}", flush=True)
    warm_models(corpus.texts, semantic_repeats > 0)
    lens = {k: [] for k in LENS_VARIANTS}
    baseline = {k: [] for k in LENS_VARIANTS}
    stages = {k: [] for k in LENS_VARIANTS}
    for rep in range(max(repeats, semantic_repeats)):
        for name, changes in LENS_VARIANTS.items():
            if rep >= (semantic_repeats if changes["semantic"] else repeats):
                continue
            baseline[name].append(minilm_alone(corpus.texts) if changes["semantic"] else spacy_alone(corpus.texts))
            seconds, timings = lens_cold(path, **changes)
            lens[name].append(seconds)
            stages[name].append(with_rest(timings))
            print(f"run {rep + 1}: {'MiniLM' if changes['semantic'] else 'spaCy'} {baseline[name][-1]:.1f}s, "
                  f"{name} {seconds:.1f}s; load {load_average()}", flush=True)
    report_a(lens, baseline, stages, len(corpus.texts))
    if semantic_repeats:
        report_b(lens, baseline, stages, len(corpus.texts))


def _ratios(num: list[float], den: list[float]) -> list[float]:
    return [a / b for a, b in zip(num, den)]


def _fmt_ratios(r: list[float]) -> str:
    return f"{median(r):.2f}× ({', '.join(f'{x:.2f}' for x in r)})"


NO_SEMANTIC = ("lens (no semantic, no clusters)", "lens (no semantic, clusters)")
SEMANTIC = ("lens (semantic, no clusters)", "lens (semantic, clusters)")


def report_a(lens, baseline, stages, n_rows: int) -> None:
    rows = []
    for name in NO_SEMANTIC:
        spacy = baseline[name]
        r = _ratios(lens[name], spacy)
        tagging = _ratios([t["tagging"] for t in stages[name]], spacy)
        rest = _ratios([t["total"] - t["tagging"] for t in stages[name]], spacy)
        rows.append([name, fmt_runs(lens[name]), fmt_runs(spacy), _fmt_ratios(r),
                     "≤ 1.5×: " + ("met" if median(r) <= 1.5 else "MISSED"),
                     _fmt_ratios(tagging), _fmt_ratios(rest)])
    print_table(f"a. {n_rows} rows, all analyses but semantic, vs spaCy alone (paired runs)",
                ["Lens run", "Lens: median (runs)", "spaCy alone, paired: median (runs)", "Lens / spaCy",
                 "target", "of which tagging stage / spaCy", "of which the rest / spaCy"], rows)
    print_stages(stages, list(NO_SEMANTIC), [x for n in NO_SEMANTIC for x in baseline[n]], "spaCy alone")


def report_b(lens, baseline, stages, n_rows: int) -> None:
    rows = []
    for sem, nosem in zip(SEMANTIC, NO_SEMANTIC):
        minilm = baseline[sem]
        extra = [a - b for a, b in zip(lens[sem], lens[nosem])]
        inside = [t.get("embedding", 0.0) + t.get("semantic", 0.0) for t in stages[sem]]
        r = _ratios(extra, minilm)
        rows.append([sem, fmt_runs(lens[sem]), fmt_runs(minilm), fmt_runs(extra), _fmt_ratios(r),
                     "≤ 1.2×: " + ("met" if median(r) <= 1.2 else "MISSED"), _fmt_ratios(_ratios(inside, minilm))])
    print_table(f"b. {n_rows} rows, semantic on top, vs raw MiniLM encoding (paired runs)",
                ["Lens run", "Lens: median (runs)", "MiniLM encode alone, paired", "extra over the same run "
                 "without semantic", "extra / encoding", "target", "Lens's embedding + semantic stages / encoding"],
                rows)
    print_stages(stages, list(SEMANTIC), [x for n in SEMANTIC for x in baseline[n]], "MiniLM encode alone")


def print_stages(stages, names: list[str], baseline: list[float], baseline_name: str) -> None:
    """Median seconds per analysis stage (Lens's own timings) for each variant."""
    keys = sorted({k for name in names for t in stages[name] for k in t}, key=_stage_order)
    rows = []
    for key in keys:
        rows.append([key] + [f"{median([t.get(key, 0.0) for t in stages[name]]):.2f}" for name in names])
    rows.append([f"({baseline_name}, paired runs)"] + [f"{median(baseline):.2f}" for _ in names])
    print_table("stage timings (median s)", ["stage", *names], rows)


_STAGES = ["read", "duplicates", "phrases", "tagging", "templates", "seeds", "embedding", "semantic", "scores",
           "clusters", "findings and rest (total − stages)", "total"]


def _stage_order(key: str) -> int:
    return _STAGES.index(key) if key in _STAGES else len(_STAGES) - 1


# ---------------------------------------------------------------------------
# Part c: 100k rows, lexical analyses, in a child process


def child_100k(path: str) -> None:
    """Run in a child: analyse ``path`` lexically and print wall time and peak RSS as JSON."""
    from lens_engine.analyze import RowStore, analyze_path

    import resource

    before = peak_rss_mb()
    cpu_before = _cpu_seconds(resource)
    seconds, result = timed(lambda: analyze_path(Path(path), settings(syntax=False, semantic=False, clusters=False),
                                                 store=RowStore(None)))
    print(json.dumps({"seconds": seconds, "cpu_seconds": _cpu_seconds(resource) - cpu_before,
                      "peak_rss_mb": peak_rss_mb(), "rss_before_mb": before,
                      "timings": result.timings, "findings": result.summary(), "rows": result.rows,
                      "torch_loaded": "torch" in sys.modules}))


def _cpu_seconds(resource) -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def with_rest(timings: dict[str, float]) -> dict[str, float]:
    """Stage timings plus what no stage covers (building findings, sorting them)."""
    stages = sum(v for k, v in timings.items() if k != "total")
    return {**timings, "findings and rest (total − stages)": timings.get("total", 0.0) - stages}


def run_100k(corpus: Corpus, path: Path, repeats: int) -> None:
    print(f"\n## c. {len(corpus.texts)} rows, {corpus.words()} words, {path.stat().st_size / 1e6:.1f} MB; "
          f"load before: {load_average()}", flush=True)
    runs = []
    for rep in range(repeats):
        out = subprocess.run([sys.executable, __file__, "--child-100k", str(path)], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"run {rep + 1}: {runs[-1]['seconds']:.1f}s, peak {runs[-1]['peak_rss_mb']:.0f} MB; "
              f"load {load_average()}", flush=True)
    seconds = [r["seconds"] for r in runs]
    peaks = [r["peak_rss_mb"] for r in runs]
    print_table(f"c. {len(corpus.texts)} rows, lexical analyses + near-duplicates (child process)",
                ["figure", "median (runs)", "target"],
                [["wall time of analyze_path", fmt_runs(seconds),
                  "< 60 s: " + ("met" if median(seconds) < 60 else "MISSED")],
                 ["CPU time of the child during analyze_path (user + sys)",
                  fmt_runs([r["cpu_seconds"] for r in runs]), "(≈ wall time on an idle machine)"],
                 ["peak RSS of the child (VmHWM)", fmt_runs(peaks, "MB", 0),
                  "< 2 GB: " + ("met" if median(peaks) < 2048 else "MISSED")],
                 ["RSS after imports, before analysis", fmt_runs([r["rss_before_mb"] for r in runs], "MB", 0), ""]])
    timings = [with_rest(r["timings"]) for r in runs]
    keys = sorted({k for t in timings for k in t}, key=_stage_order)
    print_table("c. stage timings (median s)", ["stage", "seconds"],
                [[k, f"{median([t.get(k, 0.0) for t in timings]):.2f}"] for k in keys])
    print("findings (last run):", runs[-1]["findings"], "| torch imported:", runs[-1]["torch_loaded"])


# ---------------------------------------------------------------------------
# Part d: warm re-analysis after one row changed


def csv_text(texts: list[str]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([TEXT_COLUMN, "tags"])
    writer.writerows([t, "generated"] for t in texts)
    return buf.getvalue()


REWARM_VARIANTS = {  # name -> Settings changes (semantic on in all); "freeze" is analyze_text's
    "all but clusters": dict(clusters=False),
    "all, with clusters": dict(clusters=True),
    "findings only (no scores, no clusters: the server's diagnostics pass)": dict(clusters=False, scores=False),
    # The server also freezes each analysis's objects out of the garbage collector
    # (collector_paused(freeze=True)); without it, switching the collector back on walks them.
    "findings only, objects frozen as the server runs it": dict(clusters=False, scores=False, freeze=True),
}


def run_rewarm(corpus: Corpus, repeats: int, semantic: bool) -> None:
    """Analyse once cold, then time re-analyses, each after changing one more row."""
    import random

    from lens_engine.analyze import RowStore, analyze_text

    print(f"\n## d. {len(corpus.texts)} rows, one row changed per run; load before: {load_average()}", flush=True)
    warm_models(corpus.texts, semantic)
    store = RowStore(None)
    texts = list(corpus.texts)
    rng = random.Random(5)
    cold, _ = timed(lambda: analyze_text(csv_text(texts), path="bench.csv",
                                         settings=settings(semantic=semantic, clusters=False), store=store))
    results: dict[str, list[float]] = {}
    stages: dict[str, list[dict[str, float]]] = {}
    first_scored: float | None = None  # the first re-analysis with scores builds their warm state
    for name, changes in REWARM_VARIANTS.items():
        results[name], stages[name] = [], []
        builds_state = first_scored is None and changes.get("scores", True)
        for rep in range(-1 if builds_state else 0, repeats):
            row = rng.randrange(len(texts))
            texts[row] = perturb(texts[row], rng, 1) + f" (take {name[:3]}{rep})"  # new content: a cache miss
            text = csv_text(texts)
            options = dict(changes)
            freeze = options.pop("freeze", False)
            seconds, result = timed(lambda: analyze_text(text, path="bench.csv",
                                                         settings=settings(semantic=semantic, **options),
                                                         store=store, freeze=freeze))
            if rep < 0:
                first_scored = seconds * 1000
                continue
            results[name].append(seconds * 1000)
            stages[name].append(with_rest(result.timings))
        print(f"{name}: {fmt_runs(results[name], 'ms', 0)}; load {load_average()}", flush=True)
    rows = [["cold first analysis (fills the cache)", f"{cold * 1000:.0f} ms", ""]]
    if first_scored is not None:
        rows.append(["first re-analysis with scores (builds their warm state; not in the medians)",
                     f"{first_scored:.0f} ms", ""])
    for name, ms in results.items():
        verdict = "met" if median(ms) < 300 else "MISSED"
        target = f"< 300 ms: {verdict}" if name.startswith("all but clusters") else (
            f"(informative, < 300 ms: {verdict})" if name.startswith("findings only") else "(no target)")
        rows.append([f"re-analysis, {name}", fmt_runs(ms, "ms", 0), target])
    print_table(f"d. re-analysis of {len(texts)} rows after one row changed (warm cache)",
                ["run", "median (runs)", "target"], rows)
    keys = sorted({k for s in stages.values() for t in s for k in t}, key=_stage_order)
    print_table("d. stage timings (median ms)", ["stage", *stages],
                [[k] + [f"{median([t.get(k, 0.0) for t in s]) * 1000:.0f}" for s in stages.values()] for k in keys])


# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000, help="rows for parts a, b, d (default 10000)")
    parser.add_argument("--big-rows", type=int, default=100_000, help="rows for part c (default 100000)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--semantic-repeats", type=int, default=0,
                        help="runs per figure of part b (default: --repeats; each costs minutes)")
    parser.add_argument("--parts", default="abcd", help="which parts to run: any of a, b, c, d")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child-100k", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_100k:
        child_100k(args.child_100k)
        return
    print(f"# dataset_speed: rows={args.rows} big_rows={args.big_rows} repeats={args.repeats} parts={args.parts}")
    print(f"load average at start: {load_average()}", flush=True)
    print(engine_version())
    with tempfile.TemporaryDirectory(prefix="lens-bench-") as tmp:
        if set(args.parts) & set("abd"):
            corpus = long_rows(args.rows, seed=args.seed)
            words = [n_words(t) for t in corpus.texts]
            print(f"corpus: {len(words)} rows, {min(words)}–{max(words)} words (median {median(words):.0f})")
            path = corpus.write_csv(Path(tmp) / "rows.csv")
            if set(args.parts) & set("ab"):
                semantic_repeats = (args.semantic_repeats or args.repeats) if "b" in args.parts else 0
                run_10k(corpus, path, args.repeats if "a" in args.parts else 0, semantic_repeats)
            if "d" in args.parts:
                run_rewarm(corpus, max(args.repeats, 5), semantic=True)
        if "c" in args.parts:
            big = long_rows(args.big_rows, seed=args.seed + 1)
            run_100k(big, big.write_csv(Path(tmp) / "big.csv"), args.repeats)
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
