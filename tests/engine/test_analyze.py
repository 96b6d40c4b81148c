"""The whole analysis through its two entry points: the engine API and the `lens` CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lens_engine.analyze import RowStore, SAMPLE_PATH, analyze_path, analyze_text
from lens_engine.cli import main as lens
from lens_engine.config import ConfigError, Settings, load_settings

FAST = Settings(semantic=False, clusters=False)


def small_dataset(tmp_path: Path, name: str = "d.csv") -> Path:
    rows = ["prompt,response,source"]
    rows += [f"q{i},songs that make you want to dance in the {place},generated"
             for i, place in enumerate(["kitchen", "garage", "street", "rain", "office", "car"])]
    rows += ["q7,quiet piano pieces for reading late at night,generated",
             "q8,Quiet  piano pieces for reading late at night,generated",
             "q9,aggressive metal for lifting heavy weights at the gym,seed",
             "q10,aggressive metal for lifting heavy weights at the gym today,generated",
             "q11,french pop from the sixties with lush strings,generated"]
    path = tmp_path / name
    path.write_text("\n".join(rows) + "\n")
    return path


def test_findings_of_each_kind_with_rows_ranges_and_related(tmp_path):
    path = small_dataset(tmp_path)
    result = analyze_path(path, FAST.replace(seed_column="source", seed_value="seed"))
    assert result.columns == ["response"]  # chosen: the freest text
    assert "response" in result.notes[0]
    codes = {f.code for f in result.findings}
    assert {"exact-duplicate", "near-duplicate", "seed-copy", "syntactic-template", "repeated-opening"} <= codes
    lines = path.read_text().splitlines()
    for f in result.findings:
        line = lines[f.range.start.line]
        assert f.row == f.range.start.line - 1  # one line per row here
        if f.code == "exact-duplicate":
            assert line[f.range.start.character:f.range.end.character].lower().split() == \
                "quiet piano pieces for reading late at night".split()
            assert f.data["group"] == [6, 7] and f.related[0].row in (6, 7)
        if f.code == "seed-copy":
            assert f.row == 9 and f.related[0].row == 8
    as_json = json.loads(json.dumps(result.to_dict()))
    assert as_json["rows"] == 11 and as_json["findings"][0]["range"]["start"].keys() == {"line", "character"}


def test_multiple_columns_are_analysed_separately(tmp_path):
    path = small_dataset(tmp_path)
    result = analyze_path(path, FAST.replace(columns=["response", "prompt"], syntax=False))
    assert set(result.per_column) == {"response", "prompt"}
    assert {f.column for f in result.findings} == {"response"}  # the prompts q0..q11 share nothing


def test_missing_column_is_reported_and_other_columns_still_run(tmp_path):
    path = small_dataset(tmp_path)
    result = analyze_path(path, FAST.replace(columns=["response", "answer"], syntax=False))
    missing = [f for f in result.findings if f.code == "missing-column"]
    assert len(missing) == 1 and "'answer'" in missing[0].message and "prompt, response, source" in missing[0].message
    assert any(f.code == "exact-duplicate" for f in result.findings)


def test_jsonl_nested_column(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [json.dumps({"id": i, "turn": {"text": t}}) for i, t in enumerate(
        ["the same words here again and again"] * 3 + ["something else entirely different"])]
    path.write_text("\n".join(lines) + "\n")
    result = analyze_path(path, FAST.replace(columns=["turn.text"], syntax=False))
    dups = [f for f in result.findings if f.code == "exact-duplicate"]
    assert [f.row for f in dups] == [0, 1, 2]
    assert dups[0].range.start.character == lines[0].index("the same")


def test_warm_cache_retags_only_the_edited_row(tmp_path):
    path = small_dataset(tmp_path)
    text = path.read_text()
    store = RowStore(None)
    tagged_counts = []

    def progress(stage, done, total):
        if stage == "tagging":
            tagged_counts.append(total)

    analyze_text(text, str(path), FAST, store=store, progress=progress)
    edited = text.replace("french pop from the sixties", "italian pop from the seventies")
    analyze_text(edited, str(path), FAST, store=store, progress=progress)
    assert tagged_counts == [11, 1]  # every row once (cache keys are exact texts), then only the edited one


def test_disk_cache_survives_processes(tmp_path, monkeypatch):
    from lens_engine.cache import RowCache

    cache = RowCache(tmp_path / "rows.sqlite")
    cache.put_many("ns", [(b"k1", [1, "a"]), (b"k2", {"x": 2})])
    again = RowCache(tmp_path / "rows.sqlite")
    assert again.get_many("ns", [b"k1", b"k2", b"k3"]) == {b"k1": [1, "a"], b"k2": {"x": 2}}
    assert again.get_many("other", [b"k1"]) == {}


def test_cache_folder_is_private(tmp_path, monkeypatch):
    from lens_engine.cache import cache_dir

    monkeypatch.setenv("LENS_CACHE_DIR", str(tmp_path / "c"))
    assert (cache_dir().stat().st_mode & 0o777) == 0o700


def test_settings_from_lens_toml_and_pyproject(tmp_path):
    (tmp_path / "lens.toml").write_text('min-rows = 7\nnear-duplicate-threshold = 0.9\n[severity]\nnear-duplicate = "error"\n')
    settings = load_settings(tmp_path / "data.csv")
    assert settings.min_rows == 7 and settings.near_duplicate_threshold == 0.9
    assert settings.severity_of("near-duplicate").label == "error"
    other = tmp_path / "sub"
    other.mkdir()
    (other / "pyproject.toml").write_text("[tool.lens]\nmin_share = 0.05\n[tool.lens.severity]\nrepeated-phrase = 'off'\n")
    settings = load_settings(other / "data.csv")
    assert settings.min_share == 0.05 and settings.severity_of("repeated-phrase") is None
    (tmp_path / "lens.toml").write_text("no_such_setting = 1\n")
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(tmp_path / "data.csv")


def test_cli_exit_codes_json_and_sarif(tmp_path, capsys):
    path = small_dataset(tmp_path)
    common = [str(path), "--no-semantic", "--no-clusters", "--quiet"]
    assert lens(["analyze", *common, "--fail-on", "never"]) == 0
    assert lens(["analyze", *common]) == 0  # nothing at error level
    assert lens(["analyze", *common, "--fail-on", "warning"]) == 1
    capsys.readouterr()
    assert lens(["analyze", *common, "--format", "json", "--fail-on", "never"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"rows", "findings", "clusters", "scores"} <= data.keys()
    finding = data["findings"][0]
    assert {"code", "severity", "message", "row", "range", "related"} <= finding.keys()
    assert lens(["analyze", *common, "--format", "sarif", "--fail-on", "never"]) == 0
    sarif = json.loads(capsys.readouterr().out)
    assert sarif["version"] == "2.1.0"
    run = sarif["runs"][0]
    rule_ids = {r["id"] for r in run["tool"]["driver"]["rules"]}
    result = run["results"][0]
    assert result["ruleId"] in rule_ids and result["level"] in {"error", "warning", "note"}
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] >= 2 and region["startColumn"] >= 1


def test_cli_input_errors_exit_2_with_a_located_message(tmp_path, capsys):
    binary = tmp_path / "b.csv"
    binary.write_bytes(b"\x00\x01\x02")
    assert lens(["analyze", str(binary), "--quiet"]) == 2
    assert "not a text file" in capsys.readouterr().err
    assert lens(["analyze", str(tmp_path / "missing.csv"), "--quiet"]) == 2
    assert "no such file" in capsys.readouterr().err
    path = small_dataset(tmp_path)
    assert lens(["analyze", str(path), "--column", "nope", "--quiet", "--no-semantic"]) == 2
    (tmp_path / "lens.toml").write_text("bogus = 1\n")
    assert lens(["analyze", str(path), "--quiet"]) == 2
    assert "unknown setting 'bogus'" in capsys.readouterr().err


@pytest.mark.slow
def test_bundled_sample_shows_findings_of_every_kind():
    """The README's main job: `lens analyze` on the bundled sample, everything on."""
    out = subprocess.run([sys.executable, "-m", "lens_engine.cli", "analyze", "--format", "json", "--quiet",
                          "--fail-on", "never"], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    assert data["path"] == str(SAMPLE_PATH) and data["rows"] == 3000
    expected = {"exact-duplicate", "near-duplicate", "semantic-duplicate", "seed-copy", "seed-template",
                "syntactic-template", "repeated-phrase", "repeated-opening", "repeated-ending"}
    assert expected <= set(data["summary"])
    clusters = data["clusters"]["query"]
    assert clusters["tree"] and set(clusters["cuts"]) == {"pos", "dep", "token", "embedding"}
    assert data["scores"]["query"]["vendi_score"] > 1


@pytest.mark.parametrize("semantic", [False, True])
def test_a_warm_reanalysis_after_edits_equals_a_cold_one(tmp_path, semantic):
    """What an editor does: the same buffer re-analysed after each edit with every
    per-row cache and index warm (reader memo, word tokens, tags, pair indexes, the
    document's near pairs and embedding matrix).
    Each result must be the one a fresh analysis of the same text gives."""
    from lens_engine.sample_data import planted_dataset

    text = planted_dataset(400, seed=1).write_csv(tmp_path / "p.csv").read_text()
    path = str(tmp_path / "p.csv")
    settings = Settings(semantic=semantic, clusters=False, scores=False)
    store = RowStore(None)
    lines = text.splitlines(keepends=True)
    edits = [
        lambda ls: ls[:5] + [ls[5].replace(",", " again,", 1)] + ls[6:],  # one row reworded
        lambda ls: ls[:9] + [ls[3]] + ls[9:],  # an exact copy of row 3 inserted
        lambda ls: ls[:2] + ls[40:],  # many rows deleted
        lambda ls: ls[:7] + ['"an open quote,and the rest\n'] + ls[7:],  # a parse error mid-file
        lambda ls: ls,  # the same text again
        lambda ls: ls[:-1] + [ls[-1].replace(",", " once more,", 1)],  # the last row reworded
        lambda ls: ls[:-1] + [ls[-1].replace(" once more,", ",", 1)],  # and back
    ]
    analyze_text(text, path, settings, store=store)
    for edit in edits:
        lines = edit(lines)
        text = "".join(lines)
        warm = analyze_text(text, path, settings, store=store)
        cold_store = RowStore(None)
        cold_store.memory = dict(store.memory)  # rows' tags and vectors by content; no warm index or memo
        cold = analyze_text(text, path, settings, store=cold_store)
        assert [f.to_dict() for f in warm.findings] == [f.to_dict() for f in cold.findings]
        assert warm.row_ranges == cold.row_ranges
        if semantic:
            column = warm.columns[0]
            assert np.array_equal(warm.per_column[column].embeddings, cold.per_column[column].embeddings)
            assert warm.per_column[column].semantic_pairs == cold.per_column[column].semantic_pairs


def test_forget_document_drops_its_warm_state_only(tmp_path):
    from lens_engine.sample_data import planted_dataset

    store = RowStore(None)
    settings = Settings(semantic=False, clusters=False)
    paths = []
    for name in ("a.csv", "b.csv"):
        text = planted_dataset(200, seed=2).write_csv(tmp_path / name).read_text()
        paths.append(str(tmp_path / name))
        analyze_text(text, paths[-1], settings, store=store)
    per_document = {k for k in store.indexes if len(k) > 1 and k[1] == paths[0]}
    assert {k[0] for k in per_document} >= {"records", "findings", "near-pairs", "diversity"}
    store.forget_document(paths[0])
    assert not any(len(k) > 1 and k[1] == paths[0] for k in store.indexes)
    assert any(len(k) > 1 and k[1] == paths[1] for k in store.indexes)
    assert ("words",) in store.indexes  # shared by every document: kept
