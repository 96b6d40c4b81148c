"""The sample generators: deterministic, realistic, and with ground truth that is true.

These check the generator on its own terms (pure Python, plus rapidfuzz and
spaCy as independent witnesses); ``test_planted.py`` checks Lens against it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import fuzz
from rapidfuzz.process import cdist

from lens_engine import sample_data as sd
from lens_engine.sample_data import (
    COLUMNS,
    GENERATED_TAG,
    SEED_TAG,
    STOCK_PHRASES,
    TEMPLATE_BY_ID,
    contains_words,
    indel_similarity,
    music_requests,
    normalize,
    phrases_overlap,
    planted_dataset,
    word_list,
    write_csv,
    write_jsonl,
)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "lens_engine" / "data" / "music_requests.csv"
N_ROWS = 1000


@pytest.fixture(scope="module")
def planted() -> sd.PlantedDataset:
    return planted_dataset(N_ROWS, seed=7)


def flag_floor(n_rows: int) -> int:
    """Lens's default: a template or phrase shared by ≥ 2% of rows and ≥ 5 rows is flagged."""
    return max(5, math.ceil(0.02 * n_rows))


# -- determinism and shape ------------------------------------------------------


def test_same_seed_same_rows_other_seed_other_rows():
    assert planted_dataset(400, seed=3) == planted_dataset(400, seed=3)
    assert planted_dataset(400, seed=3).rows != planted_dataset(400, seed=4).rows
    assert music_requests(500, seed=1) == music_requests(500, seed=1)


@pytest.mark.parametrize("n_rows", [200, 1000, 3000])
def test_row_count_columns_and_seed_tags(n_rows):
    rows = music_requests(n_rows)
    assert len(rows) == n_rows
    assert all(tuple(r) == COLUMNS for r in rows)
    # Eight seeds first, as a few-shot prompt's examples come first in real output.
    assert [r["tags"] for r in rows[:8]] == [SEED_TAG] * 8
    assert {r["tags"] for r in rows[8:]} == {GENERATED_TAG}
    assert all(len(r["recommended_artists"].split(", ")) >= 3 for r in rows)


def test_too_small_a_dataset_is_refused():
    with pytest.raises(ValueError):
        planted_dataset(100)


def test_vocabulary_is_large_enough_to_keep_incidental_repetition_rare():
    slot_values = (len(sd.MOODS) + len(sd.ACTIVITIES) + len(sd.PLACES) + len(sd.OCCASIONS) + len(sd.PEOPLE)
                   + len(sd.QUALITIES) + len(sd.INSTRUMENTS) + len(sd.CITIES) + len(sd.SCENES)
                   + len(sd.FEELINGS) + len(sd.TOPICS) + len(sd.LANGUAGES))
    assert len(sd.GENRES) >= 60
    assert len(sd.ARTISTS) >= 400
    assert slot_values >= 400
    assert len(sd.BACKGROUND_FRAMES) >= 90
    assert len(sd.CORES) * len(sd.MODIFIERS) >= 500


# -- the bundled sample file ------------------------------------------------------


def test_bundled_sample_is_exactly_what_the_generator_makes():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        import make_sample
    finally:
        sys.path.remove(str(REPO / "scripts"))
    assert SAMPLE.exists(), "run scripts/make_sample.py"
    assert SAMPLE.read_bytes() == make_sample.sample_bytes()


def test_bundled_sample_has_the_texture_of_real_exports():
    raw = SAMPLE.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    assert 2000 <= len(rows) <= 5000
    assert rows == music_requests()
    queries = [r["query"] for r in rows]
    assert sum("\n" in q for q in queries) >= 2  # multi-line quoted fields
    assert any('"' in q for q in queries)  # escaped quotes
    assert any(ord(ch) > 0xFFFF for q in queries for ch in q)  # astral characters (2 UTF-16 units)
    assert any(not q.isascii() for q in queries)
    assert all("," in r["recommended_artists"] for r in rows)  # quoted fields with commas
    assert 100_000 < len(raw.encode()) < 1_000_000


