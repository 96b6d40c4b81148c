"""How gradients are stored: full precision while the store is small, smaller when it is not.

A query reads every stored gradient once per checkpoint, and on a CPU that read
is bound by memory bandwidth (~15-19 GB/s on the 2-core machine Lens was measured
on): its latency is the store's size.  ``projection="auto"`` and
``store_dtype="auto"`` (the defaults) keep each query's read under a budget
(:data:`CPU_QUERY_BUDGET`, 256 MiB for all checkpoints together, ~15-25 ms)
by taking the first of these that fits:

1. float32, every LoRA value (exact; the demo's 32 rows: 31 MB)
2. int8 with per-row scales, every LoRA value (scores within ~0.6% of the
   largest; 4x smaller)
3. int8, randomly projected to the largest power of two that fits (scores
   approximate more as the dimension drops; never below :data:`MIN_PROJECTION`)

Powers of two change only when the training set doubles, and a store built by
an earlier plan is kept while it stays within 1.25x of the budget and is not
wastefully small, so adding a few rows never recomputes every gradient.  The
plan and its reason are in the store's header and in every result; an explicit
``projection`` or ``store_dtype`` is never overridden.  On a GPU the budget is
:data:`GPU_QUERY_BUDGET` and int8 is not used (the kernel is the CPU's).
"""

from __future__ import annotations

from dataclasses import dataclass

MiB = 1 << 20
CPU_QUERY_BUDGET = 256 * MiB
GPU_QUERY_BUDGET = 4096 * MiB
MIN_PROJECTION = 1024
KEEP_ABOVE = 1.25  # an earlier plan is kept while its read stays under this x the budget ...
KEEP_BELOW = 0.25  # ... and above this x the budget (else a better plan fits: rebuild)
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2, "int8": 1}
AUTO = "auto"


@dataclass(frozen=True)
class StorePlan:
    """The resolved dtype and projection of a gradient store, and why."""

    dtype: str
    projection: int | None  # None: every LoRA value
    full_dim: int
    requested_dtype: str
    requested_projection: "int | str | None"
    budget: int
    reason: str

    @property
    def dim(self) -> int:
        return self.projection or self.full_dim

    @property
    def exact(self) -> bool:
        return self.dtype == "float32" and self.projection is None

    @property
    def auto(self) -> bool:
        return AUTO in (self.requested_dtype, self.requested_projection)

    def query_bytes(self, n: int, checkpoints: int) -> int:
        return query_bytes(n, checkpoints, self.dim, self.dtype)

    def request_key(self) -> dict:
        """What the user asked for (the default store path depends on this, not on the outcome)."""
        return {"dtype": self.requested_dtype, "projection": self.requested_projection}

    def describe(self) -> str:
        if self.exact:
            return "float32 gradients, all values"
        dims = f"projected from {self.full_dim:,} to {self.dim:,} values" if self.projection else f"all {self.full_dim:,} values"
        return f"{self.dtype} gradients, {dims}"


def query_bytes(n: int, checkpoints: int, dim: int, dtype: str) -> int:
    """Bytes one query reads: every row at every checkpoint."""
    return int(n) * int(checkpoints) * int(dim) * BYTES[dtype]


def parse_projection(value) -> "int | str | None":
    """``"auto"``, ``None`` / ``"none"`` / ``0`` (every value) or a positive dimension."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if text == AUTO:
            return AUTO
        if text in ("", "none", "full", "0"):
            return None
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"projection must be 'auto', 'none' or a whole number, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"projection must be 'auto', 'none' or a positive whole number, not {value!r}")
    return value or None


def _powers_below(dim: int) -> list[int]:
    out, p = [], 1
    while p * 2 < dim:
        p *= 2
    while p >= MIN_PROJECTION:
        out.append(p)
        p //= 2
    return out


def plan_store(
    n: int,
    checkpoints: int,
    full_dim: int,
    dtype: str = AUTO,
    projection="auto",
    budget: int | None = None,
    int8: bool = True,
    previous: dict | None = None,
) -> StorePlan:
    """Choose the store's dtype and projection for ``n`` rows (see the module doc).

    ``int8``: whether int8 may be chosen (the CPU kernel exists and the queries run on a CPU).
    ``previous``: the ``plan`` entry of the existing store's header, kept if still good enough.
    """
    projection = parse_projection(projection)
    if dtype != AUTO and dtype not in BYTES:
        raise ValueError(f"store dtype must be auto, {', '.join(BYTES)}, not {dtype!r}")
    budget = int(budget if budget is not None else CPU_QUERY_BUDGET)
    explicit_dim = None if projection in (None, AUTO) or projection >= full_dim else projection

    def plan(d: str, p: int | None, reason: str) -> StorePlan:
        return StorePlan(d, p, full_dim, dtype, projection, budget, reason)

    if dtype != AUTO and projection != AUTO:
        return plan(dtype, explicit_dim, "as requested")

    fresh = _choose(n, checkpoints, full_dim, dtype, projection, explicit_dim, budget, int8, plan)
    if previous and previous.get("requested") == {"dtype": dtype, "projection": projection}:
        d, p = previous.get("dtype"), previous.get("projection")
        usable = (
            d in BYTES and (d != "int8" or int8) and (dtype == AUTO or d == dtype)
            and (p == explicit_dim if projection != AUTO else (p is None or (isinstance(p, int) and MIN_PROJECTION <= p < full_dim)))
        )
        if usable and (d, p) != (fresh.dtype, fresh.projection):
            read = query_bytes(n, checkpoints, p or full_dim, d)
            if KEEP_BELOW * budget <= read <= KEEP_ABOVE * budget:
                return plan(d, p, f"kept from the existing store: {d} gradients of {p or full_dim:,} values read "
                                  f"{_mb(read)} per query (budget {_mb(budget)}; rebuilt beyond x{KEEP_ABOVE:g} or below x{KEEP_BELOW:g})")
    return fresh


def _choose(n, checkpoints, full_dim, dtype, projection, explicit_dim, budget, int8, plan) -> StorePlan:
    dtypes = [dtype] if dtype != AUTO else (["float32", "int8"] if int8 else ["float32"])
    dims: list[int | None] = [explicit_dim] if projection != AUTO else [None, *_powers_below(full_dim)]
    candidates = [(d, p) for p in dims for d in dtypes]
    if projection == AUTO and dtype == AUTO and int8:
        # Below full dimension only int8 is worth it: 4x the dimensions of float32 for the same bytes.
        candidates = [(d, p) for d, p in candidates if p is None or d == "int8"]
    for d, p in candidates:
        read = query_bytes(n, checkpoints, p or full_dim, d)
        if read <= budget:
            if (d, p) == candidates[0]:
                return plan(d, p, f"{_mb(read)} per query fits the {_mb(budget)} budget")
            return plan(d, p, f"{n:,} rows x {checkpoints} checkpoints: {d} gradients of {p or full_dim:,} values "
                              f"read {_mb(read)} per query, the largest that fits the {_mb(budget)} budget")
    d, p = candidates[-1]
    read = query_bytes(n, checkpoints, p or full_dim, d)
    return plan(d, p, f"{n:,} rows x {checkpoints} checkpoints: even the smallest store ({_mb(read)} per query) "
                      f"exceeds the {_mb(budget)} budget")


def _mb(nbytes: int) -> str:
    return f"{nbytes / MiB:,.0f} MiB" if nbytes >= 10 * MiB else f"{nbytes / MiB:.1f} MiB"
