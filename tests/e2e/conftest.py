"""Editor-level tests: they drive real editors (code-server in Chromium, headless Neovim)
against the real Lens server, so they are slow and need tools outside the Python
environment. The session fixture installs those once, idempotently."""

from __future__ import annotations

import os
import subprocess

import pytest
from e2e_paths import REPO


@pytest.fixture(scope="session")
def e2e_tools() -> None:
    """Chromium, Neovim, code-server, playwright-core and lens.vsix (scripts/setup_e2e.sh;
    quick when they are there already)."""
    if os.environ.get("LENS_E2E_SKIP_SETUP"):
        return
    subprocess.run(["bash", str(REPO / "scripts" / "setup_e2e.sh")], check=True, timeout=1200)
