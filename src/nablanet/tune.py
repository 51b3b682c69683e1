"""Hyper-parameter sweeps: Optuna chooses the configurations, Dask runs the trials.

A sweep is described by a TOML *space file* (read with :mod:`tomllib`)::

    command = "train"                     # or "rnn train"
    data = "../shared/data/mnist-10k"     # the command's data argument (from the cwd)
    trials = 12                           # finished trials wanted
    sampler = "tpe"                       # tpe (default), grid or random
    seed = 0                              # seed of the sampler
    seeds = [1, 2]                        # training seeds per configuration (mean is scored)

    [objective]
    metric = "val_accuracy"               # a validation metric of the run's history
    direction = "maximize"                # default: minimize for *loss*, else maximize

    [options]                             # fixed options of the command (long names)
    sizes = "784,30,10"
    epochs = 2
    validation-split = 0.1

    [params]                              # the search space
    lr = { type = "log_uniform", low = 0.05, high = 5.0 }
    batch-size = { type = "int", low = 10, high = 50, step = 10 }
    activation = { type = "categorical", choices = ["sigmoid", "relu"] }

    [pruner]                              # optional: stop unpromising trials early
    type = "median"                       # Optuna's MedianPruner
    startup_trials = 5                    # trials that finish before any is pruned
    warmup_epochs = 1                     # epochs a trial runs before it may be pruned

Each trial runs ``python -m nablanet COMMAND DATA --option value ... --seed S
--metrics-out ... --model-out ...`` once per seed in a subprocess on a Dask worker (BLAS held
to one thread) and scores the chosen metric of the epoch whose weights the run kept
(the last, or the best one under ``early-stopping``) in its metrics JSON. Only
``val_*`` metrics are accepted, and the data they come from is held out of the training
data (``train`` is given ``--validation-split`` 0.1 unless the file sets it; ``rnn
train`` holds out ``1 - train-ratio`` of DATA_CSV and may not be given ``test-data``), so
the test set never steers the search.

The study lives in Optuna storage (by default a journal file in the output directory).
Running the same sweep again resumes it: finished trials are kept and never re-run; a
trial that was running when the driver died is marked failed and retried once.

With a ``[pruner]``, the first seed's run of each trial writes its epochs as they end
(``--history-out``); the worker sends each epoch's metric to the driver (a Dask
``Variable``, so workers need no shared disk and no access to the storage), the driver
reports it to Optuna and, when the trial's value at that epoch is worse than the median
of the finished trials' at the same epoch, tells the worker to stop the run. A pruned
trial counts toward ``trials`` (state PRUNED, its last reported value kept) and saves no
model. Every
configuration is drawn by a sampler seeded from ``(seed, trial number)``, so a sweep
draws the same configurations whatever the number of workers and however often it was
interrupted.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
import math
import os
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from nablanet.atomic import atomic_write_bytes

__all__ = ["Param", "Pruner", "Space", "counted_trials", "load_space", "objective_value",
           "recover_interrupted", "run_trial", "summary_table", "tune"]

log = logging.getLogger(__name__)

COMMANDS = ("train", "rnn train")
SAMPLERS = ("tpe", "grid", "random")
PARAM_TYPES = ("log_uniform", "uniform", "int", "categorical")
#: Options the sweep sets itself, or that would let the test set in.
RESERVED = {
    "seed": "set the training seeds with the top-level 'seeds' list",
    "metrics-out": "the sweep writes the metrics itself",
    "model-out": "the sweep saves the models itself",
    "save": "the sweep saves the models itself",
    "plot-out": "the sweep draws its own plot",
    "plot": "the sweep draws its own plot",
    "profile-out": "profile a single run instead",
    "profile": "profile a single run instead",
    "test-data": "a sweep is scored on held-out training data, never on the test set",
    "history-out": "the sweep follows the epochs itself (see [pruner])",
}
#: Thread counts of the BLAS libraries NumPy may be linked with: one per trial.
BLAS_ENV = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")}
_TOP_KEYS = {"name", "command", "data", "trials", "sampler", "seed", "seeds", "objective",
             "options", "params", "pruner"}
PRUNERS = ("median",)
#: seconds between the driver's looks at running trials' epochs (and a worker's at its
#: run's history file)
POLL_SECONDS = 0.2


# --------------------------------------------------------------------------------------
# The space file
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Param:
    """One searched option: ``kind`` is one of :data:`PARAM_TYPES`.

    ``log_uniform``/``uniform`` draw a float in ``[low, high]``, ``int`` an integer in
    ``[low, high]`` on a ``step`` grid, ``categorical`` one of ``choices``.
    """

    name: str
    kind: str
    low: float | int | None = None
    high: float | int | None = None
    step: int = 1
    choices: tuple = ()

    def suggest(self, trial) -> Any:
        """Draw this option's value for an Optuna ``trial``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(self.name, self.low, self.high, step=self.step)
        return trial.suggest_float(self.name, self.low, self.high,
                                   log=self.kind == "log_uniform")

    def grid(self) -> list:
        """Every value, for the grid sampler (categorical and int only)."""
        if self.kind == "categorical":
            return list(self.choices)
        assert isinstance(self.low, int) and isinstance(self.high, int)  # an int's bounds
        return list(range(self.low, self.high + 1, self.step))

    def extremes(self) -> list:
        """The values the command's parser is checked with before a sweep."""
        return list(self.choices) if self.kind == "categorical" else [self.low, self.high]


