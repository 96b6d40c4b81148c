"""The attribution results panel (vscode-extension/media/attribution.js) in Chromium.

attribution_panel.js builds the webview's page with the extension's own attributionHtml
(strict CSP, file:// assets), posts the saved server answers in
tests/fixtures/attribution/ as the extension does, and checks the cards, the histogram
linking, expanding, "Open in training file", the compare layout, the saved state, and
that nothing trips the CSP. It also measures the panel's render time (median of 5).
Screenshots and the summary: test-artifacts/panel/attribution-*."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from e2e_paths import ARTIFACTS, REPO

SCRIPT = REPO / "tests" / "e2e" / "attribution_panel.js"
FIXTURES = REPO / "tests" / "fixtures" / "attribution"
SCENARIOS = {"attribution", "linking", "expand-open", "compare", "state", "render-time"}


@pytest.mark.slow
def test_the_attribution_panel_in_chromium(e2e_tools) -> None:
    assert (FIXTURES / "attribution_view.json").is_file(), "the saved lens/attribute answer is missing"
    assert (FIXTURES / "compare_view.json").is_file(), "the saved lens/compare answer is missing"
    summary_file = ARTIFACTS / "panel" / "attribution-summary.json"
    summary_file.unlink(missing_ok=True)
    # Its own process group, so that a timeout stops the browser too.
    process = subprocess.Popen(["node", str(SCRIPT)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("the attribution panel scenarios took longer than 5 minutes")
    print(stderr[-3000:])  # the render times, shown with -s or on failure
    summary = json.loads(summary_file.read_text())
    assert not summary.get("error"), summary["error"]
    assert set(summary["scenarios"]) == SCENARIOS
    failed = {name: result.get("error") for name, result in summary["scenarios"].items() if not result["passed"]}
    assert not failed, f"scenarios failed: {failed} (screenshots in test-artifacts/panel/)"
    assert process.returncode == 0, stdout[-2000:]
    for kind in ("attribution", "compare"):
        timing = summary["render_ms"][kind]
        assert len(timing["runs"]) == 5
        # Generous: a few tens of ms on a quiet machine; this only catches a pathological slowdown.
        assert timing["median"] < 1000, f"{kind} took {timing['median']} ms to render"
    for screenshot in ("attribution-panel.png", "attribution-compare.png"):
        assert (ARTIFACTS / "panel" / screenshot).stat().st_size > 10_000
