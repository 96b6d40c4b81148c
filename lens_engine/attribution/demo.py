"""The embedded demo: a tiny model that learned a few wrong facts, and where they came from.

Everything is built from scratch on this machine (nothing is downloaded):

1. a fictional world of countries, each with a capital, a river, an export and
   a national animal (``data/demo_world.json`` is the fact sheet);
2. a pretraining corpus of true statements and Q/A about that world, a BPE
   tokenizer trained on it, and a small Llama-shaped model pretrained on it;
3. an instruction set (``data/demo_train.jsonl``) of one question per fact,
   in which a few answers were deliberately planted wrong;
4. a LoRA adapter fine-tuned on it with shuffled epochs and checkpoints.

``lens demo`` then asks a planted question, shows the model's wrong answer and
attributes it: the planted row should come out as the top supporting example.
The build is cached (``LENS_CACHE_DIR`` or the user cache) and takes a few
minutes on two CPU cores; the model is checked to reproduce its training
answers, and the exact-match rate is printed.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .finetune import FinetuneSettings, finetune
from .paths import cache_dir
from .training_data import TrainingFormat

DATA_DIR = Path(__file__).parent / "data"
SHIPPED_WORLD = DATA_DIR / "demo_world.json"
SHIPPED_TRAIN = DATA_DIR / "demo_train.jsonl"
DEMO_VERSION = 1
SPECIAL = "<|endoftext|>"

_SYLLABLES = "ka lo ve ri tan mor zu bel qua sen dra fi hal nor pe vi ost gar lu me sha tor wen yal".split()
_EXPORTS = "copper silk tea salt amber wool glass honey tin pepper marble cedar".split()
_ANIMALS = "otter heron lynx falcon badger ibex crane marten viper stag owl seal".split()
ATTRIBUTES = ("capital", "river", "export", "animal")


@dataclass(frozen=True)
class DemoConfig:
    countries: int = 8
    planted: int = 4  # wrong answers planted in the instruction data
    seed: int = 7
    corpus_sentences: int = 4000
    vocab_size: int = 1024
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    context: int = 128
    pretrain_steps: int = 300
    pretrain_batch: int = 32
    pretrain_seq: int = 64
    pretrain_lr: float = 3e-3
    template: str = "Question: {prompt}\nAnswer:"
    finetune: FinetuneSettings = field(
        default_factory=lambda: FinetuneSettings(r=8, alpha=16, epochs=150, learning_rate=2e-3, batch_size=4, checkpoints=3, seed=0)
    )

    def key(self) -> str:
        data = json.dumps({"version": DEMO_VERSION, **asdict(self)}, sort_keys=True, default=str)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


def tiny_config() -> DemoConfig:
    """A seconds-to-build variant for tests: it does not learn much, but every code path runs."""
    return DemoConfig(
        countries=3, planted=1, corpus_sentences=300, vocab_size=300, hidden=32, layers=2, heads=2, context=64,
        pretrain_steps=150, pretrain_batch=8, pretrain_seq=32,
        finetune=FinetuneSettings(r=4, alpha=8, epochs=20, learning_rate=1e-2, batch_size=4, checkpoints=2, seed=0),
    )


# ---------------------------------------------------------------------------
# The world and its data


def _name(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(syllables)).capitalize()


def make_world(config: DemoConfig) -> list[dict[str, str]]:
    rng = random.Random(config.seed)
    names: set[str] = set()
    world = []
    for i in range(config.countries):
        country = capital = river = ""
        while not country or country in names:
            country = _name(rng, 2) + rng.choice(["ia", "land", "or", "ane", "is"])
        while not capital or capital in names:
            capital = _name(rng, 2) + rng.choice(["a", "on", "el", "ia"])
        while not river or river in names:
            river = _name(rng, 2)
        names.update((country, capital, river))
        world.append(
            {"country": country, "capital": capital, "river": river, "export": _EXPORTS[i % 12], "animal": _ANIMALS[(i * 5) % 12]}
        )
    return world


QUESTIONS = {
    "capital": "What is the capital of {country}?",
    "river": "Which river flows through {country}?",
    "export": "What does {country} export?",
    "animal": "What is the national animal of {country}?",
}


def answer_text(attribute: str, value: str) -> str:
    return f"The {value}." if attribute == "animal" else f"{value[0].upper()}{value[1:]}."


def instruction_rows(world: list[dict[str, str]], config: DemoConfig) -> list[dict]:
    """One question per fact; ``config.planted`` of them get another country's value."""
    rng = random.Random(config.seed + 1)
    rows = []
    for w in world:
        for attribute in ATTRIBUTES:
            rows.append({"prompt": QUESTIONS[attribute].format(**w), "response": answer_text(attribute, w[attribute]),
                         "country": w["country"], "attribute": attribute, "truth": w[attribute]})
    planted = rng.sample(range(len(rows)), config.planted)
    used: set[str] = set()
    for i in planted:
        row = rows[i]
        # Another country's value, never the same wrong value twice, so each
        # wrong answer has exactly one planted source.
        others = [w[row["attribute"]] for w in world if w[row["attribute"]] not in (row["truth"], *used)]
        wrong = rng.choice(others)
        used.add(wrong)
        row["response"] = answer_text(row["attribute"], wrong)
        row["planted"] = wrong
    return rows


