"""Findings a person has chosen to silence, kept in a sidecar file beside the dataset.

`.lens-suppress.json` holds entries of code, column and the row's content hash,
so a suppression follows its row when rows move, and dies when the row's text
changes.  The CLI and the editor both honour it; the editor's quick fix writes it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .cache import content_key

SIDECAR = ".lens-suppress.json"


def sidecar_path(dataset: Path) -> Path:
    return dataset.parent / SIDECAR


def row_key(text: str) -> str:
    return content_key(text).hex()


def load_suppressions(dataset: Path | None) -> set[tuple[str, str, str]]:
    """(code, column, row key) triples; an unreadable sidecar suppresses nothing."""
    if dataset is None:
        return set()
    path = sidecar_path(dataset)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    out = set()
    for entry in data.get("suppressed", []) if isinstance(data, dict) else []:
        if isinstance(entry, dict) and {"code", "row_key"} <= entry.keys():
            out.add((str(entry["code"]), str(entry.get("column") or ""), str(entry["row_key"])))
    return out


def with_suppression(existing_text: str | None, code: str, column: str | None, text: str, preview: str = "") -> str:
    """The sidecar's new content with one more entry (idempotent)."""
    try:
        data = json.loads(existing_text) if existing_text else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    entries = data.setdefault("suppressed", [])
    entry = {"code": code, "column": column or "", "row_key": row_key(text)}
    if not any(isinstance(e, dict) and all(e.get(k) == v for k, v in entry.items()) for e in entries):
        entries.append({**entry, "text": preview[:80]})
    data["version"] = 1
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
