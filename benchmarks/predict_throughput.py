"""Prediction throughput: nablanet against onnxruntime and PyTorch on the same models.

The same models -- a vanilla RNN, an LSTM and a GRU on fraud-shaped sequences (29
features, 10 steps, 32 hidden units, one sigmoid output on the last step) and the book's
MLP (784-30-10, sigmoid) -- are scored by

* ``nablanet``    -- ``model.predict_proba`` (NumPy, the auto backend);
* ``onnxruntime`` -- the graph ``nablanet export`` writes (:func:`nablanet.interop.onnx.to_onnx`),
  one intra-op and one inter-op thread;
* ``torch``       -- the module :func:`nablanet.interop.torch.to_torch` builds, under
  ``torch.inference_mode``,

at batch 1 and 1,024, in float32 and float64, interleaved, one thread each (BLAS,
OpenMP, torch, onnxruntime). A timed unit is a fixed number of calls on the same batch;
the report gives the median sequences (images) per second of each row, the ratio to
onnxruntime, and the growth of the process's peak resident memory during each row's
first (warm-up) call, in MB (0 when it stayed under the peak already reached: an upper
bound on what a row adds, not a per-row peak). The CPU model and the BLAS kernel come
with the figures; the JSON line is appended to ``benchmarks/results/<cpu-model>.jsonl``.

Usage: ``python benchmarks/predict_throughput.py [--repeats 5] [--quick] [--only gru]``.
"""

from __future__ import annotations

import argparse
import resource

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
    run_interleaved,
    select,
    summarize,
    thread_limits,
    unset_blas_overrides,
)
from nablanet.models import GRU, LSTM, RNN, Network

N_FEATURES, N_STEPS, N_HIDDEN = 29, 10, 32
BATCHES = (1, 1024)
DTYPES = ("float32", "float64")


def models(dtype: str) -> dict:
    """The four models, seeded, in ``dtype``."""
    recurrent = {name: cls(N_FEATURES, N_HIDDEN, 1, output_activation="sigmoid",
                           loss="binary_cross_entropy", target="last", seed=0, dtype=dtype)
                 for name, cls in (("rnn", RNN), ("lstm", LSTM), ("gru", GRU))}
    return {**recurrent, "mlp": Network([784, 30, 10], seed=0, dtype=dtype)}


def inputs(name: str, batch: int, dtype: str, rng) -> np.ndarray:
    shape = (batch, 784) if name == "mlp" else (batch, N_STEPS, N_FEATURES)
    return rng.random(shape).astype(dtype)


