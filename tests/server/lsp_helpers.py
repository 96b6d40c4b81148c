"""Helpers for the server tests: a dataset with every finding, waiting, applying edits."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

# Fast by default: no embedding model unless a test turns it on.
BASE_SETTINGS = {"semantic": False, "debounceMs": 50}


def dataset_rows() -> list[str]:
    """A small CSV with every kind of finding Lens makes without embeddings."""
    rows = ["query,tags"]
    seeds = ["songs that make you want to dance in the kitchen", "mellow jazz for a slow sunday morning"]
    rows += [f"{s},seed" for s in seeds]
    places = ["garage", "street", "rain", "office", "car", "park", "attic", "cellar", "valley", "studio"]
    verbs = ["sing", "jump", "run", "shout", "clap", "spin", "sway", "stomp"]
    for i in range(16):
        rows.append(f"songs that make you want to {verbs[i % len(verbs)]} in the {places[i % len(places)]},generated")
    varied = [
        "quiet piano pieces for reading late at night", "aggressive metal for lifting heavy weights",
        "french pop from the sixties with lush strings", "ambient drones for deep focus at work",
        "bluegrass tunes for a porch on a summer evening", "dreamy shoegaze with heavy reverb",
        "old school funk with tight horn sections", "minimal techno for a long drive after dark",
        "sea shanties to sing with a crowd", "lo-fi beats to study calculus to",
        "operatic arias that give you chills", "surf rock for a beach barbecue",
    ]
    rows += [f"{v},generated" for v in varied]
    rows.append("Quiet piano pieces for reading late at night,generated")  # exact duplicate of a varied row
    rows.append("mellow jazz for a slow sunday morning with coffee,generated")  # copies a seed
    return rows


async def open_and_wait(client: LanguageClient, path: Path, text: str | None = None, language: str = "csv") -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
        uri=uri, language_id=language, version=1, text=text if text is not None else path.read_text(encoding="utf-8"))))
    await wait_for_diagnostics(client, uri)
    return uri


async def wait_for_diagnostics(client: LanguageClient, uri: str, timeout: float = 120.0) -> list[types.Diagnostic]:
    """Wait for the server to finish an analysis of ``uri`` (its `lens/status`
    carrying the uri, sent after the final publish) and return its diagnostics.

    The server publishes a quick lexical pass first on a file it hasn't seen;
    waiting for the status skips past that to the full result."""
    statuses = client.lens_statuses

    async def until() -> None:
        while True:
            for status in statuses:
                if getattr(status, "uri", None) == uri and uri in client.diagnostics:
                    return
            await asyncio.sleep(0.02)

    statuses.clear()
    client.diagnostics.pop(uri, None)
    await asyncio.wait_for(until(), timeout)
    return list(client.diagnostics[uri])


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP TextEdits (UTF-16 positions; this text is ASCII) as a client would."""
    lines = text.splitlines(keepends=True)
    offsets = [0]
    for line in lines:
        offsets.append(offsets[-1] + len(line))

    def offset(p: types.Position) -> int:
        return offsets[min(p.line, len(lines))] + p.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
        lines = text.splitlines(keepends=True)
        offsets = [0]
        for line in lines:
            offsets.append(offsets[-1] + len(line))
    return text
