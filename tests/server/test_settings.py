"""The extension's `lens.*` defaults are the engine's: a default that differs would be sent
as an explicit setting and override the user's lens.toml."""

import json
from pathlib import Path

from lens_engine.config import Settings
from server.settings import _KEYS, server_settings

PACKAGE = Path(__file__).resolve().parents[2] / "vscode-extension" / "package.json"


def extension_defaults() -> dict:
    configuration = json.loads(PACKAGE.read_text(encoding="utf-8"))["contributes"]["configuration"]
    sections = configuration if isinstance(configuration, list) else [configuration]
    return {key[len("lens."):]: spec.get("default")
            for section in sections for key, spec in section["properties"].items()}


def test_every_mapped_setting_has_the_engines_default():
    defaults, engine = extension_defaults(), Settings()
    for key, engine_key in _KEYS.items():
        assert key in defaults, f"lens.{key} is not contributed"
        value = defaults[key]
        if value in ("", None):  # empty: the engine's own default (a bundled model, no seed column)
            continue
        assert value == getattr(engine, engine_key), f"lens.{key}: {value!r} vs the engine's {getattr(engine, engine_key)!r}"


def test_the_extensions_defaults_set_nothing_explicitly():
    settings, problems = server_settings(extension_defaults())
    assert problems == []
    assert settings.explicit == {}
