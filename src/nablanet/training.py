"""The training loop shared by every model: epochs, shuffling, mini-batches, evaluation,
learning-rate schedules, early stopping and the per-epoch history.

A model plugs in through three callables (see :func:`fit_loop`): one that trains on a
mini-batch given the indices of its examples, one that evaluates the model and returns
a dict of metrics, and one that formats the per-epoch log line. Schedules and early
stopping read those metrics by name (``"val_loss"``, ``"train_loss"``, ...).

Epochs are numbered from 1 everywhere (logs, :class:`History`, callbacks, plots).
:class:`Callback` is the protocol of ``fit(callbacks=[...])``; :class:`TrainingState`
records where a run stands (epoch, schedule and early stopping with their state, the
starting learning rate, backend, data fingerprint) so that a saved model resumes
exactly (``fit(..., initial_epoch=...)``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import Field, dataclass, field, fields
from typing import Any, ClassVar

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from threadpoolctl import threadpool_limits

from nablanet.optimizers import Optimizer
from nablanet.registry import get, name_of, register

__all__ = [
    "Callback",
    "CosineAnnealing",
    "EarlyStopping",
    "ExponentialDecay",
    "History",
    "ReduceOnPlateau",
    "StepDecay",
    "TrainingDiverged",
    "TrainingState",
    "check_fit_args",
    "fit_loop",
    "get_schedule",
    "gradient_watchers",
    "thread_limit",
]

log = logging.getLogger(__name__)


class TrainingDiverged(ValueError):
    """Training produced a non-finite loss or parameter (too large a learning rate, as a
    rule): raised by :func:`fit_loop` after the first such epoch."""


# --------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------
@dataclass
class History:
    """Per-epoch record of a ``fit``.

    ``epochs`` holds one dict per evaluated epoch with at least ``epoch`` (1-based: the
    number of epochs trained, counted from the start of the run, resumed runs included),
    ``seconds`` (wall-clock training time of that epoch, evaluation excluded) and ``lr``,
    plus whatever the model's evaluation returned (``train_loss``, ``val_accuracy``, ...).
    ``history["val_accuracy"]`` gives one metric as a list.
    """

    epochs: list[dict] = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
    total_seconds: float = 0.0

    def __getitem__(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    def to_dict(self) -> dict:
        """JSON-ready form: ``{"epochs": [...], "best_epoch": ..., ...}``."""
        return {
            "epochs": [{k: _plain(v) for k, v in e.items()} for e in self.epochs],
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "total_seconds": self.total_seconds,
        }


def _plain(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


# --------------------------------------------------------------------------------------
# Learning-rate schedules: called after every epoch with the epoch's metrics.
# --------------------------------------------------------------------------------------
class Schedule:
    """Base class: ``new_lr = schedule(epoch, base_lr, lr, logs)`` after each epoch
    (``epoch`` 0-based: the index of the epoch just trained). Subclasses are dataclasses:
    their init fields are the configuration, the other fields the state (what
    :meth:`to_dict` saves with a model)."""

    __dataclass_fields__: ClassVar[dict[str, Field[Any]]]  # set by @dataclass on subclasses

    def __call__(self, epoch: int, base_lr: float, lr: float, logs: dict) -> float:
        raise NotImplementedError  # pragma: no cover - interface

    def to_dict(self) -> dict:
        """``{"name", "config", "state"}``, JSON-ready (infinities as None)."""
        return {"name": name_of("schedule", type(self)),
                "config": {f.name: getattr(self, f.name) for f in fields(self) if f.init},
                "state": {f.name: _plain(getattr(self, f.name))
                          for f in fields(self) if not f.init}}

    @staticmethod
    def from_dict(d: dict) -> Schedule:
        """The schedule of :meth:`to_dict`, its state included.

        Raises
        ------
        ValueError
            For an unknown name or bad configuration.
        """
        try:
            schedule = get("schedule", d["name"])(**d.get("config", {}))
            for k, v in d.get("state", {}).items():
                setattr(schedule, k, math.inf if v is None else v)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"schedule: bad saved schedule {d!r} ({exc})") from None
        return schedule


@register("schedule", "step")
@dataclass
class StepDecay(Schedule):
    """Multiply the learning rate by ``gamma`` every ``step_size`` epochs."""

    step_size: int = 10
    gamma: float = 0.5

    def __call__(self, epoch, base_lr, lr, logs):
        return base_lr * self.gamma ** ((epoch + 1) // self.step_size)


@register("schedule", "exponential")
@dataclass
class ExponentialDecay(Schedule):
    """``lr = base_lr * gamma ** (epoch + 1)``."""

    gamma: float = 0.95

    def __call__(self, epoch, base_lr, lr, logs):
        return base_lr * self.gamma ** (epoch + 1)


@register("schedule", "cosine")
@dataclass
class CosineAnnealing(Schedule):
    """Cosine annealing from ``base_lr`` to ``min_lr`` over ``t_max`` epochs
    (Loshchilov & Hutter 2017, eq. 5, without restarts)."""

    t_max: int = 30
    min_lr: float = 0.0

    def __call__(self, epoch, base_lr, lr, logs):
        t = min(epoch + 1, self.t_max)
        cos = math.cos(math.pi * t / self.t_max)
        return self.min_lr + 0.5 * (base_lr - self.min_lr) * (1 + cos)


@register("schedule", "plateau")
@dataclass
class ReduceOnPlateau(Schedule):
    """Multiply the learning rate by ``factor`` when ``monitor`` (a loss: lower is better)
    has not improved for ``patience`` evaluations; never below ``min_lr``."""

    monitor: str = "val_loss"
    factor: float = 0.5
    patience: int = 3
    min_lr: float = 0.0
    _best: float = field(default=math.inf, init=False, repr=False)
    _wait: int = field(default=0, init=False, repr=False)

    def __call__(self, epoch, base_lr, lr, logs):
        value = logs.get(self.monitor)
        if value is None:
            return lr
        if value < self._best:
            self._best, self._wait = value, 0
            return lr
        self._wait += 1
        if self._wait > self.patience:
            self._wait = 0
            return max(lr * self.factor, self.min_lr)
        return lr


def get_schedule(name: str | None, epochs: int) -> Schedule | None:
    """Build a schedule from a CLI name: ``none``, ``step``, ``exponential``, ``cosine``,
    ``plateau`` (with defaults scaled to ``epochs``).

    Raises
    ------
    ValueError
        If the name is unknown.
    """
    if name in (None, "none", "constant"):
        return None
    if name == "step":
        return StepDecay(step_size=max(1, epochs // 3))
    if name == "exponential":
        return ExponentialDecay()
    if name == "cosine":
        return CosineAnnealing(t_max=epochs)
    if name == "plateau":
        return ReduceOnPlateau()
    raise ValueError(
        f"schedule: expected one of none, step, exponential, cosine, plateau; got {name!r}"
    )


# --------------------------------------------------------------------------------------
# Callbacks
# --------------------------------------------------------------------------------------
class Callback:
    """What ``fit(callbacks=[...])`` calls; override any of the three (the defaults do
    nothing).

    - ``on_train_begin(model)``: before the first epoch of a ``fit``;
    - ``on_epoch_end(epoch, logs)``: after each epoch is trained, evaluated (when it is
      an evaluation epoch) and the schedule has set the next learning rate; ``epoch`` is
      1-based (epochs trained so far in the run, resumed runs included) and ``logs`` has
      ``epoch``, ``seconds``, ``lr`` (the rate this epoch used) and the metrics of an
      evaluation epoch. Return True to stop training after this epoch;
    - ``on_train_end(history)``: after the last epoch (also after an early stop);
    - ``on_batch_gradients(grads)``: only where a callback overrides it, after each
      mini-batch's backward pass and before the optimizer's step, with the model's
      gradient arrays (``model.grads()``: the mean over the mini-batch, in the order of
      ``model.params()``; read them, do not keep or change them). The compiled kernels
      do not expose their gradients, so such a callback makes ``fit`` train on the NumPy
      backend (``backend="numba"`` is refused).

    The callbacks run in list order, after the model's early stopping; ``logs`` is one
    dict passed along the list (and kept in the :class:`History` on evaluation epochs),
    so what a callback adds to it is seen by those after it.
    """

    def on_train_begin(self, model) -> None:
        """Training starts (``model``: the model being fitted)."""

    def on_epoch_end(self, epoch: int, logs: dict) -> bool | None:
        """An epoch is done; return True to stop."""

    def on_train_end(self, history: History) -> None:
        """Training is over."""

    def on_batch_gradients(self, grads: list[np.ndarray]) -> None:
        """A mini-batch's gradients are computed (called only where overridden)."""


