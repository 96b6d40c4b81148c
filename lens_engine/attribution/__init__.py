"""Training-data attribution for LoRA-fine-tuned causal language models.

Which training examples made the model say this?  DataInf influence over
several checkpoints, with gradient dot/cosine, BM25 and verbatim-span
baselines on the same API.  Start with :class:`Attributor`; ``lens demo``
shows it on a tiny model built from scratch.
"""

from .attributor import Attributor
from .datainf import Damping
from .errors import (
    AdapterMismatchError,
    AttributionError,
    ModelFolderError,
    OutOfMemoryError,
    SpanError,
    StoreError,
    TextTooLongError,
    TokenizerMismatchError,
    TrainingDataError,
)
from .finetune import FinetuneSettings, finetune
from .results import AttributionResult, CompareResult, ExampleAttribution, TokenAttribution
from .training_data import TrainingFormat

__all__ = [
    "AdapterMismatchError",
    "AttributionError",
    "AttributionResult",
    "Attributor",
    "CompareResult",
    "Damping",
    "ExampleAttribution",
    "FinetuneSettings",
    "ModelFolderError",
    "OutOfMemoryError",
    "SpanError",
    "StoreError",
    "TextTooLongError",
    "TokenAttribution",
    "TokenizerMismatchError",
    "TrainingDataError",
    "TrainingFormat",
    "finetune",
]
