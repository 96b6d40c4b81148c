"""Training examples exactly as the model saw them during fine-tuning.

A training file (CSV or JSONL) holds either raw ``text`` or ``prompt`` +
``response`` pairs.  The *format* says which columns to read and how a prompt
was wrapped (the chat/prompt template); the same format must be used when
fine-tuning and when attributing, otherwise the gradients describe a different
loss than the one the model was trained on.  Lens writes the format next to
the adapters it trains (``lens_training.json``) and reads it back by default.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lens_engine.datasets import DatasetError, FieldValue, load_table
from lens_engine.source import Range

from .errors import TextTooLongError, TrainingDataError

FORMAT_FILE = "lens_training.json"


@dataclass(frozen=True)
class TrainingFormat:
    """Which columns hold the training text and how a prompt is templated.

    With ``text_column`` set (or a ``text`` column and no prompt/response
    columns) every token of the text is trained on; otherwise the prompt is
    wrapped in ``template`` and only the response tokens count in the loss.
    """

    text_column: str | None = None
    prompt_column: str = "prompt"
    response_column: str = "response"
    template: str = "{prompt}\n"
    add_eos: bool = True

    @property
    def is_text(self) -> bool:
        return self.text_column is not None

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> "TrainingFormat":
        known = {k: data[k] for k in TrainingFormat.__dataclass_fields__ if k in data}
        return TrainingFormat(**known)

    def save(self, folder: str | Path) -> None:
        Path(folder, FORMAT_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @staticmethod
    def load(folder: str | Path) -> "TrainingFormat | None":
        path = Path(folder, FORMAT_FILE)
        if not path.is_file():
            return None
        return TrainingFormat.from_dict(json.loads(path.read_text()))

    def prompt_prefix(self, prompt: str) -> str:
        """The text the model sees before the response (or before ``text``)."""
        if self.is_text:
            return prompt
        if "{prompt}" not in self.template:
            raise TrainingDataError(f"the template {self.template!r} has no {{prompt}} placeholder")
        return self.template.replace("{prompt}", prompt)


def resolve_format(columns: list[str], fmt: TrainingFormat, path: str | None = None) -> TrainingFormat:
    """Check the format's columns exist; fall back to a ``text`` column."""
    where = f"{path}: " if path else ""
    have = ", ".join(columns) or "(none)"
    if fmt.text_column is not None:
        if fmt.text_column not in columns:
            raise TrainingDataError(f"{where}no column {fmt.text_column!r}; the file has: {have}")
        return fmt
    missing = [c for c in (fmt.prompt_column, fmt.response_column) if c not in columns]
    if not missing:
        return fmt
    if "text" in columns and len(missing) == 2:
        return TrainingFormat(text_column="text", add_eos=fmt.add_eos)
    raise TrainingDataError(
        f"{where}no column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}; the file has: {have}. "
        "Name the columns with --prompt-column/--response-column (or --text-column)"
    )


@dataclass
class EncodedText:
    """Token ids and a 0/1 mask of the tokens whose log-probability counts."""

    input_ids: list[int]
    target_mask: list[int]
    # Character span in the *scored* text (response or text) of each token of
    # it; prompt tokens have (-1, -1).
    offsets: list[tuple[int, int]] = field(default_factory=list)


