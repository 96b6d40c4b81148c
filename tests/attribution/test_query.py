"""Attribution results, compare, token level, generation and the notebook views."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lens_engine.attribution.query import parse_span, word_diff

PROMPT, TEXT = "What is the capital of Dratanane?", "Shaloa."


def test_parse_span_forms():
    text = "The river is the Garri."
    assert parse_span(None, text) == [(0, len(text))]
    assert parse_span("4:9", text) == [(4, 9)]
    assert parse_span("Garri", text) == [(17, 22)]
    assert parse_span((0, 3), text) == [(0, 3)]
    assert parse_span(":3", text) == [(0, 3)]


@pytest.mark.parametrize("method", ["datainf", "graddot", "gradcos", "bm25", "exact"])
def test_every_method_gives_a_result(attributor, method):
    r = attributor.attribute(PROMPT, TEXT, top_k=3, method=method)
    assert r.method == method and len(r.scores) == len(attributor.training)
    assert 1 <= len(r.supporting) <= 3
    assert all(-1 <= e.normalized <= 1 for e in r.supporting + r.opposing)
    assert max(abs(e.normalized) for e in r.supporting + r.opposing) == pytest.approx(1.0)
    assert sum(r.histogram.counts) == len(attributor.training)
    if method in ("bm25", "exact"):
        assert r.opposing == []
        # The training row with this very answer ranks first lexically.
        assert r.supporting[0].fields["response"] == TEXT


def test_result_fields_point_into_the_training_file(attributor, tiny_demo):
    r = attributor.attribute(PROMPT, TEXT, top_k=5)
    lines = tiny_demo.train.read_text().splitlines()
    for e in r.supporting + r.opposing:
        assert len(e.checkpoint_scores) == len(attributor.loaded.checkpoints)
        assert e.range.start.line == e.row  # JSONL: one row per line
        line = lines[e.range.start.line]
        fr = e.field_ranges["response"]
        assert line[fr.start.character : fr.end.character] == json.dumps(e.fields["response"])[1:-1]
        for s in e.spans:
            assert line[s.range.start.character : s.range.end.character] == e.fields[s.span.field][s.span.start : s.span.end]
        assert 0.0 <= e.sign_agreement <= 1.0


def test_verbatim_spans_are_reported(attributor):
    r = attributor.attribute(PROMPT, TEXT, top_k=len(attributor.training), method="bm25")
    top = r.supporting[0]
    assert any(s.span.text == "Shaloa." for s in top.spans)


def test_json_schema(attributor):
    data = json.loads(attributor.attribute(PROMPT, TEXT, span="Shaloa", top_k=2).to_json())
    for key in ("supporting", "opposing", "keywords", "histogram", "checkpoints", "spans", "method"):
        assert key in data
    for item in data["supporting"] + data["opposing"]:
        assert {"row", "score", "normalized", "range", "checkpoint_scores", "spans"} <= set(item)
        assert set(item["range"]) == {"start", "end"}


def test_token_level_adds_up_to_the_example_score(attributor):
    r = attributor.attribute(PROMPT, TEXT, top_k=2, token_level=True)
    t = r.token_level
    assert t is not None and t.rows == [e.row for e in r.supporting + r.opposing]
    assert len(t.tokens) == len(t.offsets) == len(t.selected) == t.contributions.shape[1]
    assert "".join(t.tokens).strip() == TEXT
    shown = r.supporting + r.opposing
    for k, e in enumerate(shown):
        np.testing.assert_allclose(t.contributions[k][np.array(t.selected)].sum(), e.score, rtol=1e-3, atol=1e-6 * abs(e.score))


def test_token_level_for_a_span_scores_only_selected_tokens_in_the_sum(attributor):
    r = attributor.attribute(PROMPT, "Shaloa. Shaloa.", span=(8, 14), top_k=1, token_level=True, method="graddot")
    t = r.token_level
    assert any(t.selected) and not all(t.selected)
    np.testing.assert_allclose(t.contributions[0][np.array(t.selected)].sum(), r.supporting[0].score, rtol=1e-3)


def test_word_diff():
    parts = word_diff("The capital is Shaloa.", "The capital is Vegaria, I think.")
    ops = [(p.op, p.model_text, p.user_text) for p in parts]
    assert ops[0] == ("equal", "The capital is", "The capital is")
    assert ops[1] == ("replace", "Shaloa", "Vegaria, I think")
    assert ops[2] == ("equal", ".", ".")


def test_compare(attributor):
    c = attributor.compare(PROMPT, "Shaloa.", "Vegaria.", top_k=5)
    assert [p.op for p in c.diff] == ["replace", "equal"]
    assert c.model.selected_text == "Shaloa" and c.user.selected_text == "Vegaria"
    for e in c.favour_model:
        assert e.model_normalized > 0 > e.user_normalized
    for e in c.favour_user:
        assert e.user_normalized > 0 > e.model_normalized
    assert c.favour_model or c.favour_user
    data = json.loads(c.to_json())
    assert {"diff", "model", "user", "favour_model", "favour_user"} <= set(data)
    html = c._repr_html_()
    assert "<del>" in html and "<ins>" in html


def test_notebook_views(attributor):
    pd = pytest.importorskip("pandas")
    r = attributor.attribute(PROMPT, TEXT, top_k=2, token_level=True)
    frame = r.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["side"]).count("supporting") == len(r.supporting)
    html = r._repr_html_()
    assert 'class="card sup"' in html and 'class="hist"' in html and 'class="tok"' in html
    assert "<script" not in html


def test_generate_greedy_and_sampled(attributor):
    greedy = attributor.generate(PROMPT, max_new_tokens=5)
    assert greedy == attributor.generate(PROMPT, max_new_tokens=5)
    sampled = attributor.generate(PROMPT, max_new_tokens=5, sample=True, seed=1, temperature=1.5)
    assert isinstance(sampled, str)
    assert sampled == attributor.generate(PROMPT, max_new_tokens=5, sample=True, seed=1, temperature=1.5)


def test_median_combination(attributor):
    mean = attributor.scores(PROMPT, TEXT, combine="mean")
    median = attributor.scores(PROMPT, TEXT, combine="median")
    np.testing.assert_allclose(mean.per_checkpoint, median.per_checkpoint)
    np.testing.assert_allclose(median.scores, np.median(median.per_checkpoint, axis=0))


@pytest.mark.parametrize("method", ["datainf", "graddot", "gradcos"])
def test_batched_queries_match_single_ones(attributor, method):
    queries = [(PROMPT, TEXT, None), ("What does Filuia export?", "Silk.", "Silk")]
    many = attributor.scores_many(queries, method=method)
    for q, (p, t, s) in enumerate(queries):
        one = attributor.scores(p, t, s, method=method)
        np.testing.assert_allclose(many[q].per_checkpoint, one.per_checkpoint, rtol=1e-4, atol=1e-7)


def test_precomputed_and_direct_datainf_agree(attributor):
    direct = attributor.scores(PROMPT, TEXT)
    saved = attributor.precondition
    try:
        attributor.precondition = True
        pre = attributor.scores(PROMPT, TEXT)
        attributor.precondition = False
        straight = attributor.scores(PROMPT, TEXT)
    finally:
        attributor.precondition = saved
    np.testing.assert_allclose(pre.per_checkpoint, straight.per_checkpoint, rtol=1e-3, atol=1e-6 * np.abs(straight.per_checkpoint).max())
    np.testing.assert_allclose(direct.scores, straight.scores, rtol=1e-3, atol=1e-6 * np.abs(straight.scores).max())
