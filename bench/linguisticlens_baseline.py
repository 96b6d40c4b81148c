"""LinguisticLens's similarity-and-clustering method against Lens's, on the same tagged rows.

LinguisticLens (Reif et al., arXiv 2305.11364; PAIR-code/interpretability,
``data-synth-syntax/``), re-implemented here from its description:

* per row, the POS, DEP and token sequences and their 1-, 2- and 3-gram lists;
* for every ordered pair (i, j), all n × n of them, in pure Python:
  sim_n(i, j) = |{g in grams_n(i) : g in grams_n(j)}| / |set(grams_n(i))|
  (asymmetric: divided by the first row's distinct n-gram count; membership
  tested against j's n-gram *list*, as its code does), averaged over n = 1, 2, 3;
  distance = 1 − sim;
* ``scipy.cluster.hierarchy.linkage(distance_matrix, "ward")`` on the square
  matrix (scipy takes its rows as observation vectors, as LinguisticLens's
  call does), cut with ``fcluster(..., k, "maxclust")`` at each k of
  {3, 5, 8, 10, 12, 15, 20, 30, 50}.

Lens's equivalent: ``lens_engine.overlap.overlap_similarity`` for the three
matrices (symmetric Jaccard of the n-gram sets, vectorised) and
``lens_engine.hierarchy.cluster_hierarchy`` (Ward on SVD-reduced n-gram vectors,
flat cuts at the same ks, plus the nested tree and a pattern per cluster,
which LinguisticLens's timed part here does not include).

Both get the same spaCy tags (Lens's ``tag_texts``; tagging is not timed).
Reported: median times over ``--repeats`` runs and their ratio, and how alike
the flat cuts are (adjusted Rand index, scikit-learn) at k = 5 and 10 per
similarity; also LinguisticLens's Ward procedure applied to Lens's symmetric
matrix, to separate the effect of the similarity from that of the clustering.
An extra row times LinguisticLens's formula with precomputed Python sets
(no list scans), the fastest a pure-Python all-pairs loop gets.

Rows: 500 rows of ../shared/data/linguisticlens-music.csv (the LinguisticLens
authors' own demo data; it samples 500 rows too), or ``--source long`` for 500
synthetic rows of 10–30 words.

Run:
    .venv/bin/python bench/linguisticlens_baseline.py --rows 100 --repeats 1   # quick
    .venv/bin/python bench/linguisticlens_baseline.py                         # 500 rows, 3 runs
    .venv/bin/python bench/linguisticlens_baseline.py --source long
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (  # noqa: E402
    engine_version, fmt_runs, load_average, long_rows, median, print_table, set_quiet_env, timed,
)

set_quiet_env()
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

KS = (3, 5, 8, 10, 12, 15, 20, 30, 50)
COMPARE_KS = (5, 10)
SIMILARITIES = ("pos", "dep", "token")
MUSIC_CSV = HERE.parent.parent / "shared" / "data" / "linguisticlens-music.csv"


# ---------------------------------------------------------------------------
# Rows and tags


def load_rows(source: str, n: int, seed: int) -> list[str]:
    if source == "music":
        with MUSIC_CSV.open(encoding="utf-8") as f:
            texts = [r["query"].replace("\n", " ") for r in csv.DictReader(f) if r["query"].strip()]
        return random.Random(seed).sample(texts, min(n, len(texts)))
    return long_rows(n, seed=seed).texts


def tag(texts: list[str]):
    from lens_engine.analyze import spacy_pipeline
    from lens_engine.config import Settings
    from lens_engine.syntax import tag_texts

    return tag_texts(texts, spacy_pipeline(Settings().spacy_model))


def ll_sequences(tagged, similarity: str) -> list[list[str]]:
    """LinguisticLens keeps token text as written (``token.text``)."""
    return [t.words if similarity == "token" else getattr(t, similarity) for t in tagged]


# ---------------------------------------------------------------------------
# LinguisticLens, re-implemented


def ll_grams(sequence: list[str]) -> list[list]:
    """1-, 2- and 3-gram lists (lists, not sets, as LinguisticLens keeps them)."""
    return [list(sequence), list(zip(sequence, sequence[1:])), list(zip(sequence, sequence[1:], sequence[2:]))]


def ll_sim(first: list, second: list) -> float:
    """Share of the first row's distinct n-grams found in the second's list."""
    shared = set(g for g in first if g in second)
    denominator = len(set(first))
    return len(shared) / denominator if denominator else 0.0


def ll_similarity_matrix(sequences: list[list[str]]) -> np.ndarray:
    """All n × n ordered pairs, pure Python, averaged over the three orders."""
    grams = [ll_grams(s) for s in sequences]
    n = len(grams)
    sim = np.identity(n)
    for i in range(n):
        for j in range(n):
            sim[i][j] = sum(ll_sim(a, b) for a, b in zip(grams[i], grams[j])) / 3
    return sim


def ll_similarity_matrix_sets(sequences: list[list[str]]) -> np.ndarray:
    """The same numbers with the n-gram sets built once (the best pure Python does)."""
    sets = [[set(g) for g in ll_grams(s)] for s in sequences]
    n = len(sets)
    sim = np.identity(n)
    for i in range(n):
        row = sets[i]
        for j in range(n):
            other = sets[j]
            sim[i][j] = sum(len(a & b) / len(a) if a else 0.0 for a, b in zip(row, other)) / 3
    return sim


def ll_ward_labels(distance: np.ndarray, ks=KS) -> dict[int, np.ndarray]:
    """Ward on the square distance matrix's rows, cut into at most k clusters."""
    from scipy.cluster import hierarchy

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "looks suspiciously like an uncondensed distance matrix": as LL calls it
        tree = hierarchy.linkage(distance, "ward")
    return {k: hierarchy.fcluster(tree, k, criterion="maxclust") for k in ks}


