"""Pieces shared by the ``nablanet`` commands: context settings, logging and its -v/-q
options, help epilogues, renamed options, the optimizer options of ``train`` and
``rnn train``, checks of option values against memory, and the output-path checks run
before any work.

Every name here is public: the command modules import them, never each other's.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import platform
import shlex
import signal
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from nablanet.atomic import atomic_write_bytes

log = logging.getLogger("nablanet")

#: click settings of every command: -h as --help, wide help, every default shown
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100,
           "show_default": True}

#: temporaries of our own naming (see ``atomic_output``) older than this are stale:
#: left by a process killed while writing, removed on the next write of the same path
STALE_TEMP_SECONDS = 60.0

#: the command line, for --profile-out to run it again
ARGV: list[str] = []


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


def renamed(old: str, new: str, dest: str, **kwargs):
    """Keep the old spelling ``old`` of option ``new`` working for one release: hidden
    from the help, it fills the parameter ``dest`` and logs a deprecation warning."""
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
                            "use %s", old, new)
                params[dest] = value
            return f(*args, **params)

        return click.option(old, hidden, hidden=True, default=None, **kwargs)(command)

    return decorate


def plural(n: int, word: str, words: str | None = None) -> str:
    """``"1 label"``, ``"2 labels"``, ``"1,000 images"``."""
    return f"{n:,} {word if n == 1 else words or word + 's'}"


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
# Output paths: checked before the work, written whole, logged
# --------------------------------------------------------------------------------------
def _input_files(path: Path) -> list[Path]:
    """An input as the files it stands for: a directory is the files directly in it."""
    if path.is_dir():
        return [p.resolve() for p in path.iterdir() if p.is_file()]
    return [path.resolve()] if path.exists() else []


def _remove_stale_temporaries(path: Path) -> None:
    """Remove ``.NAME.XXXXXXXX.tmp`` files (our temporaries for ``path``) left by a
    writer killed more than :data:`STALE_TEMP_SECONDS` ago."""
    prefix, now = f".{path.name}.", time.time()
    for p in path.parent.iterdir():
        name = p.name
        if (name.startswith(prefix) and name.endswith(".tmp")
                and len(name) == len(prefix) + 12 and p.is_file()):
            try:
                if now - p.stat().st_mtime > STALE_TEMP_SECONDS:
                    p.unlink()
                    log.debug("removed the stale temporary %s", p)
            except FileNotFoundError:
                pass


def check_outputs(outputs: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Check every output path of a command before its work starts.

    Each output is resolved (symlinks, ``..``) and refused when it is one of the inputs
    (a directory input stands for the files in it) or another output; its directory
    must exist and a file must be creatable there: the temporary file the write will use
    is created and removed. Stale temporaries of ours for that path are removed.

    Parameters
    ----------
    outputs : mapping of option name to path or None
        E.g. ``{"--model-out": "net.safetensors", "--metrics-out": None}``.
    inputs : mapping of a description to path or None
        E.g. ``{"DATASET": "data/", "--model": "net.safetensors"}``; names that are not
        existing paths (``mnist``) are ignored.

    Raises
    ------
    click.BadParameter
        Naming the option and the user's path, and the input or output it collides
        with, or why it cannot be created.
    """
    taken: dict[Path, str] = {}
    for name, value in inputs.items():
        if value is not None:
            path = Path(os.fspath(value)).expanduser()
            what = f"a file of the input {name} ({value})" if path.is_dir() else \
                f"the input {name}"
            for f in _input_files(path):
                taken.setdefault(f, what)
    for option, value in outputs.items():
        if value is None:
            continue
        given = os.fspath(value)
        path = Path(given).expanduser().resolve()
        if path in taken:
            raise click.BadParameter(f"{given} is {taken[path]}: refusing to overwrite it",
                                     param_hint=option)
        if path.is_dir():
            raise click.BadParameter(f"{given} is a directory, expected a file name",
                                     param_hint=option)
        if not path.parent.is_dir():
            raise click.BadParameter(f"{given}: the directory {Path(given).parent} does not "
                                     "exist", param_hint=option)
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                       dir=path.parent)
        except OSError as exc:
            raise click.BadParameter(f"{given}: cannot create a file in "
                                     f"{Path(given).parent or '.'} ({exc.strerror})",
                                     param_hint=option) from None
        os.close(fd)
        os.unlink(tmp)
        _remove_stale_temporaries(path)
        taken[path] = f"also {option}"


@contextmanager
def writing(path, what: str = "") -> Iterator[None]:
    """Around the write of an output: an ``OSError`` names the user's ``path`` (not a
    temporary name); success is logged as ``wrote PATH (what)``."""
    try:
        yield
    except OSError as exc:
        raise OSError(f"{path}: could not write it ({exc.strerror or exc})") from None
    log.info("wrote %s%s", path, f" ({what})" if what else "")


