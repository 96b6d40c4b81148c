"""Generated rows that copy a seed's wording or template."""

from lens_engine.seeds import read_seeds_file, seed_copies, seed_rows_by_text, seed_rows_by_value


def test_seed_rows_by_tag_value():
    assert seed_rows_by_value(["seed", "generated", "Uploaded, seed", None, "SEED"], "seed") == [0, 2, 4]


def test_wording_copies_and_reorderings_but_not_template_mates(tag):
    texts = [
        "music for a rainy sunday afternoon",  # seed
        "music for a rainy sunday afternoon indoors",  # copy with a word added
        "rainy sunday afternoon music for a",  # reordered
        "songs for a lazy monday evening",  # same template (NOUN ADP DET ADJ PROPN NOUN), other words: not a copy
        "loud guitar bands from the nineties",
    ]
    copies = seed_copies(texts, [0], threshold=0.8, tagged=tag(texts))
    wording = {c.row for c in copies if c.kind == "wording"}
    template = {c.row for c in copies if c.kind == "template"}
    assert wording == {1, 2}
    assert 3 in template and 3 not in wording
    assert all(c.seed_row == 0 for c in copies)


def test_seeds_from_a_file(tmp_path):
    path = tmp_path / "seeds.txt"
    path.write_text("music for a rainy day\n\nsongs to cry to\n")
    seeds = read_seeds_file(path)
    assert seeds == ["music for a rainy day", "songs to cry to"]
    texts = ["Music for a rainy day", "music for a rainy day please", "techno"]
    assert seed_rows_by_text(texts, seeds) == [0]
    copies = seed_copies(texts, [], extra_seeds=seeds)
    assert {(c.row, c.seed_row) for c in copies} == {(0, -1), (1, -1)}
