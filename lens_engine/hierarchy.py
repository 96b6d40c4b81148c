"""Clusters of rows: flat cuts per similarity and the syntax → lexicon → semantics tree.

What LinguisticLens offers, made fast enough for 10k rows:

* Four similarities, as in LinguisticLens: ``pos`` and ``dep`` (syntax: the
  row's POS-tag / dependency-label sequence), ``token`` (lexicon: its word
  sequence) and ``embedding`` (semantics: a sentence embedding).
* Ward clustering per similarity, cut flat at each k of ``DEFAULT_KS``: the
  explorer steps k with −/+ and switches the similarity.
* A nested tree: rows grouped by POS template, each group split by wording,
  each of those by meaning.
* Every cluster summarised by its most frequent word / POS-slot pattern with
  gaps (``how do I VERB a NOUN for my NOUN ?``).

How Ward stays fast (LinguisticLens builds a full n × n similarity matrix in
Python loops; minutes at 500 rows):

1. Vectors instead of a similarity matrix. Ward needs Euclidean geometry, so
   each sequence similarity becomes a vector whose dot products are the
   n-gram-set overlap as a cosine (``overlap.ngram_feature_vectors``),
   reduced to ``FEATURE_DIMS`` dimensions with TruncatedSVD (LSA).
2. Identical vectors are merged into one weighted point (synthetic data
   repeats templates a lot, so this often shrinks the problem many times).
3. Above ``MAX_WARD_POINTS`` distinct points, k-means first cuts them into
   ``MICRO_CLUSTERS`` micro-clusters. k-means minimises the same
   within-cluster sum of squares as Ward, at a much finer grain.
4. Ward on the weighted points (``weighted_ward_linkage``): exact Ward
   distances for groups of given sizes, so the result is exactly the Ward
   tree under the constraint that a micro-cluster is never split.

One Ward tree per similarity gives every flat cut (k = 3 … 50) at once.

How the tree picks its k at each level: Ward again (by POS vectors for the
rows, by token vectors inside each syntax cluster, by embeddings inside each
lexicon cluster), cut where the dendrogram's merge height jumps the most in
relative terms (``WardTree.suggested_k``), with k between 2 and
min(√rows, 12) at the top and min(√rows, 8) below. √rows keeps clusters
from being tiny on average; clusters under ``MIN_ROWS_TO_SPLIT`` rows, or
whose rows are all alike by the next similarity, are leaves.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import TruncatedSVD

from lens_engine.diversity import one_blas_thread
from lens_engine.overlap import ngram_feature_vectors
from lens_engine.syntax import TaggedText

SIMILARITIES: tuple[str, ...] = ("pos", "dep", "token", "embedding")
DEFAULT_KS: tuple[int, ...] = (3, 5, 8, 10, 12, 15, 20, 30, 50)

# Tree levels, top down: (name, similarity it clusters by, letter in cluster ids).
TREE_LEVELS: tuple[tuple[str, str, str], ...] = (
    ("syntax", "pos", "s"),
    ("lexicon", "token", "l"),
    ("semantics", "embedding", "e"),
)

FEATURE_DIMS = 64  # SVD dimensions of the n-gram vectors (and embeddings)
MAX_WARD_POINTS = 1000  # exact Ward up to this many distinct points...
MICRO_CLUSTERS = 500  # ...above it, Ward on this many k-means micro-clusters

TOP_LEVEL_MAX_K = 12  # the tree's first level has at most this many clusters
INNER_LEVEL_MAX_K = 8  # each cluster splits into at most this many children
MIN_ROWS_TO_SPLIT = 4  # smaller clusters are leaves

PATTERN_SUPPORT = 0.3  # a pattern must match ≥ 30 % of the cluster (as LinguisticLens)
PATTERN_SAMPLE_ROWS = 64  # patterns are mined on at most this many rows per cluster
PATTERN_MAX_TOKENS = 64  # ...and from at most this many tokens of the row they follow
SLOT_KEEPS = 2 / 3  # a pattern slot must keep ≥ 2/3 of the rows still matching
GAP = "…"


# ---------------------------------------------------------------------------
# Results


@dataclass
class Cluster:
    """A group of rows and the pattern most of them follow."""

    id: str  # "pos-k5-0" in a flat cut; "s0", "s0.l1", "s0.l1.e2" in the tree
    level: str  # the similarity of a flat cut, or the tree level (syntax/lexicon/semantics)
    size: int
    rows: list[int]  # 0-based data-row indices, ascending
    pattern: str  # e.g. "how do I VERB a NOUN for my NOUN ?"; "…" marks a gap
    support: float  # share of the (sampled) rows the whole pattern matches
    children: list[Cluster] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "level": self.level,
            "size": self.size,
            "rows": self.rows,
            "pattern": self.pattern,
            "support": round(self.support, 4),
            "children": [c.to_dict() for c in self.children],
        }


@dataclass
class FlatCut:
    """One similarity's Ward tree cut into (at most) k clusters."""

    similarity: str
    k: int  # requested; fewer clusters only when rows have fewer distinct vectors
    labels: list[int]  # cluster index per row; 0 is the largest cluster
    clusters: list[Cluster]

    def to_dict(self) -> dict[str, Any]:
        return {
            "similarity": self.similarity,
            "k": self.k,
            "labels": self.labels,
            "clusters": [c.to_dict() for c in self.clusters],
        }


