"""What every program of ``examples/book/`` shares: its command line, its data and its
two outputs (the book's figure as PNG, the numbers as JSON).

Each program ``NAME.py`` defines ``run(data, *, epochs, train_size, seed, ...) -> dict``
(the numbers, JSON-ready) and ``plot(results) -> matplotlib.figure.Figure`` (the book's
figure), and ends with ``common.main(...)``; the notebooks call ``run`` and ``plot``
themselves. Every command line has:

``--data``
    Anything :func:`nablanet.book.mnist_loader.load_data` reads: the 10,000-image MNIST
    sample next to the repository (the default: 6,000 training, 2,000 validation and
    2,000 test images), ``mnist`` for the full MNIST (found in ``$NABLANET_DATA`` or the
    cache, else downloaded and verified: the book's 50,000 / 10,000 / 10,000), a
    directory of IDX files or the book's ``mnist.pkl.gz``.
``--epochs``, ``--seed``, ``--train-size``
    The book's epoch count by default; the seed of every draw (the book seeds NumPy's
    global state with 12345678; nablanet takes a ``seed``); the number of training
    images used (the first ones, as the book's ``training_data[:1000]``).
``--out DIR``
    Where ``NAME.png`` and ``NAME.json`` go (each written to a temporary name and
    renamed). The JSON holds the program's numbers, the data's source and sizes
    (``data_sizes``), the arguments and the seconds it took. Accuracies are fractions
    of the real number of examples evaluated (never the book's ``/ 100`` or
    ``10000.0``).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from nablanet.atomic import atomic_write_bytes
from nablanet.book import mnist_loader

#: the MNIST sample beside the repository (``../shared/data/mnist-10k``)
SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist-10k"

#: the book's two plotting colours
BLUE, ORANGE = "#2A6EA6", "#FFA933"


def positive_int(text: str) -> int:
    """``argparse`` type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def parser(doc: str, *, epochs: int | None,
           train_size: int | None = None) -> argparse.ArgumentParser:
    """The common command line; a program adds its own options to it."""
    p = argparse.ArgumentParser(description=doc.strip().splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", default=str(SAMPLE),
                   help="MNIST sample directory, 'mnist', IDX directory or mnist.pkl.gz")
    p.add_argument("--epochs", type=positive_int, default=epochs,
                   help="epochs (default: the book's)")
    p.add_argument("--seed", type=int, default=12345678, help="seed of every draw")
    p.add_argument("--train-size", type=positive_int, default=train_size,
                   help="training images used, the first ones (default: all)")
    p.add_argument("--out", type=Path, default=Path("book-out"), help="output directory")
    return p


def load(source=SAMPLE, *, dtype=np.float64):
    """``(training, validation, test)``, each ``(X (n, 784), y (n,))`` (the book's
    ``load_data``); raises as :func:`nablanet.book.mnist_loader.load_data`."""
    return mnist_loader.load_data(source, dtype=dtype)


def first(data: tuple, n: int | None) -> tuple:
    """The first ``n`` examples of ``(X, y)`` (all of them when ``n`` is None)."""
    X, y = data
    return (X, y) if n is None else (X[:n], y[:n])


def accuracy(predicted, y) -> float:
    """Fraction of ``predicted`` labels equal to ``y``, over the real number of examples."""
    y = np.asarray(y)
    return float(np.count_nonzero(np.asarray(predicted) == y) / len(y))


def figure(n_axes: int = 1, *, width: float = 6.4, height: float = 4.2):
    """A :class:`~matplotlib.figure.Figure` (no pyplot state) and its axes in one row."""
    fig = Figure(figsize=(width * n_axes, height), layout="constrained")
    axes = fig.subplots(1, n_axes, squeeze=False)[0]
    return fig, list(axes)


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes (100 dpi)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    return buf.getvalue()


def write(out: Path, name: str, fig: Figure, results: dict, meta: dict) -> tuple[Path, Path]:
    """Write ``out/NAME.png`` and ``out/NAME.json`` (``results`` plus ``meta``), each
    whole or not at all; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    png, js = out / f"{name}.png", out / f"{name}.json"
    atomic_write_bytes(png, png_bytes(fig))
    atomic_write_bytes(js, (json.dumps({"experiment": name, **meta, **results}, indent=1)
                            + "\n").encode())
    return png, js


def main(name: str, p: argparse.ArgumentParser, run, plot, argv=None) -> int:
    """Parse the command line, load the data, ``run`` with every option as a keyword,
    ``plot``, write both outputs and say where; a user mistake (bad data path, bad
    value) is one line on stderr and exit status 2."""
    args = p.parse_args(argv)
    options = {k: v for k, v in vars(args).items() if k not in ("data", "out")}
    started = time.perf_counter()
    try:
        data = load(args.data)
        results = run(data, **options)
    except (FileNotFoundError, ValueError) as err:
        print(f"{p.prog}: error: {err}", file=sys.stderr)
        return 2
    sizes = {k: len(d[1]) for k, d in zip(("training", "validation", "test"), data, strict=True)}
    meta = {"data": args.data, "data_sizes": sizes,
            "options": options, "seconds": round(time.perf_counter() - started, 2)}
    png, js = write(args.out, name, plot(results), results, meta)
    print(f"wrote {png} and {js}")
    return 0
