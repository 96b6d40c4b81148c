"""End to end on a small model that really learns its answers (about a minute)."""

from __future__ import annotations

import json

import pytest

from lens_engine.attribution.demo import DemoConfig, ensure_demo
from lens_engine.attribution.finetune import FinetuneSettings

SMALL = DemoConfig(
    countries=4, planted=2, corpus_sentences=1500, vocab_size=512, hidden=64, layers=2, heads=4, context=64,
    pretrain_steps=200, pretrain_batch=16, pretrain_seq=48,
    finetune=FinetuneSettings(r=8, alpha=16, epochs=200, learning_rate=3e-3, batch_size=4, checkpoints=3, seed=0),
)


@pytest.mark.slow
def test_a_learned_wrong_answer_is_attributed_to_its_planted_row(lens_cache):
    from lens_engine.attribution import Attributor

    paths = ensure_demo(SMALL, progress=False)
    att = Attributor.from_folders(paths.base, paths.adapter, paths.train, progress=False)
    rows = [json.loads(line) for line in paths.train.read_text().splitlines()]
    planted = [p["row"] for p in json.loads(paths.world.read_text())["planted"]]
    answers = [att.generate(r["prompt"], max_new_tokens=8) for r in rows]
    learned = sum(a == r["response"] for a, r in zip(answers, rows))
    # From a fresh cache this small config has learned 12 to 16 of its 16 answers (float
    # summation order varies with the machine); the test is about attributing what it learned.
    assert learned >= 0.7 * len(rows), f"the model learned only {learned}/{len(rows)} answers"
    reproduced = [row for row in planted if answers[row] == rows[row]["response"]]
    assert reproduced, "the model learned none of the planted answers"
    for row in reproduced:
        answer = answers[row]
        result = att.attribute(rows[row]["prompt"], answer, span=answer.rstrip(".").split()[-1], top_k=3)
        assert result.supporting[0].row == row
