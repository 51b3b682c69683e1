"""Seconds per epoch of the book's chapter-6 convolutional network on the 60,000
Fashion-MNIST training images: nablanet (``Sequential`` of ``Conv2D``/``MaxPool2D``/
``Dense``/``Dropout`` layers, NumPy) against PyTorch CPU eager on the same architecture,
interleaved in one process, medians and ratios; and the matrix-multiply floor: the time of
the step's layer products alone, measured on this machine.

Network (``nablanet.models.spec``: ``conv:20x5x5,pool:2,conv:40x5x5,pool:2,dense:100,
dropout:0.5,softmax:10``)::

    (m,1,28,28) -conv 20x5x5, ReLU-> (m,20,24,24) -max 2x2-> (m,20,12,12)
                -conv 40x5x5, ReLU-> (m,40,8,8)   -max 2x2-> (m,40,4,4) -flatten-> (m,640)
                -dense 100, ReLU-> -dropout 0.5-> -dense 10-> softmax + cross-entropy

trained by plain SGD (lr 0.05, mini-batch mean) at batch 10 and 64, float64 and float32.

Rows (seconds per epoch of 60,000 images; with ``--images N`` the epoch of the first N
images is timed and scaled by 60,000 / N; ``--quick``: 2,000 images):

* ``nablanet b{10,64} f{64,32}`` -- ``Sequential.fit(X, y, epochs=1, ...)``: the call a
  user makes (fit's defaults, training metrics included) and its loop alone
  (``history["seconds"][0]``), or with ``--clock cpu`` the process CPU time around ``fit``;
  on the ``numba`` backend (the default ``"auto"`` picks it when Numba is installed: the
  layers' compiled passes around the products); ``nablanet-numpy ...`` the same on the
  NumPy reference path (``--backends numpy,numba``);
* ``network3 b{10,64} f64`` -- the same network through ``nablanet.book.network3``: the
  whole ``Network.SGD`` call for one epoch, validating 1,000 held-out images;
* ``torch b{10,64} f{64,32}`` -- PyTorch eager ``nn.Sequential`` of ``Conv2d``, ``ReLU``,
  ``MaxPool2d``, ``Linear``, ``Dropout``; ``CrossEntropyLoss``; ``torch.optim.SGD``; a
  ``randperm`` per epoch and index-gathered batches from pre-made tensors; timed around
  the epoch loop.

``--clock cpu`` measures ``time.process_time`` instead of wall time: on a machine shared
with other work, with one thread per library (``--threads 1``), CPU seconds are the work
done and do not count the time spent waiting for a core.

Usage::

    python benchmarks/conv_epoch.py [--repeats 3] [--threads 1,default] [--only b10]
                                    [--quick] [--images N] [--clock wall|cpu] [--profile]
                                    [--backends numba|numpy|numpy,numba]

Every row runs at each ``--threads`` setting (``t1``: one thread for every library,
``tdef``: each library's default). Prints the tables, the machine, then one line
``JSON {...}`` (appended to ``benchmarks/results/<cpu>.jsonl``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time

import numpy as np

from _common import (
    Row,
    add_common_args,
    apply_quick,
    backends,
    best,
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
    thread_tag,
    threaded,
    unset_blas_overrides,
)
from nablanet.models import Sequential
from nablanet.models.spec import parse_layers
from nablanet.optimizers import SGD

SPEC = "conv:20x5x5,pool:2,conv:40x5x5,pool:2,dense:100,dropout:0.5,softmax:10"
SHAPE = (1, 28, 28)
LR = 0.05
BATCHES = (10, 64)
DTYPES = {"f64": np.float64, "f32": np.float32}


def load_data(n: int, notes: list[str]) -> tuple[np.ndarray, np.ndarray, str]:
    """The first ``n`` Fashion-MNIST training images as ``(n, 1, 28, 28)``, or synthetic
    uniform data."""
    try:
        from nablanet.datasets.mnist import load_fashion_mnist

        data = load_fashion_mnist(offline=True)
        return data.X_train[:n].reshape(-1, *SHAPE), data.y_train[:n], data.source
    except (OSError, ValueError) as exc:
        notes.append(f"Fashion-MNIST not available ({exc}); synthetic uniform data instead")
        rng = np.random.default_rng(0)
        return rng.random((n, *SHAPE)), rng.integers(0, 10, n), "synthetic uniform"


def model(dtype) -> Sequential:
    return Sequential(parse_layers(SPEC, SHAPE, seed=0, dtype=dtype),
                      output_activation="softmax", loss="cross_entropy", optimizer=SGD(LR),
                      seed=0, dtype=dtype)


def nablanet_rows(X, y, threads: int | None, cpu: bool, scale: float,
                  backend: str = "numba") -> list[Row]:
    rows = []
    opts = {"backend": backend, **({"threads": threads} if threads is not None else {})}
    name = "nablanet" if backend == "numba" else f"nablanet-{backend}"
    for tag, dt in DTYPES.items():
        Xd = np.ascontiguousarray(X, dtype=dt)
        for b in BATCHES:
            net = model(dt)

            def run(net=net, Xd=Xd, b=b) -> tuple[float, float]:
                clock = time.process_time if cpu else time.perf_counter
                start = clock()
                h = net.fit(Xd, y, epochs=1, batch_size=b, progress=False, **opts)
                call = clock() - start
                return call * scale, (call if cpu else h["seconds"][0]) * scale

            rows.append(Row(f"{name} b{b} {tag}", run,
                            {"impl": name, "backend": backend, "batch": b, "dtype": tag,
                             "timed": "CPU time of fit(epochs=1)" if cpu else
                             'the fit(epochs=1) call; loop: history["seconds"][0]'}))
    return rows


def network3_rows(X, y, cpu: bool, scale: float) -> list[Row]:
    """The same network through the book's API, ``nablanet.book.network3``: the whole
    ``Network.SGD(training_data, 1, b, lr, validation_data)`` call (1,000 held-out images
    validated after the epoch, as the book does every epoch), float64."""
    from nablanet.book.network3 import (
        ConvPoolLayer,
        FullyConnectedLayer,
        Network,
        ReLU,
        SoftmaxLayer,
    )

    n_val = min(1000, len(X) // 4)
    flat = X.reshape(len(X), -1)  # the book's (n, 784) rows
    train, val = (flat[n_val:], y[n_val:]), (flat[:n_val], y[:n_val])
    rows = []
    for b in BATCHES:
        net = Network([
            ConvPoolLayer(image_shape=(b, 1, 28, 28), filter_shape=(20, 1, 5, 5),
                          activation_fn=ReLU),
            ConvPoolLayer(image_shape=(b, 20, 12, 12), filter_shape=(40, 20, 5, 5),
                          activation_fn=ReLU),
            FullyConnectedLayer(n_in=640, n_out=100, activation_fn=ReLU),
            SoftmaxLayer(n_in=100, n_out=10, p_dropout=0.5)], b, seed=0)
        rows.append(Row(f"network3 b{b} f64", timed(
            lambda net=net, b=b: net.SGD(train, 1, b, LR, val), cpu, scale * len(X) / len(
                train[0])), {"impl": "network3", "batch": b, "dtype": "f64",
                             "timed": f"Network.SGD(1 epoch, {n_val} validation images)"}))
    return rows


def timed(fn, cpu: bool, scale: float):
    """A ``run`` callable: the wall (or CPU) seconds of one call of ``fn``, x ``scale``."""
    clock = time.process_time if cpu else time.perf_counter

    def run() -> float:
        start = clock()
        fn()
        return (clock() - start) * scale

    return run


def torch_rows(torch, X, y, cpu: bool, scale: float) -> list[Row]:
    nn = torch.nn
    rows = []
    for tag, dt in DTYPES.items():
        tdt = {np.float64: torch.float64, np.float32: torch.float32}[dt]
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=dt))
        yt = torch.from_numpy(np.asarray(y, dtype=np.int64))
        for b in BATCHES:
            torch.manual_seed(0)
            net = nn.Sequential(
                nn.Conv2d(1, 20, 5), nn.ReLU(), nn.MaxPool2d(2),
                nn.Conv2d(20, 40, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                nn.Linear(640, 100), nn.ReLU(), nn.Dropout(0.5), nn.Linear(100, 10),
            ).to(tdt)
            opt = torch.optim.SGD(net.parameters(), lr=LR)
            loss_fn = nn.CrossEntropyLoss()

            def epoch(net=net, opt=opt, loss_fn=loss_fn, Xt=Xt, yt=yt, b=b) -> None:
                net.train()
                perm = torch.randperm(len(Xt))
                for s in range(0, len(Xt), b):
                    idx = perm[s:s + b]
                    loss = loss_fn(net(Xt[idx]), yt[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()

            rows.append(Row(f"torch b{b} {tag}", timed(epoch, cpu, scale),
                            {"impl": "torch", "batch": b, "dtype": tag,
                             "timed": "the epoch loop"}))
    return rows


def step_products(m: int) -> list[tuple[str, tuple, dict]]:
    """The matrix products of one nablanet training step for a mini-batch of ``m``: per
    conv layer ``W2 @ cols`` (forward), ``dz @ cols.T`` (BP4) and, but for the first
    layer, ``W2.T @ dz`` (BP2); per dense layer ``X @ W``, ``X.T @ dz``, ``dz @ W.T``."""
    p1, p2 = m * 24 * 24, m * 8 * 8
    return [
        (f"conv1 W @ cols    (20x25 @ 25x{p1})", (20, 25, p1), {}),
        (f"conv1 dz @ cols.T (20x{p1} @ {p1}x25)", (20, p1, 25), {"trans_b": True}),
        (f"conv2 W @ cols    (40x500 @ 500x{p2})", (40, 500, p2), {}),
        (f"conv2 dz @ cols.T (40x{p2} @ {p2}x500)", (40, p2, 500), {"trans_b": True}),
        (f"conv2 W.T @ dz    (500x40 @ 40x{p2})", (500, 40, p2), {"trans_a": True}),
        (f"dense1 X @ W      ({m}x640 @ 640x100)", (m, 640, 100), {}),
        (f"dense1 X.T @ dz   (640x{m} @ {m}x100)", (640, m, 100), {"trans_a": True}),
        (f"dense1 dz @ W.T   ({m}x100 @ 100x640)", (m, 100, 640), {"trans_b": True}),
        (f"dense2 X @ W      ({m}x100 @ 100x10)", (m, 100, 10), {}),
        (f"dense2 X.T @ dz   (100x{m} @ {m}x10)", (100, m, 10), {"trans_a": True}),
        (f"dense2 dz @ W.T   ({m}x10 @ 10x100)", (m, 10, 100), {"trans_b": True}),
    ]


def product_seconds(m: int, k: int, n: int, dtype, clock, *, trans_a=False, trans_b=False,
                    calls: int = 15) -> float:
    """The fastest of ``calls`` single calls of ``np.matmul(A, B, out=C)`` for ``(m,k) @
    (k,n)``, ``trans_a``/``trans_b`` passing the operand as a transposed view, as the
    layers do. Single calls: the fastest one is the least disturbed by other work."""
    rng = np.random.default_rng(0)
    A = rng.random((k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.random((n, k) if trans_b else (k, n)).astype(dtype)
    A, B = (A.T if trans_a else A), (B.T if trans_b else B)
    C = np.empty((m, n), dtype=dtype)
    np.matmul(A, B, out=C)
    best = float("inf")
    for _ in range(calls):
        start = clock()
        np.matmul(A, B, out=C)
        best = min(best, clock() - start)
    return best


def measure_floor(threads: int | None, cpu: bool) -> dict:
    """Seconds per step of the products of :func:`step_products`, with ``threads`` BLAS
    threads (default 1, as fit uses for products of this size)."""
    from threadpoolctl import threadpool_limits

    clock = time.process_time if cpu else time.perf_counter
    out = {}
    with threadpool_limits(limits=threads or 1, user_api="blas"):
        for tag, dt in DTYPES.items():
            for b in BATCHES:
                parts = []
                for name, shape, kw in step_products(b):
                    seconds = product_seconds(*shape, dt, clock, **kw)
                    parts.append({"name": name, "seconds_per_call": seconds,
                                  "gflops": 2 * np.prod(shape) / seconds / 1e9})
                out[f"b{b} {tag}"] = {
                    "products": parts,
                    "seconds_per_step": sum(p["seconds_per_call"] for p in parts),
                    "flops_per_step": sum(2 * np.prod(s) for _, s, _ in step_products(b)),
                }
    return out


def profile_epoch(X, y, threads: int | None, b: int, top: int = 12) -> str:
    """cProfile of one nablanet epoch (float32) at batch ``b``: the top functions by own
    time. Ufuncs (np.matmul, np.add, ...) are not Python-level calls: their time counts as
    the own time of their caller (the layers' forward/backward)."""
    net = model(np.float32)
    Xd = np.ascontiguousarray(X, dtype=np.float32)
    opts = {"epochs": 1, "batch_size": b, "monitor_training": False, "progress": False}
    if threads is not None:
        opts["threads"] = threads
    net.fit(Xd[:1000], y[:1000], **opts)
    prof = cProfile.Profile()
    prof.enable()
    seconds = net.fit(Xd, y, **opts)["seconds"][0]
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return (f"Profile: one epoch at batch {b}, float32, {len(X)} images, under cProfile "
            f"{seconds:.2f} s\n" + buf.getvalue())


def main() -> None:
    unset_blas_overrides()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_args(parser, repeats=3)
    parser.set_defaults(backends="numba")
    parser.add_argument("--images", type=int, default=None,
                        help="time epochs of the first N images, scaled to 60,000")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time (default) or process CPU time")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one nablanet epoch at batch 10 and 64 (float32)")
    args = parser.parse_args()
    apply_quick(args)
    n = args.images or (2_000 if args.quick else 60_000)
    notes: list[str] = []
    X, y, source = load_data(n, notes)
    n, scale, cpu = len(X), 60_000 / len(X), args.clock == "cpu"
    torch = optional("torch", notes)

    rows = []
    for t in args.threads:
        group = [row for backend in backends(args.backends, Sequential.fit, notes)
                 for row in nablanet_rows(X, y, t, cpu, scale, backend)]
        group += network3_rows(X, y, cpu, scale)
        if torch is not None:
            group += torch_rows(torch, X, y, cpu, scale)
        rows += threaded(group, t)
    rows = select(rows, args.only)
    times = run_interleaved(rows, args.repeats, args.warmup)
    one = args.threads[0] if len(args.threads) == 1 else None
    with thread_limits(one):
        floor = measure_floor(one, cpu)
        profiles = [profile_epoch(X, y, one, b) for b in BATCHES] if args.profile else []
        machine = machine_info(one)

    stats = summarize(times, rows)
    med = {k: v["median"] for k, v in stats.items()}
    results, lines = {}, []
    for row in rows:
        if row.name not in med:
            continue
        b, tag, t = row.info["batch"], row.info["dtype"], row.info["threads"]
        s, steps = med[row.name], 60_000 // b
        step = floor[f"b{b} {tag}"]
        r = {**row.info, **stats[row.name], "us_per_step": 1e6 * s / steps,
             "vs_torch": ratio(med, row.name, f"torch b{b} {tag} {t}"),
             "vs_torch_best": ratio(med, row.name, best(
                 med, [f"torch b{b} {tag} {thread_tag(k)}" for k in args.threads])),
             "vs_one_thread": ratio(med, row.name, row.name.rsplit(" ", 1)[0] + " t1"),
             "gflops": step["flops_per_step"] * steps / s / 1e9,
             "matmul_floor_s": step["seconds_per_step"] * steps}
        r["matmul_share"] = r["matmul_floor_s"] / s
        results[row.name] = r
        lines.append([row.name, fmt(s), fmt(r.get("loop_median")),
                      f"{fmt(r['min'])}-{fmt(r['max'])}", fmt(r["us_per_step"], ".0f"),
                      fmt(r["vs_torch"], ".2f"), fmt(r["vs_torch_best"], ".2f"),
                      fmt(r["vs_one_thread"], ".2f"),
                      fmt(r["gflops"], ".1f"), fmt(r["matmul_floor_s"], ".2f"),
                      fmt(100 * r["matmul_share"], ".0f")])
    notes += [
        f"data: {source}, epochs of {n} images scaled to 60,000; {args.clock} clock; median "
        f"of {args.repeats} interleaved rounds (after {args.warmup} warm-up); ÷ torch is a "
        "time ratio (< 1 = nablanet faster)",
        "call: the fit call (nablanet, training metrics on as by default), Network.SGD "
        "(network3) or the epoch loop (torch); loop: fit's training loop; t1: one thread "
        "for every library, tdef: each library's default; ÷ torch best: vs torch at its "
        "faster setting (the user's view); ÷ t1: vs the same row at one thread",
        "GFLOP/s: FLOPs of the step's matrix products (element-wise work not counted) / "
        "median time; matmul floor: steps x the measured time of those products alone "
        "(np.matmul with out=), i.e. the epoch if nothing else ran; % floor = floor / time",
    ]
    print_table(f"Conv net {SPEC}, seconds per epoch of 60,000 images",
                ["row", "call s", "loop s", "min-max", "µs/step", "÷ torch", "÷ torch best",
                 "÷ t1", "GFLOP/s",
                 "matmul floor s", "% floor"], lines, notes)
    mm_lines = []
    for key, step in floor.items():
        for p in step["products"]:
            mm_lines.append([f"{p['name']} {key}", fmt(1e6 * p["seconds_per_call"], ".1f"),
                             fmt(p["gflops"], ".1f")])
        mm_lines.append([f"  one step's products, {key}", fmt(1e6 * step["seconds_per_step"],
                                                                ".1f"), ""])
    print_table("Layer products (np.matmul with out=, fastest of 15 calls)",
                ["product", "µs/call", "GFLOP/s"], mm_lines)
    for text in profiles:
        print(text)
    emit_json({"benchmark": "conv_epoch", "spec": SPEC, "lr": LR, "n_images": n,
               "clock": args.clock,
               "data": source, "repeats": args.repeats, "warmup": args.warmup,
               "quick": args.quick, "rows": results, "matmul": floor, "profiles": profiles,
               "notes": notes, "machine": machine})


if __name__ == "__main__":
    main()
