"""LoRA fine-tuning with what attribution needs: seeded per-epoch shuffles and checkpoints.

DataInf's authors found that training order changes gradients a lot and that
averaging over several checkpoints of a run with shuffled epochs gives better
attributions, so every epoch here uses its own seeded permutation (or a fixed
order, for comparison) and ``checkpoints`` adapters are saved evenly over the
run.  Each checkpoint also holds the optimizer state, so an interrupted run
resumes from its last checkpoint and ends with the same weights.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .errors import ModelFolderError
from .gradients import pad_right
from .models import BASE_FINGERPRINT_FILE, base_fingerprint, check_base_folder, context_length, load_base_model, load_tokenizer
from .training_data import TrainingFormat, TrainingSet, load_training_set

STATE_FILE = "trainer_state.json"
OPTIMIZER_FILE = "optimizer.safetensors"


@dataclass
class FinetuneSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: str | list[str] = "all-linear"
    epochs: int = 3
    learning_rate: float = 1e-3
    batch_size: int = 8
    checkpoints: int = 3  # saved at evenly spaced epoch ends; the last is the final adapter
    shuffle: bool = True  # a different seeded order every epoch; False = the file's order every epoch
    seed: int = 0
    max_grad_norm: float = 1.0
    weight_decay: float = 0.0


@dataclass
class FinetuneResult:
    output: Path
    checkpoints: list[Path]
    epoch_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    resumed_from_epoch: int = 0


def checkpoint_epochs(epochs: int, count: int) -> list[int]:
    """1-based epochs after which a checkpoint is saved, evenly spaced, always including the last."""
    count = max(1, min(count, epochs))
    return sorted({max(1, round(epochs * (k + 1) / count)) for k in range(count)})


def epoch_order(n: int, epoch: int, settings: FinetuneSettings) -> np.ndarray:
    if not settings.shuffle:
        return np.arange(n)
    return np.random.default_rng([settings.seed, epoch]).permutation(n)


def _save_optimizer(opt: torch.optim.Optimizer, folder: Path) -> None:
    from safetensors.torch import save_file

    state = opt.state_dict()
    tensors = {}
    for idx, entries in state["state"].items():
        for key, value in entries.items():
            tensors[f"{idx}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    save_file(tensors, str(folder / OPTIMIZER_FILE))


def _load_optimizer(opt: torch.optim.Optimizer, folder: Path) -> None:
    from safetensors.torch import load_file

    tensors = load_file(str(folder / OPTIMIZER_FILE))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    current = opt.state_dict()
    current["state"] = state
    opt.load_state_dict(current)


def _latest_resumable(output: Path) -> Path | None:
    found = []
    for p in output.glob("checkpoint-*"):
        if (p / STATE_FILE).is_file() and (p / OPTIMIZER_FILE).is_file():
            found.append((json.loads((p / STATE_FILE).read_text())["epoch"], p))
    return max(found)[1] if found else None


def _write_sidecars(folder: Path, base: Path, base_fp: str, fmt: TrainingFormat, tokenizer) -> None:
    fmt.save(folder)
    (folder / BASE_FINGERPRINT_FILE).write_text(json.dumps({"base_path": str(base), "base_fingerprint": base_fp}, indent=2) + "\n")
    tokenizer.save_pretrained(str(folder))


def batch_loss(model: torch.nn.Module, ids: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean over examples of each example's mean response cross-entropy: the
    loss whose per-example gradients the store holds."""
    logits = model(input_ids=ids, use_cache=False).logits[:, :-1].float()
    logp = torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None])[..., 0]
    mask = weights[:, 1:]
    return (-(logp * mask).sum(1) / mask.sum(1).clamp(min=1.0)).mean()


def finetune(
    base: str | Path,
    train: str | Path,
    output: str | Path,
    settings: FinetuneSettings | None = None,
    fmt: TrainingFormat | None = None,
    device: str = "cpu",
    resume: bool = True,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune a LoRA adapter on ``train`` and save it with its checkpoints in ``output``."""
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file

    settings = settings or FinetuneSettings()
    fmt = fmt or TrainingFormat()
    base = check_base_folder(base)
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ModelFolderError(f"{output} is a file; give a folder for the adapter")
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    torch.manual_seed(settings.seed)
    model = load_base_model(base, device)
    tokenizer = load_tokenizer(base, None, model.get_input_embeddings().weight.shape[0])
    training: TrainingSet = load_training_set(train, fmt, tokenizer, context_length(model.config))
    fmt = training.format
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, config)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=settings.weight_decay)
    base_fp = base_fingerprint(base)

    start_epoch, losses = 0, []
    resume_from = _latest_resumable(output) if resume else None
    if resume_from is not None:
        state = json.loads((resume_from / STATE_FILE).read_text())
        if state.get("settings") != asdict(settings) or state.get("data_hash") != training.data_hash():
            resume_from = None  # a different run: start over
        else:
            set_peft_model_state_dict(model, load_file(str(resume_from / "adapter_model.safetensors"), device=device))
            _load_optimizer(opt, resume_from)
            start_epoch, losses = state["epoch"], state["epoch_losses"]
    if resume_from is None:
        remove_checkpoints(output)  # left by another run; mixing them would mislead attribution

    n = len(training)
    steps_per_epoch = math.ceil(n / settings.batch_size)
    save_at = checkpoint_epochs(settings.epochs, settings.checkpoints)
    saved: list[Path] = []
    pad_id = int(tokenizer.pad_token_id)
    bar = tqdm(total=settings.epochs * steps_per_epoch, initial=start_epoch * steps_per_epoch, desc="fine-tuning", unit="step", disable=not progress)
    model.train()
    for epoch in range(start_epoch, settings.epochs):
        order = epoch_order(n, epoch, settings)
        total = 0.0
        for start in range(0, n, settings.batch_size):
            batch = [training.examples[i] for i in order[start : start + settings.batch_size]]
            ids, weights = pad_right([e.input_ids for e in batch], [e.target_mask for e in batch], pad_id, device)
            loss = batch_loss(model, ids, weights)
            loss.backward()
            if settings.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            opt.step()
            opt.zero_grad(set_to_none=True)
            total += loss.item() * len(batch)
            bar.update(1)
        losses.append(total / n)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if epoch + 1 in save_at:
            folder = output / f"checkpoint-{(epoch + 1) * steps_per_epoch}"
            model.save_pretrained(str(folder))
            _write_sidecars(folder, base, base_fp, fmt, tokenizer)
            _save_optimizer(opt, folder)
            state = {"epoch": epoch + 1, "epoch_losses": losses, "settings": asdict(settings), "data_hash": training.data_hash()}
            (folder / STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
    bar.close()
    model.eval()
    model.save_pretrained(str(output))
    _write_sidecars(output, base, base_fp, fmt, tokenizer)
    record = {"settings": asdict(settings), "format": fmt.to_dict(), "epoch_losses": losses, "train_file": str(train), "rows": n}
    (output / "lens_finetune.json").write_text(json.dumps(record, indent=2) + "\n")
    saved = sorted(output.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    return FinetuneResult(output, saved, losses, time.perf_counter() - started, start_epoch)


def remove_checkpoints(output: str | Path) -> None:
    """Delete an output folder's checkpoints (used when a run is restarted from scratch)."""
    for p in Path(output).glob("checkpoint-*"):
        shutil.rmtree(p)
