"""The space file of a sweep: :func:`load_space` reads and checks the TOML file (laid out
as in :mod:`nablanet.tune`) into a :class:`Space`, its searched options (:class:`Param`)
and its optional :class:`Pruner`."""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nablanet.tune.extras import require

__all__ = ["Param", "Pruner", "Space", "load_space"]

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
_TOP_KEYS = {"name", "command", "data", "trials", "sampler", "seed", "seeds", "objective",
             "options", "params", "pruner"}
PRUNERS = ("median",)


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
        return require("optuna.pruners").MedianPruner(
            n_startup_trials=self.startup_trials, n_warmup_steps=self.warmup_epochs)


@dataclass(frozen=True)
class Space:
    """A validated space file (see :mod:`nablanet.tune`); build it with
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
        A TOML file laid out as in :mod:`nablanet.tune`.

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

