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


def _rows_by_gram(texts, n: int) -> dict[tuple[str, ...], set[int]]:
    """Every word n-gram and the rows it occurs in, counted the slow, obvious way."""
    from lens_engine.text import words as split

    rows: dict[tuple[str, ...], set[int]] = {}
    for r, t in enumerate(texts):
        w = split(t) if t else []
        for i in range(len(w) - n + 1):
            rows.setdefault(tuple(w[i:i + n]), set()).add(r)
    return rows


def test_phrases_match_a_brute_force_count_and_nothing_frequent_is_lost():
    """Counting prunes windows (a frequent n-gram is made of frequent words and
    (n−1)-grams): every reported count must be the true number of rows, and every
    frequent n-gram must be reported or hidden behind a longer reported phrase."""
    import random

    from lens_engine.text import words as split

    rng = random.Random(3)
    vocab = ["a", "b", "c", ",", "d"]
    planted = ["the quick brown fox jumps", "over the lazy dog", "the quick brown cat"]

    def row() -> str:
        words = [rng.choice(vocab) for _ in range(rng.randint(0, 14))]
        if rng.random() < 0.4:
            words.insert(rng.randint(0, len(words)), rng.choice(planted))
        return " ".join(words)

    texts = [row() for _ in range(300)] + [None, ""]
    min_count = 12
    phrases = repeated_phrases(texts, min_count=min_count, min_words=3, max_words=6)
    reported = {tuple(split(p.text)): set(p.rows) for p in phrases}
    by_n = {n: _rows_by_gram(texts, n) for n in range(3, 7)}
    assert len(reported) > 10 and max(map(len, reported)) > 3  # the data has what this checks
    for words, rows in reported.items():
        assert rows == by_n[len(words)][words]
    for n in range(3, 7):
        for gram, rows in by_n[n].items():
            if len(rows) < min_count or not (gram[0].isalnum() and gram[-1].isalnum()):
                continue
            if sum(w.isalnum() for w in gram) < 2 or gram in reported:
                continue
            assert any(len(longer) > n and any(longer[i:i + n] == gram for i in range(len(longer) - n + 1))
                       for longer in reported), f"{gram} ({len(rows)} rows) is neither reported nor hidden"


def test_the_word_cache_gives_what_a_fresh_tokenisation_gives():
    from lens_engine.phrases import WordCache

    texts = list(TEXTS) * 3
    cache = WordCache()
    assert lexical_repetition(texts, min_count=3, cache=cache) == lexical_repetition(texts, min_count=3)
    texts[1] = "A playlist perfect for a rainy day, edited."
    texts.append("Perfect for a rainy day again")
    assert lexical_repetition(texts, min_count=3, cache=cache) == lexical_repetition(texts, min_count=3)
    assert len(cache.rows) == len(set(texts))  # rows 7 and 13 still have row 1's old text
