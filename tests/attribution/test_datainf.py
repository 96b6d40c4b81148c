"""DataInf against the paper's formula written out directly, and the other scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lens_engine.attribution.datainf import (
    Damping,
    block_sq_norms,
    combine_checkpoints,
    datainf_precondition_vectors,
    datainf_preconditioned,
    datainf_scores,
    exact_damped_scores,
    gradcos_scores,
    graddot_scores,
    self_influence,
)
from lens_engine.attribution.gradients import GradientLayout


def paper_datainf_slow(grads: torch.Tensor, v: torch.Tensor, layout: GradientLayout, damping: str) -> np.ndarray:
    """Kwon et al. (2024), eq. (5), one example and one LoRA tensor at a time, in float64.

    lambda_l = 0.1 * (1/(n d_l)) sum_i |g_il|^2                  ("paper")
    lambda_l = 0.1 * (1/n) sum_i |g_il|^2                        ("norm")
    r_l = 1/(n lambda_l) sum_i (v_l - (v_l.g_il)/(lambda_l + |g_il|^2) g_il)
    score_k = - sum_l r_l . g_kl
    """
    g_all = grads.double()
    v_all = v.double()
    n = g_all.shape[0]
    scores = np.zeros(n)
    for block in layout.blocks:
        g = g_all[:, block.offset : block.offset + block.size]
        vl = v_all[block.offset : block.offset + block.size]
        mean_sq = sum(float(g[i] @ g[i]) for i in range(n)) / n
        lam = 0.1 * mean_sq / (block.size if damping == "paper" else 1)
        r = torch.zeros_like(vl)
        for i in range(n):
            c = float(vl @ g[i]) / (lam + float(g[i] @ g[i]))
            r += vl - c * g[i]
        r /= n * lam
        for k in range(n):
            scores[k] -= float(r @ g[k])
    return scores


@pytest.fixture(scope="module")
def store_and_query(attributor):
    target = attributor.target("What is the capital of Dratanane?", "Shaloa.")
    grads = attributor.store.checkpoint_gradients(0).float()
    v = attributor.query_gradients(target)[0]
    return grads, v, attributor.store.layout


@pytest.mark.parametrize("damping", ["norm", "paper"])
def test_datainf_matches_the_papers_formula(store_and_query, damping):
    grads, v, layout = store_and_query
    expected = paper_datainf_slow(grads, v, layout, damping)
    fast = datainf_scores(grads, v, layout, Damping(damping)).numpy()
    np.testing.assert_allclose(fast, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max())
    pre = (-(datainf_preconditioned(grads, layout, Damping(damping)) @ v)).double().numpy()
    np.testing.assert_allclose(pre, expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())
    rows = datainf_precondition_vectors(grads, layout, Damping(damping), grads[:3])
    np.testing.assert_allclose((-(rows @ v)).double().numpy(), expected[:3], rtol=1e-3, atol=1e-5 * np.abs(expected).max())


@pytest.mark.parametrize("precondition", [True, False])
def test_attributor_scores_match_the_papers_formula(attributor, precondition):
    # End to end: the query's gradients and the store at every checkpoint, through
    # the Attributor's precomputed (one pass) and direct (formula) routes.
    target = attributor.target("What is the capital of Dratanane?", "Shaloa.", "Shaloa")
    saved = attributor.precondition
    try:
        attributor.precondition = precondition
        got = attributor.scores("What is the capital of Dratanane?", "Shaloa.", "Shaloa")
    finally:
        attributor.precondition = saved
    for c, v in enumerate(attributor.query_gradients(target)):
        expected = paper_datainf_slow(attributor.store.checkpoint_gradients(c).float(), v, attributor.store.layout, "norm")
        np.testing.assert_allclose(got.per_checkpoint[c], expected, rtol=1e-3, atol=1e-5 * np.abs(expected).max())
    np.testing.assert_allclose(got.scores, got.per_checkpoint.mean(0))


def test_preconditioning_gram_and_feature_routes_agree():
    # n > d_l uses the d_l x d_l route, n <= d_l the n x n Gram route.
    gen = torch.Generator().manual_seed(0)
    layout = GradientLayout.from_sizes(["a", "b"], [3, 40])
    grads = torch.randn(20, 43, generator=gen)
    v = torch.randn(43, generator=gen)
    expected = datainf_scores(grads, v, layout, Damping())
    got = -(datainf_preconditioned(grads, layout, Damping()) @ v).double()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_fixed_damping_and_parse():
    assert Damping.parse(None) == Damping()
    assert Damping.parse("paper").kind == "paper"
    assert Damping.parse("0.5") == Damping("fixed", value=0.5)
    with pytest.raises(ValueError):
        Damping.parse("lots")


def test_datainf_approaches_exact_inverse_with_large_damping(store_and_query):
    # As lambda grows both DataInf and the exact inverse tend to graddot / lambda:
    # their rankings must agree.
    grads, v, layout = store_and_query
    big = Damping("norm", scale=1e3)
    a = datainf_scores(grads, v, layout, big).numpy()
    b = exact_damped_scores(grads, v, layout, big).numpy()
    assert np.corrcoef(a, b)[0, 1] > 0.999


def test_graddot_and_gradcos(store_and_query):
    grads, v, _ = store_and_query
    dot = graddot_scores(grads, v).numpy()
    np.testing.assert_allclose(dot, -(grads.double() @ v.double()).numpy(), rtol=1e-5)
    cos = gradcos_scores(grads, v).numpy()
    assert np.all(np.abs(cos) <= 1 + 1e-6)
    assert np.all(np.sign(cos) == np.sign(dot))


def test_self_influence_is_positive(store_and_query):
    grads, _, layout = store_and_query
    s = self_influence(grads, layout, Damping()).numpy()
    assert np.all(s > 0)
    np.testing.assert_allclose(self_influence(grads, layout, None).numpy(), block_sq_norms(grads, layout).sum(1).double().numpy(), rtol=1e-5)


def test_combine_checkpoints_mean_median_agreement():
    per = np.array([[1.0, -1.0, 0.5], [3.0, 1.0, 0.4], [2.0, -2.0, 0.6]])
    mean = combine_checkpoints(per, "mean")
    np.testing.assert_allclose(mean.scores, [2.0, -2 / 3, 0.5])
    np.testing.assert_allclose(mean.sign_agreement, [1.0, 2 / 3, 1.0])
    median = combine_checkpoints(per, "median")
    np.testing.assert_allclose(median.scores, [2.0, -1.0, 0.5])
    # Example 0 is ranked first everywhere; example 1 moves between ranks 1 and 2.
    assert mean.rank_spread[0] == 0 and mean.rank_spread[1] == 1
    with pytest.raises(ValueError):
        combine_checkpoints(per, "max")


def test_exact_inverse_woodbury_matches_direct_solve():
    gen = torch.Generator().manual_seed(1)
    layout = GradientLayout.from_sizes(["a", "b"], [30, 5])  # n=10: Woodbury for a, direct for b
    grads = torch.randn(10, 35, generator=gen, dtype=torch.float64)
    v = torch.randn(35, generator=gen, dtype=torch.float64)
    got = exact_damped_scores(grads, v, layout, Damping())
    lam = 0.1 * block_sq_norms(grads, layout).mean(0)
    expected = torch.zeros(10, dtype=torch.float64)
    for l, b in enumerate(layout.blocks):
        g = grads[:, b.offset : b.offset + b.size]
        fisher = g.t() @ g / 10 + lam[l] * torch.eye(b.size, dtype=torch.float64)
        expected -= g @ torch.linalg.solve(fisher, v[b.offset : b.offset + b.size])
    torch.testing.assert_close(got, expected)
