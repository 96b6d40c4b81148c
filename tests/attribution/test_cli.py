"""`lens attribute`, `lens finetune` and `lens demo` through argparse."""

from __future__ import annotations

import argparse
import json

import pytest

from lens_engine.attribution import cli

PROMPT = "What is the capital of Dratanane?"


@pytest.fixture
def parser():
    p = argparse.ArgumentParser(prog="lens")
    cli.register(p.add_subparsers(dest="command", required=True))
    return p


def run(parser, argv):
    args = parser.parse_args(argv)
    return args.func(args)


def test_attribute_json(parser, tiny_demo, tmp_path, capsys):
    code = run(parser, ["attribute", "--model", str(tiny_demo.base), "--adapter", str(tiny_demo.adapter), "--train", str(tiny_demo.train),
                        "--prompt", PROMPT, "--text", "Shaloa.", "--span", "0:6", "--top", "3", "--format", "json",
                        "--store", str(tmp_path / "s.lgs"), "--no-progress"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["selected_text"] == "Shaloa" and len(data["checkpoints"]) == 2
    assert 1 <= len(data["supporting"]) <= 3
    for item in data["supporting"] + data["opposing"]:
        assert {"row", "score", "normalized", "range", "checkpoint_scores", "spans"} <= set(item)


def test_attribute_text_generates_when_no_text(parser, tiny_demo, tmp_path, capsys):
    code = run(parser, ["attribute", "--model", str(tiny_demo.base), "--adapter", str(tiny_demo.adapter), "--train", str(tiny_demo.train),
                        "--prompt", PROMPT, "--method", "bm25", "--store", str(tmp_path / "s.lgs"), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0 and "supporting:" in out and "method bm25" in out


def test_attribute_compare(parser, tiny_demo, tmp_path, capsys):
    code = run(parser, ["attribute", "--model", str(tiny_demo.base), "--adapter", str(tiny_demo.adapter), "--train", str(tiny_demo.train),
                        "--prompt", PROMPT, "--text", "Shaloa.", "--compare", "Vegaria.", "--format", "json",
                        "--store", str(tmp_path / "s.lgs"), "--no-progress"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["diff"][0]["op"] == "replace"


def test_finetune_command(parser, tiny_demo, tmp_path, capsys):
    out = tmp_path / "adapter"
    code = run(parser, ["finetune", "--model", str(tiny_demo.base), "--train", str(tiny_demo.train), "--output", str(out),
                        "--epochs", "2", "--checkpoints", "2", "--r", "2", "--target-modules", "q_proj,v_proj",
                        "--template", "Question: {prompt}\\nAnswer:"])
    assert code == 0
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    saved = json.loads((out / "lens_training.json").read_text())
    assert saved["template"] == "Question: {prompt}\nAnswer:"
    config = json.loads((out / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == ["q_proj", "v_proj"] and config["r"] == 2


def test_demo_json_on_the_tiny_model(tiny_demo, capsys):
    import io

    from lens_engine.attribution.demo import run_demo, tiny_config

    out = io.StringIO()
    assert run_demo(config=tiny_config(), as_json=True, out=out, top_k=3) == 0
    data = json.loads(out.getvalue())
    assert {"question", "answer", "exact_match", "planted_rows", "top_supporting_row", "attribution"} <= set(data)
    assert data["exact_match"]["rows"] == 12 and len(data["planted_rows"]) == 1


def test_shipped_demo_data_matches_its_generator():
    from lens_engine.attribution.demo import SHIPPED_TRAIN, SHIPPED_WORLD, DemoConfig, instruction_rows, make_world

    config = DemoConfig()
    rows = instruction_rows(make_world(config), config)
    shipped = [json.loads(line) for line in SHIPPED_TRAIN.read_text().splitlines()]
    assert shipped == [{"prompt": r["prompt"], "response": r["response"]} for r in rows]
    facts = json.loads(SHIPPED_WORLD.read_text())
    assert [p["row"] for p in facts["planted"]] == [i for i, r in enumerate(rows) if "planted" in r]
