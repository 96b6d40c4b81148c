"""`lens/analyzeFile`: analyse a file on disk (too big for the editor to sync)."""

from __future__ import annotations

from lens_engine.datasets import DatasetError

from .clusters import param


def register(server) -> None:
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
