"""Where chunks of a bulk import are validated: worker processes, or inline for small files.

Why processes: validating and encoding a row is pure Python (~50 µs), and the importing process
must meanwhile stream the previous chunks into PostgreSQL.  Worker processes validate the
next chunks while the database writes the last one, so the CPU-bound halves run side by side.
The pool is started on the first large import (``spawn``: a server process with threads and an
event loop must not be forked) and kept for the next ones.  Results come back in file order.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

from services.registry.service.imports_rows import ChunkOutput

_pool: ProcessPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _executor(workers: int) -> Executor:
    global _pool, _pool_size
    with _lock:
        # A pool whose process died (killed, out of memory) is broken for good: start a new one.
        if _pool is None or _pool_size != workers or getattr(_pool, "_broken", False):
            if _pool is not None:
                _pool.shutdown(wait=False, cancel_futures=True)
            _pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
            _pool_size = workers
        return _pool


def worker_pids() -> list[int]:
    """The worker processes' ids (benchmarks read their CPU time)."""
    with _lock:
        return list(_pool._processes) if _pool is not None and _pool._processes else []


def shutdown() -> None:
    """Stop the worker processes (service shutdown, tests)."""
    global _pool
    with _lock:
        if _pool is not None:
            _pool.shutdown(wait=True, cancel_futures=True)
            _pool = None


class ChunkRunner:
    """Submits chunks and hands back their outputs; ``workers`` = 0 validates inline."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.in_flight = workers + 1 if workers else 0  # keeps every worker busy while one result is landed

    def submit(self, work: Callable[..., ChunkOutput], *args: Any) -> asyncio.Future[ChunkOutput]:
        loop = asyncio.get_running_loop()
        if not self.workers:
            done: asyncio.Future[ChunkOutput] = loop.create_future()
            try:
                done.set_result(work(*args))
            except Exception as exc:  # raised where the result is awaited, as from a worker
                done.set_exception(exc)
            return done
        return loop.run_in_executor(_executor(self.workers), work, *args)
