"""Seconds per epoch of the book's network [784, 30, 10] on the 60,000 Fashion-MNIST
training images: nablanet's per-sample reference and vectorized path, PyTorch CPU eager
and scikit-learn's MLPClassifier, interleaved in one process, medians and ratios; and the
machine's matrix-multiply rates, to show how close an epoch is to the limit.

Settings (the book's chapter 1): sigmoid hidden and output layers, quadratic cost, plain
SGD with eta 3.0 on the mini-batch mean, weights and biases N(0, 1) (``Network(seed=0)``;
PyTorch starts from the same weights).

Rows (all seconds per epoch of 60,000 images; ``--quick``: 2,000 images):

* ``per-sample b10 f64``  -- ``Network.update_mini_batch`` (the book's loop over examples
  calling ``backprop``) on ``--per-sample-batches`` mini-batches of 10 ``(x (784,1),
  y (10,1))`` tuples made beforehand, timed around the loop and extrapolated to n/10;
* ``nablanet b{10,128} f{64,32}`` -- ``Network.SGD((X, y), 1, b, 3.0, backend="numpy",
  progress=False)``, the call a user makes (with fit's defaults: input checks, training
  metrics), and its loop alone (``history["seconds"][0]``);
  ``nablanet-numba ...`` the same with ``backend="numba"`` (``--backends``);
* ``torch b{10,128} f{64,32}`` -- PyTorch eager: Linear-sigmoid-Linear-sigmoid, loss
  ``0.5 * sum((a - y)^2) / m``, ``torch.optim.SGD(lr=3.0)``, a ``randperm`` per epoch and
  index-gathered batches from pre-made tensors; timed around the epoch loop;
* ``sklearn b{10,128} f64`` -- ``MLPClassifier(solver="sgd", learning_rate_init=3.0,
  momentum=0, alpha=0, ...)``, one ``partial_fit`` epoch, timed around the call. NOTE:
  scikit-learn has no quadratic cost: its output layer is softmax with log-loss.

Usage::

    python benchmarks/mlp_epoch.py [--repeats 5] [--threads 1,default]
                                   [--only nablanet,torch] [--quick] [--profile]

Every row runs at each ``--threads`` setting (suffix ``t1``: one thread for every
library; ``tdef``: each library's default). Prints the tables, the machine, then one line
``JSON {...}`` (appended to ``benchmarks/results/<cpu>.jsonl``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import itertools
import pstats
import time
import warnings

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
    thread_limits,
    thread_tag,
    threaded,
    timed,
    unset_blas_overrides,
)
from nablanet import Network

SIZES = [784, 30, 10]
ETA = 3.0
BATCHES = (10, 128)
DTYPES = {"f64": np.float64, "f32": np.float32}


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def load_data(n: int, notes: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``n`` Fashion-MNIST training images, or synthetic uniform data."""
    try:
        from nablanet.datasets.mnist import load_fashion_mnist

        data = load_fashion_mnist(offline=True)
        return data.X_train[:n], data.y_train[:n], data.source
    except (OSError, ValueError) as exc:
        notes.append(f"Fashion-MNIST not available ({exc}); synthetic uniform data instead")
        rng = np.random.default_rng(0)
        return rng.random((n, SIZES[0])), rng.integers(0, SIZES[-1], n), "synthetic uniform"


def matmul_flops_per_example() -> int:
    """Multiply-adds x 2 of the vectorized step per example: forward ``a @ W`` per layer,
    BP4 ``a.T @ delta`` per layer, BP2 ``delta @ W.T`` for every layer but the first."""
    pairs = list(itertools.pairwise(SIZES))
    return 2 * (2 * sum(i * o for i, o in pairs) + sum(i * o for i, o in pairs[1:]))


# --------------------------------------------------------------------------------------
# Rows
# --------------------------------------------------------------------------------------
def per_sample_row(X, y, n: int, n_batches: int) -> Row:
    net = Network(SIZES, seed=0)
    eye = np.eye(SIZES[-1])
    batches = [
        [(X[i].reshape(-1, 1).copy(), eye[y[i]].reshape(-1, 1).copy())
         for i in range(s, s + 10)]
        for s in range(0, n_batches * 10, 10)
    ]
    scale = (n / 10) / n_batches

    def run() -> float:
        start = time.perf_counter()
        for mb in batches:
            net.update_mini_batch(mb, ETA)
        return (time.perf_counter() - start) * scale

    return Row("per-sample b10 f64", run,
               {"impl": "per-sample", "batch": 10, "dtype": "f64",
                "timed": f"{n_batches} mini-batches, extrapolated to {n // 10}"})


