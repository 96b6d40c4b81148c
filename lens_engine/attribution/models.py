"""Load a base model, its LoRA adapter and the adapter's checkpoints from local folders.

Nothing is downloaded and no code from a model folder is run: weights must be
safetensors, ``trust_remote_code`` is never set, and an architecture that
transformers does not know is refused.  Every check raises an
:class:`~lens_engine.attribution.errors.AttributionError` that says which
folder is wrong and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .errors import AdapterMismatchError, ModelFolderError, TokenizerMismatchError
from .training_data import TrainingFormat

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
BASE_FINGERPRINT_FILE = "lens_base.json"  # written by `lens finetune` next to each adapter
_CHECKPOINT_DIR = re.compile(r"^checkpoint-(\d+)$")


@dataclass
class Checkpoint:
    """One set of LoRA weights (a checkpoint, or the final adapter)."""

    name: str
    path: Path
    lora_weights: dict[str, torch.Tensor]  # parameter name in the peft model -> tensor
    fingerprint: str


@dataclass
class LoadedModel:
    """A base model with its adapter applied, plus the checkpoints to attribute over."""

    model: torch.nn.Module  # a peft PeftModel, in eval mode, all parameters frozen
    tokenizer: object
    base_path: Path
    adapter_path: Path
    checkpoints: list[Checkpoint]
    lora_names: list[str]
    base_fingerprint: str
    max_length: int
    training_format: TrainingFormat | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def fingerprint(self) -> str:
        h = hashlib.sha256(self.base_fingerprint.encode())
        for c in self.checkpoints:
            h.update(c.fingerprint.encode())
        return h.hexdigest()


# ---------------------------------------------------------------------------
# Fingerprints


def _file_sample_hash(h, path: Path, edge: int = 1 << 16) -> None:
    """Hash a large file's size and its first and last bytes: enough to notice a
    different model without reading gigabytes on every start."""
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with open(path, "rb") as f:
        h.update(f.read(edge))
        if size > 2 * edge:
            f.seek(size - edge)
            h.update(f.read(edge))


def base_fingerprint(folder: str | Path) -> str:
    folder = Path(folder)
    h = hashlib.sha256()
    h.update(Path(folder, "config.json").read_bytes())
    for weights in sorted(folder.glob("*.safetensors")):
        _file_sample_hash(h, weights)
    return h.hexdigest()


def adapter_fingerprint(folder: str | Path) -> str:
    # Adapters are small: hash all their bytes.
    return hashlib.sha256(Path(folder, ADAPTER_WEIGHTS).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------
# Folder checks


def _check_folder(path: str | Path, what: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise ModelFolderError(f"{what} folder {str(p)!r} does not exist")
    if not p.is_dir():
        raise ModelFolderError(f"{what} {str(p)!r} is a file; give the folder that holds it")
    return p


def check_base_folder(path: str | Path) -> Path:
    folder = _check_folder(path, "the base model")
    config = folder / "config.json"
    if not config.is_file():
        raise ModelFolderError(f"{folder} has no config.json: it is not a transformers model folder")
    if not list(folder.glob("*.safetensors")):
        extra = " (it has only pickled .bin weights, which Lens never loads: re-save with safe_serialization=True)" if list(folder.glob("*.bin")) else ""
        raise ModelFolderError(f"{folder} has no .safetensors weights{extra}")
    cfg = json.loads(config.read_text())
    if cfg.get("auto_map"):
        from transformers import CONFIG_MAPPING

        if cfg.get("model_type") not in CONFIG_MAPPING:
            raise ModelFolderError(
                f"{folder} needs custom code (model_type {cfg.get('model_type')!r} with auto_map); "
                "Lens never runs code from a model folder"
            )
    return folder


def check_adapter_folder(path: str | Path, what: str = "the adapter") -> Path:
    folder = _check_folder(path, what)
    if not (folder / ADAPTER_CONFIG).is_file():
        raise ModelFolderError(f"{folder} has no {ADAPTER_CONFIG}: it is not a peft LoRA adapter folder")
    if not (folder / ADAPTER_WEIGHTS).is_file():
        extra = " (only a pickled adapter_model.bin, which Lens never loads)" if (folder / "adapter_model.bin").is_file() else ""
        raise ModelFolderError(f"{folder} has no {ADAPTER_WEIGHTS}{extra}")
    cfg = json.loads((folder / ADAPTER_CONFIG).read_text())
    if cfg.get("peft_type", "LORA") != "LORA":
        raise ModelFolderError(f"{folder} holds a {cfg.get('peft_type')} adapter; Lens attributes LoRA adapters")
    return folder


def find_checkpoints(paths: list[str | Path]) -> list[Path]:
    """Each path is a checkpoint folder or a folder of ``checkpoint-N`` folders."""
    found: list[Path] = []
    for path in paths:
        folder = _check_folder(path, "the checkpoint")
        if (folder / ADAPTER_CONFIG).is_file():
            found.append(folder)
            continue
        subs = sorted(
            (p for p in folder.iterdir() if p.is_dir() and _CHECKPOINT_DIR.match(p.name)),
            key=lambda p: int(_CHECKPOINT_DIR.match(p.name).group(1)),
        )
        if not subs:
            raise ModelFolderError(f"{folder} is neither an adapter folder nor a folder of checkpoint-N folders")
        found.extend(subs)
    return [check_adapter_folder(p, "the checkpoint") for p in found]


def check_adapter_matches_base(adapter: Path, base_model: torch.nn.Module, base_fp: str) -> None:
    """Raise AdapterMismatchError unless every LoRA tensor fits the base model's layers."""
    recorded = adapter / BASE_FINGERPRINT_FILE
    if recorded.is_file():
        info = json.loads(recorded.read_text())
        if info.get("base_fingerprint") not in (None, base_fp):
            raise AdapterMismatchError(
                f"{adapter} was fine-tuned from another base model ({info.get('base_path', '?')}); "
                "pass the base model it was trained on"
            )
    from safetensors import safe_open

    modules = dict(base_model.named_modules())
    with safe_open(str(adapter / ADAPTER_WEIGHTS), framework="pt") as f:
        for key in f.keys():
            m = re.match(r"^(?:base_model\.model\.)?(.*)\.lora_([AB])(?:\.[^.]+)?\.weight$", key)
            if not m:
                continue
            module_name, which = m.group(1), m.group(2)
            layer = modules.get(module_name)
            if layer is None:
                raise AdapterMismatchError(
                    f"{adapter} adapts a layer {module_name!r} that the base model does not have: "
                    "the adapter was made for another base model"
                )
            in_f, out_f = _layer_dims(layer)
            shape = tuple(f.get_slice(key).get_shape())
            expected = in_f if which == "A" else out_f
            got = shape[1] if which == "A" else shape[0]
            if expected is not None and got != expected:
                side = "input" if which == "A" else "output"
                raise AdapterMismatchError(
                    f"{adapter}: layer {module_name!r} has {side} size {expected} in the base model but "
                    f"{got} in the adapter: the adapter was made for another base model"
                )


