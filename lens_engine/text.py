"""Word tokenisation shared by the lexical analyses.

A word is a run of letters/digits (with inner apostrophes or hyphens) or a
single punctuation mark; every word keeps its character span, so a finding can
point at the exact phrase in the row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from itertools import compress
from operator import is_not

_WORD = re.compile(r"\w+(?:['’\-]\w+)*|[^\w\s]")
_SPACE = re.compile(r"\s+")


def word_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``."""
    return [m.group().lower() for m in _WORD.finditer(text)]


@lru_cache(maxsize=262_144)  # a re-analysis normalises the same rows again (twice each)
def normalize(text: str) -> str:
    """Case- and whitespace-insensitive form used for exact duplicates."""
    return _SPACE.sub(" ", text).strip().casefold()


def changed_rows(old: Sequence | None, new: Sequence, most: int = 64) -> list[int] | None:
    """Positions where two equally long row lists (texts or their keys) differ; None when
    there is no old list, the lengths differ (rows inserted or deleted) or more than
    ``most`` rows changed: then recomputing everything is as cheap as patching."""
    if old is None or len(old) != len(new):
        return None
    # Rows an edit did not touch are mostly the same objects: find the others at C speed
    # (a Python loop over 10k rows took ~2 ms, and an analysis asks six times).
    not_same = compress(range(len(new)), map(is_not, old, new))
    changed = [i for i in not_same if old[i] != new[i]]
    return changed if len(changed) <= most else None