@dataclass
class ClusterHierarchy:
    tree: list[Cluster]  # top level: syntax clusters
    cuts: dict[str, dict[int, FlatCut]]  # similarity → k → cut
    tree_levels: list[str] = field(default_factory=list)  # e.g. ["syntax", "lexicon", "semantics"]

    def remap_rows(self, rows: Sequence[int], n_rows: int | None = None) -> "ClusterHierarchy":
        """Renumber rows when clustering ran on a subset (rows with text):
        position i becomes ``rows[i]``; rows outside the subset get label -1."""
        total = n_rows if n_rows is not None else (max(rows) + 1 if len(rows) else 0)

        def remap(c: Cluster) -> Cluster:
            return Cluster(c.id, c.level, c.size, [rows[r] for r in c.rows], c.pattern, c.support,
                           [remap(ch) for ch in c.children])

        cuts = {}
        for similarity, by_k in self.cuts.items():
            cuts[similarity] = {}
            for k, cut in by_k.items():
                labels = [-1] * total
                for i, label in enumerate(cut.labels):
                    labels[rows[i]] = label
                cuts[similarity][k] = FlatCut(cut.similarity, cut.k, labels, [remap(c) for c in cut.clusters])
        return ClusterHierarchy([remap(c) for c in self.tree], cuts, list(self.tree_levels))

    def to_dict(self) -> dict[str, Any]:
        # JSON object keys are strings, so k becomes "5".
        return {
            "tree_levels": self.tree_levels,
            "tree": [c.to_dict() for c in self.tree],
            "cuts": {
                similarity: {str(k): cut.to_dict() for k, cut in by_k.items()}
                for similarity, by_k in self.cuts.items()
            },
        }


# ---------------------------------------------------------------------------
# Feature vectors


def reduce_features(features: np.ndarray | sp.spmatrix, dims: int = FEATURE_DIMS, seed: int = 0) -> np.ndarray:
    """Dense float64 vectors of at most ``dims`` dimensions, keeping Euclidean distances.

    Few columns, or few rows: the vectors as they are (dense; for sparse
    ones only the columns some row uses). Otherwise TruncatedSVD.
    """
    n_rows, n_columns = features.shape
    if sp.issparse(features) and (n_columns <= dims or n_rows <= dims):
        used_columns = np.unique(sp.csr_matrix(features).indices)
        return np.asarray(features[:, used_columns].toarray(), dtype=np.float64)
    if not sp.issparse(features) and (n_columns <= dims or n_rows <= dims):
        return np.asarray(features, dtype=np.float64)
    # Two power iterations: five (the default) took twice as long for the
    # same clusters on 10k rows.
    svd = TruncatedSVD(n_components=dims, n_iter=2, random_state=seed).fit(features)
    # transform() rather than fit_transform(): identical rows must give
    # identical vectors, so that duplicates collapse into one Ward point.
    return np.asarray(svd.transform(features), dtype=np.float64)


