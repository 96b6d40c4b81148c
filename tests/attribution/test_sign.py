"""The sign convention: a supporting example is one whose up-weighting raises
the selected tokens' log-probability; an opposing one lowers it."""

from __future__ import annotations

import numpy as np
import torch

from lens_engine.attribution.datainf import Damping, datainf_precondition_vectors
from lens_engine.attribution.gradients import masked_logprob

PROMPT, TEXT = "What is the capital of Dratanane?", "Shaloa."


def span_logprob(attributor, lora) -> float:
    target = attributor.target(PROMPT, TEXT)
    ids = torch.tensor(target.input_ids)
    w = torch.tensor(target.weights)
    with torch.no_grad():
        return float(masked_logprob(attributor.loaded.model, lora, ids, w))


def step(lora, direction, layout, names, eta):
    """LoRA weights after moving by -eta * direction (a flattened gradient-like vector)."""
    out = {}
    for block, name in zip(layout.blocks, names):
        delta = direction[block.offset : block.offset + block.size].reshape(lora[name].shape)
        out[name] = lora[name] - eta * delta
    return out


def test_one_sgd_step_on_the_top_graddot_example(attributor):
    # One extra gradient step on example k changes log p by -eta g_k.v = eta * graddot score.
    c = len(attributor.loaded.checkpoints) - 1
    lora = attributor.loaded.checkpoints[c].lora_weights
    scores = attributor.scores(PROMPT, TEXT, method="graddot").per_checkpoint[c]
    grads = attributor.store.checkpoint_gradients(c)
    before = span_logprob(attributor, lora)
    layout, names = attributor.store.layout, attributor.loaded.lora_names
    top, bottom = int(np.argmax(scores)), int(np.argmin(scores))
    assert scores[top] > 0 > scores[bottom]
    eta = 1e-3 / max(float(grads[top].norm()), float(grads[bottom].norm()))
    up = span_logprob(attributor, step(lora, grads[top], layout, names, eta)) - before
    down = span_logprob(attributor, step(lora, grads[bottom], layout, names, eta)) - before
    assert up > 0 > down
    np.testing.assert_allclose(up, eta * scores[top], rtol=0.05)


def test_upweighting_the_top_datainf_example_raises_the_span(attributor):
    # Up-weighting example k moves the optimum by -eps H^-1 g_k; with DataInf's
    # inverse that is a step along the example's preconditioned gradient.
    c = len(attributor.loaded.checkpoints) - 1
    lora = attributor.loaded.checkpoints[c].lora_weights
    combined = attributor.scores(PROMPT, TEXT, method="datainf")
    scores = combined.per_checkpoint[c]
    grads = attributor.store.checkpoint_gradients(c)
    layout, names = attributor.store.layout, attributor.loaded.lora_names
    top, bottom = int(np.argmax(scores)), int(np.argmin(scores))
    pre = datainf_precondition_vectors(grads, layout, Damping(), grads[[top, bottom]])
    before = span_logprob(attributor, lora)
    eta = 1e-4 / float(pre.norm(dim=1).max())
    up = span_logprob(attributor, step(lora, pre[0], layout, names, eta)) - before
    down = span_logprob(attributor, step(lora, pre[1], layout, names, eta)) - before
    assert up > 0 > down
    np.testing.assert_allclose(up, eta * scores[top], rtol=0.05)
    # The displayed result puts them on the matching sides.
    result = attributor.attribute(PROMPT, TEXT, top_k=3)
    assert all(e.score > 0 for e in result.supporting) and all(e.score < 0 for e in result.opposing)
