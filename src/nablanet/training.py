"""The training loop shared by every model: epochs, shuffling, mini-batches, evaluation,
learning-rate schedules, early stopping and the per-epoch history.

A model plugs in through three callables (see :func:`fit_loop`): one that trains on a
mini-batch given the indices of its examples, one that evaluates the model and returns
a dict of metrics, and one that formats the per-epoch log line. Schedules and early
stopping read those metrics by name (``"val_loss"``, ``"train_loss"``, ...).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from threadpoolctl import threadpool_limits

from nablanet.registry import register

__all__ = [
    "CosineAnnealing",
    "EarlyStopping",
    "ExponentialDecay",
    "History",
    "ReduceOnPlateau",
    "StepDecay",
    "TrainingDiverged",
    "check_fit_args",
    "fit_loop",
    "get_schedule",
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

    ``epochs`` holds one dict per evaluated epoch with at least ``epoch`` (0-based),
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
    """Base class: ``new_lr = schedule(epoch, base_lr, lr, logs)`` after each epoch."""

    def __call__(self, epoch: int, base_lr: float, lr: float, logs: dict) -> float:
        raise NotImplementedError  # pragma: no cover - interface


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
# Early stopping
# --------------------------------------------------------------------------------------
@dataclass
class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for more than ``patience``
    evaluations in a row (``patience=2``: the third evaluation without improvement stops;
    the rule of PyTorch's ``ReduceLROnPlateau``).

    ``monitor`` names a metric of the evaluation dict; names ending in ``loss`` are
    minimised, anything else (accuracy, ...) maximised. With ``restore_best`` the
    parameters of the best evaluation are put back at the end of training.
    """

    monitor: str = "val_loss"
    patience: int = 5
    min_delta: float = 0.0
    restore_best: bool = True

    def __post_init__(self):
        if self.patience < 0:
            raise ValueError(f"patience: expected an integer >= 0, got {self.patience!r}")

    @property
    def sign(self) -> float:
        return 1.0 if self.monitor.endswith("loss") else -1.0


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
) -> History:
    """Run ``epochs`` epochs of mini-batch training.

    Parameters
    ----------
    n_samples : int
        Number of training examples (sequences for recurrent models).
    epochs, batch_size : int
        Both >= 1; ``batch_size`` <= ``n_samples``.
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
        See :class:`Schedule` subclasses and :class:`EarlyStopping`.
    threads : int, optional
        Limit BLAS to this many threads while training (see :func:`thread_limit`).

    Returns
    -------
    History

    Raises
    ------
    TrainingDiverged
        At the end of the first epoch whose loss (when evaluated) or parameters are not
        finite: ``training diverged at epoch N (loss nan); lower the learning rate``.
        NumPy's overflow warnings on the way there are silenced: this is the message.
    """
    check_fit_args(n_samples, epochs, batch_size, eval_every)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
        return _loop(n_samples, epochs, batch_size, rng, train_batches, evaluate, epoch_line,
                     optimizer, get_params, schedule, early_stopping, eval_every, shuffle,
                     progress, threads)


def _check_finite(epoch: int, logs: dict, params: list[np.ndarray]) -> None:
    losses = [v for k, v in logs.items() if k.endswith("loss")]
    if all(math.isfinite(v) for v in losses) and all(np.isfinite(p).all() for p in params):
        return
    loss = next((v for v in losses if not math.isfinite(v)), float("nan"))
    raise TrainingDiverged(f"training diverged at epoch {epoch + 1} (loss {loss}); lower "
                           "the learning rate")


def _loop(n_samples, epochs, batch_size, rng, train_batches, evaluate, epoch_line,
          optimizer, get_params, schedule, early_stopping, eval_every, shuffle, progress,
          threads) -> History:
    history = History()
    base_lr = optimizer.lr
    best_value, best_params, wait = math.inf, None, 0
    n_batches = -(-n_samples // batch_size)
    chunk = batch_size * max(1, n_batches // 200)
    start_all = time.perf_counter()
    console = Console(stderr=True)
    limit = threadpool_limits(limits=threads, user_api="blas") if threads else nullcontext()
    with limit, Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (progress and console.is_terminal),
    ) as bar:
        task = bar.add_task("epoch", total=n_batches)
        for epoch in range(epochs):
            bar.reset(task, total=n_batches, description=f"epoch {epoch}")
            order = rng.permutation(n_samples) if shuffle else np.arange(n_samples)
            t0 = time.perf_counter()
            for start in range(0, n_samples, chunk):
                train_batches(order[start:start + chunk])
                bar.update(task, completed=min(n_batches, (start + chunk) // batch_size))
            seconds = time.perf_counter() - t0
            last = epoch == epochs - 1
            evaluated = last or (epoch + 1) % eval_every == 0
            logs = {"epoch": epoch, "seconds": seconds, "lr": optimizer.lr}
            if evaluated:
                logs.update(evaluate())
            _check_finite(epoch, logs, get_params())
            if evaluated:
                history.epochs.append(logs)
                log.info(epoch_line(logs))
            else:
                log.debug("epoch %d trained in %.3f s", epoch, seconds)
            if schedule is not None:  # every epoch; plateau only acts on evaluated ones
                optimizer.lr = schedule(epoch, base_lr, optimizer.lr, logs)
            if evaluated and early_stopping is not None:
                value = logs.get(early_stopping.monitor)
                if value is None:
                    raise ValueError(
                        f"early_stopping: metric {early_stopping.monitor!r} is not computed; "
                        f"available: {sorted(logs)}"
                    )
                value *= early_stopping.sign
                if value < best_value - early_stopping.min_delta:
                    best_value, wait, history.best_epoch = value, 0, epoch
                    if early_stopping.restore_best:
                        best_params = [p.copy() for p in get_params()]
                else:
                    wait += 1
                    if wait > early_stopping.patience:
                        history.stopped_early = True
                        log.info("early stopping after epoch %d (best epoch %d)", epoch,
                                 history.best_epoch)
                        break
    if best_params is not None:
        for p, best in zip(get_params(), best_params, strict=True):
            p[...] = best
        log.info("restored the parameters of epoch %d", history.best_epoch)
    history.total_seconds = time.perf_counter() - start_all
    return history


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
