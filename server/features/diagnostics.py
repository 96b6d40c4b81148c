"""Findings → Diagnostics, published per document version."""

from __future__ import annotations

from lsprotocol import types

from lens_engine.findings import Finding, docs_url
from lens_engine.source import Range

def lsp_range(r: Range) -> types.Range:
    return types.Range(types.Position(r.start.line, r.start.character), types.Position(r.end.line, r.end.character))


def range_json(r: Range) -> dict:
    return {"start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character}}


def diagnostic_json(uri: str, f: Finding) -> dict:
    """The LSP Diagnostic of a finding, as the JSON object itself (see send_diagnostics)."""
    diagnostic = {
        "range": range_json(f.range),
        "message": f.message,
        "severity": int(f.severity),  # Finding severities are LSP's numbers
        "code": f.code,
        "codeDescription": {"href": docs_url(f.code)},
        "source": "lens",
        "data": {**f.data, "row": f.row, "column": f.column},
    }
    if f.related:
        diagnostic["relatedInformation"] = [
            {"location": {"uri": uri, "range": range_json(r.range)}, "message": r.message or f"row {r.row + 1}"}
            for r in f.related]
    if f.code == "exact-duplicate" and f.data.get("keep") != f.row:
        diagnostic["tags"] = [int(types.DiagnosticTag.Unnecessary)]  # the copy the user can delete
    return diagnostic


def send_diagnostics(ls, uri: str, version: int | None, diagnostics: list[dict | types.Diagnostic]) -> None:
    """Publish diagnostics given as JSON objects (typed ones are converted).

    pygls turns typed params into JSON with cattrs, which took 280 ms for 1000
    diagnostics, on the event loop, after every edit; objects built as dicts go
    straight to ``json.dumps`` (15 ms). Uses pygls's ``_send_data`` (the call its
    own ``notify`` ends in); without it, the typed route."""
    converter = ls.protocol._converter
    params = {"uri": uri, "diagnostics": [d if isinstance(d, dict) else converter.unstructure(d) for d in diagnostics]}
    if version is not None:
        params["version"] = version
    send = getattr(ls.protocol, "_send_data", None)
    if send is None:  # pragma: no cover - a pygls without it
        ls.text_document_publish_diagnostics(converter.structure(params, types.PublishDiagnosticsParams))
        return
    send({"jsonrpc": "2.0", "method": types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, "params": params})


def publish(ls, uri: str, state) -> None:
    """Most severe first, capped: VS Code shows about 1000 markers per file, and the
    duplicates matter more than the thousandth template row."""
    findings = sorted(state.result.findings, key=lambda f: (int(f.severity), f.range.start.line))
    limit = ls.config.max_diagnostics
    if limit and len(findings) > limit:
        findings = findings[:limit]
    diagnostics: list[dict | types.Diagnostic] = [diagnostic_json(uri, f) for f in findings]
    from .attribution import outlier_diagnostics

    diagnostics += outlier_diagnostics(ls, uri)  # when this is the attribution lens's training file
    send_diagnostics(ls, uri, state.version, diagnostics)


def register(server) -> None:
    """Diagnostics are pushed after each analysis (see app.analyze_document)."""