@dataclass(frozen=True)
class Pruner:
    """A ``[pruner]`` table: Optuna's ``MedianPruner(n_startup_trials=startup_trials,
    n_warmup_steps=warmup_epochs)``, with epochs (1-based) as its steps."""

    kind: str = "median"
    startup_trials: int = 5
    warmup_epochs: int = 1

    def build(self):
        """The Optuna pruner."""
        return _require("optuna.pruners").MedianPruner(
            n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_epochs)


@dataclass(frozen=True)
class Space:
    """A validated space file (see the module docstring); build it with
    :func:`load_space`."""

    path: Path
    name: str
    command: str
    data: str
    trials: int
    sampler: str
    seed: int
    seeds: tuple[int, ...]
    metric: str
    direction: str
    options: dict
    params: tuple[Param, ...]
    pruner: Pruner | None = None

    def argv(self, params: dict, seed: int) -> list[str]:
        """The command line (after ``nablanet``) of one run with ``params``."""
        argv = [*self.command.split(), self.data]
        for key, value in {**self.options, **params, "seed": seed}.items():
            if value is True:
                argv.append(f"--{key}")
            elif value is False:
                argv.append(f"--no-{key}")
            else:
                argv += [f"--{key}", str(value)]
        return argv

    def grid_size(self) -> int:
        return math.prod(len(p.grid()) for p in self.params)

    def fingerprint(self) -> str:
        """What makes two sweeps the same study (the search, not the trial count or the
        pruner)."""
        return json.dumps({"command": self.command, "data": self.data, "seeds": self.seeds,
                           "metric": self.metric, "direction": self.direction,
                           "options": self.options, "sampler": self.sampler,
                           "seed": self.seed,
                           "params": [p.__dict__ for p in self.params]}, sort_keys=True)


