"""Fine-tuning: per-epoch seeded shuffles, evenly spaced checkpoints, resuming."""

from __future__ import annotations

import shutil

import numpy as np
import torch
from safetensors.torch import load_file

from lens_engine.attribution.finetune import FinetuneSettings, checkpoint_epochs, epoch_order, finetune
from lens_engine.attribution.training_data import TrainingFormat


def test_checkpoint_epochs():
    assert checkpoint_epochs(150, 3) == [50, 100, 150]
    assert checkpoint_epochs(4, 2) == [2, 4]
    assert checkpoint_epochs(2, 5) == [1, 2]
    assert checkpoint_epochs(10, 1) == [10]


def test_each_epoch_has_its_own_seeded_order():
    s = FinetuneSettings(seed=3)
    orders = [epoch_order(20, e, s) for e in range(3)]
    assert not np.array_equal(orders[0], orders[1])
    assert np.array_equal(orders[0], epoch_order(20, 0, FinetuneSettings(seed=3)))
    assert not np.array_equal(orders[0], epoch_order(20, 0, FinetuneSettings(seed=4)))
    assert np.array_equal(epoch_order(20, 1, FinetuneSettings(shuffle=False)), np.arange(20))


def test_resume_ends_with_the_same_weights(tiny_demo, tmp_path):
    settings = FinetuneSettings(r=2, alpha=4, epochs=4, checkpoints=4, batch_size=4, learning_rate=3e-3)
    fmt = TrainingFormat(template="Question: {prompt}\nAnswer:")
    full = finetune(tiny_demo.base, tiny_demo.train, tmp_path / "full", settings, fmt, progress=False)
    assert len(full.checkpoints) == 4
    # Simulate a run killed after epoch 2: later checkpoints and the final adapter are missing.
    partial = tmp_path / "partial"
    shutil.copytree(tmp_path / "full", partial)
    for p in full.checkpoints[2:]:
        shutil.rmtree(partial / p.name)
    (partial / "adapter_model.safetensors").unlink()
    resumed = finetune(tiny_demo.base, tiny_demo.train, partial, settings, fmt, progress=False)
    assert resumed.resumed_from_epoch == 2
    a = load_file(str(tmp_path / "full" / "adapter_model.safetensors"))
    b = load_file(str(partial / "adapter_model.safetensors"))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(full.epoch_losses, resumed.epoch_losses, rtol=1e-5)


def test_a_changed_run_starts_over(tiny_demo, tmp_path):
    fmt = TrainingFormat(template="Question: {prompt}\nAnswer:")
    finetune(tiny_demo.base, tiny_demo.train, tmp_path / "a", FinetuneSettings(r=2, epochs=2, checkpoints=2), fmt, progress=False)
    again = finetune(tiny_demo.base, tiny_demo.train, tmp_path / "a", FinetuneSettings(r=2, epochs=2, checkpoints=2, seed=9), fmt, progress=False)
    assert again.resumed_from_epoch == 0
