"""`lens`: the command line.  `lens analyze` lints a dataset; `lens serve`
starts the language server; the attribution commands come from
lens_engine.attribution.

Exit codes (documented in docs/cli.md): 0 nothing at or above --fail-on;
1 findings at or above --fail-on; 2 the input or the options could not be
used (missing or binary file, unknown column only, bad config, model missing);
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


def offline_environment() -> None:
    """Environment defaults every Lens process wants (CLI and server)."""
    # Nothing may reach a model hub; an offline failure is instant instead of ~70 s of retries.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # OpenMP's default spin-wait collapses throughput when anything else uses the CPU.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _add_analyze(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("analyze", help="find templates, repeated phrases, duplicates and seed copies in a dataset",
                       description="Analyse a CSV, TSV or JSONL dataset. Without PATH, the bundled sample.")
    p.add_argument("paths", nargs="*", metavar="PATH", help="dataset file(s) (default: the bundled sample)")
    p.add_argument("--column", "-c", action="append", default=None,
                   help="text column to analyse (repeatable; JSONL nested keys as a.b); default: the freest text column")
    p.add_argument("--seeds", metavar="FILE", help="few-shot seed examples (one per line, or CSV/JSONL)")
    p.add_argument("--seed-column", help="column that marks seed rows")
    p.add_argument("--seed-value", help="value of --seed-column that marks a seed (default: seed)")
    p.add_argument("--format", "-f", choices=("text", "json", "sarif"), default="text", help="output format")
    p.add_argument("--input-format", choices=("csv", "tsv", "jsonl"), help="override the format guessed from the extension")
    p.add_argument("--fail-on", choices=("error", "warning", "information", "hint", "never"), default="error",
                   help="exit 1 when a finding of this severity or worse is found (default: error)")
    p.add_argument("--no-semantic", action="store_true", help="skip embeddings (semantic duplicates and clusters)")
    p.add_argument("--no-syntax", action="store_true", help="skip spaCy tagging (templates, syntactic clusters)")
    p.add_argument("--no-clusters", action="store_true", help="skip the cluster hierarchy")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the per-row cache")
    p.add_argument("--config", metavar="FILE", help="a lens.toml or pyproject.toml (default: nearest to the dataset)")
    p.add_argument("--min-share", type=float, help="share of rows that makes a template or phrase dominant (default 0.02)")
    p.add_argument("--min-rows", type=int, help="rows that make a template or phrase dominant, at least (default 5)")
    p.add_argument("--near-threshold", type=float, help="near-duplicate similarity in [0,1] (default 0.85)")
    p.add_argument("--semantic-threshold", type=float, help="semantic-duplicate cosine floor (default 0.8; see docs/findings.md)")
    p.add_argument("--severity", action="append", default=[], metavar="CODE=LEVEL",
                   help="set a code's severity (error|warning|information|hint|off); repeatable")
    p.add_argument("--max-per-code", type=int, default=10, help="findings listed per code in text output (0: all)")
    p.add_argument("--output", "-o", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=run_analyze)


def _settings_from_args(args: argparse.Namespace, dataset: Path):
    from .config import load_settings, settings_from_mapping

    settings = load_settings(dataset, Path(args.config) if args.config else None)
    overrides: dict = {}
    if args.column:
        overrides["columns"] = args.column
    if args.seeds:
        overrides["seeds_file"] = str(Path(args.seeds).resolve())
    if args.seed_column:
        overrides["seed_column"] = args.seed_column
    if args.seed_value:
        overrides["seed_value"] = args.seed_value
    if args.input_format:
        overrides["format"] = args.input_format
    if args.no_semantic:
        overrides["semantic"] = False
    if args.no_syntax:
        overrides["syntax"] = False
    if args.no_clusters:
        overrides["clusters"] = False
    if args.no_cache:
        overrides["cache"] = False
    for name, value in (("min_share", args.min_share), ("min_rows", args.min_rows),
                        ("near_duplicate_threshold", args.near_threshold),
                        ("semantic_duplicate_threshold", args.semantic_threshold)):
        if value is not None:
            overrides[name] = value
    if args.severity:
        levels = {}
        for item in args.severity:
            code, _, level = item.partition("=")
            levels[code.strip()] = level.strip()
        overrides["severity"] = levels
    return settings_from_mapping(overrides, settings, "command line")


class _Bars:
    """tqdm progress bars on stderr, one per stage."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=stage, unit="row", file=sys.stderr, leave=False)
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def run_analyze(args: argparse.Namespace) -> int:
    from .analyze import SAMPLE_PATH, analyze_path
    from .config import ConfigError
    from .datasets import DatasetError
    from .findings import Severity
    from .report import as_json, as_sarif, as_text, merge_sarif
    from .syntax import ModelError

    paths = [Path(p) for p in args.paths] or [SAMPLE_PATH]
    results, status = [], EXIT_OK
    for path in paths:
        try:
            settings = _settings_from_args(args, path)
        except ConfigError as err:
            print(f"lens: {err}", file=sys.stderr)
            return EXIT_INPUT
        bars = _Bars(not args.quiet and sys.stderr.isatty())
        try:
            result = analyze_path(path, settings, progress=bars)
        except (DatasetError, ModelError) as err:
            print(f"lens: {err}", file=sys.stderr)
            status = EXIT_INPUT
            continue
        finally:
            bars.close()
        results.append(result)
        if not result.columns:
            status = EXIT_INPUT
        elif args.fail_on != "never" and status == EXIT_OK:
            limit = Severity.parse(args.fail_on)
            if any(f.severity <= limit for f in result.findings):
                status = EXIT_FINDINGS
    if args.format == "json":
        text = as_json(results[0]) if len(results) == 1 else "[" + ",\n".join(as_json(r) for r in results) + "]"
    elif args.format == "sarif":
        text = merge_sarif([as_sarif(r, Path.cwd()) for r in results])
    else:
        text = "\n\n".join(as_text(r, max_per_code=args.max_per_code or 10**9) for r in results)
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    elif text:
        sys.stdout.write(text + "\n")
    return status


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="start the Lens language server on stdio")
    p.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    try:
        from server.app import main as serve
    except ImportError as err:
        print(f"lens: the language server is not installed with this package: {err}", file=sys.stderr)
        return EXIT_INPUT
    serve()
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lens", description="Lens: what LLMs learn from data and what they produce.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_analyze(sub)
    _add_serve(sub)
    try:
        from .attribution.cli import register
    except ImportError:
        register = None
    if register is not None:
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    offline_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("lens: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
