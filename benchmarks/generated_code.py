"""Per-sequence latency and throughput of the Rust and C that ``nablanet export`` writes,
against ``nablanet rnn predict`` (the whole command, and ``predict_proba`` in-process),
onnxruntime on the exported ONNX graph and the Rust seed's own forward pass: one run,
interleaved rounds, medians and ratios (issue 25).

Workload: the Rust seed's fraud-shaped CSV (``csv_load.fraud_like``: 28,549 sequences of
9-10 steps, 29 features, one 0/1 label per step, seeded). For each cell (``--cells``:
the seed-sized RNN 29 -> 10 -> 1, tanh, and an LSTM and a GRU of that size), a model is
trained by ``nablanet rnn train --rnn-rust --cell CELL --epochs 1`` on the first 300
sequences (the weights' values do not change the timings) and exported with ``nablanet
export`` to Rust, C, their ``--program`` scorers and ONNX (float32). All rows score every
step of every sequence (``target every``) in float64 unless marked f32.

Rows, for each cell:

* ``generated-rust b1`` / ``generated-c b1`` -- the generated ``predict`` compiled with
  ``rustc -O`` / ``cc -O2`` into a small harness (written here) that reads the sequences
  (raw features: the model's scaling is built in), runs one untimed pass, then times one pass of
  one ``predict`` call per sequence in-process and prints the seconds and the sum of the
  outputs, which must equal ``predict_proba``'s (relative 1e-9);
* ``rust-seed b1`` (RNN only) -- the seed's own ``RNN::predict`` (``RNN<29, 10, 1>``,
  its random weights) on every sequence of the same CSV after its own ``normalize``,
  timed in-process by a harness ``main.rs`` built at run time in a temporary copy of the
  seed's sources (``../shared/peers/rnn-rust``; its dependencies come from its
  ``build.sh``, which needs cargo); skipped with a note without them;
* ``nablanet b1`` -- ``model.predict_proba`` on one raw sequence at a time (the model
  scales it), on the first ``--b1-sequences`` (default 2,000); ``nablanet bN`` -- one
  ``predict_proba`` call on all N sequences (padded, with the mask): the throughput of
  the library;
* ``onnxruntime b1 f32`` / ``bN f32`` -- ``InferenceSession.run`` on the exported graph
  (onnxruntime runs recurrent graphs in float32 only), one sequence at a time on the
  first ``--b1-sequences``, and all at once;
* ``CLI nablanet rnn predict`` / ``CLI rust --program`` / ``CLI c --program`` -- the whole
  command a user runs on the CSV, wall clock of the subprocess (interpreter start, CSV
  parsing, scoring and writing the predictions CSV); the scorers' output is checked
  against ``nablanet rnn predict``'s once (labels identical, scores to 1e-9).

Usage::

    python benchmarks/generated_code.py [--repeats 5] [--cells rnn,lstm,gru]
        [--b1-sequences 2000] [--threads 1] [--only rust,c] [--quick] [--no-save]

Prints a table, then one line ``JSON {...}``, which is also appended to
``benchmarks/results/<cpu-model>.jsonl`` (unless ``--no-save`` or ``--quick``).
"""

from __future__ import annotations

import argparse
import csv
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
    blas_kernel,
    emit_json,
    fmt,
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
from rnn_epoch import RUST_SEED, rust_binary, write_csv

CELLS = ("rnn", "lstm", "gru")
TRAIN_SEQUENCES = 300
NABLANET = [sys.executable, "-m", "nablanet", "-q"]

RUST_HARNESS = r"""
mod model;
/// Times one pass of `model::predict` over the sequences of a file written by
/// generated_code.py: u64 n, then per sequence u64 steps and steps x N_INPUTS f64.
fn main() {
    let path = std::env::args().nth(1).expect("usage: harness SEQUENCES.bin");
    let bytes = std::fs::read(path).expect("reading the sequences");
    let word = |k: usize| u64::from_le_bytes(bytes[k..k + 8].try_into().unwrap());
    let n = word(0) as usize;
    let (mut at, mut sequences) = (8, Vec::with_capacity(n));
    for _ in 0..n {
        let m = word(at) as usize * model::N_INPUTS;
        sequences.push((0..m).map(|k| f64::from_bits(word(at + 8 + 8 * k))).collect::<Vec<_>>());
        at += 8 + 8 * m;
    }
    let pass = || -> f64 {
        sequences.iter().map(|x| {
            model::predict(std::hint::black_box(x)).iter().map(|&v| f64::from(v)).sum::<f64>()
        }).sum()
    };
    pass();
    let start = std::time::Instant::now();
    let total = pass();
    println!("{:e} {} {:e}", start.elapsed().as_secs_f64(), n, total);
}
"""

