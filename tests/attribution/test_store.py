"""The gradient store: file format, reuse, and rebuilding only changed rows."""

from __future__ import annotations

import json

import msgpack
import numpy as np
import pytest
import torch

from lens_engine.attribution.errors import StoreError
from lens_engine.attribution.store import MAGIC, StoreSettings, build_store, open_store
from lens_engine.attribution.training_data import load_training_set


def rebuild(attributor, train_path, store_path, dtype="float32"):
    training = load_training_set(train_path, attributor.training.format, attributor.loaded.tokenizer, attributor.loaded.max_length)
    store = build_store(attributor.loaded, training, attributor.computer, StoreSettings(dtype=dtype), store_path, progress=False)
    return training, store


def test_header_is_msgpack_with_hashes(attributor):
    raw = attributor.store.path.read_bytes()
    assert raw.startswith(MAGIC)
    length = int.from_bytes(raw[8:16], "little")
    header = msgpack.unpackb(raw[16 : 16 + length], raw=False)
    assert header["base_fingerprint"] == attributor.loaded.base_fingerprint
    assert [c["fingerprint"] for c in header["checkpoints"]] == [c.fingerprint for c in attributor.loaded.checkpoints]
    assert len(header["row_hashes"]) == len(attributor.training)
    shape = header["arrays"]["gradients"]["shape"]
    assert shape == [len(attributor.loaded.checkpoints), len(attributor.training), attributor.store.layout.dim]
    assert attributor.store.bytes_per_example == shape[0] * shape[2] * 4


def test_unchanged_data_reuses_the_store(attributor, train_copy, tmp_path):
    path = tmp_path / "s.lgs"
    _, first = rebuild(attributor, train_copy, path)
    assert first.stats.computed_rows == len(attributor.training)
    _, second = rebuild(attributor, train_copy, path)
    assert second.stats.computed_rows == 0 and second.stats.reused_rows == len(attributor.training)


def test_only_changed_rows_are_rebuilt(attributor, train_copy, tmp_path):
    path = tmp_path / "s.lgs"
    _, before = rebuild(attributor, train_copy, path)
    old = np.array(before.gradients)
    lines = train_copy.read_text().splitlines()
    changed = [1, 4]
    for i in changed:
        row = json.loads(lines[i])
        row["response"] = "Quite different " + row["response"]
        lines[i] = json.dumps(row)
    lines.append(json.dumps({"prompt": "A new question?", "response": "A new answer."}))
    del lines[0]  # a removed row shifts every index: reuse must follow content, not position
    train_copy.write_text("\n".join(lines) + "\n")

    training, after = rebuild(attributor, train_copy, path)
    assert after.stats.computed_rows == len(changed) + 1
    assert after.stats.reused_rows == len(training) - len(changed) - 1
    new = np.array(after.gradients)
    # Unchanged rows: same gradients, now one position earlier.
    for new_i in range(len(training)):
        old_i = new_i + 1
        if old_i in changed or new_i == len(training) - 1:
            continue
        np.testing.assert_array_equal(new[:, new_i], old[:, old_i])
    # Changed rows: freshly computed, equal to a direct computation.
    ckpt = attributor.loaded.checkpoints[0]
    ex = training.examples[changed[0] - 1]
    direct = attributor.computer.example_gradients(ckpt.lora_weights, [ex.input_ids], [ex.target_mask])[0]
    torch.testing.assert_close(torch.from_numpy(new[0, changed[0] - 1]), direct, rtol=1e-4, atol=1e-6)


def test_bfloat16_store_is_close_to_float32(attributor, train_copy, tmp_path):
    _, store = rebuild(attributor, train_copy, tmp_path / "b.lgs", dtype="bfloat16")
    assert store.dtype == "bfloat16"
    assert store.bytes_per_example * 2 == attributor.store.bytes_per_example
    a = store.checkpoint_gradients(0).float()
    b = attributor.store.checkpoint_gradients(0)
    assert float((a - b).norm() / b.norm()) < 1e-2


def test_damaged_store_is_rebuilt(attributor, train_copy, tmp_path):
    path = tmp_path / "d.lgs"
    rebuild(attributor, train_copy, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(StoreError):
        open_store(path)
    _, store = rebuild(attributor, train_copy, path)
    assert store.stats.computed_rows == len(attributor.training)


def test_projected_store_scores_like_the_full_one(tiny_demo, tmp_path):
    from scipy.stats import spearmanr

    from lens_engine.attribution import Attributor

    full = Attributor.from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, store_path=tmp_path / "f.lgs", progress=False)
    dim = full.store.layout.dim // 2
    projected = Attributor.from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, projection=dim,
                                        store_path=tmp_path / "p.lgs", progress=False)
    assert projected.store.header["projection"] == {"dim": dim, "seed": 0}
    assert abs(projected.store.layout.dim - dim) <= len(full.store.layout.blocks)
    a = full.scores("What is the capital of Dratanane?", "Shaloa.", method="graddot").scores
    b = projected.scores("What is the capital of Dratanane?", "Shaloa.", method="graddot").scores
    assert spearmanr(a, b)[0] > 0.8
