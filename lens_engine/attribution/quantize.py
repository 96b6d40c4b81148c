"""int8 gradients and the matrices a query multiplies.

A query over the store is one matrix-vector product per checkpoint, and on a CPU
that product is bound by memory bandwidth: its time is the bytes it reads.  int8
rows read a quarter of fp32's bytes, and torch has a CPU kernel that multiplies
int8 rows with one scale each by a bf16 vector without expanding them
(``aten::_weight_int8pack_mm``, written for int8 weight-only LLM inference).
Measured on a 2-core AVX-512 CPU over 10,000 x 81,920 values: 53 ms against
195 ms for fp32 (bf16 rows: ~390 ms, there is no fast bf16 kernel).

Two quantisations, both symmetric absmax:

* **In the store file**: one scale per row *and LoRA tensor*.  The DataInf
  preconditioning divides each tensor's block by its own damping, so a block of
  small gradients matters as much as a block of large ones; one scale per row
  would round the small blocks to zero.  This form is for storage and for
  computing the preconditioning, not for the kernel.
* **For the kernel** (:class:`Int8Matrix`): one scale per row, after every
  column of a LoRA tensor's block has been multiplied by one scale that brings
  the block's RMS to 1; the query is divided by the same column scales, so the
  product is unchanged.  On the demo store this took DataInf's largest score
  error from 8.7% to 0.6% of the largest score (per-row scales alone).

The kernel's output is bf16 (8 bits of mantissa, 0.4% steps), about the size
of the int8 rounding above.  So the matrix also keeps the int8 *residual* of
every row (what the first int8 rounding lost, quantised again), and after the
kernel has scored every row, the :data:`REFINE` highest and lowest of each query
(16 when rows hold more than 32k values) are scored again in float32 from both (two int8 roundings: ~1e-4 of the largest
score instead of ~2e-3, measured on the demo), so the shown examples' order is
not decided by rounding.  The residual doubles the memory, not the time of the
kernel's pass.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from ..threads import one_torch_thread
from .gradients import GradientLayout

PAD = 64  # the kernel needs the inner dimension to be a multiple of 16 (it crashes otherwise)
CHUNK_ROWS = 2048
REFINE = 32  # rows at each end of each query's scores rescored in float32 ...
REFINE_VALUES = 1 << 20  # ... fewer (down to 16) when they would hold more values than this


@functools.lru_cache(maxsize=None)
def int8_kernel_available() -> bool:
    """Whether this torch has the CPU int8-row x bf16 kernel (and it gives the right answer)."""
    op = getattr(getattr(torch.ops, "aten", None), "_weight_int8pack_mm", None)
    if op is None:
        return False
    try:
        q = torch.arange(-64, 64, dtype=torch.int8).reshape(2, 64)
        scales = torch.tensor([1.0, 0.5], dtype=torch.bfloat16)
        x = torch.ones(1, 64, dtype=torch.bfloat16)
        out = op(x, q, scales).float()
        expected = (q.float() * scales.float()[:, None]).sum(1)
        return bool(torch.allclose(out[0], expected, rtol=1e-2))
    except (RuntimeError, NotImplementedError):
        return False


# ---------------------------------------------------------------------------
# Storage form: one scale per row and LoRA tensor


def quantize_blocks(rows: torch.Tensor, layout: GradientLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, D) float rows -> (B, D) int8 and (B, L) float32 scales (absmax per row and tensor)."""
    rows = rows.detach().float().cpu()
    q = torch.empty(rows.shape, dtype=torch.int8)
    scales = torch.empty(rows.shape[0], len(layout.blocks), dtype=torch.float32)
    for l, b in enumerate(layout.blocks):
        part = rows[:, b.offset : b.offset + b.size]
        s = part.abs().amax(1) / 127.0
        s = torch.where(s > 0, s, torch.ones_like(s))
        q[:, b.offset : b.offset + b.size] = torch.round(part / s[:, None]).clamp_(-127, 127).to(torch.int8)
        scales[:, l] = s
    return q, scales


