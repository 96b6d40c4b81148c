"""The Lens language server end to end: a real server process over stdio."""

from __future__ import annotations

import asyncio
import time

import pytest
from lsprotocol import types

from lsp_helpers import BASE_SETTINGS, apply_edits, dataset_rows, open_and_wait, wait_for_diagnostics

# The module-scoped server lives on the module's event loop; the tests must run on it too.
pytestmark = pytest.mark.asyncio(loop_scope="module")


def by_code(diagnostics):
    out = {}
    for d in diagnostics:
        out.setdefault(d.code, []).append(d)
    return out


async def test_diagnostics_have_codes_ranges_links_and_related_rows(client, dataset):
    uri = await open_and_wait(client, dataset)
    diagnostics = client.diagnostics[uri]
    codes = by_code(diagnostics)
    assert {"exact-duplicate", "near-duplicate", "syntactic-template", "repeated-opening", "seed-copy"} <= set(codes)
    lines = dataset.read_text().splitlines()
    for d in diagnostics:
        assert d.source == "lens"
        assert d.code_description.href.endswith(f"#{d.code}")
        assert d.data["row"] is not None
    dup = codes["exact-duplicate"]
    assert len(dup) == 2
    # The range is exactly the query field of the row.
    for d in dup:
        line = lines[d.range.start.line]
        assert line[d.range.start.character:d.range.end.character].lower() == "quiet piano pieces for reading late at night"
    copy = next(d for d in dup if d.data["row"] != d.data["keep"])
    assert list(copy.tags) == [types.DiagnosticTag.Unnecessary]
    assert copy.related_information[0].location.range.start.line == next(
        d.range.start.line for d in dup if d.data["row"] == d.data["keep"])
    assert all(d.severity == types.DiagnosticSeverity.Warning for d in dup)
    # The groups stay on the server: each row's diagnostic carries the group's size only.
    assert all(d.data["group_size"] == 2 and "group" not in d.data for d in dup)
    phrase = codes["repeated-phrase"][0] if "repeated-phrase" in codes else codes["repeated-opening"][0]
    text = lines[phrase.range.start.line][phrase.range.start.character:phrase.range.end.character]
    assert text.lower() == phrase.data["phrase"].lower()


async def test_neovim_client_gets_the_same_diagnostics(neovim_client, dataset):
    uri = await open_and_wait(neovim_client, dataset)
    codes = {d.code for d in neovim_client.diagnostics[uri]}
    assert {"exact-duplicate", "near-duplicate", "syntactic-template", "seed-copy"} <= codes  # pushed settings used


async def test_hover_shows_the_template_and_duplicates(client, dataset):
    uri = await open_and_wait(client, dataset)
    template_line = next(d.range.start.line for d in client.diagnostics[uri] if d.code == "syntactic-template")
    hover = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier(uri), types.Position(template_line, 3)))
    assert "Template **T1**" in hover.contents.value
    dup_line = next(d.range.start.line for d in client.diagnostics[uri] if d.code == "exact-duplicate")
    hover = await client.text_document_hover_async(types.HoverParams(
        types.TextDocumentIdentifier(uri), types.Position(dup_line, 0)))
    assert "Exact duplicate of" in hover.contents.value and "quiet piano" in hover.contents.value.lower()
    header = await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 1)))
    assert header is None


async def test_code_lenses_summarise_the_file_and_templates(client, dataset):
    uri = await open_and_wait(client, dataset)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    assert lenses[0].range.start.line == 0 and lenses[0].command.title.startswith(f"Lens: {len(dataset_rows()) - 1} rows")
    template = next(lens for lens in lenses if lens.command.title.startswith("Template T1"))
    assert template.command.command == "lens.showRows"
    assert len(template.command.arguments[2]) >= 16


def lines_of(text: str, r: types.Range) -> str:
    return text.splitlines()[r.start.line]


