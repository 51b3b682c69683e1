"""Seconds per epoch of the vanilla RNN on the Rust seed's fraud workload: nablanet vs
PyTorch CPU ``nn.RNN``, interleaved in one process, medians and ratios; and the time to
load a CSV of that shape.

Workload (``seeds/rnn-rust-readme.txt``; issue 5): 28,549 synthetic sequences x 10 steps
x 29 features (uniform in [0, 1), like min-max-scaled data), one binary label per step
(~0.17% positives), seeded; an 80/20 split by sequence leaves 22,839 training sequences
per epoch. Model ``RNN(29, 10, 1, activation="tanh", output_activation="identity",
loss="mse", target="every", optimizer=SGD(0.001))``; the loss of a batch is
``0.5 * sum over steps and outputs of (y - t)^2``, averaged over its sequences.

Rows:

* ``nablanet b{1,64,256} f64`` -- ``fit(X, Y, epochs=1, batch_size=b, backend="numpy",
  ...)``, timed by ``history["seconds"][0]`` (the training loop only);
  ``nablanet-numba ...`` the same with ``backend="numba"`` (``--backends``);
* ``torch b{1,64,256} f64`` -- ``torch.nn.RNN(29, 10, nonlinearity="tanh",
  batch_first=True)`` + ``nn.Linear(10, 1)``, the same loss, ``torch.optim.SGD(lr=0.001)``,
  a ``randperm`` per epoch and index-gathered batches; timed around the epoch loop;
* at batch 1 both time the first ``--batch1-sequences`` training sequences and scale to
  the full epoch (default: the full epoch);
* ``read_sequence_csv`` -- ``nablanet.datasets.sequences.read_sequence_csv`` on a
  fraud-shaped CSV (284,807 rows x 31 columns, written once by ``csv_load.fraud_like``),
  median of ``--csv-repeats``.

Float32 rows with ``--dtypes float32,float64``. The Rust seed's figures from issue 5 are
shown as quoted reference rows, not measured here.

Usage::

    python benchmarks/rnn_epoch.py [--repeats 3] [--batch1-sequences 2000]
                                   [--dtypes float64,float32] [--threads 1] [--quick]

Prints a table, then one line ``JSON {...}`` with every number and the machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import (
    Row,
    add_common_args,
    apply_quick,
    backends,
    emit_json,
    fit_options,
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
    timed,
)
from nablanet.models import GRU, LSTM, RNN
from nablanet.optimizers import SGD

N_SEQUENCES, N_STEPS, N_FEATURES, N_OUTPUTS, N_HIDDEN = 28_549, 10, 29, 1, 10
TRAIN_RATIO, LR, POSITIVE_RATE = 0.8, 0.001, 0.0017
BATCHES = (1, 64, 256)
DTYPES = {"float64": ("f64", np.float64), "float32": ("f32", np.float32)}
NABLANET = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

#: Issue 5, measured by its author on this machine class (2 cores): seconds per epoch.
QUOTED = [
    ("Rust seed, release build b1", 1, 0.145, "0.130-0.153"),
    ("plain NumPy BPTT b1", 1, 6.25, "5.9-6.6"),
    ("PyTorch 2.13 CPU b1", 1, 28.5, ""),
    ("PyTorch nn.RNN b256", 256, 0.215, ""),
]
RUST_B1 = 0.145


def parse_dtypes(text: str) -> list[tuple[str, type]]:
    """``"float64,float32"`` -> ``[("f64", np.float64), ("f32", np.float32)]``."""
    try:
        return [DTYPES[t.strip()] for t in text.split(",") if t.strip()]
    except KeyError as exc:
        raise SystemExit(f"--dtypes: expected float64 and/or float32, got {exc}") from None


def fraud_data(n_sequences: int, seed: int = 0):
    """Synthetic fraud-shaped training and test sets ``(X, Y)``, split 80/20 by sequence."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_sequences, N_STEPS, N_FEATURES))
    Y = (rng.random((n_sequences, N_STEPS, N_OUTPUTS)) < POSITIVE_RATE).astype(np.float64)
    order = rng.permutation(n_sequences)
    n_train = int(TRAIN_RATIO * n_sequences)
    tr, te = order[:n_train], order[n_train:]
    return (X[tr], Y[tr]), (X[te], Y[te])


