"""Seconds per epoch of nablanet's LSTM, GRU and vanilla RNN against ``torch.nn.LSTM``,
``torch.nn.GRU`` and ``torch.nn.RNN`` on CPU, trained as users train them: the whole
``fit`` call and its loop, each library at one thread and at its default, interleaved
in one process, medians and ratios (issue 22: at most 1.0x PyTorch where users wait).

Workload (issue 22): 2,048 synthetic sequences x 25 steps x 12 features (standard
normal, seeded), 6 classes (seeded labels) read from the last step: softmax
cross-entropy, Adam lr 0.001 for both, batch 1, 8 and 64 (below 64 every row times the
first ``--small-batch-sequences`` sequences and scales to the epoch), hidden 32 and
128, float64 and float32.

Rows, for each cell ``rnn``/``lstm``/``gru``, hidden ``h``, batch ``b``, dtype and thread
setting ``t1``/``tdef`` (``--threads``):

* ``nablanet-auto {cell} h{h} b{b} f64 t1`` -- ``LSTM(12, h, 6, output_activation=
  "softmax", loss="cross_entropy", target="last", optimizer=Adam(0.001)).fit(X, y,
  epochs=1, batch_size=b, threads=1)``: the call's wall clock and ``history["seconds"]``
  (the loop); ``tdef``: ``fit``'s own thread choice (rows split across every core where
  each part holds enough work, :func:`nablanet.parallel.split_workers`). ``--backends
  numpy,numba`` time those backends instead of ``auto`` (the default a user gets);
* ``torch {cell} h{h} b{b} f64 t1`` -- ``torch.nn.{LSTM,GRU,RNN}(12, h, batch_first=True)``
  + ``nn.Linear(h, 6)`` on the last step, ``cross_entropy``, ``torch.optim.Adam``, timed
  around the epoch loop; ``t1``: ``torch.set_num_threads(1)``, ``tdef``: torch's default.

Usage::

    python benchmarks/recurrent_cells.py [--repeats 5] [--cells lstm,gru,rnn]
        [--hidden 32,128] [--dtypes float64,float32] [--batches 1,8,64] [--threads 1,default]
        [--quick]

Prints a table, the machine, then one line ``JSON {...}`` (appended to
``benchmarks/results/<cpu>.jsonl``).
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np

from _common import (
    Row,
    add_common_args,
    apply_quick,
    backends,
    best,
    emit_json,
    fmt,
    impl_name,
    machine_info,
    optional,
    print_table,
    ratio,
    run_interleaved,
    select,
    summarize,
    thread_tag,
    threaded,
    unset_blas_overrides,
)
from nablanet.optimizers import Adam
from rnn_epoch import NABLANET, nablanet_row, parse_dtypes, torch_row

N_SEQUENCES, N_STEPS, N_FEATURES, N_CLASSES, BATCHES, LR = 2_048, 25, 12, 6, "1,8,64", 0.001
FULL_BATCH = 64  # from this batch on, rows time the whole epoch


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, N_STEPS, N_FEATURES)), rng.integers(0, N_CLASSES, n)


def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=5)
    parser.set_defaults(backends="auto")
    parser.add_argument("--cells", default="lstm,gru,rnn",
                        help="comma-separated: lstm, gru, rnn (default all)")
    parser.add_argument("--hidden", default="32,128", help="hidden sizes (default 32,128)")
    parser.add_argument("--dtypes", default="float64,float32",
                        help="comma-separated: float64, float32 (default both)")
    parser.add_argument("--batches", default=BATCHES,
                        help=f"comma-separated batch sizes (default {BATCHES})")
    parser.add_argument("--small-batch-sequences", type=int, default=256,
                        help=f"sequences timed at batches below {FULL_BATCH} (default 256)")
    args = parser.parse_args()
    apply_quick(args)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if bad := [c for c in cells if c not in NABLANET]:
        raise SystemExit(f"--cells: expected lstm, gru or rnn, got {', '.join(bad)}")
    hidden = [int(h) for h in args.hidden.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    dtypes = parse_dtypes(args.dtypes)
    X, y = data(512 if args.quick else N_SEQUENCES)

    notes: list[str] = []
    torch = optional("torch", notes)
    names = backends(args.backends, NABLANET["rnn"].fit, notes)
    rows: list[Row] = []
    for cell, h, (tag, dt), b, n in itertools.product(cells, hidden, dtypes, batches,
                                                     args.threads):
        common = {"n_hidden": h, "batch": b, "dtype": dt, "classes": N_CLASSES,
                  "subset": args.small_batch_sequences if b < FULL_BATCH else None,
                  "info": {"dtype": tag}}
        key = f"{cell} h{h} b{b} {tag}"
        group = [nablanet_row(f"{impl_name(backend)} {key}", cell, X, y, optimizer=Adam(LR),
                              backend=backend, threads=n, **common) for backend in names]
        if torch is not None:
            group.append(torch_row(torch, f"torch {key}", cell, X, y, optimizer="adam", lr=LR,
                                   **common))
        rows += threaded(group, n)
    rows = select(rows, args.only)
    times = run_interleaved(rows, args.repeats, args.warmup)
    machine = machine_info()

    stats = summarize(times, rows)
    med = {k: v["median"] for k, v in stats.items()}
    tags = [thread_tag(n) for n in args.threads]
    results, lines = {}, []
    for row in rows:
        i = row.info
        key = f"{i['cell']} h{i['hidden']} b{i['batch']} {i['dtype']}"
        torch_best = best(med, [f"torch {key} {t}" for t in tags])
        r = {**i, **stats[row.name],
             "vs_torch": ratio(med, row.name, f"torch {key} {i['threads']}"),
             "vs_torch_best": ratio(med, row.name, torch_best), "torch_best": torch_best,
             "vs_one_thread": ratio(med, row.name, row.name.rsplit(" ", 1)[0] + " t1")}
        results[row.name] = r
        lines.append([row.name, fmt(r["median"]), fmt(r.get("loop_median")),
                      f"{fmt(r['min'])}-{fmt(r['max'])}", fmt(r["vs_torch"], ".2f"),
                      fmt(r["vs_torch_best"], ".2f"), fmt(r["vs_one_thread"], ".2f")])
    load = ", ".join(f"{x:.1f}" for x in machine["loadavg"] or [])
    notes += [
        f"{len(X)} sequences x {N_STEPS} steps x {N_FEATURES} features, {N_CLASSES} classes "
        f"on the last step, cross-entropy, Adam lr {LR}; below batch {FULL_BATCH}: the first "
        f"{args.small_batch_sequences} sequences, scaled; median of {args.repeats} "
        f"interleaved rounds (after {args.warmup} warm-up); load average {load} at the end",
        "call: the fit call (nablanet) or the epoch loop (torch); loop: fit's training loop; "
        "÷ torch: vs torch at the same thread setting; ÷ torch best: vs torch at its faster "
        "setting (the user's view, read on the tdef row); ÷ t1: vs this row at one thread",
        "targets (issue 22): nablanet tdef ÷ torch best at most 1.0 (aim 0.7) for every cell, "
        "size, dtype and batch; LSTM/GRU h128 b64: tdef at most 1/1.5 of t1 on 2 cores",
    ]
    print_table(f"Recurrent cells, seconds per epoch ({len(X)} sequences)",
                ["row", "call s", "loop s", "min-max", "÷ torch", "÷ torch best", "÷ t1"],
                lines, notes)
    emit_json({
        "benchmark": "recurrent_cells", "n_sequences": len(X), "n_steps": N_STEPS,
        "n_features": N_FEATURES, "n_classes": N_CLASSES, "batches": batches, "lr": LR,
        "optimizer": "adam", "loss": "cross_entropy, last step", "repeats": args.repeats,
        "warmup": args.warmup, "quick": args.quick, "rows": results, "notes": notes,
        "machine": machine,
    })


if __name__ == "__main__":
    main()