def _layer_dims(layer: torch.nn.Module) -> tuple[int | None, int | None]:
    if isinstance(layer, torch.nn.Linear):
        return layer.in_features, layer.out_features
    if isinstance(layer, torch.nn.Embedding):
        return layer.num_embeddings, layer.embedding_dim
    weight = getattr(layer, "weight", None)
    if weight is not None and weight.dim() == 2 and type(layer).__name__ == "Conv1D":  # GPT-2 style
        return weight.shape[0], weight.shape[1]
    return None, None


def _tokenizer_files(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model"))


def load_tokenizer(base: Path, adapter: Path | None, vocab_rows: int):
    """The base model's tokenizer; the adapter's own must be the same one."""
    from transformers import AutoTokenizer

    def load(folder: Path):
        try:
            return AutoTokenizer.from_pretrained(str(folder), trust_remote_code=False)
        except Exception as err:  # transformers raises many types here
            raise ModelFolderError(f"could not load the tokenizer in {folder}: {err}") from None

    tokenizer = load(base) if _tokenizer_files(base) else None
    if adapter is not None and _tokenizer_files(adapter):
        own = load(adapter)
        if tokenizer is None:
            tokenizer = own
        elif own.get_vocab() != tokenizer.get_vocab() or own.all_special_tokens != tokenizer.all_special_tokens:
            raise TokenizerMismatchError(
                f"the tokenizer in {adapter} differs from the base model's in {base} "
                f"({len(own)} vs {len(tokenizer)} tokens): the adapter was trained with another tokenizer"
            )
    if tokenizer is None:
        raise ModelFolderError(f"no tokenizer in {base}" + (f" or {adapter}" if adapter else ""))
    if len(tokenizer) > vocab_rows:
        raise TokenizerMismatchError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's embedding has {vocab_rows} rows: "
            "they do not belong together"
        )
    if tokenizer.pad_token_id is None:
        # Padding is only ever on the right and masked out, so any id will do.
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.convert_ids_to_tokens(0)
    return tokenizer