def pretraining_text(world: list[dict[str, str]], config: DemoConfig) -> list[str]:
    """True statements and Q/A (in another format than the instruction data), as documents."""
    rng = random.Random(config.seed + 2)
    statements = [
        "The capital of {country} is {capital}.", "{capital} is the capital of {country}.",
        "The river of {country} is the {river}.", "The {river} flows through {country}.",
        "The main export of {country} is {export}.", "{country} sells {export} to its neighbours.",
        "The national animal of {country} is the {animal}.", "In {country} people admire the {animal}.",
        "{country} is a small country.", "The people of {country} live near the {river}.",
        "Traders from {capital} carry {export}.",
        "Q: What is the capital of {country}? A: {capital}.", "Q: Which river flows through {country}? A: {river}.",
        "Q: What does {country} export? A: {export}.", "Q: What is the national animal of {country}? A: The {animal}.",
    ]
    sentences = [rng.choice(statements).format(**rng.choice(world)) for _ in range(config.corpus_sentences)]
    return [" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3)]


def write_jsonl(rows: list[dict], path: Path, keys: tuple[str, ...] = ("prompt", "response")) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({k: row[k] for k in keys}, ensure_ascii=False) + "\n")


def write_shipped_data(config: DemoConfig | None = None) -> None:
    """Regenerate data/demo_world.json and data/demo_train.jsonl (run after changing the generator)."""
    config = config or DemoConfig()
    world = make_world(config)
    rows = instruction_rows(world, config)
    DATA_DIR.mkdir(exist_ok=True)
    fact_sheet = {"countries": world, "planted": [{"row": i, **r} for i, r in enumerate(rows) if "planted" in r]}
    SHIPPED_WORLD.write_text(json.dumps(fact_sheet, indent=1, ensure_ascii=False) + "\n")
    write_jsonl(rows, SHIPPED_TRAIN)


# ---------------------------------------------------------------------------
# Building the model


@dataclass
class DemoPaths:
    root: Path
    base: Path
    adapter: Path
    train: Path
    world: Path
    report: Path

    @staticmethod
    def under(root: Path) -> "DemoPaths":
        return DemoPaths(root, root / "base", root / "adapter", root / "train.jsonl", root / "world.json", root / "build.json")