def load_space(path) -> Space:
    """Read and validate a space file.

    Parameters
    ----------
    path : str or Path
        A TOML file laid out as in the module docstring.

    Returns
    -------
    Space

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not TOML, or a key is missing, unknown or of the wrong type or range;
        the message is one line: ``FILE: KEY: expected ..., found ...``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such space file")
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not a valid TOML file: {exc}") from None

    def bad(key: str, expected: str, found: Any) -> ValueError:
        return ValueError(f"{path}: {key}: expected {expected}, found {found!r}")

    def get(table: dict, key: str, kind, expected: str, default: Any = None,
            prefix: str = "") -> Any:
        value = table.get(key, default)
        if value is None:
            raise bad(prefix + key, expected, "nothing")
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise bad(prefix + key, expected, value)
        return value

    unknown = sorted(set(doc) - _TOP_KEYS)
    if unknown:
        raise bad(unknown[0], f"one of {sorted(_TOP_KEYS)}", unknown[0])
    command = get(doc, "command", str, f"one of {list(COMMANDS)}")
    if command not in COMMANDS:
        raise bad("command", f"one of {list(COMMANDS)}", command)
    data = get(doc, "data", str, "the command's data argument (a path or a data set name)")
    if Path(data).exists():  # workers may run elsewhere: hand them an absolute path
        data = str(Path(data).resolve())
    sampler = get(doc, "sampler", str, f"one of {list(SAMPLERS)}", "tpe")
    if sampler not in SAMPLERS:
        raise bad("sampler", f"one of {list(SAMPLERS)}", sampler)
    seed = get(doc, "seed", int, "an integer", 0)
    seeds = get(doc, "seeds", list, "a non-empty list of integers", [1])
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise bad("seeds", "a non-empty list of integers", seeds)
    if len(set(seeds)) != len(seeds):
        raise bad("seeds", "distinct seeds", seeds)

    objective = get(doc, "objective", dict, "a table with 'metric'")
    unknown = sorted(set(objective) - {"metric", "direction"})
    if unknown:
        raise bad(f"objective.{unknown[0]}", "'metric' or 'direction'", unknown[0])
    metric = get(objective, "metric", str, "a validation metric such as 'val_accuracy'",
                 prefix="objective.")
    if not metric.startswith("val_"):
        raise bad("objective.metric", "a validation metric (val_loss, val_accuracy, ...): "
                  "sweeps never look at the test set", metric)
    direction = get(objective, "direction", str, "'minimize' or 'maximize'",
                    "minimize" if "loss" in metric or "error" in metric else "maximize",
                    prefix="objective.")
    if direction not in ("minimize", "maximize"):
        raise bad("objective.direction", "'minimize' or 'maximize'", direction)

    options = dict(get(doc, "options", dict, "a table of the command's options", {}))
    for key, value in options.items():
        _check_key(key, "options", bad)
        if not isinstance(value, str | int | float | bool):
            raise bad(f"options.{key}", "a string, number or boolean", value)
    if command == "train":
        options.setdefault("validation-split", 0.1)
    if "threads" not in options:
        options["threads"] = 1

    params = []
    for key, spec in get(doc, "params", dict, "a table of searched options", {}).items():
        _check_key(key, "params", bad)
        if key in options:
            raise bad(f"params.{key}", "an option not also fixed in [options]", key)
        params.append(_param(key, spec, bad))
    if not params:
        raise bad("params", "at least one searched option", "an empty table")
    space_params = tuple(params)
    if sampler == "grid":
        for p in space_params:
            if p.kind not in ("categorical", "int"):
                raise bad(f"params.{p.name}.type", "'categorical' or 'int' for the grid "
                          "sampler", p.kind)
    grid = math.prod(len(p.grid()) for p in space_params) if sampler == "grid" else None
    trials = get(doc, "trials", int, "an integer >= 1", grid or 20)
    if trials < 1:
        raise bad("trials", "an integer >= 1", trials)
    if grid is not None and trials > grid:
        raise bad("trials", f"at most the grid's {grid} configurations", trials)
    name = get(doc, "name", str, "a study name", path.stem)
    pruner = _pruner(doc["pruner"], bad) if "pruner" in doc else None
    return Space(path=path, name=name, command=command, data=data, trials=trials,
                 sampler=sampler, seed=seed, seeds=tuple(seeds), metric=metric,
                 direction=direction, options=options, params=space_params, pruner=pruner)


def _pruner(table, bad) -> Pruner:
    if not isinstance(table, dict):
        raise bad("pruner", "a table such as { type = 'median' }", table)
    allowed = {"type", "startup_trials", "warmup_epochs"}
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise bad(f"pruner.{unknown[0]}", f"one of {sorted(allowed)}", unknown[0])
    kind = table.get("type")
    if kind not in PRUNERS:
        raise bad("pruner.type", f"one of {list(PRUNERS)}", kind)
    counts = {}
    for key in ("startup_trials", "warmup_epochs"):
        value = table.get(key, getattr(Pruner, key))
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise bad(f"pruner.{key}", "an integer >= 0", value)
        counts[key] = value
    return Pruner(kind, **counts)


def _check_key(key: str, table: str, bad) -> None:
    if key.startswith("-") or not key.replace("-", "").isalnum():
        raise bad(f"{table}.{key}", "an option's long name such as 'batch-size'", key)
    if key in RESERVED:
        raise bad(f"{table}.{key}", f"no such option ({RESERVED[key]})", key)


def _param(key: str, spec, bad) -> Param:
    where = f"params.{key}"
    if not isinstance(spec, dict):
        raise bad(where, "a table such as { type = 'uniform', low = 0, high = 1 }", spec)
    kind = spec.get("type")
    if kind not in PARAM_TYPES:
        raise bad(f"{where}.type", f"one of {list(PARAM_TYPES)}", kind)
    allowed = {"type", "choices"} if kind == "categorical" else {"type", "low", "high"}
    if kind == "int":
        allowed.add("step")
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise bad(f"{where}.{unknown[0]}", f"one of {sorted(allowed)}", unknown[0])
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise bad(f"{where}.choices", "a non-empty list", choices)
        if not all(isinstance(c, str | int | float | bool) for c in choices):
            raise bad(f"{where}.choices", "strings, numbers or booleans", choices)
        if len({json.dumps(c) for c in choices}) != len(choices):
            raise bad(f"{where}.choices", "distinct values", choices)
        return Param(key, kind, choices=tuple(choices))
    number = int if kind == "int" else int | float
    bounds: list[float] = []
    for end in ("low", "high"):
        value = spec.get(end)
        if not isinstance(value, number) or isinstance(value, bool):
            raise bad(f"{where}.{end}", "an integer" if kind == "int" else "a number", value)
        bounds.append(value)
    low, high = bounds
    if not low < high:
        raise bad(f"{where}.high", f"a value > low = {low}", high)
    if kind == "log_uniform" and low <= 0:
        raise bad(f"{where}.low", "a value > 0 for log_uniform", low)
    step = spec.get("step", 1)
    if kind == "int" and (not isinstance(step, int) or isinstance(step, bool) or step < 1):
        raise bad(f"{where}.step", "an integer >= 1", step)
    if kind != "int":
        low, high = float(low), float(high)
    return Param(key, kind, low=low, high=high, step=step)


# --------------------------------------------------------------------------------------
# One trial (runs on a Dask worker)
# --------------------------------------------------------------------------------------
def run_trial(argvs: list[list[str]], metric: str, channel: str | None = None) -> dict:
    """Run ``nablanet ARGV`` once per seed in a subprocess and read ``metric``.

    Runs on a Dask worker: it needs only nablanet installed and the data path. BLAS is
    held to one thread (:data:`BLAS_ENV`); the metrics JSON and the model are written to
    a temporary directory and sent back to the driver, so the workers need no shared disk.

    Parameters
    ----------
    argvs : list of list of str
        One command line (after ``nablanet``) per seed.
    metric : str
        A key of the history's epochs (``val_accuracy``, ...).
    channel : str, optional
        For pruning: the name of the Dask ``Variable`` pair through which the first
        seed's run sends ``[[epoch, value], ...]`` (``CHANNEL-epochs``) and is told to
        stop (``CHANNEL-prune``); see :func:`_follow`.

    Returns
    -------
    dict
        ``{"runs": [...]}`` with per run ``value`` (float), ``metrics`` (the metrics JSON
        as a dict), ``model`` (the saved model file, bytes) and ``seconds`` (wall clock);
        ``{"pruned": [epoch, value]}`` when the driver stopped the first run at that
        epoch; or ``{"error": message}`` when a run failed (the command's last line of
        stderr), or its metric is missing or not finite. A failed trial is returned, not
        raised: only a lost worker is an error of the task.
    """
    results = []
    env = {**os.environ, **BLAS_ENV}
    with tempfile.TemporaryDirectory(prefix="nablanet-trial-") as tmp:
        for k, argv in enumerate(argvs):
            metrics_path = Path(tmp, f"metrics-{k}.json")
            model_path = Path(tmp, f"model-{k}.safetensors")
            cmd = [sys.executable, "-m", "nablanet", "-q", *argv,
                   "--metrics-out", str(metrics_path), "--model-out", str(model_path)]
            t0 = time.perf_counter()
            with open(Path(tmp, f"stderr-{k}.txt"), "w+", encoding="utf-8") as stderr:
                if channel is not None and k == 0:
                    history = Path(tmp, "history.jsonl")
                    proc = subprocess.Popen([*cmd, "--history-out", str(history)],
                                            stdout=subprocess.DEVNULL, stderr=stderr, env=env)
                    pruned = _follow(proc, history, metric, channel)
                    if pruned is not None:
                        return {"pruned": pruned}
                    status = proc.returncode
                else:
                    status = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=stderr,
                                            env=env, check=False).returncode
                stderr.seek(0)
                lines = stderr.read().strip().splitlines()
            if status != 0:
                lines = lines or [f"exit status {status}"]
                return {"error": f"nablanet {shlex.join(argv)}: {lines[-1]}"}
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
            try:
                value = objective_value(metrics, metric)
            except RuntimeError as exc:
                return {"error": f"nablanet {shlex.join(argv)}: {exc}"}
            results.append({"value": value, "metrics": metrics,
                            "model": model_path.read_bytes(),
                            "seconds": time.perf_counter() - t0})
    return {"runs": results}


def _follow(proc: subprocess.Popen, history: Path, metric: str,
            channel: str) -> list | None:
    """Follow a running trial: after each epoch that computed ``metric`` (a line of its
    ``--history-out`` file), set the Dask Variable ``CHANNEL-epochs`` to every
    ``[epoch, value]`` so far; when the driver sets ``CHANNEL-prune`` to True, stop the
    run. The driver sets both before it submits the trial. Returns the last ``[epoch,
    value]`` when the run was stopped, None when it ended."""
    from distributed import Variable

    epochs, prune = Variable(f"{channel}-epochs"), Variable(f"{channel}-prune")
    reported: list[list] = []
    read = 0
    while True:
        ended = proc.poll() is not None
        text = history.read_text(encoding="utf-8") if history.exists() else ""
        complete = text[:text.rfind("\n") + 1]  # a line still being written waits
        for line in complete[read:].splitlines():
            logs = json.loads(line)
            value = logs.get(metric)
            if isinstance(value, int | float) and math.isfinite(value):
                reported.append([logs["epoch"], float(value)])
                epochs.set(list(reported))
        read = len(complete)
        if ended:
            return None
        if reported and prune.get(timeout=60):  # (a rerun of a lost task: its own epochs)
            proc.kill()
            proc.wait()
            return reported[-1]
        time.sleep(POLL_SECONDS)


def objective_value(metrics: dict, metric: str) -> float:
    """``metric`` at the epoch whose weights the run kept: the best epoch when early
    stopping restored it, else the last evaluated one.

    Raises
    ------
    RuntimeError
        The metric was not computed, or is not finite (the run diverged).
    """
    history = metrics["history"]
    epochs = history["epochs"]
    kept = [e for e in epochs if e["epoch"] == history.get("best_epoch")] or epochs[-1:]
    if not kept or metric not in kept[0]:
        names = sorted(k for k in (kept[0] if kept else {}) if k.startswith("val_"))
        raise RuntimeError(f"objective.metric {metric!r} is not in the run's history; "
                           f"available: {names}")
    value = kept[0][metric]
    if value is None or not math.isfinite(value):
        raise RuntimeError(f"{metric} is not finite (the run diverged)")
    return float(value)


# --------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------
def _require(module: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(f"sweeps need {module.split('.')[0]}: "
                          "pip install 'nablanet[tune]'") from None


def _sampler(space: Space, number: int):
    """A sampler seeded from ``(space.seed, number)``: trial ``number`` gets the same
    configuration whatever ran before it, on however many workers."""
    samplers = _require("optuna.samplers")
    seed = int(np.random.SeedSequence([space.seed, number]).generate_state(1)[0])
    if space.sampler == "tpe":
        return samplers.TPESampler(seed=seed)
    return samplers.RandomSampler(seed=seed)  # grid points come fixed (see _ask)


def _ask(study, space: Space, optuna):
    """The next trial. Grid points are enqueued in a seeded order, skipping those the
    study has seen (Optuna's GridSampler stops the study from ``tell``, which only
    ``optimize`` allows)."""
    trials = study.get_trials(deepcopy=False)
    waiting = any(t.state == optuna.trial.TrialState.WAITING for t in trials)
    if space.sampler == "grid" and not waiting:
        names = [p.name for p in space.params]
        points = list(itertools.product(*(p.grid() for p in space.params)))
        seen = {tuple(t.params.get(n) for n in names) for t in trials}
        order = np.random.default_rng(space.seed).permutation(len(points))
        fresh = [points[k] for k in order if points[k] not in seen]
        if fresh:
            study.enqueue_trial(dict(zip(names, fresh[0], strict=True)))
    study.sampler = _sampler(space, len(trials))
    trial = study.ask()
    return trial, {p.name: p.suggest(trial) for p in space.params}


def _storage(url: str | None, out_dir: Path):
    """``url``, or a journal file in ``out_dir``: append-only, so a killed driver
    leaves it readable; the journal's own lock file keeps concurrent writers apart."""
    if url:
        return url
    _require("optuna")
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(str(out_dir / "study.journal")))


