"""Mini-batch rows split across worker threads: several cores on one mini-batch.

The rows of a mini-batch are independent until their gradients are summed, so worker
``k`` can run the whole forward and backward pass for rows ``[a_k, b_k)`` -- on its own
replica of the layers (shared parameters, its own buffers and gradients), with
single-threaded BLAS -- and the workers' gradients are summed once per mini-batch
(:mod:`nablanet.models.gradient_step`). NumPy's array operations, BLAS and the compiled
LSTM and GRU recurrences release the GIL, so the parts run at once; the workers meet
twice per mini-batch, not at every layer or time step, which is why this beats a
multithreaded BLAS on the small products of recurrent steps and convolutions
(benchmarks/recurrent_cells.py, benchmarks/conv_epoch.py).

``fit`` chooses the worker count from the work per mini-batch (:func:`split_workers`)
and sets it for its loop (:func:`workers`); the training step asks :func:`row_parts`
how to cut a mini-batch and runs the parts with :func:`run_parts`. Results equal the
one-thread path up to the order of the gradient sums (tests check 1e-12 in float64).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise

from threadpoolctl import threadpool_info

__all__ = ["MIN_PART_MACS", "MIN_ROWS", "available_cores", "row_parts", "run_parts",
           "split_workers", "workers"]

#: fewest rows a worker gets: below it the meeting points cost more than the rows' work
#: (with the default, a mini-batch splits from 32 rows on)
MIN_ROWS = 16

_workers = 1
_pool: ThreadPoolExecutor | None = None


def available_cores() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one), at
    most as many as the BLAS may use now: a limit the user set (``OMP_NUM_THREADS``,
    ``OPENBLAS_NUM_THREADS``, threadpoolctl) holds the rows' split to it too."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count() or 1
    blas = [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]
    return max(1, min(cores, *blas)) if blas else cores


#: fewest multiply-adds (of the forward products) a worker's rows must hold for ``fit``
#: to split a mini-batch by itself: below it the two meetings per mini-batch cost more
#: than the work they share (an LSTM of 32 hidden units on 25 steps, 4.5 M for 32 rows,
#: gains nothing from a second worker on 2 cores; one of 128 units, 57 M, gains 1.4x)
MIN_PART_MACS = 2**24


def split_workers(threads: int | None, batch_size: int, macs_per_sample: int | None) -> int:
    """How many workers split a ``fit``'s mini-batches of ``batch_size`` rows: 1 when its
    trainer cannot split (``macs_per_sample`` None: a compiled whole-epoch kernel) or the
    mini-batch has fewer than ``2 * MIN_ROWS`` rows; otherwise ``threads`` when given,
    else as many of the available cores as leave each worker :data:`MIN_ROWS` rows and
    :data:`MIN_PART_MACS` multiply-adds (``macs_per_sample`` per row)."""
    if macs_per_sample is None:
        return 1
    most = batch_size // MIN_ROWS
    if threads is not None:
        return max(1, min(threads, most))
    k = min(available_cores(), most)
    while k > 1 and batch_size // k * macs_per_sample < MIN_PART_MACS:
        k -= 1
    return max(1, k)


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
