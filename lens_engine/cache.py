"""Per-row results by content hash, so a second run redoes only edited rows.

The costly per-row work (spaCy tags, embeddings) is stored as msgpack in a
SQLite file under the user's private cache folder.  A namespace folds in the
model and settings that produced the values, so changing either misses.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import msgpack

_SCHEMA = "CREATE TABLE IF NOT EXISTS rows (ns TEXT NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (ns, key))"
_CHUNK = 500  # SQLite's variable limit is 999 on old builds


def cache_dir() -> Path:
    """``$LENS_CACHE_DIR``, else the platform's user cache folder; made private (0700)."""
    override = os.environ.get("LENS_CACHE_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("lens", appauthor=False))
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        os.chmod(path, 0o700)
    except OSError:
        pass
    return path


@lru_cache(maxsize=262_144)  # each analysis keys every row several times (tags, embeddings, pairs)
def content_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", errors="surrogatepass"), digest_size=16).digest()


class RowCache:
    """A key → msgpack value store; thread-safe, one SQLite connection per thread."""

    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / "rows.sqlite"
        self._local = threading.local()
        with self._connect() as db:
            db.execute(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    def get_many(self, namespace: str, keys: Sequence[bytes]) -> dict[bytes, object]:
        db = self._connect()
        found: dict[bytes, object] = {}
        unique = list(dict.fromkeys(keys))
        for i in range(0, len(unique), _CHUNK):
            chunk = unique[i : i + _CHUNK]
            marks = ",".join("?" * len(chunk))
            for key, value in db.execute(f"SELECT key, value FROM rows WHERE ns = ? AND key IN ({marks})", [namespace, *chunk]):
                found[bytes(key)] = msgpack.unpackb(value, raw=False)
        return found

    def put_many(self, namespace: str, items: Iterable[tuple[bytes, object]]) -> None:
        db = self._connect()
        with db:
            db.executemany(
                "INSERT OR REPLACE INTO rows (ns, key, value) VALUES (?, ?, ?)",
                ((namespace, key, msgpack.packb(value, use_bin_type=True)) for key, value in items),
            )

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None
