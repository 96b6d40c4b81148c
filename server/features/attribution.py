"""The attribution lens's requests (docs/lsp.md, "Attribution"), and its reverse view
in the training file: code lenses on rows recent attributions used, and diagnostics
on rows with outlying self-influence."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lens_engine.findings import docs_url
from lens_engine.source import Position, Range

from ..attribution import USER_ERROR, Cancelled, Query, UserError
from ..params import as_dict
from .diagnostics import lsp_range

log = logging.getLogger("lens.attribution")

ATTRIBUTE = "lens/attribute"
COMPARE = "lens/compare"
GENERATE = "lens/generate"
TOKEN_SCORES = "lens/tokenScores"
ATTRIBUTIONS = "lens/attributions"
OUTLIER_CODE = "self-influence-outlier"
T = TypeVar("T")

# Its own thread: a store build takes minutes and must not hold up dataset analyses.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lens-attribution")


def _range(value) -> Range:
    if not isinstance(value, dict):
        raise JsonRpcException(message="range must be an LSP Range", code=-32602)
    try:
        return Range(Position(int(value["start"]["line"]), int(value["start"]["character"])),
                     Position(int(value["end"]["line"]), int(value["end"]["character"])))
    except (KeyError, TypeError, ValueError):
        raise JsonRpcException(message="range must be an LSP Range", code=-32602) from None


def _params(params) -> dict:
    params = as_dict(params)
    return params if isinstance(params, dict) else {}


def _text(ls, p: dict) -> str:
    text = p.get("text")
    if isinstance(text, str):
        return text
    try:
        return ls.workspace.get_text_document(p["uri"]).source
    except Exception:
        raise JsonRpcException(message="send the document's text: the server does not have it open", code=-32602) from None


async def on_model_thread(ls, work: Callable[[Callable[[], bool]], T]) -> T:
    """Run ``work(should_stop)`` on the attribution thread, after loading the model
    (with work-done progress) if it isn't warm.  A cancelled request stops waiting at
    once; the thread drops its answer at the next step."""
    try:  # a request that races `initialized` must see the user's settings
        await asyncio.wait_for(ls.configured().wait(), 10)
    except asyncio.TimeoutError:
        pass
    session = ls.attribution
    loop = asyncio.get_running_loop()
    cancelled = threading.Event()
    token = None
    if session.attributor is None and session.settings.configured:
        token = await ls.progress("Lens: loading the attribution model")

    def call():
        if session.attributor is None:
            loop.call_soon_threadsafe(ls.attribution_status, "loading")
            session.ensure_loaded()
            loop.call_soon_threadsafe(publish_outliers, ls)
        if cancelled.is_set():
            raise Cancelled()
        with session.query_threads():
            return work(cancelled.is_set)

    future = loop.run_in_executor(_executor, call)
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        cancelled.set()
        raise
    except UserError as err:
        raise JsonRpcException(message=str(err), code=USER_ERROR, data={"reason": err.reason}) from None
    except Cancelled:
        raise asyncio.CancelledError() from None
    finally:
        if token is not None:
            ls.progress_end(token)
        ls.attribution_status()


async def on_located(ls, params, answer: Callable[[Query, Callable[[], bool]], T]) -> T:
    """A request about a range of a document: find its prompt and answer (after loading
    the model, whose training template says how prompts look), then ``answer(query, should_stop)``."""
    p = _params(params)
    text, selection = _text(ls, p), _range(p.get("range"))
    session = ls.attribution

    def work(stop):
        return answer(session.locate(p.get("uri", ""), text, selection, p.get("prompt")), stop)

    return await on_model_thread(ls, work)


def register(server) -> None:
    @server.feature(ATTRIBUTE)
    async def attribute(ls, params) -> dict:
        p = _params(params)
        view = await on_located(ls, p, lambda q, stop: ls.attribution.attribute(
            q, p.get("method"), p.get("topK"), bool(p.get("tokenLevel", True)), stop))
        ls.refresh_code_lenses()
        return view

    @server.feature(COMPARE)
    async def compare(ls, params) -> dict:
        p = _params(params)
        user_text = p.get("userText")
        if not isinstance(user_text, str) or not user_text.strip():
            raise JsonRpcException(message="userText must be the text to compare with", code=USER_ERROR)
        return await on_located(ls, p, lambda q, stop: ls.attribution.compare(
            q, user_text, p.get("method"), p.get("topK"), stop))

    @server.feature(GENERATE)
    async def generate(ls, params) -> dict:
        p = _params(params)
        prompt = p.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise JsonRpcException(message="prompt must be the text to ask the model", code=USER_ERROR)
        max_new = int(p.get("maxNewTokens") or 48)
        return await on_model_thread(ls, lambda stop: ls.attribution.generate(prompt.strip(), max_new))

    @server.feature(TOKEN_SCORES)
    async def token_scores(ls, params) -> dict:
        p = _params(params)
        rows = [int(r) for r in p.get("rows") or []] or None
        return await on_located(ls, p, lambda q, stop: ls.attribution.token_scores(q, rows, stop))

    @server.feature(ATTRIBUTIONS)
    def attributions(ls, params) -> dict:
        p = _params(params)
        wanted = p.get("trainUri")
        session = ls.attribution
        if wanted and wanted != session.train_uri:
            return {"attributions": []}
        return {"attributions": [r.to_dict() for r in session.recent]}


def reverse_code_lenses(ls, uri: str) -> list[types.CodeLens]:
    """On rows of the training file that recent attributions used: what they influenced."""
    session = ls.attribution
    if uri != session.train_uri or not session.recent:
        return []
    lenses = []
    rows = sorted({r for rec in session.recent for r, _ in rec.supporting + rec.opposing})
    for row in rows:
        rng = session.row_ranges.get(row)
        if rng is None:
            continue
        hits = session.influenced(row)
        first = hits[0][0]
        parts = []
        for rec, side, rank, norm in hits[:3]:
            parts.append(f'{side} "{_short(rec.selected_text)}" (#{rank}, {norm:+.2f})')
        more = f" · +{len(hits) - 3} more" if len(hits) > 3 else ""
        pos = types.Position(rng.start.line, 0)
        span = first.span_ranges[0] if first.span_ranges else None
        lenses.append(types.CodeLens(
            range=types.Range(pos, pos),
            command=types.Command(title="Lens: " + " · ".join(parts) + more, command="lens.revealAttribution",
                                  arguments=[first.uri, span])))
    return lenses


def _short(text: str, width: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def outlier_diagnostics(ls, uri: str) -> list[types.Diagnostic]:
    session = ls.attribution
    if uri != session.train_uri or not session.outliers:
        return []
    severity = ls.config.engine.severity_of(OUTLIER_CODE)
    if severity is None:
        return []
    out = []
    for o in session.outliers:
        out.append(types.Diagnostic(
            range=lsp_range(o.range),
            message=(f"self-influence {o.value:.3g} is far above the rest of the file (robust z {o.z:.1f}): "
                     "the other rows don't explain this one — check it for a wrong label or answer"),
            severity=types.DiagnosticSeverity(int(severity)), code=OUTLIER_CODE,
            code_description=types.CodeDescription(href=docs_url(OUTLIER_CODE)), source="lens",
            data={"row": o.row, "selfInfluence": o.value, "zScore": o.z}))
    return out


def publish_outliers(ls) -> None:
    """After the store is warm: re-publish the training file's diagnostics with the outliers."""
    uri = ls.attribution.train_uri
    if uri is None or uri not in ls.workspace.text_documents:
        return
    state = ls.states.get(uri)
    if state is not None and state.result is not None:
        from .diagnostics import publish

        publish(ls, uri, state)
    else:
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=outlier_diagnostics(ls, uri)))
    ls.refresh_code_lenses()
