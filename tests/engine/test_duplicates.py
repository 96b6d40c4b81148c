"""Exact and near-duplicates: every pair knows both rows; blocking keeps recall."""

import random

import pytest

from rapidfuzz import fuzz

from lens_engine.duplicates import duplicate_groups, exact_duplicates, minhash_signatures, near_duplicates
from lens_engine.text import normalize


def test_exact_duplicates_ignore_case_and_spacing():
    texts = ["Music for a wedding", "music  for a WEDDING ", "something else", None, "", "music for a wedding"]
    assert exact_duplicates(texts) == [[0, 1, 5]]


def test_exact_duplicate_groups_come_in_order_of_their_first_row():
    texts = ["jazz", "blues", "rock", "Blues", "JAZZ", "rock ", "folk", "jazz"]
    assert exact_duplicates(texts) == [[0, 4, 7], [1, 3], [2, 5]]


def test_near_duplicates_find_one_word_edits_and_not_unrelated_rows():
    texts = [
        "upbeat songs for a long summer road trip with friends",
        "upbeat songs for a long summer road trip with family",
        "quiet piano pieces to help me focus while studying",
        "aggressive metal for lifting heavy weights at the gym",
        "UPBEAT songs for a long summer road trip with friends",  # exact dup of 0
    ]
    pairs = near_duplicates(texts, threshold=0.85)
    assert {(p.a, p.b) for p in pairs} == {(0, 1), (1, 4)}
    for p in pairs:
        assert abs(p.similarity - fuzz.ratio(normalize(texts[p.a]), normalize(texts[p.b])) / 100) < 1e-6
    with_exact = {(p.a, p.b) for p in near_duplicates(texts, 0.85, include_exact=True)}
    assert (0, 4) in with_exact


def test_threshold_is_absolute():
    texts = ["music for a rainy afternoon", "music for a sunny afternoon"]
    sim = fuzz.ratio(texts[0], texts[1]) / 100
    assert near_duplicates(texts, threshold=sim - 0.01)
    assert not near_duplicates(texts, threshold=sim + 0.01)


def test_blocking_recall_on_planted_pairs_at_scale():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(10, 30))) for _ in range(5000)]
    planted = []
    for i in range(0, 5000, 50):
        words = texts[i].split()
        words[rng.randrange(len(words))] = rng.choice(vocab)
        texts[i + 1] = " ".join(words)
        planted.append((i, i + 1))
    found = {(p.a, p.b) for p in near_duplicates(texts, threshold=0.85)}
    recall = sum(p in found for p in planted) / len(planted)
    assert recall >= 0.98
    # And nothing unplanted: random rows are far apart.
    assert found <= set(planted) | {(a, b) for a, b in found if fuzz.ratio(texts[a], texts[b]) >= 85}


def test_minhash_estimates_jaccard():
    a = "the quick brown fox jumps over the lazy dog near the river bank"
    b = "the quick brown fox jumps over the lazy cat near the river bank"
    sig = minhash_signatures([a, b], shingle_chars=5)
    estimate = (sig[0] == sig[1]).mean()
    shingles = [{t[i:i + 5] for i in range(len(t) - 4)} for t in (a, b)]
    exact = len(shingles[0] & shingles[1]) / len(shingles[0] | shingles[1])
    assert abs(estimate - exact) < 0.15


def test_duplicate_groups_are_connected_components():
    from lens_engine.duplicates import DuplicatePair

    groups = duplicate_groups([DuplicatePair(0, 3, 0.9), DuplicatePair(3, 7, 0.9), DuplicatePair(1, 2, 0.95)], 8)
    assert groups == [[0, 3, 7], [1, 2]]


def _planted_texts(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(400)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(8, 20))) for _ in range(n)]
    for i in range(0, n - 1, 7):  # a near-copy every 7 rows
        words = texts[i].split()
        words[rng.randrange(len(words))] = rng.choice(vocab)
        texts[i + 1] = " ".join(words)
    return texts


