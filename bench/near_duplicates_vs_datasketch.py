"""Near-duplicates: datasketch MinHash + MinHashLSH against Lens's ``near_duplicates``.

Rows: ``bench_common.long_rows`` — realistic few-shot music requests of
10–30 words, with 4% of rows planted as near-copies of another row (one word
edit, or two for a third of them: a synonym, a dropped filler word, an added
intensifier or "please", a content word replaced — as the planted generator
edits), no exact copies.  Recall is measured on the planted (source, copy)
pairs: over all of them, and over those whose rapidfuzz ``ratio`` is at least
Lens's default threshold 0.85 (the pairs Lens is asked to return).

Sides, each on the same whitespace/case-normalised texts (Lens's ``normalize``):

* Lens: ``lens_engine.duplicates.near_duplicates(texts, 0.85)`` — its own
  MinHash/LSH blocking, then rapidfuzz ``ratio`` ≥ 0.85 on the candidates.
  "candidates" are its LSH candidate pairs (recomputed untimed for the count).
* datasketch, 128 permutations, ``MinHash.bulk`` + ``MinHashLSH``
  (insert every row, query every row; a pair is a candidate when LSH returns
  it).  "returned" keeps the candidates whose MinHash Jaccard estimate is at
  least the LSH threshold (datasketch's own check; no exact verification);
  the table also counts how many returned pairs really are near-duplicates
  by Lens's definition (rapidfuzz ``ratio`` ≥ 0.85), for both sides.
  Two standard set-ups:
    - ``word1@0.5``: the set of lower-cased words, threshold 0.5 — the
      example in datasketch's documentation;
    - ``char5@0.7``: character 5-gram shingles, threshold 0.7 — the
      text-dedup/datatrove style (5-gram shingles, ~0.7 Jaccard).

Median time of ``--repeats`` runs per side, in the same process, alternating.

Run:
    .venv/bin/python bench/near_duplicates_vs_datasketch.py --sizes 2000 --repeats 1   # quick
    .venv/bin/python bench/near_duplicates_vs_datasketch.py                           # 10k and 50k, 3 runs
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_common import (  # noqa: E402
    engine_version, fmt_runs, load_average, long_rows, median, print_table, set_quiet_env, timed,
)

set_quiet_env()
sys.path.insert(0, str(HERE.parent))

NUM_PERM = 128
LENS_THRESHOLD = 0.85
DATASKETCH_SETUPS = {"word1@0.5": ("word", 1, 0.5), "char5@0.7": ("char", 5, 0.7)}


# ---------------------------------------------------------------------------
# datasketch


def shingles(text: str, kind: str, k: int) -> list[bytes]:
    if kind == "word":
        words = text.split()
        grams = {" ".join(words[i:i + k]) for i in range(max(1, len(words) - k + 1))}
    else:
        grams = {text[i:i + k] for i in range(max(1, len(text) - k + 1))}
    return [g.encode("utf-8") for g in grams]


def datasketch_pairs(texts: list[str], kind: str, k: int, threshold: float) -> tuple[set, set]:
    """(candidate pairs, returned pairs) as sets of (i, j), i < j."""
    from datasketch import MinHash, MinHashLSH

    signatures = MinHash.bulk((shingles(t, kind, k) for t in texts), num_perm=NUM_PERM)
    lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
    with lsh.insertion_session() as session:
        for i, m in enumerate(signatures):
            session.insert(i, m)
    candidates, returned = set(), set()
    for i, m in enumerate(signatures):
        for j in lsh.query(m):
            if j > i:
                candidates.add((i, j))
                if m.jaccard(signatures[j]) >= threshold:
                    returned.add((i, j))
    return candidates, returned


# ---------------------------------------------------------------------------
# Lens


def lens_pairs(texts: list[str]) -> set:
    from lens_engine.duplicates import near_duplicates

    return {(p.a, p.b) for p in near_duplicates(texts, LENS_THRESHOLD)}


def lens_candidates(texts: list[str]) -> set:
    """Lens's LSH candidate pairs (its internals, recomputed for the count only), as row pairs."""
    from lens_engine.duplicates import _candidate_pairs, minhash_signatures, shingle_plan

    uniques = list(dict.fromkeys(texts))
    chars, band = shingle_plan(uniques)
    first_row: dict[str, int] | None = None
    if len(uniques) != len(texts):
        first_row = {}
        for row, t in enumerate(texts):
            first_row.setdefault(t, row)
    pairs = _candidate_pairs(minhash_signatures(uniques, chars), band)
    if first_row is None:
        return {(int(i), int(j)) for i, j in pairs}
    return {tuple(sorted((first_row[uniques[i]], first_row[uniques[j]]))) for i, j in pairs}