def write_bytes(path, data: bytes, what: str = "") -> None:
    """Write ``data`` to ``path`` whole or not at all, and log it."""
    with writing(path, what):
        atomic_write_bytes(path, data)


def write_json(path, payload: dict, what: str = "metrics") -> None:
    """Write ``payload`` as indented JSON (NumPy values made plain) to ``path``."""
    from nablanet.metrics import to_jsonable

    write_bytes(path, json.dumps(to_jsonable(payload), indent=2).encode(), what)


# --------------------------------------------------------------------------------------
# Options of the training commands
# --------------------------------------------------------------------------------------
OPTIMIZERS = ["sgd", "momentum", "nesterov", "rmsprop", "adam"]


def training_options(defaults: Mapping[str, Any] | None = None, default_note: str = ""):
    """The options shared by ``train`` and ``rnn train``: optimizer, learning rate and
    its schedule, regularisation, seed, dtype, backend, run outputs and profiling.

    ``defaults`` gives ``optimizer`` and ``lr``; without it they default to None and
    ``default_note`` says in the help where their defaults come from.
    """
    defaults = defaults or {}
    note = f" [default: {default_note}]" if default_note else ""

    def decorate(f):
        for option in reversed([
            click.option("--optimizer", type=click.Choice(OPTIMIZERS),
                         default=defaults.get("optimizer"),
                         help="Update rule: plain SGD, SGD with (Nesterov) momentum, "
                         "RMSProp or Adam." + note),
            click.option("--lr", "--eta", "lr", type=float, default=defaults.get("lr"),
                         callback=positive,
                         help="Learning rate per mini-batch step (--eta: its name in "
                         "Nielsen's book)." + note),
            click.option("--momentum", type=float, default=0.9,
                         help="Momentum coefficient for --optimizer momentum/nesterov."),
            click.option("--weight-decay", type=click.FloatRange(min=0), default=0.0,
                         help="L2 regularisation coefficient on the weights (lambda / n "
                         "in Nielsen's book)."),
            click.option("--clip-norm", type=float, default=None, callback=positive,
                         help="Clip the gradients to this global L2 norm [default: no "
                         "clipping]."),
            click.option("--schedule", type=click.Choice(
                ["none", "step", "exponential", "cosine", "plateau"]), default="none",
                help="Learning-rate schedule over the epochs."),
            click.option("--early-stopping", "patience", type=click.IntRange(min=1),
                         default=None, help="Stop when the validation loss has not "
                         "improved for more than this many evaluations and restore the "
                         "best weights [default: off]."),
            click.option("--seed", type=click.IntRange(min=0), default=1,
                         help="Seed of the weight initialisation, the shuffling and the "
                         "train/test split: the same seed gives the same model."),
            click.option("--dtype", type=click.Choice(["float64", "float32"]),
                         default="float64", help="Floating-point type of the weights "
                         "and the data."),
            click.option("--backend", type=click.Choice(["auto", "numpy", "numba"]),
                         default="auto",
                         help="numpy: vectorised NumPy on whole mini-batches; numba: "
                         "compiled kernels (plain SGD; pip install 'nablanet[fast]'); "
                         "auto: numba for small mini-batches when installed (see "
                         "'nablanet info')."),
            click.option("--shuffle/--no-shuffle", default=True,
                         help="Reshuffle the training data every epoch (--no-shuffle "
                         "keeps the file order)."),
            click.option("--threads", type=click.IntRange(min=1), default=None,
                         help="BLAS threads while training [default: 1 for small "
                         "products, else the BLAS default]."),
            click.option("--class-weight", type=click.Choice(["none", "balanced"]),
                         default="none", help="Weight each class's examples in the loss: "
                         "balanced gives class c the weight n / (n_classes * n_c), "
                         "scikit-learn's rule."),
            click.option("--model-out", "model_out", type=click.Path(dir_okay=False),
                         default=None, help="Save the trained model, with its training "
                         "state, to this .safetensors file [default: not saved]."),
            click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
                         help="Also write --model-out every this many epochs (each write "
                         "whole or not at all) [default: at the end only]."),
            click.option("--resume", type=click.Path(dir_okay=False), default=None,
                         help="Continue the run saved in this checkpoint (a --model-out "
                         "file) up to --epochs in total, with its optimizer, schedule, "
                         "generator and data split: the same weights as an uninterrupted "
                         "run on the same backend. The other options must be the run's "
                         "[default: a fresh run]."),
            click.option("--tensorboard", type=click.Path(file_okay=False), default=None,
                         help="Write TensorBoard event files (per-epoch losses, metrics, "
                         "learning rate, seconds; the hyper-parameters) to this directory "
                         "(pip install 'nablanet[tensorboard]') [default: none]."),
            click.option("--metrics-out", type=click.Path(dir_okay=False), default=None,
                         help="Write the history and final metrics to this JSON file [default: "
                         "not written]."),
            click.option("--history-out", type=click.Path(dir_okay=False), default=None,
                         help="Write each epoch's losses and metrics to this file as it "
                         "finishes, one JSON object per line (JSON Lines: follow the run "
                         "with tail -f; --resume appends) [default: not written]."),
            click.option("--plot-out", "plot_out", type=click.Path(dir_okay=False),
                         default=None, help="Draw the learning curves (and the confusion "
                         "matrix) to this PNG file (pip install 'nablanet[plot]') [default: no "
                         "plot]."),
            click.option("--profile-out", "profile_out", type=click.Path(dir_okay=False),
                         default=None, help="Run under the py-spy sampling profiler and "
                         "write a flame graph (SVG) here (pip install "
                         "'nablanet[profile]') [default: not profiled]."),
            renamed("--save", "--model-out", "model_out", type=click.Path(dir_okay=False)),
            renamed("--plot", "--plot-out", "plot_out", type=click.Path(dir_okay=False)),
            renamed("--profile", "--profile-out", "profile_out",
                    type=click.Path(dir_okay=False)),
        ]):
            f = option(f)
        return f

    return decorate