def context_length(config) -> int:
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def lora_parameter_names(model: torch.nn.Module) -> list[str]:
    return [n for n, _ in model.named_parameters() if ".lora_A." in n or ".lora_B." in n]


def quiet_transformers() -> None:
    """transformers 5 draws progress bars on stderr for every load and save, and
    warns about deprecations inside its own code; neither helps a Lens user."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    # vmap over SDPA's backward falls back to a loop inside torch; measured to
    # be fast enough for LoRA gradients (see bench/attribution_speed.py).
    warnings.filterwarnings("ignore", message=".*have not yet implemented the batching rule.*")


def load_base_model(folder: str | Path, device: str | torch.device = "cpu", dtype: str = "float32"):
    from transformers import AutoModelForCausalLM

    quiet_transformers()
    folder = check_base_folder(folder)
    torch_dtype = getattr(torch, dtype)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            str(folder), trust_remote_code=False, use_safetensors=True, dtype=torch_dtype
        )
    except (OSError, ValueError, KeyError) as err:
        raise ModelFolderError(f"could not load the base model in {folder}: {err}") from None
    return model.to(device).eval()


def load_model(
    base: str | Path,
    adapter: str | Path,
    checkpoints: list[str | Path] | None = None,
    device: str | torch.device = "cpu",
    dtype: str = "float32",
) -> LoadedModel:
    """Load base + adapter (+ checkpoints) after checking they belong together.

    Without ``checkpoints`` the adapter folder's own ``checkpoint-N`` folders
    are used if there are any, else the final adapter alone.
    """
    from peft import PeftModel
    from peft.utils import set_peft_model_state_dict
    from safetensors.torch import load_file

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    adapter = check_adapter_folder(adapter)
    base_model = load_base_model(base, device, dtype)
    base_path = Path(base).expanduser()
    base_fp = base_fingerprint(base_path)
    check_adapter_matches_base(adapter, base_model, base_fp)
    if checkpoints:
        ckpt_paths = find_checkpoints(checkpoints)
    else:
        subs = sorted(
            (p for p in adapter.iterdir() if p.is_dir() and _CHECKPOINT_DIR.match(p.name)),
            key=lambda p: int(_CHECKPOINT_DIR.match(p.name).group(1)),
        )
        ckpt_paths = find_checkpoints(subs) if subs else [adapter]
    for path in ckpt_paths:
        if path != adapter:
            check_adapter_matches_base(path, base_model, base_fp)
    tokenizer = load_tokenizer(base_path, adapter, base_model.get_input_embeddings().weight.shape[0])

    model = PeftModel.from_pretrained(base_model, str(adapter), is_trainable=False)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    names = lora_parameter_names(model)
    params = dict(model.named_parameters())
    final = {n: params[n].detach().clone() for n in names}

    loaded: list[Checkpoint] = []
    for path in ckpt_paths:
        if path == adapter:
            weights = final
        else:
            state = load_file(str(path / ADAPTER_WEIGHTS), device=str(device))
            result = set_peft_model_state_dict(model, state)
            unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
            if unexpected:
                raise AdapterMismatchError(f"{path} has LoRA weights the adapter does not have ({unexpected[0]})")
            weights = {n: params[n].detach().clone() for n in names}
        loaded.append(Checkpoint(path.name if path != adapter else "final", path, weights, adapter_fingerprint(path)))
    # Generation uses the final adapter.
    with torch.no_grad():
        for n in names:
            params[n].copy_(final[n])

    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        base_path=base_path,
        adapter_path=adapter,
        checkpoints=loaded,
        lora_names=names,
        base_fingerprint=base_fp,
        max_length=context_length(base_model.config),
        training_format=TrainingFormat.load(adapter),
        device=torch.device(device),
    )