def test_jsonl_variant_round_trips_with_a_nested_tag(tmp_path):
    rows = music_requests(300, seed=2)
    path = write_jsonl(rows, tmp_path / "sample.jsonl")
    objects = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(objects) == len(rows)
    for obj, row in zip(objects, rows):
        assert obj["query"] == row["query"]
        assert ", ".join(obj["recommended_artists"]) == row["recommended_artists"]
        assert obj["meta"]["source"] == row["tags"]


def test_csv_writer_round_trips(tmp_path):
    rows = music_requests(300, seed=5)
    path = write_csv(rows, tmp_path / "s.csv")
    with path.open(encoding="utf-8", newline="") as f:
        assert list(csv.DictReader(f)) == rows


# -- the ground truth is true ---------------------------------------------------


def test_planted_structure_clears_the_flagging_floor(planted):
    floor = flag_floor(N_ROWS)
    for template_id, rows in planted.template_rows.items():
        assert len(rows) >= floor, template_id
    for phrase, rows in planted.phrase_rows.items():
        assert len(rows) >= floor, phrase
    assert len(planted.near_duplicate_pairs) >= 20
    assert len(planted.exact_duplicate_groups) >= 10
    assert len(planted.seed_copy_pairs) >= 16
    assert len(planted.semantic_duplicate_pairs) >= 10


def test_template_rows_follow_their_pattern_and_no_other_row_does(planted):
    members = {r for rows in planted.template_rows.values() for r in rows}
    for template_id, rows in planted.template_rows.items():
        for r in rows:
            assert sd._Builder.follows_template(planted.texts[r], template_id)
    for r, text in enumerate(planted.texts):
        if r not in members:
            assert not any(sd._Builder.follows_template(text, t) for t in TEMPLATE_BY_ID), text


def test_phrase_rows_are_exactly_the_rows_containing_the_phrase(planted):
    row_words = [word_list(t) for t in planted.texts]
    for phrase, rows in planted.phrase_rows.items():
        pw = word_list(phrase)
        assert rows == [i for i, ws in enumerate(row_words) if contains_words(ws, pw)]


def test_exact_duplicate_groups_are_all_and_only_the_normalised_repeats(planted):
    by_text = Counter(normalize(t) for t in planted.texts)
    grouped = {r for g in planted.exact_duplicate_groups for r in g}
    for group in planted.exact_duplicate_groups:
        assert len({normalize(planted.texts[r]) for r in group}) == 1
        assert len({planted.texts[r] for r in group}) == len(group)  # differ in bytes: case/space
    assert grouped == {r for r, t in enumerate(planted.texts) if by_text[normalize(t)] > 1}


def test_near_copies_change_a_word_or_two(planted):
    for a, b in planted.near_duplicate_pairs:
        ta, tb = normalize(planted.texts[a]), normalize(planted.texts[b])
        assert ta != tb
        assert indel_similarity(ta, tb) >= 0.9
        assert fuzz.ratio(ta, tb) / 100 == pytest.approx(indel_similarity(ta, tb), abs=1e-9)
        changed = Counter(word_list(ta)) - Counter(word_list(tb)) + (Counter(word_list(tb)) - Counter(word_list(ta)))
        assert sum(changed.values()) <= 6, (ta, tb)


def test_seed_copies_copy_a_seed(planted):
    seeds = set(planted.seed_rows)
    assert planted.seed_rows == list(range(8))
    for seed, copy in planted.seed_copy_pairs:
        assert seed in seeds and copy not in seeds
        assert planted.rows[copy]["tags"] == GENERATED_TAG
        assert fuzz.ratio(normalize(planted.texts[seed]), normalize(planted.texts[copy])) >= 85
    assert {s for s, _ in planted.seed_copy_pairs} == seeds  # every seed is copied


def test_paraphrases_are_not_near_duplicates(planted):
    for a, b in planted.semantic_duplicate_pairs:
        assert fuzz.ratio(normalize(planted.texts[a]), normalize(planted.texts[b])) < 85


