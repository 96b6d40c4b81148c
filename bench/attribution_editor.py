"""The attribution lens's latencies as the editor sees them: a real LSP client over stdio.

Figures (issue 5): the first attribution, including loading the model and building the
gradient store (a fresh cache: nothing warm on disk either); the first attribution of a
restarted server (store on disk, model to load); warm query latency end to end (request
sent → answer parsed, every query new: no answer cache); a repeated query (answer cache);
lens/compare and lens/generate warm.  The full demo model (`lens demo` builds it once).

    .venv/bin/python bench/attribution_editor.py [--repeat 3] [--queries 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_common import fmt_runs, load_average, median, print_table, set_quiet_env  # noqa: E402
from server_latency import Client, stop  # noqa: E402
from server_latency import start as start_server  # noqa: E402



async def start(settings: dict, cache: str):
    client, _ = await start_server(settings, cache)
    return client


def query(question: str, answer: str, part: str | None = None) -> dict:
    text = f"# Answers\n\nQuestion: {question}\nAnswer: {answer}\n"
    part = part or answer
    start = text.rindex(part)
    line = text[:start].count("\n")
    col = start - (text[:start].rfind("\n") + 1)
    rng = {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + len(part)}}
    return {"uri": "file:///bench/answers.md", "text": text, "range": rng, "tokenLevel": True}


async def timed_request(client: Client, method: str, params: dict) -> tuple[float, object]:
    t0 = time.perf_counter()
    result = await client.protocol.send_request_async(method, params)
    return time.perf_counter() - t0, result


async def run(repeat: int, n_queries: int) -> None:
    set_quiet_env()
    from lens_engine.attribution.demo import DemoConfig, ensure_demo, write_workspace

    paths = ensure_demo(DemoConfig())
    rows = [json.loads(line) for line in paths.train.read_text().splitlines() if line.strip()]
    cold, restarted, warm, cached, compare, generate = [], [], [], [], [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="lens-bench-attr-") as tmp:
            folder = write_workspace(Path(tmp) / "ws", paths, [])
            settings = {"semantic": False, "attribution": {
                "model": str(paths.base), "adapter": str(paths.adapter), "trainingData": str(folder / "train.jsonl")}}
            cache = str(Path(tmp) / "cache")
            client = await start(settings, cache)
            seconds, _ = await timed_request(client, "lens/attribute", query(rows[0]["prompt"], rows[0]["response"]))
            cold.append(seconds)
            # Every query new: a different row's question and answer, then a part of it.
            for i in range(n_queries):
                r = rows[1 + i % (len(rows) - 1)]
                part = None if i < len(rows) - 1 else r["response"].rstrip(".")
                seconds, view = await timed_request(client, "lens/attribute", query(r["prompt"], r["response"], part))
                assert not view.cached
                warm.append(seconds)
            seconds, view = await timed_request(client, "lens/attribute", query(rows[1]["prompt"], rows[1]["response"]))
            assert view.cached
            cached.append(seconds)
            for i in range(3):
                r = rows[i]
                params = {**query(r["prompt"], r["response"]), "userText": "Something else entirely."}
                compare.append((await timed_request(client, "lens/compare", params))[0])
                generate.append((await timed_request(client, "lens/generate", {"prompt": r["prompt"], "maxNewTokens": 12}))[0])
            await stop(client)
            client = await start(settings, cache)
            seconds, _ = await timed_request(client, "lens/attribute", query(rows[0]["prompt"], rows[0]["response"]))
            restarted.append(seconds)
            await stop(client)
    print_table(
        f"Attribution over LSP, full demo model ({len(rows)} examples, 3 checkpoints), CPU; load {load_average()}",
        ["what", "median", "runs"],
        [
            ["first attribution, fresh cache (model + store build + query)", f"{median(cold):.2f} s", fmt_runs(cold)],
            ["first attribution after a restart (store on disk)", f"{median(restarted):.2f} s", fmt_runs(restarted)],
            ["warm attribution, new query, with token level", f"{median(warm) * 1000:.0f} ms", f"{len(warm)} queries, max {max(warm) * 1000:.0f} ms"],
            ["repeated query (answer cache)", f"{median(cached) * 1000:.1f} ms", f"{len(cached)} runs"],
            ["lens/compare (two attributions)", f"{median(compare) * 1000:.0f} ms", f"{len(compare)} runs"],
            ["lens/generate (12 tokens)", f"{median(generate) * 1000:.0f} ms", f"{len(generate)} runs"],
        ],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="fresh servers (cold and restart figures)")
    parser.add_argument("--queries", type=int, default=20, help="warm queries per server")
    args = parser.parse_args()
    asyncio.run(run(args.repeat, args.queries))


if __name__ == "__main__":
    main()
