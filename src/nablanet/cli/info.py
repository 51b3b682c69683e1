"""``nablanet info``: versions, backends, BLAS and where data sets are found, for bug
reports."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import click

from nablanet.cli.options import CONTEXT, examples, memory_bytes, verbosity_options
from nablanet.cli.runs import cpu_model, version_of


def report() -> list[tuple[str, str]]:
    """The rows of ``nablanet info``: ``(name, value)``."""
    import numpy as np
    from platformdirs import user_cache_dir
    from threadpoolctl import threadpool_info

    from nablanet import kernels
    from nablanet.datasets import mnist
    from nablanet.models import RNN, Network

    np.ones((2, 2)) @ np.ones((2, 2))  # load the BLAS so that threadpoolctl sees it
    rows = [
        ("nablanet", version_of("nablanet")),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("NumPy", np.__version__),
        ("Numba", version_of("numba")),
        ("SciPy", version_of("scipy")),
        ("backend auto", (
            f"numba (compiled kernels) for plain SGD on mini-batches of up to "
            f"{Network.auto_numba_max_batch} (Network) or {RNN.auto_numba_max_batch} "
            "(RNN); the compiled LSTM/GRU recurrences and convolution/pooling passes at "
            "every size; numpy otherwise") if kernels.AVAILABLE else
         "numpy (Numba not installed: pip install 'nablanet[fast]')"),
    ]
    blas = [lib for lib in threadpool_info() if lib.get("user_api") == "blas"]
    rows += [("BLAS", f"{lib.get('internal_api')} {lib.get('version') or ''} "
                      f"({lib.get('threading_layer', '?')} threading, "
                      f"{lib.get('num_threads')} threads, {lib.get('architecture', '?')} "
                      f"kernels) {lib.get('filepath')}") for lib in blas] or [
        ("BLAS", "not found by threadpoolctl")]
    memory = memory_bytes()
    rows += [
        ("CPU", f"{cpu_model()}, {os.cpu_count()} logical cores"),
        ("memory", f"{memory / 1e9:.1f} GB" if memory else "unknown"),
        ("platform", platform.platform()),
    ]
    env = os.environ.get(mnist.DATA_ENV)
    for name in ("mnist", "fashion-mnist"):
        places = [f"${mnist.DATA_ENV}/{name}" + (f" = {Path(env) / name}" if env else
                                                 " (unset)"),
                  str(Path(user_cache_dir("nablanet")) / name),
                  *map(str, mnist.SYSTEM_DIRS[name])]
        rows.append((f"data {name}", "; ".join(places)))
    return rows


@click.command(context_settings=CONTEXT, epilog=examples(
    "nablanet info", "nablanet info > bug-report.txt"))
@verbosity_options
def info():
    """Print the versions of nablanet, Python, NumPy, Numba and SciPy, the backend that
    'train --backend auto' picks, the BLAS and its threads, the CPU, and where the named data
    sets (mnist, fashion-mnist) are looked for, in order: the first thing a bug report
    needs."""
    rows = report()
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        click.echo(f"{name:<{width}}  {value}")
