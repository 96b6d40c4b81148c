#!/usr/bin/env python
"""Speed and memory of Lens's attribution engine.  Prints tables; a benchmark, not a test.

Sections (all by default, or pick with --sections):

  build    gradient-store throughput (examples/s) of vectorised per-example
           gradients against the bare forward+backward time of the same batches
  bytes    store bytes per example (fp32 / bf16, full / projected)
  query    query latency over n stored examples (1k .. 100k) on CPU: DataInf
           with precomputed preconditioning (one pass), DataInf straight from
           the formula (three passes), grad-dot; fp32 and bf16; full D and projected
  store    the store policy (projection="auto", store_dtype="auto"): query latency over
           n = 1k .. 30k rows x 3 checkpoints at the plan it picks and at float32 of every
           LoRA value (per checkpoint and the whole query), and end to end over a real
           10k-row store of the demo model
  dattri   dattri's DataInf time per query over the same synthetic store
  gpu      a ~1B-parameter Llama-shaped model (LoRA r=8 on q/v) on a GPU, when present

Every figure is the median of several runs.  The machine is shared, so
absolute times move; ratios measured back-to-back are the robust figures.

    OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1 .venv/bin/python bench/attribution_speed.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from bench_common import print_table  # noqa: E402  (bench/ is the script's folder)
import torch  # noqa: E402

from lens_engine.attribution import Attributor  # noqa: E402
from lens_engine.attribution.datainf import Damping, datainf_preconditioned, datainf_scores, graddot_scores  # noqa: E402
from lens_engine.attribution.demo import ensure_demo  # noqa: E402
from lens_engine.attribution.finetune import batch_loss  # noqa: E402
from lens_engine.attribution.gradients import GradientComputer, GradientLayout, length_sorted_batches, pad_right  # noqa: E402
from lens_engine.attribution.paths import cache_dir  # noqa: E402
from lens_engine.attribution.policy import plan_store  # noqa: E402
from lens_engine.attribution.quantize import DenseMatrix, Int8Matrix  # noqa: E402


def log(*args) -> None:
    print(*args, file=sys.stderr, flush=True)


def table(title: str, header: list[str], rows: list[list]) -> None:
    print_table(title, header, [[_fmt(x) for x in row] for row in rows])


def _fmt(x) -> str:
    if isinstance(x, float):
        return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"
    return str(x)


def median_time(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def demo_attributor() -> Attributor:
    demo = ensure_demo(progress=False)
    return Attributor.from_folders(demo.base, demo.adapter, demo.train, progress=False)


def synthetic_rows(att: Attributor, n: int) -> list[tuple[list[int], list[int]]]:
    """n training-like sequences: the demo's rows, repeated with shuffled prompts."""
    rng = np.random.default_rng(0)
    base = att.training.examples
    out = []
    for i in range(n):
        e = base[i % len(base)]
        ids = list(e.input_ids)
        prompt_positions = [j for j, m in enumerate(e.target_mask) if not m][1:]
        shuffled = rng.permutation([ids[j] for j in prompt_positions])
        for j, tok in zip(prompt_positions, shuffled):
            ids[j] = int(tok)
        out.append((ids, list(e.target_mask)))
    return out


# ---------------------------------------------------------------------------


