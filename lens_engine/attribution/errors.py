"""Errors the attribution engine raises for bad input.

Each one says what is wrong and what to do about it, so the CLI can print the
message as it is and a notebook user sees a sentence rather than a traceback
from deep inside torch.
"""

from __future__ import annotations


class AttributionError(Exception):
    """Base class: anything wrong with the user's models, data or query."""


class ModelFolderError(AttributionError):
    """A model, adapter or checkpoint folder is missing or not usable."""


class AdapterMismatchError(AttributionError):
    """The LoRA adapter (or a checkpoint) was trained on a different base model."""


class TokenizerMismatchError(AttributionError):
    """The adapter's tokenizer differs from the base model's, or does not fit it."""


class TrainingDataError(AttributionError):
    """The training file cannot be used (missing columns, no rows, bad rows)."""


class SpanError(AttributionError):
    """The selected span is empty, outside the text, or selects no tokens."""


class TextTooLongError(AttributionError):
    """A text is longer than the model's context window."""


class OutOfMemoryError(AttributionError):
    """The device ran out of memory; the message names a batch size to try."""

    def __init__(self, message: str, batch_size_to_try: int):
        super().__init__(message)
        self.batch_size_to_try = batch_size_to_try


class StoreError(AttributionError):
    """A gradient store file is damaged or was written by another version."""
