"""The one findings model that travels from the analyses to every output.

A :class:`Finding` is about one row (or, for a parse problem, one place in the
file).  The CLI turns it into text, JSON or SARIF; the language server into a
Diagnostic.  Each consumer only translates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from functools import lru_cache

from .source import Range

DOCS_PAGE = "docs/findings.md"


def docs_url(code: str | None = None) -> str:
    """Where a finding code is documented: ``$LENS_DOCS_URL`` when set, else the
    docs/findings.md of this checkout (an editable install), else the page's
    path relative to the project."""
    import os

    base = os.environ.get("LENS_DOCS_URL") or _local_docs()
    return f"{base}#{code}" if code else base


@lru_cache(maxsize=1)
def _local_docs() -> str:
    # Once per process: a diagnostic per finding would otherwise stat the file each time.
    from pathlib import Path

    local = Path(__file__).resolve().parents[1] / DOCS_PAGE
    return local.as_uri() if local.is_file() else DOCS_PAGE


class Severity(IntEnum):
    """Numbered as LSP numbers DiagnosticSeverity."""

    ERROR = 1
    WARNING = 2
    INFORMATION = 3
    HINT = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | "Severity") -> "Severity":
        if isinstance(value, Severity):
            return value
        if isinstance(value, int):
            return cls(value)
        key = value.strip().upper()
        aliases = {"INFO": "INFORMATION", "WARN": "WARNING", "ERR": "ERROR"}
        return cls[aliases.get(key, key)]


@dataclass(frozen=True)
class Code:
    name: str
    default_severity: Severity
    title: str

    @property
    def doc_anchor(self) -> str:
        return f"{DOCS_PAGE}#{self.name}"


CODES: dict[str, Code] = {
    c.name: c
    for c in (
        Code("parse-error", Severity.ERROR, "A row or line could not be read"),
        Code("encoding", Severity.WARNING, "The file is not valid UTF-8"),
        Code("missing-column", Severity.ERROR, "A requested column is absent"),
        Code("exact-duplicate", Severity.WARNING, "Row repeats another row"),
        Code("near-duplicate", Severity.WARNING, "Row is a near-copy of another row"),
        Code("semantic-duplicate", Severity.INFORMATION, "Row says the same as another row in other words"),
        Code("seed-copy", Severity.WARNING, "Generated row copies the wording of a seed example"),
        Code("seed-template", Severity.INFORMATION, "Generated row copies the grammatical template of a seed"),
        Code("syntactic-template", Severity.INFORMATION, "Row follows a dominant grammatical template"),
        Code("repeated-phrase", Severity.INFORMATION, "Row contains a phrase many rows share"),
        Code("repeated-opening", Severity.INFORMATION, "Row opens the way many rows open"),
        Code("repeated-ending", Severity.INFORMATION, "Row ends the way many rows end"),
        Code("self-influence-outlier", Severity.INFORMATION,
             "Training row the rest of the data does not explain (a mislabelling candidate)"),
    )
}


@dataclass(frozen=True)
class RelatedRow:
    row: int
    range: Range
    message: str = ""

    def to_dict(self) -> dict:
        d = {"row": self.row, "range": self.range.to_dict()}
        if self.message:
            d["message"] = self.message
        return d


@dataclass
class Finding:
    code: str
    severity: Severity
    message: str
    row: int | None
    range: Range
    column: str | None = None
    related: list[RelatedRow] = field(default_factory=list)
    # Whatever a quick fix or a view needs: the duplicate group, the template id,
    # the phrase, its span; JSON-serialisable.
    data: dict = field(default_factory=dict)

    @property
    def doc_anchor(self) -> str:
        return CODES[self.code].doc_anchor if self.code in CODES else DOCS_PAGE

    def to_dict(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity.label,
            "message": self.message,
            "row": self.row,
            "column": self.column,
            "range": self.range.to_dict(),
            "related": [r.to_dict() for r in self.related],
            "data": self.data,
        }

    @staticmethod
    def from_dict(d: dict) -> "Finding":
        return Finding(
            code=d["code"],
            severity=Severity.parse(d["severity"]),
            message=d["message"],
            row=d.get("row"),
            range=Range.from_dict(d["range"]),
            column=d.get("column"),
            related=[RelatedRow(r["row"], Range.from_dict(r["range"]), r.get("message", "")) for r in d.get("related", [])],
            data=d.get("data", {}),
        )
