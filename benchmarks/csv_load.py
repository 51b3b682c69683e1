"""Time loading a sequence CSV of the seed's fraud-detection shape.

The seed (``seeds/rnn-rust-readme.txt``) trains on the Kaggle credit-card file turned
into sequences: ~285,000 rows x 31 columns (name, t, 29 features, 1 label) in 28,549
sequences of ~10 steps. This script writes a synthetic file of that shape (random
normal features written at full precision, so larger than the Kaggle text) and times,
interleaved, median of ``--repeats`` runs:

* ``polars.read_csv``  -- the raw parse alone, the floor;
* ``read_sequence_csv`` -- parse, validation, grouping into sequences;
* ``pad``              -- the 28,549 feature arrays into one ``(n, T, F)`` batch;
* ``pandas.read_csv``  -- the raw parse by pandas, when installed.

Usage: ``python benchmarks/csv_load.py [--repeats 5]``. Prints a table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    try:
        import pandas
    except ImportError:
        pandas = None

    with tempfile.TemporaryDirectory() as tmp:
        path = write_sequence_csv(fraud_like(), Path(tmp) / "fraud_like.csv")
        size_mb = path.stat().st_size / 1e6
        data = read_sequence_csv(path)
        cases = {
            "polars.read_csv": lambda: pl.read_csv(path),
            "read_sequence_csv": lambda: read_sequence_csv(path),
            "pad(features)": lambda: pad(data.features),
        }
        if pandas is not None:
            cases["pandas.read_csv"] = lambda: pandas.read_csv(path)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.repeats):
            for name, case in cases.items():
                start = time.perf_counter()
                case()
                times[name].append(time.perf_counter() - start)

    medians = {name: statistics.median(t) for name, t in times.items()}
    print(
        f"file: {N_ROWS} rows x {N_FEATURES + 2} columns, {len(data)} sequences, "
        f"{size_mb:.0f} MB; median of {args.repeats}"
    )
    print(f"{'case':<20} {'median s':>10} {'vs read_sequence_csv':>22}")
    for name, median in medians.items():
        print(f"{name:<20} {median:>10.3f} {median / medians['read_sequence_csv']:>22.2f}")
    print(
        json.dumps(
            {
                "benchmark": "csv_load",
                "rows": N_ROWS,
                "sequences": len(data),
                "file_mb": round(size_mb, 1),
                "repeats": args.repeats,
                "median_s": {name: round(m, 4) for name, m in medians.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
