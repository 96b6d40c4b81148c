"""The gradient store: per-example LoRA gradients at every checkpoint, on disk.

File layout (one file, little-endian)::

    b"LENSGRD1"  uint64 header_length  msgpack header  zero padding to 64 bytes  raw arrays

The header records what the gradients were computed from (base model,
checkpoints, training format and other settings, each as a hash), the shape
and dtype of every array and its byte offset, and one content hash per row.
The arrays are memory-mapped, so opening a store costs nothing and the OS
keeps it warm between queries; on a GPU :meth:`GradientStore.to` moves it to
the device once.

When the training file changes, :func:`build_store` recomputes only the rows
whose tokens changed and copies the others from the previous store.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import msgpack
import numpy as np
import torch
from tqdm import tqdm

from .errors import StoreError
from .gradients import GradientComputer, GradientLayout, length_sorted_batches, run_batches
from .models import LoadedModel
from .training_data import TrainingSet

MAGIC = b"LENSGRD1"
VERSION = 1
ALIGN = 64
DTYPES = {
    "float32": (np.float32, torch.float32),
    "bfloat16": (np.uint16, torch.bfloat16),
    "float16": (np.float16, torch.float16),
    "int8": (np.int8, torch.int8),  # with a float32 scale per row and LoRA tensor (the `scales` array)
}


# ---------------------------------------------------------------------------
# The file format: a msgpack header and raw arrays


@dataclass
class ArraySpec:
    name: str
    shape: tuple[int, ...]
    dtype: str  # a key of DTYPES


def _nbytes(spec: ArraySpec) -> int:
    return int(np.prod(spec.shape, dtype=np.int64)) * np.dtype(DTYPES[spec.dtype][0]).itemsize


def create_array_file(path: Path, header: dict, specs: list[ArraySpec]) -> dict[str, np.memmap]:
    """Write the header and allocate the arrays; return writable memmaps to fill."""
    # Offsets depend on the header's length, which depends on the offsets: fix
    # the header size first with placeholder offsets of the same width.
    arrays = {s.name: {"shape": list(s.shape), "dtype": s.dtype, "offset": 0} for s in specs}
    for _ in range(2):
        body = msgpack.packb({**header, "arrays": arrays}, use_bin_type=True)
        start = _align(len(MAGIC) + 8 + len(body) + ALIGN)  # slack: offsets may grow the header
        for s in specs:
            arrays[s.name]["offset"] = start
            start = _align(start + _nbytes(s))
    body = msgpack.packb({**header, "arrays": arrays}, use_bin_type=True)
    first = min((a["offset"] for a in arrays.values()), default=_align(len(MAGIC) + 8 + len(body)))
    if len(MAGIC) + 8 + len(body) > first:
        raise AssertionError("store header grew past its slack")
    with open(path, "wb") as f:
        f.write(MAGIC + struct.pack("<Q", len(body)) + body)
        f.truncate(max([a["offset"] + _nbytes(s) for s, a in zip(specs, arrays.values())], default=f.tell()))
    out = {}
    for s in specs:
        if _nbytes(s) == 0:
            out[s.name] = np.zeros(s.shape, dtype=DTYPES[s.dtype][0])
        else:
            out[s.name] = np.memmap(path, dtype=DTYPES[s.dtype][0], mode="r+", offset=arrays[s.name]["offset"], shape=tuple(s.shape))
    return out


def read_array_file(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The header and read-only memmaps of the arrays."""
    try:
        with open(path, "rb") as f:
            magic = f.read(len(MAGIC))
            if magic != MAGIC:
                raise StoreError(f"{path} is not a Lens gradient store")
            (length,) = struct.unpack("<Q", f.read(8))
            header = msgpack.unpackb(f.read(length), raw=False)
    except (OSError, struct.error, ValueError, msgpack.UnpackException) as err:
        raise StoreError(f"{path} cannot be read ({err}); delete it to rebuild") from None
    arrays = {}
    size = path.stat().st_size
    for name, a in header.get("arrays", {}).items():
        spec = ArraySpec(name, tuple(a["shape"]), a["dtype"])
        if a["offset"] + _nbytes(spec) > size:
            raise StoreError(f"{path} is truncated; delete it to rebuild")
        if _nbytes(spec) == 0:
            arrays[name] = np.zeros(spec.shape, dtype=DTYPES[spec.dtype][0])
        else:
            # Copy-on-write: torch wants writable arrays; nothing is ever written back.
            arrays[name] = np.memmap(path, dtype=DTYPES[spec.dtype][0], mode="c", offset=a["offset"], shape=spec.shape)
    return header, arrays


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def as_tensor(array: np.ndarray, dtype: str) -> torch.Tensor:
    """Zero-copy tensor view of a (memory-mapped) array."""
    t = torch.from_numpy(np.asarray(array))
    return t.view(torch.bfloat16) if dtype == "bfloat16" else t