# ---------------------------------------------------------------------------


def at_threshold(pairs: set, texts: list[str]) -> int:
    """How many of ``pairs`` have rapidfuzz ``ratio`` ≥ Lens's threshold (true near-duplicates)."""
    from rapidfuzz import fuzz
    from rapidfuzz.process import cpdist

    if not pairs:
        return 0
    left, right = zip(*((texts[a], texts[b]) for a, b in pairs))
    return int((cpdist(list(left), list(right), scorer=fuzz.ratio, workers=-1) >= LENS_THRESHOLD * 100).sum())


def recall(found: set, truth: list[tuple[int, int]]) -> float:
    return sum(1 for a, b in truth if (min(a, b), max(a, b)) in found) / max(len(truth), 1)


def bench_size(n: int, repeats: int, seed: int) -> None:
    from rapidfuzz import fuzz

    from lens_engine.text import normalize

    corpus = long_rows(n, seed=seed, near_share=0.04, exact_share=0.0)
    texts = [normalize(t) for t in corpus.texts]
    truth = corpus.near_pairs
    above = [(a, b) for a, b in truth if fuzz.ratio(texts[a], texts[b]) / 100 >= LENS_THRESHOLD]
    print(f"\n## {n} rows, {len(truth)} planted pairs ({len(above)} with ratio ≥ {LENS_THRESHOLD}); "
          f"load before: {load_average()}", flush=True)

    times = {"lens": [], **{s: [] for s in DATASKETCH_SETUPS}}
    results: dict[str, tuple[set, set]] = {}
    for rep in range(repeats):
        seconds, pairs = timed(lambda: lens_pairs(corpus.texts))
        times["lens"].append(seconds)
        results["lens"] = (set(), pairs)
        for name, (kind, k, threshold) in DATASKETCH_SETUPS.items():
            seconds, results[name] = timed(lambda: datasketch_pairs(texts, kind, k, threshold))
            times[name].append(seconds)
        print(f"run {rep + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items())
              + f"; load {load_average()}", flush=True)
    results["lens"] = (lens_candidates(texts), results["lens"][1])

    rows = []
    for name, (candidates, returned) in results.items():
        label = f"Lens near_duplicates (ratio ≥ {LENS_THRESHOLD})" if name == "lens" else f"datasketch {name}"
        ratio = median([a / b for a, b in zip(times[name], times["lens"])])
        rows.append([label, fmt_runs(times[name]), f"{ratio:.1f}×", len(candidates), len(returned),
                     at_threshold(returned, texts),
                     f"{recall(candidates, truth):.3f}", f"{recall(returned, truth):.3f}",
                     f"{recall(returned, above):.3f}"])
    print_table(f"{n} rows: near-duplicates, Lens vs datasketch ({NUM_PERM} permutations)",
                ["method", "time: median (runs)", "time / Lens", "candidates", "returned",
                 f"returned with ratio ≥ {LENS_THRESHOLD}", "recall (candidates)", "recall (returned)",
                 f"recall (returned), pairs ≥ {LENS_THRESHOLD}"], rows)
    report_union(results, texts)


def report_union(results: dict[str, tuple[set, set]], texts: list[str]) -> None:
    """Lens's share of every true near-duplicate pair (ratio ≥ threshold, not an exact
    duplicate) that any method returned: planted or incidental."""
    from rapidfuzz import fuzz

    union = set().union(*(returned for _, returned in results.values()))
    true = {(a, b) for a, b in union
            if texts[a] != texts[b] and fuzz.ratio(texts[a], texts[b]) >= LENS_THRESHOLD * 100}
    lens_found = len(true & results["lens"][1])
    print(f"true near-duplicate pairs (ratio ≥ {LENS_THRESHOLD}, not exact) returned by any method: {len(true)}; "
          f"Lens returns {lens_found} ({lens_found / max(len(true), 1):.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"# near_duplicates_vs_datasketch: sizes={args.sizes} repeats={args.repeats}; "
          f"load at start: {load_average()}", flush=True)
    print(engine_version())
    for n in args.sizes:
        bench_size(n, args.repeats, args.seed)
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