def recover_interrupted(study, names) -> None:
    """Trials left running by a driver that died: each is marked failed and noted in the
    study's user attribute ``stopped`` (trial number -> ``{"error", "counted"}``).

    A trial whose parameters ``names`` were all drawn had been submitted: it is queued
    again once (user attribute ``retry_of``) and does not count; a retry left running
    counts as failed. A trial stopped before all its parameters were drawn never ran: it
    does not count, and a new trial takes its place (the same parameters again if it was
    itself a retry)."""
    optuna = _require("optuna")
    state = optuna.trial.TrialState
    stopped = dict(study.user_attrs.get("stopped", {}))
    for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        retry_of = t.user_attrs.get("retry_of")
        if not set(names) <= set(t.params):
            error, counted = "the driver stopped before this trial was submitted", False
            if retry_of is not None:
                study.enqueue_trial(study.trials[retry_of].params,
                                    user_attrs={"retry_of": retry_of})
        elif retry_of is None:
            error, counted = "the driver stopped while this trial ran; retried", False
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number})
        else:
            error = "the driver stopped while this trial ran; already a retry, not retried"
            counted = True
        stopped[str(t.number)] = {"error": error, "counted": counted}
        study.tell(t.number, state=state.FAIL)
        log.warning("trial %d: %s", t.number, error)
    if stopped:
        study.set_user_attr("stopped", stopped)