def sequences_for(tagged: Sequence[TaggedText], similarity: str) -> list[list[str]]:
    """The per-row sequence a sequence similarity compares."""
    if similarity == "pos":
        return [t.pos for t in tagged]
    if similarity == "dep":
        return [t.dep for t in tagged]
    if similarity == "token":
        return [[w.lower() for w in t.words] for t in tagged]
    raise ValueError(f"not a sequence similarity: {similarity!r}")


def _drop_unshared_columns(features: sp.csr_matrix) -> sp.csr_matrix:
    """Drop n-grams found in one row only.

    They add nothing to any pair's overlap, only length to that row's
    vector; an SVD keeps hardly any of them anyway, and for tokens they are
    most columns (3-grams: ~75 % at 10k rows), which made the SVD 4× slower.
    """
    rows_with = np.bincount(features.indices, minlength=features.shape[1])
    shared = np.flatnonzero(rows_with > 1)
    return features[:, shared] if len(shared) else features


def similarity_features(
    tagged: Sequence[TaggedText], embeddings: np.ndarray | None, seed: int = 0,
    check: Callable[[], None] = lambda: None,
) -> dict[str, np.ndarray]:
    """Dense vectors per similarity (``embedding`` only when embeddings are given)."""
    features = {}
    for similarity in ("pos", "dep", "token"):
        check()
        sparse = ngram_feature_vectors(sequences_for(tagged, similarity))
        features[similarity] = reduce_features(_drop_unshared_columns(sparse), FEATURE_DIMS, seed)
    if embeddings is not None:
        if len(embeddings) != len(tagged):
            raise ValueError(f"{len(embeddings)} embeddings for {len(tagged)} rows")
        features["embedding"] = reduce_features(np.asarray(embeddings, dtype=np.float64), FEATURE_DIMS, seed)
    return features


# ---------------------------------------------------------------------------
# Ward clustering


