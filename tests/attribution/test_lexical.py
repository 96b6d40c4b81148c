"""BM25, verbatim shared spans and keywords."""

from __future__ import annotations

import numpy as np

from lens_engine.attribution.lexical import BM25Index, longest_shared_run, shared_spans, tfidf_keywords


DOCS = ["The capital of Dratanane is Shaloa.", "The river of Filuia is the Venor.", "Filuia exports silk and tea.", "Shaloa is a city."]


def test_bm25_ranks_matching_documents_first():
    index = BM25Index(DOCS)
    scores = index.scores("capital Dratanane")
    assert int(np.argmax(scores)) == 0
    assert scores[1] == 0 and scores[2] == 0
    assert index.scores("unknownword").sum() == 0
    # A rarer word weighs more than a common one.
    assert index.idf_of("dratanane") > index.idf_of("the")


def test_shared_spans_are_maximal_and_located():
    query = "I think the capital of Dratanane is Shaloa, really."
    spans = shared_spans(query, {"response": DOCS[0]})
    # Matching ignores case: "the" in the query matches "The" in the document.
    assert spans[0].text == "the capital of Dratanane is Shaloa"
    assert spans[0].words == 6
    s = spans[0]
    assert DOCS[0][s.start : s.end] == "The capital of Dratanane is Shaloa"
    assert query[s.query_start : s.query_end] == s.text
    # Runs of stopwords alone are not reported.
    assert shared_spans("of the", {"x": "of the"}) == []


def test_longest_shared_run():
    runs = longest_shared_run("the capital of Dratanane is Shaloa", DOCS)
    assert list(runs) == [6, 1, 0, 1]


def test_keywords():
    index = BM25Index(DOCS)
    words = [w for w, _ in tfidf_keywords(DOCS[1:3], index)]
    assert words[0] == "filuia"
    assert "the" not in words
