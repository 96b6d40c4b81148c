"""Quick fixes as undoable workspace edits."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path

from lens_engine.suppressions import SIDECAR, with_suppression

from .code_lens import show_rows_command


def _row_delete_range(lines: list[str], row_range) -> types.Range:
    """The whole row including its line break; for a last row without one, the
    break before it instead, so no empty line is left behind."""
    start, end = row_range.start.line, row_range.end.line
    if end < len(lines):
        return types.Range(types.Position(start, 0), types.Position(end, 0))
    last = len(lines) - 1
    if start == 0:
        return types.Range(types.Position(0, 0), types.Position(last, len(lines[last].rstrip("\r\n"))))
    prev = lines[start - 1].rstrip("\r\n")
    return types.Range(types.Position(start - 1, len(prev)), types.Position(last, len(lines[last].rstrip("\r\n"))))


def _edit(uri: str, version: int | None, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
    return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
        text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version), edits=edits)])


def _delete_rows(uri: str, version: int | None, lines: list[str], result, rows: list[int]) -> types.WorkspaceEdit:
    ranges = sorted({r for r in rows}, reverse=True)
    return _edit(uri, version, [types.TextEdit(_row_delete_range(lines, result.row_ranges[r]), "") for r in ranges])


def _suppress_edit(uri: str, code: str, column: str | None, text: str) -> types.WorkspaceEdit | None:
    path = to_fs_path(uri)
    if not path:
        return None
    sidecar = Path(path).parent / SIDECAR
    sidecar_uri = from_fs_path(str(sidecar))
    existing = sidecar.read_text(encoding="utf-8") if sidecar.is_file() else None
    content = with_suppression(existing, code, column, text, text)
    if existing is None:
        return types.WorkspaceEdit(document_changes=[
            types.CreateFile(uri=sidecar_uri, options=types.CreateFileOptions(ignore_if_exists=True)),
            types.TextDocumentEdit(text_document=types.OptionalVersionedTextDocumentIdentifier(uri=sidecar_uri, version=None),
                                   edits=[types.TextEdit(types.Range(types.Position(0, 0), types.Position(0, 0)), content)]),
        ])
    old_lines = existing.split("\n")
    end = types.Position(len(old_lines) - 1, len(old_lines[-1]))
    return types.WorkspaceEdit(changes={sidecar_uri: [types.TextEdit(types.Range(types.Position(0, 0), end), content)]})


def actions_for(ls, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction | types.Command]:
    state = ls.states.get(uri)
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    if state is None or state.result is None or diagnostic.source != "lens" or data.get("row") is None:
        return []
    document = ls.workspace.get_text_document(uri)
    if state.version is not None and document.version != state.version:
        return []  # the analysis is older than the text: edits would land on the wrong lines
    lines = document.lines
    result, row, code, column = state.result, int(data["row"]), str(diagnostic.code), data.get("column")
    col = result.per_column.get(column)
    actions: list[types.CodeAction | types.Command] = []

    def fix(title: str, edit: types.WorkspaceEdit, preferred: bool = False) -> None:
        actions.append(types.CodeAction(title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                                        edit=edit, is_preferred=preferred))

    if code in ("exact-duplicate", "near-duplicate", "semantic-duplicate", "seed-copy"):
        fix(f"Delete this row (line {result.row_ranges[row].start.line + 1})",
            _delete_rows(uri, state.version, lines, result, [row]), preferred=code == "exact-duplicate")
    # The groups stay on the server (see diagnostics.wire_data).
    finding = next((f for f in state.findings_on(row) if f.code == code and f.column == column), None)
    group = list(finding.data.get("group", [])) if finding is not None else []
    if code == "exact-duplicate":
        keep = finding.data.get("keep", group[0] if group else row) if finding is not None else row
        others = [r for r in group if r != keep]
        if others:
            fix(f"Keep only the first of these {len(group)} rows (line {result.row_ranges[keep].start.line + 1})",
                _delete_rows(uri, state.version, lines, result, others))
    if code == "near-duplicate" and len(group) > 1:
        fix(f"Keep only this row of its {len(group)} near-duplicates",
            _delete_rows(uri, state.version, lines, result, [r for r in group if r != row]))
    if col is not None and code == "syntactic-template":
        template = next((t for t in col.templates if t.id == data.get("template_id")), None)
        if template is not None:
            ranges = [col.values[r].range for r in template.rows if col.values[r] is not None]
            # A bare Command, not a CodeAction wrapping one: clients tell those apart reliably.
            actions.append(show_rows_command(f"Show all {template.count} rows with template {template.id}", uri,
                                             diagnostic.range.start, ranges))
    if col is not None and code.startswith("repeated-"):
        phrase = next((p for p in col.phrases if p.text == data.get("phrase")), None)
        if phrase is not None:
            ranges = [col.values[r].span_range(s, e) for r, (s, e) in zip(phrase.rows, phrase.spans)
                      if col.values[r] is not None]
            actions.append(show_rows_command(f"Show all {phrase.count} rows with “{phrase.text}”", uri,
                                             diagnostic.range.start, ranges))
    if col is not None and col.values[row] is not None:
        edit = _suppress_edit(uri, code, column, col.values[row].text)
        if edit is not None:
            fix(f"Suppress this {code} finding for this row ({SIDECAR})", edit)
    return actions


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def code_action(ls, params: types.CodeActionParams) -> list[types.CodeAction | types.Command]:
        out: list[types.CodeAction | types.Command] = []
        for diagnostic in params.context.diagnostics:
            out.extend(actions_for(ls, params.text_document.uri, diagnostic))
        return out
