"""The lifecycle of a training run (``train``, ``rnn train``): the checks and profiling
before it, its record (command line, options, versions, CPU), --resume, checkpoints,
interrupts and the whole run's history.

Every name here is public: the command modules import them, never each other's.
"""

from __future__ import annotations

import functools
import logging
import platform
import shlex
import signal
import sys
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

import click

from nablanet.cli.options import GIVEN, check_model_kind
from nablanet.cli.outputs import check_outputs, write_bytes, write_json

log = logging.getLogger("nablanet")

#: the command line, for --profile-out to run it again
ARGV: list[str] = []


# --------------------------------------------------------------------------------------
# Before a run: outputs checked, profiling
# --------------------------------------------------------------------------------------
RUN_OUTPUTS = ("model_out", "metrics_out", "history_out", "plot_out", "profile_out")

#: outputs of some commands only (``train``'s image grids): checked when the command has them
COMMAND_OUTPUTS = ("weights_plot_out", "misclassified_plot_out")

#: the outputs drawn with matplotlib
PLOT_OUTPUTS = ("plot_out", *COMMAND_OUTPUTS)


def prepare_run(o: Mapping[str, Any], inputs: Mapping[str, Any]) -> None:
    """Before a training run: check its outputs (:func:`check_outputs`) and that the
    plots asked for (--plot-out, and ``train``'s --weights-plot-out and
    --misclassified-plot-out) can be drawn; with --profile-out, run this same command
    again under py-spy instead and exit with its status.

    Raises
    ------
    click.UsageError
        For --checkpoint-every without --model-out.
    """
    if o["checkpoint_every"] and not o["model_out"]:
        raise click.UsageError("--checkpoint-every writes --model-out: give --model-out")
    outputs = [*RUN_OUTPUTS, *(k for k in COMMAND_OUTPUTS if k in o)]
    check_outputs({"--" + k.replace("_", "-"): o[k] for k in outputs}, inputs)
    if o["profile_out"]:
        _profile_and_exit(o["profile_out"])
    if any(o.get(k) for k in PLOT_OUTPUTS):
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


#: options that say how long a run goes on, where its outputs go and how fast it runs,
#: not what it trains: not recorded in its checkpoints, never taken from them
NOT_OF_THE_RUN = frozenset({
    "epochs", "resume", "model_out", "checkpoint_every", "metrics_out", "history_out",
    "tensorboard", "plot_out", "profile_out", "weights_plot_out", "misclassified_plot_out",
    "backend", "threads", "offline"})

#: the key of the run's options in a model file's command-line section
RUN_OPTIONS = "options"


def _run_params(ctx: click.Context) -> list[click.Option]:
    return [p for p in ctx.command.params if isinstance(p, click.Option) and p.expose_value
            and not p.hidden and p.name is not None and p.name not in NOT_OF_THE_RUN]


def run_options(values: Mapping[str, Any]) -> dict:
    """The options that define the current command's run, by parameter name, with the
    values it ran with (its own defaults resolved, e.g. ``rnn train``'s per-task
    hidden size): what its model file records for --resume (:func:`resumable`).
    ``values`` holds the command's parameters."""
    ctx = click.get_current_context()
    return {p.name: values[p.name] for p in _run_params(ctx) if p.name in values}


def _long(param: click.Option) -> str:
    """The option's name as typed: its first long spelling (``--lr`` of ``--lr/--eta``)."""
    return next((o for o in param.opts if o.startswith("--")), param.opts[0])


def _typed(param: click.Option, value) -> str:
    """``value`` of ``param`` as it is typed on the command line."""
    if param.is_flag:
        if param.secondary_opts:
            return (param.opts if value else param.secondary_opts)[0]
        return param.opts[0] if value else f"no {param.opts[0]}"
    long = _long(param)
    shown = "none" if value is None else ",".join(map(str, value)) \
        if isinstance(value, list) else f"{value:g}" if isinstance(value, float) else value
    return f"{long} {shown}"


