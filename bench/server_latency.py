"""The language server's latencies, measured from a real LSP client over stdio.

Figures (issue 3): time to answer `initialize`; time to first diagnostics on the
bundled sample (the quick lexical pass and the full one); re-diagnose after a
one-row edit of a 10k-row file (warm); hover latency while a full analysis runs;
time from cancelling an analysis to it stopping (server-side, `lens/stats`).

    .venv/bin/python bench/server_latency.py [--rows 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lens_engine.analyze import SAMPLE_PATH  # noqa: E402
from lens_engine.sample_data import music_requests, planted_dataset, write_csv  # noqa: E402


class _RawDiagnostics(LanguageServerProtocol):
    """Diagnostics are not turned into Python objects (VS Code parses them as plain
    JSON): pygls's client structures 1000 of them with cattrs before it reads the
    next message, which took 0.5–6 s here, and every latency measured after a
    publish would have been the client's. The handler gets the uri and a count."""

    def structure_message(self, data):
        if data.get("method") == types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS:
            params = {"uri": data["params"]["uri"], "diagnostics": len(data["params"]["diagnostics"])}
            return JsonRPCNotification(method=data["method"], jsonrpc=data["jsonrpc"], params=params)
        return super().structure_message(data)


class Client(LanguageClient):
    def __init__(self, settings: dict):
        super().__init__("lens-bench", "1", protocol_cls=_RawDiagnostics)
        self.settings = settings
        self.published: dict[str, asyncio.Event] = {}
        self.finished: dict[str, list[float]] = {}
        self.first_publish: dict[str, float] = {}
        self.publishes: list[float] = []

        @self.feature(types.WORKSPACE_CONFIGURATION)
        def configuration(params):
            return [self.settings for _ in params.items]

        @self.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params):
            uri = params["uri"] if isinstance(params, dict) else getattr(params, "uri")
            self.first_publish.setdefault(uri, time.perf_counter())
            self.publishes.append(time.perf_counter())

        @self.feature("lens/status")
        def status(params):
            uri = getattr(params, "uri", None)
            if uri:
                self.finished.setdefault(uri, []).append(time.perf_counter())

        for method in (types.WINDOW_WORK_DONE_PROGRESS_CREATE, types.CLIENT_REGISTER_CAPABILITY,
                       types.WORKSPACE_CODE_LENS_REFRESH):
            self.feature(method)(lambda params: None)
        self.feature(types.PROGRESS)(lambda params: None)
        self.feature(types.WINDOW_LOG_MESSAGE)(lambda params: None)
        self.feature(types.WINDOW_SHOW_MESSAGE)(lambda params: None)

    async def wait_finished(self, uri: str, count: int, timeout: float = 600) -> float:
        deadline = time.perf_counter() + timeout
        while len(self.finished.get(uri, [])) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(uri)
            await asyncio.sleep(0.005)
        return self.finished[uri][count - 1]


CAPS = types.ClientCapabilities(
    workspace=types.WorkspaceClientCapabilities(configuration=True),
    window=types.WindowClientCapabilities(work_done_progress=True),
)


async def start(settings: dict, cache: str | None = None) -> tuple[Client, float]:
    """A server over stdio, initialised; its cache in ``cache`` (default: a fresh folder)."""
    client = Client(settings)
    env = {**os.environ, "LENS_CACHE_DIR": cache or tempfile.mkdtemp(prefix="lens-bench-"), "LENS_LOG_LEVEL": os.environ.get("LENS_LOG_LEVEL", "WARNING")}
    # LENS_SERVER_REPO: another checkout's server (e.g. the previous commit, for a baseline in the same run).
    await client.start_io(sys.executable, "-m", "server", env=env, cwd=os.environ.get("LENS_SERVER_REPO", str(REPO)))
    t0 = time.perf_counter()
    await client.initialize_async(types.InitializeParams(capabilities=CAPS, process_id=os.getpid()))
    init = time.perf_counter() - t0
    client.initialized(types.InitializedParams())
    return client, init


def open_doc(client: Client, path: Path, text: str, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="csv", version=version, text=text)))
    return uri


async def stop(client: Client) -> None:
    await client.shutdown_async(None)
    client.exit(None)
    await asyncio.sleep(0.2)
    await client.stop()


async def first_diagnostics(semantic: bool) -> dict:
    client, init = await start({"semantic": semantic, "debounceMs": 0})
    text = SAMPLE_PATH.read_text(encoding="utf-8")
    t0 = time.perf_counter()
    uri = open_doc(client, SAMPLE_PATH, text)
    done = await client.wait_finished(uri, 1)
    out = {"initialize_s": init, "first_publish_s": client.first_publish[uri] - t0, "full_s": done - t0}
    await stop(client)
    return out


async def open_big_file(rows: int) -> tuple[Path, str, list[str], Client, str]:
    """A server with a ``rows``-row file open and analysed: (folder, text, lines, client, uri)."""
    folder = Path(tempfile.mkdtemp(prefix="lens-bench-"))
    path = folder / "big.csv"
    # The sample's generator has fresh fillings for ~3,000 rows; the planted set goes to 10k.
    write_csv(music_requests(rows, seed=3) if rows <= 3000 else planted_dataset(rows, seed=3).rows, path)
    text = path.read_text(encoding="utf-8")
    # maxDiagnostics 1000: what the VS Code extension sends (its per-file marker limit).
    client, _ = await start({"semantic": True, "debounceMs": 0, "columns": ["query"], "maxDiagnostics": 1000})
    uri = open_doc(client, path, text)
    await client.wait_finished(uri, 1)
    return folder, text, text.splitlines(keepends=True), client, uri