RUN_OUTPUTS = ("model_out", "metrics_out", "history_out", "plot_out", "profile_out")


def prepare_run(o: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Before a training run: check its outputs (:func:`check_outputs`) and that --plot-out
    can be drawn; with --profile-out, run this same command again under py-spy instead
    and exit with its status.

    Raises
    ------
    click.UsageError
        For --checkpoint-every without --model-out.
    """
    if o["checkpoint_every"] and not o["model_out"]:
        raise click.UsageError("--checkpoint-every writes --model-out: give --model-out")
    check_outputs({"--" + k.replace("_", "-"): o[k] for k in RUN_OUTPUTS}, inputs)
    if o["profile_out"]:
        _profile_and_exit(o["profile_out"])
    if o["plot_out"]:
        from nablanet.plotting import require_matplotlib

        require_matplotlib()


def _profile_and_exit(path) -> None:
    import shutil
    import subprocess

    py_spy = shutil.which("py-spy") or shutil.which("py-spy",
                                                    path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise ImportError("--profile-out needs py-spy: pip install 'nablanet[profile]'")
    argv, skip = [], False
    for arg in ARGV:
        if skip:
            skip = False
        elif arg in ("--profile-out", "--profile"):
            skip = True
        elif not arg.startswith(("--profile-out=", "--profile=")):
            argv.append(arg)
    cmd = [py_spy, "record", "--output", str(path), "--format", "flamegraph", "--",
           sys.executable, "-m", "nablanet", *argv]
    log.info("profiling: %s", " ".join(cmd))
    status = subprocess.call(cmd)
    if status == 0:
        log.info("wrote %s (flame graph)", path)
    sys.exit(status)


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


# --------------------------------------------------------------------------------------
# Runs: resume, checkpoints, interrupts, run records
# --------------------------------------------------------------------------------------
def version_of(distribution: str) -> str:
    """The installed version of ``distribution``, or ``"not installed"``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def run_record(command: str, options: Mapping[str, Any], schedule) -> dict:
    """The head of a ``--metrics-out`` file: the command line, every option's value as
    configured (the schedule with its parameters), nablanet/NumPy/Numba versions and
    the CPU model. The caller adds the backend used, the history and the results."""
    import numpy as np

    return {
        "command": command,
        "command_line": shlex.join(["nablanet", *ARGV]),
        "options": dict(options),
        "schedule": None if schedule is None else schedule.to_dict()["config"] | {
            "name": schedule.to_dict()["name"]},
        "versions": {"nablanet": version_of("nablanet"), "numpy": np.__version__,
                     "numba": version_of("numba"), "python": platform.python_version()},
        "cpu": cpu_model(),
    }


def resume_model(path, fresh, o: Mapping[str, Any], epochs: int, schedule, stopping):
    """The model saved in the checkpoint ``path`` (``--resume``), checked against the
    model ``fresh`` that the options build and against the options' optimizer,
    schedule and early stopping.

    Raises
    ------
    click.BadParameter
        Naming --resume: a file without training state, a run already at --epochs, or
        every setting where the options contradict the checkpoint.
    """
    model = type(fresh).load(path)
    state = model.training_state
    if state.epoch == 0:
        raise click.BadParameter(f"{path}: holds no training run to resume (no training "
                                 "state, or 0 epochs)", param_hint="--resume")
    if state.epoch >= epochs:
        raise click.BadParameter(f"{path}: its run has trained {state.epoch} epochs, "
                                 f"--epochs is {epochs}: nothing to resume",
                                 param_hint="--resume")
    ours, theirs = fresh.get_config(), model.get_config()
    wrong = [f"{k} {ours.get(k)!r} (checkpoint {theirs.get(k)!r})"
             for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
    opt, saved = fresh.optimizer.config(), model.optimizer.config()
    opt["lr"], saved["lr"] = fresh.optimizer.lr, state.base_lr
    wrong += [f"optimizer {k} {opt.get(k)!r} (checkpoint {saved.get(k)!r})"
              for k in sorted(set(opt) | set(saved)) if opt.get(k) != saved.get(k)]
    for name, given, kept in (("schedule", schedule, state.schedule),
                              ("early stopping", stopping, state.early_stopping)):
        a = None if given is None else given.to_dict()["config"]
        b = None if kept is None else kept.to_dict()["config"]
        if a != b:
            wrong.append(f"{name} {a!r} (checkpoint {b!r})")
    if wrong:
        raise click.BadParameter(f"{path}: the options contradict the checkpoint's run: "
                                 + "; ".join(wrong), param_hint="--resume")
    log.info("resuming %s after epoch %d of %d", path, state.epoch, epochs)
    return model


class _LastEpoch:
    """A callback keeping the bytes of the model file after the last complete epoch and
    the run's evaluated epochs' logs, for an interrupt to write."""

    def __init__(self, cli: dict | None, keep_model: bool):
        self.cli, self.keep_model = cli, keep_model
        self.model: Any = None  # the model being trained, from on_train_begin
        self.snapshot: bytes | None = None
        self.epoch = 0
        self.logs: list[dict] = []

    def on_train_begin(self, model) -> None:
        self.model = model

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        from nablanet.serialization import to_bytes

        if self.keep_model:
            self.snapshot = to_bytes(self.model, cli=self.cli)
        self.logs = list(self.model.training_state.history)  # the run's, resumed too
        self.epoch = epoch

    def on_train_end(self, history) -> None:
        pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def fit_run(model, args: tuple, o: Mapping[str, Any], *, epochs: int, cli: dict,
            record: dict, **kwargs):
    """``model.fit(*args, epochs=epochs, **kwargs)`` with the run options: --resume
    (from ``model.training_state``), --checkpoint-every, --class-weight, --history-out,
    --tensorboard.

    On SIGINT or SIGTERM it writes the last complete epoch's checkpoint to --model-out
    and ``record`` with the history so far to --metrics-out, says so in one line and
    exits with status 130.
    """
    from nablanet.callbacks import JSONLinesLogger, ModelCheckpoint, TensorBoard
    from nablanet.training import Callback

    callbacks: list[Callback] = []
    if o["checkpoint_every"]:
        callbacks.append(ModelCheckpoint(o["model_out"], every=o["checkpoint_every"], cli=cli))
    if o["history_out"]:
        callbacks.append(JSONLinesLogger(o["history_out"], append=bool(o["resume"])))
    if o["tensorboard"]:
        Path(o["tensorboard"]).mkdir(parents=True, exist_ok=True)
        callbacks.append(TensorBoard(o["tensorboard"], hparams={
            k: v for k, v in record["options"].items() if v is not None}))
    last = _LastEpoch(cli, keep_model=bool(o["model_out"]))
    callbacks.append(last)  # type: ignore[arg-type]
    if o["resume"]:
        kwargs.update(schedule=None, early_stopping=None)  # the checkpoint's, with state
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        return model.fit(*args, epochs=epochs, callbacks=callbacks,
                         initial_epoch=model.training_state.epoch if o["resume"] else 0,
                         class_weight=None if o["class_weight"] == "none" else
                         o["class_weight"], **kwargs)
    except KeyboardInterrupt:
        wrote = []
        if o["model_out"] and last.snapshot is not None:
            write_bytes(o["model_out"], last.snapshot, f"checkpoint after epoch {last.epoch}")
            wrote.append(f"the checkpoint {o['model_out']} (continue with --resume "
                         f"{o['model_out']})")
        if o["metrics_out"]:
            write_json(o["metrics_out"], {**record, "interrupted_after_epoch": last.epoch,
                                          "history": {"epochs": last.logs}})
            wrote.append(f"the metrics so far {o['metrics_out']}")
        log.warning("interrupted after epoch %d: %s", last.epoch,
                    "wrote " + " and ".join(wrote) if wrote else "nothing written (no "
                    "--model-out or --metrics-out, or no epoch complete)")
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_history(model, history) -> dict:
    """``history.to_dict()`` with the epochs of the whole run (a resumed run's earlier
    epochs too, from the model's training state)."""
    return {**history.to_dict(), "epochs": model.training_state.history}