def resumable(f):
    """With --resume, the options of the run saved in the checkpoint (its record,
    :func:`run_options`) are the defaults of the command's options: ``--epochs`` alone
    continues it. An option given on the command line with another value than the run's
    is refused. Checkpoints without the record (older releases) leave the options as
    they are (:func:`resume_model` then checks them against the model).

    Raises
    ------
    click.UsageError
        Naming every contradicting option as it is typed, with the value given and the
        run's.
    FileNotFoundError, ValueError
        As :func:`nablanet.serialization.read_cli` for the checkpoint.
    """

    @functools.wraps(f)
    def command(**params):
        if params.get("resume"):
            from nablanet.serialization import read_cli

            recorded = read_cli(params["resume"]).get(RUN_OPTIONS)
            if isinstance(recorded, dict):
                _take_options(params, recorded, params["resume"])
        return f(**params)

    return command


def _take_options(params: dict, recorded: dict, path) -> None:
    ctx = click.get_current_context()
    taken, wrong = ctx.meta.setdefault(GIVEN, set()), []
    for param in _run_params(ctx):
        name = param.name
        if name not in recorded or name not in params:
            continue
        value = recorded[name]
        try:  # checked as the command line's value is (the file may be anything)
            value = param.process_value(ctx, ",".join(map(str, value))
                                        if isinstance(value, list) else value)
        except (click.BadParameter, TypeError, ValueError) as exc:
            message = exc.message if isinstance(exc, click.BadParameter) else exc
            raise click.UsageError(f"--resume {path}: its run's {_long(param)}: "
                                   f"{message}") from None
        explicit = name in taken or ctx.get_parameter_source(name) is \
            click.core.ParameterSource.COMMANDLINE
        if not explicit:
            params[name] = value
            taken.add(name)
        elif params[name] != value:
            wrong.append(f"{_typed(param, params[name])} (its run: {_typed(param, value)})")
    if wrong:
        raise click.UsageError(f"--resume {path}: {'; '.join(wrong)}: leave "
                               f"{'it' if len(wrong) == 1 else 'them'} out to continue "
                               "the run with its own, or start a new run")
    log.debug("options of the run in %s: %s", path, recorded)


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
    from nablanet.models import RecurrentNetwork

    check_model_kind(path, "rnn train" if isinstance(fresh, RecurrentNetwork) else "train")
    model = type(fresh).load(path)
    _upgrade(model, fresh, path)
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
    # the schedule by name: the run keeps its own, whose parameters may depend on the
    # --epochs it started with (cosine's t_max)
    a, b = (None if s is None else s.to_dict()["name"] for s in (schedule, state.schedule))
    if a != b:
        wrong.append(f"schedule {a or 'none'} (checkpoint {b or 'none'})")
    a, b = (None if s is None else s.to_dict()["config"] for s in (stopping,
                                                                  state.early_stopping))
    if a != b:
        wrong.append(f"early stopping {a!r} (checkpoint {b!r})")
    if wrong:
        raise click.BadParameter(f"{path}: the options contradict the checkpoint's run: "
                                 + "; ".join(wrong), param_hint="--resume")
    log.info("resuming %s after epoch %d of %d", path, state.epoch, epochs)
    return model


def _upgrade(model, fresh, path) -> None:
    """Give a checkpoint of an earlier release what this release's models record, so
    that its run resumes: the min-max scaling its command-line section holds, as the
    model's scaling layers (``rnn train``), and the per-sample input shape that it kept
    beside the model (``train --layers``), which the fresh model has from the data."""
    from nablanet.models import RecurrentNetwork
    from nablanet.models.scorer import upgrade_scaling
    from nablanet.serialization import read_cli

    if isinstance(model, RecurrentNetwork):
        upgrade_scaling(model, read_cli(path))
    elif model.input_shape is None:
        model.input_shape = fresh.input_shape


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
        history = model.fit(*args, epochs=epochs, callbacks=callbacks,
                            initial_epoch=model.training_state.epoch if o["resume"] else 0,
                            class_weight=None if o["class_weight"] == "none" else
                            o["class_weight"], **kwargs)
        for option, what in (("history_out", "history, one JSON line per epoch"),
                             ("tensorboard", "TensorBoard event files")):
            if o[option]:
                log.info("wrote %s (%s)", o[option], what)
        return history
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
