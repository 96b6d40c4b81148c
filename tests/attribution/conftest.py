"""One very tiny demo model, built once per test session (a few seconds)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def lens_cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("lens-cache")
    old = os.environ.get("LENS_CACHE_DIR")
    os.environ["LENS_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LENS_CACHE_DIR", None)
    else:
        os.environ["LENS_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def tiny_demo(lens_cache):
    """Paths of a tiny base model, a LoRA adapter with 2 checkpoints and its training file."""
    import torch

    from lens_engine.attribution.demo import ensure_demo, tiny_config

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    return ensure_demo(tiny_config(), progress=False)


@pytest.fixture(scope="session")
def attributor(tiny_demo, tmp_path_factory):
    from lens_engine.attribution import Attributor

    store = tmp_path_factory.mktemp("store") / "store.lgs"
    return Attributor.from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, store_path=store, progress=False)


@pytest.fixture
def train_copy(tiny_demo, tmp_path) -> Path:
    """A writable copy of the tiny training file."""
    dest = tmp_path / "train.jsonl"
    shutil.copyfile(tiny_demo.train, dest)
    return dest
