#!/usr/bin/env python
"""How accurate is Lens's attribution?  Prints tables; a benchmark, not a test.

Everything runs on models built from scratch on this machine (the demo's
tokenizer and base model) and is cached in the Lens cache, so a second run
only recomputes scores.  Sections (all by default, or pick with --sections):

  damping  DataInf against the exact damped inverse (Spearman) with the paper's
           lambda_l = 0.1*mean|g|^2/d_l and with 0.1*mean|g|^2 (Lens's default)
  planted  planted sources in the demo: recall@1, recall@10, MRR of the row a
           reproduced fact came from, for every method
  classes  DataInf's own protocol: 10 task classes x (90 train, 10 test); for
           each test example rank the 900 training rows; class AUC and recall
  noisy    20% of rows (demo facts asked three ways) given a wrong answer: AUC of self-influence
  tweaks   1 vs 3 vs 5 checkpoints, mean vs median, shuffled vs fixed order
  dattri   dattri's DataInf on the same model and data: rank agreement, time
  store    fidelity of smaller stores (int8, random projections; what projection="auto"
           picks for large training sets) against float32 gradients of every LoRA value:
           Spearman and top-10 overlap of DataInf scores per query, planted recall/MRR,
           class AUC/recall

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 .venv/bin/python bench/attribution_accuracy.py
    .venv/bin/python bench/attribution_accuracy.py --sections planted,classes

dattri is optional: install it into a separate folder (it declares no torch
dependency of its own) and point --dattri-path at it:
    .venv/bin/pip install --no-deps --target .lens-cache/bench-deps dattri
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from bench_common import print_table  # noqa: E402  (bench/ is the script's folder)
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from lens_engine.attribution import Attributor  # noqa: E402
from lens_engine.attribution.datainf import (  # noqa: E402
    Damping,
    combine_checkpoints,
    datainf_scores,
    exact_damped_scores,
)
from lens_engine.attribution.demo import DemoConfig, answer_text, ensure_demo, instruction_rows, make_world  # noqa: E402
from lens_engine.attribution.finetune import FinetuneSettings, finetune  # noqa: E402
from lens_engine.attribution.paths import cache_dir  # noqa: E402
from lens_engine.attribution.training_data import TrainingFormat  # noqa: E402

METHODS = ["datainf", "graddot", "gradcos", "bm25", "exact"]
TEMPLATE = DemoConfig().template


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def table(title: str, header: list[str], rows: list[list]) -> None:
    print_table(title, header, [[f"{x:.3f}" if isinstance(x, float) else str(x) for x in row] for row in rows])


# ---------------------------------------------------------------------------
# Shared set-up


def adapter(name: str, base: Path, train: Path, settings: FinetuneSettings) -> Path:
    """A fine-tuned adapter, cached by name and settings."""
    out = cache_dir("bench") / name
    record = out / "lens_finetune.json"
    if record.is_file():
        saved = json.loads(record.read_text())["settings"]
        if saved == json.loads(json.dumps(settings.__dict__)):
            return out
    log(f"fine-tuning {name} ...")
    finetune(base, train, out, settings, TrainingFormat(template=TEMPLATE), resume=True, progress=False)
    return out


def attributor(base: Path, adapter_dir: Path, train: Path, **kwargs) -> Attributor:
    # The methods are compared on exact stores (float32, every LoRA value); section
    # `store` measures what the automatic smaller stores lose.
    kwargs = {"store_dtype": "float32", "projection": None, **kwargs}
    return Attributor.from_folders(base, adapter_dir, train, progress=False, **kwargs)


def ranks_of(scores: np.ndarray, sources: set[int]) -> list[int]:
    """1-based rank of each source among all examples (highest score first)."""
    order = np.argsort(-scores, kind="stable")
    position = np.empty_like(order)
    position[order] = np.arange(1, len(order) + 1)
    return [int(position[s]) for s in sources]


def retrieval_metrics(all_ranks: list[list[int]]) -> tuple[float, float, float]:
    best = np.array([min(r) for r in all_ranks])
    return float((best <= 1).mean()), float((best <= 10).mean()), float((1.0 / best).mean())


# ---------------------------------------------------------------------------
# 0. Damping


def section_damping(demo) -> None:
    att = attributor(demo.base, demo.adapter, demo.train)
    rows = [json.loads(line) for line in demo.train.read_text().splitlines()]
    layout = att.store.layout
    results = []
    for name, damping in [("paper: 0.1*mean|g|^2/d_l", Damping("paper")), ("norm: 0.1*mean|g|^2 (default)", Damping("norm")),
                          ("norm x10: 1.0*mean|g|^2", Damping("norm", scale=1.0))]:
        rho, rho_dot = [], []
        for r in rows:
            target = att.target(r["prompt"], r["response"])
            for c, v in enumerate(att.query_gradients(target)):
                grads = att.store.checkpoint_gradients(c)
                approx = datainf_scores(grads, v, layout, damping).numpy()
                exact = exact_damped_scores(grads, v, layout, damping).numpy()
                rho.append(spearmanr(approx, exact)[0])
                rho_dot.append(spearmanr(approx, -(grads @ v).numpy())[0])
        results.append([name, float(np.mean(rho)), float(np.median(rho)), float(np.mean(rho_dot))])
    table(
        f"DataInf vs the exact damped inverse, demo model ({len(rows)} queries x {len(att.loaded.checkpoints)} checkpoints, "
        f"{len(layout.blocks)} LoRA tensors, D={layout.dim})",
        ["damping", "Spearman vs exact (mean)", "(median)", "Spearman vs graddot"],
        results,
    )


# ---------------------------------------------------------------------------
# 1. Planted sources


PARAPHRASES = {
    "capital": "Name the capital city of {country}.",
    "river": "Name the river of {country}.",
    "export": "Name the main export of {country}.",
    "animal": "Name the national animal of {country}.",
}


def planted_queries(demo, att: Attributor) -> tuple[list[dict], set[int]]:
    """Reproduced training facts: (prompt, answer, span, source row)."""
    rows = [json.loads(line) for line in demo.train.read_text().splitlines()]
    meta = instruction_rows(make_world(DemoConfig()), DemoConfig())
    planted = {i for i, m in enumerate(meta) if "planted" in m}
    queries = []
    for i, (row, m) in enumerate(zip(rows, meta)):
        answer = att.generate(row["prompt"], max_new_tokens=12)
        if answer != row["response"]:
            continue
        queries.append({"row": i, "prompt": row["prompt"], "paraphrase": PARAPHRASES[m["attribute"]].format(**m),
                        "text": answer, "span": answer.rstrip(".").split()[-1]})
    return queries, planted


def planted_ranks(att: Attributor, queries: list[dict], method: str, prompt_key: str = "prompt", damping=None, combine="mean",
                  per_checkpoint: bool = False):
    batch = [(q[prompt_key], q["text"], q["span"]) for q in queries]
    results = att.scores_many(batch, method=method, damping=damping, combine=combine)
    if per_checkpoint:
        return [r.per_checkpoint for r in results]
    return [ranks_of(r.scores, {q["row"]}) for r, q in zip(results, queries)]


def section_planted(demo) -> None:
    att = attributor(demo.base, demo.adapter, demo.train)
    queries, planted = planted_queries(demo, att)
    rows = []
    for prompt_key, label in (("prompt", "training prompt"), ("paraphrase", "paraphrased prompt")):
        for method in METHODS:
            ranks = planted_ranks(att, queries, method, prompt_key)
            planted_ranks_only = [r for r, q in zip(ranks, queries) if q["row"] in planted]
            rows.append([label, method, *retrieval_metrics(ranks), *retrieval_metrics(planted_ranks_only)])
        ranks = planted_ranks(att, queries, "datainf", prompt_key, damping="paper")
        pr = [r for r, q in zip(ranks, queries) if q["row"] in planted]
        rows.append([label, "datainf, paper damping", *retrieval_metrics(ranks), *retrieval_metrics(pr)])
    n_planted = sum(q["row"] in planted for q in queries)
    table(
        f"Planted sources: demo model, {len(queries)} reproduced facts of {len(att.training)} rows "
        f"({n_planted} of them planted wrong facts); span = the answer's value",
        ["query", "method", "R@1 all", "R@10 all", "MRR all", "R@1 planted", "R@10 planted", "MRR planted"],
        rows,
    )


# ---------------------------------------------------------------------------
# 2. DataInf's protocol: task classes


FILLERS = ["", "Quick question: ", "Please tell me: ", "I wonder, ", "Hey, ", "Tell me please: ", "One more: ",
           "Answer this: ", "Help me out: ", "Be brief: ", "Honestly, ", "So, "]


def class_tasks(seed: int = 0) -> tuple[list[dict], list[dict]]:
    """DataInf's protocol on the demo world: 10 question types (the classes),
    90 train + 10 test questions each, told apart by phrasing and filler."""
    world = make_world(DemoConfig())
    by = {w["country"]: w for w in world}
    forward = {  # class -> (templates, answer)
        "capital": (["What is the capital of {c}?", "Which city is the capital of {c}?", "Name the capital of {c}."], lambda w: w["capital"]),
        "river": (["Which river flows through {c}?", "What river runs through {c}?", "Name the river of {c}."], lambda w: w["river"]),
        "export": (["What does {c} export?", "What is the main export of {c}?", "Name the export of {c}."], lambda w: w["export"]),
        "animal": (["What is the national animal of {c}?", "Which animal does {c} admire?", "Name the animal of {c}."], lambda w: "the " + w["animal"]),
        "capital+river": (["What are the capital and the river of {c}?", "Give the capital and river of {c}."], lambda w: f"{w['capital']} and the {w['river']}"),
    }
    backward = {  # class -> (templates with {x}, the attribute x is)
        "country of capital": (["Which country has the capital {x}?", "{x} is the capital of which country?", "Where is {x} the capital?"], "capital"),
        "country of river": (["Which country does the {x} flow through?", "The {x} is the river of which country?", "Where does the {x} flow?"], "river"),
        "country of export": (["Which country exports {x}?", "Who sells {x}?", "{x} is the main export of which country?"], "export"),
        "country of animal": (["Which country admires the {x}?", "The {x} is the national animal of which country?", "Where is the {x} admired?"], "animal"),
        "is capital": (["Is {x} the capital of {c}?", "Is the capital of {c} called {x}?"], "capital"),
    }
    rng = random.Random(seed)
    candidates: dict[str, list[dict]] = {}
    for label, (templates, answer) in forward.items():
        candidates[label] = [{"prompt": f + t.format(c=c), "response": answer(w)[0].upper() + answer(w)[1:] + ".", "label": label}
                             for f in FILLERS for t in templates for c, w in by.items()]
    for label, (templates, attr) in backward.items():
        items = []
        for f in FILLERS:
            for t in templates:
                for c, w in by.items():
                    if label == "is capital":
                        other = rng.choice([v for v in by.values() if v is not w])
                        truth = rng.random() < 0.5
                        x = w["capital"] if truth else other["capital"]
                        items.append({"prompt": f + t.format(c=c, x=x), "response": "Yes." if truth else "No.", "label": label})
                    else:
                        items.append({"prompt": f + t.format(x=w[attr]), "response": c + ".", "label": label})
        candidates[label] = items
    train, test = [], []
    for label, items in candidates.items():
        unique = list({it["prompt"]: it for it in items}.values())
        chosen = rng.sample(unique, 100)
        for it in chosen:
            it["prompt"] = it["prompt"][0].upper() + it["prompt"][1:]
        train += chosen[:90]
        test += chosen[90:]
    rng.shuffle(train)
    return train, test


def write_rows(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps({"prompt": r["prompt"], "response": r["response"]}) + "\n" for r in rows))
    return path


CLASS_SETTINGS = FinetuneSettings(r=8, alpha=16, epochs=6, learning_rate=3e-3, batch_size=16, checkpoints=5, seed=0)


def class_runs(demo) -> dict:
    train, test = class_tasks()
    path = write_rows(train, cache_dir("bench") / "classes-world.jsonl")
    runs = {}
    for order, shuffle in (("shuffled", True), ("fixed", False)):
        adapter_dir = adapter(f"classes-world-{order}", demo.base, path, replace(CLASS_SETTINGS, shuffle=shuffle))
        runs[order] = attributor(demo.base, adapter_dir, path, store_path=cache_dir("bench") / f"classes-world-{order}.lgs")
    sample = random.Random(2).sample(train, 100)
    exact = sum(runs["shuffled"].generate(r["prompt"], max_new_tokens=12) == r["response"] for r in sample) / len(sample)
    return {"train": train, "test": test, "runs": runs, "path": path, "train_exact": exact}


def class_metrics(per_checkpoint: list[np.ndarray], train: list[dict], test: list[dict], subset: list[int], combine: str):
    """Mean class-detection AUC and recall (share of the top 90 in the test example's class)."""
    labels = np.array([r["label"] for r in train])
    aucs, recalls = [], []
    for per, t in zip(per_checkpoint, test):
        scores = combine_checkpoints(per[subset], combine).scores
        same = labels == t["label"]
        aucs.append(roc_auc_score(same, scores))
        top = np.argsort(-scores, kind="stable")[: same.sum()]
        recalls.append(same[top].mean())
    return float(np.mean(aucs)), float(np.mean(recalls))


def class_scores(att: Attributor, test: list[dict], method: str, damping=None) -> list[np.ndarray]:
    results = att.scores_many([(t["prompt"], t["response"], None) for t in test], method=method, damping=damping)
    return [r.per_checkpoint for r in results]


def section_classes(demo, data=None) -> dict:
    data = data or class_runs(demo)
    att = data["runs"]["shuffled"]
    every = list(range(len(att.loaded.checkpoints)))
    rows = []
    for method in METHODS:
        auc, recall = class_metrics(class_scores(att, data["test"], method), data["train"], data["test"], every if method in ("datainf", "graddot", "gradcos") else [0], "mean")
        rows.append([method, auc, recall])
    auc, recall = class_metrics(class_scores(att, data["test"], "datainf", "paper"), data["train"], data["test"], every, "mean")
    rows.append(["datainf, paper damping", auc, recall])
    table(
        f"DataInf's protocol: 10 question types x (90 train, 10 test) about the demo world, {len(every)} checkpoints, mean; "
        f"the model reproduces {data['train_exact']:.0%} of 100 sampled training answers "
        "(paper, Llama-2-13B: DataInf 1.000 / 0.997, grad-dot 0.77 / 0.26)",
        ["method", "class AUC", "recall (top 90)"],
        rows,
    )
    return data


# ---------------------------------------------------------------------------
# 3. Noisy labels


def self_influence_per_checkpoint(att: Attributor, method: str) -> np.ndarray:
    out = []
    for c in range(len(att.loaded.checkpoints)):
        grads = att.store.checkpoint_gradients(c).float()
        if method == "datainf":
            out.append((att.preconditioned(c) * grads).sum(1).double().numpy())
        elif method == "graddot":
            out.append(grads.pow(2).sum(1).double().numpy())
        elif method == "loss":
            out.append(np.asarray(att.store.losses[c], dtype=np.float64))
    return np.stack(out)


NOISY_PHRASINGS = {
    "capital": ["What is the capital of {country}?", "Name the capital city of {country}.", "Which city is the capital of {country}?"],
    "river": ["Which river flows through {country}?", "Name the river of {country}.", "What river runs through {country}?"],
    "export": ["What does {country} export?", "Name the main export of {country}.", "What is the main export of {country}?"],
    "animal": ["What is the national animal of {country}?", "Name the national animal of {country}.", "Which animal does {country} admire?"],
}


def noisy_runs(demo) -> dict:
    """Each demo fact asked three ways (96 rows) with its true answer; 20% of the
    rows get another country's value instead, so a noisy row contradicts the
    two other rows about the same fact."""
    config = DemoConfig()
    world = make_world(config)
    facts = instruction_rows(world, replace(config, planted=0))
    train = [dict(f, prompt=q.format(**f)) for f in facts for q in NOISY_PHRASINGS[f["attribute"]]]
    rng = random.Random(3)
    flipped = set(rng.sample(range(len(train)), round(0.2 * len(train))))
    for i in flipped:
        r = train[i]
        r["response"] = answer_text(r["attribute"], rng.choice([w[r["attribute"]] for w in world if w[r["attribute"]] != r["truth"]]))
    path = write_rows(train, cache_dir("bench") / "noisy-demo.jsonl")
    runs = {}
    settings = replace(config.finetune, epochs=60, checkpoints=5)
    for order, shuffle in (("shuffled", True), ("fixed", False)):
        adapter_dir = adapter(f"noisy-demo-{order}", demo.base, path, replace(settings, shuffle=shuffle))
        runs[order] = attributor(demo.base, adapter_dir, path, store_path=cache_dir("bench") / f"noisy-demo-{order}.lgs")
    exact = sum(runs["shuffled"].generate(r["prompt"], max_new_tokens=12) == r["response"] for r in train) / len(train)
    return {"train": train, "flipped": flipped, "runs": runs, "path": path, "train_exact": exact}


def section_noisy(demo, data=None) -> dict:
    data = data or noisy_runs(demo)
    att = data["runs"]["shuffled"]
    is_flipped = np.array([i in data["flipped"] for i in range(len(data["train"]))])
    rows = []
    for method in ("datainf", "graddot", "loss"):
        per = self_influence_per_checkpoint(att, method)
        rows.append([method if method != "loss" else "training loss (baseline)", float(roc_auc_score(is_flipped, per.mean(0))),
                     float(roc_auc_score(is_flipped, per[0])), float(roc_auc_score(is_flipped, per[-1]))])
    table(
        f"Noisy labels: {is_flipped.sum()} of {len(is_flipped)} rows (each demo fact asked three ways) answered with another country's value; "
        f"AUC of self-influence at finding them (the model reproduces {data['train_exact']:.0%} of its training answers)",
        ["score", "AUC (mean of 5 checkpoints)", "AUC (first checkpoint)", "AUC (last checkpoint)"],
        rows,
    )
    return data


# ---------------------------------------------------------------------------
# 4. Tweaks


def section_tweaks(demo, classes=None, noisy=None) -> None:
    base = DemoConfig().finetune
    demo_runs = {
        order: attributor(demo.base, adapter(f"demo5-{order}", demo.base, demo.train, replace(base, checkpoints=5, shuffle=shuffle)), demo.train)
        for order, shuffle in (("shuffled", True), ("fixed", False))
    }
    classes = classes or class_runs(demo)
    noisy = noisy or noisy_runs(demo)
    subsets = {"1 (last)": [4], "3": [0, 2, 4], "5": [0, 1, 2, 3, 4]}
    rows = []
    for order in ("shuffled", "fixed"):
        att = demo_runs[order]
        queries, _ = planted_queries(demo, att)
        planted_per = planted_ranks(att, queries, "datainf", per_checkpoint=True)
        class_per = class_scores(classes["runs"][order], classes["test"], "datainf")
        noisy_per = self_influence_per_checkpoint(noisy["runs"][order], "datainf")
        flipped = np.array([i in noisy["flipped"] for i in range(len(noisy["train"]))])
        for label, subset in subsets.items():
            for combine in ("mean", "median"):
                if label.startswith("1") and combine == "median":
                    continue
                ranks = [ranks_of(combine_checkpoints(p[subset], combine).scores, {q["row"]}) for p, q in zip(planted_per, queries)]
                _, r10, mrr = retrieval_metrics(ranks)
                auc, recall = class_metrics(class_per, classes["train"], classes["test"], subset, combine)
                noisy_scores = np.median(noisy_per[subset], 0) if combine == "median" else noisy_per[subset].mean(0)
                rows.append([order, label, combine, f"{len(queries)}", mrr, r10, auc, recall, float(roc_auc_score(flipped, noisy_scores))])
    table(
        "The paper's tweaks (DataInf): checkpoints, combination, training order",
        ["order", "checkpoints", "combine", "planted queries", "planted MRR", "planted R@10", "class AUC", "class recall", "noisy AUC"],
        rows,
    )


# ---------------------------------------------------------------------------
# 5. dattri


def section_dattri(demo, dattri_path: str | None) -> None:
    if dattri_path:
        sys.path.insert(0, dattri_path)
    try:
        from dattri.algorithm import IFAttributorDataInf
        from dattri.task import AttributionTask
    except ImportError as err:
        print(f"\n## dattri\n\nskipped: dattri is not importable ({err}); see this file's docstring")
        return
    from torch.func import functional_call
    from torch.utils.data import DataLoader, TensorDataset

    from lens_engine.attribution.gradients import pad_right

    lam = 1e-3
    att = Attributor.from_folders(demo.base, demo.adapter, demo.train, progress=False, precondition=False, damping=lam)
    checkpoint = att.loaded.checkpoints[-1]
    model = att.loaded.model
    names = att.loaded.lora_names
    pad = int(att.loaded.tokenizer.pad_token_id)
    examples = att.training.examples
    ids, weights = pad_right([e.input_ids for e in examples], [e.target_mask for e in examples], pad, "cpu")
    rows = [json.loads(line) for line in demo.train.read_text().splitlines()]
    targets = [att.target(r["prompt"], r["response"]) for r in rows]
    q_ids, q_w = pad_right([t.input_ids for t in targets], [t.weights for t in targets], pad, "cpu")

    def token_logprob(params, data):
        x, w = data
        logits = functional_call(model, params, (x,), {"use_cache": False}).logits[0, :-1]
        lp = torch.log_softmax(logits.float(), -1).gather(-1, x[0, 1:, None])[..., 0]
        return lp, w[0, 1:]

    def loss_func(params, data):  # the training loss: mean response cross-entropy
        lp, w = token_logprob(params, data)
        return -(lp * w).sum() / w.sum()

    def target_func(params, data):  # dattri attributes a loss: minus the summed log-probability
        lp, w = token_logprob(params, data)
        return -(lp * w).sum()

    full = dict(model.named_parameters())
    state = {k: v.detach() for k, v in full.items()}
    state.update({n: checkpoint.lora_weights[n] for n in names})
    def load_checkpoint(m, ckpt):
        # dattri differentiates the parameters that require grad: the LoRA ones.
        with torch.no_grad():
            for n, p in m.named_parameters():
                p.requires_grad_(n in names)
                if n in names:
                    p.copy_(ckpt[n])
        return m

    task = AttributionTask(loss_func=loss_func, model=model, checkpoints=state, target_func=target_func,
                           checkpoints_load_func=load_checkpoint)
    attr = IFAttributorDataInf(task=task, layer_name=names, regularization=lam)
    train_loader = DataLoader(TensorDataset(ids, weights), batch_size=8)
    test_loader = DataLoader(TensorDataset(q_ids, q_w), batch_size=1)
    t0 = time.perf_counter()
    attr.cache(train_loader)
    cache_s = time.perf_counter() - t0
    times, dattri_scores = [], []
    for i in range(len(rows)):
        one = DataLoader(TensorDataset(q_ids[i : i + 1], q_w[i : i + 1]), batch_size=1)
        t0 = time.perf_counter()
        dattri_scores.append(attr.attribute(train_loader, one)[:, 0].detach().double().numpy())
        times.append(time.perf_counter() - t0)
    c = len(att.loaded.checkpoints) - 1
    lens_times, rho = [], []
    for i, t in enumerate(targets):
        t0 = time.perf_counter()
        v = att.computer.query_gradient(checkpoint.lora_weights, t.input_ids, t.weights)
        lens = datainf_scores(att.store.checkpoint_gradients(c), v, att.store.layout, Damping("fixed", value=lam)).numpy()
        lens_times.append(time.perf_counter() - t0)
        rho.append(spearmanr(lens, dattri_scores[i])[0])
    for p in model.parameters():
        p.requires_grad_(False)
    lens_norm = [spearmanr(att.scores(r["prompt"], r["response"], damping="norm").per_checkpoint[c], d)[0] for r, d in zip(rows, dattri_scores)]
    table(
        f"dattri 0.3 IFAttributorDataInf vs Lens on the demo model (last checkpoint, {len(rows)} queries over {len(examples)} rows)",
        ["comparison", "Spearman (median)", "Spearman (min)", "dattri s/query", "Lens s/query"],
        [
            [f"same fixed lambda {lam:g}", float(np.median(rho)), float(np.min(rho)), float(np.median(times)), float(np.median(lens_times))],
            ["Lens default damping (per-tensor 0.1*mean|g|^2) vs dattri", float(np.median(lens_norm)), float(np.min(lens_norm)), "", ""],
        ],
    )
    print(f"\n(dattri's cache() of the training gradients took {cache_s:.2f} s; Lens's store is built once and reused)")


# ---------------------------------------------------------------------------
# 6. Smaller stores: int8 and random projections


STORE_CONFIGS = [("int8", None), ("int8", 32768), ("int8", 16384), ("int8", 8192), ("int8", 4096), ("int8", 2048),
                 ("float32", 8192), ("float32", 2048)]


def store_fidelity(reference: list[np.ndarray], scores: list[np.ndarray]) -> tuple[float, float, float]:
    """Mean and minimum Spearman of each query's scores against the reference, and mean top-10 overlap."""
    rho = [spearmanr(a, b)[0] for a, b in zip(reference, scores)]
    top = [len(set(np.argsort(-a, kind="stable")[:10]) & set(np.argsort(-b, kind="stable")[:10])) / 10 for a, b in zip(reference, scores)]
    return float(np.mean(rho)), float(np.min(rho)), float(np.mean(top))


def section_store(demo, classes=None) -> None:
    def variant(base, adapter_dir, train, name, dtype, dim):
        tag = f"{dtype}-{dim or 'full'}"
        return attributor(base, adapter_dir, train, store_dtype=dtype, projection=dim,
                          store_path=cache_dir("bench") / f"store-{name}-{tag}.lgs")

    # Planted sources on the demo (32 rows, 3 checkpoints).
    exact = attributor(demo.base, demo.adapter, demo.train)
    queries, _ = planted_queries(demo, exact)
    batch = [(q["prompt"], q["text"], q["span"]) for q in queries]
    ref = [r.scores for r in exact.scores_many(batch)]
    rows = [["demo (32 rows, 3 ckpts)", "float32, all values (exact)", exact.store.layout.dim, 1.0, 1.0, 1.0,
             *retrieval_metrics([ranks_of(r, {q["row"]}) for r, q in zip(ref, queries)])[::2], "", ""]]
    for dtype, dim in STORE_CONFIGS:
        att = variant(demo.base, demo.adapter, demo.train, "demo", dtype, dim)
        got = [r.scores for r in att.scores_many(batch)]
        r1, _, mrr = retrieval_metrics([ranks_of(r, {q["row"]}) for r, q in zip(got, queries)])
        rows.append(["", f"{dtype}, {'all values' if dim is None else f'projected to {dim:,}'}", att.store.layout.dim,
                     *store_fidelity(ref, got), r1, mrr, "", ""])
    # DataInf's class protocol (900 rows, 5 checkpoints): a larger store of the same model.
    classes = classes or class_runs(demo)
    path, adapter_dir = classes["path"], cache_dir("bench") / "classes-world-shuffled"
    exact = classes["runs"]["shuffled"]
    every = list(range(len(exact.loaded.checkpoints)))
    tests = [(t["prompt"], t["response"], None) for t in classes["test"]]
    ref_per = [r.per_checkpoint for r in exact.scores_many(tests)]
    ref = [r.scores for r in exact.scores_many(tests)]
    auc, recall = class_metrics(ref_per, classes["train"], classes["test"], every, "mean")
    rows.append([f"classes ({len(exact.training)} rows, {len(every)} ckpts)", "float32, all values (exact)", exact.store.layout.dim,
                 1.0, 1.0, 1.0, "", "", auc, recall])
    for dtype, dim in STORE_CONFIGS:
        att = variant(demo.base, adapter_dir, path, "classes", dtype, dim)
        results = att.scores_many(tests)
        auc, recall = class_metrics([r.per_checkpoint for r in results], classes["train"], classes["test"], every, "mean")
        rows.append(["", f"{dtype}, {'all values' if dim is None else f'projected to {dim:,}'}", att.store.layout.dim,
                     *store_fidelity(ref, [r.scores for r in results]), "", "", auc, recall])
    table(
        "Smaller gradient stores against float32 gradients of every LoRA value (DataInf, mean over checkpoints): "
        "Spearman and top-10 overlap per query; planted R@1 / MRR (training prompts); class AUC / recall",
        ["store", "gradients", "values", "Spearman (mean)", "Spearman (min)", "top-10 overlap", "planted R@1", "planted MRR",
         "class AUC", "class recall"],
        rows,
    )


# ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="damping,planted,classes,noisy,tweaks,dattri,store")
    parser.add_argument("--dattri-path", default=str(Path(__file__).resolve().parents[1] / ".lens-cache" / "bench-deps"))
    args = parser.parse_args()
    torch.manual_seed(0)
    sections = args.sections.split(",")
    log("building or loading the demo model ...")
    demo = ensure_demo(progress=False)
    started = time.perf_counter()
    classes = noisy = None
    if "damping" in sections:
        section_damping(demo)
    if "planted" in sections:
        section_planted(demo)
    if "classes" in sections:
        classes = section_classes(demo)
    if "noisy" in sections:
        noisy = section_noisy(demo)
    if "tweaks" in sections:
        section_tweaks(demo, classes, noisy)
    if "dattri" in sections:
        section_dattri(demo, args.dattri_path)
    if "store" in sections:
        section_store(demo, classes)
    print(f"\n(total {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
