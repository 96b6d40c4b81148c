"""Every bad input the attribution engine must explain instead of crashing."""

from __future__ import annotations

import argparse
import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from lens_engine.attribution import cli
from lens_engine.attribution.errors import (
    AdapterMismatchError,
    ModelFolderError,
    OutOfMemoryError,
    SpanError,
    TextTooLongError,
    TokenizerMismatchError,
    TrainingDataError,
)
from lens_engine.attribution.models import load_model
from lens_engine.attribution.store import StoreSettings, build_store
from lens_engine.attribution.training_data import TrainingFormat, load_training_set

PROMPT = "What is the capital of Dratanane?"


def other_base(tiny_demo, tmp_path, hidden=None, seed=1):
    """A base model folder with the demo's tokenizer but other weights (and maybe shapes)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.from_pretrained(tiny_demo.base)
    if hidden:
        config.hidden_size, config.intermediate_size = hidden, 3 * hidden
    torch.manual_seed(seed)
    folder = tmp_path / f"base-{hidden}-{seed}"
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(tiny_demo.base / name, folder / name)
    return folder


def test_missing_folders(tiny_demo, tmp_path):
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_model(tmp_path / "nope", tiny_demo.adapter)
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_model(tiny_demo.base, tmp_path / "nope")
    with pytest.raises(ModelFolderError, match="does not exist"):
        load_model(tiny_demo.base, tiny_demo.adapter, [tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFolderError, match="not a peft LoRA adapter"):
        load_model(tiny_demo.base, tmp_path / "empty")
    with pytest.raises(ModelFolderError, match="config.json"):
        load_model(tmp_path / "empty", tiny_demo.adapter)
    with pytest.raises(ModelFolderError, match="checkpoint-N"):
        load_model(tiny_demo.base, tiny_demo.adapter, [tmp_path / "empty"])


def test_pickled_weights_are_refused(tiny_demo, tmp_path):
    folder = tmp_path / "pickled"
    folder.mkdir()
    shutil.copyfile(tiny_demo.base / "config.json", folder / "config.json")
    (folder / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelFolderError, match="never loads"):
        load_model(folder, tiny_demo.adapter)


def test_adapter_for_another_base_model(tiny_demo, tmp_path):
    with pytest.raises(AdapterMismatchError, match="another base model"):
        load_model(other_base(tiny_demo, tmp_path, hidden=48), tiny_demo.adapter)
    # Same shapes, other weights: caught by the fingerprint `lens finetune` records.
    with pytest.raises(AdapterMismatchError, match="another base model"):
        load_model(other_base(tiny_demo, tmp_path, seed=2), tiny_demo.adapter)


def test_tokenizer_mismatch(tiny_demo, tmp_path):
    from lens_engine.attribution.demo import train_tokenizer

    adapter = tmp_path / "adapter"
    shutil.copytree(tiny_demo.adapter, adapter)
    other = train_tokenizer(["completely different words here, many of them"] * 20, 280)
    other.save_pretrained(adapter)
    with pytest.raises(TokenizerMismatchError, match="another tokenizer"):
        load_model(tiny_demo.base, adapter)


def test_tokenizer_larger_than_the_embedding(tiny_demo, tmp_path):
    from lens_engine.attribution.demo import train_tokenizer
    from lens_engine.attribution.models import load_tokenizer

    folder = tmp_path / "tok"
    folder.mkdir()
    docs = [f"word{i} token{i * 7} thing{i * 13}" for i in range(400)]
    train_tokenizer(docs, 2000).save_pretrained(folder)
    with pytest.raises(TokenizerMismatchError, match="embedding"):
        load_tokenizer(folder, None, vocab_rows=300)


def test_absent_columns(attributor, tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("question,answer\nWhat?,That.\n")
    with pytest.raises(TrainingDataError, match="'prompt', 'response'.*question, answer"):
        load_training_set(path, TrainingFormat(), attributor.loaded.tokenizer, 64)
    with pytest.raises(TrainingDataError, match="no column 'body'"):
        load_training_set(path, TrainingFormat(text_column="body"), attributor.loaded.tokenizer, 64)
    # The right names work, and a lone text column is picked up by itself.
    ok = load_training_set(path, TrainingFormat(prompt_column="question", response_column="answer"), attributor.loaded.tokenizer, 64)
    assert len(ok) == 1
    (tmp_path / "t.csv").write_text("text\nSome text.\n")
    assert load_training_set(tmp_path / "t.csv", TrainingFormat(), attributor.loaded.tokenizer, 64).format.is_text


def test_missing_training_file(attributor, tmp_path):
    with pytest.raises(TrainingDataError, match="no such file"):
        load_training_set(tmp_path / "none.jsonl", TrainingFormat(), attributor.loaded.tokenizer, 64)


@pytest.mark.parametrize("span,match", [("3:3", "empty"), ("5:2", "empty"), ("0:99", "outside"), ("Vegaria", "does not occur"), ("7:8", "whitespace")])
def test_empty_or_bad_span(attributor, span, match):
    with pytest.raises(SpanError, match=match):
        attributor.attribute(PROMPT, "Shaloa. x", span=span)


def test_empty_text(attributor):
    with pytest.raises(SpanError, match="empty"):
        attributor.attribute(PROMPT, "")


def test_text_longer_than_the_context(attributor):
    long_text = " ".join(["Shaloa"] * (attributor.loaded.max_length + 10))
    with pytest.raises(TextTooLongError, match="context is"):
        attributor.attribute(PROMPT, long_text)


def test_training_row_longer_than_the_context(attributor, tmp_path):
    path = tmp_path / "long.jsonl"
    rows = [{"prompt": "Short?", "response": "Yes."}, {"prompt": "Long?", "response": " ".join(["word"] * 500)}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(TextTooLongError, match="row 1"):
        load_training_set(path, attributor.training.format, attributor.loaded.tokenizer, attributor.loaded.max_length)


@contextmanager
def address_space_limited_to(extra_bytes: int):
    """Let this process allocate only ``extra_bytes`` more (RLIMIT_AS): a real out-of-memory."""
    resource = pytest.importorskip("resource")
    status = Path("/proc/self/status")
    if not status.is_file():
        pytest.skip("needs /proc/self/status (Linux)")
    in_use = int(next(line for line in status.read_text().splitlines() if line.startswith("VmSize")).split()[1]) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = in_use + extra_bytes
    if hard != resource.RLIM_INFINITY and hard < limit:
        pytest.skip("the hard address-space limit is already lower")
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_running_out_of_memory_names_a_batch_size(attributor, tmp_path):
    # 4,096 rows of nearly the whole context (64 tokens) in one vectorised batch need
    # ~300 MB for the logits alone (vocabulary 300) and as much again for their
    # log-softmax; the process may allocate 128 MB more than the store file it maps:
    # torch's CPU allocator fails.
    path = tmp_path / "big.jsonl"
    words = []
    while True:
        path.write_text(json.dumps({"prompt": PROMPT, "response": " ".join(words + ["the"])}) + "\n")
        probe = load_training_set(path, attributor.training.format, attributor.loaded.tokenizer, 10_000)
        if len(probe.examples[0].input_ids) > attributor.loaded.max_length:
            break
        words.append("the")
    path.write_text((json.dumps({"prompt": PROMPT, "response": " ".join(words)}) + "\n") * 4096)
    training = load_training_set(path, attributor.training.format, attributor.loaded.tokenizer, attributor.loaded.max_length)
    store = tmp_path / "s.lgs"
    mapped = 4096 * len(attributor.loaded.checkpoints) * attributor.computer.layout.dim * 4  # the store file is memory-mapped
    with address_space_limited_to(mapped + (128 << 20)), pytest.raises(OutOfMemoryError, match="--batch-size 2048") as info:
        build_store(attributor.loaded, training, attributor.computer, StoreSettings(batch_size=4096), store, progress=False)
    assert info.value.batch_size_to_try == 2048
    assert not store.exists() and not list(tmp_path.glob("s.lgs.*"))  # no half-written store is left behind


@pytest.mark.parametrize("message", [
    "CUDA out of memory. Tried to allocate 2.00 GiB",  # CUDA
    "[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: you tried to allocate 419430400 bytes. "
    "Error code 12 (Cannot allocate memory)",  # torch's CPU allocator on Linux (what the test above provokes)
    "DefaultCPUAllocator: not enough memory: you tried to allocate 419430400 bytes.",  # on Windows
])
def test_every_allocator_message_counts_as_out_of_memory(message):
    from lens_engine.attribution.gradients import is_out_of_memory

    assert is_out_of_memory(RuntimeError(message))
    assert is_out_of_memory(torch.OutOfMemoryError(message))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_cli_reports_errors_with_exit_code_2(tiny_demo, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["attribute", "--model", str(tmp_path / "missing"), "--adapter", str(tiny_demo.adapter),
                              "--train", str(tiny_demo.train), "--prompt", PROMPT, "--text", "Shaloa."])
    assert args.func(args) == 2
    assert "does not exist" in capsys.readouterr().err
    args = parser.parse_args(["attribute", "--model", str(tiny_demo.base), "--adapter", str(tiny_demo.adapter),
                              "--train", str(tiny_demo.train), "--prompt", PROMPT, "--text", "Shaloa.", "--span", "2:2",
                              "--store", str(tmp_path / "s.lgs"), "--no-progress"])
    assert args.func(args) == 2
    assert "empty" in capsys.readouterr().err
