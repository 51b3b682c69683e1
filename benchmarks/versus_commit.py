"""Seconds per epoch of this checkout against another checkout of nablanet (the commit
before a refactor, say), interleaved run by run, medians and ratios: the speed table of
issue 14 ("no figure may regress by more than 5%").

Two versions of one package cannot share a process, so each measurement is a fresh
subprocess running ``--worker`` with ``PYTHONPATH`` set to one checkout's ``src``; the
rounds alternate base, this, base, this, ... (the order flips every round), and every
worker times each workload ``--repeats`` times after a warm-up epoch and reports the
fastest (the machine is shared: the minimum is the least disturbed run); the table shows
the median over rounds of those minima. Workloads (training loop only,
``history["seconds"][0]`` of ``fit(epochs=1, monitor_training=False)``):

* ``mlp b10 numpy`` / ``mlp b10 numba`` -- ``Network([784, 30, 10], seed=0)`` (the
  book's), batch 10, on the first ``--mlp-n`` real MNIST images (10,000 by default);
* ``rnn b1 numba`` -- the Rust seed's workload of ``rnn_epoch.py`` (``RNN(29, 10, 1)``,
  10 steps, MSE, SGD 0.001, batch 1), on ``--rnn-n`` training sequences;
* ``lstm h128 b32`` / ``gru h128 b32`` -- ``recurrent_cells.py``'s data (30 steps x 16
  features, one output per step, MSE, SGD 0.01), hidden 128, batch 32, ``--cell-n``
  sequences, NumPy backend.

Usage::

    python benchmarks/versus_commit.py --base /tmp/house-base/src [--rounds 5]
        [--only mlp-numpy,mlp-numba,rnn-numba,lstm,gru]

Prints the CPU, the BLAS (threadpoolctl), a table of medians and the ratio this/base,
then one line ``JSON {...}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOADS = ("mlp-numpy", "mlp-numba", "rnn-numba", "lstm", "gru")
MNIST = HERE.parents[1] / "shared/data/mnist-10k/mnist10k-images-idx3-ubyte.gz"


def worker(names: list[str], args) -> dict:
    """Time each workload once (after a warm-up epoch) with the nablanet on sys.path."""
    import numpy as np

    import nablanet
    from nablanet import GRU, LSTM, RNN, SGD, Network

    out = {}
    for name in names:
        if name.startswith("mlp"):
            from nablanet.datasets.idx import read_idx

            images = read_idx(args.mnist)[:args.mlp_n]
            X = images.reshape(len(images), -1).astype(np.float64) / 255.0
            y = np.random.default_rng(0).integers(0, 10, len(X))
            net = Network([784, 30, 10], seed=0)
            backend = name.split("-")[1]

            def epoch(net=net, X=X, y=y, backend=backend, k=None):
                k = len(X) if k is None else k
                return net.fit(X[:k], y[:k], epochs=1, batch_size=10, backend=backend,
                               progress=False, monitor_training=False)["seconds"][0]
            warm = 500
        elif name == "rnn-numba":
            rng = np.random.default_rng(0)
            X = rng.random((args.rnn_n, 10, 29))
            Y = (rng.random((args.rnn_n, 10, 1)) < 0.0017).astype(np.float64)
            model = RNN(29, 10, 1, activation="tanh", output_activation="identity",
                        loss="mse", target="every", optimizer=SGD(0.001), seed=0)

            def epoch(model=model, X=X, Y=Y, k=None):
                k = len(X) if k is None else k
                return model.fit(X[:k], Y[:k], epochs=1, batch_size=1, backend="numba",
                                 progress=False, monitor_training=False)["seconds"][0]
            warm = 200
        else:
            rng = np.random.default_rng(0)
            X = rng.standard_normal((args.cell_n, 30, 16))
            Y = 0.5 * rng.standard_normal((args.cell_n, 30, 1))
            cls = {"lstm": LSTM, "gru": GRU}[name]
            model = cls(16, 128, 1, output_activation="identity", loss="mse",
                        target="every", optimizer=SGD(0.01), seed=0)

            def epoch(model=model, X=X, Y=Y, k=None):
                k = len(X) if k is None else k
                return model.fit(X[:k], Y[:k], epochs=1, batch_size=32, backend="numpy",
                                 progress=False, monitor_training=False)["seconds"][0]
            warm = 64
        epoch(k=warm)
        out[name] = min(epoch() for _ in range(args.repeats))
    out["version_file"] = nablanet.__file__
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, help="the other checkout's src directory")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", default=",".join(WORKLOADS))
    parser.add_argument("--mnist", type=Path, default=MNIST)
    parser.add_argument("--mlp-n", type=int, default=10_000)
    parser.add_argument("--rnn-n", type=int, default=5_000)
    parser.add_argument("--cell-n", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3,
                        help="epochs per worker and workload; the worker reports the fastest")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(WORKLOADS))
    if unknown:
        raise SystemExit(f"--only: expected some of {', '.join(WORKLOADS)}; got {unknown}")
    if args.worker:
        print(json.dumps(worker(names, args)))
        return
    if args.base is None or not (args.base / "nablanet").is_dir():
        raise SystemExit("--base: expected the src directory of another nablanet checkout")
    here = HERE.parent / "src"
    env = {k: v for k, v in os.environ.items()
           if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    times: dict[str, dict[str, list[float]]] = {"base": {}, "this": {}}
    cmd = [sys.executable, __file__, "--worker", "--only", ",".join(names),
           "--mnist", str(args.mnist), "--repeats", str(args.repeats), "--mlp-n",
           str(args.mlp_n), "--rnn-n", str(args.rnn_n), "--cell-n", str(args.cell_n)]
    for r in range(args.rounds):
        order = [("base", args.base), ("this", here)]
        for label, src in order if r % 2 == 0 else order[::-1]:
            run = subprocess.run(cmd, env={**env, "PYTHONPATH": str(src)},
                                 capture_output=True, text=True, cwd=HERE)
            if run.returncode:
                raise SystemExit(f"worker for {src} failed:\n{run.stderr}")
            result = json.loads(run.stdout.strip().splitlines()[-1])
            for name in names:
                times[label].setdefault(name, []).append(result[name])
            print(f"round {r + 1} {label}: " + ", ".join(
                f"{n} {result[n]:.3f}" for n in names), flush=True)
    sys.path.insert(0, str(HERE))
    from _common import machine_info

    machine = machine_info(1)
    print(f"\nCPU: {machine['cpu']} ({machine['cpus']} cpus, load {machine['loadavg']})")
    for pool in machine.get("threadpools", []):
        print(f"BLAS: {pool}")
    print(f"{'workload':<12} {'base s/epoch':>13} {'this s/epoch':>13} {'this/base':>10}")
    summary = {}
    for name in names:
        b, t = statistics.median(times["base"][name]), statistics.median(times["this"][name])
        summary[name] = {"base": b, "this": t, "ratio": t / b,
                         "base_all": times["base"][name], "this_all": times["this"][name]}
        print(f"{name:<12} {b:>13.3f} {t:>13.3f} {t / b:>10.3f}")
    print("JSON " + json.dumps({"machine": machine, "rounds": args.rounds,
                                "workloads": summary}))


if __name__ == "__main__":
    main()
