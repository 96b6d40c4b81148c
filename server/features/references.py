"""References on a row: the rows that share its syntactic template."""

from __future__ import annotations

from lsprotocol import types

from .diagnostics import lsp_range


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(ls, params: types.ReferenceParams) -> list[types.Location] | None:
        uri = params.text_document.uri
        state = ls.states.get(uri)
        if state is None or state.result is None:
            return None
        row = state.row_at(params.position.line)
        if row is None:
            return None
        out: list[types.Location] = []
        for col in state.result.per_column.values():
            for t in col.templates:
                if row in t.rows:
                    out.extend(types.Location(uri, lsp_range(col.values[r].range)) for r in t.rows
                               if col.values[r] is not None)
        return out
