"""Similar pairs kept across analyses, so an edit re-scores only the new items.

A :class:`PairIndex` remembers every item it has seen (a POS sequence, an
embedding) and, for each, the others at or above the threshold.  Asked for the
pairs among a list of items, it scores only the items it has not seen before —
against everything it knows — and reads the rest from memory.  Re-analysing a
10k-row file after one edit then costs one row's block, not 10k².
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

ScoreBlock = Callable[[Sequence[Any], Sequence[Any]], np.ndarray]


class PairIndex:
    def __init__(self, score_block: ScoreBlock, threshold: float, max_items: int = 200_000):
        self.score_block = score_block
        self.threshold = threshold
        self.max_items = max_items
        self._keys: list[Hashable] = []
        self._items: list[Any] = []
        self._position: dict[Hashable, int] = {}
        self._neighbours: dict[int, dict[int, float]] = {}
        self._linked: set[int] = set()  # items with at least one neighbour
        self.generation = object()  # replaced when the index starts over: what it knew is gone

    def __len__(self) -> int:
        return len(self._keys)

    def _reset(self) -> None:
        self._keys, self._items, self._position, self._neighbours = [], [], {}, {}
        self._linked = set()
        self.generation = object()

    def _learn(self, keys: Sequence[Hashable], items: Sequence[Any]) -> None:
        new = [(k, it) for k, it in zip(keys, items) if k not in self._position]
        new = list({k: it for k, it in new}.items())  # one entry per key
        if not new:
            return
        if len(self._keys) + len(new) > self.max_items:
            self._reset()
            new = list({k: it for k, it in zip(keys, items)}.items())
        first_new = len(self._keys)
        for key, item in new:
            self._position[key] = len(self._keys)
            self._keys.append(key)
            self._items.append(item)
            self._neighbours[self._position[key]] = {}
        new_items = [item for _, item in new]
        # New against everything (old and new); the new×new part is scored once per pair.
        step = max(1, 4_000_000 // max(len(self._items), 1))
        for start in range(0, len(new_items), step):
            block = np.asarray(self.score_block(new_items[start:start + step], self._items))
            rows, cols = np.nonzero(block >= self.threshold)
            for r, c in zip(rows.tolist(), cols.tolist()):
                a = first_new + start + r
                if a == c:
                    continue
                sim = float(block[r, c])
                self._neighbours[a][c] = sim
                self._neighbours[c][a] = sim
                self._linked.update((a, c))

    def seed(self, keys: Sequence[Hashable], items: Sequence[Any], pairs: Sequence[tuple[int, int, float]]) -> None:
        """Start an empty index from pairs already found (e.g. by an upper-triangle
        pass), so the first analysis doesn't score every pair twice."""
        self._reset()
        for key, item in zip(keys, items):
            if key not in self._position:
                self._position[key] = len(self._keys)
                self._keys.append(key)
                self._items.append(item)
                self._neighbours[self._position[key]] = {}
        learn = getattr(self.score_block, "learn", None)
        if learn is not None:  # a scorer that indexes items (GrowingOverlap) does it now, not on the first edit
            learn(self._items)
        for i, j, sim in pairs:
            a, b = self._position[keys[i]], self._position[keys[j]]
            if a == b:
                continue  # equal keys are one item, as in _learn
            self._neighbours[a][b] = sim
            self._neighbours[b][a] = sim
            self._linked.update((a, b))

    def learn(self, keys: Sequence[Hashable], items: Sequence[Any]) -> None:
        """Score the items not seen before (against all), so :meth:`similar` knows them."""
        self._learn(keys, items)

    def linked(self) -> list[Hashable]:
        """The items with at least one known neighbour (any the index has seen)."""
        return [self._keys[p] for p in self._linked]

    def similar(self, key: Hashable) -> dict[Hashable, float]:
        """The items known to be at or above the threshold with ``key``'s (any it has seen)."""
        position = self._position.get(key)
        found = self._neighbours.get(position) if position is not None else None
        if not found:
            return {}
        return {self._keys[q]: sim for q, sim in found.items()}

    def pairs(self, keys: Sequence[Hashable], items: Sequence[Any]) -> list[tuple[int, int, float]]:
        """(i, j, similarity), i < j, over positions in ``keys`` (equal keys are the same item)."""
        self._learn(keys, items)
        where: dict[int, list[int]] = {}
        for i, key in enumerate(keys):
            where.setdefault(self._position[key], []).append(i)
        out: list[tuple[int, int, float]] = []
        neighbours = self._neighbours
        for p, positions in where.items():
            if not neighbours[p]:  # most items have no similar item: skip them cheaply
                continue
            for q, sim in neighbours[p].items():
                if q in where:
                    for i in positions:
                        for j in where[q]:
                            if i < j:
                                out.append((i, j, sim))
        out.sort()
        return out