def dequantize_blocks(q: np.ndarray | torch.Tensor, scales: np.ndarray | torch.Tensor, layout: GradientLayout) -> torch.Tensor:
    """The inverse of :func:`quantize_blocks`: (B, D) float32."""
    q = torch.as_tensor(np.asarray(q)) if not isinstance(q, torch.Tensor) else q
    scales = torch.as_tensor(np.asarray(scales)) if not isinstance(scales, torch.Tensor) else scales
    out = q.to(torch.float32)
    for l, b in enumerate(layout.blocks):
        out[:, b.offset : b.offset + b.size] *= scales[:, l : l + 1]
    return out


# ---------------------------------------------------------------------------
# The matrices a query multiplies


def _absmax_scale(rows: torch.Tensor) -> torch.Tensor:
    """Per-row absmax / 127, with 1 for all-zero rows."""
    low, high = torch.aminmax(rows, dim=1)
    scale = torch.maximum(high, -low) / 127.0
    return torch.where(scale > 0, scale, torch.ones_like(scale))


class DenseMatrix:
    """A float matrix (fp32 or bf16, CPU or GPU) as it is."""

    def __init__(self, data: torch.Tensor):
        self.data = data

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def nbytes(self) -> int:
        return self.data.numel() * self.data.element_size()

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """(n,) for x (D,), (n, Q) for x (D, Q), in float64."""
        return (self.data @ x.to(self.data.device, self.data.dtype)).double()

    def rows(self, index) -> torch.Tensor:
        return self.data[index].float()