def section_build(att: Attributor, n: int = 256) -> None:
    rows = synthetic_rows(att, n)
    model, names = att.loaded.model, att.loaded.lora_names
    params = dict(model.named_parameters())
    lora = att.loaded.checkpoints[-1].lora_weights
    pad = int(att.loaded.tokenizer.pad_token_id)
    lens = GradientComputer(model, names, pad)  # eager attention under vmap (the default)
    sdpa = GradientComputer(model, names, pad, attention=None)  # the model's own SDPA under vmap
    results = []
    for batch_size in (16, 32, 64):
        batches = [[rows[i] for i in b] for b in length_sorted_batches([len(r[0]) for r in rows], batch_size)]
        padded = [pad_right([r[0] for r in b], [r[1] for r in b], 0, "cpu") for b in batches]

        def bare() -> None:
            # What training does with the same batches: one batched loss, one backward.
            for p in names:
                params[p].requires_grad_(True)
            try:
                for ids, w in padded:
                    batch_loss(model, ids, w).backward()
            finally:
                for p in names:
                    params[p].requires_grad_(False)
                    params[p].grad = None

        def per_example(computer: GradientComputer):
            def run() -> None:
                with torch.no_grad():
                    for b in batches:
                        computer.example_gradients(lora, [r[0] for r in b], [r[1] for r in b])
            return run

        # Interleaved rounds: the machine is shared, so each round compares the
        # three under the same load and the ratios are medians of per-round ratios.
        runs = {"bare": bare, "lens": per_example(lens), "sdpa": per_example(sdpa)}
        for fn in runs.values():
            fn()  # warm-up
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(5):
            for key, fn in runs.items():
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = {k: statistics.median(t / b for t, b in zip(times[k], times["bare"])) for k in ("lens", "sdpa")}
        results.append([batch_size, n / med["bare"], n / med["lens"], ratio["lens"], n / med["sdpa"], ratio["sdpa"]])
    table(
        f"Gradient-store build: demo model ({sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters, "
        f"LoRA D={att.store.layout.dim}), {n} sequences of ~{np.mean([len(r[0]) for r in rows]):.0f} tokens, CPU, 2 threads",
        ["batch", "bare forward+backward ex/s", "Lens per-example ex/s (vmap, eager attention)", "ratio (target <= 1.3)",
         "vmap over SDPA ex/s", "ratio"],
        results,
    )


def section_bytes(att: Attributor) -> None:
    d = att.store.layout.dim
    c = len(att.loaded.checkpoints)
    rows = []
    for label, dim in (("full", d), ("projection 8192", 8192), ("projection 2048", 2048)):
        for dtype, size in (("float32", 4), ("bfloat16", 2)):
            rows.append([label, dtype, dim, c, dim * size * c, dim * size * c * 10_000 / 1e9])
    table(
        f"Store bytes per example (demo model, {c} checkpoints)",
        ["gradients", "dtype", "values per checkpoint", "checkpoints", "bytes per example", "GB per 10k examples"],
        rows,
    )
    print(f"\n(measured on the demo's store file: {att.store.path.stat().st_size:,} bytes for {len(att.store)} examples "
          f"= {att.store.bytes_per_example:,} bytes of gradients per example plus the header)")