def weighted_ward_linkage(points: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Ward linkage of weighted points, in scipy's format (merges sorted by height).

    A point of weight w stands for w identical rows (or a micro-cluster of w
    rows, at its centroid). With all weights 1 this equals
    ``scipy.cluster.hierarchy.linkage(points, "ward")``; scipy cannot take
    weights, hence this function.

    Algorithm: nearest-neighbour chain over a dense matrix of squared Ward
    distances, d²(a, b) = 2·wa·wb/(wa+wb)·|ca − cb|², updated after each merge
    with the Lance–Williams formula for Ward (exact for any group sizes).
    O(m²) time and memory for m points, with O(m) numpy work per step.
    """
    points = np.asarray(points, dtype=np.float64)
    size = np.asarray(weights, dtype=np.float64).copy()
    m = len(points)
    if m < 2:
        return np.empty((0, 4))
    norms = np.einsum("ij,ij->i", points, points)
    squared = np.clip(norms[:, None] + norms[None, :] - 2.0 * points @ points.T, 0.0, None)
    ward = 2.0 * squared * np.outer(size, size) / (size[:, None] + size[None, :])
    np.fill_diagonal(ward, np.inf)  # merged-away slots are set to inf too

    # Each merge: the two slots, and the merge height. The merged group
    # lives on in slot ``y``; slot ``x`` is retired.
    merges: list[tuple[int, int, float]] = []
    height_of_slot = np.zeros(m)
    retired = np.zeros(m, dtype=bool)
    chain: list[int] = []
    for _ in range(m - 1):
        if not chain:
            chain.append(int(np.argmin(retired)))  # first live slot
        while True:
            x = chain[-1]
            y = int(np.argmin(ward[x]))
            if len(chain) > 1:
                previous = chain[-2]
                # On a tie go back down the chain: that is what ends it.
                if ward[x, previous] <= ward[x, y]:
                    break
            chain.append(y)
        y = chain[-2]
        del chain[-2:]
        distance = ward[x, y]
        updated = ((size[x] + size) * ward[x] + (size[y] + size) * ward[y] - size * distance) / (
            size[x] + size[y] + size
        )
        ward[y, :] = updated
        ward[:, y] = updated
        ward[y, y] = np.inf
        ward[x, :] = np.inf
        ward[:, x] = np.inf
        size[y] += size[x]
        retired[x] = True
        # Rounding can make a merge a hair lower than one inside it; a
        # dendrogram must not go down, so clamp.
        height = max(math.sqrt(distance), height_of_slot[x], height_of_slot[y])
        height_of_slot[y] = height
        merges.append((x, y, height))
    return _as_scipy_linkage(merges, m)


def _as_scipy_linkage(merges: list[tuple[int, int, float]], m: int) -> np.ndarray:
    """Sort merges by height and number the groups as scipy does (leaves 0..m-1, then m, m+1, ...)."""
    order = sorted(range(len(merges)), key=lambda i: merges[i][2])  # stable: ties keep merge order
    parent = list(range(2 * m - 1))  # union-find over group ids

    def find(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    leaf_count = [1] * m + [0] * (m - 1)
    linkage = np.empty((m - 1, 4))
    for step, i in enumerate(order):
        slot_x, slot_y, height = merges[i]
        # A slot's index is a leaf inside the group it holds.
        a, b = find(slot_x), find(slot_y)
        new = m + step
        parent[a] = parent[b] = new
        leaf_count[new] = leaf_count[a] + leaf_count[b]
        linkage[step] = (min(a, b), max(a, b), height, leaf_count[new])
    return linkage


def _micro_clusters(
    points: np.ndarray, weights: np.ndarray, n_clusters: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means micro-clusters: (micro-cluster of each point, centroids, weights).

    Three Lloyd iterations from randomly chosen points: micro-clusters only
    need to be small and tight, not converged. Measured on 10k rows, 500
    clusters: 0.23 s, a lower within-cluster sum of squares than
    MiniBatchKMeans run to convergence (0.9 s), and k-means++ seeding alone
    costs seconds at this k.
    """
    kmeans = KMeans(n_clusters=n_clusters, init="random", n_init=1, max_iter=3, random_state=seed)
    labels = kmeans.fit(points, sample_weight=weights).labels_
    # Drop empty micro-clusters and take exact weighted centroids.
    used, labels = np.unique(labels, return_inverse=True)
    total_weight = np.bincount(labels, weights=weights, minlength=len(used))
    centroids = np.zeros((len(used), points.shape[1]))
    np.add.at(centroids, labels, points * weights[:, None])
    centroids /= total_weight[:, None]
    return labels, centroids, total_weight


@dataclass
class WardTree:
    """A Ward dendrogram over leaves (distinct points or micro-clusters) and the rows in them."""

    leaf_of_row: np.ndarray  # (n_rows,) leaf index of each row
    linkage: np.ndarray  # scipy format over the leaves, sorted by height

    @property
    def n_leaves(self) -> int:
        return len(self.linkage) + 1

    def cut(self, k: int) -> np.ndarray:
        """Cluster label per row for (at most) k clusters; 0 is the largest cluster."""
        m = self.n_leaves
        k = max(1, min(k, m))
        n_merges = m - k  # the lowest merges are kept, the top k-1 undone
        kept = self.linkage[:n_merges, :2].astype(np.int64)
        node_label = np.full(2 * m - 1, -1, dtype=np.int64)
        is_child = np.zeros(m + n_merges, dtype=bool)
        is_child[kept.ravel()] = True
        roots = np.flatnonzero(~is_child)
        node_label[roots] = np.arange(len(roots))
        for step in range(n_merges - 1, -1, -1):  # top down: children inherit
            node_label[kept[step]] = node_label[m + step]
        return _relabel_by_size(node_label[:m][self.leaf_of_row])

    def suggested_k(self, max_k: int) -> int:
        """The k in [2, max_k] at the dendrogram's largest relative jump in height.

        Cutting into k clusters undoes the top k−1 merges; the cut is clear
        when the lowest undone merge is much higher than the highest kept one:
        k = argmax height[m−k] / height[m−k−1].
        """
        m = self.n_leaves
        if m <= 2:
            return m
        heights = self.linkage[:, 2]
        # Merges this low join (near-)identical rows; dividing by their
        # ~0 height would make "split off one duplicate" the clearest cut.
        floor = 1e-3 * max(heights[-1], 1e-12)
        candidates = range(2, min(max_k, m - 1) + 1)
        return max(candidates, key=lambda k: (heights[m - k] / max(heights[m - k - 1], floor), -k))


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters: largest first, ties by their first row."""
    n_labels = labels.max() + 1 if len(labels) else 0
    sizes = np.bincount(labels, minlength=n_labels)
    first_row = np.full(n_labels, len(labels))
    np.minimum.at(first_row, labels, np.arange(len(labels)))
    order = np.lexsort((first_row, -sizes))
    new_label = np.empty(n_labels, dtype=np.int64)
    new_label[order] = np.arange(n_labels)
    return new_label[labels]


def ward_tree(points: np.ndarray, seed: int = 0) -> WardTree:
    """Ward clustering of the rows' vectors (duplicates merged, micro-clusters when many)."""
    points = np.asarray(points, dtype=np.float64)
    if len(points) == 0:
        return WardTree(np.zeros(0, dtype=np.int64), np.empty((0, 4)))
    distinct, leaf_of_row, counts = np.unique(points, axis=0, return_inverse=True, return_counts=True)
    leaf_of_row = leaf_of_row.ravel()
    weights = counts.astype(np.float64)
    if len(distinct) > MAX_WARD_POINTS:
        micro_of_distinct, distinct, weights = _micro_clusters(distinct, weights, MICRO_CLUSTERS, seed)
        leaf_of_row = micro_of_distinct[leaf_of_row]
    return WardTree(leaf_of_row, weighted_ward_linkage(distinct, weights))


# ---------------------------------------------------------------------------
# Summary patterns


@dataclass(frozen=True)
class _Slot:
    label: str  # the word as written, or the POS tag
    is_word: bool


@dataclass
class PatternMiner:
    """Mines a cluster's word / POS-slot pattern, LinguisticLens-style, greedily.

    A pattern is a sequence of slots, each a word (matched case-blind) or a
    POS tag, that a row matches as a subsequence (gaps allowed). Full
    sequential-pattern mining blows up on near-identical rows (every
    subsequence is frequent), so the pattern is grown along a typical row
    of the cluster instead (two candidates, see ``_candidate_rows``; the
    more informative result wins), in two passes:

    1. words: left to right, each of its words becomes a slot if enough
       rows still match (the anchors: "how do I … a … for my … ?");
    2. POS tags: each remaining token becomes a POS slot if enough rows
       have that tag between the same anchors; otherwise it is a gap.

    Words go first because a POS slot matched too early in a row (leftmost)
    could swallow the words after it. "Enough" means ≥ ``support`` of the
    cluster (LinguisticLens: 30 %) and ≥ ``SLOT_KEEPS`` of the rows still
    matching, so one rare slot does not shrink the pattern's coverage much.
    Rows are sampled evenly down to ``sample_rows``: the cost per cluster is
    bounded, O(sample rows × tokens).
    """

    tagged: Sequence[TaggedText]
    support: float = PATTERN_SUPPORT
    sample_rows: int = PATTERN_SAMPLE_ROWS
    _summaries: dict[tuple[int, ...], tuple[str, float]] = field(default_factory=dict, init=False, repr=False)
    _positions: dict[int, dict[int, list[int]]] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        # Every token as two numbered items, its lower-cased word and its POS
        # tag, in flat arrays (row r's tokens: _row_start[r]:_row_start[r + 1]).
        item_id: dict[tuple[str, str], int] = {}
        self._word_ids = np.fromiter(
            (item_id.setdefault(("w", w.lower()), len(item_id)) for t in self.tagged for w in t.words), dtype=np.int64
        )
        self._pos_ids = np.fromiter(
            (item_id.setdefault(("p", p), len(item_id)) for t in self.tagged for p in t.pos), dtype=np.int64
        )
        self._n_items = len(item_id)
        lengths = np.fromiter((len(t.words) for t in self.tagged), dtype=np.int64, count=len(self.tagged))
        self._row_start = np.concatenate(([0], np.cumsum(lengths)))

    def summarize(self, rows: Sequence[int]) -> tuple[str, float]:
        """(pattern, share of sampled rows it matches) for the rows of one cluster."""
        sample = tuple(_even_sample(sorted(rows), self.sample_rows))
        if sample not in self._summaries:  # cuts at nearby k share most clusters
            self._summaries[sample] = self._mine(sample)
        return self._summaries[sample]

    def _row_items(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        """(word ids, POS ids) of a row's tokens."""
        tokens = slice(self._row_start[row], self._row_start[row + 1])
        return self._word_ids[tokens], self._pos_ids[tokens]

    def _item_positions(self, row: int) -> dict[int, list[int]]:
        """Item id → ascending positions of the tokens that are that word or tag."""
        if row not in self._positions:
            positions: dict[int, list[int]] = {}
            word_ids, pos_ids = self._row_items(row)
            for i, (w, p) in enumerate(zip(word_ids.tolist(), pos_ids.tolist())):
                positions.setdefault(w, []).append(i)
                positions.setdefault(p, []).append(i)
            self._positions[row] = positions
        return self._positions[row]

    def _candidate_rows(self, sample: Sequence[int]) -> list[int]:
        """Rows to grow the pattern along: the most typical by total and by average.

        A token counts as many sampled rows as share it, twice for its word
        (a pattern names words where it can), once for its POS tag. The best
        total favours long rows that share a lot; the best average, rows
        made of little else than what is shared. Each can be the better guide.
        """
        starts, ends = self._row_start[list(sample)], self._row_start[[r + 1 for r in sample]]
        lengths = ends - starts
        tokens = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends)])
        row_of_token = np.repeat(np.arange(len(sample)), lengths)
        words, tags = self._word_ids[tokens], self._pos_ids[tokens]
        # in how many sampled rows each item occurs (once per row)
        items = np.concatenate((words, tags))
        row_and_item = np.unique(np.concatenate((row_of_token, row_of_token)) * self._n_items + items)
        rows_with = np.bincount(row_and_item % self._n_items, minlength=self._n_items)
        shared = np.maximum(2 * rows_with[words], rows_with[tags])
        totals = np.bincount(row_of_token, weights=shared, minlength=len(sample))
        averages = totals / np.maximum(lengths, 1)
        # argmax: ties keep the earliest row
        candidates = [sample[int(np.argmax(totals))], sample[int(np.argmax(averages))]]
        return list(dict.fromkeys(candidates))

    @staticmethod
    def _first_between(positions: list[int] | None, after: int, before: int) -> int | None:
        """First of the ascending ``positions`` strictly between ``after`` and ``before``."""
        if positions:
            i = bisect.bisect_right(positions, after)
            if i < len(positions) and positions[i] < before:
                return positions[i]
        return None

    def _mine(self, sample: tuple[int, ...]) -> tuple[str, float]:
        """The best of the patterns grown along each candidate row.

        Best = most informative for the rows it covers: support × (2 per word
        slot + 1 per POS slot).
        """
        if not sample:
            return "", 0.0
        best: tuple[float, str, float] | None = None
        for row in self._candidate_rows(sample):
            slots, matched = self._grow(sample, row)
            support = len(matched) / len(sample)
            informativeness = support * sum(2 if slot.is_word else 1 for slot in slots)
            if best is None or informativeness > best[0]:
                labels = [slot.label for slot in slots]
                pattern = _render_pattern(labels, matched, self.tagged) if labels else ""
                best = (informativeness, pattern, support if labels else 1.0)
        _, pattern, support = best
        if not pattern and any(len(self.tagged[row]) for row in sample):
            pattern = GAP  # rows with nothing in common
        return pattern, support

    def _grow(self, sample: tuple[int, ...], typical_row: int) -> tuple[list[_Slot], dict[int, list[int]]]:
        """Slots grown along ``typical_row``, and where they matched in each row that matches."""
        needed = max(1, math.ceil(self.support * len(sample)))

        def enough(kept: int, matching: int) -> bool:
            return kept >= needed and kept >= SLOT_KEEPS * matching

        typical = self.tagged[typical_row]
        # Long rows (whole documents) are summarised by their beginning only.
        typical_words, typical_tags = (ids[:PATTERN_MAX_TOKENS].tolist() for ids in self._row_items(typical_row))
        positions_of = {row: self._item_positions(row) for row in sample}
        length = {row: len(self.tagged[row]) for row in sample}
        n_tokens = len(typical_words)
        # slots[i]: the slot made of the typical row's token i, or None for a gap.
        slots: list[_Slot | None] = [None] * n_tokens
        # at[row][i]: where slot i matched, for each row that still matches.
        at: dict[int, list[int]] = {row: [-1] * n_tokens for row in sample}

        # Pass 1: word anchors, left to right, leftmost matching.
        cursor = {row: -1 for row in sample}  # last anchor matched, per row
        for i, item in enumerate(typical_words):
            found = {}
            for row, last in cursor.items():
                position = self._first_between(positions_of[row].get(item), last, length[row])
                if position is not None:
                    found[row] = position
            if enough(len(found), len(cursor)):
                slots[i] = _Slot(typical.words[i], is_word=True)
                cursor = found
                for row, position in found.items():
                    at[row][i] = position

        # Pass 2: POS slots, each between the anchors around it in every row.
        anchors = [i for i, slot in enumerate(slots) if slot is not None]
        cursor = {row: -1 for row in cursor}  # last slot matched, per row
        for i, item in enumerate(typical_tags):
            if slots[i] is not None:  # an anchor: move past it
                cursor = {row: at[row][i] for row in cursor}
                continue
            next_anchor = next((a for a in anchors if a > i), None)
            found = {}
            for row, last in cursor.items():
                limit = length[row] if next_anchor is None else at[row][next_anchor]
                position = self._first_between(positions_of[row].get(item), last, limit)
                if position is not None:
                    found[row] = position
            if enough(len(found), len(cursor)):
                slots[i] = _Slot(typical.pos[i], is_word=False)
                cursor = found
                for row, position in found.items():
                    at[row][i] = position

        kept = [i for i, slot in enumerate(slots) if slot is not None]
        if not kept:
            return [], {row: [] for row in sample}
        return [slots[i] for i in kept], {row: [at[row][i] for i in kept] for row in cursor}