def test_a_warm_index_finds_the_pairs_a_cold_pass_finds():
    """The incremental path (new texts looked up in the old texts' buckets) against a cold
    pass over the same texts, for a one-row edit and for a batch of 15% new rows (just
    under the share where the index starts over)."""
    from lens_engine.duplicates import NearDuplicateIndex

    texts = _planted_texts(1, 1200)
    indexes: dict = {}

    def index(q, r):
        return indexes.setdefault((q, r), NearDuplicateIndex(0.85, q, r))

    near_duplicates(texts, 0.85, index=index)
    rng = random.Random(2)
    for changed in (1, 180):
        for row in rng.sample(range(len(texts)), changed):
            texts[row] = texts[row] + " " + rng.choice(["again", "too", "w7 w8"])
        warm = {(p.a, p.b, round(p.similarity, 6)) for p in near_duplicates(texts, 0.85, index=index)}
        cold = {(p.a, p.b, round(p.similarity, 6)) for p in near_duplicates(texts, 0.85)}
        assert warm == cold and len(cold) > 100


def test_a_cancelled_warm_learn_forgets_what_it_half_learned():
    from lens_engine.duplicates import NearDuplicateIndex
    from lens_engine.errors import AnalysisCancelled

    texts = _planted_texts(3, 1500)
    indexes: dict = {}

    def index(q, r):
        return indexes.setdefault((q, r), NearDuplicateIndex(0.85, q, r))

    near_duplicates(texts, 0.85, index=index)
    edited = [t + " w1" if i % 8 == 0 else t for i, t in enumerate(texts)]  # 188 new texts

    def cancel():
        raise AnalysisCancelled()

    try:
        near_duplicates(edited, 0.85, index=index, check=cancel)
    except AnalysisCancelled:
        pass
    else:
        raise AssertionError("the check was never called")
    warm = {(p.a, p.b) for p in near_duplicates(edited, 0.85, index=index)}
    assert warm == {(p.a, p.b) for p in near_duplicates(edited, 0.85)}


@pytest.mark.parametrize("include_exact", [False, True])
def test_near_pairs_memo_equals_a_fresh_call(include_exact, monkeypatch):
    """A document's pairs after each edit (one row, a few rows, a copy of another row, an
    emptied row, a deletion) from the memo's path equal a fresh call's."""
    from lens_engine import duplicates
    from lens_engine.duplicates import NearDuplicateIndex, NearPairsMemo

    patched = []
    after_edit = duplicates._pairs_after_edit
    monkeypatch.setattr(duplicates, "_pairs_after_edit", lambda *a: patched.append(1) or after_edit(*a))

    texts: list[str | None] = _planted_texts(5, 800)
    indexes: dict = {}
    memo = NearPairsMemo()

    def index(q, r):
        return indexes.setdefault((q, r), NearDuplicateIndex(0.85, q, r))

    rng = random.Random(6)
    near_duplicates(texts, 0.85, include_exact=include_exact, index=index, memo=memo)
    for step in range(30):
        kind = step % 5
        row = rng.randrange(len(texts))
        if kind == 0:
            texts[row] = (texts[row] or "w1 w2 w3") + " w9"
        elif kind == 1:
            for r in rng.sample(range(len(texts)), 3):
                texts[r] = (texts[r] or "") + " w3 w4"
        elif kind == 2:
            texts[row] = texts[rng.randrange(len(texts))]  # an exact copy of another row
        elif kind == 3:
            texts[row] = None if step % 2 else "   "
        else:
            del texts[row]  # a deletion: the memo's rows no longer line up
        warm = near_duplicates(texts, 0.85, include_exact=include_exact, index=index, memo=memo)
        cold = near_duplicates(texts, 0.85, include_exact=include_exact)
        assert [(p.a, p.b, round(p.similarity, 9)) for p in warm] == [(p.a, p.b, round(p.similarity, 9)) for p in cold]
    assert len(cold) > 50
    assert len(patched) == 24  # every edit but the deletions took the memo's path
