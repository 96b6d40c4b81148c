"""What a query scores: the selected tokens of a text, and word diffs for compare.

The target (as in LLM Attributor) is the summed log-probability of the
selected span's tokens given the prompt and the text before the span.  A span
is given in characters of ``text``; every token that overlaps it is selected.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from .errors import SpanError, TextTooLongError
from .lexical import tokens_with_spans
from .training_data import TrainingFormat, encode

CharSpan = tuple[int, int]


@dataclass
class QueryTarget:
    prompt: str
    text: str
    spans: list[CharSpan]  # selected character spans of ``text``
    input_ids: list[int]
    weights: list[float]  # 1.0 on the selected tokens, 0.0 elsewhere
    text_start: int  # index in input_ids of the first token of ``text``
    token_offsets: list[CharSpan]  # character span in ``text`` of each token of it

    @property
    def selected_positions(self) -> list[int]:
        return [i for i, w in enumerate(self.weights) if w > 0]

    @property
    def text_positions(self) -> list[int]:
        return list(range(self.text_start, len(self.input_ids)))


def parse_span(span: "str | CharSpan | list[CharSpan] | None", text: str) -> list[CharSpan]:
    """Normalise a span given as None (whole text), (start, end), "START:END",
    a substring of ``text``, or a list of (start, end)."""
    if not text:
        raise SpanError("the text is empty: there is nothing to attribute")
    if span is None:
        return [(0, len(text))]
    if isinstance(span, str):
        if ":" in span and all(part.strip().lstrip("-").isdigit() or part.strip() == "" for part in span.split(":", 1)):
            start_s, end_s = span.split(":", 1)
            spans = [(int(start_s) if start_s.strip() else 0, int(end_s) if end_s.strip() else len(text))]
        else:
            where = text.find(span)
            if not span or where < 0:
                raise SpanError(f"the span {span!r} does not occur in the text")
            spans = [(where, where + len(span))]
    elif isinstance(span, tuple) and len(span) == 2 and all(isinstance(x, int) for x in span):
        spans = [span]
    else:
        spans = [tuple(s) for s in span]  # type: ignore[misc]
    if not spans:
        raise SpanError("no span given")
    for start, end in spans:
        if start < 0 or end > len(text):
            raise SpanError(f"the span {start}:{end} is outside the text (0:{len(text)})")
        if end <= start:
            raise SpanError(f"the span {start}:{end} is empty")
    if all(not text[s:e].strip() for s, e in spans):
        raise SpanError("the span holds only whitespace")
    return spans


def build_target(tokenizer, fmt: TrainingFormat, prompt: str, text: str, spans: list[CharSpan], max_length: int) -> QueryTarget:
    enc = encode(tokenizer, fmt, prompt, text, add_eos=False)
    if len(enc.input_ids) > max_length:
        raise TextTooLongError(
            f"the prompt and text are {len(enc.input_ids)} tokens long; the model's context is {max_length}. "
            "Shorten the prompt or the text"
        )
    text_start = next(i for i, m in enumerate(enc.target_mask) if m) if any(enc.target_mask) else len(enc.input_ids)
    offsets = enc.offsets[text_start:]
    weights = [0.0] * len(enc.input_ids)
    for i, (s, e) in enumerate(offsets):
        if any(s < span_end and e > span_start for span_start, span_end in spans):
            weights[text_start + i] = 1.0
    if fmt.is_text and text_start == 0 and weights and weights[0]:
        weights[0] = 0.0  # the first token has no context to be predicted from
    if not any(weights):
        raise SpanError(f"the span {spans} selects no tokens of the text")
    return QueryTarget(prompt, text, spans, enc.input_ids, weights, text_start, offsets)


# ---------------------------------------------------------------------------
# Word diff for compare


@dataclass
class DiffPart:
    op: str  # "equal" | "replace" | "delete" (only in the model's text) | "insert" (only in the user's)
    model: CharSpan | None  # characters of the model's text, None for an insert
    user: CharSpan | None  # characters of the user's text, None for a delete
    model_text: str
    user_text: str

    def to_dict(self) -> dict:
        return {
            "op": self.op,
            "model": list(self.model) if self.model else None,
            "user": list(self.user) if self.user else None,
            "model_text": self.model_text,
            "user_text": self.user_text,
        }


def word_diff(model_text: str, user_text: str) -> list[DiffPart]:
    a, b = tokens_with_spans(model_text), tokens_with_spans(user_text)
    matcher = difflib.SequenceMatcher(a=[w for w, _, _ in a], b=[w for w, _, _ in b], autojunk=False)
    parts: list[DiffPart] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        m = (a[i1][1], a[i2 - 1][2]) if i2 > i1 else None
        u = (b[j1][1], b[j2 - 1][2]) if j2 > j1 else None
        parts.append(DiffPart(op, m, u, model_text[m[0] : m[1]] if m else "", user_text[u[0] : u[1]] if u else ""))
    return parts


def differing_spans(parts: list[DiffPart], side: str) -> list[CharSpan]:
    return [getattr(p, side) for p in parts if p.op != "equal" and getattr(p, side) is not None]