# --------------------------------------------------------------------------------------
# Rows: one recurrent model and one PyTorch peer (also used by recurrent_cells.py)
# --------------------------------------------------------------------------------------
def nablanet_row(name: str, cell: str, X, Y, *, n_hidden: int, batch: int, dtype,
                 optimizer, backend: str = "numpy", threads: int | None = None,
                 subset: int | None = None, info: dict | None = None) -> Row:
    """``NABLANET[cell](F, n_hidden, L, ...).fit(backend=backend)`` for one epoch at
    ``batch``; with ``subset``, on the first ``subset`` sequences, scaled to ``len(X)``."""
    n = len(X)
    m = n if subset is None else min(subset, n)
    Xd, Yd = np.ascontiguousarray(X[:m], dtype=dtype), np.ascontiguousarray(Y[:m], dtype=dtype)
    kw = {"activation": "tanh"} if cell == "rnn" else {}
    model = NABLANET[cell](X.shape[2], n_hidden, Y.shape[2], output_activation="identity",
                           loss="mse", target="every", optimizer=optimizer, seed=0,
                           dtype=dtype, **kw)
    opts = fit_options(model.fit, backend, threads)

    def fit(k: int) -> float:
        h = model.fit(Xd[:k], Yd[:k], epochs=1, batch_size=min(batch, k),
                      monitor_training=False, progress=False, **opts)
        return h["seconds"][0]

    return Row(name, lambda: fit(m) * n / m,
               {"impl": impl_name(backend), "cell": cell, "batch": batch, "hidden": n_hidden,
                "fit_options": opts,
                "timed": 'fit(epochs=1): history["seconds"][0]'
                         + (f", {m} sequences scaled to {n}" if m < n else ""),
                **(info or {})},
               warmup=lambda: fit(min(m, max(50, 2 * batch))))