def _even_sample(rows: Sequence[int], limit: int) -> list[int]:
    """At most ``limit`` rows, evenly spread over the list (deterministic)."""
    if len(rows) <= limit:
        return list(rows)
    step = len(rows) / limit
    return [rows[int(i * step)] for i in range(limit)]


def _render_pattern(labels: list[str], positions: dict[int, list[int]], tagged: Sequence[TaggedText]) -> str:
    """Join slots with spaces, with "…" where most matching rows have tokens in between."""
    rows = list(positions)
    half = len(rows) / 2

    def mostly(condition) -> bool:
        return sum(1 for r in rows if condition(r)) > half

    parts = []
    if mostly(lambda r: positions[r][0] > 0):
        parts.append(GAP)
    for i, label in enumerate(labels):
        if i > 0 and mostly(lambda r: positions[r][i] > positions[r][i - 1] + 1):
            parts.append(GAP)
        parts.append(label)
    if mostly(lambda r: positions[r][-1] < len(tagged[r].words) - 1):
        parts.append(GAP)
    return " ".join(parts)


# ---------------------------------------------------------------------------
# Assembly


def _clusters_from_labels(
    labels: np.ndarray, rows: np.ndarray, id_prefix: str, level: str, miner: PatternMiner
) -> list[Cluster]:
    """One Cluster per label (labels are 0..k-1, largest first)."""
    clusters = []
    for label in range(int(labels.max()) + 1 if len(labels) else 0):
        members = rows[labels == label].tolist()
        pattern, support = miner.summarize(members)
        clusters.append(Cluster(f"{id_prefix}{label}", level, len(members), members, pattern, support))
    return clusters


