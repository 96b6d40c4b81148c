"""Findings → Diagnostics, published per document version."""

from __future__ import annotations

from lsprotocol import types

from lens_engine.findings import Finding, docs_url
from lens_engine.source import Range

_SEVERITY = {1: types.DiagnosticSeverity.Error, 2: types.DiagnosticSeverity.Warning,
             3: types.DiagnosticSeverity.Information, 4: types.DiagnosticSeverity.Hint}


def lsp_range(r: Range) -> types.Range:
    return types.Range(types.Position(r.start.line, r.start.character), types.Position(r.end.line, r.end.character))


def to_diagnostic(uri: str, f: Finding) -> types.Diagnostic:
    related = [types.DiagnosticRelatedInformation(types.Location(uri, lsp_range(r.range)),
                                                  r.message or f"row {r.row + 1}") for r in f.related]
    tags = None
    if f.code == "exact-duplicate" and f.data.get("keep") != f.row:
        tags = [types.DiagnosticTag.Unnecessary]  # the copy the user can delete
    return types.Diagnostic(
        range=lsp_range(f.range),
        message=f.message,
        severity=_SEVERITY[int(f.severity)],
        code=f.code,
        code_description=types.CodeDescription(href=docs_url(f.code)),
        source="lens",
        related_information=related or None,
        tags=tags,
        data={**f.data, "row": f.row, "column": f.column},
    )


def publish(ls, uri: str, state) -> None:
    """Most severe first, capped: VS Code shows about 1000 markers per file, and the
    duplicates matter more than the thousandth template row."""
    findings = sorted(state.result.findings, key=lambda f: (int(f.severity), f.range.start.line))
    limit = ls.config.max_diagnostics
    if limit and len(findings) > limit:
        findings = findings[:limit]
    diagnostics = [to_diagnostic(uri, f) for f in findings]
    from .attribution import outlier_diagnostics

    diagnostics += outlier_diagnostics(ls, uri)  # when this is the attribution lens's training file
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=uri, version=state.version, diagnostics=diagnostics))


def register(server) -> None:
    """Diagnostics are pushed after each analysis (see app.analyze_document)."""
