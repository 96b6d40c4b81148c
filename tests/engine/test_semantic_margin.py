"""The semantic-duplicate rule (cosine floor, neighbour ratio, wording ratio) and its
incremental index: an edited file gives the same pairs as a cold analysis."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from lens_engine.analyze import RowStore, analyze_text
from lens_engine.config import Settings
from lens_engine.semantic import (
    DuplicateRule,
    SemanticIndex,
    SemanticIndexPool,
    _top_k,
    adds_qualifier,
    content_sequence,
    content_words,
    embed_texts,
    extra_content,
    figures,
    normalize_rows,
    one_slot_apart,
    semantic_duplicates,
    wording_similarity,
)

PLAIN = DuplicateRule(0.8, neighbour_ratio=0, wording_ratio=0, figures=False, qualifier_words=0,
                      slot=False, extra_words=0)  # the floor alone

# A template with 36 fillings (rows that share a frame), three requests each said twice
# in other words, and unrelated rows.
TEMPLATE = [f"write a {adjective} poem about {topic}"
            for adjective in ("short", "sad", "funny", "long", "gentle", "dark")
            for topic in ("the sea", "the moon", "a city", "a forest", "winter", "a river")]
REWORDED = [("how do I get red wine stains out of a carpet", "removing a red wine spill from my rug"),
            ("cheap flights from Berlin to Lisbon in May", "low-cost airfare Berlin–Lisbon for May"),
            ("best way to learn Spanish verbs quickly", "how can I memorise Spanish verb conjugations fast")]
OTHER = ["explain how vaccines train the immune system", "a packing list for a week of camping",
         "summarise the causes of the French revolution", "tips for a first job interview"]


def test_rule_tests_each_pair_on_its_cosine_distance():
    rule = DuplicateRule(0.8, neighbour_ratio=0.5, wording_ratio=0.3)
    cos = np.array([0.93, 0.93, 0.93, 0.79])
    dense, sparse = np.full(4, 0.1), np.full(4, 0.4)  # distance to the 4th nearest row
    reworded, template_mates = np.full(4, 0.2), np.full(4, 0.8)  # word overlap
    # A pair distance 0.07 apart passes where the rows' 4th neighbours are 0.4 away...
    assert rule.keep(cos, sparse, sparse, reworded).tolist() == [True, True, True, False]
    # ...not where they are 0.1 away (0.07 > 0.5 × 0.1),
    assert not rule.keep(cos, dense, dense, reworded).any()
    # and not when the rows share 80% of their words (0.07 > 0.3 × 0.2).
    assert not rule.keep(cos, sparse, sparse, template_mates).any()
    # A ratio of 0 switches its test off.
    assert DuplicateRule(0.8, neighbour_ratio=0, wording_ratio=0).keep(cos, dense, dense, template_mates).tolist() == \
        [True, True, True, False]


def test_rule_rejects_nonsense_settings():
    with pytest.raises(ValueError, match="extra_words"):
        DuplicateRule(extra_words=-1)
    with pytest.raises(ValueError, match="semantic_neighbours"):
        DuplicateRule(neighbours=0)
    with pytest.raises(ValueError, match="ratio"):
        DuplicateRule(wording_ratio=-1)
    with pytest.raises(ValueError, match="qualifier_words"):
        DuplicateRule(qualifier_words=-1)


def words(text: str) -> tuple[str, ...]:
    return content_words(text)


def test_figures_read_years_decades_and_counts_alike():
    assert figures(words("music from the 1980's")) == figures(words("80s bands")) == \
        figures(words("the mid-80s")) == figures(words("eighties synth-pop")) == {"80"}
    assert figures(words("jazz in the 1920s")) == figures(words("jazz of the roaring twenties")) == {"20"}
    assert figures(words("top 10 songs of 2010")) == {"10", "2010"}
    assert figures(words("quiet music")) == frozenset()


def test_a_trailing_qualifier_makes_a_narrower_request():
    assert adds_qualifier(words("vibraphone solos"), words("vibraphone solos with gentle vocals"))
    assert adds_qualifier(words("Techno duets at a record store"), words("Techno duets"))  # either order
    assert not adds_qualifier(words("indie pop"), words("indie pop music"))  # one word: no qualifier
    assert not adds_qualifier(words("dub duets"), words("show me dub duets"))  # a frame before it
    assert not adds_qualifier(words("songs about working-class life"),  # other words in between
                              words("working-class songs about everyday life"))
    assert not adds_qualifier((), words("anything at all here"))


def content(text: str) -> tuple[str, ...]:
    return content_sequence(content_words(text))


def test_content_sequence_drops_stop_words_and_marks():
    assert content("Songs for a crisp, cold evening!") == ("songs", "crisp", "cold", "evening")
    assert content("some music for the night, 2 of them") == ("music", "night")


def test_one_slot_filled_differently_is_template_mates():
    assert one_slot_apart(content("songs for a sleepless evening"), content("songs for a sleepless afternoon"))
    assert one_slot_apart(content("songs that make you want to travel across the garage"),
                          content("songs that make you want to wander into the garage"))  # prepositions aside
    assert not one_slot_apart(content("songs for a frosty day"), content("songs for a frosty day"))  # none
    assert not one_slot_apart(content("songs to play at a graduation"), content("music for a graduation ceremony"))
    assert not one_slot_apart(content("protest songs against injustice"), content("songs protesting injustice"))


def test_extra_content_counts_words_added_beyond_those_swapped():
    # Adds "tips", an artist and "pls", swaps "finding" / "trying" ("find" is a stop word).
    assert extra_content(content("Tips for finding gritty music inspired by Savages pls"),
                         content("trying to find gritty music")) == 3
    assert extra_content(content("give me bluegrass records"), content("I want bluegrass records for knitting pls")) == 3
    # Rewordings swap words one for one; stems and prefixes count as counterparts.
    assert extra_content(content("music for stargazing at night"),
                         content("songs to listen to while looking at the stars at night")) == 2
    assert extra_content(content("songs about missing home while living abroad"),
                         content("homesick songs for people living abroad")) == 0
    assert extra_content(content("lullabies to help a newborn fall asleep"),
                         content("lullaby songs for getting a newborn baby to sleep")) == 1
    assert extra_content((), ()) == 0


def test_vetoes_strike_pairs_whatever_their_cosine():
    rule = DuplicateRule()
    assert rule.vetoes(words("The late 80s exotica"), words("Underrated exotica from the late 70s"))
    assert rule.vetoes(words("Motown records"), words("Motown records from the 1950s"))  # a figure more
    assert not rule.vetoes(words("jazz in the 1920s"), words("jazz of the roaring twenties"))
    assert rule.vetoes(words("vibraphone solos"), words("vibraphone solos with gentle vocals"))
    assert not rule.vetoes(words("polka music for Oktoberfest"), words("Oktoberfest polka songs"))
    assert rule.vetoes(words("songs for a sleepless evening"), words("songs for a sleepless afternoon"))
    assert rule.vetoes(words("Tips for finding gritty music inspired by Savages pls"), words("trying to find gritty music"))
    assert not rule.vetoes(words("music for stargazing at night"),
                           words("songs to listen to while looking at the stars at night"))
    off = DuplicateRule(figures=False, qualifier_words=0, slot=False, extra_words=0)
    assert not off.vetoes(words("The late 80s exotica"), words("Underrated exotica from the late 70s"))
    assert not off.vetoes(words("vibraphone solos"), words("vibraphone solos with gentle vocals"))
    assert not off.vetoes(words("songs for a sleepless evening"), words("songs for a sleepless afternoon"))
    assert not off.vetoes(words("Tips for finding gritty music inspired by Savages pls"), words("trying to find gritty music"))
    assert not DuplicateRule(extra_words=4).vetoes(words("Tips for finding gritty music inspired by Savages pls"),
                                                   words("trying to find gritty music"))
    cos, scale, wording = np.full(2, 0.93), np.full(2, 0.4), np.full(2, 0.2)
    assert rule.keep(cos, scale, scale, wording, np.array([False, True])).tolist() == [True, False]


def test_wording_similarity_compares_words_in_order():
    assert content_words("Songs for a crisp, cold evening!") == ("songs", "for", "a", "crisp", "cold", "evening")
    same_frame = wording_similarity(content_words("songs for a crisp evening"), content_words("songs for a crisp afternoon"))
    reordered = wording_similarity(content_words("polka music for Oktoberfest"), content_words("Oktoberfest polka songs"))
    assert same_frame == pytest.approx(0.8)
    assert reordered < 0.5
    assert wording_similarity((), ()) == 1.0


def test_top_k_narrow_and_wide_agree_with_a_full_sort():
    rng = np.random.default_rng(5)
    for cols in (3, 50, 700):  # fewer than k, narrow, wide (> 64·k columns)
        scores = rng.normal(size=(30, cols)).astype(np.float32)
        scores[0, :] = -np.inf  # a row with no neighbours at all
        values, columns = _top_k(scores, 4)
        expected = -np.sort(-scores, axis=1)[:, :4]
        take = min(4, cols)
        np.testing.assert_array_equal(values[1:, :take], expected[1:, :take])
        np.testing.assert_array_equal(np.take_along_axis(scores[1:], columns[1:, :take], axis=1), expected[1:, :take])
        assert (values[:, take:] == -np.inf).all() and (columns[:, take:] == -1).all()
        assert (values[0] == -np.inf).all()


def test_a_group_of_rewordings_passes_the_neighbour_test():
    # Three rewordings of one request among 60 unrelated rows: each row's nearest
    # neighbours are the other two, so a 2nd-neighbour ratio (Lowe's test) would reject
    # them all; with k = 4 their local scale comes from unrelated rows.
    rng = np.random.default_rng(2)
    request = rng.normal(size=64)
    group = normalize_rows(request + 0.25 * rng.normal(size=(3, 64)))
    embeddings = np.vstack([group, normalize_rows(rng.normal(size=(60, 64)))])
    texts = ["alpha beta", "gamma delta", "epsilon zeta"] + [f"row {i}" for i in range(60)]
    assert [(i, j) for i, j, _ in semantic_duplicates(embeddings, DuplicateRule(0.8, neighbours=4), texts)] == \
        [(0, 1), (0, 2), (1, 2)]
    assert semantic_duplicates(embeddings, DuplicateRule(0.8, neighbours=2), texts) == []


def test_template_mates_drop_out_and_rewordings_stay(embedding_model):
    texts = TEMPLATE + [t for pair in REWORDED for t in pair] + OTHER
    embeddings = embed_texts(texts, embedding_model)
    n = len(TEMPLATE)
    reworded = {(n + 2 * p, n + 2 * p + 1) for p in range(len(REWORDED))}

    plain = semantic_duplicates(embeddings, PLAIN, texts)
    found = semantic_duplicates(embeddings, DuplicateRule(), texts)
    template_pairs = [(i, j, c) for i, j, c in found if j < n]

    assert reworded <= {(i, j) for i, j, _ in plain}  # MiniLM puts them at cosine 0.80-0.88 ...
    assert sum(j < n for _, j, _ in plain) > 50  # ... among dozens of template mates as close
    assert {(i, j) for i, j, _ in found if j >= n} == reworded
    # Only a filler MiniLM hardly tells apart survives ("short" / "long" poem, cosine 0.96):
    # the wording test asks for cosine ≥ 0.957 from rows sharing 6 of their 7 words.
    assert len(template_pairs) <= 3 and all(c > 0.95 for _, _, c in template_pairs)


def test_vetoed_pairs_drop_out_with_the_real_model(embedding_model):
    narrower = [("vibraphone solos", "vibraphone solos with gentle vocals"),
                ("The late 80s exotica", "Underrated exotica from the late 70s"),
                ("songs for a sleepless evening", "songs for a sleepless afternoon"),
                ("Tips for finding gritty music inspired by Savages pls", "trying to find gritty music")]
    texts = [t for pair in REWORDED + narrower for t in pair] + OTHER
    embeddings = embed_texts(texts, embedding_model)
    reworded = {(2 * p, 2 * p + 1) for p in range(len(REWORDED))}
    vetoed = {(2 * p, 2 * p + 1) for p in range(len(REWORDED), len(REWORDED) + len(narrower))}
    without_vetoes = semantic_duplicates(
        embeddings, DuplicateRule(figures=False, qualifier_words=0, slot=False, extra_words=0), texts)
    assert {(i, j) for i, j, _ in without_vetoes} == reworded | vetoed  # MiniLM: cosine 0.82-0.95
    assert {(i, j) for i, j, _ in semantic_duplicates(embeddings, DuplicateRule(), texts)} == reworded


def random_rows(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str]]:
    """Rows with structure: a few dense clusters (template mates), close pairs, and noise."""
    centres = normalize_rows(rng.normal(size=(6, 48)))
    kinds = rng.integers(0, 8, size=n)
    vectors = np.where((kinds < 6)[:, None], centres[np.minimum(kinds, 5)] + 0.45 * rng.normal(size=(n, 48)) / 7,
                       rng.normal(size=(n, 48)))
    for i in range(0, n - 1, 9):  # close pairs
        vectors[i + 1] = vectors[i] + 0.2 * rng.normal(size=48) / 7
    vocabulary = ["songs", "for", "a", "quiet", "evening", "music", "about", "rain", "loud", "night", "jazz",
                  "80s", "1990s"]  # figures: the figure veto strikes some pairs, as trailing words do
    texts = [" ".join(rng.choice(vocabulary, size=rng.integers(2, 7))) for _ in range(n)]
    return normalize_rows(vectors), texts


def check_same_as_cold(index: SemanticIndex | SemanticIndexPool, keys, vectors, texts, rule) -> list:
    warm = index.pairs(keys, vectors, texts)
    cold = SemanticIndex(rule, block_rows=7).pairs(keys, vectors, texts)
    assert [(i, j) for i, j, _ in warm] == [(i, j) for i, j, _ in cold]
    np.testing.assert_allclose([c for _, _, c in warm], [c for _, _, c in cold], atol=1e-6)
    return warm


def test_incremental_index_equals_a_cold_one_through_edits():
    rng = np.random.default_rng(11)
    rule = DuplicateRule(0.8, neighbours=3, neighbour_ratio=0.6, wording_ratio=0.4)
    vectors, texts = random_rows(rng, 240)
    keys = list(range(240))
    index = SemanticIndex(rule)
    first = check_same_as_cold(index, keys, vectors, texts, rule)
    assert len(first) >= 5  # the rule keeps some pairs and rejects others
    assert len(first) < len(semantic_duplicates(vectors, PLAIN, texts))
    next_key = itertools.count(1000)
    for step in range(12):
        keys, vectors, texts = list(keys), vectors.copy(), list(texts)
        row = int(rng.integers(len(keys)))
        if step % 4 == 0:  # edit a row into a near copy of another (a new close pair)
            other = int(rng.integers(len(keys)))
            vectors[row] = normalize_rows(vectors[other:other + 1] + 0.05 * rng.normal(size=(1, 48)))[0]
            keys[row], texts[row] = next(next_key), texts[other] + " again"
        elif step % 4 == 1:  # delete rows (some were neighbours of others)
            drop = set(rng.choice(len(keys), size=5, replace=False).tolist())
            keep = [i for i in range(len(keys)) if i not in drop]
            keys, vectors, texts = [keys[i] for i in keep], vectors[keep], [texts[i] for i in keep]
        elif step % 4 == 2:  # insert rows, one repeating an existing key (an exact duplicate)
            extra, extra_texts = random_rows(rng, 4)
            keys = keys + [next(next_key) for _ in range(4)] + [keys[row]]
            vectors = np.vstack([vectors, extra, vectors[row:row + 1]])
            texts = texts + extra_texts + [texts[row]]
        else:  # edit a row into a fresh one
            vectors[row] = normalize_rows(rng.normal(size=(1, 48)))[0]
            keys[row] = next(next_key)
        check_same_as_cold(index, keys, vectors, texts, rule)


def test_pool_keeps_one_state_per_set_of_rows():
    rng = np.random.default_rng(4)
    rule = DuplicateRule()
    (a_vectors, a_texts), (b_vectors, b_texts) = random_rows(rng, 80), random_rows(rng, 60)
    a_keys, b_keys = [f"a{i}" for i in range(80)], [f"b{i}" for i in range(60)]
    pool = SemanticIndexPool(rule, size=2)
    check_same_as_cold(pool, a_keys, a_vectors, a_texts, rule)
    check_same_as_cold(pool, b_keys, b_vectors, b_texts, rule)
    a_keys[3], a_texts[3] = "a3-edited", "an edited row"
    check_same_as_cold(pool, a_keys, a_vectors, a_texts, rule)  # goes back to a's state
    assert [len(state) for state in pool._states] == [60, 80]
    c_vectors, c_texts = random_rows(rng, 30)
    check_same_as_cold(pool, [f"c{i}" for i in range(30)], c_vectors, c_texts, rule)
    assert [len(state) for state in pool._states] == [80, 30]  # b, least recently used, is dropped


def test_edited_file_gets_the_pairs_of_a_cold_analysis(tmp_path, monkeypatch, embedding_model):
    monkeypatch.setattr("lens_engine.analyze.embedding_model", lambda name, device=None: embedding_model)  # loaded once
    rows = TEMPLATE[:18] + [t for pair in REWORDED for t in pair] + OTHER
    text = "prompt\n" + "\n".join(rows) + "\n"
    settings = Settings(syntax=False, clusters=False, scores=False, cache=False, device="cpu")
    store = RowStore(None)
    path = str(tmp_path / "d.csv")
    analyze_text(text, path, settings, store=store)
    for old, new in (("removing a red wine spill from my rug", "getting spilled red wine out of a rug"),
                     ("write a sad poem about the sea", "write a long poem about the sea"),
                     ("tips for a first job interview", "low-cost airfare Berlin–Lisbon for May")):
        text = text.replace(old, new)
        warm = analyze_text(text, path, settings, store=store)
        cold = analyze_text(text, path, settings, store=RowStore(None))
        assert [(a, b) for a, b, _ in warm.per_column["prompt"].semantic_pairs] == \
            [(a, b) for a, b, _ in cold.per_column["prompt"].semantic_pairs]
    assert warm.per_column["prompt"].semantic_pairs  # the comparison was not vacuous
