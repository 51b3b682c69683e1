"""Seconds per epoch of nablanet's LSTM, GRU and vanilla RNN against ``torch.nn.LSTM``,
``torch.nn.GRU`` and ``torch.nn.RNN`` on CPU, interleaved in one process, medians and
ratios (issues 4 and 8: at most 1.0x PyTorch CPU eager).

Workload: 4,096 synthetic sequences x 30 steps x 16 features (standard normal, seeded),
one output at every step (a seeded random target), MSE (``0.5 * sum over steps of
(y - t)^2``, mean over the sequences of a batch), plain SGD lr 0.01 for both, batch 64
(``--batches``: also 1 and 8, on the first ``--small-batch-sequences``, scaled), hidden
32 and 128, float64 and float32.

Rows, for each cell ``rnn``/``lstm``/``gru``, hidden ``h``, batch ``b`` and dtype:

* ``nablanet {cell} h{h} b{b} f64`` -- ``LSTM(16, h, 1, ...).fit(X, Y, epochs=1,
  batch_size=b, backend="numpy", ...)``, timed by ``history["seconds"][0]``;
  ``nablanet-numba ...`` the compiled backend (the RNN's epoch kernel, the LSTM/GRU
  cell kernels);
* ``torch {cell} h{h} b{b} f64`` -- ``torch.nn.{LSTM,GRU,RNN}(16, h, batch_first=True)`` +
  ``nn.Linear(h, 1)``, the same loss, ``torch.optim.SGD(lr=0.01)``, timed around the
  epoch loop (``rnn_epoch.torch_row``).

Usage::

    python benchmarks/recurrent_cells.py [--repeats 5] [--cells lstm,gru,rnn]
        [--hidden 32,128] [--dtypes float64,float32] [--batches 1,8,64] [--threads 1]
        [--quick]

Prints a table, then one line ``JSON {...}`` with every number and the machine.
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import (
    Row,
    add_common_args,
    apply_quick,
    backends,
    blas_kernel,
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
    thread_limits,
    unset_blas_overrides,
)
from nablanet.optimizers import SGD
from rnn_epoch import NABLANET, nablanet_row, parse_dtypes, torch_row

N_SEQUENCES, N_STEPS, N_FEATURES, N_OUTPUTS, BATCH, LR = 4_096, 30, 16, 1, 64, 0.01
NUMBA_CELLS = ("rnn", "lstm", "gru")  # the cells the compiled backend covers


def data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, N_STEPS, N_FEATURES))
    Y = 0.5 * rng.standard_normal((n, N_STEPS, N_OUTPUTS))
    return X, Y


def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=5)
    parser.add_argument("--cells", default="lstm,gru,rnn",
                        help="comma-separated: lstm, gru, rnn (default all)")
    parser.add_argument("--hidden", default="32,128", help="hidden sizes (default 32,128)")
    parser.add_argument("--dtypes", default="float64,float32",
                        help="comma-separated: float64, float32 (default both)")
    parser.add_argument("--batches", default=str(BATCH),
                        help=f"comma-separated batch sizes (default {BATCH}); below {BATCH} "
                             "every row times the first --small-batch-sequences sequences and "
                             "scales to the epoch")
    parser.add_argument("--small-batch-sequences", type=int, default=256,
                        help="sequences timed at batches below 64 (default 256)")
    args = parser.parse_args()
    apply_quick(args)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if bad := [c for c in cells if c not in NABLANET]:
        raise SystemExit(f"--cells: expected lstm, gru or rnn, got {', '.join(bad)}")
    hidden = [int(h) for h in args.hidden.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    dtypes = parse_dtypes(args.dtypes)
    X, Y = data(512 if args.quick else N_SEQUENCES)

    notes: list[str] = []
    torch = optional("torch", notes)
    with thread_limits(args.threads):
        names = backends(args.backends, NABLANET["rnn"].fit, notes)
        rows: list[Row] = []
        for cell in cells:
            for h in hidden:
                for tag, dt in dtypes:
                    for b in batches:
                        sub = args.small_batch_sequences if b < BATCH else None
                        common = {"n_hidden": h, "batch": b, "dtype": dt, "subset": sub,
                                  "info": {"dtype": tag}}
                        key = f"{cell} h{h} b{b} {tag}"
                        for backend in names:
                            if backend != "numpy" and cell not in NUMBA_CELLS:
                                continue
                            rows.append(nablanet_row(
                                f"{impl_name(backend)} {key}", cell, X, Y, optimizer=SGD(LR),
                                backend=backend, threads=args.threads, **common))
                        if torch is not None:
                            rows.append(torch_row(torch, f"torch {key}", cell, X, Y,
                                                  optimizer="sgd", lr=LR, **common))
        # more peers: rows.append(Row("name lstm h32 f64", run, {"impl": ..., ...}))
        rows = select(rows, args.only)
        times = run_interleaved(rows, args.repeats, args.warmup)
        machine = machine_info(args.threads)

    stats = summarize(times)
    med = {k: v["median"] for k, v in stats.items()}
    results, lines = {}, []
    for row in rows:
        cell, h, tag, b = row.info["cell"], row.info["hidden"], row.info["dtype"], row.info["batch"]
        key = f"{cell} h{h} b{b} {tag}"
        s = med[row.name]
        r = {
            **row.info, **stats[row.name],
            "ms_per_batch": 1e3 * s / -(-len(X) // b),
            "vs_torch": ratio(med, row.name, f"torch {key}"),
            "vs_numpy": (ratio(med, row.name, f"nablanet {key}")
                         if row.info["impl"].startswith("nablanet-") else None),
        }
        results[row.name] = r
        lines.append([row.name, fmt(s), f"{fmt(r['min'])}-{fmt(r['max'])}",
                      fmt(r["ms_per_batch"], ".2f"), fmt(r["vs_torch"], ".2f"),
                      fmt(r["vs_numpy"], ".2f")])

    notes += [
        f"CPU: {machine['cpu']} ({machine['cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in machine['loadavg'] or [])} at the end); BLAS: "
        f"{blas_kernel(machine)}",
        f"{len(X)} sequences x {N_STEPS} steps x {N_FEATURES} features, 1 output per step, MSE, "
        f"SGD lr {LR}, batch {', '.join(map(str, batches))} (below {BATCH}: the first "
        f"{args.small_batch_sequences} sequences, scaled); median of {args.repeats} "
        f"interleaved rounds (after {args.warmup} warm-up)",
        "÷ torch: time ratio vs the torch row of the same cell, hidden size and dtype "
        "(< 1 = nablanet faster); ÷ numpy: a compiled backend vs the nablanet (NumPy) row",
        'nablanet: history["seconds"][0] of fit(epochs=1), training loop only, threads='
        f"{args.threads} (None: fit's default); torch: the epoch loop incl. randperm and "
        f"batch gathering, {machine.get('torch_threads')} threads",
        "targets (issue 8): nablanet-numba LSTM and GRU at most 1.0x PyTorch CPU eager at "
        "hidden 32 and 128, float32 and float64, batch 64, 8 and 1",
    ]
    print_table(f"Recurrent cells, seconds per epoch ({len(X)} sequences)",
                ["row", "s/epoch", "min-max", "ms/batch", "÷ torch", "÷ numpy"], lines, notes)
    emit_json({
        "benchmark": "recurrent_cells", "n_sequences": len(X), "n_steps": N_STEPS,
        "n_features": N_FEATURES, "batches": batches, "lr": LR, "optimizer": "sgd",
        "repeats": args.repeats, "warmup": args.warmup, "quick": args.quick,
        "rows": results, "notes": notes, "machine": machine,
    })


if __name__ == "__main__":
    main()
