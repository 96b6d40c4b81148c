"""Positions in a source file, counted the way LSP counts them.

Lines are 0-based and split on ``\\r\\n``, ``\\r`` or ``\\n``; characters are
0-based UTF-16 code units.  Every range Lens reports (CLI JSON, SARIF, LSP)
uses these, so an editor can put a finding on the exact field it is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True, slots=True, order=True)
class Position:
    line: int
    character: int

    def to_dict(self) -> dict:
        return {"line": self.line, "character": self.character}


@dataclass(frozen=True, slots=True)
class Range:
    start: Position
    end: Position

    def to_dict(self) -> dict:
        return {"start": self.start.to_dict(), "end": self.end.to_dict()}

    @staticmethod
    def from_dict(d: dict) -> "Range":
        return Range(Position(**d["start"]), Position(**d["end"]))

    def contains(self, pos: Position) -> bool:
        return self.start <= pos <= self.end


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (astral characters count twice)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def advance(start: Position, text: str) -> Position:
    """The position reached after writing ``text`` at ``start``."""
    breaks = list(LINE_BREAK.finditer(text))
    if not breaks:
        return Position(start.line, start.character + utf16_len(text))
    last = breaks[-1]
    return Position(start.line + len(breaks), utf16_len(text[last.end():]))


def split_lines(text: str) -> list[str]:
    """Split into lines keeping their terminators, breaking only where LSP does."""
    out: list[str] = []
    pos = 0
    for m in LINE_BREAK.finditer(text):
        out.append(text[pos:m.end()])
        pos = m.end()
    if pos < len(text):
        out.append(text[pos:])
    return out


class LineIndex:
    """Offsets (Python characters) <-> LSP positions in one text, in O(log lines)."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]

    def position(self, offset: int) -> Position:
        import bisect

        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self.starts, offset) - 1
        return Position(line, utf16_len(self.text[self.starts[line]:offset]))

    def range(self, start: int, end: int) -> Range:
        return Range(self.position(start), self.position(end))

    def offset(self, pos: Position) -> int:
        """The character offset of an LSP position (clamped to its line, as LSP asks)."""
        if pos.line < 0:
            return 0
        if pos.line >= len(self.starts):
            return len(self.text)
        start = self.starts[pos.line]
        end = self.starts[pos.line + 1] if pos.line + 1 < len(self.starts) else len(self.text)
        line = self.text[start:end].rstrip("\r\n")
        if line.isascii():
            return start + min(pos.character, len(line))
        units = 0
        for i, ch in enumerate(line):
            if units >= pos.character:
                return start + i
            units += 2 if ord(ch) > 0xFFFF else 1
        return start + len(line)
