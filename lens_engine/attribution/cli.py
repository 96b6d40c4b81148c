"""``lens attribute``, ``lens finetune`` and ``lens demo``.

The main ``lens`` CLI calls :func:`register` with its subparsers; this module
also runs on its own: ``python -m lens_engine.attribution.cli demo``.
"""

from __future__ import annotations

import argparse
import os
import sys

from .errors import AttributionError

EXIT_OK, EXIT_ERROR = 0, 2


def _format_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training format (defaults: what `lens finetune` saved with the adapter)")
    g.add_argument("--text-column", help="train on every token of this column")
    g.add_argument("--prompt-column", help="column holding prompts (default: prompt)")
    g.add_argument("--response-column", help="column holding responses (default: response)")
    g.add_argument("--template", help="how a prompt was shown to the model, with {prompt}; e.g. 'Question: {prompt}\\nAnswer:'")


def register(subparsers) -> None:
    """Add the attribution subcommands to an argparse subparsers object."""
    a = subparsers.add_parser("attribute", help="which training examples made a LoRA model say this", description=attribute_command.__doc__)
    a.add_argument("--model", required=True, help="base model folder (safetensors)")
    a.add_argument("--adapter", required=True, help="peft LoRA adapter folder")
    a.add_argument("--checkpoints", nargs="+", metavar="DIR", help="checkpoint folders, or a folder of checkpoint-N folders (default: the adapter's own)")
    a.add_argument("--train", required=True, help="the training file (CSV or JSONL)")
    a.add_argument("--prompt", required=True)
    a.add_argument("--text", help="the model's text to attribute (default: generate it)")
    a.add_argument("--span", help="START:END characters of --text to attribute, or a substring of it (default: all)")
    a.add_argument("--top", type=int, default=10, metavar="K")
    a.add_argument("--method", choices=["datainf", "graddot", "gradcos", "bm25", "exact"], default="datainf")
    a.add_argument("--combine", choices=["mean", "median"], default="mean", help="how checkpoints are combined")
    a.add_argument("--damping", default="norm", help="DataInf damping: norm (0.1*mean|g|^2), paper (0.1*mean|g|^2/d) or a number")
    a.add_argument("--compare", metavar="USER_TEXT", help="compare --text with this text (word diff, attribution of each side)")
    a.add_argument("--token-level", action="store_true", help="also score each token against the shown examples")
    a.add_argument("--format", choices=["text", "json"], default="text")
    _store_options(a)
    _format_options(a)
    a.set_defaults(func=attribute_command)

    f = subparsers.add_parser("finetune", help="LoRA fine-tuning with shuffled epochs and checkpoints", description=finetune_command.__doc__)
    f.add_argument("--model", required=True, help="base model folder (safetensors)")
    f.add_argument("--train", required=True, help="training file (CSV or JSONL)")
    f.add_argument("--output", required=True, help="folder for the adapter and its checkpoint-N folders")
    f.add_argument("--r", type=int, default=8)
    f.add_argument("--alpha", type=int, default=16)
    f.add_argument("--dropout", type=float, default=0.0)
    f.add_argument("--target-modules", default="all-linear", help="'all-linear' or comma-separated module names, e.g. q_proj,v_proj")
    f.add_argument("--epochs", type=int, default=3)
    f.add_argument("--lr", type=float, default=1e-3)
    f.add_argument("--batch-size", type=int, default=8)
    f.add_argument("--checkpoints", type=int, default=3, help="how many checkpoints to save")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--no-shuffle", action="store_true", help="keep the file's order every epoch")
    f.add_argument("--no-resume", action="store_true", help="start over even if a resumable checkpoint exists")
    f.add_argument("--device", default="cpu")
    _format_options(f)
    f.set_defaults(func=finetune_command)

    d = subparsers.add_parser("demo", help="build a tiny model and show a wrong answer attributed to its planted source", description=demo_command.__doc__)
    d.add_argument("--rebuild", action="store_true", help="rebuild the cached demo model")
    d.add_argument("--question", help="ask this instead of a planted question")
    d.add_argument("--method", choices=["datainf", "graddot", "gradcos", "bm25", "exact"], default="datainf")
    d.add_argument("--top", type=int, default=5, metavar="K")
    d.add_argument("--format", choices=["text", "json"], default="text")
    d.add_argument("--workspace", metavar="DIR", help="also write an editor workspace (answers.md, train.jsonl, .vscode/settings.json) to DIR")
    d.set_defaults(func=demo_command)


def _store_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("gradient store")
    g.add_argument("--device", default="cpu")
    g.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"], help="model dtype")
    g.add_argument("--store-dtype", default="auto", choices=["auto", "float32", "bfloat16", "int8"],
                   help="auto (default): float32 while a query reads at most --query-budget MB of the store, else int8")
    g.add_argument("--projection", default="auto", metavar="auto|none|DIM",
                   help="auto (default): every LoRA value while the store fits --query-budget, else a random projection "
                        "to the largest power of two that fits; none: every value; DIM: project to DIM values")
    g.add_argument("--query-budget", type=float, metavar="MB", help="store bytes one query may read (default 256 on CPU, 4096 on a GPU)")
    g.add_argument("--batch-size", type=int, default=32, help="examples per vectorised gradient batch")
    g.add_argument("--store", help="gradient store file (default: in the user cache)")
    g.add_argument("--no-progress", action="store_true")


