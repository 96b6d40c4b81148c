"""spaCy tagging and syntactic templates."""

import pytest

from lens_engine.syntax import (ModelError, SequenceRows, TaggedText, dominant_count, load_pipeline, syntactic_templates,
                                template_index, template_summary)


def test_tagging_is_real_and_keeps_offsets(tag):
    (t,) = tag(["How do I brew a stronger coffee for my mornings?"])
    assert t.words[:3] == ["How", "do", "I"]
    assert t.pos[t.words.index("brew")] == "VERB" and t.pos[t.words.index("coffee")] == "NOUN"
    assert "NN" not in t.pos  # coarse tags, not the all-NN failure of a pipeline without tok2vec
    root = t.dep.index("ROOT")
    assert t.heads[root] == root
    text = "How do I brew a stronger coffee for my mornings?"
    assert all(text[s:s + len(w)] == w for w, s in zip(t.words, t.starts))


def test_identical_templates_are_grouped_with_a_readable_summary(tag):
    rows = [
        "how do I fix a leak for my sink ?",
        "how do I paint a wall for my kid ?",
        "how do I build a shelf for my books ?",
        "how do I clean a rug for my mother ?",
        "how do I bake a cake for my party ?",
        "the weather is lovely today",
        "quantum computers use qubits instead of bits",
    ]
    templates = syntactic_templates(tag(rows), min_count=5)
    (t,) = templates
    assert t.rows == [0, 1, 2, 3, 4]
    assert t.summary == "how do I VERB a NOUN for my NOUN ?"
    assert t.id == "T1" and abs(t.share - 5 / 7) < 1e-9


def test_similar_templates_join_but_do_not_chain(tag):
    base = ["songs that make you want to dance in the kitchen", "songs that make you want to sing in the car",
            "songs that make you want to run in the park", "songs that make you want to cry in the rain"]
    variant = ["songs that make you really want to dance in the kitchen"]  # one extra adverb
    other = ["a list of ten sad ballads from the seventies"]
    tagged = tag(base + variant + other)
    # One inserted adverb: set overlap 0.73 with the others (unigrams 7/8, fewer bigrams and trigrams).
    loose = syntactic_templates(tagged, min_count=2, similarity=0.7)
    assert loose[0].rows == [0, 1, 2, 3, 4]
    strict = syntactic_templates(tagged, min_count=2, similarity=1.0)
    assert strict[0].rows == [0, 1, 2, 3]


def test_short_rows_and_missing_rows_are_left_out(tag):
    tagged = tag(["jazz", "jazz", "jazz"]) + [None]
    assert syntactic_templates(tagged, min_count=2, min_words=3) == []


def test_dominant_count():
    assert dominant_count(100, 0.02, 5) == 5
    assert dominant_count(10_000, 0.02, 5) == 200


def test_summary_of_empty_group():
    assert template_summary([]) == ""


def test_missing_pipeline_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_pipeline(str(tmp_path / "no-such-pipeline"))
    with pytest.raises(ModelError, match="spacy_model"):
        load_pipeline("not_an_installed_pipeline")


def _synthetic_rows(rng, n: int) -> list:
    """Tagged rows drawn from a few POS shapes (some near each other), words varying."""
    shapes = [["PRON", "VERB", "DET", "NOUN"], ["PRON", "VERB", "DET", "ADJ", "NOUN"],
              ["VERB", "DET", "NOUN", "ADP", "NOUN"], ["VERB", "DET", "NOUN", "ADP", "DET", "NOUN"],
              ["NOUN", "ADP", "NOUN"], ["ADJ", "NOUN"], ["DET", "NOUN", "VERB", "ADV", "ADJ", "PUNCT"],
              ["INTJ", "PUNCT", "INTJ", "PUNCT", "X", "SYM"]]  # the last: nothing else is like it
    words = ["songs", "music", "jazz", "I", "want", "the", "a", "for", "rainy", "day", "slow", "!"]

    def row():
        if rng.random() < 0.05:
            return None
        pos = list(rng.choice(shapes))
        if rng.random() < 0.3 and pos[0] != "INTJ":
            pos.insert(rng.randrange(len(pos) + 1), rng.choice(["ADV", "ADJ", "CCONJ"]))
        toks = [rng.choice(words) for _ in pos]
        return TaggedText(toks, list(range(len(toks))), pos, [""] * len(toks), list(range(len(toks))))

    return row, [row() for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1])
def test_warm_templates_equal_cold_ones_after_edits(seed):
    """The per-document memo (SequenceRows) and the pair index give a cold call's templates
    after every edit: rows changing shape, appearing and vanishing, rows inserted and deleted."""
    import random

    from lens_engine.neighbours import PairIndex
    from lens_engine.overlap import GrowingOverlap

    rng = random.Random(seed)
    row, rows = _synthetic_rows(rng, 300)
    memo, index = SequenceRows(), template_index(0.8)
    # A small index shared with a second document starts over now and then: the memo
    # must notice and have it learn every sequence again.
    small_memo, other_memo, small = SequenceRows(), SequenceRows(), PairIndex(GrowingOverlap(), 0.8, max_items=60)
    other_row, other_rows = _synthetic_rows(random.Random(seed + 100), 100)

    def summary(templates):
        return [(t.id, t.pos, t.summary, t.rows, t.exact_rows) for t in templates]

    kw = dict(min_count=5, similarity=0.8, min_words=3)
    generations = set()
    for step in range(40):
        cold = summary(syntactic_templates(rows, **kw))
        assert any(len(t[3]) > len(t[4]) for t in cold), "no group joins similar sequences"
        assert any(t[1][0] == "INTJ" for t in cold), "no template stands alone"
        assert summary(syntactic_templates(rows, index=index, rows_memo=memo, **kw)) == cold, step
        assert summary(syntactic_templates(rows, index=index, **kw)) == cold, step
        assert summary(syntactic_templates(rows, index=small, rows_memo=small_memo, **kw)) == cold, step
        other_rows[rng.randrange(len(other_rows))] = other_row()
        syntactic_templates(other_rows, index=small, rows_memo=other_memo, **kw)
        generations.add(id(small.generation))
        kind = rng.choice(["reword", "reword", "reword", "insert", "delete", "several"])
        i = rng.randrange(len(rows))
        if kind == "reword":
            rows[i] = row()
        elif kind == "insert":
            rows.insert(i, row())
        elif kind == "delete":
            del rows[i]
        else:
            for _ in range(5):
                rows[rng.randrange(len(rows))] = row()
    assert len(generations) > 3, "the small index never started over"
