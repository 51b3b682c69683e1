"""Callbacks for ``fit(callbacks=[...])``: :class:`ModelCheckpoint` (the model with its
training state, every few epochs or at the best monitored metric),
:class:`JSONLinesLogger` (each epoch's logs as a line of JSON, as it finishes),
:class:`TensorBoard` (per-epoch scalars and the hyper-parameters, through the
``tensorboardX`` writer: ``pip install 'nablanet[tensorboard]'``) and
:class:`GradientNorms` (how fast each layer learns: the norms of its gradients).

The protocol is :class:`nablanet.training.Callback`.
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from typing import IO, Any

import numpy as np

from nablanet import serialization
from nablanet.training import Callback, History

__all__ = ["GradientNorms", "JSONLinesLogger", "ModelCheckpoint", "TensorBoard"]

log = logging.getLogger(__name__)


class ModelCheckpoint(Callback):
    """Save the model being fitted, with its training state, so the run can be resumed
    from the file (``fit(..., initial_epoch=model.training_state.epoch)`` after
    ``load``). Each write is atomic: a file is whole or absent.

    Parameters
    ----------
    path : path-like
        The ``.safetensors`` file, overwritten at each save.
    every : int, default 1
        Save after every this many epochs (1-based: epochs ``every``, ``2 every``, ...).
    monitor : str, optional
        Instead of every few epochs: save when this metric of an evaluation epoch
        (``"val_loss"``, ``"val_accuracy"``, ...) is the best so far; names ending in
        ``loss`` are minimised, anything else maximised (Keras's ``save_best_only``).
    cli : dict, optional
        The command line's section of the file (see :func:`nablanet.serialization.save`).

    Raises
    ------
    ValueError
        For ``every`` not an integer >= 1; during training, for a ``monitor`` that the
        evaluation does not compute.
    """

    def __init__(self, path, *, every: int = 1, monitor: str | None = None,
                 cli: dict | None = None):
        if not isinstance(every, int) or isinstance(every, bool) or every < 1:
            raise ValueError(f"every: expected an integer >= 1, got {every!r}")
        self.path, self.every, self.monitor, self.cli = path, every, monitor, cli
        self.best = math.inf
        self.model = None

    def on_train_begin(self, model) -> None:
        self.model = model
        self.best = math.inf

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        if self.monitor is None:
            if epoch % self.every == 0:
                self.save(epoch)
            return
        if not any(k.endswith("loss") for k in logs):  # not an evaluation epoch
            return
        if self.monitor not in logs:
            raise ValueError(f"ModelCheckpoint: metric {self.monitor!r} is not computed; "
                             f"available: {sorted(logs)}")
        value = logs[self.monitor] * (1.0 if self.monitor.endswith("loss") else -1.0)
        if value < self.best:
            self.best = value
            self.save(epoch)

    def save(self, epoch: int) -> None:
        """Write the model now (after ``epoch``)."""
        serialization.save(self.model, self.path, cli=self.cli)
        log.debug("checkpoint after epoch %d: %s", epoch, self.path)


class JSONLinesLogger(Callback):
    """Stream the run's epochs to a JSON Lines file: after each epoch, its ``logs``
    (``epoch`` 1-based, ``seconds``, ``lr``, the losses and metrics of an evaluation
    epoch) as one JSON object on one line, written and flushed at once, so that another
    process can follow the run (``tail -f``; a sweep's pruner reads it). The logs of Keras's
    ``CSVLogger``, as JSON.

    Parameters
    ----------
    path : path-like
        The file; created, or emptied at ``on_train_begin``.
    append : bool, default False
        Add to the file instead (a resumed run continues its file).

    Raises
    ------
    OSError
        At ``on_train_begin``, when the file cannot be opened for writing.
    """

    def __init__(self, path, *, append: bool = False):
        self.path, self.append = path, append
        self.file: IO[str] | None = None

    def on_train_begin(self, model) -> None:
        self.file = open(self.path, "a" if self.append else "w", encoding="utf-8")

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        assert self.file is not None, "on_train_begin opens the file"
        self.file.write(json.dumps({**logs, "epoch": epoch}, default=_plain) + "\n")
        self.file.flush()

    def on_train_end(self, history: History) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _plain(value):
    """NumPy scalars as Python numbers, anything else as its text (for ``json.dumps``)."""
    return value.item() if hasattr(value, "item") else str(value)


class TensorBoard(Callback):
    """Write TensorBoard event files: after each epoch the numbers of its logs (losses,
    metrics, ``lr``, ``seconds``) as scalars at step ``epoch`` (1-based); at the end the
    hyper-parameters with the final metrics (TensorBoard's HParams tab, in the
    ``hparams`` subdirectory).

    Parameters
    ----------
    log_dir : path-like
        Directory of the event files (created if missing).
    hparams : dict, optional
        Hyper-parameters to record (numbers, strings, booleans); the model's optimizer
        configuration is added to them.

    Raises
    ------
    ImportError
        At ``on_train_begin`` without ``tensorboardX`` (with the command that installs it).
    """

    def __init__(self, log_dir, *, hparams: dict | None = None):
        self.log_dir = str(log_dir)
        self.hparams = dict(hparams or {})
        self.writer: Any = None  # a tensorboardX SummaryWriter from on_train_begin
        self.final: dict = {}

    def on_train_begin(self, model) -> None:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise ImportError("TensorBoard logging needs tensorboardX: pip install "
                              "'nablanet[tensorboard]'") from None
        self.writer = SummaryWriter(logdir=self.log_dir)
        if model is not None:
            opt = model.optimizer.config()
            self.hparams = {f"optimizer.{k}": v for k, v in opt.items()} | self.hparams

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        for key, value in logs.items():
            if key != "epoch" and _is_number(value):
                self.writer.add_scalar(key, float(value), epoch)
        self.final = {k: float(v) for k, v in logs.items() if k != "epoch" and _is_number(v)}
        self.writer.flush()

    def on_train_end(self, history: History) -> None:
        hparams = {k: v if isinstance(v, bool | str) or _is_number(v) else str(v)
                   for k, v in self.hparams.items()}
        metrics = {f"hparam/{k}": v for k, v in self.final.items()
                   if k not in ("lr", "seconds")}
        self.writer.add_hparams(hparams, metrics, name="hparams")
        self.writer.close()


class GradientNorms(Callback):
    """The speed at which each layer learns: the norms of its gradients, per epoch.

    After each mini-batch's backward pass, the Euclidean norm of ``dC/db`` (all the
    layer's biases as one vector) and of ``dC/dW`` (all its weights) of every layer
    with parameters, for the mini-batch's mean cost ``C``; after each epoch, their mean
    over the epoch's mini-batches. This is the measure of Nielsen's chapter 5 ("The
    vanishing gradient problem": ``||delta^l||``, the gradient of the biases, as the speed
    of learning of layer ``l``), taken during training: in a deep sigmoid network the
    first hidden layer's is far smaller than the last's.

    The epoch's numbers also go into its ``logs`` as ``grad_norm/biases_<l>`` and
    ``grad_norm/weights_<l>`` (``l`` 1-based, first hidden layer first), so that a
    :class:`TensorBoard` or :class:`JSONLinesLogger` placed *after* this callback in the
    list records them (and the :class:`~nablanet.training.History` keeps them).

    Runs on the NumPy backend: ``fit`` chooses it when this callback is in the list
    (the compiled kernels do not expose per-mini-batch gradients) and refuses
    ``backend="numba"``.

    Attributes
    ----------
    history : list of list of float
        One list per epoch, one number per layer with parameters, first hidden layer
        first (the output layer last): the mean over the epoch's mini-batches of
        ``||dC/db||``.
    weight_history : list of list of float
        The same for ``||dC/dW||``.
    labels : list of str
        One per layer: ``"hidden layer 1"``, ..., ``"output layer"``.

    Examples
    --------
    >>> import numpy as np
    >>> from nablanet import Network
    >>> from nablanet.callbacks import GradientNorms
    >>> X, y = np.random.default_rng(0).random((40, 8)), np.arange(40) % 2
    >>> norms = GradientNorms()
    >>> _ = Network([8, 5, 5, 2], seed=1).fit(X, y, epochs=2, progress=False,
    ...                                       callbacks=[norms])
    >>> len(norms.history), len(norms.history[0]), norms.labels[0]
    (2, 3, 'hidden layer 1')
    """

    def __init__(self):
        self.history: list[list[float]] = []
        self.weight_history: list[list[float]] = []
        self.labels: list[str] = []
        self._slots: list[tuple[list[int], list[int]]] = []  # per layer: (W, b) positions
        self._sums = np.zeros((2, 0))
        self._batches = 0

    def on_train_begin(self, model) -> None:
        self._slots, position = [], 0
        for layer in model.layers:
            names = layer.param_names
            if names:
                self._slots.append(([position + i for i, n in enumerate(names) if n[0] == "W"],
                                    [position + i for i, n in enumerate(names) if n[0] == "b"]))
            position += len(names)
        n = len(self._slots)
        self.labels = [f"hidden layer {j}" for j in range(1, n)] + ["output layer"]
        self._sums, self._batches = np.zeros((2, n)), 0

    def on_batch_gradients(self, grads: list[np.ndarray]) -> None:
        for j, (w, b) in enumerate(self._slots):
            self._sums[0, j] += math.sqrt(sum(float(np.vdot(grads[i], grads[i])) for i in b))
            self._sums[1, j] += math.sqrt(sum(float(np.vdot(grads[i], grads[i])) for i in w))
        self._batches += 1

    def on_epoch_end(self, epoch: int, logs: dict) -> None:
        biases, weights = (self._sums / max(self._batches, 1)).tolist()
        self.history.append(biases)
        self.weight_history.append(weights)
        for j, (nb, nw) in enumerate(zip(biases, weights, strict=True), start=1):
            logs[f"grad_norm/biases_{j}"] = nb
            logs[f"grad_norm/weights_{j}"] = nw
        self._sums[...], self._batches = 0.0, 0


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)
