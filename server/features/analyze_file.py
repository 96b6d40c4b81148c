"""`lens/analyzeFile`: analyse a file on disk (too big for the editor to sync)."""

from __future__ import annotations

from lens_engine.datasets import DatasetError

from ..params import param


def register(server) -> None:
    register_stats(server)

    @server.feature("lens/analyzeFile")
    async def analyze_file(ls, params) -> dict:
        uri = param(params, "uri")
        try:
            state = await ls.analyze_file_on_disk(uri)
        except DatasetError as err:
            ls.publish_error(uri, None, err)
            return {"rows": 0, "findings": 0, "error": err.message}
        result = state.result
        return {"rows": result.rows if result else 0, "findings": len(result.findings) if result else 0}


def register_stats(server) -> None:
    @server.feature("lens/stats")
    def stats(ls, params) -> dict:
        """Internal figures for benchmarks: how long the last cancelled job ran on, and how
        long the last edit took to diagnostics (from the edit, less the debounce, to the
        publish being written)."""
        latency, rediagnose = ls.worker.last_cancel_latency, ls.last_rediagnose
        return {"lastCancelLatencyMs": None if latency is None else round(latency * 1000, 1),
                "lastRediagnoseMs": None if rediagnose is None else round(rediagnose * 1000, 1),
                "documents": len(ls.states)}
