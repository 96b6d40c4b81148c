"""How gradients are stored: the automatic plan, int8 stores and the query kernel."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from lens_engine.attribution import Attributor
from lens_engine.attribution.gradients import GradientLayout
from lens_engine.attribution.policy import CPU_QUERY_BUDGET, MiB, parse_projection, plan_store
from lens_engine.attribution.quantize import DenseMatrix, Int8Matrix, dequantize_blocks, int8_kernel_available, quantize_blocks

PROMPT, TEXT = "What is the capital of Dratanane?", "Shaloa."
DEMO_DIM = 81_920  # the demo model's LoRA values per example and checkpoint

needs_kernel = pytest.mark.skipif(not int8_kernel_available(), reason="this torch has no CPU int8 kernel")


# -- the plan (a pure function) --------------------------------------------------


@pytest.mark.parametrize("n,dtype,projection", [
    (32, "float32", None),        # the demo: exact
    (273, "float32", None),       # the largest float32 store of every value within 256 MiB (3 checkpoints)
    (274, "int8", None),
    (1_000, "int8", None),
    (3_000, "int8", 16_384),
    (10_000, "int8", 8_192),
    (30_000, "int8", 2_048),
    (1_000_000, "int8", 1_024),   # never below MIN_PROJECTION, even over the budget
])
def test_the_plan_keeps_a_query_within_the_budget(n, dtype, projection):
    plan = plan_store(n, 3, DEMO_DIM)
    assert (plan.dtype, plan.projection) == (dtype, projection)
    assert plan.exact == (dtype == "float32" and projection is None)
    if n < 1_000_000:
        assert plan.query_bytes(n, 3) <= CPU_QUERY_BUDGET
    if plan.projection and plan.projection * 2 < DEMO_DIM:
        # ... and it is the largest that fits: twice the dimension would not.
        assert n * 3 * plan.projection * 2 > CPU_QUERY_BUDGET
    assert f"{n:,} rows" in plan.reason or "fits" in plan.reason


def test_explicit_settings_are_never_overridden():
    plan = plan_store(10_000_000, 3, DEMO_DIM, dtype="float32", projection=None)
    assert (plan.dtype, plan.projection, plan.exact, plan.auto) == ("float32", None, True, False)
    assert plan_store(10_000, 3, DEMO_DIM, dtype="float32", projection=8192).projection == 8192
    # One explicit half: the other is chosen within the budget.
    plan = plan_store(10_000, 3, DEMO_DIM, dtype="float32", projection="auto")
    assert plan.dtype == "float32" and plan.projection == 2048
    plan = plan_store(500, 3, DEMO_DIM, dtype="auto", projection=None)
    assert plan.dtype == "int8" and plan.projection is None


def test_without_int8_the_plan_projects_float32():
    plan = plan_store(10_000, 3, DEMO_DIM, int8=False)
    assert (plan.dtype, plan.projection) == ("float32", 2048)


def test_an_earlier_plan_is_kept_while_it_stays_near_the_budget():
    first = plan_store(10_000, 3, DEMO_DIM)
    saved = {"requested": first.request_key(), "dtype": first.dtype, "projection": first.projection}
    # 20% more rows: 8,192 values now read 281 MiB, within 1.25 x the budget: no recomputation.
    kept = plan_store(12_000, 3, DEMO_DIM, previous=saved)
    assert (kept.dtype, kept.projection) == ("int8", 8192) and "kept" in kept.reason
    assert plan_store(12_000, 3, DEMO_DIM).projection == 4096
    # Twice the rows: too slow, a new plan.
    assert plan_store(20_000, 3, DEMO_DIM, previous=saved).projection == 4096
    # A quarter of the rows: the old plan is wastefully small; a better one fits.
    assert plan_store(2_500, 3, DEMO_DIM, previous=saved).projection == 32_768
    # Another request never inherits the plan.
    assert plan_store(12_000, 3, DEMO_DIM, dtype="float32", previous=saved).dtype == "float32"


def test_parse_projection():
    assert parse_projection("auto") == "auto"
    assert parse_projection("none") is None and parse_projection(None) is None and parse_projection(0) is None
    assert parse_projection("8192") == 8192
    for bad in ("lots", -1, 2.5):
        with pytest.raises(ValueError):
            parse_projection(bad)


# -- int8 matrices -------------------------------------------------------------------


def test_block_quantisation_round_trips():
    gen = torch.Generator().manual_seed(0)
    layout = GradientLayout.from_sizes(["a", "b"], [10, 30])
    rows = torch.randn(5, 40, generator=gen)
    rows[:, 10:] *= 1e-4  # a block of tiny values keeps its own scale
    rows[3] = 0.0
    q, scales = quantize_blocks(rows, layout)
    back = dequantize_blocks(q, scales, layout)
    for b in layout.blocks:
        part, got = rows[:, b.offset : b.offset + b.size], back[:, b.offset : b.offset + b.size]
        assert float((got - part).abs().max()) <= float(part.abs().max()) / 127 * 0.51 + 1e-12
    assert torch.equal(back[3], torch.zeros(40))


@needs_kernel
@pytest.mark.parametrize("dim", [40, 1000, 4100])  # the kernel itself needs multiples of 16: padded
def test_int8_matrix_scores_like_the_float_matrix(dim):
    gen = torch.Generator().manual_seed(1)
    layout = GradientLayout.from_sizes(["a", "b", "c"], [dim // 4, dim // 4, dim - 2 * (dim // 4)])
    m = torch.randn(300, dim, generator=gen)
    m[:, : dim // 4] *= 1e3  # blocks of very different magnitudes, as LoRA tensors have
    x = torch.randn(dim, 3, generator=gen)
    x[: dim // 4] /= 1e3
    exact = DenseMatrix(m).matvec(x)
    for refine in (0, 32):
        got = Int8Matrix.from_float(m, layout).matvec(x, refine=refine)
        assert got.shape == (300, 3) and got.dtype == torch.float64
        err = float((got - exact).abs().max() / exact.abs().max())
        assert err < (2e-2 if refine == 0 else 2e-2)
        for j in range(3):
            assert spearmanr(got[:, j], exact[:, j])[0] > 0.999
    refined = Int8Matrix.from_float(m, layout)
    got = refined.matvec(x)
    for j in range(3):  # the 32 highest and lowest of each query are rescored with the residual
        top = exact[:, j].topk(5).indices
        assert float((got[top, j] - exact[top, j]).abs().max() / exact[:, j].abs().max()) < 1e-4
    single = refined.matvec(x[:, 0])
    assert single.shape == (300,) and torch.allclose(single, got[:, 0])
    torch.testing.assert_close(refined.rows([0, 5]), m[[0, 5]], rtol=0, atol=float(m.abs().max()) * 1e-4)


# -- stores on the tiny model ----------------------------------------------------------


def test_small_stores_stay_exact_by_default(attributor, tiny_demo, tmp_path):
    # The default (auto) on a small store is float32 of every value, scores identical to asking for it.
    plan = attributor.plan
    assert plan.auto and plan.exact and attributor.store.dtype == "float32" and attributor.store.header["projection"] is None
    exact = Attributor.from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, store_dtype="float32", projection=None,
                                    store_path=tmp_path / "exact.lgs", progress=False)
    assert not exact.plan.auto
    np.testing.assert_array_equal(attributor.scores(PROMPT, TEXT).per_checkpoint, exact.scores(PROMPT, TEXT).per_checkpoint)
    result = attributor.attribute(PROMPT, TEXT, top_k=3)
    assert result.gradients["exact"] and result.gradients["chosen"] == "auto"
    assert result.approximate_note is None
    assert json.loads(result.to_json())["gradients"]["dim"] == attributor.store.layout.dim


@needs_kernel
def test_int8_store_scores_like_float32(attributor, tiny_demo, tmp_path):
    int8 = Attributor.from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, store_dtype="int8", projection=None,
                                   store_path=tmp_path / "int8.lgs", progress=False)
    assert int8.store.dtype == "int8" and int8.store.scales.shape == (2, len(int8.training), len(int8.store.layout.blocks))
    assert int8.store.bytes_per_example * 4 == attributor.store.bytes_per_example
    for method in ("datainf", "graddot", "gradcos"):
        a = attributor.scores(PROMPT, TEXT, method=method).scores
        b = int8.scores(PROMPT, TEXT, method=method).scores
        assert spearmanr(a, b)[0] > 0.99, method
        assert np.argmax(a) == np.argmax(b) and np.argmin(a) == np.argmin(b)
        assert np.abs(a - b).max() < 0.02 * np.abs(a).max()
    result = int8.attribute(PROMPT, TEXT, top_k=2, token_level=True)
    assert result.gradients == {"dtype": "int8", "dim": attributor.store.layout.dim, "full_dim": attributor.store.layout.dim,
                                "projection": None, "exact": False, "chosen": "requested", "reason": "as requested"}
    assert result.approximate_note.startswith("approximate scores: int8 gradients")
    # Token scores still add up to the shown scores.
    t = result.token_level
    for k, e in enumerate(result.supporting + result.opposing):
        np.testing.assert_allclose(t.contributions[k][np.array(t.selected)].sum(), e.score, rtol=1e-3, atol=1e-6 * abs(e.score))
    si_exact, si_int8 = attributor.self_influence(), int8.self_influence()
    assert spearmanr(si_exact, si_int8)[0] > 0.99


@needs_kernel
def test_a_small_budget_makes_the_plan_shrink_the_store_and_say_so(attributor, tiny_demo, tmp_path):
    full = attributor.store.layout.dim
    rows, ckpts = len(attributor.training), len(attributor.loaded.checkpoints)
    budget_mb = rows * ckpts * full * 2 / MiB  # int8 of every value fits (1 byte each), float32 (4) does not
    att = Attributor.from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, query_budget_mb=budget_mb,
                                  store_path=tmp_path / "auto.lgs", progress=False)
    assert (att.plan.dtype, att.plan.projection) == ("int8", None)
    assert att.store.plan["requested"] == {"dtype": "auto", "projection": "auto"} and att.store.plan["dtype"] == "int8"
    budget_mb = rows * ckpts * full * 0.5 / MiB  # now only a projection fits
    smaller = Attributor.from_folders(tiny_demo.base, tiny_demo.adapter, tiny_demo.train, query_budget_mb=budget_mb,
                                      store_path=tmp_path / "auto.lgs", progress=False)
    assert smaller.plan.dtype == "int8" and smaller.plan.projection and smaller.plan.projection < full
    assert smaller.store.stats.computed_rows == rows  # a new plan recomputes every row, in the same file
    data = json.loads(smaller.attribute(PROMPT, TEXT, top_k=3).to_json())
    assert data["gradients"]["chosen"] == "auto" and not data["gradients"]["exact"]
    assert data["gradients"]["dim"] < full and data["gradients"]["full_dim"] == full
    assert "budget" in data["gradients"]["reason"]
    a = attributor.scores(PROMPT, TEXT, method="graddot").scores
    b = smaller.scores(PROMPT, TEXT, method="graddot").scores
    assert spearmanr(a, b)[0] > 0.7  # a projection to ~1/5 of a tiny model's values: approximate


def test_cli_says_when_scores_are_approximate(tiny_demo, tmp_path, capsys):
    import argparse

    from lens_engine.attribution import cli

    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    base = ["attribute", "--model", str(tiny_demo.base), "--adapter", str(tiny_demo.adapter), "--train", str(tiny_demo.train),
            "--prompt", PROMPT, "--text", TEXT, "--no-progress"]
    args = parser.parse_args(base + ["--store-dtype", "float32", "--projection", "64", "--store", str(tmp_path / "p.lgs")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "approximate scores: float32 gradients projected from" in out and "--projection none" in out
    args = parser.parse_args(base + ["--store", str(tmp_path / "e.lgs")])
    assert args.func(args) == 0
    assert "approximate" not in capsys.readouterr().out
    args = parser.parse_args(base + ["--projection", "lots", "--store", str(tmp_path / "x.lgs")])
    assert args.func(args) == 2
    assert "projection must be" in capsys.readouterr().err


def test_the_editor_setting_asks_for_exact_gradients():
    from server.attribution import attribution_settings

    exact, problems = attribution_settings({"model": "m", "gradientStore": "exact"}, None)
    assert exact.gradient_store == "exact" and not problems
    auto, _ = attribution_settings({"model": "m"}, None)
    assert auto.gradient_store == "auto" and auto.load_key() != exact.load_key()  # changing it reloads the store
    bad, problems = attribution_settings({"model": "m", "gradientStore": "small"}, None)
    assert bad.gradient_store == "auto" and "lens.attribution.gradientStore" in problems[0]


def test_the_default_store_file_is_named_by_the_request_not_its_outcome(attributor):
    from lens_engine.attribution.store import StoreSettings, default_store_path

    dim = attributor.store.layout.dim

    def path(plan):
        return default_store_path(attributor.loaded, attributor.training, StoreSettings(plan.dtype, plan.projection, plan=plan))

    small, large = plan_store(10, 2, dim), plan_store(10_000_000, 2, dim)
    assert (small.dtype, small.projection) != (large.dtype, large.projection)
    assert path(small) == path(large)  # a new plan replaces the old file instead of leaving it in the cache
    assert path(plan_store(10, 2, dim, dtype="float32", projection=None)) != path(small)