C_HARNESS = r"""
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "model.h"

/* Times one pass of predict over the sequences of a file written by generated_code.py:
   u64 n, then per sequence u64 steps and steps x N_INPUTS doubles (little-endian). */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static unsigned long long n, *steps;
static double **x;
static real *y;

static double pass(void)
{
    double total = 0;
    unsigned long long i, k, m;
    for (i = 0; i < n; i++) {
        predict(x[i], (size_t)steps[i], y);
        m = TARGET_EVERY ? steps[i] * N_OUTPUTS : N_OUTPUTS;
        for (k = 0; k < m; k++)
            total += (double)y[k];
    }
    return total;
}

int main(int argc, char **argv)
{
    FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
    unsigned long long i, most = 1;
    double start, total;
    if (!f || fread(&n, 8, 1, f) != 1)
        return 1;
    steps = malloc(n * sizeof *steps);
    x = malloc(n * sizeof *x);
    for (i = 0; i < n; i++) {
        if (fread(&steps[i], 8, 1, f) != 1)
            return 1;
        x[i] = malloc(steps[i] * N_INPUTS * sizeof **x);
        if (fread(x[i], sizeof **x, steps[i] * N_INPUTS, f) != steps[i] * N_INPUTS)
            return 1;
        most = steps[i] > most ? steps[i] : most;
    }
    y = malloc(most * N_OUTPUTS * sizeof *y);
    pass();
    start = now();
    total = pass();
    printf("%.9e %llu %.17e\n", now() - start, n, total);
    return 0;
}
"""

SEED_HARNESS = r"""
#![allow(dead_code, unused_imports)]
mod data;
mod model;
mod utils;

use crate::data::Dataset;
use crate::model::RNN;
use crate::model::activation::ActivationFunction;
use crate::model::loss::LossFunction;
use crate::model::optimizer::{Optimizer, SGD};

/// The seed's forward pass, timed: RNN::predict on every sequence of RNN_CSV.
fn main() {
    let path = std::env::var("RNN_CSV").expect("RNN_CSV");
    let mut dataset: Dataset<29, 1> = Dataset::from_csv(path.into()).expect("reading RNN_CSV");
    dataset.normalize();
    let model = RNN::<29, 10, 1>::new(ActivationFunction::Tanh, LossFunction::MSE,
                                      SGD::new(0.001).boxed());
    let pass = || -> f64 {
        dataset.sequences.iter()
            .map(|s| model.predict(std::hint::black_box(s)).iter().map(|y| y.data[0]).sum::<f64>())
            .sum()
    };
    pass();
    let start = std::time::Instant::now();
    let total = pass();
    println!("{:e} {} {:e}", start.elapsed().as_secs_f64(), dataset.sequences.len(), total);
}
"""


def run(cmd, **kw) -> subprocess.CompletedProcess:
    """``subprocess.run`` that stops the benchmark with the command's error output."""
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if done.returncode:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({done.returncode}):\n{done.stderr}")
    return done


def write_sequences(path: Path, sequences: list[np.ndarray]) -> None:
    """The harnesses' input: u64 n, then per sequence u64 steps and its raw features."""
    with open(path, "wb") as f:
        f.write(np.uint64(len(sequences)).tobytes())
        for x in sequences:
            f.write(np.uint64(len(x)).tobytes() + np.ascontiguousarray(x, "<f8").tobytes())


def harness_row(name: str, exe: Path, data: Path, expected: float, info: dict) -> Row:
    """A compiled harness timing one in-process pass; checks the sum of its outputs."""
    def once() -> float:
        seconds, _, total = run([exe, data]).stdout.split()
        if "generated" in name and not abs(float(total) - expected) <= 1e-9 * abs(expected):
            sys.exit(f"{name}: the sum of the outputs is {total}, predict_proba's {expected}")
        return float(seconds)

    return Row(name, once, info)


