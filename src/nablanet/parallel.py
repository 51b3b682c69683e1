"""Mini-batch rows split across worker threads: several cores on one mini-batch.

The rows of a mini-batch are independent until their gradients are summed, so a layer
whose work releases the GIL (the compiled LSTM and GRU recurrences, :mod:`nablanet.kernels`)
can run rows ``[a_k, b_k)`` on worker ``k`` -- each with its own contiguous buffers and
single-threaded BLAS -- and sum the workers' gradients once per mini-batch. A recurrence
splits for its whole length: the workers meet twice per mini-batch (after the forward
pass and after BPTT), not at every time step, which is why this beats a multithreaded
BLAS on the small per-step products (benchmarks/recurrent_cells.py).

``fit`` chooses the worker count (:func:`split_workers`) and sets it for its loop
(:func:`workers`); layers ask :func:`row_parts` how to cut a mini-batch and run the parts
with :func:`run_parts`. Results equal the one-thread path up to the order of the
gradient sums (tests check 1e-12 in float64).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise

__all__ = ["AUTO_SPLIT", "MIN_ROWS", "available_cores", "row_parts", "run_parts", "split_workers",
           "workers"]

#: fewest rows a worker gets: below it the meeting points cost more than the rows' work
#: (with the default, a mini-batch splits from 32 rows on)
MIN_ROWS = 16

_workers = 1
_pool: ThreadPoolExecutor | None = None


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: whether ``fit`` splits rows without ``threads=``: not yet. The NumPy/SciPy OpenBLAS
#: builds (0.3.30) serialize calls made from two threads once their thread count is set
#: at run time (threadpoolctl), so the workers' per-step products ran one after the
#: other and two workers were 7-15% slower than one on 2 cores (measured 2026-12-05)
AUTO_SPLIT = False


def split_workers(threads: int | None, batch_size: int, splittable: bool) -> int:
    """How many workers split a ``fit``'s mini-batches: 1 when the model has no layer
    that can split (``splittable`` False) or the mini-batch has fewer than ``2 *
    MIN_ROWS`` rows; otherwise ``threads`` when given, else (with :data:`AUTO_SPLIT`)
    every available core, at most one worker per :data:`MIN_ROWS` rows."""
    if not splittable:
        return 1
    if threads is None:
        threads = available_cores() if AUTO_SPLIT else 1
    return max(1, min(threads, batch_size // MIN_ROWS))


@contextmanager
def workers(n: int) -> Iterator[None]:
    """Split mini-batch rows across ``n`` workers (1: no split) inside the block."""
    global _workers
    old, _workers = _workers, max(1, int(n))
    try:
        yield
    finally:
        _workers = old


def row_parts(m: int) -> list[tuple[int, int]]:
    """The row ranges ``[(a, b), ...]`` of an ``m``-row mini-batch, one per worker of
    the current :func:`workers` block (near-equal, at least :data:`MIN_ROWS` rows
    each); ``[(0, m)]`` when it does not split."""
    k = min(_workers, m // MIN_ROWS)
    if k <= 1:
        return [(0, m)]
    cuts = [m * i // k for i in range(k + 1)]
    return list(pairwise(cuts))


def run_parts(fn: Callable[[int], None], n_parts: int) -> None:
    """``fn(k)`` for ``k`` in ``range(n_parts)``: part 0 in the calling thread, the others
    on the shared worker pool; returns when all are done and re-raises the first error."""
    global _pool
    if n_parts == 1:
        fn(0)
        return
    if _pool is None or _pool._max_workers < n_parts - 1:  # grown once per larger split
        _pool = ThreadPoolExecutor(max_workers=n_parts - 1, thread_name_prefix="nablanet")
    futures = [_pool.submit(fn, k) for k in range(1, n_parts)]
    try:
        fn(0)
    finally:
        errors = [f.exception() for f in futures]
    for error in errors:
        if error is not None:
            raise error
