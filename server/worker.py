"""Heavy work off the event loop: one background thread, models warm in this process.

Each document has at most one analysis in flight; a newer one cancels it.  The
engine checks ``should_stop`` between stages and every batch of rows (tens of
milliseconds), so a cancelled analysis stops promptly.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from lens_engine.errors import AnalysisCancelled


class Job:
    def __init__(self, key: str, measured: bool = True):
        self.key = key
        self.measured = measured  # its cancel latency is the one lens/stats reports (analyses)
        self.cancelled = threading.Event()
        self.cancelled_at: float | None = None
        self.stopped_at: float | None = None

    def cancel(self) -> None:
        if not self.cancelled.is_set():
            self.cancelled_at = time.perf_counter()
            self.cancelled.set()

    def should_stop(self) -> bool:
        return self.cancelled.is_set()


class Worker:
    def __init__(self) -> None:
        # One thread: analyses share the warm models and would only compete for 2 cores.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lens-worker")
        # Clusters take seconds; on their own thread they never hold up the start of a
        # fresh edit's analysis (and an edit cancels them between steps).
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lens-clusters")
        self.jobs: dict[str, Job] = {}
        self.last_cancel_latency: float | None = None

    def analysing(self) -> bool:
        """Whether an analysis (not background work) is in flight."""
        return any(job.measured for job in self.jobs.values())

    def cancel(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is not None:
            job.cancel()

    async def run(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``fn(*args, should_stop=..., **kwargs)`` in the worker thread.

        Returns None when the job was cancelled (by a newer job for the same key,
        by :meth:`cancel`, or by the request being cancelled)."""
        return await self._run(self.executor, key, fn, *args, **kwargs)

    async def run_background(self, key: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """:meth:`run` on the clusters' thread: for slow work that can stop between steps."""
        return await self._run(self.background, key, fn, *args, **kwargs)

    async def _run(self, executor: ThreadPoolExecutor, key: str, fn: Callable[..., Any], *args: Any,
                   **kwargs: Any) -> Any:
        self.cancel(key)
        job = Job(key, measured=executor is self.executor)
        self.jobs[key] = job
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(executor, partial(self._call, job, fn, *args, **kwargs))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            job.cancel()
            raise
        finally:
            if self.jobs.get(key) is job:
                del self.jobs[key]

    def _call(self, job: Job, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            if job.should_stop():
                return None
            return fn(*args, should_stop=job.should_stop, **kwargs)
        except (AnalysisCancelled, InterruptedError):
            return None
        finally:
            job.stopped_at = time.perf_counter()
            if job.cancelled_at is not None and job.measured:
                self.last_cancel_latency = job.stopped_at - job.cancelled_at

    async def run_plain(self, fn: Callable[..., Any], *args: Any, background: bool = False) -> Any:
        """Run a function that takes no cancellation flag (model loading, first scores)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.background if background else self.executor, partial(fn, *args))

    def shutdown(self) -> None:
        for job in list(self.jobs.values()):
            job.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.background.shutdown(wait=False, cancel_futures=True)
