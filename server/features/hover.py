"""Hover on a row: its template, clusters, duplicates and repeated phrases."""

from __future__ import annotations

from lsprotocol import types


def _preview(text: str, limit: int = 70) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cluster_path(hierarchy, row: int) -> list[str]:
    """(level, size, pattern) for each tree level that holds the row."""
    out, level = [], getattr(hierarchy, "tree", []) if hierarchy is not None else []
    while level:
        for cluster in level:
            if row in cluster.rows:
                out.append(f"{cluster.level} **{cluster.id}** ({cluster.size} rows): `{cluster.pattern}`")
                level = cluster.children
                break
        else:
            break
    return out


def row_hover(state, row: int) -> str:
    result = state.result
    parts: list[str] = [f"**Lens** · row {row + 1}"]
    for column, col in result.per_column.items():
        value = col.values[row] if row < len(col.values) else None
        if value is None:
            continue
        if len(result.per_column) > 1:
            parts.append(f"**{column}**")
        if col.tagged is None and state.result is not None:
            parts.append("Template: _spaCy is still tagging the rows…_")
        if col.tagged is not None and col.tagged[row] is not None:
            tagged = col.tagged[row]
            template = next((t for t in col.templates if row in t.rows), None)
            if template is not None:
                parts.append(f"Template **{template.id}** shared by {template.count} rows ({template.share:.1%}): "
                             f"`{template.summary}`")
            else:
                parts.append(f"Template (unique to few rows): `{' '.join(tagged.pos)}`")
        clusters = _cluster_path(state.clusters.get(column), row)
        if clusters:
            parts.append("Clusters: " + " → ".join(clusters))
        dups = [f for f in state.findings_on(row) if f.column == column and
                f.code in ("exact-duplicate", "near-duplicate", "semantic-duplicate", "seed-copy")]
        for f in dups:
            matches = f.data.get("matches") or [[r, f.data.get("similarity", 1.0)] for r in
                                                 ([f.data["seed_row"]] if "seed_row" in f.data else
                                                  [r for r in f.data.get("group", []) if r != row])]
            lines = []
            for other, sim in matches[:3]:
                if other is None or other < 0 or col.values[other] is None:
                    continue
                line = col.values[other].range.start.line + 1
                lines.append(f"  - line {line} ({float(sim):.0%}): “{_preview(col.values[other].text)}”")
            label = f.code.replace("-", " ")
            parts.append(f"{label.capitalize()} of:\n" + "\n".join(lines) if lines else f.message)
        phrases = [f for f in state.findings_on(row) if f.column == column and f.code.startswith("repeated-")]
        if phrases:
            parts.append("Repeated: " + "; ".join(f"“{f.data['phrase']}” ({f.data['count']} rows)" for f in phrases))
        if col.row_repetition is not None:
            parts.append(f"Share of this row's 4-grams found in other rows: {col.row_repetition[row]:.0%}")
    return "\n\n".join(parts)


def register(server) -> None:
    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls, params: types.HoverParams) -> types.Hover | None:
        state = ls.states.get(params.text_document.uri)
        if state is None or state.result is None:
            return None
        row = state.row_at(params.position.line)
        if row is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=row_hover(state, row)))
