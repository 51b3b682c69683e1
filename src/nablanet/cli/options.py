"""The commands' options and help: click's context settings, logging and its -v/-q
options, help epilogues, renamed options, plural wording, which command takes which
model, checks of option values (and of a model's size against memory), and the table of
options that ``train`` and ``rnn train`` share, with what they build.

Every name here is public: the command modules import them, never each other's.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import click

log = logging.getLogger("nablanet")

#: click settings of every command: -h as --help, wide help, every default shown
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100,
           "show_default": True}


# --------------------------------------------------------------------------------------
# Logging and -v/-q
# --------------------------------------------------------------------------------------
def setup_logging(verbose: int, quiet: int) -> None:
    """Send the ``nablanet`` logger to stderr at INFO, 10 lower per ``-v``, 10 higher per
    ``-q`` (rich formatting on a terminal, timestamped lines otherwise)."""
    root = logging.getLogger("nablanet")
    root.setLevel(max(logging.INFO - 10 * verbose + 10 * quiet, logging.DEBUG))
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


def _shift_level(ctx, param, count: int) -> None:
    if count:
        step = -10 if param.name == "verbose" else 10
        root = logging.getLogger("nablanet")
        root.setLevel(max(root.getEffectiveLevel() + step * count, logging.DEBUG))


def verbosity_options(f):
    """``-v``/``-q`` on a subcommand, so that they work after it as well as before."""
    f = click.option("-q", "--quiet", count=True, expose_value=False, callback=_shift_level,
                     show_default=False, help="Less log output (repeatable).")(f)
    return click.option("-v", "--verbose", count=True, expose_value=False,
                        callback=_shift_level, show_default=False,
                        help="More log output (repeatable).")(f)


def examples(*lines: str) -> str:
    """A help epilogue listing runnable command lines, kept as written by click."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


#: ``ctx.meta`` key: the options given other than on the command line (a deprecated
#: spelling, or with --resume the checkpoint's run), see :func:`option_given`
GIVEN = "nablanet.given"


def option_given(name: str) -> bool:
    """Whether the current command's option ``name`` (its parameter name) was given: on
    the command line, by its deprecated spelling (:func:`renamed`), or with --resume by
    the checkpoint's run (:func:`nablanet.cli.runs.resumable`); not when it has its
    default. A command's own defaults (per task, per network kind) apply only to options
    not given."""
    ctx = click.get_current_context()
    return (name in ctx.meta.get(GIVEN, set())
            or ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE)


def renamed(old: str, new: str, dest: str, convert=None, **kwargs):
    """Keep the old spelling ``old`` of option ``new`` working for one release: hidden
    from the help, it fills the parameter ``dest`` (with ``convert(value)`` where the
    new option counts otherwise) and logs a deprecation warning."""
    hidden = "deprecated_" + old.lstrip("-").replace("-", "_")

    def decorate(f):
        @functools.wraps(f)
        def command(*args, **params):
            value = params.pop(hidden)
            if value is not None:
                source = click.get_current_context().get_parameter_source(dest)
                if source is click.core.ParameterSource.COMMANDLINE:
                    raise click.UsageError(f"{old} and {new} are the same option: give one")
                log.warning("%s is deprecated and will be removed in the next release: "
                            "use %s%s", old, new,
                            "" if convert is None else f" {convert(value):g}")
                params[dest] = value if convert is None else convert(value)
                click.get_current_context().meta.setdefault(GIVEN, set()).add(dest)
            return f(*args, **params)

        return click.option(old, hidden, hidden=True, default=None, **kwargs)(command)

    return decorate


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 label"``, ``"2 labels"``, ``"1,000 images"``."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def check_model_kind(path, command: str) -> None:
    """Refuse a model of the other kind than ``command`` (``"predict"``, ``"rnn
    evaluate"``, ``"train"`` for --resume, ...) takes, naming the command that takes
    it: recurrent models go to the ``rnn`` commands, every other model to the others.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`nablanet.serialization.load`; ValueError naming ``path``, the model's
        kind and the command to use.
    """
    from nablanet.models import RecurrentNetwork
    from nablanet.serialization import model_class

    cls = model_class(path)
    recurrent, verb = issubclass(cls, RecurrentNetwork), command.removeprefix("rnn ")
    if recurrent and command == verb:
        raise ValueError(f"{path}: this is a recurrent model ({cls.__name__}): use "
                         f"'nablanet rnn {verb}'")
    if not recurrent and command != verb:
        raise ValueError(f"{path}: this is not a recurrent model but a {cls.__name__}: use "
                         f"'nablanet {verb}'")


