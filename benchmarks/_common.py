"""Shared helpers of the benchmark scripts: options, thread limits, the interleaved timing
loop, medians and ratios, the table, machine information and the final JSON line.

A benchmark is a list of :class:`Row` entries, each a name and a callable that runs one
timed unit (one epoch, or a subset extrapolated to one) and returns its seconds, measured
with ``time.perf_counter``, or a pair ``(call, loop)``: the wall clock of the call a user
makes (``fit``, ``Network.SGD``, a CLI command) and the training loop inside it. Every row
runs at each ``--threads`` setting (:func:`threaded`: one thread, and each library's own
default). :func:`run_interleaved` runs them
round-robin (the starting row rotates every repeat) so that a noisy neighbour on a shared
machine hits every row alike; the report gives medians and ratios to named baselines.
More peers are more rows in the list; nablanet's own backends come from ``--backends``
(:func:`backends`, :func:`fit_options`): rows ``nablanet ...`` (NumPy, the reference) and
``nablanet-<backend> ...``. :func:`emit_json` prints the machine (CPU vendor, model,
flags, BLAS kernel) and appends the run's JSON line to ``results/<cpu-model>.jsonl``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import json
import logging
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = [
    "Row",
    "add_common_args",
    "apply_quick",
    "backends",
    "best",
    "blas_kernel",
    "cpu_slug",
    "emit_json",
    "fit_options",
    "impl_name",
    "machine_info",
    "optional",
    "print_table",
    "ratio",
    "run_interleaved",
    "select",
    "summarize",
    "thread_limits",
    "thread_settings",
    "thread_tag",
    "threaded",
    "timed",
    "unset_blas_overrides",
]

#: environment variables that force OpenBLAS's kernel choice or cache size; a benchmark
#: runs without them so that the BLAS kernel is the one picked for the machine
BLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
#: where each run appends its JSON line, one file per CPU model
RESULTS = Path(__file__).resolve().parent / "results"


def unset_blas_overrides() -> None:
    """Re-execute this script once without :data:`BLAS_OVERRIDES` when any is set
    (OpenBLAS reads them when it loads, so unsetting them in-process is too late); the
    variables stay set in the caller's shell."""
    if any(v in os.environ for v in BLAS_OVERRIDES):
        env = {k: v for k, v in os.environ.items() if k not in BLAS_OVERRIDES}
        print(f"unsetting {', '.join(v for v in BLAS_OVERRIDES if v in os.environ)} for "
              "this benchmark and restarting it", file=sys.stderr, flush=True)
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


@dataclass
class Row:
    """One implementation at one setting.

    ``run()`` performs one timed unit and returns its seconds (the caller measures only
    the work, excluding data setup), or ``(call, loop)``: the whole call a user waits for
    and the training loop inside it. ``warmup()``, when given, replaces ``run()`` for the
    untimed warm-up round (e.g. a short subset instead of a long epoch). ``info`` holds
    what the report needs (batch, dtype, implementation, ...) and goes into the JSON;
    ``loops`` collects the loop seconds of the timed rounds.
    """

    name: str
    run: Callable[[], float | tuple[float, float]]
    info: dict = field(default_factory=dict)
    warmup: Callable[[], object] | None = None
    loops: list[float] = field(default_factory=list)


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """A ``run`` callable that times one call of ``fn`` with ``time.perf_counter``."""

    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return run