def _env() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def attribute_command(args: argparse.Namespace) -> int:
    """Score every training example by how much it raised (supporting) or
    lowered (opposing) the log-probability of the selected text."""
    _env()
    from .attributor import Attributor

    try:
        att = Attributor.from_folders(
            args.model,
            args.adapter,
            args.train,
            args.checkpoints,
            text_column=args.text_column,
            prompt_column=args.prompt_column,
            response_column=args.response_column,
            template=args.template.encode().decode("unicode_escape") if args.template else None,
            device=args.device,
            dtype=args.dtype,
            store_dtype=args.store_dtype,
            projection=args.projection,
            query_budget_mb=args.query_budget,
            batch_size=args.batch_size,
            store_path=args.store,
            damping=args.damping,
            combine=args.combine,
            progress=not args.no_progress,
        )
        text = args.text if args.text is not None else att.generate(args.prompt)
        if not text:
            print("lens attribute: the model generated no text for this prompt; pass the text to attribute with --text", file=sys.stderr)
            return EXIT_ERROR
        if args.compare is not None:
            result = att.compare(args.prompt, text, args.compare, method=args.method, top_k=args.top)
            print(result.to_json() if args.format == "json" else render_compare(result))
            return EXIT_OK
        result = att.attribute(args.prompt, text, args.span, method=args.method, top_k=args.top, token_level=args.token_level)
    except (AttributionError, ValueError) as err:
        print(f"lens attribute: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(result.to_json() if args.format == "json" else render_result(result))
    return EXIT_OK


def finetune_command(args: argparse.Namespace) -> int:
    """Fine-tune a LoRA adapter, saving checkpoints and the training format for attribution."""
    _env()
    from .attributor import training_format
    from .finetune import FinetuneSettings, finetune

    targets = args.target_modules if args.target_modules == "all-linear" else [t.strip() for t in args.target_modules.split(",") if t.strip()]
    settings = FinetuneSettings(
        r=args.r, alpha=args.alpha, dropout=args.dropout, target_modules=targets, epochs=args.epochs,
        learning_rate=args.lr, batch_size=args.batch_size, checkpoints=args.checkpoints, shuffle=not args.no_shuffle, seed=args.seed,
    )
    template = args.template.encode().decode("unicode_escape") if args.template else None
    fmt = training_format(None, args.text_column, args.prompt_column, args.response_column, template)
    try:
        result = finetune(args.model, args.train, args.output, settings, fmt, device=args.device, resume=not args.no_resume)
    except AttributionError as err:
        print(f"lens finetune: {err}", file=sys.stderr)
        return EXIT_ERROR
    print(f"adapter saved in {result.output} with {len(result.checkpoints)} checkpoint(s); final loss {result.epoch_losses[-1]:.4f}")
    return EXIT_OK


def demo_command(args: argparse.Namespace) -> int:
    """Build (once) a tiny model fine-tuned on facts about fictional countries,
    some planted wrong, then show where a wrong answer came from."""
    _env()
    from .demo import run_demo

    try:
        return run_demo(rebuild=args.rebuild, question=args.question, method=args.method, top_k=args.top, as_json=args.format == "json", workspace=args.workspace)
    except AttributionError as err:
        print(f"lens demo: {err}", file=sys.stderr)
        return EXIT_ERROR


# ---------------------------------------------------------------------------
# Text rendering


def _one_line(fields: dict[str, str], width: int = 100) -> str:
    text = " | ".join(v.replace("\n", " ") for v in fields.values())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_result(r) -> str:
    lines = [
        f"method {r.method} ({r.combine} of {len(r.checkpoints)} checkpoint(s){', damping ' + r.damping if r.damping else ''}) over {len(r.scores)} examples of {r.train_file}",
        f"prompt: {r.prompt}",
        f"text:   {r.text}",
        f"scored: {r.selected_text!r}" + (f"  (log p = {r.target_logprob:.3f})" if r.target_logprob is not None else ""),
    ]
    if r.approximate_note:
        lines.append(r.approximate_note + "; exact: --store-dtype float32 --projection none")
    for title, items in (("supporting", r.supporting), ("opposing", r.opposing)):
        lines.append(f"\n{title}:")
        if not items:
            lines.append("  (none)")
        for e in items:
            agree = f"sign agreement {e.sign_agreement:.0%}, rank spread {e.rank_spread}" if len(e.checkpoint_scores) > 1 else ""
            lines.append(f"  {e.normalized:+.2f}  row {e.row} (line {e.range.start.line + 1})  {_one_line(e.fields)}")
            extra = [agree] if agree else []
            if e.spans:
                extra.append("shares: " + ", ".join(repr(s.span.text) for s in e.spans[:3]))
            if extra:
                lines.append("         " + "; ".join(extra))
    for title, words in (("supporting", r.keywords_supporting), ("opposing", r.keywords_opposing)):
        if words:
            lines.append(f"\nkeywords ({title}): " + ", ".join(w for w, _ in words))
    lines.append("\nhistogram of normalised scores (-1 .. +1): " + " ".join(str(c) for c in r.histogram.counts))
    if r.token_level is not None and r.token_level.rows:
        t = r.token_level
        lines.append(f"\ntoken level (row {t.rows[0]}): " + " ".join(f"{tok!r}:{v:+.3g}" for tok, v in zip(t.tokens, t.contributions[0])))
    return "\n".join(lines)


def render_compare(c) -> str:
    lines = [f"prompt: {c.prompt}", f"model:  {c.model_text}", f"yours:  {c.user_text}", "diff:"]
    for p in c.diff:
        if p.op != "equal":
            lines.append(f"  {p.op}: {p.model_text!r} -> {p.user_text!r}")
    for title, items in (("support the model's text, oppose yours", c.favour_model), ("support yours, oppose the model's", c.favour_user)):
        lines.append(f"\n{title}:")
        lines.extend(f"  row {e.row}: model {e.model_normalized:+.2f}, yours {e.user_normalized:+.2f}  {_one_line(e.fields)}" for e in items)
        if not items:
            lines.append("  (none)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lens")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
