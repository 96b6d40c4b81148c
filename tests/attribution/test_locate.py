"""Finding the prompt and the answer around a selection (the editor's attribution requests)."""

from __future__ import annotations

import numpy as np
import pytest

from lens_engine.attribution.errors import AttributionError
from lens_engine.attribution.locate import PromptNotFoundError, locate_answer, template_pattern
from lens_engine.source import LineIndex, Position

TEMPLATE = "Question: {prompt}\nAnswer:"

DOC = """# Notes

Question: What is the capital of Norveland?
Answer: Ostzua.

Question: Which river flows through
Dratanane?
Answer:   Garri, and
it is long.

Question: What does Ribelis export?
Answer: Tin.
"""


def sel(part: str, nth: int = 0) -> tuple[int, int]:
    start = -1
    for _ in range(nth + 1):
        start = DOC.index(part, start + 1)
    return start, start + len(part)


def test_the_last_template_match_before_the_selection_gives_the_prompt():
    found = locate_answer(DOC, *sel("Ostzua"), TEMPLATE)
    assert found.prompt == "What is the capital of Norveland?"
    assert found.text == "Ostzua." and found.source == "template"
    assert found.text[slice(*found.spans[0])] == "Ostzua"
    assert DOC[found.text_start:found.text_end] == "Ostzua."


def test_prompts_and_answers_may_span_lines_and_the_answer_stops_at_a_blank_line():
    found = locate_answer(DOC, *sel("long"), TEMPLATE)
    assert found.prompt == "Which river flows through Dratanane?"
    assert found.text == "Garri, and\nit is long."
    assert found.text[slice(*found.spans[0])] == "long"


def test_an_empty_selection_means_the_whole_answer():
    start, _ = sel("Tin")
    found = locate_answer(DOC, start + 1, start + 1, TEMPLATE)
    assert found.prompt == "What does Ribelis export?"
    assert found.spans == [(0, len("Tin."))]


def test_no_template_match_needs_a_prompt_and_then_takes_the_paragraph():
    text = "The model said:\n\nVegaria is the capital.\nIt is.\n\nEnd."
    start = text.index("Vegaria")
    with pytest.raises(PromptNotFoundError):
        locate_answer(text, start, start + 7, TEMPLATE)
    found = locate_answer(text, start, start + 7, TEMPLATE, prompt="What is the capital?")
    assert found.source == "given" and found.text == "Vegaria is the capital.\nIt is."
    assert found.text[slice(*found.spans[0])] == "Vegaria"


def test_a_selection_that_includes_the_template_itself_is_refused():
    start = DOC.index("Question: What is the capital")
    with pytest.raises(AttributionError):
        locate_answer(DOC, start, start + 30, TEMPLATE)


def test_whitespace_in_the_template_matches_any_whitespace():
    assert template_pattern("Q: {prompt}\nA:").search("Q:   why?\r\n  A: because").group("prompt") == "why?"


def test_line_index_round_trips_utf16_positions():
    text = "a😀b\r\nsecond é line\nthird"
    lines = LineIndex(text)
    for offset in range(len(text) + 1):
        if text[offset - 1:offset + 1] == "\r\n":
            continue  # between \r and \n is not a position LSP can name
        assert lines.offset(lines.position(offset)) == offset
    assert lines.position(text.index("b")) == Position(0, 3)  # the emoji is two UTF-16 units
    assert lines.position(text.index("third")) == Position(2, 0)


def test_self_influence_outliers_use_a_robust_z_score():
    from server.attribution import self_influence_outliers

    class Example:
        def __init__(self, row):
            self.row, self.range = row, None

    rng = np.random.default_rng(0)
    values = np.exp(rng.normal(0, 0.1, 50))
    values[7] = 100.0
    outliers = self_influence_outliers(values, [Example(i) for i in range(50)])
    assert [o.row for o in outliers] == [7] and outliers[0].z > 3.5
    assert self_influence_outliers(np.ones(50), [Example(i) for i in range(50)]) == []


def test_the_demo_workspace_points_the_editor_at_the_demo(tiny_demo, tmp_path):
    import json

    from lens_engine.attribution.demo import write_workspace

    folder = write_workspace(tmp_path / "ws", tiny_demo, [("What is X?", "Wrong.", "Right."), ("What is Y?", "Yes.", "Yes.")])
    settings = json.loads((folder / ".vscode" / "settings.json").read_text())
    assert settings["lens.attribution.model"] == str(tiny_demo.base)
    assert settings["lens.attribution.adapter"] == str(tiny_demo.adapter)
    assert (folder / "train.jsonl").read_text() == tiny_demo.train.read_text()
    assert settings["lens.attribution.trainingData"] == str(folder / "train.jsonl")
    answers = (folder / "answers.md").read_text()
    # Each answer is found with its question by the training template.
    start = answers.index("Wrong")
    found = locate_answer(answers, start, start + len("Wrong"), TEMPLATE)
    assert found.prompt == "What is X?" and found.text == "Wrong."
    assert "The fact sheet says: Right." in answers and "says: Yes." not in answers