def flat_cuts(
    similarity: str, tree: WardTree, ks: Sequence[int], miner: PatternMiner
) -> dict[int, FlatCut]:
    """Cuts of one similarity's Ward tree at each k ≤ number of rows."""
    n_rows = len(tree.leaf_of_row)
    all_rows = np.arange(n_rows)
    cuts = {}
    for k in sorted(set(ks)):
        if k > n_rows or k < 1:
            continue
        labels = tree.cut(k)
        clusters = _clusters_from_labels(labels, all_rows, f"{similarity}-k{k}-", similarity, miner)
        cuts[k] = FlatCut(similarity, k, labels.tolist(), clusters)
    return cuts


def level_max_k(n_rows: int, cap: int) -> int:
    """At most √n clusters (so clusters average ≥ √n rows), and at most ``cap``."""
    return max(2, min(cap, math.isqrt(n_rows)))


def _split(
    rows: np.ndarray,
    depth: int,
    parent_id: str,
    levels: list[tuple[str, str, str]],
    features: dict[str, np.ndarray],
    miner: PatternMiner,
    seed: int,
    tree: WardTree | None = None,
    check: Callable[[], None] = lambda: None,
) -> list[Cluster]:
    """The clusters of ``rows`` at tree level ``depth``, each with its sub-clusters."""
    check()
    level, similarity, letter = levels[depth]
    if tree is None:
        tree = ward_tree(features[similarity][rows], seed)
    if tree.n_leaves < 2 and depth > 0:
        return []  # all rows alike by this similarity: one child = its parent
    cap = TOP_LEVEL_MAX_K if depth == 0 else INNER_LEVEL_MAX_K
    k = tree.suggested_k(level_max_k(len(rows), cap))
    labels = tree.cut(k)
    prefix = f"{parent_id}.{letter}" if parent_id else letter
    clusters = _clusters_from_labels(labels, rows, prefix, level, miner)
    if depth + 1 < len(levels):
        for cluster in clusters:
            if cluster.size >= MIN_ROWS_TO_SPLIT:
                member_rows = np.asarray(cluster.rows)
                cluster.children = _split(member_rows, depth + 1, cluster.id, levels, features, miner, seed,
                                          check=check)
    return clusters