def to_storage(t: torch.Tensor, dtype: str) -> np.ndarray:
    t = t.detach().to("cpu", DTYPES[dtype][1])
    return t.view(torch.uint16).numpy() if dtype == "bfloat16" else t.numpy()


# ---------------------------------------------------------------------------
# The gradient store


@dataclass
class StoreSettings:
    """Everything besides the rows that the stored gradients depend on."""

    dtype: str = "float32"
    projection_dim: int | None = None
    projection_seed: int = 0
    batch_size: int = 32
    # The store policy's plan (policy.StorePlan) when the dtype or projection was
    # chosen automatically: the default file is then named by the request
    # ("auto"), so a store whose plan changes replaces its file.
    plan: object | None = None

    def key(self) -> dict:
        # batch_size does not change the gradients, so it is not part of the key.
        key = {"dtype": self.dtype, "projection_dim": self.projection_dim, "projection_seed": self.projection_seed}
        if self.projection_dim:
            from .gradients import RandomProjection

            key["projection_kind"] = RandomProjection.KIND
        return key

    def path_key(self) -> dict:
        if self.plan is not None and self.plan.auto:
            return {**self.plan.request_key(), "projection_seed": self.projection_seed}
        return self.key()

    def plan_header(self) -> dict | None:
        p = self.plan
        if p is None:
            return None
        return {"requested": p.request_key(), "dtype": p.dtype, "projection": p.projection, "budget": p.budget, "reason": p.reason}


@dataclass
class BuildStats:
    computed_rows: int = 0
    reused_rows: int = 0
    seconds: float = 0.0


@dataclass
class GradientStore:
    path: Path
    header: dict
    layout: GradientLayout
    gradients: np.ndarray  # (checkpoints, rows, dim), memory-mapped
    losses: np.ndarray  # (checkpoints, rows) training loss of each row
    scales: np.ndarray | None = None  # int8 stores: (checkpoints, rows, LoRA tensors) float32
    stats: BuildStats = field(default_factory=BuildStats)
    _device_cache: dict = field(default_factory=dict, repr=False)

    @property
    def dtype(self) -> str:
        return self.header["dtype"]

    @property
    def checkpoint_names(self) -> list[str]:
        return [c["name"] for c in self.header["checkpoints"]]

    @property
    def rows(self) -> list[int]:
        return list(self.header["rows"])

    @property
    def row_hashes(self) -> list[str]:
        return list(self.header["row_hashes"])

    def __len__(self) -> int:
        return int(self.gradients.shape[1])

    @property
    def bytes_per_example(self) -> int:
        return int(self.gradients.shape[0] * self.gradients.shape[2] * self.gradients.dtype.itemsize)

    @property
    def plan(self) -> dict | None:
        """How the dtype and projection were chosen (policy.plan_store), if automatically."""
        return self.header.get("plan")

    @property
    def source_dim(self) -> int:
        """LoRA values per example before any projection."""
        return int(self.header.get("source_dim") or self.layout.dim)

    def checkpoint_gradients(self, index: int, device: torch.device | str = "cpu") -> torch.Tensor:
        """(rows, dim) gradients at one checkpoint; zero-copy on CPU, cached on a GPU.

        An int8 store returns them dequantised to float32 (a new tensor each call
        on CPU): for computing the preconditioning, not for scoring queries.
        """
        device = torch.device(device)
        if device.type == "cpu":
            if self.dtype == "int8":
                return self.rows(index, slice(None))
            return as_tensor(self.gradients[index], self.dtype)
        key = (index, str(device))
        if key not in self._device_cache:
            self._device_cache[key] = self.checkpoint_gradients(index, "cpu").to(device)
        return self._device_cache[key]

    def rows(self, index: int, rows) -> torch.Tensor:
        """Some rows' gradients at checkpoint ``index`` as float32 (dequantised for int8)."""
        if self.dtype == "int8":
            from .quantize import dequantize_blocks

            return dequantize_blocks(self.gradients[index][rows], self.scales[index][rows], self.layout)
        return as_tensor(self.gradients[index], self.dtype)[rows].float()

    def to(self, device: torch.device | str) -> "GradientStore":
        """Keep every checkpoint's gradients on ``device`` (a GPU) for fast queries."""
        for i in range(self.gradients.shape[0]):
            self.checkpoint_gradients(i, device)
        return self