def counted_trials(study) -> list:
    """The trials that count toward a sweep's ``trials``: finished (complete, pruned or
    failed), except those the driver's death stopped and :func:`recover_interrupted`
    replaced."""
    state = _require("optuna").trial.TrialState
    replaced = {int(n) for n, s in study.user_attrs.get("stopped", {}).items()
                if not s["counted"]}
    return [t for t in study.get_trials(deepcopy=False,
                                        states=(state.COMPLETE, state.PRUNED, state.FAIL))
            if t.number not in replaced]


def _client(scheduler: str | None, workers: int | None):
    distributed = _require("distributed")
    if scheduler:
        return distributed.Client(scheduler, timeout="20s"), None
    cluster = distributed.LocalCluster(
        n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True,
        dashboard_address=":0", silence_logs=logging.ERROR)
    return distributed.Client(cluster), cluster


def tune(space, *, out_dir=None, storage: str | None = None, scheduler: str | None = None,
         workers: int | None = None, trials: int | None = None,
         check_argv: Callable[[list[str]], None] | None = None) -> dict:
    """Run (or resume) the sweep of a space file on Dask and write its results.

    Parameters
    ----------
    space : str, Path or Space
        The space file (see the module docstring) or a loaded :class:`Space`.
    out_dir : str or Path, optional
        Where the study journal, the trials' metrics and models (``trials/NNNNN/``), the
        best model (``best.safetensors``), ``summary.json`` and ``tune.png`` go
        [default: ``NAME-tune`` next to the space file].
    storage : str, optional
        An Optuna storage URL (``sqlite:///sweep.db``, ``postgresql://...``) instead of
        the journal file in ``out_dir``.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:8786``); by default a
        ``LocalCluster`` of ``workers`` single-threaded worker processes is started.
    workers : int, optional
        Local worker processes [default: one per core]; not with ``scheduler``.
    trials : int, optional
        Override the space file's number of trials.
    check_argv : callable, optional
        Parses a trial's command line and raises ``ValueError`` naming the bad option;
        the CLI passes the command's own parser so that a bad option is reported before
        anything runs.

    Returns
    -------
    dict
        The summary also written to ``summary.json``: counts by state, the best trial
        (number, value, params, seed, the ready-to-run command) and the top trials.

    Raises
    ------
    ValueError
        A bad space file or argument, a storage that holds a different sweep under the
        same name, or no trial completed.
    ImportError
        Optuna or Dask is not installed (``pip install 'nablanet[tune]'``).

    Notes
    -----
    The local cluster starts worker processes: in a script, call ``tune`` under
    ``if __name__ == "__main__":``.
    """
    if not isinstance(space, Space):
        space = load_space(space)
    if trials is not None:
        if trials < 1:
            raise ValueError(f"trials: expected an integer >= 1, found {trials}")
        if space.sampler == "grid" and trials > space.grid_size():
            raise ValueError(f"trials: expected at most the grid's {space.grid_size()} "
                             f"configurations, found {trials}")
        space = dataclasses.replace(space, trials=trials)
    if scheduler and workers:
        raise ValueError("workers: the local cluster's size; with scheduler, start "
                         "'dask worker' processes instead")
    if check_argv is not None:
        base = {p.name: p.extremes()[0] for p in space.params}
        try:
            for p in space.params:
                for value in p.extremes():
                    check_argv(space.argv({**base, p.name: value}, space.seeds[0]))
        except ValueError as exc:
            raise ValueError(f"{space.path}: {exc}") from None
    out_dir = Path(out_dir) if out_dir else space.path.parent / f"{space.name}-tune"
    out_dir.mkdir(parents=True, exist_ok=True)
    optuna = _require("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.create_study(study_name=space.name, storage=_storage(storage, out_dir),
                                    direction=space.direction, load_if_exists=True,
                                    pruner=space.pruner.build() if space.pruner else None)
    except Exception as exc:  # SQLAlchemy's errors, a bad URL, an unreadable journal
        first = (str(exc).splitlines() or [""])[0]
        raise ValueError(f"storage: cannot open {storage or out_dir}: "
                         f"{type(exc).__name__}: {first}") from None
    stored = study.user_attrs.get("space")
    if stored is None:
        study.set_user_attr("space", space.fingerprint())
    elif stored != space.fingerprint():
        raise ValueError(f"{space.path}: the storage holds a different sweep named "
                         f"{space.name!r}; set another 'name' or output directory")
    recover_interrupted(study, [p.name for p in space.params])
    _run(study, space, out_dir, scheduler, workers, optuna)
    return _finish(study, space, out_dir, optuna)


