"""The Lens language server: lifecycle, document sync and the analysis loop.

`initialize` is answered at once; spaCy and the embedding model load in the
background afterwards (with work-done progress), and stay warm.  Each feature
lives in its own module under features/ and registers itself on the server.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
import time
import uuid
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

# The engine's analysis modules (numpy, rapidfuzz, ...) load on first use, so that
# `initialize` is answered before they are imported.
from lens_engine.datasets import DatasetError
from lens_engine.syntax import ModelError

from .attribution import AttributionSession, attribution_settings
from .documents import DocumentState
from .features.clusters import CANCELLED, clusters_job
from .params import as_dict
from .settings import ServerSettings, server_settings
from .worker import Worker

log = logging.getLogger("lens.server")

DATASET_LANGUAGES = {"csv", "tsv", "jsonl"}
DATASET_EXTENSIONS = {".csv", ".tsv", ".tab", ".jsonl", ".ndjson", ".jsonlines"}
STATUS = "lens/status"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("lens-tools")
    except Exception:
        return "0"


class LensServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("lens", _version(), text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.config = ServerSettings()
        self.worker = Worker()
        self.states: dict[str, DocumentState] = {}
        self._store = None
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._edited_at: dict[str, float] = {}  # per document: the last edit's time, plus the debounce
        self.last_rediagnose: float | None = None  # seconds from that to the publish (lens/stats)
        self._last_change: dict[str, float] = {}  # per document: when it was last scheduled
        self._tasks: set[asyncio.Task] = set()
        self.device = "cpu"
        self.model_error: str | None = None
        self._configured: asyncio.Event | None = None  # set once the client's settings are read
        self.attribution = AttributionSession()
        self._last_status: dict = {"state": "starting", "device": "cpu", "message": ""}

    def configured(self) -> asyncio.Event:
        if self._configured is None:
            self._configured = asyncio.Event()
        return self._configured

    # -- helpers -----------------------------------------------------------------

    @property
    def store(self):
        """Per-row cache (memory in front of the user's disk cache), made on first use."""
        if self._store is None:
            from lens_engine.analyze import default_row_store

            self._store = default_row_store()
        return self._store

    def workspace_root(self) -> str | None:
        """Where relative `lens.attribution.*` paths start: the first workspace folder."""
        try:
            folders = list(self.workspace.folders.values())
            if folders:
                return to_fs_path(folders[0].uri)
            return self.workspace.root_path
        except Exception:
            return None

    def is_dataset(self, uri: str, language_id: str | None = None) -> bool:
        if language_id in DATASET_LANGUAGES:
            return True
        return Path(to_fs_path(uri) or uri).suffix.lower() in DATASET_EXTENSIONS

    def status(self, state: str, message: str = "", uri: str | None = None) -> None:
        """`lens/status`; ``uri`` is set when an analysis of that document has finished."""
        params = {"state": state, "device": self.device, "message": message}
        self._last_status = dict(params)
        if uri is not None:
            params["uri"] = uri
        params["attribution"] = self.attribution.status.to_dict()
        self.protocol.notify(STATUS, params)

    def attribution_status(self, state: str | None = None) -> None:
        """`lens/status` again, with the attribution model's state (``state`` overrides it)."""
        attribution = self.attribution.status.to_dict()
        if state:
            attribution["state"] = state
        self.protocol.notify(STATUS, {**self._last_status, "attribution": attribution})

    def spawn(self, coro) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def progress(self, title: str):
        """A work-done progress token, or None when the client can't show one."""
        caps = self.client_capabilities
        if not (caps and caps.window and caps.window.work_done_progress):
            return None
        token = str(uuid.uuid4())
        try:
            await self.work_done_progress.create_async(token)
        except Exception:  # the client refused: go on without a bar
            return None
        self.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=title, cancellable=False))
        return token

    def progress_end(self, token, message: str = "") -> None:
        if token is not None:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))

    # -- configuration and models --------------------------------------------------

    async def load_configuration(self, pushed: dict | None = None) -> None:
        """Read `lens.*` with workspace/configuration; a client that can't be asked
        (Neovim 0.7) pushes them in didChangeConfiguration instead."""
        caps = self.client_capabilities
        values: dict | None = pushed
        if values is None and caps and caps.workspace and caps.workspace.configuration:
            try:
                result = await self.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section="lens")])
                )
                values = result[0] if result else None
            except Exception as err:
                log.warning("could not read the lens settings: %s", err)
        if values is not None and not isinstance(values, dict):
            values = as_dict(values)
        self.config, problems = server_settings(values)
        attribution, more = attribution_settings((values or {}).get("attribution"), self.workspace_root())
        problems += more
        if self.attribution.configure(attribution):
            self.attribution_status()
        elif self.attribution.attributor is not None:
            from .features.attribution import publish_outliers

            publish_outliers(self)  # the outlier threshold may have changed
        self.configured().set()
        for problem in problems:
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning, message=f"Lens: {problem}"))

    async def warm_up(self) -> None:
        """Load the models in the worker thread, after `initialize` has been answered."""
        settings = self.config.engine
        token = await self.progress("Lens: loading models")
        self.status("loading", "loading spaCy and the embedding model")

        def load() -> str:
            import torch

            from lens_engine.analyze import embedding_model, spacy_pipeline

            device = settings.device or ("cuda" if torch.cuda.is_available() else "cpu")
            if settings.syntax:
                spacy_pipeline(settings.spacy_model)
            if settings.semantic:
                embedding_model(settings.embedding_model, settings.device)
            return device

        try:
            self.device = await self.worker.run_plain(load)
            # The models are millions of long-lived objects: out of the collector's sight,
            # its full passes cost milliseconds, not most of a second on the event loop.
            gc.freeze()
            self.model_error = None
            self.status("ready", f"models ready on {self.device.upper()}")
        except asyncio.CancelledError:  # shutting down: the client is gone, say nothing
            token = None
            raise
        except Exception as err:  # a missing model folder must not take the server down
            self.model_error = str(err)
            log.error("model loading failed: %s", err)
            self.status("error", str(err))
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"Lens: {err}"))
        finally:
            self.progress_end(token)

    # -- analysis -------------------------------------------------------------------

    def schedule(self, uri: str, delay_ms: int | None = None) -> None:
        """Analyse ``uri`` after the debounce delay; a newer call replaces this one."""
        timer = self._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        self.worker.cancel(uri)  # an edit supersedes the running analysis
        self.worker.cancel(clusters_job(uri))  # and the idle-time clusters, which would slow it
        delay = (self.config.debounce_ms if delay_ms is None else delay_ms) / 1000
        self._edited_at[uri] = time.perf_counter() + delay  # when the analysis may start
        self._last_change[uri] = time.perf_counter()
        loop = asyncio.get_running_loop()
        self._timers[uri] = loop.call_later(delay, lambda: self.spawn(self.analyze_document(uri)))

    async def analyze_document(self, uri: str) -> DocumentState | None:
        self._timers.pop(uri, None)
        try:
            await asyncio.wait_for(self.configured().wait(), 10)
        except asyncio.TimeoutError:
            log.warning("no settings from the client after 10 s; using the defaults")
            self.configured().set()
        try:
            document = self.workspace.get_text_document(uri)
            text, version = document.source, document.version
        except Exception:
            return None
        path = to_fs_path(uri) or uri
        state = self.states.setdefault(uri, DocumentState(uri))
        settings = self.config.for_document(path)
        if self.model_error:
            settings = settings.replace(syntax=False, semantic=False)
        self.status("analyzing", f"analysing {Path(path).name}")
        if state.result is None and (settings.syntax or settings.semantic):
            # First sight of this file: publish the lexical findings (a second or
            # less) before spaCy and the embedder get through every row.
            await self._analyze_once(uri, path, text, version, state,
                                     settings.replace(syntax=False, semantic=False), quick=True)
        return await self._analyze_once(uri, path, text, version, state, settings)

    async def _analyze_once(self, uri: str, path: str, text: str, version, state: DocumentState, settings,
                            quick: bool = False) -> DocumentState | None:
        from lens_engine.analyze import analyze_text

        started = time.perf_counter()
        try:
            result = await self.worker.run(uri, analyze_text, text, path, settings, store=self.store, freeze=True)
        except DatasetError as err:
            state.error = err.message
            state.result = None
            self.publish_error(uri, version, err)
            self.status("ready" if not self.model_error else "error", err.message, uri)
            return state
        except ModelError as err:
            self.model_error = str(err)
            self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"Lens: {err}"))
            return await self.analyze_document(uri)
        except Exception as err:  # never crash on a user's file
            log.exception("analysis of %s failed", uri)
            self.publish_error(uri, version, err)
            self.status("error", f"analysis failed: {err}", uri)
            return state
        if result is None:  # superseded or cancelled
            return None
        try:
            current = self.workspace.get_text_document(uri).version
        except Exception:
            current = None
        if current is not None and version is not None and current != version:
            return None  # a newer edit is on its way; don't publish stale positions
        from lens_engine.analyze import collector_paused

        from .features.diagnostics import publish

        analysed = time.perf_counter()
        with collector_paused(freeze=True):  # thousands of Diagnostic objects: see collector_paused
            state.set_result(version, result)
            publish(self, uri, state)
        published = time.perf_counter()
        edited = self._edited_at.pop(uri, None) if not quick else None
        if edited is not None:
            self.last_rediagnose = published - edited
        log.debug("%s v%s: analysis %.0f ms (engine %.0f ms: %s), publish %.0f ms", uri, version,
                  (analysed - started) * 1000, result.timings.get("total", 0.0) * 1000,
                  " ".join(f"{k} {v * 1000:.0f}" for k, v in result.timings.items() if k != "total"),
                  (published - analysed) * 1000)
        self.refresh_code_lenses()
        if quick:
            return state
        self.status("ready" if not self.model_error else "error",
                    f"{result.rows} rows analysed" if not self.model_error else self.model_error, uri)
        self.spawn(self._clusters_when_idle(state, result))
        return state

    def refresh_code_lenses(self) -> None:
        caps = self.client_capabilities
        if caps and caps.workspace and caps.workspace.code_lens and caps.workspace.code_lens.refresh_support:
            self.workspace_code_lens_refresh(None)

    async def _clusters_when_idle(self, state: DocumentState, result, delay: float = 1.0) -> None:
        """Compute the hierarchy for hovers, lenses and views once edits pause."""
        from .features.clusters import hierarchy_for

        from lens_engine.analyze import column_scores

        # Idle means no edit waiting out its debounce, no analysis running (of any file: the
        # one being edited or opened comes first) and no change in the last ``delay`` seconds
        # (a pause between two keystrokes is not idle): clusters take seconds of CPU (and the
        # GIL), and would slow the next analysis and the event loop down by half.  Checked
        # again before each step.
        async def idle() -> bool:
            await asyncio.sleep(delay)
            while (state.uri in self._timers or self.worker.analysing()
                   or time.perf_counter() - self._last_change.get(state.uri, 0.0) < delay):
                if state.result is not result:
                    return False
                await asyncio.sleep(delay / 4)
            return state.result is result and self.states.get(state.uri) is state  # not closed meanwhile

        for column in result.columns:
            try:
                col = result.per_column[column]
                if col.scores is None:
                    if not await idle():
                        return
                    await self.worker.run_plain(column_scores, col, col.texts, background=True)
                if not await idle():
                    return
                if await hierarchy_for(self, state, column, idle=True) is CANCELLED:
                    return  # an edit: its analysis schedules the clusters again
            except Exception:
                log.exception("clusters for %s failed", state.uri)
                return
        if state.result is result:
            self.refresh_code_lenses()

    async def analyze_file_on_disk(self, uri: str) -> DocumentState:
        """For files too big for the editor to sync: read the file itself, streaming."""
        path = to_fs_path(uri) or uri
        state = self.states.setdefault(uri, DocumentState(uri))
        settings = self.config.for_document(path)
        if self.model_error:
            settings = settings.replace(syntax=False, semantic=False)
        token = await self.progress(f"Lens: analysing {Path(path).name} on disk")
        loop = asyncio.get_running_loop()

        def on_progress(stage: str, done: int, total: int) -> None:
            if token is not None and total:
                pct = int(100 * done / total)
                loop.call_soon_threadsafe(
                    self.work_done_progress.report, token,
                    types.WorkDoneProgressReport(message=f"{stage} {done}/{total}", percentage=pct))

        from lens_engine.analyze import analyze_path

        try:
            result = await self.worker.run(f"disk:{uri}", analyze_path, path, settings, progress=on_progress,
                                           store=self.store)
        finally:
            self.progress_end(token)
        if result is not None:
            state.set_result(None, result)
            from .features.diagnostics import publish

            publish(self, uri, state)
        return state

    def publish_error(self, uri: str, version: int | None, err: Exception) -> None:
        """A file Lens can't read at all gets one diagnostic, replacing any stale ones."""
        message = getattr(err, "message", None) or str(err)
        diagnostic = types.Diagnostic(
            range=types.Range(types.Position(0, 0), types.Position(0, 0)),
            message=message, severity=types.DiagnosticSeverity.Error, source="lens", code="parse-error",
        )
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, version=version, diagnostics=[diagnostic]))


