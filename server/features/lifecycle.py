"""Initialisation, configuration changes and document sync."""

from __future__ import annotations

from lsprotocol import types
from pygls.uris import to_fs_path

from .clusters import clusters_job


def register(server) -> None:
    @server.feature(types.INITIALIZED)
    async def initialized(ls, params: types.InitializedParams) -> None:
        ls.status("starting", "reading settings")
        await ls.load_configuration()
        caps = ls.client_capabilities
        if caps and caps.workspace and caps.workspace.did_change_configuration and \
                caps.workspace.did_change_configuration.dynamic_registration:
            try:
                await ls.client_register_capability_async(types.RegistrationParams(registrations=[
                    types.Registration(id="lens-config", method=types.WORKSPACE_DID_CHANGE_CONFIGURATION)]))
            except Exception as err:  # the client said no: it will still send changes it knows of
                ls.window_log_message(types.LogMessageParams(types.MessageType.Log, f"no dynamic registration: {err}"))
        ls.spawn(ls.warm_up())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls, params: types.DidChangeConfigurationParams) -> None:
        old = ls.config
        pushed = params.settings.get("lens") if isinstance(params.settings, dict) else None
        await ls.load_configuration(pushed if isinstance(pushed, dict) else None)
        new = ls.config.engine
        if (new.spacy_model, new.embedding_model, new.syntax, new.semantic, new.device) != \
                (old.engine.spacy_model, old.engine.embedding_model, old.engine.syntax, old.engine.semantic, old.engine.device):
            ls.model_error = None
            ls.spawn(ls.warm_up())
        for uri in list(ls.states):
            if uri in ls.workspace.text_documents:
                ls.schedule(uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls, params: types.DidOpenTextDocumentParams) -> None:
        doc = params.text_document
        if ls.is_dataset(doc.uri, doc.language_id):
            ls.schedule(doc.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls, params: types.DidChangeTextDocumentParams) -> None:
        if ls.is_dataset(params.text_document.uri, _language(ls, params.text_document.uri)):
            ls.schedule(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls, params: types.DidSaveTextDocumentParams) -> None:
        if ls.is_dataset(params.text_document.uri, _language(ls, params.text_document.uri)):
            ls.schedule(params.text_document.uri, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.worker.cancel(uri)
        ls.worker.cancel(clusters_job(uri))  # clusters of a closed file would only take CPU
        timer = ls._timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        ls.states.pop(uri, None)
        ls.store.forget_document(to_fs_path(uri) or uri)  # its records, findings and warm scores
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @server.feature(types.SHUTDOWN)
    def shutdown(ls, params) -> None:
        ls.worker.shutdown()


def _language(ls, uri: str) -> str | None:
    try:
        return ls.workspace.get_text_document(uri).language_id
    except Exception:
        return None
