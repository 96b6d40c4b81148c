"""How many threads torch may use for a piece of work.

Small pieces of work (one edited row to embed, a few gradients) run faster on one thread:
waking torch's second intra-op thread costs more than it saves, and on a 2-core machine
that thread competes with the compressions and the analysis running beside it (embedding
one row took 37 ms on two threads and 13 ms on one while a compression ran).

torch's OpenMP builds (its default wheels) keep the setting per thread, so the server's
dataset and attribution workers do not change each other's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` inside (None: leave them)."""
    if n is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def one_torch_thread(when: bool = True):
    """torch's intra-op threads limited to one inside (when ``when``)."""
    return torch_threads(1 if when else None)
