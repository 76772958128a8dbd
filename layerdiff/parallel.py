"""Threads for the per-layer and per-band loops of the full-resolution painting.

NumPy ufuncs, ``np.take`` and SciPy's ndimage filters release the GIL while they work on arrays, so
independent layers or bands of rows run on several cores from plain threads (no copies, no processes).
Each call's result is the same as the serial loop's: every task writes only its own layer or band.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .errors import LayerdiffError

__all__ = ["worker_count", "parallel_map", "MAX_WORKERS", "ENV_THREADS"]

ENV_THREADS = "LAYERDIFF_THREADS"

MAX_WORKERS = 4
"""At most this many threads by default: the loops are memory-bound, more cores gain little."""

T = TypeVar("T")
R = TypeVar("R")


def worker_count() -> int:
    """Threads a loop may use: ``$LAYERDIFF_THREADS`` when set (a positive integer; 1 runs every loop
    serially), else the cores this process may run on, at most :data:`MAX_WORKERS`."""
    env = os.environ.get(ENV_THREADS, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise LayerdiffError(f"{ENV_THREADS} must be a positive integer, got {env!r}")
        return int(env)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_WORKERS, cores))


def parallel_map(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """``[fn(x) for x in items]``, run on up to ``workers`` threads (default :func:`worker_count`), in order.
    Serial where one thread or one item is all there is; the first exception raised by ``fn`` propagates."""
    items = list(items)
    count = min(worker_count() if workers is None else max(1, workers), len(items))
    if count <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="layerdiff") as pool:
        return list(pool.map(fn, items))
