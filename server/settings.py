"""The editor's `lens.*` settings, mapped onto the engine's Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from lens_engine.config import ConfigError, Settings, settings_from_mapping

# editor key -> engine key; the editor uses VS Code's camelCase.
_KEYS = {
    "columns": "columns",
    "seedColumn": "seed_column",
    "seedValue": "seed_value",
    "seedsFile": "seeds_file",
    "minShare": "min_share",
    "minRows": "min_rows",
    "nearDuplicateThreshold": "near_duplicate_threshold",
    "semanticDuplicateThreshold": "semantic_duplicate_threshold",
    "semanticNeighbours": "semantic_neighbours",
    "semanticNeighbourRatio": "semantic_neighbour_ratio",
    "semanticWordingRatio": "semantic_wording_ratio",
    "seedCopyThreshold": "seed_copy_threshold",
    "templateSimilarity": "template_similarity",
    "semantic": "semantic",
    "syntax": "syntax",
    "spacyModel": "spacy_model",
    "embeddingModel": "embedding_model",
    "severity": "severity",
}


@dataclass
class ServerSettings:
    engine: Settings = field(default_factory=lambda: Settings(clusters=False, scores=False))
    debounce_ms: int = 400
    device: str | None = None  # None: cuda when present
    max_diagnostics: int = 0  # 0: all; the VS Code extension sends 1000 (its per-file limit)
    explicit: dict = field(default_factory=dict)  # engine keys the editor set to non-default values

    def for_document(self, path: str | None) -> Settings:
        """Settings for one dataset: its lens.toml / [tool.lens] (nearest above it)
        first, then every editor setting the user changed from its default."""
        from pathlib import Path

        from lens_engine.config import load_settings

        if not path:
            return self.engine
        try:
            project = load_settings(Path(path), base=Settings(clusters=False, scores=False))
        except ConfigError:
            return self.engine
        return settings_from_mapping(self.explicit, project, "lens settings") if self.explicit else project


def server_settings(values: dict | None) -> tuple[ServerSettings, list[str]]:
    """Translate the client's `lens` section; unknown or bad values are reported, not fatal."""
    values = values or {}
    problems: list[str] = []
    mapped = {}
    for key, engine_key in _KEYS.items():
        value = values.get(key)
        if value in (None, "", []) and key not in ("semantic", "syntax"):
            continue
        if value is None:
            continue
        mapped[engine_key] = value
    device = values.get("device")
    if device and device != "auto":
        mapped["device"] = device
    try:
        engine = settings_from_mapping(mapped, Settings(clusters=False, scores=False), "lens settings")
    except (ConfigError, TypeError, ValueError) as err:
        problems.append(str(err))
        engine, mapped = Settings(clusters=False, scores=False), {}
    defaults = Settings(clusters=False, scores=False)
    explicit = {k: v for k, v in mapped.items()
                if getattr(engine, k) != getattr(defaults, k) and not (k == "severity" and not v)}
    debounce = values.get("debounceMs", 400)
    try:
        debounce = max(0, int(debounce))
    except (TypeError, ValueError):
        problems.append(f"lens.debounceMs must be a number, not {debounce!r}")
        debounce = 400
    max_diagnostics = values.get("maxDiagnostics", 0)
    if not isinstance(max_diagnostics, int) or max_diagnostics < 0:
        problems.append(f"lens.maxDiagnostics must be a whole number, not {max_diagnostics!r}")
        max_diagnostics = 0
    return ServerSettings(engine, debounce, engine.device, max_diagnostics, explicit), problems
