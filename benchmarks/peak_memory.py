"""Peak resident memory of the jobs users run: the demo and ``rnn train`` on a seed-sized CSV.

Each job runs as a subprocess of a small Python process that prints its ``ru_maxrss`` (a
child's peak counts its parent's at the fork, so the measuring process is kept small);
one epoch each, evaluation included (the peak is reached in the first epoch):

* ``demo numpy`` / ``demo numba`` -- ``make demo``'s command (``nablanet train
  fashion-mnist --sizes 784,30,10 --batch-size 10 --eta 3.0 --seed 1``) with ``--backend
  numpy``, and at its default (the Numba kernel when installed), when Fashion-MNIST is
  installed (Debian's dataset-fashion-mnist);
* ``rnn train numpy`` / ``rnn train --rnn-rust`` -- ``nablanet rnn train FILE --epochs 1
  --eval-every 1`` on :func:`csv_load.fraud_like`'s 167 MB CSV (284,807 rows x 29
  features), the binary task's defaults on the NumPy backend, and the seed's configuration
  (the Numba kernel when installed);
* ``rust seed`` -- the Rust seed on the same file (``RNN_EPOCHS=1``), when its binary is
  given (``--seed-exe``, built by ``../shared/peers/rnn-rust/build.sh``).

The jobs with a Numba kernel run once first, so that the kernel is loaded from its disk
cache as users' later runs load it (a run that compiles peaks higher).

Memory, unlike time, does not depend on the machine's other load. Usage: ``python
benchmarks/peak_memory.py [--repeats 2] [--seed-exe PATH]``. Prints a table and a JSON
line (``JSON {...}``, appended to ``benchmarks/results/<cpu>.jsonl``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import emit_json, machine_info, print_table
from csv_load import fraud_like
from nablanet.datasets.mnist import SYSTEM_DIRS
from nablanet.datasets.sequences import write_sequence_csv

SRC = Path(__file__).resolve().parents[1] / "src"
#: run ``argv[1:]``, print its peak resident memory in KiB (its ``ru_maxrss``)
PEAK_OF = ("import resource, subprocess, sys; "
           "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
           "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
DEMO = ["train", "fashion-mnist", "--sizes", "784,30,10", "--epochs", "1", "--batch-size",
        "10", "--eta", "3.0", "--seed", "1", "--offline", "-q"]


def peak_mb(argv: list[str], cwd: Path, env: dict | None = None) -> float:
    """Peak resident memory (MB) of the process ``argv``."""
    env = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    done = subprocess.run([sys.executable, "-c", PEAK_OF, *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="runs of each job")
    parser.add_argument("--seed-exe", type=Path, default=None,
                        help="the Rust seed's release binary (its build.sh prints it)")
    args = parser.parse_args()
    nablanet = [sys.executable, "-m", "nablanet"]
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv = str(write_sequence_csv(fraud_like(), work / "fraud.csv"))
        jobs = {}
        if (SYSTEM_DIRS["fashion-mnist"][0] / "train-images-idx3-ubyte.gz").exists():
            jobs["demo numpy"] = ([*nablanet, *DEMO, "--backend", "numpy"], None)
            jobs["demo numba"] = ([*nablanet, *DEMO], None)
        else:
            notes.append("demo rows skipped: Fashion-MNIST is not installed")
        train = [*nablanet, "rnn", "train", csv, "--epochs", "1", "--eval-every", "1", "-q"]
        jobs["rnn train numpy"] = ([*train, "--backend", "numpy"], None)
        jobs["rnn train --rnn-rust"] = ([*train, "--rnn-rust"], None)
        if args.seed_exe is not None:
            jobs["rust seed"] = ([str(args.seed_exe)], {"RNN_CSV": csv, "RNN_EPOCHS": "1"})
        for name in ("demo numba", "rnn train --rnn-rust"):  # the kernels' disk cache warm
            if name in jobs:
                peak_mb(jobs[name][0], work)
        peaks: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.repeats):  # interleaved rounds
            for name, (argv, env) in jobs.items():
                peaks[name].append(round(peak_mb(argv, work, env), 1))
        size_mb = Path(csv).stat().st_size / 1e6
    notes.insert(0, f"CSV: {size_mb:.1f} MB; {args.repeats} runs of each job, interleaved")
    print_table("Peak resident memory, one epoch", ["job", "peak MB (each run)"],
                [[name, ", ".join(f"{p:.0f}" for p in runs)] for name, runs in peaks.items()],
                notes)
    emit_json({"benchmark": "peak_memory", "file_mb": round(size_mb, 1),
               "repeats": args.repeats, "peak_mb": peaks, "machine": machine_info()})


if __name__ == "__main__":
    main()
