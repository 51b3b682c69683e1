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

Usage::

    python benchmarks/sweep.py [--repeats 2] [--mnist DIR] [--only mlp]

Prints a table, then one line ``JSON {...}`` with every number and the machine.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from _common import Row, add_common_args, emit_json, machine_info, print_table, run_interleaved
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_args(parser, repeats=2, backends=False)
    parser.add_argument("--mnist", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/mnist-10k",
                        help="directory of the MNIST-10k IDX files")
    parser.set_defaults(warmup=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
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
