"""Ward clustering, flat cuts, the syntax → lexicon → semantics tree, and summary patterns."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from scipy.cluster.hierarchy import cut_tree, linkage

from lens_engine import hierarchy
from lens_engine.hierarchy import (
    DEFAULT_KS,
    ClusterHierarchy,
    PatternMiner,
    WardTree,
    cluster_hierarchy,
    ward_tree,
    weighted_ward_linkage,
)
from lens_engine.syntax import TaggedText

VERBS = ["fix", "clean", "paint", "repair", "sell", "wash"]
NOUNS = ["bike", "car", "fence", "roof", "table", "laptop"]
PEOPLE = ["daughter", "son", "wife", "boss", "friend", "team"]
ADJS = ["upbeat", "sad", "mellow", "dreamy", "loud", "quiet"]
CITIES = ["Berlin", "Tokyo", "Lagos", "Lima", "Oslo", "Dublin"]
ACTIVITIES = ["running", "cooking", "studying", "driving", "working", "reading"]

# Three template families, planted in interleaved rows.
FAMILIES = [
    lambda r: f"how do I {r.choice(VERBS)} a {r.choice(NOUNS)} for my {r.choice(PEOPLE)} ?",
    lambda r: f"The band from {r.choice(CITIES)} played a {r.choice(ADJS)} song last night .",
    lambda r: f"can you recommend some {r.choice(ADJS)} songs to listen to while {r.choice(ACTIVITIES)} ?",
]


def planted_families(rows_per_family: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    r = random.Random(seed)
    family = np.arange(3 * rows_per_family) % 3
    return [FAMILIES[f](r) for f in family], family


def same_partition(labels, truth) -> bool:
    """Each planted group is exactly one cluster."""
    labels, truth = np.asarray(labels), np.asarray(truth)
    return all(len(set(labels[truth == g])) == 1 for g in set(truth)) and len(set(labels)) == len(set(truth))


def hand_tagged(sentence: str, tags: str) -> TaggedText:
    words, pos = sentence.split(), tags.split()
    assert len(words) == len(pos)
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(len(words))]
    return TaggedText(words, starts, pos, ["dep"] * len(words), list(range(len(words))))


@pytest.fixture(scope="module")
def families(tag) -> tuple[list[str], list[TaggedText], np.ndarray]:
    texts, truth = planted_families(30)
    return texts, tag(texts), truth


@pytest.fixture(scope="module")
def family_hierarchy(families) -> ClusterHierarchy:
    texts, tagged, truth = families
    # Stand-in embeddings (the real model is tested in test_semantic): one
    # direction per family plus noise, so the semantics level has structure.
    rng = np.random.default_rng(1)
    embeddings = np.eye(8)[truth] + 0.2 * rng.normal(size=(len(texts), 8))
    return cluster_hierarchy(texts, tagged, embeddings)


# --- Ward --------------------------------------------------------------------


def test_weighted_ward_equals_scipy_ward_for_unit_weights():
    points = np.random.default_rng(0).normal(size=(120, 6))
    ours = weighted_ward_linkage(points, np.ones(len(points)))
    reference = linkage(points, "ward")
    np.testing.assert_allclose(ours[:, 2], reference[:, 2], rtol=1e-9)
    np.testing.assert_array_equal(ours[:, 3], reference[:, 3])
    tree = WardTree(np.arange(len(points)), ours)
    for k in (2, 5, 17):
        assert same_partition(tree.cut(k), cut_tree(reference, n_clusters=k).ravel())


def test_a_weight_stands_for_repeated_points():
    rng = np.random.default_rng(2)
    points, weights = rng.normal(size=(30, 4)), rng.integers(1, 5, size=30)
    ours = weighted_ward_linkage(points, weights.astype(float))
    repeated = linkage(np.repeat(points, weights, axis=0), "ward")
    nonzero = repeated[:, 2][repeated[:, 2] > 1e-12]  # merges of copies happen at 0
    np.testing.assert_allclose(ours[:, 2], nonzero, rtol=1e-9)


def test_duplicates_collapse_and_cuts_are_largest_first():
    points = np.array([[0.0, 0.0]] * 5 + [[10.0, 0.0]] * 2 + [[0.0, 10.0]] * 3)
    tree = ward_tree(points)
    assert tree.n_leaves == 3
    assert tree.cut(3).tolist() == [0] * 5 + [2] * 2 + [1] * 3
    assert tree.cut(99).max() == 2  # never more clusters than distinct points


def test_micro_clusters_keep_planted_blobs(monkeypatch):
    monkeypatch.setattr(hierarchy, "MAX_WARD_POINTS", 60)
    monkeypatch.setattr(hierarchy, "MICRO_CLUSTERS", 25)
    rng = np.random.default_rng(4)
    truth = np.repeat([0, 1, 2], [150, 100, 50])
    points = np.array([[0, 0], [8, 0], [0, 8]])[truth] + rng.normal(size=(300, 2))
    tree = ward_tree(points, seed=0)
    assert tree.n_leaves <= 25
    assert same_partition(tree.cut(3), truth)
    assert tree.suggested_k(10) == 3


def test_suggested_k_is_the_largest_jump():
    # merges at heights 1, 1.1, 1.2 (inside groups) then 5, 6 (between groups)
    tree = WardTree(
        np.arange(6),
        np.array([[0, 1, 1.0, 2], [2, 3, 1.1, 2], [4, 5, 1.2, 2], [6, 7, 5.0, 4], [8, 9, 6.0, 6]]),
    )
    assert tree.suggested_k(5) == 3
    assert tree.suggested_k(2) == 2


# --- Summary patterns ----------------------------------------------------------


def test_pattern_of_a_hand_made_cluster():
    tagged = [
        hand_tagged("how do I fix a bike for my son ?", "ADV AUX PRON VERB DET NOUN ADP PRON NOUN PUNCT"),
        hand_tagged("how do I paint a fence for my wife ?", "ADV AUX PRON VERB DET NOUN ADP PRON NOUN PUNCT"),
        hand_tagged("how do I sell a car for my boss ?", "ADV AUX PRON VERB DET NOUN ADP PRON NOUN PUNCT"),
        hand_tagged("How do I wash a dog for my daughter ?", "ADV AUX PRON VERB DET NOUN ADP PRON NOUN PUNCT"),
    ]
    pattern, support = PatternMiner(tagged).summarize(range(4))
    assert pattern == "how do I VERB a NOUN for my NOUN ?"
    assert support == 1.0


def test_pattern_shows_gaps_and_needs_thirty_percent_support():
    tagged = [
        hand_tagged("please list some songs now", "INTJ VERB DET NOUN ADV"),
        hand_tagged("please quickly list five sad songs", "INTJ ADV VERB NUM ADJ NOUN"),
        hand_tagged("please list ten old songs", "INTJ VERB NUM ADJ NOUN"),
        hand_tagged("zebras eat grass", "NOUN VERB NOUN"),
    ]
    pattern, support = PatternMiner(tagged).summarize(range(4))
    # in 3 of 4 rows; most have "please list" together and words before "songs"
    assert pattern == "please list … songs"
    assert support == 0.75
    # a slot is never kept by fewer than 30 % of the rows
    many = tagged[:1] + [hand_tagged(f"word{i} stuff", "NOUN NOUN") for i in range(9)]
    pattern, _ = PatternMiner(many).summarize(range(10))
    assert "please" not in pattern and "list" not in pattern


def test_pattern_of_empty_rows():
    tagged = [TaggedText([], [], [], [], [])] * 3
    assert PatternMiner(tagged).summarize([0, 1, 2]) == ("", 1.0)


# --- The hierarchy -------------------------------------------------------------


def test_flat_cuts_recover_three_template_families(families, family_hierarchy):
    _, _, truth = families
    assert set(family_hierarchy.cuts) == {"pos", "dep", "token", "embedding"}
    for similarity, by_k in family_hierarchy.cuts.items():
        assert sorted(by_k) == [k for k in DEFAULT_KS if k <= len(truth)]
        assert same_partition(by_k[3].labels, truth), similarity
    patterns = {c.pattern for c in family_hierarchy.cuts["pos"][3].clusters}
    assert "how do I VERB a NOUN for my NOUN ?" in patterns


def test_flat_cut_clusters_partition_the_rows(family_hierarchy):
    for by_k in family_hierarchy.cuts.values():
        for k, cut in by_k.items():
            assert len(cut.clusters) <= k
            sizes = [c.size for c in cut.clusters]
            assert sizes == sorted(sizes, reverse=True)
            assert sorted(r for c in cut.clusters for r in c.rows) == list(range(len(cut.labels)))
            for index, cluster in enumerate(cut.clusters):
                assert all(cut.labels[r] == index for r in cluster.rows)
                assert cluster.id == f"{cut.similarity}-k{k}-{index}"
                assert cluster.size == len(cluster.rows) and cluster.pattern


def test_tree_nests_syntax_lexicon_semantics(families, family_hierarchy):
    _, _, truth = families
    tree = family_hierarchy.tree
    assert family_hierarchy.tree_levels == ["syntax", "lexicon", "semantics"]
    assert same_partition([next(i for i, c in enumerate(tree) if r in c.rows) for r in range(len(truth))], truth)
    seen_ids = set()

    def walk(clusters, depth, parent_rows):
        assert sorted(r for c in clusters for r in c.rows) == sorted(parent_rows)
        for c in clusters:
            assert c.level == family_hierarchy.tree_levels[depth]
            assert c.id not in seen_ids
            seen_ids.add(c.id)
            if c.children:
                assert 2 <= len(c.children) <= hierarchy.INNER_LEVEL_MAX_K
                walk(c.children, depth + 1, c.rows)

    walk(tree, 0, range(len(truth)))
    assert all(c.children for c in tree)  # 30-row families split by wording
    assert any(grandchild.level == "semantics" for c in tree for child in c.children for grandchild in child.children)


def test_without_embeddings_there_is_no_semantic_level(families):
    texts, tagged, _ = families
    result = cluster_hierarchy(texts, tagged)
    assert set(result.cuts) == {"pos", "dep", "token"}
    assert result.tree_levels == ["syntax", "lexicon"]
    assert all(not grandchild for c in result.tree for child in c.children for grandchild in [child.children])


def test_json_ready_and_deterministic(families, family_hierarchy):
    texts, tagged, truth = families
    as_dict = family_hierarchy.to_dict()
    decoded = json.loads(json.dumps(as_dict))
    assert decoded["cuts"]["pos"]["3"]["k"] == 3
    assert set(decoded["tree"][0]) == {"id", "level", "size", "rows", "pattern", "support", "children"}
    rng = np.random.default_rng(1)
    embeddings = np.eye(8)[truth] + 0.2 * rng.normal(size=(len(texts), 8))
    assert cluster_hierarchy(texts, tagged, embeddings).to_dict() == as_dict


def test_tiny_inputs():
    assert cluster_hierarchy([], []).to_dict() == {"tree_levels": [], "tree": [], "cuts": {}}
    tagged = [hand_tagged("hello there", "INTJ ADV"), hand_tagged("hello there", "INTJ ADV")]
    result = cluster_hierarchy(["hello there"] * 2, tagged)
    assert all(by_k == {} for by_k in result.cuts.values())  # every k > 2 rows
    assert [c.rows for c in result.tree] == [[0, 1]]  # identical rows: one cluster, no children
    assert result.tree[0].children == []
    with pytest.raises(ValueError):
        cluster_hierarchy(["a"], [])


def test_a_check_that_raises_stops_the_hierarchy_between_steps(families):
    """The language server stops idle-time clusters when an edit comes (column_clusters'
    should_stop): every step calls ``check``, so it stops at whichever one is running."""
    texts, tagged, _ = families
    calls = []

    def count() -> None:
        calls.append(1)

    cluster_hierarchy(texts, tagged, check=count)
    steps = len(calls)
    assert steps >= 8  # three feature sets, a tree and cuts per similarity, the splits
    for stop_at in (1, steps // 2, steps):
        calls.clear()

        def stop() -> None:
            calls.append(1)
            if len(calls) == stop_at:
                raise InterruptedError

        with pytest.raises(InterruptedError):
            cluster_hierarchy(texts, tagged, check=stop)
        assert len(calls) == stop_at  # nothing ran past the step that raised