def settings_hash(loaded: LoadedModel, training: TrainingSet, settings: StoreSettings) -> str:
    return _hash_with(loaded, training, settings.key())


def _hash_with(loaded: LoadedModel, training: TrainingSet, settings_key: object) -> str:
    payload = {
        "version": VERSION,
        "base": loaded.base_fingerprint,
        "checkpoints": [c.fingerprint for c in loaded.checkpoints],
        "lora": loaded.lora_names,
        "format": training.format.to_dict(),
        "settings": settings_key,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def default_store_path(loaded: LoadedModel, training: TrainingSet, settings: StoreSettings) -> Path:
    """Keyed by everything except the rows, so an edited file reuses its old store."""
    from .paths import cache_dir

    if settings.plan is not None and settings.plan.auto:
        # Named by the request ("auto"), not its outcome: a store whose plan changes replaces its file.
        settings_key = _hash_with(loaded, training, settings.path_key())
    else:
        settings_key = settings_hash(loaded, training, settings)
    key = hashlib.sha256((settings_key + str(Path(training.path).resolve())).encode()).hexdigest()[:24]
    return cache_dir("stores") / f"{key}.lgs"


def open_store(path: str | Path) -> GradientStore:
    path = Path(path)
    header, arrays = read_array_file(path)
    if header.get("version") != VERSION or "gradients" not in arrays:
        raise StoreError(f"{path} was written by another version of Lens; delete it to rebuild")
    if header.get("dtype") == "int8" and "scales" not in arrays:
        raise StoreError(f"{path} is an int8 store without scales; delete it to rebuild")
    return GradientStore(path, header, GradientLayout.from_list(header["layout"]), arrays["gradients"], arrays["losses"], arrays.get("scales"))


def peek_header(path: str | Path) -> dict | None:
    """The header of the store file at ``path``, or None if there is no readable one."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return read_array_file(path)[0]
    except StoreError:
        return None


def build_store(
    loaded: LoadedModel,
    training: TrainingSet,
    computer: GradientComputer,
    settings: StoreSettings,
    path: str | Path | None = None,
    progress: bool = True,
) -> GradientStore:
    """Open the store for this model and data, computing only what is missing.

    Rows are matched to the previous store by content hash, so edited, added or
    removed rows cost gradients only for the rows that are new.
    """
    import time

    started = time.perf_counter()
    path = Path(path) if path else default_store_path(loaded, training, settings)
    wanted_hash = settings_hash(loaded, training, settings)
    hashes = [e.content_hash for e in training.examples]
    rows = [e.row for e in training.examples]

    previous: GradientStore | None = None
    if path.is_file():
        try:
            previous = open_store(path)
        except StoreError:
            previous = None
        if previous is not None and previous.header.get("settings_hash") != wanted_hash:
            previous = None
    if previous is not None and previous.row_hashes == hashes and previous.rows == rows:
        previous.stats = BuildStats(0, len(hashes), time.perf_counter() - started)
        return previous

    old_index = {h: i for i, h in enumerate(previous.row_hashes)} if previous is not None else {}
    missing = [i for i, h in enumerate(hashes) if h not in old_index]
    layout = computer.output_layout
    n_ckpt = len(loaded.checkpoints)
    header = {
        "version": VERSION,
        "dtype": settings.dtype,
        "layout": layout.to_list(),
        "projection": None if computer.projection is None else {"dim": settings.projection_dim, "seed": settings.projection_seed, "kind": computer.projection.KIND},
        "source_dim": computer.layout.dim,
        "plan": settings.plan_header(),
        "checkpoints": [{"name": c.name, "fingerprint": c.fingerprint} for c in loaded.checkpoints],
        "base_fingerprint": loaded.base_fingerprint,
        "format": training.format.to_dict(),
        "train_file": str(training.path),
        "settings_hash": wanted_hash,
        "rows": rows,
        "row_hashes": hashes,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        specs = [
            ArraySpec("gradients", (n_ckpt, len(hashes), layout.dim), settings.dtype),
            ArraySpec("losses", (n_ckpt, len(hashes)), "float32"),
        ]
        if settings.dtype == "int8":
            specs.append(ArraySpec("scales", (n_ckpt, len(hashes), len(layout.blocks)), "float32"))
        out = create_array_file(tmp, header, specs)
        if previous is not None:
            reuse = [(i, old_index[h]) for i, h in enumerate(hashes) if h in old_index]
            if reuse:
                new_i = np.array([a for a, _ in reuse])
                old_i = np.array([b for _, b in reuse])
                for c in range(n_ckpt):
                    out["gradients"][c, new_i] = previous.gradients[c, old_i]
                    out["losses"][c, new_i] = previous.losses[c, old_i]
                    if "scales" in out:
                        out["scales"][c, new_i] = previous.scales[c, old_i]
        _compute_rows(loaded, training, computer, settings, missing, out, progress)
        for array in out.values():
            if isinstance(array, np.memmap):
                array.flush()
        del out
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    store = open_store(path)
    store.stats = BuildStats(len(missing), len(hashes) - len(missing), time.perf_counter() - started)
    return store


def _compute_rows(
    loaded: LoadedModel,
    training: TrainingSet,
    computer: GradientComputer,
    settings: StoreSettings,
    missing: list[int],
    out: dict[str, np.ndarray],
    progress: bool,
) -> None:
    if not missing:
        return
    examples = [training.examples[i] for i in missing]
    batches = [[missing[j] for j in b] for b in length_sorted_batches([len(e.input_ids) for e in examples], settings.batch_size)]
    bar = tqdm(total=len(missing) * len(loaded.checkpoints), desc="gradient store", unit="ex", disable=not progress, file=None)
    try:
        for c, checkpoint in enumerate(loaded.checkpoints):
            def compute(batch: list[int]) -> torch.Tensor:
                exs = [training.examples[i] for i in batch]
                with torch.no_grad():
                    return computer.example_gradients(checkpoint.lora_weights, [e.input_ids for e in exs], [e.target_mask for e in exs])

            def store_batch(batch: list[int], grads: torch.Tensor) -> None:
                if settings.dtype == "int8":
                    from .quantize import quantize_blocks

                    q, scales = quantize_blocks(grads, computer.output_layout)
                    out["gradients"][c, batch] = q.numpy()
                    out["scales"][c, batch] = scales.numpy()
                else:
                    out["gradients"][c, batch] = to_storage(grads, settings.dtype)
                bar.update(len(batch))

            run_batches(compute, batches, store_batch, settings.batch_size)
            out["losses"][c, missing] = example_losses(loaded, training, checkpoint.lora_weights, missing, computer.pad_id)
    finally:
        bar.close()


def example_losses(loaded: LoadedModel, training: TrainingSet, lora: dict[str, torch.Tensor], indices: list[int], pad_id: int, batch_size: int = 64) -> np.ndarray:
    """Mean response cross-entropy of each example (for self-influence baselines and display)."""
    from torch.func import functional_call

    from .gradients import pad_right

    result = np.zeros(len(indices), dtype=np.float32)
    for start in range(0, len(indices), batch_size):
        chunk = indices[start : start + batch_size]
        exs = [training.examples[i] for i in chunk]
        ids, w = pad_right([e.input_ids for e in exs], [e.target_mask for e in exs], pad_id, loaded.device)
        with torch.no_grad():
            logits = functional_call(loaded.model, lora, (ids,), {"use_cache": False}).logits[:, :-1].float()
            lp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
            m = w[:, 1:]
            result[start : start + len(chunk)] = (-(lp * m).sum(1) / m.sum(1).clamp(min=1)).cpu().numpy()
    return result