def seed_harness(tmp: Path, notes: list[str]) -> Path | None:
    """The seed's sources copied to ``tmp`` with :data:`SEED_HARNESS` as ``main.rs``,
    built offline with cargo (the dependencies ``build.sh`` installs); None, with a
    note, when that is impossible."""
    if rust_binary(None, notes) is None:  # installs the seed's crates, builds the seed
        return None
    work = tmp / "seed-forward"
    shutil.copytree(RUST_SEED, work, ignore=shutil.ignore_patterns("target"))
    (work / "src" / "main.rs").write_text(SEED_HARNESS)
    target = Path(tempfile.gettempdir()) / "rnn-rust-forward-target"
    print("building the Rust seed's forward-pass harness", file=sys.stderr, flush=True)
    done = subprocess.run(["cargo", "build", "--release", "-q"], cwd=work, text=True,
                          capture_output=True, env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    if done.returncode:
        notes.append("Rust seed rows skipped: its forward-pass harness did not build: "
                     + (done.stderr.strip().splitlines() or ["no output"])[-1])
        return None
    return target / "release" / "rnn-rust"


def compile_model(lang: str, tmp: Path, harness: str | None) -> Path:
    """``model.rs`` or ``model.c`` in ``tmp`` compiled (with ``harness`` as main when
    given, else the file's own ``--program`` main)."""
    if lang == "rust":
        exe = tmp / ("harness-rs" if harness else "scorer-rs")
        main = tmp / "main.rs"
        if harness:
            main.write_text(harness)
        run(["rustc", "-O", "--edition", "2021", "-o", exe,
             main if harness else tmp / "scorer.rs"])
    else:
        exe = tmp / ("harness-c" if harness else "scorer-c")
        sources = [tmp / "model.c", tmp / "main.c"] if harness else [tmp / "scorer.c"]
        if harness:
            (tmp / "main.c").write_text(harness)
        run(["cc", "-O2", "-o", exe, *sources, "-lm"])
    return exe


def same_predictions(got: Path, ref: Path) -> bool:
    """``got`` and ``ref`` (prediction CSVs) have the same rows, scores equal to 1e-9."""
    with open(got, newline="") as g, open(ref, newline="") as r:
        a, b = list(csv.reader(g)), list(csv.reader(r))
    if len(a) != len(b) or a[0] != b[0]:
        return False
    return all(x[:2] == y[:2] and x[3:] == y[3:] and abs(float(x[2]) - float(y[2])) <= 1e-9
               for x, y in zip(a[1:], b[1:], strict=True))


def cell_rows(cell: str, work: Path, csv_path: Path, seqs, args, ort, notes) -> list[Row]:
    """Train, export and compile one cell's model; its rows."""
    from nablanet.datasets.sequences import pad, read_sequence_csv, write_sequence_csv
    from nablanet.models.scorer import SequenceScorer

    work.mkdir()
    data = read_sequence_csv(csv_path)
    train = write_sequence_csv(data.subset(np.arange(min(TRAIN_SEQUENCES, len(data)))),
                               work / "train.csv")
    m = work / "m.safetensors"
    run([*NABLANET, "rnn", "train", train, "--rnn-rust", "--cell", cell, "--epochs", "1",
         "--model-out", m])
    outputs = [("model.rs", []), ("model.c", []), ("scorer.rs", ["--program"]),
               ("scorer.c", ["--program"])] + ([("model.onnx", [])] if ort else [])
    for out, extra in outputs:
        run([*NABLANET, "export", "-m", m, "-o", work / out, *extra])
    scorer = SequenceScorer.load(m)
    model = scorer.model  # with its min-max scaling: raw features in
    X, M = pad(data.features)
    expected = float(model.predict_proba(X, M)[M].sum())
    n, b1 = len(seqs), min(args.b1_sequences, len(seqs))
    per_sequence = [x[None] for x in data.features[:b1]]
    bin_path = work / "sequences.bin"
    write_sequences(bin_path, seqs)
    info = {"cell": cell, "sequences": n, "dtype": "f64", "batch": 1}
    rows = [
        harness_row(f"{cell} generated-rust b1", compile_model("rust", work, RUST_HARNESS),
                    bin_path, expected, {**info, "impl": "generated-rust", "compiler":
                                         "rustc -O", "kind": "in-process"}),
        harness_row(f"{cell} generated-c b1", compile_model("c", work, C_HARNESS), bin_path,
                    expected, {**info, "impl": "generated-c", "compiler": "cc -O2",
                               "kind": "in-process"}),
    ]
    if cell == "rnn" and args.seed_exe is not None:
        seed_env = {**os.environ, "RNN_CSV": str(csv_path)}
        rows.append(Row(f"{cell} rust-seed b1",
                        lambda: float(run([args.seed_exe], env=seed_env).stdout.split()[0]),
                        {**info, "impl": "rust-seed", "kind": "in-process",
                         "timed": "RNN::predict per sequence, the seed's random weights"}))

    def b1_loop(predict) -> float:
        start = time.perf_counter()
        for x in per_sequence:
            predict(x)
        return (time.perf_counter() - start) * n / b1

    def timed_call(fn) -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    rows += [
        Row(f"{cell} nablanet b1", lambda: b1_loop(model.predict_proba),
            {**info, "impl": "nablanet", "kind": "in-process",
             "timed": f"predict_proba per sequence, {b1} sequences scaled to {n}"}),
        Row(f"{cell} nablanet b{n}", lambda: timed_call(lambda: model.predict_proba(X, M)),
            {**info, "batch": n, "impl": "nablanet", "kind": "in-process",
             "timed": "one predict_proba call on every sequence (padded, masked)"}),
    ]
    if ort is not None:
        options = ort.SessionOptions()
        if args.threads is not None:
            options.intra_op_num_threads = options.inter_op_num_threads = args.threads
        session = ort.InferenceSession(str(work / "model.onnx"), options,
                                       providers=["CPUExecutionProvider"])
        raw = [x[None].astype(np.float32) for x in seqs[:b1]]
        lens = [np.array([len(x[0])], np.int32) for x in raw]
        Xr, _ = pad(seqs, dtype=np.float32)
        all_lens = M.sum(axis=1).astype(np.int32)

        def ort_b1() -> float:
            start = time.perf_counter()
            for x, k in zip(raw, lens, strict=True):
                session.run(None, {"X": x, "sequence_lens": k})
            return (time.perf_counter() - start) * n / b1

        got = session.run(None, {"X": Xr, "sequence_lens": all_lens})[0]
        if not np.allclose(got[M].sum(), expected, rtol=1e-4):
            sys.exit(f"{cell} onnxruntime: sum of outputs {got[M].sum()}, expected {expected}")
        rows += [
            Row(f"{cell} onnxruntime b1 f32", ort_b1,
                {**info, "dtype": "f32", "impl": "onnxruntime", "kind": "in-process",
                 "timed": f"InferenceSession.run per sequence, {b1} scaled to {n}"}),
            Row(f"{cell} onnxruntime b{n} f32",
                lambda: timed_call(lambda: session.run(None, {"X": Xr,
                                                              "sequence_lens": all_lens})),
                {**info, "dtype": "f32", "batch": n, "impl": "onnxruntime",
                 "kind": "in-process", "timed": "one InferenceSession.run on every sequence"}),
        ]
    ref = work / "ref.csv"
    env = dict(os.environ)
    if args.threads is not None:
        env.update(OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))

    def cli(cmd, out: Path) -> float:
        out.unlink(missing_ok=True)
        start = time.perf_counter()
        with open(out, "wb") as f:
            done = subprocess.run([str(c) for c in cmd], stdout=f, stderr=subprocess.PIPE,
                                  env=env)
        seconds = time.perf_counter() - start
        if done.returncode:
            sys.exit(f"{cmd[0]} failed: {done.stderr.decode()}")
        return seconds

    cli([*NABLANET, "rnn", "predict", csv_path, "-m", m], ref)
    kind = {**info, "kind": "command", "batch": None}
    rows.append(Row(f"{cell} CLI nablanet rnn predict",
                    lambda: cli([*NABLANET, "rnn", "predict", csv_path, "-m", m],
                                work / "nablanet.csv"),
                    {**kind, "impl": "nablanet", "timed": "nablanet rnn predict DATA.csv, "
                     "wall clock of the process"}))
    for lang in ("rust", "c"):
        exe = compile_model(lang, work, None)
        out = work / f"{lang}.csv"
        cli([exe, csv_path], out)
        if not same_predictions(out, ref):
            sys.exit(f"{cell}: the {lang} scorer's predictions differ from nablanet rnn "
                     "predict's")
        rows.append(Row(f"{cell} CLI {lang} --program",
                        lambda exe=exe, out=out: cli([exe, csv_path], out),
                        {**kind, "impl": f"generated-{lang}", "timed": "./scorer DATA.csv, "
                         "wall clock of the process"}))
    sizes = {suffix: (work / f"model{suffix}").stat().st_size for suffix in (".rs", ".c")}
    notes.append(f"{cell}: generated source {sizes['.rs'] / 1024:.1f} KiB Rust, "
                 f"{sizes['.c'] / 1024:.1f} KiB C (+ header)")
    for row in rows:
        row.info["source_bytes"] = sizes
    return rows


