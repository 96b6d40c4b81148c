"""The VS Code extension's unit tests (a mocked `vscode` module; node's test runner),
run from pytest so the README's one test command covers them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "vscode-extension"


def test_extension_unit_tests_pass():
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    if not (EXTENSION / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-fund", "--no-audit", "--loglevel=error"], cwd=EXTENSION, check=True,
                       timeout=600)
    out = subprocess.run(["npm", "test", "--silent"], cwd=EXTENSION, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "# fail 0" in out.stdout, out.stdout[-2000:]
