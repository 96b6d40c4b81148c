"""Scores of training examples against a query gradient: DataInf and baselines.

Conventions (everywhere in Lens):

* ``grads`` is an (n, D) matrix of training-loss gradients g_i (loss = mean
  cross-entropy of example i), split into per-LoRA-tensor blocks by a
  :class:`~lens_engine.attribution.gradients.GradientLayout`.
* ``query`` is the gradient v of the *log-probability* of the selected tokens.
* A score is positive when up-weighting the example raises the selected
  tokens' log-probability (a *supporting* example) and negative when it lowers
  it (*opposing*).  Up-weighting example k moves the weights by
  -eps * H^-1 g_k, so the first-order change of log p is -eps * v . H^-1 g_k:
  every score below is ``-(preconditioned g_k) . v``.

DataInf (Kwon et al., ICLR 2024) replaces each block's inverse damped Fisher
(G_l^T G_l / n + lambda_l I)^-1 by the average of the rank-one inverses, which
has a closed form (Sherman-Morrison):

    c_il = (v_l . g_il) / (lambda_l + |g_il|^2)
    r_l  = 1 / (n lambda_l) * sum_i (v_l - c_il g_il)
    score_k = -sum_l r_l . g_kl

All of it is matrix products over the store; nothing loops over examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .gradients import GradientLayout

METHODS = ("datainf", "graddot", "gradcos", "bm25", "exact")
GRADIENT_METHODS = ("datainf", "graddot", "gradcos")


@dataclass(frozen=True)
class Damping:
    """How DataInf's damping lambda_l is chosen for each LoRA tensor l.

    ``"norm"`` (the default): lambda_l = scale * mean_i |g_il|^2.
    ``"paper"``: lambda_l = scale * mean_i |g_il|^2 / d_l, as in the DataInf paper.
    A number: the same fixed lambda for every tensor.

    On the demo model the "norm" damping ranked examples far closer to the exact
    damped inverse than the paper's (see docs/attribution.md for the figures).
    """

    kind: str = "norm"
    scale: float = 0.1
    value: float | None = None

    @staticmethod
    def parse(spec: "str | float | Damping | None") -> "Damping":
        if spec is None:
            return Damping()
        if isinstance(spec, Damping):
            return spec
        if isinstance(spec, (int, float)):
            return Damping("fixed", value=float(spec))
        text = str(spec).strip().lower()
        if text in ("norm", "paper"):
            return Damping(text)
        try:
            return Damping("fixed", value=float(text))
        except ValueError:
            raise ValueError(f"damping must be 'norm', 'paper' or a number, not {spec!r}") from None

    def key(self) -> str:
        return f"{self.kind}-{self.scale:g}" if self.kind != "fixed" else f"fixed-{self.value:g}"


def block_sq_norms(grads: torch.Tensor, layout: GradientLayout) -> torch.Tensor:
    """(n, L): squared norm of each example's gradient in each LoRA tensor."""
    return torch.stack([grads[:, b.offset : b.offset + b.size].float().pow(2).sum(1) for b in layout.blocks], dim=1)


def block_dampings(sq_norms: torch.Tensor, layout: GradientLayout, damping: Damping) -> torch.Tensor:
    """(L,) lambda_l for each LoRA tensor."""
    if damping.kind == "fixed":
        return torch.full((len(layout.blocks),), float(damping.value), dtype=torch.float64)
    mean = sq_norms.double().mean(0)
    if damping.kind == "paper":
        sizes = torch.tensor([b.size for b in layout.blocks], dtype=torch.float64)
        lam = damping.scale * mean / sizes
    else:
        lam = damping.scale * mean
    # A tensor whose gradients are all zero (e.g. an unused layer) needs some
    # damping to keep 1/lambda finite; its scores are zero anyway.
    return lam.clamp(min=1e-30)


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t if t.dtype == torch.float32 else t.float()


def datainf_scores(grads: torch.Tensor, query: torch.Tensor, layout: GradientLayout, damping: Damping) -> torch.Tensor:
    """DataInf scores of all n examples, straight from the formula.

    ``query`` is one gradient (D,) or a batch of them as columns (D, Q); the
    result is (n,) or (n, Q).  Three matrix products per LoRA tensor; use
    :func:`datainf_preconditioned` when many queries hit the same store.
    """
    grads, query = _f32(grads), _f32(query)
    single = query.dim() == 1
    v_all = query[:, None] if single else query
    n = grads.shape[0]
    sq = block_sq_norms(grads, layout).double()
    lam = block_dampings(sq, layout, damping).to(grads.device)
    scores = torch.zeros(n, v_all.shape[1], dtype=torch.float64, device=grads.device)
    for l, b in enumerate(layout.blocks):
        g = grads[:, b.offset : b.offset + b.size]
        v = v_all[b.offset : b.offset + b.size]
        lam_l = float(lam[l])
        c = (g @ v).double() / (lam_l + sq[:, l : l + 1])  # c_il, one column per query
        r = (v.double() - (g.t() @ c.float()).double() / n) / lam_l  # r_l = (1/(n lam)) sum_i (v - c_il g_il)
        scores -= (g @ r.float()).double()
    return scores[:, 0] if single else scores


def _layer_terms(grads: torch.Tensor, layout: GradientLayout, damping: Damping):
    """Per LoRA tensor: its block, the examples' gradients G_l, the Sherman–Morrison
    weights w_i = 1 / (n (λ_l + ‖g_il‖²)) and λ_l — what every DataInf form needs."""
    n = grads.shape[0]
    sq = block_sq_norms(grads, layout)
    lam = block_dampings(sq, layout, damping).to(grads.device)
    for l, b in enumerate(layout.blocks):
        g = grads[:, b.offset : b.offset + b.size]
        w = (1.0 / (n * (lam[l] + sq[:, l].double()))).float()
        yield b, g, w, float(lam[l])