def cluster_hierarchy(
    texts: Sequence[str],
    tagged: Sequence[TaggedText],
    embeddings: np.ndarray | None = None,
    ks: Sequence[int] = DEFAULT_KS,
    seed: int = 0,
    check: Callable[[], None] = lambda: None,
) -> ClusterHierarchy:
    """Flat cuts per similarity at each k, and the syntax → lexicon → semantics tree.

    ``texts`` and ``tagged`` are parallel (one entry per row). Without
    ``embeddings`` the ``embedding`` cuts and the semantics level are left out.
    Deterministic for a given ``seed``. ``check`` is called between steps (each a
    fraction of a second at 10k rows) and may raise to stop.
    """
    if len(texts) != len(tagged):
        raise ValueError(f"{len(texts)} texts but {len(tagged)} tagged rows")
    if len(texts) == 0:
        return ClusterHierarchy([], {}, [])
    # BLAS threads spin against each other on a busy machine (10× slower
    # SVD measured on 2 shared cores); these matrices are small enough that
    # one thread loses little.
    with one_blas_thread():
        features = similarity_features(tagged, embeddings, seed, check)
        miner = PatternMiner(tagged)
        trees, cuts = {}, {}
        for similarity, points in features.items():
            check()
            trees[similarity] = ward_tree(points, seed)
            check()
            cuts[similarity] = flat_cuts(similarity, trees[similarity], ks, miner)
        levels = [level for level in TREE_LEVELS if level[1] in features]
        all_rows = np.arange(len(texts))
        tree = _split(all_rows, 0, "", levels, features, miner, seed, tree=trees[levels[0][1]], check=check)
    return ClusterHierarchy(tree, cuts, [name for name, _, _ in levels])