def _run(study, space: Space, out_dir: Path, scheduler, workers, optuna) -> None:
    """Keep one trial per worker thread in flight until ``space.trials`` have finished;
    with a pruner, look at the running trials' epochs every :data:`POLL_SECONDS`."""
    from distributed import Variable, wait
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn

    done = len(counted_trials(study))
    if done >= space.trials:
        log.info("study %r already has %d finished trials", space.name, done)
        return
    client, cluster = _client(scheduler, workers)
    running: dict = {}  # future -> optuna Trial
    reported: dict[int, int] = {}  # trial number -> last epoch reported to the pruner
    failed = sum(t.state == optuna.trial.TrialState.FAIL for t in counted_trials(study))
    try:
        log.info("Dask scheduler %s, dashboard %s", client.scheduler.address,
                 client.dashboard_link)
        log.info("study %r: %d of %d trials finished", space.name, done, space.trials)

        def submit_more() -> None:
            slots = max(1, sum(client.nthreads().values()))
            while done + len(running) < space.trials and len(running) < slots:
                trial, params = _ask(study, space, optuna)
                argvs = [space.argv(params, s) for s in space.seeds]
                key = f"nablanet-trial-{space.name}-{trial.number}-{time.time_ns()}"
                if space.pruner:  # the channel to the trial's worker (see _follow)
                    Variable(f"{key}-epochs", client=client).set([])
                    Variable(f"{key}-prune", client=client).set(False)
                future = client.submit(run_trial, argvs, space.metric,
                                       key if space.pruner else None, pure=False, key=key)
                running[future] = trial

        console = Console(stderr=True)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), transient=True,
                      console=console, disable=not console.is_terminal) as bar:
            line = bar.add_task("")
            submit_more()
            while running:
                try:
                    finished = wait(list(running), return_when="FIRST_COMPLETED",
                                    timeout=POLL_SECONDS if space.pruner else None).done
                except TimeoutError:
                    finished = set()
                if space.pruner:
                    _prune(running, reported, client)
                for future in finished:
                    trial = running.pop(future)
                    outcome = _record(study, trial, future, space, out_dir, optuna)
                    done, failed = done + 1, failed + (outcome == "failed")
                    best = _best(study)
                    status = (f"{done}/{space.trials} done, {len(running)} running, "
                              f"{failed} failed" + (f" | best {space.metric} "
                                                    f"{best.value:.6g} (trial {best.number})"
                                                    if best else ""))
                    bar.update(line, description=status)
                    log.info("trial %d %s | %s", trial.number, outcome, status)
                submit_more()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _prune(running: dict, reported: dict, client) -> None:
    """Report the running trials' new epochs to Optuna (``reported``: trial number ->
    its last reported epoch); tell the worker of each trial that the pruner stops
    (:func:`_follow` on the other side)."""
    from distributed import Variable

    for future, trial in running.items():
        epochs = Variable(f"{future.key}-epochs", client=client).get()
        new = [(e, v) for e, v in epochs if e > reported.get(trial.number, 0)]
        if not new:
            continue
        for epoch, value in new:
            trial.report(value, epoch)
        reported[trial.number] = new[-1][0]
        if trial.should_prune():
            Variable(f"{future.key}-prune", client=client).set(True)