def gradient_watchers(callbacks: Sequence[Callback]) -> list[Callable[[list], None]]:
    """The ``on_batch_gradients`` methods of the callbacks that override it, in order."""
    return [cb.on_batch_gradients for cb in callbacks
            if getattr(type(cb), "on_batch_gradients", None) not in
            (None, Callback.on_batch_gradients)]


@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for more than ``patience``
    evaluations in a row (``patience=2``: the third evaluation without improvement stops;
    the rule of PyTorch's ``ReduceLROnPlateau``).

    ``monitor`` names a metric of the evaluation dict; names ending in ``loss`` are
    minimised, anything else (accuracy, ...) maximised. With ``restore_best`` the
    parameters of the best evaluation are put back at the end of training.

    The state (``best``, ``wait``, ``best_epoch`` 1-based, ``best_params``) is reset at
    the start of a fresh ``fit`` and kept when a run is resumed (it is saved with the
    model).
    """

    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True
    best: float = field(default=math.inf, init=False, repr=False)
    wait: int = field(default=0, init=False, repr=False)
    best_epoch: int | None = field(default=None, init=False, repr=False)
    best_params: list | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.patience < 0:
            raise ValueError(f"patience: expected an integer >= 0, got {self.patience!r}")

    @property
    def sign(self) -> float:
        return 1.0 if self.monitor.endswith("loss") else -1.0

    def reset(self) -> None:
        """Forget the best value and the waiting count."""
        self.best, self.wait, self.best_epoch, self.best_params = math.inf, 0, None, None

    def observe(self, epoch: int, logs: dict, params: list[np.ndarray]) -> bool:
        """Take an evaluation epoch's metrics (1-based ``epoch``); True means stop.

        Raises
        ------
        ValueError
            If ``monitor`` is not among the metrics.
        """
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"early_stopping: metric {self.monitor!r} is not computed; "
                             f"available: {sorted(logs)}")
        value *= self.sign
        if value < self.best - self.min_delta:
            self.best, self.wait, self.best_epoch = value, 0, epoch
            if self.restore_best:
                if self.best_params is None:
                    self.best_params = [p.copy() for p in params]
                else:
                    for keep, p in zip(self.best_params, params, strict=True):
                        keep[...] = p
            return False
        self.wait += 1
        return self.wait > self.patience

    def to_dict(self) -> dict:
        """Configuration and state, JSON-ready (the best parameters excluded)."""
        return {"config": {f.name: getattr(self, f.name) for f in fields(self) if f.init},
                "state": {"best": _plain(self.best), "wait": self.wait,
                          "best_epoch": self.best_epoch}}

    @classmethod
    def from_dict(cls, d: dict, best_params: list | None = None) -> EarlyStopping:
        """The early stopping of :meth:`to_dict`, state included.

        Raises
        ------
        ValueError
            For a malformed dict.
        """
        try:
            stop = cls(**d["config"])
            state = d["state"]
            stop.best = math.inf if state["best"] is None else float(state["best"])
            stop.wait, stop.best_epoch = int(state["wait"]), state["best_epoch"]
        except (KeyError, TypeError) as exc:
            raise ValueError(f"early_stopping: bad saved state {d!r} ({exc})") from None
        stop.best_params = best_params
        return stop


@dataclass
class TrainingState(Callback):
    """Where a model's training stands, saved with it so a run can be resumed exactly.

    Attributes
    ----------
    epoch : int
        Epochs trained in the current run (0: none).
    base_lr : float or None
        The learning rate the run's schedule started from.
    schedule, early_stopping : optional
        The run's schedule and early stopping, with their state.
    backend : str or None
        ``"numpy"`` or ``"numba"``: what trained the run (the two agree per step, not
        bitwise over a run).
    data : dict or None
        Fingerprint of the training data: ``n``, input shape, dtype and a BLAKE2b
        digest of the inputs and targets.
    split_rng : dict or None
        The model generator's state before ``validation_split`` drew the split.
    history : list of dict
        The logs of the run's evaluated epochs so far, resumed runs included (JSON-ready).
    """

    epoch: int = 0
    base_lr: float | None = None
    schedule: Schedule | None = None
    early_stopping: EarlyStopping | None = None
    backend: str | None = None
    data: dict | None = None
    split_rng: dict[str, Any] | None = None
    history: list = field(default_factory=list)

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        self.epoch = epoch
        if any(k.endswith("loss") for k in logs):  # an evaluation epoch
            self.history.append({k: _plain(v) for k, v in logs.items()})

    def to_dict(self) -> dict:
        """JSON-ready form (the early stopping's best parameters excluded)."""
        return {
            "epoch": self.epoch, "base_lr": self.base_lr, "backend": self.backend,
            "data": self.data, "split_rng": self.split_rng, "history": self.history,
            "schedule": None if self.schedule is None else self.schedule.to_dict(),
            "early_stopping": (None if self.early_stopping is None
                               else self.early_stopping.to_dict()),
        }

    @classmethod
    def from_dict(cls, d: dict, best_params: list | None = None) -> TrainingState:
        """The state of :meth:`to_dict`.

        Raises
        ------
        ValueError
            For a malformed dict.
        """
        if not isinstance(d, dict) or not isinstance(d.get("epoch"), int) or d["epoch"] < 0:
            raise ValueError("training: expected an object with an epoch count >= 0")
        sched, stop = d.get("schedule"), d.get("early_stopping")
        return cls(
            epoch=d["epoch"], base_lr=d.get("base_lr"), backend=d.get("backend"),
            data=d.get("data"), split_rng=d.get("split_rng"),
            history=list(d.get("history") or []),
            schedule=None if sched is None else Schedule.from_dict(sched),
            early_stopping=None if stop is None else EarlyStopping.from_dict(stop, best_params),
        )


# --------------------------------------------------------------------------------------
# BLAS threads
# --------------------------------------------------------------------------------------
#: below this many multiply-adds in a step's largest matrix product, one BLAS thread is
#: used: on the 2-core reference machine two threads gain little even for the book's
#: network at batch 128 (3M), and each two-thread call can stall ~10 ms when the other
#: core is busy (benchmarks/mlp_epoch.py, benchmarks/recurrent_cells.py --threads)
ONE_THREAD_BELOW = 8_000_000


def thread_limit(threads: int | None, largest_product: int) -> int | None:
    """The BLAS thread count for a ``fit``: ``threads`` if given (>= 1), else 1 when the
    largest matrix product of a training step (per time step, for recurrent models) has
    fewer than :data:`ONE_THREAD_BELOW` multiply-adds (small products pay more in thread
    hand-off than they gain, many times more when the other core is busy), else None
    (BLAS's own default).

    Raises
    ------
    ValueError
        If ``threads`` is given and is not an integer >= 1.
    """
    if threads is not None:
        if not isinstance(threads, int | np.integer) or isinstance(threads, bool) or threads < 1:
            raise ValueError(f"threads: expected an integer >= 1, got {threads!r}")
        return int(threads)
    return 1 if largest_product < ONE_THREAD_BELOW else None


# --------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------
def fit_loop(
    *,
    n_samples: int,
    epochs: int,
    batch_size: int,
    rng: np.random.Generator,
    train_batches: Callable[[np.ndarray], None],
    evaluate: Callable[[], dict],
    epoch_line: Callable[[dict], str],
    optimizer,
    get_params: Callable[[], list[np.ndarray]],
    schedule: Schedule | None = None,
    early_stopping: EarlyStopping | None = None,
    eval_every: int = 1,
    shuffle: bool = True,
    progress: bool = True,
    threads: int | None = None,
    initial_epoch: int = 0,
    base_lr: float | None = None,
    callbacks: Sequence[Callback] = (),
    model=None,
) -> History:
    """Run epochs ``initial_epoch + 1`` to ``epochs`` of mini-batch training.

    Parameters
    ----------
    n_samples : int
        Number of training examples (sequences for recurrent models).
    epochs, batch_size : int
        Both >= 1; ``batch_size`` <= ``n_samples``. ``epochs`` counts the whole run.
    rng : numpy.random.Generator
        Source of the per-epoch shuffling permutation.
    train_batches : callable ``(indices int64 (k,)) -> None``
        Train on consecutive mini-batches of ``batch_size`` of the examples ``indices``
        (forward, backward and optimizer step each; only the last may be smaller).
        The loop hands over a few hundred such chunks per epoch, so a compiled backend
        can run many mini-batches per call while the progress bar still moves.
    evaluate : callable ``() -> dict``
        Metrics of the current model (``train_loss``, ``val_accuracy``, ...); called every
        ``eval_every`` epochs and after the last one.
    epoch_line : callable ``(logs) -> str``
        The per-epoch log line.
    optimizer : Optimizer
        Its ``lr`` is set by ``schedule`` after each epoch.
    get_params : callable
        The model's parameter arrays (for restoring the best epoch's weights in place).
    schedule, early_stopping : optional
        See :class:`Schedule` subclasses and :class:`EarlyStopping`. Early stopping is
        reset when ``initial_epoch`` is 0 and continues from its state otherwise.
    threads : int, optional
        Limit BLAS to this many threads while training (see :func:`thread_limit`).
    initial_epoch : int, default 0
        Epochs already trained (a resumed run): training starts with epoch
        ``initial_epoch + 1`` and the schedule where it stood.
    base_lr : float, optional
        The schedule's starting rate (default: ``optimizer.lr``; a resumed run passes
        the original run's).
    callbacks : sequence of Callback
        See :class:`Callback`.
    model : optional
        Passed to the callbacks' ``on_train_begin``.

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        At the end of the first epoch whose loss (when evaluated) or parameters are not
        finite: ``training diverged at epoch N (loss nan); lower the learning rate``.
        NumPy's overflow warnings on the way there are silenced: this is the message.
    ValueError
        For ``initial_epoch`` not an integer in ``[0, epochs]``.
    """
    check_fit_args(n_samples, epochs, batch_size, eval_every)
    if not isinstance(initial_epoch, int | np.integer) or not 0 <= initial_epoch <= epochs:
        raise ValueError(f"initial_epoch: expected an integer in [0, epochs={epochs}], "
                         f"got {initial_epoch!r}")
    if early_stopping is not None and initial_epoch == 0:
        early_stopping.reset()
    run = _Run(epochs, batch_size, rng, train_batches, evaluate, epoch_line, optimizer,
               get_params, schedule, early_stopping, eval_every, shuffle,
               optimizer.lr if base_lr is None else base_lr, list(callbacks))
    for cb in run.callbacks:
        cb.on_train_begin(model)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        history = run.loop(n_samples, initial_epoch, progress, threads)
    for cb in run.callbacks:
        cb.on_train_end(history)
    return history


def _check_finite(epoch: int, logs: dict, params: list[np.ndarray]) -> None:
    losses = [v for k, v in logs.items() if k.endswith("loss")]
    if all(math.isfinite(v) for v in losses) and all(np.isfinite(p).all() for p in params):
        return
    loss = next((v for v in losses if not math.isfinite(v)), float("nan"))
    raise TrainingDiverged(f"training diverged at epoch {epoch} (loss {loss}); lower "
                           "the learning rate")


@dataclass
class _Run:
    """The arguments of one :func:`fit_loop` call and its epoch step."""

    epochs: int
    batch_size: int
    rng: np.random.Generator
    train_batches: Callable
    evaluate: Callable
    epoch_line: Callable
    optimizer: Optimizer
    get_params: Callable
    schedule: Schedule | None
    early_stopping: EarlyStopping | None
    eval_every: int
    shuffle: bool
    base_lr: float
    callbacks: list

    def loop(self, n_samples: int, initial_epoch: int, progress: bool, threads) -> History:
        history = History()
        n_batches = -(-n_samples // self.batch_size)
        start_all = time.perf_counter()
        console = Console(stderr=True)
        shown = progress and console.is_terminal
        # the mini-batches handed to train_batches at once: ~1/200 of the epoch (the
        # bar's steps; and the rows a compiled trainer converts from uint8 at a time)
        chunk = self.batch_size * max(1, n_batches // 200)
        limit = threadpool_limits(limits=threads, user_api="blas") if threads else nullcontext()
        with limit, Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not shown,
        ) as bar:
            task = bar.add_task("epoch", total=n_batches)
            for epoch in range(initial_epoch + 1, self.epochs + 1):  # 1-based
                bar.reset(task, total=n_batches, description=f"epoch {epoch}")
                order = self.rng.permutation(n_samples) if self.shuffle else np.arange(n_samples)
                t0 = time.perf_counter()
                for start in range(0, n_samples, chunk):
                    self.train_batches(order[start:start + chunk])
                    if shown:  # a hidden bar's update costs as much as a small chunk
                        bar.update(task, completed=min(n_batches,
                                                       (start + chunk) // self.batch_size))
                if self.end_epoch(epoch, time.perf_counter() - t0, history):
                    break
        if self.early_stopping is not None and self.early_stopping.best_params is not None:
            for p, best in zip(self.get_params(), self.early_stopping.best_params, strict=True):
                p[...] = best
            log.info("restored the parameters of epoch %d", self.early_stopping.best_epoch)
        history.best_epoch = None if self.early_stopping is None \
            else self.early_stopping.best_epoch
        history.total_seconds = time.perf_counter() - start_all
        return history

    def end_epoch(self, epoch: int, seconds: float, history: History) -> bool:
        """Evaluate, log, schedule, early-stop and call back after ``epoch`` (1-based);
        True means stop."""
        evaluated = epoch == self.epochs or epoch % self.eval_every == 0
        logs = {"epoch": epoch, "seconds": seconds, "lr": self.optimizer.lr}
        if evaluated:
            logs.update(self.evaluate())
        _check_finite(epoch, logs, self.get_params())
        if evaluated:
            history.epochs.append(logs)
            log.info(self.epoch_line(logs))
        else:
            log.debug("epoch %d trained in %.3f s", epoch, seconds)
        if self.schedule is not None:  # every epoch; plateau only acts on evaluated ones
            self.optimizer.lr = self.schedule(epoch - 1, self.base_lr, self.optimizer.lr, logs)
        stop = False
        if evaluated and self.early_stopping is not None:
            stop = self.early_stopping.observe(epoch, logs, self.get_params())
            if stop:
                history.stopped_early = True
                log.info("early stopping after epoch %d (best epoch %d)", epoch,
                         self.early_stopping.best_epoch)
        for cb in self.callbacks:
            stop = bool(cb.on_epoch_end(epoch, logs)) or stop
        return stop


def check_fit_args(n_samples: int, epochs: int, batch_size: int, eval_every: int) -> None:
    """Validate the loop's arguments (models call it before allocating work buffers).

    Raises
    ------
    ValueError
        Naming the argument: epochs, batch_size or eval_every not an integer >= 1, no
        training examples, or a batch larger than the training set.
    """
    for name, v in (("epochs", epochs), ("batch_size", batch_size), ("eval_every", eval_every)):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
    if n_samples < 1:
        raise ValueError("training data: expected at least one example, got none")
    if batch_size > n_samples:
        raise ValueError(
            f"batch_size: expected at most the number of training examples ({n_samples}), "
            f"got {batch_size}"
        )
