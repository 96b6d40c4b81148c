"""`lens/clusters` and `lens/rows`: the hierarchy and the rows the cluster views draw."""

from __future__ import annotations

from ..params import param
from .diagnostics import lsp_range

MAX_ROWS = 500


CANCELLED = object()  # hierarchy_for's answer when an edit stopped the computation


async def hierarchy_for(ls, state, column: str, *, idle: bool = False):
    """The column's cluster hierarchy, computed once per analysis.

    ``idle``: computed because edits paused (not asked for): an edit stops it
    (see LensServer.schedule), and the answer is then ``CANCELLED``."""
    from lens_engine.analyze import column_clusters

    result = state.result
    if column not in state.clusters:
        col = result.per_column[column]
        if idle:
            key = clusters_job(state.uri)
            hierarchy = await ls.worker.run_background(key, column_clusters, col, col.texts, ls.config.engine)
            if hierarchy is None and col.tagged is not None:
                return CANCELLED
        else:
            hierarchy = await ls.worker.run_plain(column_clusters, col, col.texts, ls.config.engine, background=True)
        if state.result is not result:
            return hierarchy  # re-analysed meanwhile: don't cache against the new result
        state.clusters[column] = hierarchy
    return state.clusters[column]


def clusters_job(uri: str) -> str:
    """The worker key of a document's idle-time clusters."""
    return f"{uri}#clusters"


def register(server) -> None:
    @server.feature("lens/clusters")
    async def clusters(ls, params) -> dict | None:
        uri = param(params, "uri")
        state = ls.states.get(uri)
        if state is None or state.result is None or not state.result.columns:
            return None
        column = param(params, "column") or state.result.columns[0]
        if column not in state.result.per_column:
            return None
        hierarchy = await hierarchy_for(ls, state, column)
        if hierarchy is None:
            return {"uri": uri, "column": column, "columns": state.result.columns, "similarities": [], "ks": [],
                    "tree_levels": [], "tree": [], "cut": None}
        similarities = [s for s in ("pos", "dep", "token", "embedding") if hierarchy.cuts.get(s)]
        similarity = param(params, "similarity") or similarities[0]
        if similarity not in similarities:
            similarity = similarities[0]
        ks = sorted(hierarchy.cuts[similarity])
        k = param(params, "k") or (5 if 5 in ks else ks[0])
        if k not in ks:
            k = min(ks, key=lambda x: abs(x - k))
        cut = hierarchy.cuts[similarity][k]
        return {
            "uri": uri, "column": column, "columns": state.result.columns, "similarities": similarities, "ks": ks,
            "similarity": similarity, "k": k, "tree_levels": hierarchy.tree_levels,
            "tree": [c.to_dict() for c in hierarchy.tree],
            "cut": {"similarity": similarity, "k": k, "clusters": [c.to_dict() for c in cut.clusters]},
        }

    @server.feature("lens/rows")
    def rows(ls, params) -> dict:
        uri = param(params, "uri")
        state = ls.states.get(uri)
        if state is None or state.result is None or not state.result.columns:
            return {"rows": []}
        column = param(params, "column") or state.result.columns[0]
        col = state.result.per_column.get(column)
        if col is None:
            return {"rows": []}
        out = []
        for row in list(param(params, "rows", []) or [])[:MAX_ROWS]:
            if not isinstance(row, int) or not 0 <= row < len(col.values) or col.values[row] is None:
                continue
            value = col.values[row]
            tagged = col.tagged[row] if col.tagged is not None else None
            tokens = [] if tagged is None else [
                {"text": w, "start": s, "pos": p, "dep": d, "head": h}
                for w, s, p, d, h in zip(tagged.words, tagged.starts, tagged.pos, tagged.dep, tagged.heads)]
            r = lsp_range(value.range)
            out.append({"row": row, "range": {"start": {"line": r.start.line, "character": r.start.character},
                                              "end": {"line": r.end.line, "character": r.end.character}},
                        "text": value.text, "tokens": tokens})
        return {"rows": out}
