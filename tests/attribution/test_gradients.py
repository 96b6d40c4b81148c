"""Vectorised per-example gradients against plain backward passes."""

from __future__ import annotations

import torch

from lens_engine.attribution.finetune import batch_loss
from lens_engine.attribution.gradients import GradientLayout, RandomProjection, pad_right


def loop_gradients(attributor, checkpoint, examples):
    """The slow reference: one backward pass per example."""
    model = attributor.loaded.model
    params = dict(model.named_parameters())
    names = attributor.loaded.lora_names
    saved = {n: params[n].detach().clone() for n in names}
    out = []
    try:
        with torch.no_grad():
            for n in names:
                params[n].copy_(checkpoint.lora_weights[n])
        for e in examples:
            for n in names:
                params[n].requires_grad_(True)
                params[n].grad = None
            ids, w = pad_right([e.input_ids], [e.target_mask], 0, "cpu")
            batch_loss(model, ids, w).backward()
            out.append(torch.cat([params[n].grad.reshape(-1) for n in names]))
    finally:
        with torch.no_grad():
            for n in names:
                params[n].requires_grad_(False)
                params[n].grad = None
                params[n].copy_(saved[n])
    return torch.stack(out)


def test_vmap_gradients_match_backward_passes(attributor):
    examples = attributor.training.examples[:4]
    ckpt = attributor.loaded.checkpoints[0]
    fast = attributor.computer.example_gradients(ckpt.lora_weights, [e.input_ids for e in examples], [e.target_mask for e in examples])
    slow = loop_gradients(attributor, ckpt, examples)
    torch.testing.assert_close(fast, slow, rtol=1e-4, atol=1e-6)


def test_store_holds_the_same_gradients(attributor):
    ckpt = attributor.loaded.checkpoints[-1]
    examples = attributor.training.examples
    fresh = attributor.computer.example_gradients(ckpt.lora_weights, [e.input_ids for e in examples], [e.target_mask for e in examples])
    stored = attributor.store.checkpoint_gradients(len(attributor.loaded.checkpoints) - 1)
    torch.testing.assert_close(stored, fresh, rtol=1e-4, atol=1e-6)


def test_token_gradients_add_up_to_the_span_gradient(attributor):
    target = attributor.target("What is the capital of Dratanane?", "Shaloa.")
    ckpt = attributor.loaded.checkpoints[0]
    span = attributor.computer.query_gradient(ckpt.lora_weights, target.input_ids, target.weights)
    per_token = attributor.computer.token_gradients(ckpt.lora_weights, target.input_ids, target.selected_positions)
    torch.testing.assert_close(per_token.sum(0), span, rtol=1e-4, atol=1e-6)


def test_projection_keeps_blocks_and_inner_products():
    layout = GradientLayout.from_sizes(["a", "b", "c"], [100, 300, 600])
    proj = RandomProjection(layout, 500, seed=3)
    assert [b.name for b in proj.layout.blocks] == ["a", "b", "c"]
    assert abs(proj.layout.dim - 500) <= 3
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1000, generator=gen)
    # Same seed, same projection; the norm is preserved in expectation.
    assert torch.equal(proj(x[None])[0], RandomProjection(layout, 500, seed=3)(x[None])[0])
    ratio = float(proj(x[None]).norm() / x.norm())
    assert 0.8 < ratio < 1.2


def test_query_gradients_at_all_checkpoints_in_one_pass(attributor):
    target = attributor.target("What is the capital of Dratanane?", "Shaloa.")
    together = attributor.query_gradients(target)
    for ckpt, got in zip(attributor.loaded.checkpoints, together):
        alone = attributor.computer.query_gradient(ckpt.lora_weights, target.input_ids, target.weights)
        torch.testing.assert_close(got, alone, rtol=1e-4, atol=1e-6)