# --------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------
def add_common_args(parser: argparse.ArgumentParser, repeats: int = 5,
                    backends: bool = True) -> None:
    """``--repeats``, ``--warmup``, ``--quick``, ``--threads``, ``--only`` and, with
    ``backends``, ``--backends``."""
    parser.add_argument("--repeats", type=int, default=repeats,
                        help=f"timed rounds over all rows (default {repeats})")
    parser.add_argument("--warmup", type=int, default=1,
                        help="untimed rounds before timing (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny sizes, 2 repeats and (unless --threads) 1 thread: a smoke "
                             "run in seconds, even on a busy machine")
    parser.add_argument("--threads", default=None,
                        help="comma-separated thread settings, each timed for every row: a "
                             "count (BLAS/OpenMP pools by threadpoolctl, "
                             "torch.set_num_threads, fit(threads=)) or 'default' (each "
                             "library's own); default '1,default'")
    if backends:
        parser.add_argument("--backends", default="numpy,numba",
                            help="nablanet backends to time, comma-separated (default "
                                 "numpy,numba; numba rows are skipped with a note when Numba "
                                 "or fit(backend=) is missing)")
    parser.add_argument("--only", default=None,
                        help="comma-separated substrings: keep the rows whose name contains "
                             "any of them (case-insensitive)")


def apply_quick(args: argparse.Namespace) -> None:
    """``--quick``: at most 2 repeats, and 1 thread unless ``--threads`` was given (on a
    busy 2-core machine, PyTorch's 2 intra-op threads on tiny tensors can run 100x slower
    than one). Then ``args.threads`` becomes the list of :func:`thread_settings`."""
    if args.quick:
        args.repeats = min(args.repeats, 2)
    if args.threads is None:
        args.threads = "1" if args.quick else "1,default"
    args.threads = thread_settings(args.threads)


def thread_settings(text: str) -> list[int | None]:
    """``"1,default"`` -> ``[1, None]`` (None: each library's own default)."""
    out: list[int | None] = []
    for t in (t.strip() for t in text.split(",") if t.strip()):
        if t == "default":
            out.append(None)
        elif t.isdigit() and int(t) >= 1:
            out.append(int(t))
        else:
            sys.exit(f"--threads: expected counts >= 1 or 'default', got {t!r}")
    return out or [None]


def thread_tag(n: int | None) -> str:
    """Row-name suffix of a thread setting: ``t1``, ``t2``, ``tdef``."""
    return "tdef" if n is None else f"t{n}"


def threaded(rows: list[Row], n: int | None) -> list[Row]:
    """``rows`` run at thread setting ``n`` (:func:`thread_limits` around every call),
    named ``"<name> t<n>"`` / ``"<name> tdef"``, with ``info["threads"]``. A nablanet row
    is built with ``fit(threads=n)`` too (:func:`fit_options`)."""

    def wrap(fn):
        if fn is None:
            return None

        def limited():
            with thread_limits(n):
                return fn()
        return limited

    return [Row(f"{r.name} {thread_tag(n)}", wrap(r.run), {**r.info, "threads": thread_tag(n)},
                wrap(r.warmup)) for r in rows]


def select(rows: list[Row], only: str | None) -> list[Row]:
    """The rows whose name contains one of the comma-separated substrings of ``only``."""
    if not only:
        return rows
    keys = [k.strip().lower() for k in only.split(",") if k.strip()]
    kept = [r for r in rows if any(k in r.name.lower() for k in keys)]
    if not kept:
        sys.exit(f"--only {only!r}: no row matches; rows are: {', '.join(r.name for r in rows)}")
    return kept


def backends(text: str, fit: Callable, notes: list[str]) -> list[str]:
    """The nablanet backends of ``--backends`` that this checkout can run: ``numpy``
    always (the reference path), others when ``fit`` takes ``backend=`` and, for
    ``numba``, when Numba imports."""
    accepts = "backend" in inspect.signature(fit).parameters
    out = []
    for name in (b.strip() for b in text.split(",") if b.strip()):
        if name == "numpy":
            out.append(name)
        elif not accepts:
            notes.append(f"backend {name}: fit() takes no backend= here; rows skipped")
        elif name == "numba" and importlib.util.find_spec("numba") is None:
            notes.append("backend numba: Numba is not installed; rows skipped")
        else:
            out.append(name)
    return out


