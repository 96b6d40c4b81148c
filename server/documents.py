"""What the server knows about each open (or on-disk) dataset: its latest analysis."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from lens_engine.analyze import AnalysisResult
from lens_engine.findings import Finding


@dataclass
class DocumentState:
    uri: str
    version: int | None = None  # the document version the result was computed from
    result: AnalysisResult | None = None
    error: str | None = None
    clusters: dict[str, object] = field(default_factory=dict)  # column -> ClusterHierarchy
    # id(finding) -> (finding, its Diagnostic as JSON text) from the last publish
    diagnostic_texts: dict[int, tuple[Finding, str]] = field(default_factory=dict)
    _row_starts: list[int] = field(default_factory=list)
    _findings_by_row: dict[int, list[Finding]] | None = None

    def set_result(self, version: int | None, result: AnalysisResult) -> None:
        self.version, self.result, self.error = version, result, None
        self.clusters = {}
        self._row_starts = [r.start.line for r in result.row_ranges]
        self._findings_by_row = None  # made on the first hover: an edit doesn't wait for it

    def row_at(self, line: int) -> int | None:
        """The data row whose source spans ``line``."""
        if self.result is None or not self._row_starts:
            return None
        i = bisect.bisect_right(self._row_starts, line) - 1
        if i < 0:
            return None
        rng = self.result.row_ranges[i]
        return i if rng.start.line <= line < max(rng.end.line, rng.start.line + 1) else None

    def findings_on(self, row: int) -> list[Finding]:
        if self._findings_by_row is None:
            by_row: dict[int, list[Finding]] = {}
            for f in self.result.findings if self.result is not None else []:
                if f.row is not None:
                    by_row.setdefault(f.row, []).append(f)
            self._findings_by_row = by_row
        return self._findings_by_row.get(row, [])