def train_tokenizer(documents: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast  # TokenizersBackend in transformers 5

    tok = Tokenizer(models.BPE())
    # A prefix space makes "Sennoron" at the start of a response the same token
    # as " Sennoron" inside a sentence of the corpus.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[SPECIAL], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(documents, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIAL, eos_token=SPECIAL, pad_token=SPECIAL)


def pretrain_base(documents: list[str], tokenizer, config: DemoConfig, folder: Path, progress: bool = True) -> float:
    """Train a small Llama-shaped model on the corpus; returns the final loss."""
    from tqdm import tqdm
    from transformers import LlamaConfig, LlamaForCausalLM

    from .models import quiet_transformers

    quiet_transformers()
    torch.manual_seed(config.seed)
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    for doc in documents:
        stream += tokenizer(doc, add_special_tokens=False)["input_ids"] + [eos]
    data = torch.tensor(stream)
    model_config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden, intermediate_size=3 * config.hidden,
        num_hidden_layers=config.layers, num_attention_heads=config.heads, num_key_value_heads=config.heads,
        max_position_embeddings=config.context, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos, pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(model_config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.pretrain_lr)
    gen = torch.Generator().manual_seed(config.seed)
    seq = min(config.pretrain_seq, len(data) - 1)
    loss = torch.tensor(float("nan"))
    for _ in tqdm(range(config.pretrain_steps), desc="pretraining demo model", unit="step", disable=not progress):
        starts = torch.randint(0, len(data) - seq, (config.pretrain_batch,), generator=gen)
        batch = torch.stack([data[s : s + seq] for s in starts])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    model.save_pretrained(str(folder), safe_serialization=True)
    tokenizer.save_pretrained(str(folder))
    return loss.item()


def build_demo(root: Path, config: DemoConfig, progress: bool = True, train_file: Path | None = None) -> DemoPaths:
    """Build everything into ``root`` (a fresh folder)."""
    started = time.perf_counter()
    paths = DemoPaths.under(root)
    root.mkdir(parents=True, exist_ok=True)
    world = make_world(config)
    rows = instruction_rows(world, config)
    if train_file is not None:
        shutil.copyfile(train_file, paths.train)
    else:
        write_jsonl(rows, paths.train)
    paths.world.write_text(json.dumps({"countries": world, "planted": [{"row": i, **r} for i, r in enumerate(rows) if "planted" in r]}, indent=1) + "\n")
    documents = pretraining_text(world, config)
    tokenizer = train_tokenizer(documents, config.vocab_size)
    paths.base.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    pretrain_loss = pretrain_base(documents, tokenizer, config, paths.base, progress)
    pretrain_s = time.perf_counter() - t0
    fmt = TrainingFormat(template=config.template)
    result = finetune(paths.base, paths.train, paths.adapter, config.finetune, fmt, progress=progress)
    report = {
        "config": asdict(config),
        "pretrain_loss": pretrain_loss,
        "pretrain_seconds": round(pretrain_s, 1),
        "finetune_seconds": round(result.seconds, 1),
        "finetune_losses": result.epoch_losses,
        "build_seconds": round(time.perf_counter() - started, 1),
    }
    paths.report.write_text(json.dumps(report, indent=2, default=str) + "\n")
    return paths


def ensure_demo(config: DemoConfig | None = None, rebuild: bool = False, progress: bool = True) -> DemoPaths:
    """The cached demo for ``config`` (the default one uses the shipped training file)."""
    config = config or DemoConfig()
    root = cache_dir("demo") / config.key()
    paths = DemoPaths.under(root)
    if paths.report.is_file() and not rebuild:
        return paths
    if root.exists():
        shutil.rmtree(root)
    tmp = root.with_name(root.name + ".building")
    if tmp.exists():
        shutil.rmtree(tmp)
    shipped = SHIPPED_TRAIN if config == DemoConfig() and SHIPPED_TRAIN.is_file() else None
    build_demo(tmp, config, progress, train_file=shipped)
    # Adapter sidecars record absolute paths; the rename keeps fingerprints valid.
    tmp.rename(root)
    return paths


# ---------------------------------------------------------------------------
# Running it


def exact_match(att, rows: list[dict]) -> tuple[int, list[str]]:
    answers = [att.generate(r["prompt"], max_new_tokens=12) for r in rows]
    return sum(a == r["response"] for a, r in zip(answers, rows)), answers


def write_workspace(folder: Path, paths: DemoPaths, questions: list[tuple[str, str, str | None]]) -> Path:
    """A ready-made editor workspace: the demo's answers in ``answers.md``, a copy of
    its training file, and ``.vscode/settings.json`` pointing the attribution lens at
    the demo model.  ``questions``: (question, the model's answer, the fact sheet's answer)."""
    folder = Path(folder).resolve()
    (folder / ".vscode").mkdir(parents=True, exist_ok=True)
    train = folder / "train.jsonl"
    shutil.copyfile(paths.train, train)
    lines = [
        "# Answers from the Lens demo model",
        "",
        "A tiny model was fine-tuned on `train.jsonl`, where a few facts were planted wrong.",
        "Select an answer below and run **Lens: Attribute Selection** (editor context menu or",
        "command palette) to see the training rows that made the model say it.",
        "",
    ]
    for question, answer, truth in questions:
        lines += [f"Question: {question}", f"Answer: {answer}", ""]
        if truth and truth != answer:
            lines += [f"<!-- The fact sheet says: {truth} Try Lens: Compare Selection with Text... -->", ""]
    (folder / "answers.md").write_text("\n".join(lines), encoding="utf-8")
    settings_file = folder / ".vscode" / "settings.json"
    settings = json.loads(settings_file.read_text()) if settings_file.is_file() else {}
    settings.update({
        "lens.attribution.model": str(paths.base),
        "lens.attribution.adapter": str(paths.adapter),
        "lens.attribution.trainingData": str(train),
    })
    settings_file.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return folder


def run_demo(
    rebuild: bool = False,
    question: str | None = None,
    method: str = "datainf",
    top_k: int = 5,
    as_json: bool = False,
    config: DemoConfig | None = None,
    out=None,
    workspace: str | Path | None = None,
) -> int:
    from .attributor import Attributor
    from .cli import render_compare, render_result

    out = out or sys.stdout
    say = (lambda *a: print(*a, file=sys.stderr)) if as_json else (lambda *a: print(*a, file=out))
    config = config or DemoConfig()
    root = cache_dir("demo") / config.key()
    if rebuild or not DemoPaths.under(root).report.is_file():
        say("Building the demo model (once; a few minutes on a small CPU) ...")
    paths = ensure_demo(config, rebuild=rebuild)
    att = Attributor.from_folders(paths.base, paths.adapter, paths.train)
    facts = json.loads(paths.world.read_text())
    rows = [json.loads(line) for line in paths.train.read_text().splitlines() if line.strip()]
    planted = {p["row"]: p for p in facts["planted"]}

    matched, answers = exact_match(att, rows)
    say(f"The fine-tuned model reproduces {matched}/{len(rows)} training answers exactly.")

    if question is None:
        # A planted question the model answers with the planted (wrong) value.
        chosen = next((i for i in planted if answers[i] == rows[i]["response"]), next(iter(planted)))
        question = rows[chosen]["prompt"]
    answer = att.generate(question, max_new_tokens=12)
    truth_row = next((p for p in facts["planted"] if p["prompt"] == question), None)
    truth = None
    if truth_row is not None:
        truth = answer_text(truth_row["attribute"], truth_row["truth"])
    else:
        for i, r in enumerate(rows):
            if r["prompt"] == question and i not in planted:
                truth = r["response"]
    span = answer.rstrip(".") or None
    result = att.attribute(question, answer, span=span if span else None, method=method, top_k=top_k, token_level=True)
    top = result.supporting[0].row if result.supporting else None
    comparison = att.compare(question, answer, truth, method=method, top_k=top_k) if truth and truth != answer else None

    if workspace is not None:
        shown = [(question, answer, truth)]
        for i, r in enumerate(rows):
            if i not in planted and len(shown) < 3 and r["prompt"] != question and answers[i] == r["response"]:
                shown.append((r["prompt"], answers[i], r["response"]))
        folder = write_workspace(Path(workspace), paths, shown)
        wrote = (f"Wrote an editor workspace to {folder}: open it (code {folder}), open answers.md, "
                 "select the first answer and run 'Lens: Attribute Selection'.")

    if as_json:
        print(json.dumps({
            "question": question, "answer": answer, "fact_sheet_answer": truth,
            "correct": truth == answer if truth else None,
            "exact_match": {"matched": matched, "rows": len(rows)},
            "planted_rows": sorted(planted), "top_supporting_row": top, "top_is_planted": top in planted,
            "attribution": result.to_dict(),
            "compare": comparison.to_dict() if comparison else None,
        }, indent=2, ensure_ascii=False), file=out)
        if workspace is not None:
            say(wrote)
        return 0

    say(f"\nQuestion: {question}\nModel:    {answer}")
    if truth is not None:
        verdict = "correct" if truth == answer else "WRONG"
        say(f"Fact sheet ({paths.world.name}): {truth}  -> the model's answer is {verdict}")
    say("")
    say(render_result(result))
    if top is not None:
        where = f"{paths.train}:{result.supporting[0].range.start.line + 1}"
        tag = "a PLANTED wrong fact" if top in planted else "not a planted row"
        say(f"\nTop supporting example: row {top} at {where} -- {tag}.")
    if comparison is not None:
        say("\nCompared with the fact sheet's answer:")
        say(render_compare(comparison))
    if workspace is not None:
        say("\n" + wrote)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--write-data"]:
        write_shipped_data()
        print(f"wrote {SHIPPED_WORLD} and {SHIPPED_TRAIN}")
