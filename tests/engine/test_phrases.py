"""Repeated phrases, openings and endings, with their spans in every row."""

from lens_engine.phrases import lexical_repetition, repeated_edges, repeated_phrases


TEXTS = [
    "Songs that are perfect for a rainy day at home.",
    "A playlist perfect for a rainy day, honestly.",
    "Jazz records perfect for a rainy day in the city",
    "Loud punk for angry afternoons",
    "Perfect for a rainy day: ambient drones",
    "Something completely different here",
]


def test_longest_shared_phrase_with_spans():
    phrases = repeated_phrases(TEXTS, min_count=3)
    assert [p.text.lower() for p in phrases] == ["perfect for a rainy day"]
    (p,) = phrases
    assert p.rows == [0, 1, 2, 4]
    for row, (s, e) in zip(p.rows, p.spans):
        assert TEXTS[row][s:e].lower() == "perfect for a rainy day"


def test_sub_phrases_hidden_only_when_the_longer_one_covers_them():
    texts = ["we love the open road"] * 3 + ["the open road again"] * 3 + ["over the open road x"] * 4
    phrases = {p.text: p.count for p in repeated_phrases(texts, min_count=3)}
    # "the open road" is in all 10 rows; "we love the open road" in only 3: both reported.
    assert phrases["the open road"] == 10
    assert phrases["we love the open road"] == 3


def test_punctuation_does_not_start_or_end_a_phrase():
    texts = ["so , then we go", "so , then we go", "so , then we go"]
    assert all(p.text[0].isalnum() and p.text[-1].isalnum() for p in repeated_phrases(texts, min_count=2))


def test_openings_and_endings():
    texts = [
        "Can you recommend some jazz for dinner?",
        "Can you recommend some metal for running?",
        "Can you recommend some folk for a campfire?",
        "I want songs that will make you smile.",
        "Give me tracks that will make you smile!",
        "Nothing shared",
    ]
    edges = {(p.kind, p.text.lower()): p for p in repeated_edges(texts, min_count=2)}
    assert ("opening", "can you recommend some") in edges
    assert ("ending", "that will make you smile") in edges
    p = edges[("ending", "that will make you smile")]
    assert [texts[r][s:e] for r, (s, e) in zip(p.rows, p.spans)] == ["that will make you smile"] * 2


def test_lexical_repetition_combines_both_and_respects_min_count():
    assert lexical_repetition(TEXTS, min_count=5) == []
    kinds = {p.kind for p in lexical_repetition(TEXTS, min_count=3)}
    assert "phrase" in kinds


def test_empty_and_missing_rows():
    assert repeated_phrases([None, "", "a b c"], min_count=2) == []