# --------------------------------------------------------------------------------------
# Option values
# --------------------------------------------------------------------------------------
def positive(ctx, param, value):
    """A click callback: the value must be > 0 (and finite)."""
    if value is not None and not 0 < value < float("inf"):
        raise click.BadParameter(f"expected a number > 0, got {value}")
    return value


def parse_sizes(ctx, param, value: str) -> list[int]:
    """A click callback: ``"784,30,10"`` -> ``[784, 30, 10]``, at least two positive."""
    try:
        sizes = [int(s) for s in value.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"expected comma-separated integers such as 784,30,10, got {value!r}"
        ) from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise click.BadParameter(f"expected at least two positive sizes, got {value!r}")
    return sizes


def memory_bytes() -> int | None:
    """This machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_parameter_count(option: str, n_params: int, dtype: str) -> None:
    """Refuse, before anything is allocated, a model whose parameters with their
    gradients and optimizer state (4 copies) would not fit in this machine's memory.

    Raises
    ------
    click.BadParameter
        Naming ``option``, the parameter count and the memory asked for.
    """
    itemsize = 4 if dtype == "float32" else 8
    need, have = 4 * n_params * itemsize, memory_bytes()
    if have is not None and need > have:
        raise click.BadParameter(
            f"{n_params:,} parameters need about {need / 1e9:,.1f} GB as {dtype} "
            f"(weights, gradients, optimizer state), more than this machine's "
            f"{have / 1e9:,.1f} GB of memory", param_hint=option)


# --------------------------------------------------------------------------------------
# Options of the training commands
# --------------------------------------------------------------------------------------
OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adam"]

#: the losses by name: ``mse`` is ``quadratic``'s other name (as in :mod:`nablanet.losses`);
#: logs and records give the loss's own name (:func:`loss_name`)
LOSSES = ["quadratic", "mse", "binary_cross_entropy", "cross_entropy"]

#: the default of a shared option that each command gives (:func:`shared_option`)
PER_COMMAND = "per command"

#: The options of ``train`` and ``rnn train`` that mean the same thing, each defined once
#: here: parameter name -> (declarations, click keywords). Where the default is
#: ``PER_COMMAND`` each command gives its own; a command adds a ``[default: ...]`` note
#: where the default is None. tests/test_cli_options.py holds both commands to this table.
SHARED_OPTIONS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "epochs": (("--epochs",), {
        "type": click.IntRange(min=1), "default": PER_COMMAND,
        "help": "Passes over the training data."}),
    "batch_size": (("--batch-size",), {
        "type": click.IntRange(min=1), "default": PER_COMMAND,
        "help": "Training samples (images, sequences) per mini-batch, one gradient step "
        "each."}),
    "activation": (("--activation",), {
        "type": click.Choice(["sigmoid", "tanh", "relu"]), "default": PER_COMMAND,
        "help": "Hidden activation (rnn train: of the vanilla RNN cell)."}),
    "loss": (("--loss",), {
        "type": click.Choice(LOSSES), "default": None,
        "help": "Loss (the book's cost) function; mse is another name of quadratic."}),
    "eval_every": (("--eval-every",), {
        "type": click.IntRange(min=1), "default": PER_COMMAND,
        "help": "Evaluate, and log the epoch line, every this many epochs and after the "
        "last; early stopping and the plateau schedule count evaluations."}),
    "test_split": (("--test-split",), {
        "type": click.FloatRange(0, 1, min_open=True, max_open=True), "default": 0.2,
        "help": "Data without a test set of its own (a directory with a single "
        "images/labels pair; rnn train without TEST_CSV): hold out this fraction of it, "
        "drawn with --seed, for testing."}),
    "validation_split": (("--validation-split",), {
        "type": click.FloatRange(0, 1, max_open=True), "default": None,
        "help": "Hold out this fraction of the training data (seeded by --seed) as "
        "validation data: the per-epoch validation metrics, --early-stopping and --schedule "
        "plateau use it, and the test data are evaluated once, at the end, for the report "
        "only [default: none; 0.1 with --early-stopping or --schedule plateau]."}),
    "optimizer": (("--optimizer",), {
        "type": click.Choice(OPTIMIZERS), "default": PER_COMMAND,
        "help": "Update rule: plain SGD, SGD with (Nesterov) momentum, RMSProp or Adam."}),
    "lr": (("--lr", "--eta"), {
        "type": float, "default": PER_COMMAND, "callback": positive,
        "help": "Learning rate per mini-batch step (--eta: its name in Nielsen's book)."}),
    "momentum": (("--momentum",), {
        "type": float, "default": 0.9,
        "help": "Momentum coefficient for --optimizer momentum/nesterov."}),
    "weight_decay": (("--weight-decay",), {
        "type": click.FloatRange(min=0), "default": 0.0,
        "help": "L2 regularisation coefficient on the weights (lambda / n in Nielsen's "
        "book)."}),
    "clip_norm": (("--clip-norm",), {
        "type": float, "default": None, "callback": positive,
        "help": "Clip the gradients to this global L2 norm [default: no clipping]."}),
    "schedule": (("--schedule",), {
        "type": click.Choice(["none", "step", "exponential", "cosine", "plateau"]),
        "default": "none", "help": "Learning-rate schedule over the epochs."}),
    "patience": (("--early-stopping",), {
        "type": click.IntRange(min=1), "default": None,
        "help": "Stop when the validation loss has not improved for more than this many "
        "evaluations and restore the best weights [default: off]."}),
    "seed": (("--seed",), {
        "type": click.IntRange(min=0), "default": 1,
        "help": "Seed of the weight initialisation, the shuffling and the train/test "
        "split: the same seed gives the same model."}),
    "dtype": (("--dtype",), {
        "type": click.Choice(["float64", "float32"]), "default": "float64",
        "help": "Floating-point type of the weights and the data."}),
    "backend": (("--backend",), {
        "type": click.Choice(["auto", "numpy", "numba"]), "default": "auto",
        "help": "numpy: vectorised NumPy on whole mini-batches; numba: compiled kernels "
        "(dense networks and the vanilla RNN: plain SGD; LSTM, GRU, convolution and "
        "pooling layers: any optimizer; pip install 'nablanet[fast]'); auto: numba for "
        "small mini-batches, and for LSTM/GRU and convolutional networks at any size, "
        "when installed (see 'nablanet info')."}),
    "shuffle": (("--shuffle/--no-shuffle",), {
        "default": True,
        "help": "Reshuffle the training data every epoch (--no-shuffle keeps the file "
        "order)."}),
    "threads": (("--threads",), {
        "type": click.IntRange(min=1), "default": None,
        "help": "Threads while training: workers that each run the forward and backward "
        "pass on their share of a mini-batch's rows (batches of 32 and more, trained "
        "through the layers), else BLAS threads (the compiled whole-epoch kernels) "
        "[default: every core when each worker's share holds enough work, else BLAS at 1 "
        "thread for small products, its default for large ones]."}),
    "class_weight": (("--class-weight",), {
        "type": click.Choice(["none", "balanced"]), "default": "none",
        "help": "Weight each class's examples in the loss: balanced gives class c the "
        "weight n / (n_classes * n_c), scikit-learn's rule."}),
    "model_out": (("--model-out",), {
        "type": click.Path(dir_okay=False), "default": None,
        "help": "Save the trained model, with its training state, to this .safetensors "
        "file [default: not saved]."}),
    "checkpoint_every": (("--checkpoint-every",), {
        "type": click.IntRange(min=1), "default": None,
        "help": "Also write --model-out every this many epochs (each write whole or not "
        "at all) [default: at the end only]."}),
    "resume": (("--resume",), {
        "type": click.Path(dir_okay=False), "default": None,
        "help": "Continue the run saved in this checkpoint (a --model-out file) up to "
        "--epochs in total, with its optimizer, schedule, generator and data split: the "
        "same weights as an uninterrupted run on the same backend. Every other option "
        "defaults to the run's; one given with another value is refused [default: a "
        "fresh run]."}),
    "tensorboard": (("--tensorboard",), {
        "type": click.Path(file_okay=False), "default": None,
        "help": "Write TensorBoard event files (per-epoch losses, metrics, learning rate, "
        "seconds; the hyper-parameters) to this directory (pip install "
        "'nablanet[tensorboard]') [default: none]."}),
    "metrics_out": (("--metrics-out",), {
        "type": click.Path(dir_okay=False), "default": None,
        "help": "Write the history and final metrics to this JSON file [default: not "
        "written]."}),
    "history_out": (("--history-out",), {
        "type": click.Path(dir_okay=False), "default": None,
        "help": "Write each epoch's losses and metrics to this file as it finishes, one "
        "JSON object per line (JSON Lines: follow the run with tail -f; --resume "
        "appends) [default: not written]."}),
    "plot_out": (("--plot-out",), {
        "type": click.Path(dir_okay=False), "default": None,
        "help": "Draw the learning curves (and the confusion matrix) to this PNG file "
        "(pip install 'nablanet[plot]') [default: no plot]."}),
    "profile_out": (("--profile-out",), {
        "type": click.Path(dir_okay=False), "default": None,
        "help": "Run under the py-spy sampling profiler and write a flame graph (SVG) "
        "here (pip install 'nablanet[profile]') [default: not profiled]."}),
}

#: the shared options that :func:`training_options` adds, in the order of the help
TRAINING_OPTIONS = ("optimizer", "lr", "momentum", "weight_decay", "clip_norm", "schedule",
                    "patience", "seed", "dtype", "backend", "shuffle", "threads",
                    "class_weight", "model_out", "checkpoint_every", "resume",
                    "tensorboard", "metrics_out", "history_out", "plot_out", "profile_out")


def shared_option(name: str, default: Any = PER_COMMAND, note: str = ""):
    """The click option ``name`` of :data:`SHARED_OPTIONS`, with this command's
    ``default`` where the table leaves it to the command, and ``note`` as the help's
    ``[default: note]`` where that default is None."""
    decls, kwargs = SHARED_OPTIONS[name]
    kwargs = dict(kwargs)
    if kwargs["default"] == PER_COMMAND:
        if default == PER_COMMAND:
            raise TypeError(f"shared option {name}: each command gives its default")
        kwargs["default"] = default
    elif default != PER_COMMAND:
        raise TypeError(f"shared option {name}: its default is the table's")
    if note:
        kwargs["help"] += f" [default: {note}]"
    return click.option(*decls, name, **kwargs)


def training_options(defaults: Mapping[str, Any] | None = None, default_note: str = ""):
    """The options of :data:`TRAINING_OPTIONS` (optimizer, learning rate and its
    schedule, regularisation, seed, dtype, backend, run outputs and profiling) and the
    old names of three of them.

    ``defaults`` gives ``optimizer`` and ``lr``; without it they default to None and
    ``default_note`` says in the help where their defaults come from.
    """
    defaults = defaults or {}

    def decorate(f):
        options = []
        for name in TRAINING_OPTIONS:
            if SHARED_OPTIONS[name][1]["default"] != PER_COMMAND:
                options.append(shared_option(name))
            elif name in defaults:
                options.append(shared_option(name, defaults[name]))
            else:
                options.append(shared_option(name, None, default_note))
        options += [
            renamed("--save", "--model-out", "model_out", type=click.Path(dir_okay=False)),
            renamed("--plot", "--plot-out", "plot_out", type=click.Path(dir_okay=False)),
            renamed("--profile", "--profile-out", "profile_out",
                    type=click.Path(dir_okay=False)),
        ]
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


def loss_name(name: str | None) -> str | None:
    """The loss's own name for a ``--loss`` value (``mse`` -> ``quadratic``), None kept."""
    from nablanet.losses import get_loss

    return None if name is None else get_loss(name).name