def datainf_preconditioned(grads: torch.Tensor, layout: GradientLayout, damping: Damping, chunk: int = 4096) -> torch.Tensor:
    """(n, D) matrix P with DataInf score = -P @ v for any query v.

    P_l = G_l A_l with A_l = (1/lambda_l) (I - G_l^T diag(w) G_l),
    w_i = 1 / (n (lambda_l + |g_il|^2)): the same formula as
    :func:`datainf_scores`, reassociated so that a query costs one pass over
    the store instead of three.  Uses the n x n Gram matrix or the d_l x d_l
    one, whichever is smaller.
    """
    grads = _f32(grads)
    n = grads.shape[0]
    out = torch.empty_like(grads)
    for b, g, w, lam_l in _layer_terms(grads, layout, damping):
        if n <= b.size:
            gram = g @ g.t()  # (n, n)
            out[:, b.offset : b.offset + b.size] = (g - (gram * w) @ g) / lam_l
        else:
            inner = g.t() @ (g * w[:, None])  # (d_l, d_l) = G^T diag(w) G
            for s in range(0, n, chunk):
                part = g[s : s + chunk]
                out[s : s + chunk, b.offset : b.offset + b.size] = (part - part @ inner) / lam_l
    return out


def datainf_precondition_vectors(
    grads: torch.Tensor, layout: GradientLayout, damping: Damping, vectors: torch.Tensor
) -> torch.Tensor:
    """(m, D): A_l x for a few vectors x (rows of ``vectors``), e.g. the top
    examples' gradients for token-level attribution; two passes over the store."""
    grads, vectors = _f32(grads), _f32(vectors)
    out = torch.empty_like(vectors)
    for b, g, w, lam_l in _layer_terms(grads, layout, damping):
        x = vectors[:, b.offset : b.offset + b.size]
        out[:, b.offset : b.offset + b.size] = (x - ((x @ g.t()) * w) @ g) / lam_l
    return out


def exact_damped_scores(grads: torch.Tensor, query: torch.Tensor, layout: GradientLayout, damping: Damping) -> torch.Tensor:
    """Influence with the exact block inverse (G_l^T G_l / n + lambda_l I)^-1: what DataInf approximates.

    Solved in float64, through the n x n Woodbury form when n < d_l
    ((lambda I + G^T G / n)^-1 v = (v - G^T (n lambda I + G G^T)^-1 G v) / lambda),
    else directly.  For tests and benchmarks on small models.
    """
    grads, query = grads.double(), query.double()
    n = grads.shape[0]
    sq = block_sq_norms(grads, layout)
    lam = block_dampings(sq, layout, damping)
    scores = torch.zeros(n, dtype=torch.float64, device=grads.device)
    for l, b in enumerate(layout.blocks):
        g = grads[:, b.offset : b.offset + b.size]
        v = query[b.offset : b.offset + b.size]
        lam_l = float(lam[l])
        if n < b.size:
            small = n * lam_l * torch.eye(n, dtype=torch.float64, device=g.device) + g @ g.t()
            r = (v - g.t() @ torch.linalg.solve(small, g @ v)) / lam_l
        else:
            fisher = g.t() @ g / n + lam_l * torch.eye(b.size, dtype=torch.float64, device=g.device)
            r = torch.linalg.solve(fisher, v)
        scores -= g @ r
    return scores


def graddot_scores(grads: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    """-g_k . v: the first-order change of log p after one SGD step on example k.
    ``query`` is (D,) or (D, Q); a bf16 store is multiplied in bf16 (no copy)."""
    return -(grads @ query.to(grads.dtype)).double()


def gradcos_scores(grads: torch.Tensor, query: torch.Tensor) -> torch.Tensor:
    norms = grads.float().norm(dim=1).double().clamp(min=1e-30)
    qnorm = query.float().norm(dim=0).double().clamp(min=1e-30)
    dots = graddot_scores(grads, query)
    return dots / (norms[:, None] if dots.dim() == 2 else norms) / qnorm


def self_influence(grads: torch.Tensor, layout: GradientLayout, damping: Damping | None) -> torch.Tensor:
    """g_k . H^-1 g_k (DataInf) or |g_k|^2 (damping None): large for examples the
    rest of the data does not explain, such as mislabelled ones."""
    grads = _f32(grads)
    if damping is None:
        return grads.pow(2).sum(1).double()
    return (datainf_preconditioned(grads, layout, damping) * grads).sum(1).double()


# ---------------------------------------------------------------------------
# Combining checkpoints


@dataclass
class CombinedScores:
    scores: np.ndarray  # (n,) combined over checkpoints
    per_checkpoint: np.ndarray  # (C, n)
    sign_agreement: np.ndarray  # (n,) share of checkpoints whose sign matches the combined score
    rank_spread: np.ndarray  # (n,) max - min rank of the example across checkpoints (0 = stable)


def combine_checkpoints(per_checkpoint: np.ndarray, how: str = "mean") -> CombinedScores:
    per_checkpoint = np.asarray(per_checkpoint, dtype=np.float64)
    if how == "mean":
        combined = per_checkpoint.mean(0)
    elif how == "median":
        combined = np.median(per_checkpoint, axis=0)
    else:
        raise ValueError(f"combine must be 'mean' or 'median', not {how!r}")
    signs = np.sign(per_checkpoint) == np.sign(combined)[None, :]
    # Rank 0 = most supporting at that checkpoint.
    ranks = np.argsort(np.argsort(-per_checkpoint, axis=1), axis=1)
    return CombinedScores(combined, per_checkpoint, signs.mean(0), ranks.max(0) - ranks.min(0))
