"""The cache is private to the user and can be moved with LENS_CACHE_DIR."""

from __future__ import annotations

import stat

from lens_engine.attribution.paths import cache_dir


def test_cache_dir_is_private_and_overridable(tmp_path, monkeypatch):
    root = tmp_path / "cache"
    monkeypatch.setenv("LENS_CACHE_DIR", str(root))
    path = cache_dir("stores", "x")
    assert path == root / "stores" / "x" and path.is_dir()
    for folder in (root, root / "stores", path):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
