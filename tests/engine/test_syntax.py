"""spaCy tagging and syntactic templates."""

import pytest

from lens_engine.syntax import ModelError, dominant_count, load_pipeline, syntactic_templates, template_summary


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