def _record(study, trial, future, space: Space, out_dir: Path, optuna) -> str:
    """Write a finished trial's files and tell Optuna its outcome: ``"finished"``,
    ``"pruned"`` or ``"failed"``."""
    try:
        outcome = future.result()
    except Exception as exc:  # the task was lost: KilledWorker after repeated crashes, ...
        outcome = {"error": f"{type(exc).__name__}: {exc}"}
    finally:
        if space.pruner:
            from distributed import Variable

            for end in ("epochs", "prune"):
                Variable(f"{future.key}-{end}", client=future.client).delete()
    if "error" in outcome:
        trial.set_user_attr("error", outcome["error"])
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        log.warning("trial %d failed: %s", trial.number, outcome["error"])
        return "failed"
    if "pruned" in outcome:
        epoch, value = outcome["pruned"]
        trial.set_user_attr("pruned_at_epoch", epoch)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        log.info("trial %d pruned at epoch %d (%s %.6g)", trial.number, epoch,
                 space.metric, value)
        return "pruned"
    results = outcome["runs"]
    trial_dir = out_dir / "trials" / f"{trial.number:05d}"
    trial_dir.mkdir(parents=True, exist_ok=True)
    for seed, r in zip(space.seeds, results, strict=True):
        atomic_write_bytes(trial_dir / f"metrics-seed{seed}.json",
                           json.dumps(r["metrics"], indent=2).encode())
        atomic_write_bytes(trial_dir / f"model-seed{seed}.safetensors", r["model"])
    trial.set_user_attr("seed_values", {str(s): r["value"]
                                        for s, r in zip(space.seeds, results, strict=True)})
    trial.set_user_attr("seconds", sum(r["seconds"] for r in results))
    study.tell(trial, float(np.mean([r["value"] for r in results])))
    return "finished"