def torch_row(torch, name: str, cell: str, X, Y, *, n_hidden: int, batch: int, dtype,
              optimizer: str, lr: float, subset: int | None = None,
              info: dict | None = None) -> Row:
    """``torch.nn.{RNN,LSTM,GRU}(F, n_hidden, batch_first=True)`` + ``nn.Linear``, loss
    ``0.5 * sum((y - t)^2) / batch``, one epoch of ``optimizer`` (``sgd``/``adam``) over
    pre-made tensors; with ``subset``, the first ``subset`` sequences, scaled."""
    n = len(X)
    m = n if subset is None else min(subset, n)
    tdt = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    Xt = torch.from_numpy(np.ascontiguousarray(X[:m], dtype=dtype))
    Yt = torch.from_numpy(np.ascontiguousarray(Y[:m], dtype=dtype))
    kw = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    rnn = getattr(torch.nn, cell.upper())(X.shape[2], n_hidden, batch_first=True, **kw).to(tdt)
    lin = torch.nn.Linear(n_hidden, Y.shape[2]).to(tdt)
    params = [*rnn.parameters(), *lin.parameters()]
    opt = (torch.optim.SGD(params, lr=lr) if optimizer == "sgd"
           else torch.optim.Adam(params, lr=lr))

    def epoch(k: int) -> float:
        start = time.perf_counter()
        perm = torch.randperm(k)
        for s in range(0, k, batch):
            idx = perm[s:s + batch]
            out, _ = rnn(Xt[idx])
            loss = 0.5 * ((lin(out) - Yt[idx]) ** 2).sum() / len(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    return Row(name, lambda: epoch(m) * n / m,
               {"impl": "torch", "cell": cell, "batch": batch, "hidden": n_hidden,
                "timed": "the epoch loop" + (f", {m} sequences scaled to {n}" if m < n else ""),
                **(info or {})},
               warmup=lambda: epoch(min(m, max(50, 2 * batch))))


def csv_row(tmp: Path) -> Row:
    """Time ``read_sequence_csv`` on a fraud-shaped file written once into ``tmp``."""
    from csv_load import fraud_like
    from nablanet.datasets.sequences import read_sequence_csv, write_sequence_csv

    path = write_sequence_csv(fraud_like(), tmp / "fraud_like.csv")
    return Row("read_sequence_csv", timed(lambda: read_sequence_csv(path)),
               {"impl": "csv", "file_mb": round(path.stat().st_size / 1e6, 1)})


# --------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=3)
    parser.add_argument("--batch1-sequences", type=int, default=None,
                        help="time batch 1 on this many training sequences and scale to the "
                             "epoch (default: the full epoch)")
    parser.add_argument("--dtypes", default="float64",
                        help="comma-separated: float64 (default), float32")
    parser.add_argument("--csv-repeats", type=int, default=5,
                        help="repeats of the CSV load (default 5)")
    args = parser.parse_args()
    dtypes = parse_dtypes(args.dtypes)
    n_total = N_SEQUENCES
    apply_quick(args)
    if args.quick:
        args.csv_repeats = min(args.csv_repeats, 2)
        n_total = 2_000
        args.batch1_sequences = min(args.batch1_sequences or 200, 200)

    notes: list[str] = []
    torch = optional("torch", notes)
    (X, Y), _ = fraud_data(n_total)
    n_train = len(X)

    with thread_limits(args.threads), tempfile.TemporaryDirectory() as tmp:
        rows: list[Row] = []
        names = backends(args.backends, RNN.fit, notes)
        for tag, dt in dtypes:
            for b in BATCHES:
                sub = args.batch1_sequences if b == 1 else None
                common = {"n_hidden": N_HIDDEN, "batch": b, "dtype": dt, "subset": sub,
                          "info": {"dtype": tag}}
                for backend in names:
                    rows.append(nablanet_row(f"{impl_name(backend)} b{b} {tag}", "rnn", X, Y,
                                             optimizer=SGD(LR), backend=backend,
                                             threads=args.threads, **common))
                if torch is not None:
                    rows.append(torch_row(torch, f"torch b{b} {tag}", "rnn", X, Y,
                                          optimizer="sgd", lr=LR, **common))
        # more peers: rows.append(Row("name b1 f64", run, {"impl": ..., "batch": 1, ...}))
        rows.append(csv_row(Path(tmp)))
        rows = select(rows, args.only)
        epoch_rows = [r for r in rows if r.info["impl"] != "csv"]
        times = run_interleaved(epoch_rows, args.repeats, args.warmup) if epoch_rows else {}
        csv = [r for r in rows if r.info["impl"] == "csv"]
        if csv:
            times.update(run_interleaved(csv, args.csv_repeats, warmup=0))
        machine = machine_info(args.threads)

    stats = summarize(times)
    med = {k: v["median"] for k, v in stats.items()}
    results, lines = {}, []
    for row in rows:
        s = med[row.name]
        r = {**row.info, **stats[row.name]}
        if row.info["impl"] != "csv":
            b, tag = row.info["batch"], row.info["dtype"]
            r["us_per_sequence"] = 1e6 * s / n_train
            r["vs_torch"] = ratio(med, row.name, f"torch b{b} {tag}")
            r["vs_numpy"] = (ratio(med, row.name, f"nablanet b{b} {tag}")
                             if row.info["impl"].startswith("nablanet-") else None)
            r["vs_rust_b1_quoted"] = s / RUST_B1
            lines.append([row.name, fmt(s), f"{fmt(r['min'])}-{fmt(r['max'])}",
                          fmt(r["us_per_sequence"], ".2f"), fmt(r["vs_torch"], ".2f"),
                          fmt(r["vs_numpy"], ".2f"), fmt(r["vs_rust_b1_quoted"], ".2f")])
        else:
            lines.append([f"{row.name} ({r['file_mb']} MB)", fmt(s),
                          f"{fmt(r['min'])}-{fmt(r['max'])}", "", "", "", ""])
        results[row.name] = r
    for name, _b, s, spread in QUOTED:
        lines.append([f"{name} (quoted, not measured)", fmt(s), spread or "-",
                      fmt(1e6 * s / 22_839, ".2f"), "", "", fmt(s / RUST_B1, ".2f")])

    notes += [
        f"{n_train} training sequences x {N_STEPS} steps x {N_FEATURES} features, RNN "
        f"{N_FEATURES}-{N_HIDDEN}-{N_OUTPUTS} tanh, MSE at every step, SGD lr {LR}; median of "
        f"{args.repeats} interleaved rounds (after {args.warmup} warm-up); read_sequence_csv: "
        f"median of {args.csv_repeats}",
        "ratios are time ratios (row / baseline; < 1 = faster); ÷ torch: vs torch.nn.RNN at "
        "the same batch and dtype; ÷ Rust: vs the Rust seed's quoted 0.145 s per epoch at "
        "batch 1",
        'nablanet: history["seconds"][0] of fit(epochs=1), training loop only, backend=numpy '
        f"(nablanet) or numba (nablanet-numba; ÷ numpy vs the nablanet row), threads="
        f"{args.threads} (None: fit's default); torch: the epoch loop incl. randperm and "
        f"batch gathering, {machine.get('torch_threads')} threads, default init",
        "batch 1: " + (f"the first {args.batch1_sequences} sequences, scaled to the epoch"
                       if args.batch1_sequences else "the full epoch"),
        "quoted rows: issue 5, measured by its author on this machine class (2 cores), "
        "not in this run; targets: b256 <= 0.15 s and faster than PyTorch at every batch "
        "(issue 3); b1 <= 0.10 s, b256 <= 0.06 s with compiled kernels (issue 5)",
    ]
    print_table(f"RNN fraud workload, seconds per epoch ({n_train} training sequences)",
                ["row", "s/epoch", "min-max", "µs/sequence", "÷ torch", "÷ numpy", "÷ Rust b1"],
                lines, notes)
    emit_json({
        "benchmark": "rnn_epoch", "n_train": n_train, "n_steps": N_STEPS,
        "n_features": N_FEATURES, "n_hidden": N_HIDDEN, "lr": LR, "repeats": args.repeats,
        "warmup": args.warmup, "quick": args.quick, "batch1_sequences": args.batch1_sequences,
        "rows": results,
        "quoted": [{"name": n, "batch": b, "seconds": s, "range": r} for n, b, s, r in QUOTED],
        "notes": notes, "machine": machine,
    })


if __name__ == "__main__":
    main()
