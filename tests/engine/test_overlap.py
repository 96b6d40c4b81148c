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
