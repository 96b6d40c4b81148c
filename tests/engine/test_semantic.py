"""Embeddings, semantic duplicates and clusters, with the real bundled MiniLM where it matters."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from lens_engine.semantic import (
    DEFAULT_EMBEDDING_MODEL,
    DuplicateRule,
    EmbeddingModelNotFound,
    embed_texts,
    load_embedding_model,
    normalize_rows,
    semantic_clusters,
    semantic_duplicates,
)

# Four topics, two paraphrases each (rows 2t and 2t+1), and an unrelated row.
PARAPHRASES = [
    "How do I fix a flat bike tyre?",
    "What's the way to repair a punctured bicycle tire?",
    "Recommend some upbeat songs for running.",
    "Can you suggest energetic music to jog to?",
    "The stock market fell sharply today.",
    "Shares dropped steeply on the exchange today.",
    "My cat sleeps on the sofa all afternoon.",
    "All afternoon long, my cat naps on the couch.",
    "Photosynthesis turns light into chemical energy.",
]


def plain(threshold: float) -> DuplicateRule:
    """The cosine threshold alone (the neighbour and wording tests are in test_semantic_margin)."""
    return DuplicateRule(threshold, neighbour_ratio=0, wording_ratio=0)


def brute_force_pairs(embeddings: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    sim = embeddings @ embeddings.T
    n = len(embeddings)
    return [(i, j) for i in range(n) for j in range(i + 1, n) if sim[i, j] >= threshold]


def test_missing_model_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(EmbeddingModelNotFound) as error:
        load_embedding_model(str(missing))
    message = str(error.value)
    assert str(missing) in message
    assert "embedding_model" in message
    assert isinstance(error.value, FileNotFoundError)


def test_a_folder_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(EmbeddingModelNotFound, match="embedding_model"):
        load_embedding_model(str(tmp_path))


def test_a_hub_name_is_not_downloaded(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # so the name cannot be a folder here
    with pytest.raises(EmbeddingModelNotFound, match="sentence-transformers/all-MiniLM-L6-v2"):
        load_embedding_model("sentence-transformers/all-MiniLM-L6-v2")


def test_default_model_is_the_bundled_folder():
    folder = Path(DEFAULT_EMBEDDING_MODEL)
    assert folder.is_dir()
    assert (folder / "modules.json").is_file()


def test_semantic_duplicates_equal_brute_force_in_any_block_size():
    rng = np.random.default_rng(3)
    base = normalize_rows(rng.normal(size=(40, 16)))
    near = normalize_rows(base[:10] + 0.05 * rng.normal(size=(10, 16)))
    embeddings = np.vstack([base, near, base[:3]])  # planted: near-copies and exact copies
    expected = brute_force_pairs(embeddings, 0.95)
    assert len(expected) >= 13
    for block_rows in (None, 1, 7):
        pairs = semantic_duplicates(embeddings, plain(0.95), block_rows=block_rows)
        assert [(i, j) for i, j, _ in pairs] == expected
        assert all(0.95 <= s <= 1.0 for _, _, s in pairs)


def test_semantic_duplicates_of_no_rows():
    assert semantic_duplicates(np.zeros((0, 8), dtype=np.float32)) == []


def test_semantic_clusters_recover_planted_groups():
    rng = np.random.default_rng(0)
    centres = normalize_rows(rng.normal(size=(3, 32)))
    truth = np.repeat([0, 1, 2], [20, 12, 8])
    embeddings = normalize_rows(centres[truth] + 0.1 * rng.normal(size=(40, 32)))
    labels = semantic_clusters(embeddings)  # k chosen by the dendrogram's largest jump
    assert len(set(labels)) == 3
    # one label per planted group, largest group first
    assert [set(labels[truth == g]) for g in range(3)] == [{0}, {1}, {2}]


@pytest.fixture(scope="module")
def paraphrase_embeddings(embedding_model) -> np.ndarray:
    return embed_texts(PARAPHRASES, embedding_model, batch_size=4)


def test_embeddings_are_normalised_float32_in_input_order(embedding_model, paraphrase_embeddings):
    assert paraphrase_embeddings.dtype == np.float32
    assert paraphrase_embeddings.shape == (len(PARAPHRASES), 384)
    np.testing.assert_allclose(np.linalg.norm(paraphrase_embeddings, axis=1), 1.0, atol=1e-5)
    one_by_one = embed_texts([PARAPHRASES[5]], embedding_model)
    np.testing.assert_allclose(paraphrase_embeddings[5], one_by_one[0], atol=1e-4)


def test_embedding_reports_progress(embedding_model):
    calls = []
    embed_texts(PARAPHRASES[:5], embedding_model, batch_size=2, progress=lambda *args: calls.append(args))
    assert calls == [(2, 5), (4, 5), (5, 5)]
    assert embed_texts([], embedding_model).shape == (0, 384)


def test_loading_keeps_the_hub_offline(embedding_model):
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_paraphrases_pair_up_and_near_copies_are_duplicates(embedding_model, paraphrase_embeddings):
    # MiniLM puts these paraphrases at cosine ~0.6-0.8 and unrelated rows
    # near 0, so a loose threshold finds exactly the planted pairs...
    pairs = semantic_duplicates(paraphrase_embeddings, plain(0.5))
    assert [(i, j) for i, j, _ in pairs] == [(0, 1), (2, 3), (4, 5), (6, 7)]
    # ...while 0.95 keeps only near-copies.
    assert semantic_duplicates(paraphrase_embeddings, plain(0.95)) == []
    texts = ["How do I fix a flat bike tyre?", "how do I fix a flat bike tyre", "How do I fix a flat car tyre?"]
    near_copies = semantic_duplicates(embed_texts(texts, embedding_model), plain(0.95))
    assert [(i, j) for i, j, _ in near_copies] == [(0, 1)]


def test_paraphrase_clusters(paraphrase_embeddings):
    labels = semantic_clusters(paraphrase_embeddings[:8], k=4)
    assert [labels[2 * t] == labels[2 * t + 1] for t in range(4)] == [True] * 4
    assert len(set(labels)) == 4