def nablanet_rows(X, y, backend: str, threads: int | None) -> list[Row]:
    rows = []
    impl = impl_name(backend)
    opts = fit_options(Network.fit, backend, threads)
    for tag, dt in DTYPES.items():
        Xd = np.ascontiguousarray(X, dtype=dt)
        for b in BATCHES:
            net = Network(SIZES, seed=0, dtype=dt)

            def run(net=net, Xd=Xd, b=b) -> tuple[float, float]:
                start = time.perf_counter()
                h = net.SGD((Xd, y), 1, b, ETA, progress=False, **opts)
                return time.perf_counter() - start, h["seconds"][0]

            rows.append(Row(f"{impl} b{b} {tag}", run,
                            {"impl": impl, "batch": b, "dtype": tag, "fit_options": opts,
                             "timed": 'the Network.SGD((X, y), 1, b, eta) call; loop: '
                                      'history["seconds"][0]'}))
    return rows


def torch_rows(torch, X, y) -> list[Row]:
    rows = []
    ref = Network(SIZES, seed=0)  # the same starting weights as nablanet's rows
    for tag, dt in DTYPES.items():
        tdt = {np.float64: torch.float64, np.float32: torch.float32}[dt]
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=dt))
        Yt = torch.from_numpy(np.eye(SIZES[-1], dtype=dt)[y])
        for b in BATCHES:
            model = torch.nn.Sequential(
                torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.Sigmoid(),
                torch.nn.Linear(SIZES[1], SIZES[2]), torch.nn.Sigmoid(),
            ).to(tdt)
            with torch.no_grad():
                for lin, W, bias in zip(model[::2], ref.weights, ref.biases, strict=True):
                    lin.weight.copy_(torch.from_numpy(W.T.copy()))
                    lin.bias.copy_(torch.from_numpy(bias))
            opt = torch.optim.SGD(model.parameters(), lr=ETA)

            def epoch(model=model, opt=opt, Xt=Xt, Yt=Yt, b=b) -> None:
                n = len(Xt)
                perm = torch.randperm(n)
                for s in range(0, n, b):
                    idx = perm[s:s + b]
                    xb, yb = Xt[idx], Yt[idx]
                    a = model(xb)
                    loss = 0.5 * ((a - yb) ** 2).sum() / len(idx)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

            rows.append(Row(f"torch b{b} {tag}", timed(epoch),
                            {"impl": "torch", "batch": b, "dtype": tag,
                             "timed": "the epoch loop"}))
    return rows


def sklearn_rows(X, y) -> list[Row]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    rows = []
    classes = np.arange(SIZES[-1])
    for b in BATCHES:
        clf = MLPClassifier(
            hidden_layer_sizes=(SIZES[1],), activation="logistic", solver="sgd",
            learning_rate="constant", learning_rate_init=ETA, batch_size=b, momentum=0.0,
            nesterovs_momentum=False, alpha=0.0, max_iter=1, shuffle=True, random_state=0,
        )

        def epoch(clf=clf) -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                clf.partial_fit(X, y, classes=classes)

        rows.append(Row(f"sklearn b{b} f64", timed(epoch),
                        {"impl": "sklearn", "batch": b, "dtype": "f64",
                         "timed": "one partial_fit call (softmax + log-loss)"}))
    return rows