def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=5, backends=False)
    parser.add_argument("--cells", default=",".join(CELLS),
                        help="comma-separated: rnn, lstm, gru (default all)")
    parser.add_argument("--b1-sequences", type=int, default=2000,
                        help="time the Python-level batch-1 loops (nablanet, onnxruntime) on "
                             "this many sequences and scale (default 2000)")
    parser.add_argument("--no-save", action="store_true",
                        help="do not append the JSON line to benchmarks/results/")
    args = parser.parse_args()
    apply_quick(args)
    args.threads = args.threads[0]  # one setting, the first of --threads (default 1)
    if args.quick:
        args.b1_sequences = min(args.b1_sequences, 200)
    cells = [c.strip() for c in args.cells.split(",") if c.strip()]
    if not cells or set(cells) - set(CELLS):
        sys.exit(f"--cells: expected some of {', '.join(CELLS)}, got {args.cells!r}")
    notes: list[str] = []
    for tool, hint in (("rustc", "rustup, or apt-get install rustc"),
                       ("cc", "apt-get install gcc")):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} not found: {hint}")
    ort = optional("onnxruntime", notes) if optional("onnx", notes) else None
    with thread_limits(args.threads), tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        csv_path = write_csv(tmp, 2_000 if args.quick else None)
        args.seed_exe = seed_harness(tmp, notes) if "rnn" in cells else None
        from nablanet.datasets.sequences import read_sequence_csv

        seqs = read_sequence_csv(csv_path).features
        rows: list[Row] = []
        for cell in cells:
            print(f"preparing {cell}: train, export, compile", file=sys.stderr, flush=True)
            rows += cell_rows(cell, tmp / cell, csv_path, seqs, args, ort, notes)
        rows = select(rows, args.only)
        times = run_interleaved(rows, args.repeats, args.warmup)
        machine = machine_info(args.threads)

    stats = summarize(times)
    med = {k: v["median"] for k, v in stats.items()}
    n = len(seqs)
    results, lines = {}, []
    for row in rows:
        cell = row.info["cell"]
        r = {**row.info, **stats[row.name]}
        r["us_per_sequence"] = 1e6 * med[row.name] / n
        r["sequences_per_s"] = n / med[row.name]
        r["vs_generated_rust"] = ratio(med, row.name, f"{cell} generated-rust b1")
        r["vs_nablanet_cli"] = (ratio(med, row.name, f"{cell} CLI nablanet rnn predict")
                                if row.info["kind"] == "command" else None)
        lines.append([row.name, fmt(r["us_per_sequence"], ".2f"),
                      f"{fmt(1e6 * r['min'] / n, '.2f')}-{fmt(1e6 * r['max'] / n, '.2f')}",
                      fmt(r["sequences_per_s"], ",.0f"), fmt(r["vs_generated_rust"], ".2f"),
                      fmt(r["vs_nablanet_cli"], ".3f")])
        results[row.name] = r
    notes += [
        f"CPU: {machine['cpu']} ({machine['cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in machine['loadavg'] or [])} at the end); BLAS: "
        f"{blas_kernel(machine)}; onnxruntime {getattr(ort, '__version__', '-')}",
        f"{n} sequences x 9-10 steps x 29 features, hidden 10, 1 output at every step; "
        f"median of {args.repeats} interleaved rounds (after {args.warmup} warm-up); "
        f"µs/sequence = a round's seconds / {n}",
        "in-process rows time the scoring only; CLI rows the whole process (start, read "
        "the CSV, score, write the predictions)",
        "÷ gen. Rust: time ratio to the generated Rust in-process (< 1 = faster); "
        "÷ CLI: the CLI rows' time ratio to nablanet rnn predict",
    ]
    print_table(f"Generated code vs nablanet, onnxruntime and the Rust seed ({n} sequences)",
                ["row", "µs/sequence", "min-max", "sequences/s", "÷ gen. Rust", "÷ CLI"],
                lines, notes)
    payload = {
        "benchmark": "generated_code", "n_sequences": n, "cells": cells,
        "repeats": args.repeats, "warmup": args.warmup, "quick": args.quick,
        "b1_sequences": args.b1_sequences, "rows": results, "notes": notes,
        "machine": machine,
    }
    emit_json(payload, save=not (args.no_save or args.only))


if __name__ == "__main__":
    main()
