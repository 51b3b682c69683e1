"""The ``nablanet`` command.

``nablanet train``      the book's feedforward network on MNIST-format images
``nablanet evaluate``   a saved network on a data set's test split
``nablanet predict``    class labels for images (IDX or ``.npy``)
``nablanet rnn ...``    recurrent networks on sequence CSV files (train, evaluate, predict)
``nablanet data ...``   turn real data sets into the sequence CSV format

A user mistake (missing file, bad option value, data that do not fit the model) is
one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np

from nablanet.atomic import atomic_write_bytes

log = logging.getLogger("nablanet")

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_ARGV: list[str] = []  # the command line, for --profile to run it again


# --------------------------------------------------------------------------------------
# Shared options and helpers
# --------------------------------------------------------------------------------------
def _setup_logging(verbose: int, quiet: int) -> None:
    level = logging.INFO - 10 * verbose + 10 * quiet
    root = logging.getLogger("nablanet")
    root.setLevel(max(level, logging.DEBUG))
    root.handlers.clear()
    root.propagate = False
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(
            console=Console(stderr=True), show_path=False, log_time_format="%H:%M:%S"
        )
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s",
                                               "%Y-%m-%d %H:%M:%S"))
    root.addHandler(handler)


def _positive(ctx, param, value):
    """A click callback: the value must be > 0."""
    if value is not None and not value > 0:
        raise click.BadParameter(f"expected a number > 0, got {value}")
    return value


def _sizes(ctx, param, value: str) -> list[int]:
    try:
        sizes = [int(s) for s in value.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers such as 784,30,10, got {value!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise click.BadParameter(f"expected at least two positive sizes, got {value!r}")
    return sizes


def optimizer_options(default_optimizer: str, default_lr: float):
    """The optimizer options shared by ``train`` and ``rnn train``."""

    def decorate(f):
        for option in reversed([
            click.option("--optimizer", type=click.Choice(
                ["sgd", "momentum", "nesterov", "rmsprop", "adam"]),
                default=default_optimizer, show_default=True, help="Update rule."),
            click.option("--lr", "--eta", "lr", type=float, default=default_lr,
                         show_default=True, callback=_positive,
                         help="Learning rate per mini-batch step (the book's eta)."),
            click.option("--momentum", type=float, default=0.9, show_default=True,
                         help="Momentum coefficient for --optimizer momentum/nesterov."),
            click.option("--weight-decay", type=float, default=0.0, show_default=True,
                         help="L2 coefficient on the weights (the book's lmbda / n)."),
            click.option("--clip-norm", type=float, default=None, callback=_positive,
                         help="Clip the gradients to this global L2 norm."),
            click.option("--schedule", type=click.Choice(
                ["none", "step", "exponential", "cosine", "plateau"]), default="none",
                show_default=True, help="Learning-rate schedule over the epochs."),
            click.option("--early-stopping", "patience", type=click.IntRange(min=1),
                         default=None, help="Stop when the validation loss has not "
                         "improved for more than this many evaluations; restore the best "
                         "weights."),
            click.option("--seed", type=int, default=1, show_default=True,
                         help="Seed of the weights and the shuffling."),
            click.option("--dtype", type=click.Choice(["float64", "float32"]),
                         default="float64", show_default=True),
            click.option("--save", "save_path", type=click.Path(dir_okay=False),
                         help="Save the trained model here."),
            click.option("--metrics-out", type=click.Path(dir_okay=False),
                         help="Write the history and final metrics as JSON here."),
            click.option("--plot", "plot_path", type=click.Path(dir_okay=False),
                         help="Draw the learning curves (and confusion matrix) to a PNG "
                         "(needs matplotlib: pip install 'nablanet[plot]')."),
            click.option("--backend", type=click.Choice(["auto", "numpy", "numba"]),
                         default="auto", show_default=True,
                         help="numpy: the vectorized reference; numba: compiled kernels "
                         "(plain SGD; pip install 'nablanet[fast]'); auto: numba for "
                         "small mini-batches when installed."),
            click.option("--shuffle/--no-shuffle", default=True, show_default=True,
                         help="Reshuffle the training data every epoch (--no-shuffle keeps "
                         "the file order, as the Rust seed does)."),
            click.option("--threads", type=click.IntRange(min=1), default=None,
                         help="BLAS threads while training [default: 1 for small "
                         "products, else the BLAS default]."),
            click.option("--profile", "profile_path", type=click.Path(dir_okay=False),
                         help="Run under the py-spy sampling profiler and write a flame "
                         "graph (SVG) here (pip install 'nablanet[profile]')."),
        ]):
            f = option(f)
        return f

    return decorate


def _profile_and_exit(path) -> None:
    """Run this same command again under ``py-spy record`` (minus ``--profile``), writing
    a flame graph to ``path``, and exit with its status."""
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise ImportError("--profile needs py-spy: pip install 'nablanet[profile]'")
    _check_writable(path)
    argv, skip = [], False
    for arg in _ARGV:
        if skip:
            skip = False
        elif arg == "--profile":
            skip = True
        elif not arg.startswith("--profile="):
            argv.append(arg)
    cmd = [py_spy, "record", "--output", str(path), "--format", "flamegraph", "--",
           sys.executable, "-m", "nablanet", *argv]
    log.info("profiling: %s", " ".join(cmd))
    sys.exit(subprocess.call(cmd))


def _make_optimizer(o: dict):
    from nablanet.optimizers import get_optimizer

    return get_optimizer(o["optimizer"], o["lr"], momentum=o["momentum"],
                         weight_decay=o["weight_decay"], clip_norm=o["clip_norm"])


def _training_controls(o: dict, epochs: int):
    from nablanet.training import EarlyStopping, get_schedule

    stopping = EarlyStopping(patience=o["patience"]) if o["patience"] else None
    return get_schedule(o["schedule"], epochs), stopping


def _write_json(path, payload: dict) -> None:
    from nablanet.metrics import to_jsonable

    atomic_write_bytes(path, json.dumps(to_jsonable(payload), indent=2).encode())
    log.info("wrote %s", path)


def _check_outputs(o: dict) -> None:
    """Fail before training, not after: output directories must exist, and --plot
    needs matplotlib. With --profile, rerun the command under py-spy instead."""
    if o["profile_path"]:
        _profile_and_exit(o["profile_path"])
    _check_writable(o["save_path"], o["metrics_out"], o["plot_path"])
    if o["plot_path"]:
        from nablanet.plotting import require_matplotlib

        require_matplotlib()


def _check_writable(*paths) -> None:
    """Fail before the work, not after, when an output directory does not exist."""
    for p in paths:
        if p is not None and not Path(p).resolve().parent.is_dir():
            raise FileNotFoundError(f"{p}: the directory {Path(p).parent} does not exist")


# --------------------------------------------------------------------------------------
# The command group
# --------------------------------------------------------------------------------------
@click.group(context_settings=CONTEXT)
@click.version_option(package_name="nablanet")
@click.option("-v", "--verbose", count=True, help="More log output (repeatable).")
@click.option("-q", "--quiet", count=True, help="Less log output (repeatable).")
def cli(verbose: int, quiet: int) -> None:
    """nablanet: neural networks from scratch on NumPy.

    Feedforward networks trained by backpropagation (Nielsen's book) and recurrent
    networks (RNN, LSTM, GRU) trained by backpropagation through time.
    """
    _setup_logging(verbose, quiet)


# --------------------------------------------------------------------------------------
# Feedforward
# --------------------------------------------------------------------------------------
@cli.command(context_settings=CONTEXT)
@click.argument("dataset")
@click.option("--sizes", default="784,30,10", show_default=True, callback=_sizes,
              help="Neurons per layer, input first.")
@click.option("--epochs", type=click.IntRange(min=1), default=30, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=10, show_default=True,
              help="Examples per mini-batch.")
@click.option("--activation", type=click.Choice(["sigmoid", "tanh", "relu"]),
              default="sigmoid", show_default=True, help="Hidden-layer activation.")
@click.option("--output", "output_activation", type=click.Choice(["sigmoid", "softmax"]),
              default="sigmoid", show_default=True, help="Output activation.")
@click.option("--loss", type=click.Choice(["quadratic", "binary_cross_entropy",
                                           "cross_entropy"]), default=None,
              help="Cost [default: quadratic; cross_entropy with --output softmax].")
@click.option("--init", type=click.Choice(["normal", "scaled_normal", "glorot", "he"]),
              default="normal", show_default=True, help="Weight initialisation.")
@click.option("--validation-split", type=click.FloatRange(0, 1, max_open=True), default=None,
              help="Hold out this fraction of the training images for validation "
              "[default: none; 0.1 with --early-stopping]. The test set is then "
              "evaluated once, at the end.")
@click.option("--offline", is_flag=True, help="Never download data.")
@optimizer_options("sgd", 3.0)
def train(dataset, sizes, epochs, batch_size, activation, output_activation, loss, init,
          validation_split, offline, **o):
    """Train a feedforward network on DATASET and report test accuracy per epoch.

    DATASET is 'mnist', 'fashion-mnist', a directory of IDX files, or the book's
    mnist.pkl.gz. The defaults are the book's chapter 1 network: [784, 30, 10] sigmoid
    neurons, quadratic cost, N(0, 1) weights, plain SGD, 30 epochs of mini-batches of 10
    at eta 3.0.
    """
    from nablanet.datasets.mnist import load_images
    from nablanet.models import Network

    _check_outputs(o)
    data = load_images(dataset, offline=offline, dtype=o["dtype"], seed=o["seed"])
    log.info("data: %s: %d training and %d test images", data.source, len(data.X_train),
             len(data.X_test))
    if loss is None:
        loss = "cross_entropy" if output_activation == "softmax" else "quadratic"
    net = Network(sizes, activation=activation, output_activation=output_activation,
                  loss=loss, init=init, optimizer=_make_optimizer(o), seed=o["seed"],
                  dtype=o["dtype"])
    schedule, stopping = _training_controls(o, epochs)
    if stopping is not None and validation_split is None:
        validation_split = 0.1
    fit_args = {"validation_split": validation_split} if validation_split else {
        "validation_data": (data.X_test, data.y_test)}
    log.info("network %s, %s", sizes, net.optimizer)
    history = net.fit(data.X_train, data.y_train, epochs=epochs, batch_size=batch_size,
                      schedule=schedule, early_stopping=stopping, backend=o["backend"],
                      threads=o["threads"], shuffle=o["shuffle"], **fit_args)
    correct = net.evaluate((data.X_test, data.y_test))
    n_test = len(data.X_test)
    summary = {
        "test_correct": correct, "test_accuracy": correct / n_test, "n_test": n_test,
        "total_seconds": history.total_seconds,
    }
    if not validation_split:
        accs = history["val_accuracy"]
        summary["best_test_accuracy"] = max(accs)
        summary["best_epoch"] = history.epochs[int(np.argmax(accs))]["epoch"]
    log.info("test accuracy %d / %d (%.2f%%)%s | %.1f s in all", correct, n_test,
             100 * correct / n_test,
             f" | best {100 * summary['best_test_accuracy']:.2f}% at epoch "
             f"{summary['best_epoch']}" if "best_epoch" in summary else "",
             history.total_seconds)
    if o["save_path"]:
        net.save(o["save_path"])
        log.info("saved the network to %s", o["save_path"])
    if o["metrics_out"]:
        _write_json(o["metrics_out"], {"command": "train", "dataset": data.source,
                                       "config": net.get_config(), "optimizer":
                                       net.optimizer.config(), "final": summary,
                                       "history": history.to_dict()})
    if o["plot_path"]:
        from nablanet.plotting import plot_training

        plot_training(o["plot_path"], history, y_true=data.y_test,
                      y_pred=net.predict(data.X_test))


@cli.command(context_settings=CONTEXT)
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False),
              help="A network saved by 'nablanet train --save'.")
@click.option("--dataset", required=True, help="As for 'nablanet train'.")
@click.option("--seed", type=int, default=1, show_default=True,
              help="For a directory without a test pair: the --seed of the training run, "
              "so that the same images are held out.")
@click.option("--offline", is_flag=True, help="Never download data.")
@click.option("--metrics-out", type=click.Path(dir_okay=False), help="Write JSON here.")
def evaluate(model_path, dataset, seed, offline, metrics_out):
    """Evaluate a saved network on the test split of a data set."""
    from nablanet.datasets.mnist import load_images
    from nablanet.metrics import multiclass_metrics, report_text
    from nablanet.models import Network

    net = Network.load(model_path)
    data = load_images(dataset, offline=offline, dtype=net.dtype, seed=seed)
    metrics = multiclass_metrics(data.y_test, net.predict(data.X_test),
                                 n_classes=net.sizes[-1])
    click.echo(report_text(metrics, f"Test evaluation ({data.source})"))
    if metrics_out:
        _write_json(metrics_out, {"command": "evaluate", "model": model_path,
                                  "dataset": data.source, "test": metrics})


@cli.command(context_settings=CONTEXT)
@click.option("--model", "model_path", required=True, type=click.Path(dir_okay=False))
@click.argument("images", type=click.Path(dir_okay=False))
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write the labels here (.npy, or text with one label per line) "
              "instead of standard output.")
def predict(model_path, images, output):
    """Predict class labels for IMAGES: an IDX image file or a .npy array of shape
    (n, 28, 28) or (n, 784); pixel values 0-255 for integer arrays, 0-1 for floats."""
    from nablanet.datasets.idx import read_idx
    from nablanet.models import Network

    net = Network.load(model_path)
    path = Path(images)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix == ".npy":
        X = np.load(path, allow_pickle=False)
    else:
        X = read_idx(path)
    if X.ndim >= 2:
        X = X.reshape(len(X), -1)
    if np.issubdtype(X.dtype, np.integer):
        X = X / 255.0
    labels = net.predict(X)
    if output and output.endswith(".npy"):
        buf = io.BytesIO()
        np.save(buf, labels)
        atomic_write_bytes(output, buf.getvalue())
    elif output:
        atomic_write_bytes(output, "".join(f"{v}\n" for v in labels).encode())
    else:
        click.echo("\n".join(str(v) for v in labels))
    log.info("predicted %d labels", len(labels))


# --------------------------------------------------------------------------------------
# Entry point: user mistakes are one line and exit status 2
# --------------------------------------------------------------------------------------
def main(argv=None) -> None:
    """Run the CLI; turn user errors into one line on stderr and exit status 2."""
    from nablanet.cli_rnn import data, rnn  # noqa: F401 - registers the subcommands

    _ARGV[:] = sys.argv[1:] if argv is None else list(argv)
    try:
        cli.main(args=argv, prog_name="nablanet", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("nablanet: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"nablanet: error: {exc.format_message()}", err=True)
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        click.echo(f"nablanet: error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("nablanet: interrupted", err=True)
        sys.exit(130)