def _best(study):
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def _best_seed(space: Space, trial) -> int:
    values = {int(s): v for s, v in trial.user_attrs["seed_values"].items()}
    pick = max if space.direction == "maximize" else min
    return pick(values, key=values.__getitem__)


def _finish(study, space: Space, out_dir: Path, optuna) -> dict:
    """Best model, ``summary.json`` and ``tune.png``; returns the summary."""
    state = optuna.trial.TrialState
    counted = counted_trials(study)
    stopped = study.user_attrs.get("stopped", {})
    complete = sorted((t for t in counted if t.state == state.COMPLETE),
                      key=lambda t: t.value, reverse=space.direction == "maximize")
    summary: dict[str, Any] = {
        "study": space.name, "space_file": str(space.path), "metric": space.metric,
        "direction": space.direction, "trials": space.trials,
        "complete": len(complete),
        "failed": sum(t.state == state.FAIL for t in counted),
        "pruned": sum(t.state == state.PRUNED for t in counted),
        "interrupted": sum(not s["counted"] for s in stopped.values()),
        "top": [{"number": t.number, "value": t.value, "params": t.params,
                 "seed_values": t.user_attrs.get("seed_values"),
                 "seconds": t.user_attrs.get("seconds")} for t in complete[:10]],
        "errors": {t.number: t.user_attrs.get("error")
                   or stopped.get(str(t.number), {}).get("error")
                   for t in counted if t.state == state.FAIL},
    }
    if complete:
        best = complete[0]
        seed = _best_seed(space, best)
        model = out_dir / "best.safetensors"
        atomic_write_bytes(model, (out_dir / "trials" / f"{best.number:05d}" /
                                   f"model-seed{seed}.safetensors").read_bytes())
        argv = space.argv(best.params, seed)
        summary["best"] = {"number": best.number, "value": best.value,
                           "params": best.params, "seed": seed, "model": str(model),
                           "command": shlex.join(["nablanet", *argv, "--model-out",
                                                  "best.safetensors"])}
    atomic_write_bytes(out_dir / "summary.json", json.dumps(summary, indent=2).encode())
    log.info("wrote %s", out_dir / "summary.json")
    if complete:
        _plot(study, out_dir / "tune.png")
    else:
        raise ValueError(f"no trial of study {space.name!r} completed; first error: "
                         f"{next(iter(summary['errors'].values()), None)}")
    return summary


def _plot(study, path: Path) -> None:
    """Optuna's optimisation history and parameter importances, side by side."""
    import io

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure
        from optuna.exceptions import ExperimentalWarning
        from optuna.visualization import matplotlib as ovm
    except ImportError:
        log.warning("no plot: matplotlib is missing (pip install 'nablanet[tune]')")
        return
    from optuna.importance import PedAnovaImportanceEvaluator

    panels = []
    for draw in (ovm.plot_optimization_history, ovm.plot_param_importances):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                # PED-ANOVA: a fraction of a second, where the default fANOVA forest
                # takes seconds on a handful of trials
                kwargs: dict[str, Any] = {"evaluator": PedAnovaImportanceEvaluator()} if (
                    draw is ovm.plot_param_importances) else {}
                ax = draw(study, **kwargs)
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            log.info("plot: %s skipped (%s)", draw.__name__, exc)
            continue
        buf = io.BytesIO()
        figure = cast(Figure, ax.figure)  # optuna draws on a top-level figure
        figure.savefig(buf, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        buf.seek(0)
        panels.append(plt.imread(buf))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.5), squeeze=False)
    for ax, image in zip(axes[0], panels, strict=True):
        ax.imshow(image)
        ax.axis("off")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    log.info("wrote %s", path)


def summary_table(summary: dict):
    """The top trials of a summary as a ``rich.table.Table``."""
    from rich.table import Table

    top = summary["top"]
    names = sorted({k for t in top for k in t["params"]})
    table = Table(title=f"{summary['study']}: top trials by {summary['metric']} "
                  f"({summary['direction']}); {summary['complete']} complete, "
                  f"{summary['pruned']} pruned, {summary['failed']} failed")
    for column in ("trial", summary["metric"], *names, "seconds"):
        table.add_column(column, justify="right")
    for t in top:
        table.add_row(str(t["number"]), f"{t['value']:.6g}",
                      *(_fmt(t["params"].get(n)) for n in names),
                      f"{t['seconds']:.1f}" if t["seconds"] is not None else "")
    return table


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
