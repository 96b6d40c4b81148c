"""Where the attribution engine keeps its caches (demo model, gradient stores)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "LENS_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """A user-private cache folder, created with mode 0o700.

    ``LENS_CACHE_DIR`` overrides the platform default so tests and CI can use a
    throw-away folder.
    """
    root = os.environ.get(CACHE_ENV)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("lens")
    path = Path(root, *parts)
    # mkdir's mode is masked by the umask, and an existing folder keeps its
    # mode, so set it explicitly on every folder we own.
    for folder in [Path(root), *(Path(root, *parts[: i + 1]) for i in range(len(parts)))]:
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o700)
    return path
