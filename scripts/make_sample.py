"""Write Lens's bundled sample, ``lens_engine/data/music_requests.csv``.

The sample is made by ``lens_engine.sample_data.music_requests`` (seeded, pure
Python), so running this script again gives the same bytes.  ``--check``
regenerates it in memory and fails if the file on disk differs (for CI).

    .venv/bin/python scripts/make_sample.py            # write it, print what is planted
    .venv/bin/python scripts/make_sample.py --check    # verify the committed file
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lens_engine.sample_data import music_requests_dataset, write_csv, write_jsonl  # noqa: E402

SAMPLE_PATH = ROOT / "lens_engine" / "data" / "music_requests.csv"
SAMPLE_ROWS = 3000
SAMPLE_SEED = 0


def sample_bytes(n_rows: int = SAMPLE_ROWS, seed: int = SAMPLE_SEED) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = write_csv(music_requests_dataset(n_rows, seed).rows, Path(tmp) / "sample.csv")
        return path.read_bytes()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="write the bundled sample dataset")
    parser.add_argument("--out", type=Path, default=SAMPLE_PATH)
    parser.add_argument("--rows", type=int, default=SAMPLE_ROWS)
    parser.add_argument("--seed", type=int, default=SAMPLE_SEED)
    parser.add_argument("--jsonl", type=Path, help="also write the JSONL variant here")
    parser.add_argument("--check", action="store_true", help="fail if --out differs from a fresh generation")
    args = parser.parse_args(argv)

    if args.check:
        fresh = sample_bytes(args.rows, args.seed)
        if not args.out.exists() or args.out.read_bytes() != fresh:
            print(f"{args.out} is not what the generator makes; run scripts/make_sample.py", file=sys.stderr)
            return 1
        print(f"{args.out}: up to date ({len(fresh)} bytes)")
        return 0

    dataset = music_requests_dataset(args.rows, args.seed)
    write_csv(dataset.rows, args.out)
    if args.jsonl:
        write_jsonl(dataset.rows, args.jsonl)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    print(json.dumps(dataset.stats(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
