"""Peak memory of ``nablanet rnn predict`` on a large fraud-shaped sequence CSV.

Writes (once, into ``--dir``) a CSV in the seed's format (``name,t,x1..x29,y1``) of
``--sequences`` sequences of 9 to 11 steps, features at 6 decimals (220,000 sequences:
~600 MB, the issue's figure), trains a GRU on its first 2,000 sequences (in this
process), then runs ``nablanet rnn predict FILE -m MODEL -o OUT`` as a subprocess and
reports its peak resident memory (``ru_maxrss``, measured by a small process in
between), its wall
time and rows per second. With ``--whole``, also the peak of scoring the file read at
once (``read_sequence_csv`` + the same scorer), in a second subprocess, for comparison.

Usage: ``python benchmarks/predict_memory.py [--sequences 220000] [--dir /tmp/pm]``.
Prints a table and a JSON line (``JSON {...}``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import emit_json, machine_info, print_table

N_FEATURES = 29
SRC = Path(__file__).resolve().parents[1] / "src"

WHOLE = """
import sys
from nablanet.datasets.sequences import read_sequence_csv
from nablanet.models.scorer import SequenceScorer
from nablanet.scoring import score_exactly
score = SequenceScorer.load(sys.argv[2]).score
columns = score_exactly(score, read_sequence_csv(sys.argv[1]))
print(len(columns["name"]))
"""


def write_fraud_shaped(path: Path, n_sequences: int, seed: int = 0) -> None:
    """``n_sequences`` random sequences of 9-11 steps, written a block at a time."""
    rng = np.random.default_rng(seed)
    header = ",".join(["name", "t", *(f"x{k}" for k in range(1, N_FEATURES + 1)), "y1"])
    with path.open("w") as f:
        f.write(header + "\n")
        for start in range(0, n_sequences, 10_000):
            lengths = rng.integers(9, 12, size=min(10_000, n_sequences - start))
            names = np.repeat([f"seq_{start + i:06d}" for i in range(len(lengths))], lengths)
            t = np.concatenate([np.arange(n) for n in lengths])
            x = rng.standard_normal((len(t), N_FEATURES))
            y = (rng.random(len(t)) < 0.002).astype(int)
            body = np.column_stack([names, t, np.char.mod("%.6f", x), y])
            f.write("\n".join(",".join(row) for row in body.tolist()) + "\n")


#: run ``argv[1:]``, print its peak resident memory in KiB (its ``ru_maxrss``)
PEAK_OF = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
           "stdout=subprocess.DEVNULL); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def peak_of(args: list[str], env: dict) -> tuple[float, float]:
    """``(peak MB, seconds)`` of the command ``args``, run by a small Python process in
    between: a child's peak counts its parent's at the fork (Linux records the old
    memory's high-water mark at exec), and this process holds the generated data."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", PEAK_OF, *args], check=True, env=env,
                         capture_output=True, text=True).stdout
    return int(out) / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=220_000)
    parser.add_argument("--dir", default=None, help="where the file is kept between runs")
    parser.add_argument("--whole", action="store_true",
                        help="also the peak of scoring the whole file at once")
    args = parser.parse_args()
    from click.testing import CliRunner

    from nablanet.cli import cli

    work = Path(args.dir or tempfile.mkdtemp(prefix="predict_memory."))
    work.mkdir(parents=True, exist_ok=True)
    data = work / f"fraud-{args.sequences}.csv"
    if not data.exists():
        write_fraud_shaped(data, args.sequences)
    train, model = work / "train.csv", work / "m.safetensors"
    if not model.exists():
        write_fraud_shaped(train, 2000, seed=1)
        result = CliRunner().invoke(cli, ["rnn", "train", str(train), "--cell", "gru",
                                          "--epochs", "1", "--model-out", str(model), "-q"])
        assert result.exit_code == 0, result.output
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}
    out = work / "predictions.csv"
    peak, seconds = peak_of([sys.executable, "-m", "nablanet", "rnn", "predict", str(data),
                             "-m", str(model), "-o", str(out), "-q"], env)
    rows = sum(1 for _ in out.open()) - 1
    size_mb = data.stat().st_size / 1e6
    lines = [["rnn predict (streamed)", f"{peak:.0f}", f"{seconds:.1f}", f"{rows / seconds:,.0f}"]]
    result = {"benchmark": "predict_memory", "file_mb": round(size_mb, 1),
              "sequences": args.sequences, "rows": rows, "streamed_peak_mb": round(peak),
              "streamed_s": round(seconds, 2)}
    if args.whole:
        whole_peak, whole_s = peak_of([sys.executable, "-c", WHOLE, str(data), str(model)], env)
        lines.append(["whole file at once", f"{whole_peak:.0f}", f"{whole_s:.1f}",
                      f"{rows / whole_s:,.0f}"])
        result.update(whole_peak_mb=round(whole_peak), whole_s=round(whole_s, 2))
    print_table(f"nablanet rnn predict on a {size_mb:.0f} MB fraud-shaped CSV "
                f"({args.sequences:,} sequences, {rows:,} rows)",
                ["case", "peak MB", "seconds", "rows/s"], lines,
                [f"CPU: {machine_info()['cpu']}"])
    emit_json({**result, "machine": machine_info()})


if __name__ == "__main__":
    main()
