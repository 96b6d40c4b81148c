"""Where the editor-level tests find things."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = REPO / ".venv" / "bin" / "python"
SAMPLE_DIR = REPO / "lens_engine" / "data"
SAMPLE = "music_requests.csv"
ARTIFACTS = REPO / "test-artifacts"
