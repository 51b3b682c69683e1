"""Seconds per epoch of the vanilla RNN on the Rust seed's fraud workload: the Rust seed
itself, nablanet (NumPy and Numba) and PyTorch CPU ``nn.RNN``, interleaved in the same
rounds on the same CSV, medians and ratios; and the time to load that CSV.

Workload (``seeds/rnn-rust-readme.txt``; issues 5 and 8): a fraud-shaped CSV written once
per run (``csv_load.fraud_like``: 28,549 sequences, 284,807 rows, 29 features, one label
per step, ~0.2% positives, seeded), min-max scaled over the whole file and split 80/20 by
sequence like the seed, leaving 22,839 training sequences per epoch. Model ``RNN(29, 10,
1, activation="tanh", output_activation="identity", loss="mse", target="every",
optimizer=SGD(0.001))``; the loss of a batch is ``0.5 * sum over steps and outputs of
(y - t)^2``, averaged over its sequences.

Rows:

* ``rust-seed b1 f64`` -- the seed's release build (``../shared/peers/rnn-rust``, built by
  its ``build.sh`` when ``cargo`` is on the PATH; ``--rust-seed`` names a built binary or
  the source directory) run as a subprocess on the same CSV with ``RNN_EPOCHS=2``; the
  time is its own measurement of the second ``train_epoch`` (CSV load and the first,
  cold epoch excluded). Without cargo the rows are skipped with a note saying how to
  get it;
* ``nablanet b{1,64,256} f64`` -- ``fit(X, Y, mask, epochs=1, batch_size=b,
  backend="numpy", shuffle=False, ...)``, timed by ``history["seconds"][0]`` (the
  training loop only; no reshuffle, like the seed, which trains in file order);
  ``nablanet-numba ...`` the same with ``backend="numba"`` (``--backends``);
* ``torch b{1,64,256} f64`` -- ``torch.nn.RNN(29, 10, nonlinearity="tanh",
  batch_first=True)`` + ``nn.Linear(10, 1)``, the same loss, ``torch.optim.SGD(lr=0.001)``,
  a ``randperm`` per epoch and index-gathered batches (padded steps included); timed
  around the epoch loop;
* at batch 1 the NumPy and PyTorch rows time the first ``--batch1-sequences`` training
  sequences (default 2,000) and scale to the full epoch; the Rust and Numba rows always
  run the full epoch;
* the whole command a user waits for: ``nablanet rnn train b1 f64`` -- the wall clock of
  ``python -m nablanet -q rnn train CSV --task regression --rnn-rust --epochs 1`` (the
  seed's model and configuration; backend and threads at their defaults) in a
  subprocess: interpreter start, imports, CSV read, scaling, Numba's cache load, the
  epoch, the evaluations and the final reports; its loop is the epoch's seconds in its
  ``--metrics-out`` record. Compared (``÷ Rust``) with ``rust-seed process b1 f64``, the
  wall clock of the seed's process with ``RNN_EPOCHS=1`` (CSV load, scaling, split, one
  epoch; its loop: its own timing of that epoch);
* ``read_sequence_csv`` -- ``nablanet.datasets.sequences.read_sequence_csv`` on the CSV,
  median of ``--csv-repeats``.

Float32 rows with ``--dtypes float32,float64``. The command unsets ``OPENBLAS_CORETYPE``
and ``OPENBLAS_L2_SIZE`` for itself (re-executing once), so that OpenBLAS picks its
kernel for the machine it runs on; the BLAS kernel is printed with the CPU model.

Usage::

    python benchmarks/rnn_epoch.py [--repeats 5] [--batch1-sequences 2000]
                                   [--dtypes float64,float32] [--threads 1,default]
                                   [--rust-seed PATH] [--only rust,numba] [--quick]

Every row but the Rust seed's (single-threaded) runs at each ``--threads`` setting (``t1``,
``tdef``); nablanet rows time the whole ``fit`` call and its loop. Prints a table, the
machine, then one line ``JSON {...}`` (appended to ``benchmarks/results/<cpu>.jsonl``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import (
    Row,
    add_common_args,
    apply_quick,
    backends,
    best,
    blas_kernel,
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
    thread_tag,
    threaded,
    timed,
    unset_blas_overrides,
)
from nablanet.datasets.sequences import pad, read_sequence_csv, train_test_split
from nablanet.models import GRU, LSTM, RNN
from nablanet.optimizers import SGD

N_STEPS, N_FEATURES, N_OUTPUTS, N_HIDDEN = 10, 29, 1, 10
TRAIN_RATIO, LR = 0.8, 0.001
BATCHES = (1, 64, 256)
#: rows that time a whole command (a process), compared with each other only
WHOLE_COMMANDS = ("nablanet-cli", "rust-process")
DTYPES = {"float64": ("f64", np.float64), "float32": ("f32", np.float32)}
NABLANET = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
#: the seed's source, relative to the repository root (see its README)
RUST_SEED = Path(__file__).resolve().parents[2] / "shared" / "peers" / "rnn-rust"


def parse_dtypes(text: str) -> list[tuple[str, type]]:
    """``"float64,float32"`` -> ``[("f64", np.float64), ("f32", np.float32)]``."""
    try:
        return [DTYPES[t.strip()] for t in text.split(",") if t.strip()]
    except KeyError as exc:
        raise SystemExit(f"--dtypes: expected float64 and/or float32, got {exc}") from None


def write_csv(tmp: Path, n_sequences: int | None = None) -> Path:
    """The fraud-shaped CSV (``csv_load.fraud_like``), its first ``n_sequences`` only
    when given (``--quick``)."""
    from csv_load import fraud_like
    from nablanet.datasets.sequences import write_sequence_csv

    data = fraud_like()
    if n_sequences is not None:
        data = data.subset(np.arange(n_sequences))
    return write_sequence_csv(data, tmp / "fraud_like.csv")


def fraud_data(path: Path):
    """The seed's preparation of ``path``: min-max scaling of every column over the whole
    file (``Dataset::normalize``), then an 80/20 split by sequence. Returns the training
    set ``(X (n, T, F), Y (n, T, 1), mask (n, T))``."""
    data = read_sequence_csv(path)
    train, _ = train_test_split(data, TRAIN_RATIO, seed=0)
    X, mask = pad(train.features)
    Y, _ = pad(train.labels)
    for A, cols in ((X, np.concatenate(data.features)), (Y, np.concatenate(data.labels))):
        lo, hi = cols.min(axis=0), cols.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        A[...] = np.where(mask[..., None], (A - lo) / span, 0.0)
    return X, Y, mask


# --------------------------------------------------------------------------------------
# The Rust seed as a peer
# --------------------------------------------------------------------------------------
def rust_binary(option: str | None, notes: list[str]) -> str | None:
    """The seed's release binary: ``option`` if it is an executable file, else built from
    the source directory ``option`` (default :data:`RUST_SEED`) by its ``build.sh``; None,
    with a note, when that is impossible."""
    if option and Path(option).is_file() and os.access(option, os.X_OK):
        return option
    src = Path(option) if option else RUST_SEED
    if not (src / "build.sh").is_file():
        notes.append(f"Rust seed rows skipped: no {src / 'build.sh'} (pass --rust-seed "
                     "with the seed's source directory or a built binary)")
        return None
    if shutil.which("cargo") is None:
        notes.append("Rust seed rows skipped: cargo is not on the PATH. Install a Rust "
                      "toolchain (Debian/Ubuntu: apt-get install cargo; elsewhere: rustup), "
                      f"then rerun; {src / 'build.sh'} builds the seed offline")
        return None
    print(f"building the Rust seed: bash {src / 'build.sh'}", file=sys.stderr, flush=True)
    done = subprocess.run(["bash", str(src / "build.sh")], capture_output=True, text=True)
    binary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    if done.returncode or not Path(binary).is_file():
        notes.append(f"Rust seed rows skipped: build.sh failed ({done.returncode}): "
                     + (done.stderr.strip().splitlines() or ["no output"])[-1])
        return None
    return binary


def seed_run(binary: str, csv: Path, epochs: int) -> tuple[float, list[float]]:
    """Run the seed on ``csv`` for ``epochs``: the wall clock of its process and its own
    timing of each ``train_epoch``."""
    env = {**os.environ, "RNN_CSV": str(csv), "RNN_EPOCHS": str(epochs)}
    start = time.perf_counter()
    done = subprocess.run([binary], env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    return wall, [float(t) for t in json.loads(line)["epoch_seconds"]]


def rust_row(binary: str, csv: Path) -> Row:
    """The seed trains 2 epochs on ``csv`` in a subprocess; the time is its second epoch
    as it measures it (``train_epoch`` alone)."""
    return Row("rust-seed b1 f64", lambda: seed_run(binary, csv, 2)[1][-1],
               {"impl": "rust", "batch": 1, "dtype": "f64", "binary": binary,
                "timed": "the seed's own timing of its 2nd train_epoch (RNN_EPOCHS=2)"})


def rust_process_row(binary: str, csv: Path) -> Row:
    """The whole seed run a user starts: ``RNN_EPOCHS=1`` on ``csv``; call: the wall clock
    of the process (CSV load, min-max scaling, split, one epoch), loop: its own timing of
    the epoch."""
    def run() -> tuple[float, float]:
        wall, epochs = seed_run(binary, csv, 1)
        return wall, epochs[-1]

    return Row("rust-seed process b1 f64", run,
               {"impl": "rust-process", "batch": 1, "dtype": "f64", "binary": binary,
                "timed": "wall clock of the seed's process with RNN_EPOCHS=1; loop: its "
                         "own timing of the epoch"})


def cli_row(csv: Path, tmp: Path) -> Row:
    """``nablanet rnn train CSV --task regression --rnn-rust --epochs 1`` as a user runs it
    (the seed's model: identity output, MSE at every step, SGD 0.001, batch 1, file order,
    80/20 split; the backend and threads at their defaults), in a subprocess of this
    Python with this checkout's package; call: the wall clock of the process (interpreter
    start, imports, CSV read, scaling, the kernel's load from Numba's disk cache, the
    epoch, the evaluations and the final reports on both sets), loop: the epoch's
    seconds in its ``--metrics-out`` record."""
    import nablanet

    metrics = tmp / "cli-metrics.json"
    cmd = [sys.executable, "-m", "nablanet", "-q", "rnn", "train", str(csv), "--task",
           "regression", "--rnn-rust", "--epochs", "1", "--metrics-out", str(metrics)]
    src = str(Path(nablanet.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    info = {"impl": "nablanet-cli", "batch": 1, "dtype": "f64", "threads": "tdef",
            "command": " ".join(cmd[1:-2]),
            "timed": "wall clock of the process; loop: the epoch's seconds in its record"}

    def run() -> tuple[float, float]:
        metrics.unlink(missing_ok=True)
        start = time.perf_counter()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
        wall = time.perf_counter() - start
        record = json.loads(metrics.read_text())
        info["backend"] = record["backend"]
        return wall, float(record["history"]["epochs"][-1]["seconds"])

    return Row("nablanet rnn train b1 f64", run, info)


# --------------------------------------------------------------------------------------
# Rows: one recurrent model and one PyTorch peer (also used by recurrent_cells.py)
# --------------------------------------------------------------------------------------
def nablanet_row(name: str, cell: str, X, Y, *, n_hidden: int, batch: int, dtype,
                 optimizer, backend: str = "numpy", threads: int | None = None,
                 subset: int | None = None, info: dict | None = None, mask=None,
                 shuffle: bool = True, classes: int = 0) -> Row:
    """``NABLANET[cell](F, n_hidden, L, ...).fit(X, Y, mask, backend=backend,
    threads=threads, shuffle=shuffle)`` for one epoch at ``batch``: MSE at every step, or
    with ``classes``, softmax cross-entropy on the last step (``Y``: labels ``(n,)``).
    Times ``(the fit call, history["seconds"][0])``; with ``subset``, the first ``subset``
    sequences, scaled to ``len(X)``."""
    n = len(X)
    m = n if subset is None else min(subset, n)
    Xd = np.ascontiguousarray(X[:m], dtype=dtype)
    Yd = Y[:m] if classes else np.ascontiguousarray(Y[:m], dtype=dtype)
    Md = None if mask is None else mask[:m]
    kw = {"activation": "tanh"} if cell == "rnn" else {}
    head = ({"output_activation": "softmax", "loss": "cross_entropy", "target": "last"}
            if classes else {"output_activation": "identity", "loss": "mse", "target": "every"})
    model = NABLANET[cell](X.shape[2], n_hidden, classes or Y.shape[2], optimizer=optimizer,
                           seed=0, dtype=dtype, **head, **kw)
    opts = fit_options(model.fit, backend, threads)

    def fit(k: int) -> tuple[float, float]:
        start = time.perf_counter()
        h = model.fit(Xd[:k], Yd[:k], None if Md is None else Md[:k], epochs=1,
                      batch_size=min(batch, k), monitor_training=False, progress=False,
                      shuffle=shuffle, **opts)
        return time.perf_counter() - start, h["seconds"][0]

    def run() -> tuple[float, float]:
        call, loop = fit(m)
        return call * n / m, loop * n / m

    return Row(name, run,
               {"impl": impl_name(backend), "cell": cell, "batch": batch, "hidden": n_hidden,
                "fit_options": {**opts, "shuffle": shuffle}, "task": head,
                "timed": 'the fit(epochs=1) call; loop: history["seconds"][0]'
                         + (f"; {m} sequences scaled to {n}" if m < n else ""),
                **(info or {})},
               warmup=lambda: fit(min(m, max(50, 2 * batch))))


def torch_row(torch, name: str, cell: str, X, Y, *, n_hidden: int, batch: int, dtype,
              optimizer: str, lr: float, subset: int | None = None,
              info: dict | None = None, classes: int = 0) -> Row:
    """``torch.nn.{RNN,LSTM,GRU}(F, n_hidden, batch_first=True)`` + ``nn.Linear``, loss
    ``0.5 * sum((y - t)^2) / batch`` at every step, or with ``classes``
    ``nn.functional.cross_entropy`` of the last step's logits (``Y``: labels); one epoch of
    ``optimizer`` (``sgd``/``adam``) over pre-made tensors, timed around the epoch loop
    (the user's call and loop alike); with ``subset``, the first ``subset`` sequences,
    scaled."""
    n = len(X)
    m = n if subset is None else min(subset, n)
    tdt = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
    Xt = torch.from_numpy(np.ascontiguousarray(X[:m], dtype=dtype))
    Yt = (torch.from_numpy(np.asarray(Y[:m], dtype=np.int64)) if classes
          else torch.from_numpy(np.ascontiguousarray(Y[:m], dtype=dtype)))
    kw = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    rnn = getattr(torch.nn, cell.upper())(X.shape[2], n_hidden, batch_first=True, **kw).to(tdt)
    lin = torch.nn.Linear(n_hidden, classes or Y.shape[2]).to(tdt)
    params = [*rnn.parameters(), *lin.parameters()]
    opt = (torch.optim.SGD(params, lr=lr) if optimizer == "sgd"
           else torch.optim.Adam(params, lr=lr))

    def loss_of(out, idx):
        if classes:
            return torch.nn.functional.cross_entropy(lin(out[:, -1]), Yt[idx])
        return 0.5 * ((lin(out) - Yt[idx]) ** 2).sum() / len(idx)

    def epoch(k: int) -> float:
        start = time.perf_counter()
        perm = torch.randperm(k)
        for s in range(0, k, batch):
            idx = perm[s:s + batch]
            out, _ = rnn(Xt[idx])
            loss = loss_of(out, idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    def run() -> tuple[float, float]:
        s = epoch(m) * n / m
        return s, s

    return Row(name, run,
               {"impl": "torch", "cell": cell, "batch": batch, "hidden": n_hidden,
                "timed": "the epoch loop" + (f", {m} sequences scaled to {n}" if m < n else ""),
                **(info or {})},
               warmup=lambda: epoch(min(m, max(50, 2 * batch))))


def csv_row(path: Path) -> Row:
    """Time ``read_sequence_csv`` on the benchmark's CSV."""
    return Row("read_sequence_csv", timed(lambda: read_sequence_csv(path)),
               {"impl": "csv", "file_mb": round(path.stat().st_size / 1e6, 1)})


# --------------------------------------------------------------------------------------
def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=5)
    parser.add_argument("--batch1-sequences", type=int, default=2000,
                        help="time the NumPy and PyTorch rows at batch 1 on this many training "
                             "sequences and scale to the epoch (default 2000; 0: full epoch)")
    parser.add_argument("--dtypes", default="float64",
                        help="comma-separated: float64 (default), float32")
    parser.add_argument("--csv-repeats", type=int, default=5,
                        help="repeats of the CSV load (default 5)")
    parser.add_argument("--rust-seed", default=None,
                        help="the Rust seed's built binary, or its source directory (default "
                             f"{RUST_SEED}, built with its build.sh when cargo is present)")
    args = parser.parse_args()
    dtypes = parse_dtypes(args.dtypes)
    apply_quick(args)
    if args.quick:
        args.csv_repeats = min(args.csv_repeats, 2)
        args.batch1_sequences = min(args.batch1_sequences or 200, 200)
    slow_b1 = args.batch1_sequences or None

    notes: list[str] = []
    torch = optional("torch", notes)
    binary = rust_binary(args.rust_seed, notes)
    with tempfile.TemporaryDirectory() as tmp:
        csv = write_csv(Path(tmp), 2_000 if args.quick else None)
        X, Y, mask = fraud_data(csv)
        n_train = len(X)
        rows: list[Row] = [rust_row(binary, csv), rust_process_row(binary, csv)] \
            if binary else []
        rows.append(cli_row(csv, Path(tmp)))  # the whole command, beside the seed's process
        names = backends(args.backends, RNN.fit, notes)
        for (tag, dt), b, n in itertools.product(dtypes, BATCHES, args.threads):
            common = {"n_hidden": N_HIDDEN, "batch": b, "dtype": dt, "info": {"dtype": tag}}
            group = [nablanet_row(f"{impl_name(backend)} b{b} {tag}", "rnn", X, Y,
                                  optimizer=SGD(LR), backend=backend, mask=mask, shuffle=False,
                                  threads=n, subset=slow_b1 if b == 1 and backend == "numpy"
                                  else None, **common) for backend in names]
            if torch is not None:
                group.append(torch_row(torch, f"torch b{b} {tag}", "rnn", X, Y, optimizer="sgd",
                                       lr=LR, subset=slow_b1 if b == 1 else None, **common))
            rows += threaded(group, n)
        # more peers: rows.append(Row("name b1 f64", run, {"impl": ..., "batch": 1, ...}))
        rows.append(csv_row(csv))
        rows = select(rows, args.only)
        epoch_rows = [r for r in rows if r.info["impl"] != "csv"]
        times = run_interleaved(epoch_rows, args.repeats, args.warmup) if epoch_rows else {}
        csv_rows = [r for r in rows if r.info["impl"] == "csv"]
        if csv_rows:
            times.update(run_interleaved(csv_rows, args.csv_repeats, warmup=0))
        machine = machine_info()

    stats = summarize(times, rows)
    med = {k: v["median"] for k, v in stats.items()}
    rust, rust_process = "rust-seed b1 f64", "rust-seed process b1 f64"
    results, lines = {}, []
    for row in rows:
        s = med[row.name]
        r = {**row.info, **stats[row.name]}
        if row.info["impl"] != "csv":
            b, tag, t = row.info["batch"], row.info["dtype"], row.info.get("threads", "")
            r["us_per_sequence"] = 1e6 * s / n_train
            whole = row.info["impl"] in WHOLE_COMMANDS  # against each other only
            r["vs_torch"] = None if whole else ratio(med, row.name, f"torch b{b} {tag} {t}")
            r["vs_torch_best"] = None if whole else ratio(med, row.name, best(
                med, [f"torch b{b} {tag} {thread_tag(n)}" for n in args.threads]))
            r["vs_numpy"] = (ratio(med, row.name, f"nablanet b{b} {tag} {t}")
                             if row.info["impl"].startswith("nablanet-") and not whole
                             else None)
            r["vs_rust"] = (None if row.name in (rust, rust_process)
                            else ratio(med, row.name, rust_process if whole else rust))
            lines.append([row.name, fmt(s), fmt(r.get("loop_median")),
                          f"{fmt(r['min'])}-{fmt(r['max'])}",
                          fmt(r["us_per_sequence"], ".2f"), fmt(r["vs_rust"], ".2f"),
                          fmt(r["vs_torch"], ".2f"), fmt(r["vs_torch_best"], ".2f"),
                          fmt(r["vs_numpy"], ".2f")])
        else:
            lines.append([f"{row.name} ({r['file_mb']} MB)", fmt(s), "",
                          f"{fmt(r['min'])}-{fmt(r['max'])}", "", "", "", "", ""])
        results[row.name] = r

    notes += [
        f"CPU: {machine['cpu']} ({machine['cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in machine['loadavg'] or [])} at the end); BLAS: "
        f"{blas_kernel(machine)}",
        f"{n_train} training sequences (<= {N_STEPS} steps) x {N_FEATURES} features, RNN "
        f"{N_FEATURES}-{N_HIDDEN}-{N_OUTPUTS} tanh, MSE at every step, SGD lr {LR}; median of "
        f"{args.repeats} interleaved rounds (after {args.warmup} warm-up), min-max over the "
        f"rounds; read_sequence_csv: median of {args.csv_repeats}",
        "ratios are time ratios of the calls (row / baseline; < 1 = faster): ÷ Rust vs "
        "the Rust seed's row of this run (the CLI row: vs the seed's whole process), "
        "÷ torch vs torch.nn.RNN at the same batch, dtype "
        "and thread setting, ÷ torch best vs torch at its faster setting (the user's view), "
        "÷ numpy vs the nablanet (NumPy) row",
        "nablanet: call = the fit(epochs=1, shuffle=False) call, loop = its "
        'history["seconds"][0]; backend=numpy (nablanet) or numba (nablanet-numba); t1: '
        "threads=1 and one BLAS thread, tdef: fit's default; Rust seed: its own timing of "
        "its second epoch; torch: the epoch loop incl. randperm and batch gathering, default "
        "init; t1: torch.set_num_threads(1), tdef: torch's default",
        "batch 1: the Rust and Numba rows run the full epoch; NumPy and PyTorch "
        + (f"the first {slow_b1} sequences, scaled to the epoch" if slow_b1
           else "the full epoch"),
        "whole command: 'nablanet rnn train b1 f64' = the wall clock of `nablanet rnn train "
        "CSV --task regression --rnn-rust --epochs 1` (interpreter start, imports, CSV read, "
        "scaling, Numba's cache load, the epoch, evaluation and final reports), loop = its "
        "epoch; 'rust-seed process' = the seed's process with RNN_EPOCHS=1 (CSV load, "
        "scaling, split, the epoch), loop = its epoch",
        "targets (issue 8): nablanet-numba b1 f64 at most 0.8x the Rust seed (moonshot 0.5x); "
        "issue 22: the Rust seed's workload at batch 1 at most 0.7x the seed's time",
    ]
    print_table(f"RNN fraud workload, seconds per epoch ({n_train} training sequences)",
                ["row", "call s", "loop s", "min-max", "µs/sequence", "÷ Rust", "÷ torch",
                 "÷ torch best", "÷ numpy"],
                lines, notes)
    emit_json({
        "benchmark": "rnn_epoch", "n_train": n_train, "n_steps": N_STEPS,
        "n_features": N_FEATURES, "n_hidden": N_HIDDEN, "lr": LR, "repeats": args.repeats,
        "warmup": args.warmup, "quick": args.quick, "batch1_sequences": slow_b1,
        "rust_seed": binary, "rows": results, "notes": notes, "machine": machine,
    })


if __name__ == "__main__":
    main()