async def test_quick_fixes_apply_as_edits(client, dataset):
    uri = await open_and_wait(client, dataset)
    text = dataset.read_text()
    dup = next(d for d in client.diagnostics[uri] if d.code == "exact-duplicate" and d.data["row"] != d.data["keep"])
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), dup.range, types.CodeActionContext(diagnostics=[dup])))
    titles = [a.title for a in actions]
    delete = next(a for a in actions if a.title.startswith("Delete this row"))
    assert delete.is_preferred
    new_text = apply_edits(text, delete.edit.document_changes[0].edits)
    assert new_text.count("uiet piano pieces for reading late at night") == 1
    assert len(new_text.splitlines()) == len(text.splitlines()) - 1
    keep = next(a for a in actions if a.title.startswith("Keep only the first"))
    kept = apply_edits(text, keep.edit.document_changes[0].edits)
    assert kept.count("uiet piano pieces for reading late at night") == 1
    assert "quiet piano pieces for reading late at night" in kept  # the first (lower-case) one stays
    suppress = next(a for a in actions if a.title.startswith("Suppress"))
    created = suppress.edit.document_changes[1].edits[0].new_text
    assert '"code": "exact-duplicate"' in created
    assert any(t.startswith("Keep only") for t in titles)

    near = next(d for d in client.diagnostics[uri] if d.code == "near-duplicate")
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), near.range, types.CodeActionContext(diagnostics=[near])))
    keep = next(a for a in actions if a.title.startswith("Keep only this row"))
    assert f"of its {near.data['group_size']} near-duplicates" in keep.title
    kept = apply_edits(text, keep.edit.document_changes[0].edits)
    assert len(kept.splitlines()) == len(text.splitlines()) - (near.data["group_size"] - 1)
    assert lines_of(text, near.range) in kept

    template = next(d for d in client.diagnostics[uri] if d.code == "syntactic-template")
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), template.range, types.CodeActionContext(diagnostics=[template])))
    show = next(a for a in actions if a.title.startswith("Show all"))
    assert show.command == "lens.showRows" and len(show.arguments[2]) >= 16


async def test_suppression_sidecar_silences_the_finding(client, dataset):
    uri = await open_and_wait(client, dataset)
    dup = next(d for d in client.diagnostics[uri] if d.code == "exact-duplicate")
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        types.TextDocumentIdentifier(uri), dup.range, types.CodeActionContext(diagnostics=[dup])))
    suppress = next(a for a in actions if a.title.startswith("Suppress"))
    sidecar = dataset.parent / ".lens-suppress.json"
    sidecar.write_text(suppress.edit.document_changes[1].edits[0].new_text)  # as the client would
    client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
    diagnostics = await wait_for_diagnostics(client, uri)
    rows = [d.data["row"] for d in diagnostics if d.code == "exact-duplicate"]
    assert dup.data["row"] not in rows and len(rows) == 1


async def test_edit_reanalyses_and_never_leaves_stale_diagnostics(client, dataset):
    uri = await open_and_wait(client, dataset)
    text = dataset.read_text()
    lines = text.splitlines()
    dup_line = next(i for i, line in enumerate(lines) if line.startswith("Quiet piano"))
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangePartial(
            range=types.Range(types.Position(dup_line, 0), types.Position(dup_line + 1, 0)), text="")]))
    diagnostics = await wait_for_diagnostics(client, uri)
    assert "exact-duplicate" not in {d.code for d in diagnostics}


async def test_configuration_change_reanalyses(client, dataset):
    uri = await open_and_wait(client, dataset)
    assert any(d.code == "near-duplicate" for d in client.diagnostics[uri])
    client.set_configuration({"semantic": False, "debounceMs": 50, "severity": {"near-duplicate": "off",
                                                                                 "exact-duplicate": "error"}},
                             section="lens")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    diagnostics = await wait_for_diagnostics(client, uri)
    assert not any(d.code == "near-duplicate" for d in diagnostics)
    assert all(d.severity == types.DiagnosticSeverity.Error for d in diagnostics if d.code == "exact-duplicate")
    client.set_configuration({**BASE_SETTINGS, "seedColumn": "tags", "seedValue": "seed"}, section="lens")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    assert any(d.code == "near-duplicate" for d in await wait_for_diagnostics(client, uri))


