"""Find the prompt and the model's answer around a selection in a document.

A user selects part of a model's answer in a markdown file, a log or a pasted
notebook output.  To attribute it we need what the model was asked: the text
before the selection where the training template (``Question: {prompt}\\nAnswer:``)
matches.  The answer runs from the end of that match to the next blank line or
the next match of the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import AttributionError

CharSpan = tuple[int, int]

_BLANK_LINE = re.compile(r"\n[ \t]*\r?\n")


class PromptNotFoundError(AttributionError):
    """No prompt template before the selection, and no prompt was given."""


@dataclass(frozen=True)
class LocatedAnswer:
    prompt: str
    text: str  # the model's answer
    text_start: int  # offset of ``text`` in the document (Python characters)
    spans: list[CharSpan]  # the selection, relative to ``text``
    source: str  # "template" | "given"

    @property
    def text_end(self) -> int:
        return self.text_start + len(self.text)


def template_pattern(template: str) -> re.Pattern[str]:
    """The template as a regex: ``{prompt}`` matches one or more lines, the rest
    literally, any run of whitespace matching any other."""
    if "{prompt}" not in template:
        raise AttributionError(f"the prompt template {template!r} has no {{prompt}} placeholder")
    before, after = template.split("{prompt}", 1)

    def literal(part: str) -> str:
        words = part.split()
        if not words:
            return r"\s*" if part else ""
        lead = r"\s*" if part[:1].isspace() else ""
        trail = r"[ \t]*" if part[-1:].isspace() else ""
        return lead + r"\s+".join(re.escape(w) for w in words) + trail

    return re.compile(literal(before) + r"(?P<prompt>(?:(?!\n[ \t]*\n).)+?)" + literal(after), re.DOTALL)


def _paragraph_end(document: str, start: int, stop: int) -> int:
    m = _BLANK_LINE.search(document, start, stop)
    return m.start() if m else stop


def locate_answer(document: str, sel_start: int, sel_end: int, template: str | None,
                  prompt: str | None = None) -> LocatedAnswer:
    """The prompt and answer around ``document[sel_start:sel_end]``.

    An empty selection means the whole answer.  With ``prompt`` given the answer
    is the paragraph around the selection (or the template's answer, when a
    template matches before it).
    """
    if not 0 <= sel_start <= sel_end <= len(document):
        raise AttributionError(f"the selection {sel_start}:{sel_end} is outside the document")
    found = None
    pattern = None
    if template and template.strip() != "{prompt}":
        pattern = template_pattern(template)
        # The last match that ends before the selection starts.
        for m in pattern.finditer(document):
            if m.end() > sel_start:
                break
            found = m
    if found is not None:
        start = found.end()
        nxt = pattern.search(document, max(sel_end, start))
        stop = nxt.start() if nxt else len(document)
        end = _paragraph_end(document, max(sel_end, start), stop)
        if sel_start == sel_end:
            end = _paragraph_end(document, start, stop)
        text_prompt = prompt if prompt is not None else " ".join(found.group("prompt").split())
        source = "given" if prompt is not None else "template"
    else:
        if prompt is None:
            raise PromptNotFoundError(
                "no prompt found before the selection"
                + (f" (the template {template!r} does not match the text above it)" if template else "")
                + "; give the prompt explicitly")
        para_start = document.rfind("\n\n", 0, sel_start)
        start = 0 if para_start < 0 else para_start + 2
        end = _paragraph_end(document, sel_end, len(document))
        text_prompt, source = prompt, "given"
    # Trim the answer's surrounding whitespace; the selection stays where it is.
    raw = document[start:end]
    lead = len(raw) - len(raw.lstrip())
    text = raw.strip()
    text_start = start + lead
    if sel_start == sel_end:
        spans = [(0, len(text))]
    else:
        a = max(sel_start, text_start) - text_start
        b = min(sel_end, text_start + len(text)) - text_start
        if b <= a:
            raise AttributionError("the selection is not inside the model's answer")
        spans = [(a, b)]
    if not text:
        raise AttributionError("the answer after the prompt is empty")
    return LocatedAnswer(text_prompt, text, text_start, spans, source)