def test_phrase_overlap_matches_shifted_and_extended_phrases():
    planted_phrase = word_list("perfect for a rainy day")
    assert phrases_overlap(word_list(", perfect for a"), planted_phrase)
    assert phrases_overlap(word_list("day, perfect for a rainy day"), planted_phrase)
    assert not phrases_overlap(word_list("for a"), planted_phrase)
    assert not phrases_overlap(word_list("a rainy night"), planted_phrase)
    assert phrases_overlap(word_list("songs for a"), word_list("songs for a"))


def test_stock_phrases_appear_only_where_planted(planted):
    for phrase in STOCK_PHRASES:
        rows = planted.phrase_rows[phrase.phrase]
        assert all(phrase.phrase in planted.texts[r] for r in rows)


# -- the background is genuinely diverse -----------------------------------------


def _structured_rows(ds: sd.PlantedDataset) -> set[int]:
    rows = set(ds.seed_rows)
    for members in ds.template_rows.values():
        rows |= set(members)
    for pairs in (ds.near_duplicate_pairs, ds.seed_copy_pairs, ds.semantic_duplicate_pairs):
        rows |= {r for pair in pairs for r in pair}
    for group in ds.exact_duplicate_groups:
        rows |= set(group)
    return rows


def test_no_unplanted_phrase_reaches_the_flagging_floor(planted):
    # A stock phrase is planted with its lead-in (", perfect for a rainy day"); n-grams
    # across the lead-in are part of the planted structure too.
    planted_words = [word_list(p) for p in planted.phrase_rows]
    planted_words += [word_list(p.lead_in + p.phrase) for p in STOCK_PHRASES]
    counts: Counter[tuple[str, ...]] = Counter()
    for text in planted.texts:
        ws = word_list(text)
        counts.update({tuple(ws[i:i + k]) for k in range(3, 9) for i in range(len(ws) - k + 1)})

    def overlaps_planted(gram: tuple[str, ...]) -> bool:
        return any(phrases_overlap(gram, p) for p in planted_words)

    # A 25% margin under the floor, so a different seed does not tip a phrase over it.
    limit = 0.75 * flag_floor(N_ROWS)
    common = [(" ".join(g), c) for g, c in counts.items() if c >= limit and not overlaps_planted(g)]
    assert common == []


def test_background_rows_are_not_near_duplicates_of_each_other(planted):
    background = sorted(set(range(len(planted.rows))) - _structured_rows(planted))
    texts = [normalize(planted.texts[r]) for r in background]
    sims = cdist(texts, texts, scorer=fuzz.ratio, dtype=np.uint8, workers=1)
    np.fill_diagonal(sims, 0)
    close_pairs = int((np.triu(sims) >= 85).sum())
    # Against 40 planted near-copy pairs; a shared stock phrase can make one or two.
    assert close_pairs <= 3


@pytest.fixture(scope="module")
def pos_tags(planted, nlp) -> list[tuple[str, ...]]:
    return [tuple(t.pos_ for t in doc) for doc in nlp.pipe(planted.texts, batch_size=256)]


def test_each_planted_template_is_one_tag_sequence_for_spacy(planted, pos_tags):
    # Slot fillers were chosen so the small English model tags every row of a
    # template alike; otherwise recall would measure the tagger, not Lens.
    for template_id, rows in planted.template_rows.items():
        counts = Counter(pos_tags[r] for r in rows)
        share = counts.most_common(1)[0][1] / len(rows)
        assert share >= 0.95, (template_id, counts.most_common(3))


def test_background_rows_share_no_tag_sequence_at_the_flagging_floor(planted, pos_tags):
    background = set(range(len(planted.rows))) - _structured_rows(planted)
    counts = Counter(pos_tags[r] for r in background)
    biggest, n = counts.most_common(1)[0]
    assert n < 0.75 * flag_floor(N_ROWS), (" ".join(biggest), n)
