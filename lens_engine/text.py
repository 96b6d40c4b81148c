"""Word tokenisation shared by the lexical analyses.

A word is a run of letters/digits (with inner apostrophes or hyphens) or a
single punctuation mark; every word keeps its character span, so a finding can
point at the exact phrase in the row.
"""

from __future__ import annotations

import re
from functools import lru_cache

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
