"""A 50 MB dataset through `lens/analyzeFile`: files VS Code will not sync to extensions
(it stops at 50 MB) are read from disk, streaming, and still get their diagnostics."""

from __future__ import annotations

import asyncio
import random
import time

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

TARGET_BYTES = 50 * 1024 * 1024


def vocabulary(size: int, rng: random.Random) -> list[str]:
    """Random letter strings: unrelated rows share few character shingles, as unrelated
    English rows do (words built from a few syllables would make every row look alike)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < size:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def write_large_csv(path, duplicate_every: int = 997) -> tuple[int, set[int]]:
    """Diverse rows (random words: no dominant template to cluster) with an exact copy of
    an earlier row every ``duplicate_every`` rows.  Returns (rows, the copies' row indices)."""
    rng = random.Random(0)
    words = vocabulary(20000, rng)
    written, rows, copies = 0, [], set()
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write("id,text\n")
        while written < TARGET_BYTES:
            i = len(rows)
            if i and i % duplicate_every == 0:
                text = rows[rng.randrange(i - 500 if i > 500 else 0, i)]
                copies.add(i)
            else:
                text = " ".join(rng.choice(words) for _ in range(rng.randint(60, 120)))
            rows.append(text)
            line = f"{i},{text}\n"
            f.write(line)
            written += len(line)
    return len(rows), copies


async def test_a_50_mb_file_is_analysed_on_disk(client, tmp_path):
    path = tmp_path / "large.csv"
    n_rows, copies = write_large_csv(path)
    assert path.stat().st_size >= TARGET_BYTES
    # Lexical analysis only, as a project would configure a file this size.
    (tmp_path / "lens.toml").write_text("syntax = false\nsemantic = false\ncolumns = [\"text\"]\n")
    uri = path.as_uri()
    started = time.perf_counter()
    result = await asyncio.wait_for(client.protocol.send_request_async("lens/analyzeFile", {"uri": uri}), 900)
    seconds = time.perf_counter() - started
    assert result.rows == n_rows
    diagnostics = client.diagnostics[uri]
    duplicates = {d.data["row"] for d in diagnostics if d.code == "exact-duplicate"}
    # Every planted copy is found (with the row it copies), at its own line.
    assert copies <= duplicates, sorted(copies - duplicates)[:10]
    lines = {d.data["row"]: d.range.start.line for d in diagnostics if d.code == "exact-duplicate"}
    assert all(lines[row] == row + 1 for row in copies)
    print(f"\n50 MB on disk: {n_rows} rows, {result.findings} findings in {seconds:.1f} s")
