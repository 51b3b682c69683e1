"""Time loading a sequence CSV of the seed's fraud-detection shape.

The seed (``seeds/rnn-rust-readme.txt``) trains on the Kaggle credit-card file turned
into sequences: ~285,000 rows x 31 columns (name, t, 29 features, 1 label) in 28,549
sequences of ~10 steps. This script writes a synthetic file of that shape (random
normal features written at full precision, so larger than the Kaggle text) and times,
interleaved, median of ``--repeats`` runs:

* ``read_sequence_csv`` -- nablanet's reader (NumPy's C ``loadtxt`` parser in blocks,
  plus validation and grouping into sequences): the only engine, in the core install;
* ``csv.reader``       -- the standard library's parse alone, every field a ``str``;
* ``polars.read_csv``  -- the raw parse alone by polars (multi-threaded), when installed:
  the faster engine nablanet used before and no longer depends on;
* ``pandas.read_csv``  -- the raw parse by pandas, when installed;
* ``pad``              -- the 28,549 feature arrays into one ``(n, T, F)`` batch.

Each case runs at every ``--threads`` setting (default one thread, then the libraries'
own; polars's pool is its own either way). Usage: ``python benchmarks/csv_load.py
[--repeats 5] [--only read_sequence]``. Prints a table, the machine and a JSON line
(``JSON {...}``, appended to ``benchmarks/results/<cpu>.jsonl``).
"""

from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

import numpy as np

from _common import (
    Row,
    add_common_args,
    apply_quick,
    emit_json,
    fmt,
    machine_info,
    optional,
    print_table,
    ratio,
    run_interleaved,
    select,
    summarize,
    threaded,
    timed,
    unset_blas_overrides,
)
from nablanet.datasets.sequences import (
    SequenceData,
    pad,
    read_sequence_csv,
    write_sequence_csv,
)

N_SEQUENCES, N_ROWS, N_FEATURES = 28_549, 284_807, 29


def fraud_like(seed: int = 0) -> SequenceData:
    """Random sequences of the fraud file's shape: 284,807 steps, 29 features, 1 label."""
    rng = np.random.default_rng(seed)
    lengths = np.full(N_SEQUENCES, 10)
    lengths[rng.choice(N_SEQUENCES, 10 * N_SEQUENCES - N_ROWS, replace=False)] -= 1
    bounds = np.cumsum(lengths)[:-1]
    features = rng.standard_normal((N_ROWS, N_FEATURES))
    labels = (rng.random((N_ROWS, 1)) < 0.002).astype(np.float64)
    return SequenceData(
        names=[f"seq_{i:05d}" for i in range(N_SEQUENCES)],
        features=np.split(features, bounds),
        labels=np.split(labels, bounds),
        feature_names=[f"x{k}" for k in range(1, N_FEATURES + 1)],
        label_names=["y1"],
    )


def stdlib_parse(path: Path) -> int:
    """Split every line of ``path`` into fields with the csv module; return the row count."""
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f))


def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=5, backends=False)
    args = parser.parse_args()
    apply_quick(args)
    notes: list[str] = []
    polars = optional("polars", notes)
    pandas = optional("pandas", notes)

    with tempfile.TemporaryDirectory() as tmp:
        path = write_sequence_csv(fraud_like(), Path(tmp) / "fraud_like.csv")
        size_mb = path.stat().st_size / 1e6
        data = read_sequence_csv(path)
        base = [
            Row("read_sequence_csv", timed(lambda: read_sequence_csv(path))),
            Row("csv.reader", timed(lambda: stdlib_parse(path))),
            Row("pad(features)", timed(lambda: pad(data.features))),
        ]
        if polars is not None:
            base.append(Row("polars.read_csv", timed(lambda: polars.read_csv(path))))
        if pandas is not None:
            base.append(Row("pandas.read_csv", timed(lambda: pandas.read_csv(path))))
        rows = select([r for n in args.threads for r in threaded(base, n)], args.only)
        times = run_interleaved(rows, args.repeats, args.warmup)
        machine = machine_info()

    stats = summarize(times)
    med = {name: v["median"] for name, v in stats.items()}
    lines = [[name, fmt(m), fmt(ratio(med, name, "read_sequence_csv " + name.rsplit(" ", 1)[1]),
                                ".2f")] for name, m in med.items()]
    notes.insert(0, f"file: {N_ROWS} rows x {N_FEATURES + 2} columns, {len(data)} sequences, "
                    f"{size_mb:.0f} MB; median of {args.repeats} interleaved rounds")
    print_table("Loading a fraud-shaped sequence CSV", ["case", "median s", "÷ read_sequence_csv"],
                lines, notes)
    emit_json({
        "benchmark": "csv_load",
        "rows": N_ROWS,
        "sequences": len(data),
        "file_mb": round(size_mb, 1),
        "repeats": args.repeats,
        "quick": args.quick,
        "median_s": {name: round(m, 4) for name, m in med.items()},
        "stats": stats,
        "machine": machine,
    })


if __name__ == "__main__":
    main()