def _token_ids(tokenizer, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    if not text:
        return [], []
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def encode(tokenizer, fmt: TrainingFormat, prompt: str, scored: str, add_eos: bool | None = None) -> EncodedText:
    """Encode ``prompt`` + ``scored`` the way training did.

    The two parts are tokenised separately and concatenated (as most SFT code
    does), so no token straddles the prompt/response boundary and the scored
    tokens are the same whether we train or query.
    """
    prefix_ids: list[int] = []
    if tokenizer.bos_token_id is not None:
        prefix_ids.append(int(tokenizer.bos_token_id))
    prefix_text = fmt.prompt_prefix(prompt)
    ids, _ = _token_ids(tokenizer, prefix_text)
    prefix_ids += ids
    body_ids, offsets = _token_ids(tokenizer, scored)
    eos = fmt.add_eos if add_eos is None else add_eos
    if eos and tokenizer.eos_token_id is not None:
        body_ids = body_ids + [int(tokenizer.eos_token_id)]
        offsets = offsets + [(len(scored), len(scored))]
    if fmt.is_text and not prefix_ids and body_ids:
        # A causal LM cannot score its first token without a BOS; drop it from the loss.
        mask = [0] + [1] * (len(body_ids) - 1)
    else:
        mask = [0] * len(prefix_ids) + [1] * len(body_ids)
    return EncodedText(prefix_ids + body_ids, mask, [(-1, -1)] * len(prefix_ids) + offsets)


@dataclass
class TrainingExample:
    """One training row as the model saw it, with where it lives in the file."""

    row: int
    fields: dict[str, FieldValue]  # the columns used, in template order
    range: Range
    input_ids: list[int]
    target_mask: list[int]
    content_hash: str

    @property
    def text(self) -> str:
        """The row's training text (prompt and response joined) for lexical methods."""
        return "\n".join(v.text for v in self.fields.values())


@dataclass
class TrainingSet:
    path: str
    format: TrainingFormat
    examples: list[TrainingExample]
    skipped: list[str]  # why rows were left out (empty fields, parse problems)

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def rows(self) -> np.ndarray:
        return np.array([e.row for e in self.examples], dtype=np.int64)

    def data_hash(self) -> str:
        h = hashlib.sha256()
        for e in self.examples:
            h.update(e.content_hash.encode())
        return h.hexdigest()


def example_hash(input_ids: list[int], target_mask: list[int]) -> str:
    """Identifies a row's gradient: same tokens and mask, same gradient."""
    data = np.asarray(input_ids, dtype=np.int64).tobytes() + np.asarray(target_mask, dtype=np.int8).tobytes()
    return hashlib.sha256(data).hexdigest()[:32]


def load_training_set(path: str | Path, fmt: TrainingFormat, tokenizer, max_length: int) -> TrainingSet:
    """Read and tokenise the training file; rows longer than the context are an error."""
    path = str(path)
    try:
        table = load_table(path)
    except DatasetError as err:
        raise TrainingDataError(str(err)) from None
    fmt = resolve_format(table.columns, fmt, path)
    columns = [fmt.text_column] if fmt.is_text else [fmt.prompt_column, fmt.response_column]
    skipped = [f"{path}:{p.range.start.line + 1}: {p.message}" for p in table.problems]
    examples: list[TrainingExample] = []
    too_long: list[tuple[int, int]] = []
    for record in table.records:
        values = [record.fields.get(c) for c in columns]
        if any(v is None or not v.text.strip() for v in values):
            empty = [c for c, v in zip(columns, values) if v is None or not v.text.strip()]
            skipped.append(f"{path}:{record.range.start.line + 1}: row {record.index} has no {', '.join(empty)}; skipped")
            continue
        if fmt.is_text:
            enc = encode(tokenizer, fmt, "", values[0].text)
        else:
            enc = encode(tokenizer, fmt, values[0].text, values[1].text)
        if len(enc.input_ids) > max_length:
            too_long.append((record.index, len(enc.input_ids)))
            continue
        examples.append(
            TrainingExample(
                row=record.index,
                fields=dict(zip(columns, values)),
                range=record.range,
                input_ids=enc.input_ids,
                target_mask=enc.target_mask,
                content_hash=example_hash(enc.input_ids, enc.target_mask),
            )
        )
    if too_long:
        shown = ", ".join(f"row {r} ({n} tokens)" for r, n in too_long[:5])
        more = f" and {len(too_long) - 5} more" if len(too_long) > 5 else ""
        raise TextTooLongError(
            f"{path}: {len(too_long)} row(s) are longer than the model's context of {max_length} tokens: "
            f"{shown}{more}. Split or shorten them"
        )
    if not examples:
        raise TrainingDataError(f"{path}: no usable training rows" + (f" ({skipped[0]})" if skipped else ""))
    return TrainingSet(path, fmt, examples, skipped)
