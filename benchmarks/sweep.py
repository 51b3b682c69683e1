"""Trials per minute of ``nablanet tune`` on the default local Dask cluster with 1 and 2
worker processes, and the scaling efficiency, for two fixed 12-trial sweeps.

Workloads (random sampler, seed 0, 12 trials each, one training seed per trial):

* ``mlp``: ``nablanet train MNIST-10k --sizes 784,30,10 --epochs 1 --backend numpy
  --validation-split 0.1`` searching ``lr`` (log-uniform 0.1-5) and ``batch-size``
  (10 or 32); scored on ``val_accuracy``;
* ``rnn``: ``nablanet rnn train`` on the JapaneseVowels training CSV (converted from
  aeon's copy), ``--task multiclass --target last --epochs 10 --batch-size 16
  --optimizer adam``, searching ``lr`` (log-uniform 0.003-0.1), ``hidden`` (8-32) and
  ``cell`` (rnn, gru); scored on ``val_accuracy`` of the held-out 20% of that file.

Rows ``mlp w1``, ``mlp w2``, ``rnn w1``, ``rnn w2`` run interleaved (``_common``); each
timed unit is a whole fresh sweep, ``nablanet.tune(space, workers=w)``. Reported per row:
the median span from the first trial's start to the last trial's end (Optuna's trial
timestamps: cluster start and the final plot excluded), trials per minute over that span,
the end-to-end seconds of the call, and the efficiency ``tpm(w2) / (2 tpm(w1))``.

``--overhead N`` measures instead what limits a large sweep: the driver's cost per trial
(Optuna ``ask`` + ``suggest`` + ``tell`` against the journal file, TPE and random, as
the study grows to N trials, with a synthetic objective) and the Dask scheduler's cost
per task (N no-op tasks through a 2-worker local cluster, submitted one by one as the
driver does).

Usage::

    python benchmarks/sweep.py [--repeats 2] [--mnist DIR] [--only mlp]
    python benchmarks/sweep.py --overhead 1000

Prints a table, then one line ``JSON {...}`` with every number and the machine.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from _common import (
    Row,
    add_common_args,
    emit_json,
    fmt,
    machine_info,
    print_table,
    run_interleaved,
)
from nablanet.tune import load_space, tune

TRIALS = 12
MLP = """\
command = "train"
data = "{data}"
trials = {trials}
sampler = "random"
seed = 0
[objective]
metric = "val_accuracy"
[options]
sizes = "784,30,10"
epochs = 1
backend = "numpy"
[params]
lr = {{ type = "log_uniform", low = 0.1, high = 5.0 }}
batch-size = {{ type = "categorical", choices = [10, 32] }}
"""
RNN = """\
command = "rnn train"
data = "{data}"
trials = {trials}
sampler = "random"
seed = 0
[objective]
metric = "val_accuracy"
[options]
task = "multiclass"
target = "last"
epochs = 10
eval-every = 10
batch-size = 16
optimizer = "adam"
backend = "numpy"
[params]
lr = {{ type = "log_uniform", low = 0.003, high = 0.1 }}
hidden = {{ type = "int", low = 8, high = 32 }}
cell = {{ type = "categorical", choices = ["rnn", "gru"] }}
"""


def sweep_row(name: str, space_text: str, workers: int, work: Path, spans: dict) -> Row:
    """A row whose unit is one fresh sweep; records the trial span in ``spans[name]``."""
    space_file = work / f"{name.replace(' ', '-')}.toml"
    space_file.write_text(space_text)
    runs = iter(range(10**6))

    def run() -> float:
        import optuna

        out = work / f"{name.replace(' ', '-')}-{next(runs)}"
        start = time.perf_counter()
        tune(load_space(space_file), out_dir=out, workers=workers)
        seconds = time.perf_counter() - start
        study = optuna.load_study(study_name=space_file.stem,
                                  storage=optuna.storages.JournalStorage(
                                      optuna.storages.journal.JournalFileBackend(
                                          str(out / "study.journal"))))
        trials = study.get_trials()
        span = (max(t.datetime_complete for t in trials)
                - min(t.datetime_start for t in trials)).total_seconds()
        spans.setdefault(name, []).append(span)
        return seconds

    return Row(name, run, {"workers": workers, "trials": TRIALS})


def overhead(n: int) -> dict:
    """Driver seconds per trial (at 10%, 50% and 100% of ``n`` trials) and scheduler
    seconds per task."""
    import numpy as np
    import optuna
    from distributed import Client, LocalCluster
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: dict = {}
    for name, sampler in (("tpe", optuna.samplers.TPESampler(seed=0)),
                          ("random", optuna.samplers.RandomSampler(seed=0))):
        with tempfile.TemporaryDirectory() as tmp:
            storage = JournalStorage(JournalFileBackend(str(Path(tmp) / "j.journal")))
            study = optuna.create_study(storage=storage, sampler=sampler)
            costs = []
            for _ in range(n):
                t0 = time.perf_counter()
                trial = study.ask()
                x = trial.suggest_float("lr", 1e-3, 1.0, log=True)
                h = trial.suggest_int("hidden", 8, 128)
                c = trial.suggest_categorical("cell", ["rnn", "gru", "lstm"])
                study.tell(trial, (np.log(x) + 3) ** 2 + (h - 40) ** 2 / 1e3 + len(c))
                costs.append(time.perf_counter() - t0)
            out[f"driver_{name}"] = {
                f"at_{k}": statistics.median(costs[max(0, k - 20):k])
                for k in (n // 10, n // 2, n)}
            out[f"driver_{name}"]["total_s"] = sum(costs)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        client.submit(abs, -1).result()
        t0 = time.perf_counter()
        futures = [client.submit(abs, -k, pure=False) for k in range(n)]
        client.gather(futures)
        out["scheduler_per_task_batch_s"] = (time.perf_counter() - t0) / n
        t0 = time.perf_counter()
        for k in range(min(n, 300)):
            client.submit(abs, -k, pure=False).result()
        out["scheduler_round_trip_s"] = (time.perf_counter() - t0) / min(n, 300)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, repeats=2, backends=False)
    parser.add_argument("--mnist", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/mnist-10k",
                        help="directory of the MNIST-10k IDX files")
    parser.add_argument("--overhead", type=int, default=None, metavar="N",
                        help="measure the driver's and the scheduler's cost per trial up "
                             "to N trials instead")
    parser.set_defaults(warmup=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.overhead:
        info = machine_info(threads=1)
        result = overhead(args.overhead)
        lines = [[k, *(fmt(1e3 * v[f"at_{m}"], ".2f") for m in (
                  args.overhead // 10, args.overhead // 2, args.overhead)),
                  fmt(v["total_s"], ".1f")]
                 for k, v in result.items() if k.startswith("driver")]
        print_table(f"driver ms per trial (ask + suggest + tell, journal file) at trial k "
                    f"({info['cpu']}, load {info['loadavg']})",
                    ["sampler", f"k={args.overhead // 10}", f"k={args.overhead // 2}",
                     f"k={args.overhead}", f"total s for {args.overhead}"], lines,
                    [f"Dask scheduler: {1e3 * result['scheduler_per_task_batch_s']:.2f} ms "
                     f"per task submitted in a batch, "
                     f"{1e3 * result['scheduler_round_trip_s']:.2f} ms per round trip "
                     "(submit, run a no-op, result) one at a time"])
        emit_json({"benchmark": "sweep-overhead", "trials": args.overhead,
                   "results": result, "machine": info})
        return
    notes = ["each unit is a whole fresh sweep (cluster start, 12 trials, summary, plot); "
             "trials/min are over the span from the first trial's start to the last's end",
             "the machine is shared: other jobs run beside this one (see loadavg in the "
             "JSON), so the efficiency is a lower bound of what an idle machine gives"]
    with tempfile.TemporaryDirectory(prefix="nablanet-sweep-") as tmp:
        work = Path(tmp)
        from nablanet.datasets.convert import convert_japanese_vowels

        jv_train, _ = convert_japanese_vowels(work / "jv")
        spaces = {"mlp": MLP.format(data=args.mnist.resolve(), trials=TRIALS),
                  "rnn": RNN.format(data=jv_train, trials=TRIALS)}
        spans: dict[str, list[float]] = {}
        rows = [sweep_row(f"{w} w{n}", text, n, work, spans)
                for w, text in spaces.items() for n in (1, 2)]
        if args.only:
            rows = [r for r in rows if any(k in r.name for k in args.only.split(","))]
        times = run_interleaved(rows, args.repeats, args.warmup)
    result = {}
    for row in rows:
        span = statistics.median(spans[row.name][-args.repeats:])
        result[row.name] = {"end_to_end_s": statistics.median(times[row.name]),
                            "span_s": span, "trials_per_min": 60 * TRIALS / span,
                            "samples_end_to_end": times[row.name],
                            "samples_span": spans[row.name]}
    for workload in spaces:
        one, two = result.get(f"{workload} w1"), result.get(f"{workload} w2")
        if one and two:
            two["efficiency"] = two["trials_per_min"] / (2 * one["trials_per_min"])
    info = machine_info(threads=1)
    workers = {row.name: row.info["workers"] for row in rows}
    lines = [[name, str(workers[name]), f"{r['span_s']:.1f}", f"{r['trials_per_min']:.1f}",
              f"{r['end_to_end_s']:.1f}", f"{r['efficiency']:.2f}" if "efficiency" in r else "-"]
             for name, r in result.items()]
    print_table(f"nablanet tune: {TRIALS}-trial sweeps, medians of {args.repeats} "
                f"({info['cpu']}, {info['cpus']} CPUs, load {info['loadavg']})",
                ["sweep", "workers", "span s", "trials/min", "end-to-end s", "efficiency"],
                lines, notes)
    emit_json({"benchmark": "sweep", "trials": TRIALS, "results": result, "machine": info})


if __name__ == "__main__":
    main()