#: the share of the training data held out for validation when the run chooses epochs
#: (early stopping, --schedule plateau) and --validation-split is not given
VALIDATION_FRACTION = 0.1

def validation_split_of(validation_split: float | None, o: Mapping[str, Any]) -> float:
    """The run's validation share: ``--validation-split`` as given, else
    :data:`VALIDATION_FRACTION` when early stopping or a plateau schedule chooses
    epochs (they must never see the test data), else 0 (none).

    Raises
    ------
    click.BadParameter
        For --validation-split 0 with --early-stopping or --schedule plateau.
    """
    chooses = [name for name, on in (("--early-stopping", o["patience"]),
                                     ("--schedule plateau", o["schedule"] == "plateau"))
               if on]
    if validation_split is None:
        return VALIDATION_FRACTION if chooses else 0.0
    if chooses and not validation_split:
        raise click.BadParameter(
            f"0: {' and '.join(chooses)} choose epochs on validation data, never on the "
            "test data: give a fraction > 0", param_hint="--validation-split")
    return validation_split


def make_optimizer(o: Mapping[str, Any]):
    """The optimizer the training options ask for."""
    from nablanet.optimizers import get_optimizer

    return get_optimizer(o["optimizer"], o["lr"], momentum=o["momentum"],
                         weight_decay=o["weight_decay"], clip_norm=o["clip_norm"])


def training_controls(o: Mapping[str, Any], epochs: int):
    """``(schedule, early stopping or None)`` from the training options."""
    from nablanet.training import EarlyStopping, get_schedule

    stopping = EarlyStopping(patience=o["patience"]) if o["patience"] else None
    return get_schedule(o["schedule"], epochs), stopping
