"""A second, independent LSP client: headless Neovim 0.7 (Debian's) starts the Lens
server on the bundled sample and must receive the engine's findings as diagnostics,
the same ones `lens analyze` reports for that file with the same settings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from e2e_paths import PYTHON, SAMPLE, SAMPLE_DIR

LUA_CLIENT = Path(__file__).with_name("neovim_client.lua")
# The sample's lens.toml, as editor settings: the server reads `lens.*` from its client.
SAMPLE_SETTINGS = {"columns": ["query"], "seedColumn": "tags", "seedValue": "seed"}


def run_neovim(workspace: Path, out: Path, timeout_s: int = 300) -> dict:
    xdg = workspace.parent / "xdg"
    env = {
        **os.environ,
        # Neovim writes under the home folder otherwise, even for --version.
        **{name: str(xdg / name.lower()) for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")},
        "LENS_PYTHON": str(PYTHON),
        "LENS_FILE": str(workspace / SAMPLE),
        "LENS_ROOT": str(workspace),
        "LENS_OUT": str(out),
        "LENS_SETTINGS": json.dumps({"lens": SAMPLE_SETTINGS}),
        "LENS_TIMEOUT_MS": str((timeout_s - 20) * 1000),
    }
    process = subprocess.Popen(["nvim", "--headless", "--clean", "-i", "NONE", "-c", f"luafile {LUA_CLIENT}"],
                               env=env, cwd=workspace, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    finally:
        # Neovim stops the server on exit; whatever is left of the group goes too.
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert out.exists(), f"Neovim wrote no result (exit {process.returncode}):\n{output[-3000:]}"
    return json.loads(out.read_text())


def cli_findings(workspace: Path) -> list[dict]:
    report = subprocess.run([str(PYTHON), "-m", "lens_engine.cli", "analyze", str(workspace / SAMPLE),
                             "--format", "json", "--no-clusters", "--fail-on", "never", "--quiet"],
                            check=True, capture_output=True, text=True, timeout=600)
    return json.loads(report.stdout)["findings"]


def key(code, line, character, message) -> tuple:
    return (code, line, character, message)


@pytest.mark.slow
def test_neovim_receives_the_lens_diagnostics(e2e_tools, tmp_path: Path) -> None:
    assert shutil.which("nvim"), "neovim is not installed (bash scripts/setup_e2e.sh)"
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copy(SAMPLE_DIR / SAMPLE, workspace / SAMPLE)
    shutil.copy(SAMPLE_DIR / "lens.toml", workspace / "lens.toml")  # for the CLI run below

    result = run_neovim(workspace, tmp_path / "neovim.json")

    assert result["ok"], f"no diagnostics within the time limit; server states: {result['statuses']}"
    diagnostics = result["lsp"]
    assert diagnostics and all(d["source"] == "lens" for d in diagnostics)
    # Neovim turned them into its own diagnostics for the buffer.
    assert len(result["nvim"]) == len(diagnostics)
    codes = Counter(d["code"] for d in diagnostics)
    assert {"exact-duplicate", "near-duplicate", "syntactic-template"} <= set(codes), codes
    duplicate = next(d for d in diagnostics if d["code"] == "exact-duplicate")
    assert duplicate["relatedInformation"], "a duplicate links to the rows it repeats"
    assert duplicate["codeDescription"]["href"].endswith("#exact-duplicate")
    assert "ready" in result["statuses"] or "analyzing" in result["statuses"]

    # The same findings as the engine's own report on that file with the same settings.
    expected = Counter(key(f["code"], f["range"]["start"]["line"], f["range"]["start"]["character"], f["message"])
                       for f in cli_findings(workspace))
    received = Counter(key(d["code"], d["range"]["start"]["line"], d["range"]["start"]["character"], d["message"])
                       for d in diagnostics)
    missing, extra = expected - received, received - expected
    missing_codes = sorted({code for code, *_ in missing})
    assert not missing and not extra, (
        f"{sum(missing.values())} findings of `lens analyze` not received (codes {missing_codes}), "
        f"{sum(extra.values())} extra; e.g. missing {list(missing)[:2]}, extra {list(extra)[:2]}"
        + ("; only seed findings are missing: the server did not apply the settings Neovim sent in "
           "workspace/didChangeConfiguration" if set(missing_codes) <= {"seed-copy", "seed-template"} else ""))
