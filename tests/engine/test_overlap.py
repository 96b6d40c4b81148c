"""n-gram-set overlap: the vectorised version against the formula written out pair by pair."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lens_engine.overlap import (
    ngram_feature_vectors,
    ngram_set_matrix,
    overlap_similarity,
    similar_pairs,
)

TAGS = ["NOUN", "VERB", "DET", "ADJ", "ADP", "PRON", "PUNCT"]


def ngram_sets(seq: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(seq[i : i + n]) for i in range(len(seq) - n + 1)}


def slow_overlap(a: list[str], b: list[str], orders=(1, 2, 3)) -> float:
    """The definition: Jaccard per order, averaged over the orders either sequence has."""
    scores = []
    for n in orders:
        sa, sb = ngram_sets(a, n), ngram_sets(b, n)
        if sa or sb:
            scores.append(len(sa & sb) / len(sa | sb))
    return sum(scores) / len(scores) if scores else 1.0


def slow_matrix(left, right, orders=(1, 2, 3)) -> np.ndarray:
    return np.array([[slow_overlap(a, b, orders) for b in right] for a in left])


@pytest.fixture(scope="module")
def sequences() -> list[list[str]]:
    rng = random.Random(7)
    seqs = [[rng.choice(TAGS) for _ in range(rng.randint(0, 12))] for _ in range(60)]
    seqs += [[], ["NOUN"], ["NOUN", "VERB"], ["NOUN", "VERB"]]  # empty and shorter than 3
    seqs.append(seqs[5])  # an exact copy
    return seqs


def test_ngram_set_matrix_is_binary_sets_per_order():
    matrices = ngram_set_matrix([["a", "b", "a", "b"], ["a"], []], orders=(1, 2, 3))
    assert [m.shape[0] for m in matrices] == [3, 3, 3]
    unigrams, bigrams, trigrams = (m.toarray() for m in matrices)
    # "a b a b": {a, b}, {ab, ba}, {aba, bab}: repeats count once
    assert unigrams[0].sum() == 2 and bigrams[0].sum() == 2 and trigrams[0].sum() == 2
    assert unigrams.max() == 1
    assert unigrams[1].sum() == 1 and bigrams[1].sum() == 0  # too short for 2-grams
    assert unigrams[2].sum() == 0  # empty row
    # same n-gram, same column, across rows
    assert (unigrams[0] * unigrams[1]).sum() == 1


def test_ngram_set_matrix_products_count_shared_ngrams(sequences):
    for n, matrix in zip((1, 2, 3, 4), ngram_set_matrix(sequences, orders=(1, 2, 3, 4))):
        shared = (matrix @ matrix.T).toarray()
        sets = [ngram_sets(s, n) for s in sequences]
        expected = np.array([[len(a & b) for b in sets] for a in sets])
        np.testing.assert_array_equal(shared, expected)


def test_overlap_matches_the_pairwise_formula(sequences):
    fast = overlap_similarity(sequences)
    np.testing.assert_allclose(fast, slow_matrix(sequences, sequences), atol=1e-6)


def test_overlap_is_symmetric_with_unit_diagonal(sequences):
    sim = overlap_similarity(sequences)
    np.testing.assert_array_equal(sim, sim.T)
    np.testing.assert_allclose(np.diag(sim), 1.0)
    assert sim.dtype == np.float32
    # LinguisticLens divides by the first text's n-gram count; a short text
    # inside a long one would score 1 one way round. Here both ways agree.
    short, long = ["DET", "NOUN"], ["DET", "NOUN", "VERB", "ADP", "DET", "NOUN"]
    pair = overlap_similarity([short, long])
    assert pair[0, 1] == pair[1, 0] < 1.0


def test_overlap_against_other_sequences_and_in_small_blocks(sequences):
    left, right = sequences[:25], sequences[25:]
    np.testing.assert_allclose(overlap_similarity(left, right), slow_matrix(left, right), atol=1e-6)
    np.testing.assert_allclose(
        overlap_similarity(sequences, block_rows=7), overlap_similarity(sequences), atol=1e-7
    )


def test_overlap_of_other_orders(sequences):
    np.testing.assert_allclose(
        overlap_similarity(sequences, orders=(2, 4)), slow_matrix(sequences, sequences, (2, 4)), atol=1e-6
    )


def test_similar_pairs_equal_thresholding_the_full_matrix(sequences):
    full = slow_matrix(sequences, sequences)
    for threshold in (0.3, 0.6, 1.0):
        expected = [
            (i, j)
            for i in range(len(sequences))
            for j in range(i + 1, len(sequences))
            if full[i, j] >= threshold - 1e-9
        ]
        for block_rows in (None, 1, 6):
            pairs = similar_pairs(sequences, threshold, block_rows=block_rows)
            assert [(i, j) for i, j, _ in pairs] == expected
            for i, j, sim in pairs:
                assert sim == pytest.approx(full[i, j], abs=1e-6)


def test_feature_vectors_dot_product_is_mean_set_cosine(sequences):
    vectors = ngram_feature_vectors(sequences)
    gram = (vectors @ vectors.T).toarray()
    for a in range(0, len(sequences), 5):
        for b in range(0, len(sequences), 3):
            sa, sb = sequences[a], sequences[b]
            expected = 0.0
            for n in (1, 2, 3):
                na, nb = ngram_sets(sa, n), ngram_sets(sb, n)
                if na and nb:
                    expected += len(na & nb) / np.sqrt(len(na) * len(nb)) / 3
            assert gram[a, b] == pytest.approx(expected, abs=1e-9)


def test_growing_overlap_scores_new_items_as_the_formula_does(sequences):
    """The incremental scorer a template index uses: items arrive in batches, each
    batch scored against everything so far (as a PairIndex calls it)."""
    from lens_engine.overlap import GrowingOverlap

    scorer = GrowingOverlap()
    items: list[list[str]] = []
    for batch in (sequences[:20], sequences[20:21], sequences[21:50], sequences[50:]):
        items.extend(batch)
        np.testing.assert_allclose(scorer(batch, items), slow_matrix(batch, items), atol=1e-6)
    middle = items[10:13]  # a run that isn't the newest: a PairIndex's first block of several
    np.testing.assert_allclose(scorer(middle, items), slow_matrix(middle, items), atol=1e-6)
    other = [["NOUN", "NOUN", "VERB"]]  # not among the items at all: scored from scratch
    np.testing.assert_allclose(scorer(other, items), slow_matrix(other, items), atol=1e-6)


def test_pair_index_with_growing_overlap_finds_the_brute_force_pairs(sequences):
    from lens_engine.neighbours import PairIndex
    from lens_engine.overlap import GrowingOverlap

    keys = [tuple(s) for s in sequences]
    index = PairIndex(GrowingOverlap(), 0.5)
    first = similar_pairs(sequences[:40], threshold=0.5)
    index.seed(keys[:40], sequences[:40], first)  # the cold pass, then edits
    for n in (41, 52, len(sequences)):
        got = index.pairs(keys[:n], sequences[:n])
        sims = slow_matrix(sequences[:n], sequences[:n])
        want = {(i, j) for i in range(n) for j in range(i + 1, n)
                if sims[i, j] >= 0.5 - 1e-9 and keys[i] != keys[j]}
        assert {(i, j) for i, j, _ in got} == want
        for i, j, sim in got:
            assert sim == pytest.approx(sims[i, j], abs=1e-6)