def calls_per_unit(name: str, batch: int, quick: bool) -> int:
    """Calls in a timed unit: ~20-50 ms of work on a 2020s core."""
    n = (400 if name == "mlp" else 100) if batch == 1 else (20 if name == "mlp" else 2)
    return max(1, n // 10) if quick else n


def repeated(fn, calls: int):
    """A ``run`` callable: ``calls`` calls of ``fn``, timed together."""
    import time

    def run() -> float:
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        return time.perf_counter() - start

    return run


def feed_of(name: str, X: np.ndarray) -> dict:
    """The inputs of the exported graph: ``X``, and ``sequence_lens`` for a recurrent
    model (every sequence ``N_STEPS`` long)."""
    if name == "mlp":
        return {"X": X}
    return {"X": X, "sequence_lens": np.full(len(X), N_STEPS, dtype=np.int32)}


def agree(model, session, module, X, name: str, dtype: str) -> None:
    """Stop unless onnxruntime and torch give nablanet's outputs on ``X`` (to 1e-4 in
    float32, 1e-9 in float64): the rows time the same computation."""
    expected = model.predict_proba(X)
    tol = 1e-4 if dtype == "float32" else 1e-9
    if session is not None:
        got = session.run(None, feed_of(name, X))[0]
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)
    if module is not None:
        import torch

        with torch.inference_mode():
            got = module(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(got, expected, rtol=tol, atol=tol)


def build_rows(args, notes: list[str]) -> list[Row]:
    ort = optional("onnxruntime", notes)
    torch = optional("torch", notes)
    if ort is not None:
        from nablanet.interop.onnx import to_onnx
    if torch is not None:
        from nablanet.interop.torch import to_torch
    rng = np.random.default_rng(0)
    rows = []
    for dtype in DTYPES:
        for name, model in models(dtype).items():
            session = module = None
            if ort is not None:
                options = ort.SessionOptions()
                options.intra_op_num_threads = options.inter_op_num_threads = 1
                graph = to_onnx(model, dtype=np.dtype(dtype)).SerializeToString()
                probe = inputs(name, 2, dtype, rng)
                try:  # onnxruntime has no float64 RNN/LSTM/GRU kernels: probe one call
                    session = ort.InferenceSession(graph, options,
                                                   providers=["CPUExecutionProvider"])
                    session.run(None, feed_of(name, probe))
                except Exception as exc:  # its errors are pybind11 classes of Exception
                    session = None
                    notes.append(f"onnxruntime {name} {dtype}: {str(exc).split(' : ')[-1]}")
            if torch is not None:
                module = to_torch(model)
            for batch in BATCHES:
                X = inputs(name, batch, dtype, rng)
                calls = calls_per_unit(name, batch, args.quick)
                info = {"model": name, "dtype": dtype, "batch": batch, "calls": calls}
                tag = f"{name} {dtype[-2:]} b{batch}"
                rows.append(Row(f"nablanet {tag}", repeated(
                    lambda m=model, X=X: m.predict_proba(X), calls), {**info, "impl": "nablanet"}))
                if session is not None:
                    feed = feed_of(name, X)
                    rows.append(Row(f"onnxruntime {tag}", repeated(
                        lambda s=session, f=feed: s.run(None, f), calls),
                        {**info, "impl": "onnxruntime"}))
                if module is not None:
                    T = torch.from_numpy(X)

                    def call(mod=module, T=T):
                        with torch.inference_mode():
                            return mod(T)

                    rows.append(Row(f"torch {tag}", repeated(call, calls),
                                    {**info, "impl": "torch"}))
                agree(model, session, module, X, name, dtype)
    return rows


def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=5, backends=False)
    args = parser.parse_args()
    apply_quick(args)
    args.threads = args.threads[0]  # one setting, the first of --threads (default 1)
    notes: list[str] = []
    with thread_limits(args.threads):
        rows = select(build_rows(args, notes), args.only)
        growth = {}
        for row in rows:  # warm-up, one call each, and the peak memory it adds
            before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            row.run()
            growth[row.name] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        times = run_interleaved(rows, args.repeats, warmup=max(0, args.warmup - 1))
        machine = machine_info(args.threads)
    stats = summarize(times)
    per_second = {}
    for row in rows:
        per_call = stats[row.name]["median"] / row.info["calls"]
        per_second[row.name] = row.info["batch"] / per_call
    lines, results = [], {}
    for row in rows:
        tag = row.name.split(" ", 1)[1]
        base = per_second.get(f"onnxruntime {tag}")
        speed = per_second[row.name]
        lines.append([row.name, f"{speed:,.0f}", fmt(None if base is None else speed / base, ".2f"),
                      f"{growth[row.name]:.1f}"])
        results[row.name] = {**row.info, "per_second": speed, "peak_rss_growth_mb":
                             growth[row.name], "stats": stats[row.name]}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    notes += [f"CPU: {machine['cpu']}; BLAS: {blas_kernel(machine)}",
              f"{args.threads} thread(s); median of {args.repeats} interleaved rounds; "
              f"process peak RSS {peak:.0f} MB"]
    print_table("Prediction throughput (sequences or images per second; x onnxruntime: "
                "above 1 is faster)", ["row", "per second", "x onnxruntime", "+peak MB"],
                lines, notes)
    payload = {"benchmark": "predict_throughput", "threads": args.threads,
               "repeats": args.repeats, "quick": args.quick, "rows": results,
               "peak_rss_mb": peak, "blas": blas_kernel(machine), "notes": notes,
               "machine": machine}
    emit_json(payload, save=not args.only)


if __name__ == "__main__":
    main()