def linguisticlens(tagged) -> tuple[dict[str, float], dict[str, dict[int, np.ndarray]]]:
    """Time LinguisticLens's three matrices and its clustering; return times and labels."""
    times, labels, matrix_time = {}, {}, 0.0
    matrices = {}
    for similarity in SIMILARITIES:
        seconds, matrices[similarity] = timed(lambda: ll_similarity_matrix(ll_sequences(tagged, similarity)))
        matrix_time += seconds
    times["matrices"] = matrix_time
    seconds, labels = timed(lambda: {s: ll_ward_labels(1 - matrices[s]) for s in SIMILARITIES})
    times["clustering"] = seconds
    times["total"] = times["matrices"] + times["clustering"]
    return times, labels


# ---------------------------------------------------------------------------
# Lens


def lens(texts: list[str], tagged) -> tuple[dict[str, float], object, dict[str, np.ndarray]]:
    from lens_engine.hierarchy import cluster_hierarchy, sequences_for
    from lens_engine.overlap import overlap_similarity

    times = {}
    times["matrices"], matrices = timed(lambda: {s: overlap_similarity(sequences_for(tagged, s))
                                                 for s in SIMILARITIES})
    times["clustering"], hierarchy = timed(lambda: cluster_hierarchy(texts, tagged, None, ks=KS))
    times["total"] = times["matrices"] + times["clustering"]
    return times, hierarchy, matrices


# ---------------------------------------------------------------------------


def agreement(ll_labels, hierarchy, lens_matrices) -> list[list[str]]:
    """ARI of LinguisticLens's cuts with Lens's, and with LL's Ward on Lens's matrix."""
    from sklearn.metrics import adjusted_rand_score

    rows = []
    for similarity in SIMILARITIES:
        ward_on_lens = ll_ward_labels(1 - lens_matrices[similarity].astype(np.float64), COMPARE_KS)
        for k in COMPARE_KS:
            lens_labels = hierarchy.cuts[similarity][k].labels
            rows.append([similarity, str(k), f"{adjusted_rand_score(ll_labels[similarity][k], lens_labels):.3f}",
                         f"{adjusted_rand_score(ll_labels[similarity][k], ward_on_lens[k]):.3f}",
                         f"{adjusted_rand_score(ward_on_lens[k], lens_labels):.3f}"])
    return rows


def _times(ratio: float) -> str:
    return f"{ratio:.0f}×" if ratio >= 10 else f"{ratio:.2f}×"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--source", choices=("music", "long"), default="music")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-sets-variant", action="store_true", help="skip the precomputed-sets row")
    args = parser.parse_args()

    texts = load_rows(args.source, args.rows, args.seed)
    tagged = tag(texts)
    tokens = sum(len(t) for t in tagged)
    print(f"# linguisticlens_baseline: {len(texts)} rows ({args.source}), {tokens} tokens, "
          f"repeats={args.repeats}; load at start: {load_average()}", flush=True)
    print(engine_version())
    lens(texts[:20], tagged[:20])  # imports and first-call costs out of the timings

    ll_runs, lens_runs, sets_runs = [], [], []
    for rep in range(args.repeats):
        ll_times, ll_labels = linguisticlens(tagged)
        lens_times, hierarchy, lens_matrices = lens(texts, tagged)
        ll_runs.append(ll_times)
        lens_runs.append(lens_times)
        if not args.no_sets_variant:
            sets_runs.append(sum(timed(lambda: ll_similarity_matrix_sets(ll_sequences(tagged, s)))[0]
                                 for s in SIMILARITIES))
        print(f"run {rep + 1}: LinguisticLens {ll_times['total']:.1f}s, Lens {lens_times['total']:.2f}s; "
              f"load {load_average()}", flush=True)

    ratios = [a["total"] / b["total"] for a, b in zip(ll_runs, lens_runs)]
    rows = []
    for part in ("matrices", "clustering", "total"):
        ll = [r[part] for r in ll_runs]
        ln = [r[part] for r in lens_runs]
        rows.append([part, fmt_runs(ll), fmt_runs(ln, digits=3),
                     _times(median([a / b for a, b in zip(ll, ln)]))])
    if sets_runs:
        rows.append(["matrices, LL formula with precomputed sets", fmt_runs(sets_runs), "",
                     _times(median([a / b["matrices"] for a, b in zip(sets_runs, lens_runs)])) + " Lens's matrices"])
    print_table(f"{len(texts)} rows: LinguisticLens (pure Python, all ordered pairs) vs Lens",
                ["part", "LinguisticLens: median (runs)", "Lens: median (runs)", "LL / Lens"], rows)
    print(f"speed-up of Lens over LinguisticLens (total, median of per-run ratios): {_times(median(ratios))}")
    print_table("agreement of flat cuts (adjusted Rand index; 1 = same partition, ~0 = chance)",
                ["similarity", "k", "LL vs Lens", "LL vs LL's Ward on Lens's matrix", "that vs Lens"],
                agreement(ll_labels, hierarchy, lens_matrices))
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
