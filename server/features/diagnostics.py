"""Findings → Diagnostics, published per document version."""

from __future__ import annotations

import asyncio
import inspect
import json

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
        "data": wire_data(f),
    }
    if f.related:
        diagnostic["relatedInformation"] = [
            {"location": {"uri": uri, "range": range_json(r.range)}, "message": r.message or f"row {r.row + 1}"}
            for r in f.related]
    if f.code == "exact-duplicate" and f.data.get("keep") != f.row:
        diagnostic["tags"] = [int(types.DiagnosticTag.Unnecessary)]  # the copy the user can delete
    return diagnostic


# A near-duplicate group can hold hundreds of rows, and every row's diagnostic carried all
# of them (2.4 MB for 1000 diagnostics of a 10k-row file, parsed by the editor after each
# edit).  The server keeps the full lists; the quick fixes look them up there.
MAX_WIRE_LIST = 10


def wire_data(f: Finding) -> dict:
    """The finding's ``data`` for a Diagnostic: ``group`` as ``group_size``, ``matches``
    (most similar first) cut to the first ``MAX_WIRE_LIST`` (``matches_total`` says how
    many there are)."""
    data = {k: v for k, v in f.data.items() if k != "group"}
    if "group" in f.data:
        data["group_size"] = len(f.data["group"])
    matches = f.data.get("matches")
    if matches is not None and len(matches) > MAX_WIRE_LIST:
        data["matches"] = matches[:MAX_WIRE_LIST]
        data["matches_total"] = len(matches)
    data["row"], data["column"] = f.row, f.column
    return data


def send_diagnostics(ls, uri: str, version: int | None, diagnostics: list[str]) -> None:
    """Publish diagnostics given as JSON texts, one per diagnostic.

    pygls turns typed params into JSON with cattrs (280 ms for 1000 diagnostics, on the
    event loop, after every edit), and even plain dicts cost a ``json.dumps`` of the whole
    list (40 ms). The notification is written as text instead, through the writer pygls's
    own ``_send_data`` uses; without one, by the typed route."""
    params = f'{{"uri": {json.dumps(uri)}, "diagnostics": [{", ".join(diagnostics)}]'
    params += f', "version": {int(version)}}}' if version is not None else "}"
    body = f'{{"jsonrpc": "2.0", "method": "{types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS}", "params": {params}}}'
    protocol = ls.protocol
    writer = getattr(protocol, "writer", None)
    if writer is None or not getattr(protocol, "_include_headers", True):  # pragma: no cover - another pygls
        ls.text_document_publish_diagnostics(
            protocol._converter.structure(json.loads(params), types.PublishDiagnosticsParams))
        return
    # json.dumps escapes everything outside ASCII, so characters are bytes.
    header = f"Content-Length: {len(body)}\r\nContent-Type: {protocol.CONTENT_TYPE}; charset={protocol.CHARSET}\r\n\r\n"
    result = writer.write((header + body).encode("ascii"))
    if inspect.isawaitable(result):
        asyncio.ensure_future(result)


def publish(ls, uri: str, state) -> None:
    """Most severe first, capped: VS Code shows about 1000 markers per file, and the
    duplicates matter more than the thousandth template row.

    A finding that comes through an edit unchanged is the same object (the engine's
    FindingsMemo), so its JSON text from the last publish is reused."""
    # The engine sorts findings by position, so a stable sort by severity alone gives
    # (severity, line, character, code).
    findings = sorted(state.result.findings, key=_severity)
    limit = ls.config.max_diagnostics
    if limit and len(findings) > limit:
        findings = findings[:limit]
    previous, texts = state.diagnostic_texts, {}
    out = []
    for f in findings:
        known = previous.get(id(f))
        text = known[1] if known is not None and known[0] is f else json.dumps(diagnostic_json(uri, f))
        texts[id(f)] = (f, text)
        out.append(text)
    state.diagnostic_texts = texts
    from .attribution import outlier_diagnostics

    # The attribution lens's outliers, when this is its training file.
    converter = ls.protocol._converter
    out += [json.dumps(converter.unstructure(d)) for d in outlier_diagnostics(ls, uri)]
    send_diagnostics(ls, uri, state.version, out)


def _severity(f: Finding) -> int:
    return int(f.severity)


def register(server) -> None:
    """Diagnostics are pushed after each analysis (see app.analyze_document)."""
