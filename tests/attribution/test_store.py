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
    assert projected.store.header["projection"] == {"dim": dim, "seed": 0, "kind": "sparse-sign-4"}
    assert abs(projected.store.layout.dim - dim) <= len(full.store.layout.blocks)
    a = full.scores("What is the capital of Dratanane?", "Shaloa.", method="graddot").scores
    b = projected.scores("What is the capital of Dratanane?", "Shaloa.", method="graddot").scores
    assert spearmanr(a, b)[0] > 0.8


# -- invalidation: what makes every row recompute -------------------------------------


def _from_folders(base, adapter, train, path, **kwargs):
    from lens_engine.attribution import Attributor

    return Attributor.from_folders(base, adapter, train, store_path=path, progress=False, **kwargs)


def _perturbed_safetensors(src, dest, scale=1e-2):
    """A copy of a safetensors file with every floating tensor changed a little."""
    from safetensors.torch import load_file, save_file

    tensors = {k: v.clone() for k, v in load_file(str(src)).items()}
    gen = torch.Generator().manual_seed(0)
    changed = {k: (v + scale * torch.randn(v.shape, generator=gen).to(v.dtype)) if v.is_floating_point() else v for k, v in tensors.items()}
    tmp = dest.with_name(dest.name + ".tmp")
    save_file(changed, str(tmp), metadata={"format": "pt"})
    tmp.replace(dest)


def test_changed_store_settings_recompute_every_row(tiny_demo, tmp_path):
    path = tmp_path / "s.lgs"  # one file, as `--store` gives it
    first = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path, store_dtype="float32", projection=None)
    n = len(first.training)
    assert first.store.stats.computed_rows == n
    for kwargs in ({"store_dtype": "bfloat16", "projection": None}, {"store_dtype": "bfloat16", "projection": 64},
                   {"store_dtype": "bfloat16", "projection": 64, "projection_seed": 1}):
        again = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path, **kwargs)
        assert again.store.stats.computed_rows == n, kwargs
        assert _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path, **kwargs).store.stats.computed_rows == 0
    # The batch size does not change the gradients: the store is reused.
    same = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path, store_dtype="bfloat16", projection=64,
                         projection_seed=1, batch_size=3)
    assert same.store.stats.computed_rows == 0


def test_a_changed_training_format_recomputes_every_row(tiny_demo, tmp_path):
    path = tmp_path / "s.lgs"
    first = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path)
    other = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path, template="Q: {prompt}\nA:")
    assert other.store.stats.computed_rows == len(first.training)
    assert other.training.examples[0].input_ids != first.training.examples[0].input_ids


def test_a_changed_adapter_or_checkpoint_recomputes_every_row(tiny_demo, tmp_path):
    import shutil

    path = tmp_path / "s.lgs"
    first = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path)
    n = len(first.training)
    # Fewer checkpoints: a different set of gradients.
    one = [first.loaded.checkpoints[0].path]
    assert _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path, checkpoints=one).store.stats.computed_rows == n
    # The same checkpoint folder with retrained (here: changed) weights.
    changed = tmp_path / "changed-checkpoint"
    shutil.copytree(one[0], changed)
    _perturbed_safetensors(one[0] / "adapter_model.safetensors", changed / "adapter_model.safetensors")
    again = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path, checkpoints=[changed])
    assert again.store.stats.computed_rows == n
    before = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, tmp_path / "b.lgs", checkpoints=one)
    assert not np.array_equal(np.asarray(again.store.gradients[0]), np.asarray(before.store.gradients[0]))


def test_a_changed_base_model_recomputes_every_row(tiny_demo, tmp_path):
    import shutil

    path = tmp_path / "s.lgs"
    first = _from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, path)
    # Same architecture, other weights; the adapter copy has no lens_base.json (which would refuse this base).
    base = tmp_path / "base"
    shutil.copytree(tiny_demo.base, base)
    for weights in base.glob("*.safetensors"):
        _perturbed_safetensors(weights, weights)
    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_demo.adapter, adapter)
    for recorded in adapter.rglob("lens_base.json"):  # the adapter's and its checkpoints'
        recorded.unlink()
    other = _from_folders(base, adapter, tiny_demo.train, path)
    assert other.loaded.base_fingerprint != first.loaded.base_fingerprint
    assert other.store.stats.computed_rows == len(first.training)
    assert other.store.header["base_fingerprint"] == other.loaded.base_fingerprint
