"""Lens in the real VS Code workbench (code-server in Chromium, driven by Playwright).

The scenarios live in vscode_workbench.js; this runs it and reports each scenario.
Screenshots and logs: test-artifacts/e2e/."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from e2e_paths import ARTIFACTS, REPO

SCRIPT = REPO / "tests" / "e2e" / "vscode_workbench.js"


@pytest.mark.slow
def test_lens_in_the_vscode_workbench(e2e_tools) -> None:
    # Its own process group, so that a timeout stops the browser and code-server too.
    process = subprocess.Popen(["node", str(SCRIPT)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        stdout, _ = process.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the workbench scenarios took longer than 15 minutes")
    summary = json.loads((ARTIFACTS / "e2e" / "summary.json").read_text())
    failed = {name: result.get("error") for name, result in summary["scenarios"].items() if not result["passed"]}
    assert not summary.get("error"), summary["error"]
    assert set(summary["scenarios"]) == {"diagnostics", "hover", "quick-fix", "show-rows", "clusters", "tree", "analyze-on-disk", "attribution", "restart"}
    assert not failed, f"scenarios failed: {failed} (screenshots in test-artifacts/e2e/)"
    assert process.returncode == 0, stdout[-2000:]