# --------------------------------------------------------------------------------------
# Matrix-multiply rates
# --------------------------------------------------------------------------------------
def matmul_rate(m: int, k: int, n: int, dtype, *, trans_a=False, trans_b=False,
                budget: float = 0.2) -> dict:
    """Seconds per call and GFLOP/s of ``np.matmul(A, B, out=C)`` for ``(m,k) @ (k,n)``,
    best of 7 samples of about ``budget / 7`` seconds each. ``trans_a``/``trans_b``: pass
    the operand as the transposed view of a C-contiguous array, as the training step
    does (``a.T @ delta``, ``delta @ W.T``)."""
    rng = np.random.default_rng(0)
    A = rng.random((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.random((n, k) if trans_b else (k, n)).astype(dtype)
    A, B = (A.T if trans_a else A), (B.T if trans_b else B)
    C = np.empty((m, n), dtype=dtype)
    np.matmul(A, B, out=C)
    calls = 1
    while True:  # calibrate: calls per sample
        start = time.perf_counter()
        for _ in range(calls):
            np.matmul(A, B, out=C)
        elapsed = time.perf_counter() - start
        if elapsed > budget / 20:
            break
        calls *= 4
    calls = max(1, int(calls * (budget / 7) / elapsed))
    samples = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(calls):
            np.matmul(A, B, out=C)
        samples.append((time.perf_counter() - start) / calls)
    best = min(samples)
    return {"seconds_per_call": best, "gflops": 2 * m * k * n / best / 1e9}


def step_matmuls(m: int) -> list[tuple[str, tuple, dict]]:
    """The five products of one vectorized step for a mini-batch of ``m`` (layout as in
    ``_Workspace.step``)."""
    n0, n1, n2 = SIZES
    return [
        (f"x @ W1       ({m}x{n0} @ {n0}x{n1})", (m, n0, n1), {}),
        (f"a1 @ W2      ({m}x{n1} @ {n1}x{n2})", (m, n1, n2), {}),
        (f"x.T @ d1     ({n0}x{m} @ {m}x{n1})", (n0, m, n1), {"trans_a": True}),
        (f"a1.T @ d2    ({n1}x{m} @ {m}x{n2})", (n1, m, n2), {"trans_a": True}),
        (f"d2 @ W2.T    ({m}x{n2} @ {n2}x{n1})", (m, n2, n1), {"trans_b": True}),
    ]


def measure_matmuls(quick: bool, threads: int | None) -> dict:
    """Rates of a large product and of each product of one step, under each BLAS thread
    setting: ``threads`` if given, else 1 thread and the BLAS default (on a shared 2-core
    machine a 2-thread call on tiny matrices can wait milliseconds for its second thread).
    The step's floor takes the faster setting per product."""
    from threadpoolctl import threadpool_limits

    budget = 0.04 if quick else 0.25
    big = 500 if quick else 2000
    settings = [str(threads)] if threads is not None else ["1", "default"]

    def rate(*a, **kw) -> dict:
        out = {}
        for key in settings:
            limit = None if key == "default" else int(key)
            with threadpool_limits(limits=limit, user_api="blas"):
                out[key] = matmul_rate(*a, **kw)
        return out

    out: dict = {"threads": settings, "large": {}, "steps": {}}
    for tag, dt in DTYPES.items():
        out["large"][tag] = {"shape": f"{big}x{big} @ {big}x{big}",
                             "by_threads": rate(big, big, big, dt, budget=4 * budget)}
        for b in BATCHES:
            parts = [{"name": name, "by_threads": rate(*shape, dt, budget=budget, **kw)}
                     for name, shape, kw in step_matmuls(b)]
            for p in parts:
                p["best_seconds"] = min(v["seconds_per_call"] for v in p["by_threads"].values())
            out["steps"][f"b{b} {tag}"] = {
                "products": parts,
                "seconds_per_step": sum(p["best_seconds"] for p in parts),
            }
    return out


def peak_gflops(mm: dict, tag: str) -> float:
    """The best large-product rate of ``tag`` over the thread settings."""
    return max(v["gflops"] for v in mm["large"][tag]["by_threads"].values())


# --------------------------------------------------------------------------------------
# Profile
# --------------------------------------------------------------------------------------
def profile_epoch(X, y, threads: int | None, top: int = 15) -> dict:
    """cProfile of one vectorized NumPy epoch at batch 10 (float64): the ``top`` functions
    by own time, as a report (``"text"``) and as rows. Ufuncs (np.matmul, np.add, ...)
    are not Python-level calls: their time counts as the own time of their caller."""
    net = Network(SIZES, seed=0)
    opts = {"epochs": 1, "batch_size": 10, "monitor_training": False, "progress": False,
            **fit_options(Network.fit, "numpy", threads)}
    net.fit(X[:1000], y[:1000], **opts)  # warm
    steps = len(X) // 10
    plain = net.fit(X, y, **opts)["seconds"][0]
    prof = cProfile.Profile()
    prof.enable()
    profiled = net.fit(X, y, **opts)["seconds"][0]
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).sort_stats("tottime")
    stats.print_stats(top)
    text = (f"Profile: one epoch of Network.fit(backend='numpy') at batch 10, float64, "
            f"{len(X)} images, {steps} steps\n"
            f"  without the profiler: {plain:.3f} s per epoch = {1e6 * plain / steps:.1f} us "
            f"per step; under cProfile: {profiled:.3f} s\n"
            "  (ufunc calls -- np.matmul, np.add, ... -- are not profiled as functions: their "
            "time is the own time of their caller, e.g. _Workspace.step)\n" + buf.getvalue())
    rows = []
    for (file, line, func), (_cc, ncalls, tottime, cumtime, _) in stats.stats.items():
        rows.append({"function": f"{file}:{line}({func})", "calls": ncalls,
                     "tottime": tottime, "cumtime": cumtime,
                     "us_per_step": 1e6 * tottime / steps})
    rows.sort(key=lambda r: -r["tottime"])
    return {"seconds": plain, "us_per_step": 1e6 * plain / steps,
            "seconds_profiled": profiled, "top": rows[:top], "text": text}


def _blas_threads(machine: dict) -> str:
    pools = machine.get("threadpools") or []
    return ", ".join(f"{p['internal_api']} {p['num_threads']}" for p in pools
                     if p["user_api"] == "blas") or "?"


# --------------------------------------------------------------------------------------
def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=5)
    parser.add_argument("--per-sample-batches", type=int, default=300,
                        help="mini-batches timed for the per-sample reference (default 300)")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one vectorized epoch at batch 10, print top 15")
    args = parser.parse_args()
    apply_quick(args)
    n = 2_000 if args.quick else 60_000
    n_ps = min(args.per_sample_batches, 20 if args.quick else args.per_sample_batches)

    notes: list[str] = []
    X, y, source = load_data(n, notes)
    n = len(X)
    torch = optional("torch", notes)
    sklearn = optional("sklearn", notes)

    rows = []
    for t in args.threads:
        group = [per_sample_row(X, y, n, n_ps)]
        for backend in backends(args.backends, Network.fit, notes):
            group += nablanet_rows(X, y, backend, t)
        if torch is not None:
            group += torch_rows(torch, X, y)
        if sklearn is not None:
            group += sklearn_rows(X, y)
        # more peers: group += [Row("name b10 f64", run, {"impl": ..., "batch": 10, ...})]
        rows += threaded(group, t)
    rows = select(rows, args.only)
    times = run_interleaved(rows, args.repeats, args.warmup)
    one = args.threads[0] if len(args.threads) == 1 else None
    with thread_limits(one):
        mm = measure_matmuls(args.quick, one)
        prof = profile_epoch(X, y, one) if args.profile else None
        machine = machine_info(one)

    stats = summarize(times, rows)
    med = {k: v["median"] for k, v in stats.items()}
    flops_epoch = matmul_flops_per_example() * n
    results = {}
    lines = []
    for row in rows:
        if row.name not in med:
            continue
        b, tag, t = row.info["batch"], row.info["dtype"], row.info["threads"]
        s = med[row.name]
        steps = -(-n // b)
        r = {
            **row.info,
            **stats[row.name],
            "us_per_step": 1e6 * s / steps,
            "vs_torch": ratio(med, row.name, f"torch b{b} {tag} {t}"),
            "vs_torch_best": ratio(med, row.name, best(
                med, [f"torch b{b} {tag} {thread_tag(k)}" for k in args.threads])),
            "vs_per_sample": ratio(med, row.name, f"per-sample b10 f64 {t}"),
            "vs_numpy": (ratio(med, row.name, f"nablanet b{b} {tag} {t}")
                         if row.info["impl"].startswith("nablanet-") else None),
            "gflops": flops_epoch / s / 1e9,
            "fraction_of_large_peak": flops_epoch / s / 1e9 / peak_gflops(mm, tag),
        }
        step_mm = mm["steps"].get(f"b{b} {tag}")
        if step_mm and row.info["impl"] not in ("per-sample", "sklearn"):
            r["matmul_floor_s"] = step_mm["seconds_per_step"] * steps
            r["matmul_share"] = r["matmul_floor_s"] / s
        results[row.name] = r
        lines.append([
            row.name, fmt(s), fmt(r.get("loop_median")), f"{fmt(r['min'])}-{fmt(r['max'])}",
            fmt(r["us_per_step"], ".1f"), fmt(r["vs_torch"], ".2f"),
            fmt(r["vs_torch_best"], ".2f"), fmt(r["vs_per_sample"], ".3f"),
            fmt(r["vs_numpy"], ".2f"),
            fmt(r["gflops"], ".2f"), fmt(100 * r["fraction_of_large_peak"], ".1f"),
            fmt(r.get("matmul_floor_s"), ".3f"),
        ])

    notes += [
        f"CPU: {machine['cpu']} ({machine['cpus']} logical CPUs, load average "
        f"{', '.join(f'{x:.1f}' for x in machine['loadavg'] or [])} at the end); BLAS: "
        f"{blas_kernel(machine)}",
        f"data: {source}, {n} images; median of {args.repeats} interleaved rounds "
        f"(after {args.warmup} warm-up); ratios are time ratios (row / baseline; < 1 = faster)",
        "÷ torch: vs PyTorch eager at the same batch and dtype; "
        "÷ per-sample: vs the per-sample reference (Network.update_mini_batch, "
        f"{n_ps} mini-batches of 10 extrapolated to {n // 10}); ÷ numpy: a compiled backend "
        "vs the NumPy path (nablanet row) at the same batch and dtype",
        "nablanet: call = the Network.SGD((X, y), 1, b, eta) call (fit's defaults: training "
        'metrics on), loop = its history["seconds"][0]; backend=numpy (nablanet) or numba '
        "(nablanet-numba); t1: one thread for every library (threadpoolctl, "
        "torch.set_num_threads, fit(threads=1)), tdef: each library's default; torch: the "
        "epoch loop incl. randperm and batch gathering; sklearn: one partial_fit call; "
        "÷ torch best: vs torch at its faster thread setting (the user's view)",
        "sklearn MLPClassifier has no quadratic cost: it uses softmax outputs with "
        "cross-entropy (log-loss); same sizes, logistic hidden layer, SGD lr 3.0, no momentum, "
        "alpha 0",
        f"GFLOP/s: matrix-product FLOPs of the vectorized step ({flops_epoch / 1e9:.2f} GFLOP "
        "per epoch, element-wise work not counted) / median time; % peak: of the best large "
        "matmul rate below",
        "matmul floor: steps x the measured time of the step's five products alone "
        "(np.matmul with out=, same layouts, faster thread setting), i.e. the epoch if "
        "nothing else ran",
    ]
    print_table(f"MLP {SIZES}, seconds per epoch ({n} images)",
                ["row", "call s", "loop s", "min-max", "µs/step", "÷ torch", "÷ torch best",
                 "÷ per-sample", "÷ numpy",
                 "GFLOP/s", "% peak", "matmul floor s"], lines, notes)

    thr = mm["threads"]
    mm_lines = []
    for tag, v in mm["large"].items():
        by = v["by_threads"]
        mm_lines.append([f"{v['shape']} {tag}",
                         *(fmt(1e6 * by[k]["seconds_per_call"], ".1f") for k in thr),
                         *(fmt(by[k]["gflops"], ".1f") for k in thr)])
    for key, step in mm["steps"].items():
        for p in step["products"]:
            by = p["by_threads"]
            mm_lines.append([f"{p['name']} {key.split()[1]}",
                             *(fmt(1e6 * by[k]["seconds_per_call"], ".2f") for k in thr),
                             *(fmt(by[k]["gflops"], ".2f") for k in thr)])
        mm_lines.append([f"  one step's products, {key} (faster setting each)",
                         fmt(1e6 * step["seconds_per_step"], ".2f"), *[""] * (2 * len(thr) - 1)])
    print_table("Matrix-multiply rates (np.matmul with out=, best of 7 samples)",
                ["product", *(f"µs/call {k} thr" for k in thr),
                 *(f"GFLOP/s {k} thr" for k in thr)], mm_lines,
                ["BLAS threads: '1' = threadpool_limits(1); 'default' = the library's own "
                 f"count ({_blas_threads(machine)})"])

    if prof is not None:
        print(prof.pop("text"))
    emit_json({
        "benchmark": "mlp_epoch", "sizes": SIZES, "eta": ETA, "n_images": n,
        "data": source, "repeats": args.repeats, "warmup": args.warmup, "quick": args.quick,
        "matmul_flops_per_epoch": flops_epoch, "rows": results, "matmul": mm,
        "profile": prof, "notes": notes, "machine": machine,
    })


if __name__ == "__main__":
    main()