def fit_options(fit: Callable, backend: str, threads: int | None) -> dict:
    """Keyword arguments for ``fit``: ``backend`` and ``threads`` where ``fit`` takes them
    (``threads`` only when set)."""
    params = inspect.signature(fit).parameters
    out = {}
    if "backend" in params:
        out["backend"] = backend
    if threads is not None and "threads" in params:
        out["threads"] = threads
    return out


def impl_name(backend: str) -> str:
    """Row prefix of a nablanet backend: ``nablanet`` (numpy) or ``nablanet-numba``."""
    return "nablanet" if backend == "numpy" else f"nablanet-{backend}"


def optional(module: str, notes: list[str]):
    """Import ``module`` or return None, adding a note that its rows are skipped."""
    try:
        return importlib.import_module(module)
    except ImportError:
        notes.append(f"{module} is not installed: its rows are skipped")
        return None


@contextlib.contextmanager
def thread_limits(n: int | None):
    """Limit BLAS and OpenMP pools (threadpoolctl) and torch's intra-op threads to ``n``;
    do nothing for ``None``."""
    if n is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    torch = sys.modules.get("torch")
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch is not None:
            torch.set_num_threads(old)


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------
def run_interleaved(rows: list[Row], repeats: int, warmup: int = 1,
                    log: Callable[[str], None] | None = None) -> dict[str, list[float]]:
    """Run every row ``warmup`` times untimed, then ``repeats`` timed rounds, round-robin
    over the rows with the first row rotating each round. Returns the seconds per row."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    logging.getLogger("nablanet").setLevel(logging.WARNING)  # no epoch lines among the rows
    for w in range(warmup):
        for row in rows:
            log(f"warm-up {w + 1}/{warmup}: {row.name}")
            (row.warmup or row.run)()
    times: dict[str, list[float]] = {row.name: [] for row in rows}
    for r in range(repeats):
        k = r % len(rows)
        for row in rows[k:] + rows[:k]:
            result = row.run()
            seconds, loop = result if isinstance(result, tuple) else (result, None)
            times[row.name].append(seconds)
            if loop is not None:
                row.loops.append(loop)
            log(f"round {r + 1}/{repeats}: {row.name:<34} {seconds:9.4f} s"
                + ("" if loop is None else f" (loop {loop:.4f} s)"))
    return times


def summarize(times: dict[str, list[float]], rows: Iterable[Row] = ()) -> dict[str, dict]:
    """Median, min, max and all samples per row (the whole call where a row times one),
    the load average now, and ``loop_median``/``loop_samples`` for rows that time their
    loop too."""
    load = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    out = {
        name: {"median": statistics.median(t), "min": min(t), "max": max(t), "samples": t,
               "loadavg": load}
        for name, t in times.items() if t
    }
    for row in rows:
        if row.loops and row.name in out:
            out[row.name].update(loop_median=statistics.median(row.loops),
                                 loop_samples=row.loops)
    return out


def best(medians: dict[str, float], names: Iterable[str]) -> str | None:
    """The fastest of ``names`` that has a median (e.g. a peer at its faster thread
    setting: the user's view), or None."""
    have = [n for n in names if n in medians]
    return min(have, key=medians.__getitem__) if have else None


def ratio(medians: dict[str, float], name: str, baseline: str | None) -> float | None:
    """``medians[name] / medians[baseline]`` (a time ratio: below 1 is faster), or None
    when either is missing."""
    if baseline is None or name not in medians or baseline not in medians:
        return None
    return medians[name] / medians[baseline]


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------
def fmt(value, spec: str = ".3f") -> str:
    """``value`` formatted with ``spec``; '-' for None, strings unchanged."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return format(value, spec)


def print_table(title: str, header: list[str], lines: Iterable[list], notes: Iterable[str] = ()):
    """A table of already-formatted cells (rich when installed, plain text otherwise),
    then the notes, one per line."""
    lines = [[fmt(c) for c in line] for line in lines]
    notes = list(notes)
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        Console = None
    if Console is not None:
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(header):
            table.add_column(h, justify="left" if i == 0 else "right")
        for line in lines:
            table.add_row(*line)
        console = Console()
        if not console.is_terminal:  # a pipe or a file: do not fold the table at 80 columns
            console = Console(width=200)
        console.print(table)
        for note in notes:
            console.print(f"  note: {note}", highlight=False, soft_wrap=True)
        return
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    print(title)
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w)
                    for i, (h, w) in enumerate(zip(header, widths, strict=True))))
    for line in lines:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(line, widths, strict=True))))
    for note in notes:
        print(f"  note: {note}")


def machine_info(threads: int | None = None) -> dict:
    """CPU model and count, load, Python, NumPy, BLAS/OpenMP pools (threadpoolctl), and the
    versions of torch and scikit-learn when they are imported."""
    cpu = platform.processor() or platform.machine()
    cpuinfo: dict[str, str] = {}
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                cpuinfo[key.strip()] = value.strip()
    cpu = cpuinfo.get("model name", cpu)
    flags = cpuinfo.get("flags", "").split()
    simd = sorted(f for f in flags
                  if f in ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile"))
    info: dict = {
        "cpu": cpu,
        "cpu_vendor": cpuinfo.get("vendor_id"),
        "cpu_flags": " ".join(flags),
        "cpu_family_model": f"{cpuinfo.get('cpu family', '?')}/{cpuinfo.get('model', '?')}",
        "cpu_mhz": cpuinfo.get("cpu MHz"),
        "simd": simd,
        "cpus": os.cpu_count(),
        "loadavg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "threads_option": threads,
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                    "architecture", "prefix")}
            for p in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    for name in ("torch", "sklearn"):
        mod = sys.modules.get(name)
        if mod is not None:
            info[name] = mod.__version__
    if sys.modules.get("torch") is not None:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def blas_kernel(machine: dict) -> str:
    """``"openblas 0.3.x, kernel SkylakeX, 1 thread"`` from :func:`machine_info`."""
    pools = [p for p in machine.get("threadpools") or [] if p["user_api"] == "blas"]
    return "; ".join(f"{p['internal_api']} {p['version']}, kernel {p['architecture']}, "
                     f"{p['num_threads']} threads" for p in pools) or "unknown (no threadpoolctl)"


def emit_json(payload: dict, save: bool = True) -> None:
    """The machine (CPU vendor, model and flags; the BLAS kernel), then the final line
    ``JSON {...}`` with every number of the run, also appended (with the time and
    command) to ``results/<cpu-model>.jsonl`` if ``save`` and not a ``--quick`` run."""
    machine = payload.get("machine") or machine_info()
    print(f"CPU: {machine.get('cpu_vendor')} {machine['cpu']} (family/model "
          f"{machine['cpu_family_model']}, {machine['cpus']} logical CPUs, load average "
          f"{', '.join(f'{x:.1f}' for x in machine.get('loadavg') or [])})")
    print(f"CPU flags: {machine.get('cpu_flags')}")
    print(f"BLAS: {blas_kernel(machine)}")
    payload = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
               "command": " ".join(["python", *sys.argv]), **payload}
    line = json.dumps(payload, default=_plain, separators=(",", ":"))
    print("JSON " + line)
    if save and not payload.get("quick"):
        RESULTS.mkdir(exist_ok=True)
        path = RESULTS / f"{cpu_slug(machine['cpu'])}.jsonl"
        with open(path, "a") as fh:
            fh.write(line + "\n")
        print(f"appended to {path}", file=sys.stderr)


def cpu_slug(model: str) -> str:
    """``"AMD EPYC 9B14"`` -> ``"amd-epyc-9b14"``: the results file of a CPU model."""
    return re.sub(r"[^a-z0-9]+", "-", model.lower().replace("(r)", "").replace("(tm)", "")
                  ).strip("-") or "unknown-cpu"


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    return str(v)