async def edits_hover_cancel(rows: int, repeat: int) -> dict:
    folder, text, lines, client, uri = await open_big_file(rows)

    # Hover latency while a full cold analysis of another copy runs.
    other = folder / "other.csv"
    other_uri = open_doc(client, other, text.replace("songs", "tunes"))
    hovers = []
    await asyncio.sleep(0.5)
    for i in range(repeat * 4):
        t0 = time.perf_counter()
        await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(5 + i, 1)))
        hovers.append(time.perf_counter() - t0)
        await asyncio.sleep(0.1)
    running = len(client.finished.get(other_uri, [])) == 0

    # Cancel: an edit of the other document supersedes its running analysis.
    await client.wait_finished(other_uri, 1)
    cancels = []
    for i in range(repeat):
        version = 10 + i
        # Give the re-analysis something to chew on: rewrite many rows so they miss the cache.
        edited = text.replace("songs", f"tracks{i}")
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=other_uri, version=version),
            [types.TextDocumentContentChangeWholeDocument(text=edited)]))
        await asyncio.sleep(1.0)
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=other_uri, version=version + 100),
            [types.TextDocumentContentChangeWholeDocument(text=edited + "\n")]))
        await asyncio.sleep(0.5)
        stats = await client.protocol.send_request_async("lens/stats", None)
        if stats.lastCancelLatencyMs is not None:
            cancels.append(stats.lastCancelLatencyMs / 1000)

    # Re-diagnose after a one-row edit (warm cache): edit -> final publish. First close the
    # other document (cancelling its analysis) and let this file's background clusters
    # finish, so that the edits are timed as a user editing a settled file sees them.
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(other_uri)))
    await asyncio.sleep(0.5)
    await client.protocol.send_request_async("lens/clusters", {"uri": uri})
    edits, inside = await timed_edits(client, uri, lines, repeat)
    await stop(client)
    return {"rows": rows, "hover_s": hovers, "hover_during_analysis": running, "cancel_s": cancels, "edit_s": edits,
            "edit_server_s": inside}


async def timed_edits(client: Client, uri: str, lines: list[str], n: int) -> tuple[list[float], list[float]]:
    """``n`` one-row edits, each sent when the last one's analysis has finished: seconds as
    the client sees them (edit sent → status received) and inside the server (lens/stats)."""
    edits, inside = [], []
    for i in range(n):
        n_before = len(client.finished.get(uri, []))
        row = 10 + i
        new_line = lines[row].replace(",", f" again {i},", 1)
        t0 = time.perf_counter()
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=2 + i),
            [types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(row, 0), types.Position(row + 1, 0)), text=new_line)]))
        lines[row] = new_line
        edits.append(await client.wait_finished(uri, n_before + 1) - t0)
        stats = await client.protocol.send_request_async("lens/stats", None)
        if getattr(stats, "lastRediagnoseMs", None) is not None:  # None from an older server
            inside.append(stats.lastRediagnoseMs / 1000)
    return edits, inside


async def edits_only(rows: int, n_edits: int) -> dict:
    """Steady editing: open, wait for the clusters, then ``n_edits`` back-to-back one-row
    edits (no second document before them), each timed as the client sees it and inside
    the server (``lens/stats``)."""
    _, _, lines, client, uri = await open_big_file(rows)
    await client.protocol.send_request_async("lens/clusters", {"uri": uri})
    await asyncio.sleep(3)  # the background scores of the first analysis
    edits, inside = await timed_edits(client, uri, lines, n_edits)
    await stop(client)
    return {"edit_s": edits, "edit_server_s": inside}


def fmt(values: list[float]) -> str:
    if not values:
        return "n/a"
    ms = [v * 1000 for v in values]
    return f"median {statistics.median(ms):.0f} ms (min {min(ms):.0f}, max {max(ms):.0f}, n={len(ms)})"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--skip-first", action="store_true",
                        help="skip the three cold starts on the bundled sample (minutes)")
    parser.add_argument("--edits-only", type=int, metavar="N",
                        help="only N back-to-back one-row edits of a settled file (steady editing)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    print(f"load average: {os.getloadavg()}")
    if args.edits_only:
        r = await edits_only(args.rows, args.edits_only)
        print(f"{args.rows}-row file, {args.edits_only} back-to-back one-row edits, edit sent → status received:",
              fmt(r["edit_s"]))
        print("  inside the server (edit received → publish written):", fmt(r["edit_server_s"]))
        print(f"load average: {os.getloadavg()}")
        return
    if not args.skip_first:
        firsts = [await first_diagnostics(semantic=True) for _ in range(3)]
        print("initialize:", fmt([f["initialize_s"] for f in firsts]))
        print("bundled sample, first (lexical) diagnostics:", fmt([f["first_publish_s"] for f in firsts]))
        print("bundled sample, full diagnostics (cold cache, models loading):", fmt([f["full_s"] for f in firsts]))
    r = await edits_hover_cancel(args.rows, args.repeat)
    print(f"{r['rows']}-row file, re-diagnose after a one-row edit (warm), edit sent → status received:",
          fmt(r["edit_s"]))
    # The client's side of that includes pygls parsing the ~1 MB publish in Python (object_hook per dict).
    print("  the same edits inside the server (edit received → publish written):", fmt(r["edit_server_s"]))
    print(f"hover while a full analysis runs (analysis still running at the end: {r['hover_during_analysis']}):",
          fmt(r["hover_s"]))
    print("cancel → analysis stopped (server side):", fmt(r["cancel_s"]))
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    asyncio.run(main())
