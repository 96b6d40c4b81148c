"""Translate an analysis into what a person or a tool reads: text, JSON, SARIF."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from .analyze import AnalysisResult
from .findings import CODES, Finding, Severity, docs_url
SCHEMA_VERSION = 1


def as_json(result: AnalysisResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False, indent=1)


def as_text(result: AnalysisResult, max_per_code: int = 10, color: bool = False) -> str:
    """A human-readable report grouped by finding code, with line numbers."""
    out: list[str] = []
    where = result.path or "<text>"
    out.append(f"{where}: {result.rows} rows, format {result.format}, analysed column(s): {', '.join(result.columns) or '(none)'}")
    for note in result.notes:
        out.append(f"note: {note}")
    by_code: dict[str, list[Finding]] = defaultdict(list)
    for f in result.findings:
        by_code[f.code].append(f)
    order = sorted(by_code, key=lambda c: (min(f.severity for f in by_code[c]), c))
    for code in order:
        items = by_code[code]
        title = CODES[code].title if code in CODES else code
        out.append("")
        out.append(f"{code} ({len(items)}): {title} — {CODES[code].doc_anchor if code in CODES else ''}")
        for f in items[:max_per_code]:
            row = f" row {f.row + 1}" if f.row is not None else ""
            col = f" [{f.column}]" if f.column else ""
            out.append(f"  {where}:{f.range.start.line + 1}:{f.range.start.character + 1}{row}{col} "
                       f"{f.severity.label}: {f.message}")
        if len(items) > max_per_code:
            out.append(f"  … and {len(items) - max_per_code} more (all of them: --format json, or --max-per-code 0)")
    for column, r in result.per_column.items():
        out.append("")
        out.append(f"[{column}]")
        if r.templates:
            out.append("  dominant templates:")
            for t in r.templates[:5]:
                out.append(f"    {t.id}  {t.count:>5} rows ({t.share:.1%})  {t.summary}")
        phrases = [p for p in r.phrases if p.kind == "phrase"][:5]
        if phrases:
            out.append("  repeated phrases:")
            for p in phrases:
                out.append(f"    {p.count:>5} rows  “{p.text}”")
        edges = [p for p in r.phrases if p.kind != "phrase"][:5]
        if edges:
            out.append("  repeated openings and endings:")
            for p in edges:
                out.append(f"    {p.count:>5} rows  {p.kind}: “{p.text}”")
        dup_rows = {x for g in r.exact_groups for x in g}
        near_rows = {x for p in r.near_pairs for x in (p.a, p.b)}
        out.append(f"  exact-duplicate rows: {len(dup_rows)}; near-duplicate rows: {len(near_rows)}; "
                   f"semantic-duplicate pairs: {len(r.semantic_pairs)}; seed copies: {len(r.seed_copies)}")
        if r.scores is not None:
            scores = {k: v for k, v in r.scores.to_dict().items() if isinstance(v, (int, float)) and k != "n_rows"}
            if scores:
                out.append("  diversity: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                                        for k, v in scores.items()))
    summary = result.summary()
    out.append("")
    out.append("summary: " + (", ".join(f"{n} {c}" for c, n in summary.items()) if summary else "no findings"))
    return "\n".join(out)


_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFORMATION: "note", Severity.HINT: "note"}


def _region(rng) -> dict:
    return {
        "startLine": rng.start.line + 1,
        "startColumn": rng.start.character + 1,
        "endLine": rng.end.line + 1,
        "endColumn": rng.end.character + 1,
    }


def merge_sarif(documents: list[str]) -> str:
    """One SARIF log with the results of several files in one run."""
    if not documents:
        return ""
    merged = json.loads(documents[0])
    for doc in documents[1:]:
        merged["runs"][0]["results"].extend(json.loads(doc)["runs"][0]["results"])
    return json.dumps(merged, ensure_ascii=False, indent=1)


def as_sarif(result: AnalysisResult, base: Path | None = None) -> str:
    """SARIF 2.1.0: one run, one rule per finding code, related rows as relatedLocations."""
    uri = result.path or "<text>"
    if result.path and base is not None:
        try:
            uri = Path(result.path).resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            uri = Path(result.path).resolve().as_uri()
    rules = [
        {
            "id": code.name,
            "name": "".join(part.capitalize() for part in code.name.split("-")),
            "shortDescription": {"text": code.title},
            "helpUri": docs_url(code.name),
            "defaultConfiguration": {"level": _SARIF_LEVEL[code.default_severity]},
        }
        for code in CODES.values()
    ]
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in result.findings:
        location = {"physicalLocation": {"artifactLocation": {"uri": uri}, "region": _region(f.range)}}
        item = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [location],
            "properties": {"row": f.row, "column": f.column, "data": f.data},
        }
        if f.related:
            item["relatedLocations"] = [
                {"id": i + 1, "message": {"text": r.message or f"row {r.row + 1}"},
                 "physicalLocation": {"artifactLocation": {"uri": uri}, "region": _region(r.range)}}
                for i, r in enumerate(f.related)
            ]
        results.append(item)
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "lens", "informationUri": docs_url(), "version": _version(), "rules": rules}},
                "columnKind": "utf16CodeUnits",
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, ensure_ascii=False, indent=1)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("lens-tools")
    except Exception:
        return "0"