def _layout(dim: int, blocks: int) -> GradientLayout:
    sizes = [dim // blocks] * blocks
    sizes[-1] += dim - sum(sizes)
    return GradientLayout.from_sizes([f"b{i}" for i in range(blocks)], sizes)


def section_query(att: Attributor) -> None:
    real_layout = att.store.layout
    n_blocks = len(real_layout.blocks)
    target = att.target("What is the capital of Norveland?", "Ostzua.")
    t_query_grads = median_time(lambda: att.query_gradients(target), repeats=5)
    rows = []
    gen = torch.Generator().manual_seed(0)
    configs = [
        (1_000, real_layout.dim), (3_000, real_layout.dim), (10_000, real_layout.dim),
        (10_000, 8192), (30_000, 8192), (10_000, 2048), (100_000, 2048),
    ]
    for n, dim in configs:
        layout = real_layout if dim == real_layout.dim else _layout(dim, n_blocks)
        grads = torch.randn(n, dim, generator=gen)
        v = torch.randn(dim, generator=gen)
        pre = datainf_preconditioned(grads, layout, Damping()) if n * dim <= 3e8 else grads  # latency only: same shape
        for dtype in ("float32", "bfloat16"):
            g = grads if dtype == "float32" else grads.to(torch.bfloat16)
            p = pre if dtype == "float32" else pre.to(torch.bfloat16)
            vv = v if dtype == "float32" else v.to(torch.bfloat16)
            t_pre = median_time(lambda: p @ vv)
            t_dot = median_time(lambda: graddot_scores(g, vv))
            t_direct = median_time(lambda: datainf_scores(grads, v, layout, Damping()), repeats=3) if dtype == "float32" else float("nan")
            rows.append([n, dim, dtype, n * dim * (4 if dtype == "float32" else 2) / 1e6, t_pre * 1e3, t_direct * 1e3, t_dot * 1e3])
        del grads, pre
    table(
        "Query latency per checkpoint on CPU (ms): scoring n stored examples for one query "
        "(random gradients: latency does not depend on the values)",
        ["n", "D", "dtype", "MB per checkpoint", "DataInf precomputed", "DataInf direct formula", "grad-dot"],
        rows,
    )
    print(f"\nQuery gradient (forward+backward, demo model) for {len(att.loaded.checkpoints)} checkpoints: "
          f"{t_query_grads * 1e3:.1f} ms; a query's total = that + checkpoints x the per-checkpoint scoring above.")
    # End to end through the API on the demo's real store.
    t_api = median_time(lambda: att.scores("What is the capital of Norveland?", "Ostzua.", span="Ostzua"), repeats=5)
    t_res = median_time(lambda: att.attribute("What is the capital of Norveland?", "Ostzua.", span="Ostzua"), repeats=5)
    print(f"Attributor.scores on the demo store ({len(att.store)} examples x {len(att.loaded.checkpoints)} checkpoints): "
          f"{t_api * 1e3:.1f} ms; Attributor.attribute with cards, spans, keywords: {t_res * 1e3:.1f} ms")


def _synthetic_matrix(n: int, dim: int, dtype: str, layout: GradientLayout, gen) -> DenseMatrix | Int8Matrix:
    """What a query multiplies for n rows (random values: the latency does not depend on them)."""
    if dtype == "float32":
        return DenseMatrix(torch.randn(n, dim, generator=gen))
    q = torch.randint(-127, 128, (n, -(-dim // 64) * 64), dtype=torch.int8, generator=gen)  # padded as from_float pads
    q[:, dim:] = 0
    residual = torch.randint(-127, 128, (n, dim), dtype=torch.int8, generator=gen)  # rescoring the top and bottom rows
    return Int8Matrix(q, torch.rand(n, generator=gen).to(torch.bfloat16), torch.ones(dim), dim, residual, torch.rand(n, generator=gen))


def _interleaved(fns: dict, rounds: int = 5) -> dict:
    """Median seconds of each function, timed in interleaved rounds (same load for all)."""
    for fn in fns.values():
        fn()
    times = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def section_store(att: Attributor, e2e_rows: tuple[int, ...] = (1_000, 3_000, 10_000)) -> None:
    full = att.computer.layout
    dim_full = full.dim
    checkpoints = len(att.loaded.checkpoints)
    gen = torch.Generator().manual_seed(0)
    target = att.target("What is the capital of Norveland?", "Ostzua.")
    t_grad = median_time(lambda: att.query_gradients(target), repeats=7)
    rows = []
    full_rows = 10_000  # float32 of every value: at most 10k rows (3.3 GB) in memory, read again for larger n
    full_matrix = None
    for n in (1_000, 3_000, 10_000, 30_000):
        plan = plan_store(n, checkpoints, dim_full)
        layout = full if plan.projection is None else _layout(plan.dim, len(full.blocks))
        auto = _synthetic_matrix(n, plan.dim, plan.dtype, layout, gen)
        v_auto = torch.randn(plan.dim, generator=gen)
        if full_matrix is None or len(full_matrix) != min(n, full_rows):
            full_matrix = None
            full_matrix = _synthetic_matrix(min(n, full_rows), dim_full, "float32", full, gen)
        v_full = torch.randn(dim_full, generator=gen)
        repeats = max(1, n // len(full_matrix))

        def auto_one():
            auto.matvec(v_auto)

        def full_one():
            for _ in range(repeats):
                full_matrix.matvec(v_full)

        def one_thread():
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                auto.matvec(v_auto)
            finally:
                torch.set_num_threads(before)

        t = _interleaved({"auto": auto_one, "full": full_one, "auto1": one_thread})
        label = f"{plan.dtype}, {plan.dim:,}" + ("" if plan.projection is None else " (projected)")
        rows.append([n, label, plan.query_bytes(n, checkpoints) / 2**20, t["auto"] * 1e3, checkpoints * t["auto"] * 1e3,
                     (checkpoints * t["auto"] + t_grad) * 1e3, t["auto1"] * 1e3,
                     n * checkpoints * dim_full * 4 / 2**20, t["full"] * 1e3, checkpoints * t["full"] * 1e3,
                     (checkpoints * t["full"] + t_grad) * 1e3, t["full"] / t["auto"]])
        del auto
    del full_matrix
    table(
        f"Query latency (ms) over n rows x {checkpoints} checkpoints, CPU, {torch.get_num_threads()} threads: the plan "
        f"projection='auto' picks (budget 256 MiB per query) against float32 of all {dim_full:,} values. Scoring = one "
        f"matrix-vector product per checkpoint (DataInf precomputed, grad-dot alike); + gradient = the query's gradient at "
        f"every checkpoint ({t_grad * 1e3:.1f} ms, demo model). Full D beyond {full_rows:,} rows: a {full_rows:,}-row "
        "matrix read n/10k times",
        ["n", "auto plan", "MiB/query", "per ckpt", f"{checkpoints} ckpts", "+ gradient", "per ckpt, 1 thread",
         "full D MiB/query", "full D per ckpt", f"full D {checkpoints} ckpts", "+ gradient", "full / auto"],
        rows,
    )
    rows = [section_store_end_to_end(n) for n in e2e_rows]
    table(
        "End to end over real stores of the demo model (its rows with shuffled prompts, 3 checkpoints), automatic plan, "
        "medians of 7 interleaved rounds (ms unless marked)",
        ["n", "plan", "store build s (cached: 0)", "first DataInf query s (preconditioning)", "query gradient",
         "DataInf scoring, 3 ckpts", "grad-dot scoring", "Attributor.scores", "Attributor.attribute"],
        rows,
    )


def section_store_end_to_end(n: int) -> list:
    """A real store of n rows (the demo's rows with shuffled prompts) under the automatic plan."""
    import json

    demo = ensure_demo(progress=False)
    path = cache_dir("bench") / f"speed-demo-{n}.jsonl"
    if not path.is_file():
        rng = np.random.default_rng(0)
        rows = [json.loads(line) for line in demo.train.read_text().splitlines()]
        out = []
        for i in range(n):
            r = rows[i % len(rows)]
            words = r["prompt"].split()
            out.append({"prompt": " ".join(rng.permutation(words[:-1]).tolist() + words[-1:]) + f" ({i})", "response": r["response"]})
        path.write_text("".join(json.dumps(r) + "\n" for r in out))
    log(f"store of {n} rows ...")
    big = Attributor.from_folders(demo.base, demo.adapter, path, store_path=cache_dir("bench") / f"speed-demo-{n}.lgs", progress=False)
    built = big.store.stats
    prompt, text = "What is the capital of Norveland?", "Ostzua."
    t0 = time.perf_counter()
    big.scores(prompt, text, span="Ostzua")  # the first DataInf query precomputes the preconditioning
    t_first = time.perf_counter() - t0
    target = big.target(prompt, text, "Ostzua")
    grads = big.query_gradients(target)
    t = _interleaved({
        "gradient": lambda: big.query_gradients(target),
        "scoring": lambda: big.gradient_scores(grads, "datainf"),
        "graddot": lambda: big.gradient_scores(grads, "graddot"),
        "scores": lambda: big.scores(prompt, text, span="Ostzua"),
        "attribute": lambda: big.attribute(prompt, text, span="Ostzua"),
    }, rounds=7)
    info = big.gradient_info()
    plan = f"{info['dtype']}, {info['dim']:,}" + (" (projected)" if info["projection"] else "")
    return [n, plan, built.seconds if built.computed_rows else 0.0, t_first, t["gradient"] * 1e3, t["scoring"] * 1e3,
            t["graddot"] * 1e3, t["scores"] * 1e3, t["attribute"] * 1e3]


def section_dattri(att: Attributor, dattri_path: str) -> None:
    sys.path.insert(0, dattri_path)
    try:
        from dattri.algorithm import IFAttributorDataInf
    except ImportError as err:
        print(f"\n## dattri\n\nskipped: dattri is not importable ({err})")
        return
    layout = att.store.layout
    rows = []
    gen = torch.Generator().manual_seed(0)
    for n in (1_000, 3_000):
        grads = torch.randn(n, layout.dim, generator=gen)
        v = torch.randn(1, layout.dim, generator=gen)
        # dattri's per-query work is transform_test_rep over its cached training
        # gradients; give it the same gradients and per-tensor layer split.
        attr = IFAttributorDataInf.__new__(IFAttributorDataInf)
        attr.regularization = 0.1
        attr._cached_train_reps = {0: grads}
        attr._get_layer_wise_reps = lambda ckpt, q: tuple(q[:, b.offset : b.offset + b.size] for b in layout.blocks)
        t_dattri = median_time(lambda: grads @ attr.transform_test_rep(0, v)[0], repeats=3)
        t_lens = median_time(lambda: datainf_scores(grads, v[0], layout, Damping("fixed", value=0.1)), repeats=3)
        pre = datainf_preconditioned(grads, layout, Damping("fixed", value=0.1))
        t_pre = median_time(lambda: pre @ v[0], repeats=5)
        lens = datainf_scores(grads, v[0], layout, Damping("fixed", value=0.1)).numpy()
        theirs = -(grads @ attr.transform_test_rep(0, v)[0]).double().numpy()
        agree = float(np.corrcoef(lens, theirs)[0, 1])
        rows.append([n, layout.dim, t_dattri * 1e3, t_lens * 1e3, t_pre * 1e3, agree])
    table(
        "DataInf time per query and checkpoint (ms), same gradients: dattri 0.3 vs Lens",
        ["n", "D", "dattri transform_test_rep + scores", "Lens direct formula", "Lens precomputed", "Pearson(Lens, -dattri)"],
        rows,
    )


def section_gpu() -> None:
    if not torch.cuda.is_available():
        print("\n## GPU\n\nskipped: no GPU on this machine (the 1B-parameter timing needs one)")
        return
    from transformers import LlamaConfig, LlamaForCausalLM
    from peft import LoraConfig, get_peft_model

    dev = torch.device("cuda")
    config = LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                         num_key_value_heads=4, max_position_embeddings=2048)
    model = LlamaForCausalLM(config).to(dev, torch.bfloat16).eval()
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    names = [n for n, _ in model.named_parameters() if "lora_" in n]
    params = dict(model.named_parameters())
    lora = {n: params[n].detach().clone() for n in names}
    computer = GradientComputer(model, names, 0)
    seqs = [list(np.random.default_rng(i).integers(1, 32000, 128)) for i in range(256)]
    masks = [[0] * 64 + [1] * 64 for _ in seqs]
    torch.cuda.synchronize()

    def build() -> None:
        for s in range(0, len(seqs), 32):
            computer.example_gradients(lora, seqs[s : s + 32], masks[s : s + 32])
        torch.cuda.synchronize()

    t_build = median_time(build, repeats=3)
    dim = computer.layout.dim
    n = 100_000
    store = torch.randn(n, dim, device=dev, dtype=torch.bfloat16)
    v = torch.randn(dim, device=dev, dtype=torch.bfloat16)

    def query() -> None:
        store @ v
        torch.cuda.synchronize()

    t_query = median_time(query, repeats=10)
    bytes_read = n * dim * 2
    print(f"\n## GPU ({torch.cuda.get_device_name()})\n")
    print(f"~{sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters, LoRA r=8 on q/v, D={dim}")
    print(f"store build: {len(seqs) / t_build:.0f} examples/s (128 tokens each)")
    print(f"query over {n:,} examples (bf16, precomputed DataInf = one matvec): {t_query * 1e3:.2f} ms, "
          f"{bytes_read / t_query / 1e9:.0f} GB/s effective (memory-bandwidth floor: bytes / peak bandwidth)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", default="build,bytes,query,store,dattri,gpu")
    parser.add_argument("--dattri-path", default=str(Path(__file__).resolve().parents[1] / ".lens-cache" / "bench-deps"))
    args = parser.parse_args()
    sections = args.sections.split(",")
    att = demo_attributor() if set(sections) - {"gpu"} else None
    log(f"torch threads: {torch.get_num_threads()}")
    if "build" in sections:
        section_build(att)
    if "bytes" in sections:
        section_bytes(att)
    if "query" in sections:
        section_query(att)
    if "store" in sections:
        section_store(att)
    if "dattri" in sections:
        section_dattri(att, args.dattri_path)
    if "gpu" in sections:
        section_gpu()


if __name__ == "__main__":
    main()
