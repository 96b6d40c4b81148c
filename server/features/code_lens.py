"""Code lenses: a file summary on line 0; one on the first row of each dominant template."""

from __future__ import annotations

from lsprotocol import types

from .diagnostics import lsp_range

MAX_LOCATIONS = 2000


def _fmt(value) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def summary_title(result) -> str:
    parts = [f"Lens: {result.rows} rows"]
    for column, col in result.per_column.items():
        n = max(sum(1 for t in col.texts if t), 1)
        dup_rows = {r for g in col.exact_groups for r in g[1:]}
        near_rows = {r for p in col.near_pairs for r in (p.a, p.b)}
        prefix = f"{column}: " if len(result.per_column) > 1 else ""
        parts.append(f"{prefix}{len(col.templates)} dominant templates")
        parts.append(f"{len(dup_rows) / n:.1%} exact duplicates")
        parts.append(f"{len(near_rows) / n:.1%} near-duplicates")
        if col.scores is not None:
            s = col.scores.to_dict()
            for key, label in (("distinct_2", "distinct-2"), ("compression_ratio", "compression"),
                               ("self_repetition", "self-repetition"), ("vendi_score", "Vendi")):
                if isinstance(s.get(key), (int, float)):
                    parts.append(f"{label} {_fmt(s[key])}")
    return " · ".join(parts)


def show_rows_command(title: str, uri: str, position: types.Position, ranges) -> types.Command:
    locations = [types.Location(uri, lsp_range(r)) for r in ranges[:MAX_LOCATIONS]]
    return types.Command(title=title, command="lens.showRows", arguments=[uri, position, locations])


def _rows_lens(uri: str, values, rows: list[int], title: str) -> types.CodeLens | None:
    """A lens on the first of ``rows`` that peeks all of them."""
    first = values[rows[0]] if rows else None
    if first is None:
        return None
    pos = types.Position(first.range.start.line, 0)
    ranges = [values[r].range for r in rows if values[r] is not None]
    return types.CodeLens(range=types.Range(pos, pos), command=show_rows_command(title, uri, pos, ranges))


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(ls, params: types.CodeLensParams) -> list[types.CodeLens]:
        from .attribution import reverse_code_lenses

        uri = params.text_document.uri
        influenced = reverse_code_lenses(ls, uri)  # this file trained the attribution lens's model
        state = ls.states.get(uri)
        if state is None or state.result is None:
            return influenced
        result = state.result
        top = types.Range(types.Position(0, 0), types.Position(0, 0))
        title = summary_title(result)
        limit = ls.config.max_diagnostics
        if limit and len(result.findings) > limit:
            title += f" · showing the {limit} most severe of {len(result.findings)} findings (lens.maxDiagnostics)"
        lenses = [types.CodeLens(range=top, command=types.Command(title=title, command=""))]
        for column, col in result.per_column.items():
            groups = [(t.rows, f"Template {t.id}: {t.count} rows ({t.share:.1%}) · {t.summary}") for t in col.templates]
            hierarchy = state.clusters.get(column)
            groups += [(c.rows, f"Cluster {c.id}: {c.size} rows · {c.pattern}")
                       for c in getattr(hierarchy, "tree", []) or []]
            for rows, title in groups:
                lens = _rows_lens(uri, col.values, rows, title)
                if lens is not None:
                    lenses.append(lens)
        return lenses + influenced