def _not_a_user_error(record: logging.LogRecord) -> bool:
    """pygls logs every error answer with a traceback; a user error (-32001: a missing
    model folder, no prompt found) is an answer, not a server fault."""
    from .attribution import USER_ERROR

    error = record.exc_info[1] if record.exc_info else None
    return getattr(error, "code", None) != USER_ERROR


def create_server() -> LensServer:
    server = LensServer()
    from .features import (analyze_file, attribution, clusters, code_actions, code_lens, diagnostics, hover, lifecycle,
                           references)

    for feature in (lifecycle, diagnostics, hover, code_lens, code_actions, references, clusters, analyze_file,
                    attribution):
        feature.register(server)
    return server


def main() -> None:
    # Nothing may reach a model hub, and nothing but LSP frames may reach stdout.
    from lens_engine.cli import offline_environment

    offline_environment()
    os.environ.setdefault("TQDM_DISABLE", "1")
    logging.basicConfig(stream=sys.stderr, level=os.environ.get("LENS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # pygls logs every message in full at INFO: megabytes per analysis.
    logging.getLogger("pygls").setLevel(os.environ.get("LENS_PYGLS_LOG_LEVEL", "WARNING"))
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_not_a_user_error)
    # Any stray print() from a library goes to stderr; the real stdout carries frames only.
    frames = sys.stdout.buffer
    sys.stdout = sys.stderr
    create_server().start_io(sys.stdin.buffer, frames)