class Int8Matrix:
    """int8 rows with one bf16 scale each, columns pre-scaled per LoRA tensor, and
    optionally each row's int8 residual for rescoring the top rows (see the module doc)."""

    def __init__(
        self,
        q: torch.Tensor,
        row_scales: torch.Tensor,
        col_scales: torch.Tensor,
        dim: int,
        residual: torch.Tensor | None = None,
        residual_scales: torch.Tensor | None = None,
    ):
        self.q = q  # (n, padded D) int8, contiguous
        self.row_scales = row_scales  # (n,) bfloat16 (the kernel's dtype)
        self.col_scales = col_scales  # (D,) float32: stored column = true column * col_scale
        self.dim = dim
        self.residual = residual  # (n, D) int8: (scaled row - q * row_scale) / residual_scale
        self.residual_scales = residual_scales  # (n,) float32

    def __len__(self) -> int:
        return int(self.q.shape[0])

    @property
    def nbytes(self) -> int:
        extra = 0 if self.residual is None else self.residual.numel() + 4 * self.residual_scales.numel()
        return self.q.numel() + 2 * self.row_scales.numel() + 4 * self.col_scales.numel() + extra

    @staticmethod
    def from_float(matrix: torch.Tensor, layout: GradientLayout, chunk: int = CHUNK_ROWS, residual: bool = True) -> "Int8Matrix":
        """Quantise an (n, D) float matrix, a chunk of rows at a time."""
        n, dim = matrix.shape
        sq = torch.zeros(dim, dtype=torch.float64)
        for s in range(0, n, chunk):
            part = matrix[s : s + chunk].float()
            sq += (part * part).sum(0).double()
        col = torch.ones(dim, dtype=torch.float32)
        for b in layout.blocks:
            rms = float((sq[b.offset : b.offset + b.size].sum() / max(1, n * b.size)) ** 0.5)
            col[b.offset : b.offset + b.size] = 1.0 / rms if rms > 0 else 1.0
        padded = -(-dim // PAD) * PAD
        q = torch.zeros(n, padded, dtype=torch.int8)
        row = torch.empty(n, dtype=torch.float32)
        res = torch.zeros(n, dim, dtype=torch.int8) if residual else None
        res_scales = torch.ones(n, dtype=torch.float32) if residual else None
        for s in range(0, n, chunk):
            part = matrix[s : s + chunk].float() * col
            # The kernel reads the scale as bf16: round it first, so the residual is against what it uses.
            scale = _absmax_scale(part).to(torch.bfloat16).float()
            levels = (part * (1.0 / scale)[:, None]).round_().clamp_(-127, 127)
            q[s : s + chunk, :dim] = levels.to(torch.int8)
            row[s : s + chunk] = scale
            if residual:
                part.addcmul_(levels, scale[:, None], value=-1.0)  # what the first rounding lost
                r_scale = _absmax_scale(part)
                res[s : s + chunk] = part.mul_((1.0 / r_scale)[:, None]).round_().clamp_(-127, 127).to(torch.int8)
                res_scales[s : s + chunk] = r_scale
        return Int8Matrix(q, row.to(torch.bfloat16), col, dim, res, res_scales)

    def matvec(self, x: torch.Tensor, refine: int = REFINE) -> torch.Tensor:
        """(n,) for x (D,), (n, Q) for x (D, Q), in float64: every row by the kernel
        (bf16 x int8, fp32 sums), then the ``refine`` highest and lowest rows of
        each query again in float32 with their residuals."""
        single = x.dim() == 1
        cols = x.float().cpu().reshape(self.dim, -1) / self.col_scales[:, None]
        xs = torch.zeros(cols.shape[1], self.q.shape[1], dtype=torch.bfloat16)
        xs[:, : self.dim] = cols.t()
        if len(self) == 0:
            out = torch.zeros(0, cols.shape[1], dtype=torch.float64)
        else:
            out = torch.ops.aten._weight_int8pack_mm(xs, self.q, self.row_scales).t().double()
        if refine and self.residual is not None and len(self):
            k = min(refine, max(16, REFINE_VALUES // max(1, self.dim)), len(self))
            with one_torch_thread():  # small gathers: waking a second thread costs more than they do
                for j in range(out.shape[1]):
                    idx = torch.cat([out[:, j].topk(k).indices, (-out[:, j]).topk(k).indices]).unique()
                    out[idx, j] = self._refined(idx, cols[:, j])
        return out[:, 0] if single else out

    def _refined(self, idx: torch.Tensor, x: torch.Tensor, chunk: int = 8) -> torch.Tensor:
        """float64 scores of rows ``idx`` against x (columns already scaled): row + residual, in float32."""
        out = torch.empty(len(idx), dtype=torch.float64)
        for s in range(0, len(idx), chunk):  # a few rows at a time: their float copies stay in cache
            part = idx[s : s + chunk]
            q = self.q.index_select(0, part)[:, : self.dim].float()
            r = self.residual.index_select(0, part).float()
            out[s : s + chunk] = ((q @ x) * self.row_scales.index_select(0, part).float()
                                  + (r @ x) * self.residual_scales.index_select(0, part)).double()
        return out

    def _scaled_rows(self, index) -> torch.Tensor:
        """Rows as stored (columns still scaled), float32, with their residuals when kept."""
        index = torch.as_tensor(index, dtype=torch.long).reshape(-1) if not isinstance(index, slice) else index
        if isinstance(index, slice):
            q, rs = self.q[index, : self.dim], self.row_scales[index]
            res, rrs = (self.residual[index], self.residual_scales[index]) if self.residual is not None else (None, None)
        else:
            q, rs = self.q.index_select(0, index)[:, : self.dim], self.row_scales.index_select(0, index)
            res, rrs = (self.residual.index_select(0, index), self.residual_scales.index_select(0, index)) \
                if self.residual is not None else (None, None)
        rows = q.float() * rs.float()[:, None]
        if res is not None:
            rows += res.float() * rrs[:, None]
        return rows

    def rows(self, index) -> torch.Tensor:
        """Dequantised rows (float32)."""
        return self._scaled_rows(index) / self.col_scales
