"""The attribution lens over LSP: a real server process, the tiny demo model.

The tiny demo (a 2-layer model fine-tuned on 12 facts, ~12 s to build) does not learn
its planted fact reliably, so these tests check the protocol, ranges, errors and
cancellation; tests/attribution and the code-server scenario check that the full demo
attributes its wrong answer to the planted row.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from lsp_helpers import BASE_SETTINGS, open_and_wait
from server.params import as_dict  # the server's own: namedtuples from pygls as plain dicts

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(tempfile.mkdtemp(prefix="lens-attr-cache-"))
atexit.register(shutil.rmtree, CACHE, True)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SERVER = ClientServerConfig(
    server_command=[sys.executable, "-m", "server"],
    server_env={**os.environ, "PYTHONPATH": str(REPO), "LENS_LOG_LEVEL": "WARNING", "LENS_CACHE_DIR": str(CACHE)},
)


def build_demos():
    old = os.environ.get("LENS_CACHE_DIR")
    os.environ["LENS_CACHE_DIR"] = str(CACHE)
    try:
        import torch

        from lens_engine.attribution.demo import ensure_demo, tiny_config

        torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
        tiny = ensure_demo(tiny_config(), progress=False)
        # Another base model (wider): its adapter doesn't fit the tiny base.
        other = ensure_demo(replace(tiny_config(), hidden=48, seed=8), progress=False)
        return tiny, other
    finally:
        if old is None:
            os.environ.pop("LENS_CACHE_DIR", None)
        else:
            os.environ["LENS_CACHE_DIR"] = old


DEMOS = None


def demos():
    global DEMOS
    if DEMOS is None:
        DEMOS = build_demos()
    return DEMOS


def attribution_settings(tiny, **changes) -> dict:
    values = {"model": str(tiny.base), "adapter": str(tiny.adapter), "trainingData": str(tiny.train)}
    values.update(changes)
    return {**BASE_SETTINGS, "attribution": values}


@pytest_lsp.fixture(config=SERVER, scope="module")
async def client(lsp_client: LanguageClient):
    tiny, _ = demos()
    lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)(lambda params: None)
    lsp_client.feature(types.WORKSPACE_CODE_LENS_REFRESH)(lambda params: None)
    statuses = []
    lsp_client.feature("lens/status")(lambda params: statuses.append(params))
    lsp_client.lens_statuses = statuses
    lsp_client.set_configuration(attribution_settings(tiny), section="lens")
    await lsp_client.initialize_session(types.InitializeParams(capabilities=client_capabilities("visual-studio-code")))
    yield
    await lsp_client.shutdown_session()


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def document(question: str, answer: str) -> str:
    return f"# Model answers\n\nQuestion: {question}\nAnswer: {answer}\n\nSomething else.\n"


def selection(text: str, part: str) -> dict:
    """The LSP range of the last occurrence of ``part`` (ASCII text)."""
    start = text.rindex(part)
    before = text[:start]
    line = before.count("\n")
    col = len(before) - (before.rfind("\n") + 1)
    return {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + len(part)}}


def text_at(text: str, rng: dict) -> str:
    lines = text.split("\n")
    s, e = rng["start"], rng["end"]
    assert s["line"] == e["line"]
    return lines[s["line"]][s["character"]:e["character"]]


async def request(client, method: str, params: dict, timeout: float = 180):
    return await asyncio.wait_for(client.protocol.send_request_async(method, params), timeout)


async def test_attribute_a_selection_then_from_the_cache(client):
    tiny, _ = demos()
    row = rows_of(tiny.train)[0]
    text = document(row["prompt"], row["response"])
    answer = row["response"].rstrip(".")
    params = {"uri": "file:///tmp/answers.md", "text": text, "range": selection(text, answer), "tokenLevel": True}
    first = as_dict(await request(client, "lens/attribute", params))
    assert first["prompt"] == row["prompt"] and first["promptSource"] == "template"
    assert text_at(text, first["spanRanges"][0]) == answer
    assert first["cached"] is False
    result = first["result"]
    assert result["selected_text"] == answer
    assert result["supporting"] and result["n_examples"] == len(rows_of(tiny.train))
    train_lines = tiny.train.read_text().splitlines()
    for example in result["supporting"] + result["opposing"]:
        loc = example["location"]
        assert loc["uri"] == tiny.train.resolve().as_uri()
        # Jump-to-source lands on the example's own line in the training file.
        assert json.loads(train_lines[loc["range"]["start"]["line"]]) == example["fields"]
        assert len(example["checkpoint_scores"]) == 2
        assert example["baseline_ranks"]["bm25"] >= 1
    assert [e["score"] for e in result["supporting"]] == sorted((e["score"] for e in result["supporting"]), reverse=True)
    assert len(result["baselines"]["bm25"]) == len(result["baselines"]["exact"]) == min(10, result["n_examples"])
    tokens = result["token_level"]
    assert len(tokens["ranges"]) == len(tokens["tokens"]) and any(tokens["selected"])
    # The model was loaded with work-done progress, and the status says it is ready.
    assert any(getattr(s, "attribution", None) and s.attribution.state == "ready" for s in client.lens_statuses)

    second = as_dict(await request(client, "lens/attribute", params))
    assert second["cached"] is True
    assert second["result"]["supporting"] == result["supporting"]

    recent = as_dict(await request(client, "lens/attributions", {}))["attributions"]
    assert recent[0]["id"] == second["id"] and recent[0]["selectedText"] == answer


async def test_compare_generate_and_token_scores(client):
    tiny, _ = demos()
    row = rows_of(tiny.train)[1]
    generated = as_dict(await request(client, "lens/generate", {"prompt": row["prompt"], "maxNewTokens": 8}))
    assert generated["insertText"].startswith(f"Question: {row['prompt']}\nAnswer:")
    assert generated["insertText"][generated["answerOffset"]:].strip() == generated["text"]

    text = document(row["prompt"], generated["text"] or "Nothing.")
    answer_line = text.split("\n")[3]
    rng = selection(text, answer_line[len("Answer: "):])
    compared = as_dict(await request(client, "lens/compare", {"uri": "file:///tmp/a.md", "text": text, "range": rng,
                                                             "userText": "Sennoron."}))
    c = compared["compare"]
    assert c["user_text"] == "Sennoron." and c["diff"]
    assert c["model"]["supporting"] or c["model"]["opposing"]
    assert all("location" in e for e in c["favour_model"] + c["favour_user"])

    scores = as_dict(await request(client, "lens/tokenScores", {"uri": "file:///tmp/a.md", "text": text, "range": rng, "rows": [0, 1]}))
    assert scores["rows"] == [0, 1]
    assert len(scores["contributions"]) == 2 and len(scores["contributions"][0]) == len(scores["tokens"])


async def test_no_prompt_before_the_selection_asks_for_one(client):
    text = "Vegaria is the answer, said the model.\n"
    params = {"uri": "file:///tmp/log.txt", "text": text, "range": selection(text, "Vegaria")}
    with pytest.raises(JsonRpcException) as err:
        await request(client, "lens/attribute", params)
    assert err.value.code == -32001 and "no prompt found" in err.value.message
    assert as_dict(err.value.data)["reason"] == "no-prompt"
    view = as_dict(await request(client, "lens/attribute", {**params, "prompt": "What is the capital of Norveland?"}))
    assert view["promptSource"] == "given" and view["result"]["selected_text"] == "Vegaria"


async def test_a_cancelled_attribution_answers_request_cancelled(client):
    tiny, _ = demos()
    row = rows_of(tiny.train)[2]
    text = document(row["prompt"], row["response"])
    params = {"uri": "file:///tmp/c.md", "text": text, "range": selection(text, row["response"]), "topK": 3,
              "method": "gradcos"}
    future = client.protocol.send_request("lens/attribute", params, msg_id="lens-cancel-1")
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="lens-cancel-1"))
    with pytest.raises(Exception) as err:
        await asyncio.wait_for(asyncio.wrap_future(future), 60)
    assert "cancel" in str(err.value).lower()
    # The server goes on answering.
    view = as_dict(await request(client, "lens/attribute", params))
    assert len(view["result"]["supporting"]) <= 3


async def test_reverse_view_and_self_influence_outliers_in_the_training_file(client):
    tiny, _ = demos()
    # A low threshold so that the tiny model has outliers to show (3.5 by default).
    client.set_configuration(attribution_settings(tiny, outlierThreshold=0.5), section="lens")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    row = rows_of(tiny.train)[0]
    text = document(row["prompt"], row["response"])
    view = as_dict(await request(client, "lens/attribute", {"uri": "file:///tmp/r.md", "text": text,
                                                           "range": selection(text, row["response"])}))
    uri = await open_and_wait(client, tiny.train, language="jsonl")
    diagnostics = client.diagnostics[uri]
    outliers = [d for d in diagnostics if d.code == "self-influence-outlier"]
    assert outliers, [d.code for d in diagnostics]
    assert all(d.source == "lens" and d.code_description.href.endswith("#self-influence-outlier") for d in outliers)
    assert all(d.data["zScore"] > 0.5 for d in outliers)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(types.TextDocumentIdentifier(uri)))
    influenced = [lens for lens in lenses if lens.command and lens.command.command == "lens.revealAttribution"]
    top = view["result"]["supporting"][0]
    assert any(lens.range.start.line == top["location"]["range"]["start"]["line"] and "supports" in lens.command.title
               for lens in influenced), [lens.command.title for lens in influenced]
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    client.set_configuration(attribution_settings(tiny), section="lens")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))


async def test_missing_model_folder_and_mismatched_adapter_are_user_errors(client, tmp_path):
    tiny, other = demos()
    text = document("What is the capital of Norveland?", "Vegaria.")
    params = {"uri": "file:///tmp/e.md", "text": text, "range": selection(text, "Vegaria")}
    try:
        client.set_configuration(attribution_settings(tiny, model=str(tmp_path / "no-such-model")), section="lens")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
        with pytest.raises(JsonRpcException) as err:
            await request(client, "lens/attribute", params)
        assert err.value.code == -32001 and "no-such-model" in err.value.message

        client.set_configuration(attribution_settings(tiny, adapter=str(other.adapter)), section="lens")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
        with pytest.raises(JsonRpcException) as err:
            await request(client, "lens/attribute", params)
        assert err.value.code == -32001 and "adapter" in err.value.message.lower()
        assert any(getattr(s, "attribution", None) and s.attribution.state == "error" for s in client.lens_statuses)
    finally:
        client.set_configuration(attribution_settings(tiny), section="lens")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        await asyncio.sleep(0.5)
    view = as_dict(await request(client, "lens/attribute", params))
    assert view["result"]["supporting"] or view["result"]["opposing"]