async def test_model_loading_reports_progress(client, dataset):
    await open_and_wait(client, dataset)
    for _ in range(100):
        if any(p.kind == "end" for reports in client.progress_reports.values() for p in reports):
            break
        await asyncio.sleep(0.1)
    titles = [p.title for reports in client.progress_reports.values() for p in reports if p.kind == "begin"]
    assert "Lens: loading models" in titles


async def test_malformed_and_binary_files_never_crash_the_server(client, tmp_path):
    bad = tmp_path / "bad.csv"
    text = 'a,b\n1,"never closed\n2,fine\n'
    uri = await open_and_wait(client, bad, text)
    assert [d.code for d in client.diagnostics[uri] if d.code != "missing-column"] == ["parse-error"]
    jsonl = tmp_path / "bad.jsonl"
    uri2 = await open_and_wait(client, jsonl, '{"text": "ok"}\n{not json\n[1,2]\n', language="jsonl")
    assert [d.range.start.line for d in client.diagnostics[uri2] if d.code == "parse-error"] == [1, 2]
    binary = tmp_path / "bin.csv"
    uri3 = await open_and_wait(client, binary, "a,b\n\x00\x01\x02")
    (diag,) = client.diagnostics[uri3]
    assert "not a text file" in diag.message
    # The server still answers.
    hover = await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(2, 0)))
    assert hover is None or hover.contents


async def test_half_typed_file_then_fixed(client, tmp_path):
    path = tmp_path / "typing.csv"
    uri = await open_and_wait(client, path, 'query\n"half typed')
    assert [d.code for d in client.diagnostics[uri] if d.code != "missing-column"] == ["parse-error"]
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangeWholeDocument(text='query\n"half typed"\n')]))
    assert [d.code for d in await wait_for_diagnostics(client, uri)] == ["missing-column"]  # no seed column here


async def test_cluster_requests(client, dataset):
    uri = await open_and_wait(client, dataset)
    result = await client.protocol.send_request_async("lens/clusters", {"uri": uri, "similarity": "pos", "k": 3})
    assert result.similarity == "pos" and result.k == 3
    assert sum(c.size for c in result.cut.clusters) == len(dataset_rows()) - 1
    assert result.tree_levels[0] == "syntax"
    rows = await client.protocol.send_request_async("lens/rows", {"uri": uri, "rows": list(result.cut.clusters[0].rows[:3])})
    first = rows.rows[0]
    assert first.tokens[0].pos and first.text.startswith(first.tokens[0].text)


async def test_analyze_file_on_disk_and_cancellation(client, tmp_path):
    path = tmp_path / "big.csv"
    rows = dataset_rows()
    with open(path, "w") as f:
        f.write(rows[0] + "\n")
        for i in range(3000):
            f.write(f"{rows[1 + i % (len(rows) - 1)].split(',')[0]} number {i},generated\n")
    uri = path.as_uri()
    result = await client.protocol.send_request_async("lens/analyzeFile", {"uri": uri})
    assert result.rows == 3000 and result.findings > 0
    assert uri in client.diagnostics
    # Cancelling a request ($/cancelRequest) stops its analysis: the answer is a
    # RequestCancelled error, and the server goes on serving.
    fresh = tmp_path / "fresh.csv"
    with open(fresh, "w") as f:  # rows the cache has never seen, so tagging takes a while
        f.write("query\n")
        for i in range(3000):
            f.write(f"a freshly written request number {i} about {['jazz', 'folk', 'metal'][i % 3]} for the evening\n")
    msg_id = "cancel-me"
    future = client.protocol.send_request("lens/analyzeFile", {"uri": fresh.as_uri()}, msg_id=msg_id)
    await asyncio.sleep(0.5)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
    with pytest.raises(Exception, match="(?i)cancel"):
        await asyncio.wrap_future(future)
    hover_started = time.perf_counter()
    await client.text_document_hover_async(types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(1, 0)))
    assert time.perf_counter() - hover_started < 2.0
    for _ in range(50):  # the worker thread notices at its next batch
        stats = await client.protocol.send_request_async("lens/stats", None)
        if stats.lastCancelLatencyMs is not None:
            break
        await asyncio.sleep(0.1)
    assert stats.lastCancelLatencyMs is not None and stats.lastCancelLatencyMs < 2000

