"""The warm diversity scores (DiversityState) equal the one-pass ones after every kind of edit."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lens_engine import diversity as div
from lens_engine.diversity_state import CheckpointedDeflate, DiversityState
from lens_engine.syntax import TaggedText

_WORDS = ("can you recommend some songs for a rainy day I want upbeat jazz with piano "
          "please suggest music like Adele but slower what are the best tracks to study to").split()
_TAGS = ("VERB", "PRON", "NOUN", "DET", "ADP", "ADJ", "PUNCT", "AUX", "ADV")


def _row(rng: random.Random, shortest: int = 3) -> str:
    words = rng.choices(_WORDS[:12] if rng.random() < 0.5 else _WORDS, k=rng.randint(shortest, 14))
    text = " ".join(words)
    if rng.random() < 0.1:
        text = text.replace(" ", "  ", 1)  # a double space: an empty token for distinct-n
    return text


def _tagged(text: str) -> TaggedText:
    tokens = text.split()
    tags = [_TAGS[len(t) % len(_TAGS)] for t in tokens]
    return TaggedText(tokens, list(range(len(tokens))), tags, [""] * len(tokens), [0] * len(tokens))


def _vector(text: str) -> np.ndarray:
    rng = np.random.default_rng(abs(hash(text)) % (2**32))
    return rng.standard_normal(16).astype(np.float32)


def _edit(rows: list[str], rng: random.Random, shortest: int) -> None:
    kind = rng.choice(["reword", "insert", "delete", "copy", "swap", "same"])
    i = rng.randrange(len(rows))
    if kind == "reword":
        rows[i] = _row(rng, shortest)
    elif kind == "insert":
        rows.insert(i, _row(rng, shortest))
    elif kind == "delete" and len(rows) > 3:
        del rows[i]
    elif kind == "copy":
        rows.insert(i, rows[rng.randrange(len(rows))])
    elif kind == "swap":
        j = rng.randrange(len(rows))
        rows[i], rows[j] = rows[j], rows[i]


def _assert_same(warm: div.DiversityScores, cold: div.DiversityScores) -> None:
    # The compressed size depends on the gzip header's time stamp, as the package's does
    # (CheckpointedDeflate's bytes are checked exactly below).
    for name in ("compression_ratio", "pos_compression_ratio"):
        assert getattr(warm, name) == pytest.approx(getattr(cold, name), rel=0.02), name
    exact = ("n_rows", "distinct_1", "distinct_2", "distinct_3",
             "distinct_4", "ngram_diversity", "self_repetition", "homogenization_rougel", "self_bleu", "sample_size",
             "template_rate", "templates_per_token", "templates")
    for name in exact:
        assert getattr(warm, name) == getattr(cold, name), name
    for name in ("row_repetition", "row_self_repetition", "row_has_template", "row_templates_per_token"):
        assert np.array_equal(getattr(warm, name), getattr(cold, name)), name
    for name in ("vendi_score", "remote_clique", "chamfer_distance"):
        assert getattr(warm, name) == pytest.approx(getattr(cold, name), rel=1e-5, abs=1e-6), name


@pytest.mark.parametrize(("seed", "shortest"), [(0, 3), (1, 3), (2, 1)])
def test_warm_scores_equal_one_pass_scores_after_edits(seed: int, shortest: int) -> None:
    """Rows of ≥ 3 tokens take the cached boundary n-grams; shorter ones the general path."""
    rng = random.Random(seed)
    rows = [_row(rng, shortest) for _ in range(300)]
    state = DiversityState()
    for step in range(25):
        tagged = [_tagged(t) for t in rows]
        vectors = np.stack([_vector(t) for t in rows])
        # A small sample, so that edits land in it and the pairwise scores are redone.
        warm = state.scores(rows, tagged, vectors, sample_size=40, seed=3)
        cold = div.diversity_scores(rows, tagged, vectors, sample_size=40, seed=3)
        _assert_same(warm, cold)
        for _ in range(rng.choice([1, 1, 1, 3])):
            _edit(rows, rng, shortest)


def test_short_rows_let_ngrams_run_over_them() -> None:
    """A row of one or two tokens: the joined text's n-grams span it into the next rows."""
    rows = ["a b c d", "x", "y z", "a b", "c d e f g", "x"]
    state = DiversityState()
    for _ in range(2):
        assert state.scores(rows).distinct_4 == div.diversity_scores(rows).distinct_4
        rows[1] = "q"


def test_checkpointed_deflate_gives_one_calls_bytes() -> None:
    import zlib

    rng = random.Random(4)
    payload = " ".join(_row(rng) for _ in range(20_000)).encode()
    deflate = CheckpointedDeflate(checkpoints=16, min_step=4096)
    for _ in range(6):
        assert deflate.raw(payload) == zlib.compress(payload, 9, wbits=-15)
        at = rng.randrange(len(payload))
        payload = payload[:at] + b"edited " + payload[at + rng.randrange(0, 30):]
    assert deflate.raw(payload[:1000]) == zlib.compress(payload[:1000], 9, wbits=-15)
    assert deflate.raw(b"") == zlib.compress(b"", 9, wbits=-15)


def test_checkpointed_deflate_resumes_from_the_last_checkpoint_before_an_edit() -> None:
    import zlib

    rng = random.Random(5)
    payload = " ".join(_row(rng) for _ in range(20_000)).encode()
    deflate = CheckpointedDeflate(checkpoints=16, min_step=4096)
    deflate.raw(payload)
    step = len(payload) // 16
    for at in (len(payload) - 10, len(payload) // 2 + 17, 3 * step + 1, 5, step):
        payload = payload[:at] + b"X" + payload[at + 1:]
        assert deflate.raw(payload) == zlib.compress(payload, 9, wbits=-15)
        assert at - step < deflate.resumed_at <= at, (at, deflate.resumed_at)
    # Longer, shorter and the same payload again.
    for payload in (payload + b" more", payload[: len(payload) // 3], payload[: len(payload) // 3]):
        assert deflate.raw(payload) == zlib.compress(payload, 9, wbits=-15)
    assert deflate.resumed_at > len(payload) - step


def test_a_ratio_still_queued_is_computed_by_the_caller_that_needs_it() -> None:
    import threading

    from lens_engine import diversity_state as ds

    rng = random.Random(6)
    payload = " ".join(_row(rng) for _ in range(2_000)).encode()
    expected = ds._CompressionRatio().value(payload)
    release = threading.Event()
    blocker = ds._COMPRESSORS.submit(release.wait, 30)  # the compressor thread is busy
    try:
        ratio = ds._CompressionRatio()
        queued = ratio.of(payload)
        assert ratio.value(payload) == pytest.approx(expected, rel=1e-3)  # did not wait for the thread
        assert queued.cancelled()
        assert not blocker.done()
        assert ratio.of(payload) is not queued  # a cancelled future is not handed out again
    finally:
        release.set()
    blocker.result(timeout=30)
