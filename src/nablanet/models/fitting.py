"""``fit``: training a :class:`~nablanet.models.sequential.Sequential` by mini-batch
gradient descent, and the NumPy trainer it runs when no compiled kernel does.

:func:`fit` is the model's ``fit`` method (assigned in the class body): it prepares the
data at the edge (:mod:`.checks`), starts or resumes the run (:mod:`.training_state`),
holds out the validation share, chooses the backend (the model's compiled kernel or
the layers), gives the layers their work buffers once, and hands the epochs to
:func:`nablanet.training.fit_loop`. :func:`numpy_trainer` is the mini-batch loop through
the layers (the reference every compiled kernel is tested against).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from nablanet import kernels
from nablanet.models.checks import holdout
from nablanet.models.gradient_step import gradient_step
from nablanet.models.head_metrics import check_metric_names, metric_logs
from nablanet.models.training_state import start_run
from nablanet.parallel import split_workers, workers
from nablanet.training import (
    Callback,
    EarlyStopping,
    History,
    Schedule,
    check_fit_args,
    fit_loop,
    gradient_watchers,
    thread_limit,
)

__all__ = ["fit", "numpy_trainer"]

log = logging.getLogger(__name__)


def fit(
    model,
    X,
    y,
    mask=None,
    *,
    epochs: int | None = None,
    batch_size: int | None = None,
    validation_data=None,
    validation_split: float = 0.0,
    schedule: Schedule | None = None,
    early_stopping: EarlyStopping | None = None,
    eval_every: int = 1,
    threshold: float = 0.5,
    monitor_training: bool | str = True,
    shuffle: bool = True,
    progress: bool = True,
    backend: str = "auto",
    threads: int | None = None,
    callbacks: Sequence[Callback] = (),
    initial_epoch: int = 0,
    sample_weight=None,
    class_weight: dict | str | None = None,
    metrics: Sequence[str] = (),
) -> History:
    """Train by mini-batch gradient descent with backpropagation and the model's
    optimizer.

    Parameters
    ----------
    X : array ``(n, ...)``
        Training inputs; the per-sample shape is the first layer's.
    y : int array ``(n,)`` of class labels, or array ``(n, *output_shape)`` of targets
        Labels are one-hot encoded for several outputs; for one output, 0/1 labels
        are its targets.
    mask : bool array ``(n, n_steps)``, optional
        Sequence models only: the valid steps of variable-length sequences.
    epochs : int, optional
        Passes over the data (default: the class's ``default_epochs``).
    batch_size : int, optional
        Samples per mini-batch (the last one may be smaller); default: the class's
        ``default_batch_size``.
    validation_data : tuple ``(X_val, y_val)`` or ``(X_val, y_val, mask_val)``, optional
        Evaluated every ``eval_every`` epochs (``val_loss``, ``val_accuracy``, ...).
    validation_split : float, default 0
        Instead of ``validation_data``: hold out this fraction of ``X`` (seeded).
    schedule, early_stopping : optional
        Learning-rate schedule and early stopping (see :mod:`nablanet.training`).
    eval_every : int, default 1
        Evaluate every this many epochs (and after the last).
    threshold : float, default 0.5
        Decision threshold of a single sigmoid output, for the accuracy.
    monitor_training : bool or ``"full"``, default True
        Also report metrics on the training data (``train_loss``, ...). True: as the
        training pass saw them, as Keras reports them: each sample's output
        recorded when its mini-batch was trained, the metrics computed from them
        once per evaluated epoch (the running mean over the epoch's mini-batches,
        in training mode: with dropout, and with the weights of each step); no
        second forward pass. ``"full"``: a full evaluation of the final weights on
        the training data after the epoch, as on the validation data (one more
        forward pass over the training data). False: none. The compiled kernels
        record their outputs as the NumPy path does.
    shuffle : bool, default True
        Reshuffle the samples every epoch from the model's generator.
    progress : bool, default True
        Show a progress bar within each epoch on a terminal.
    backend : ``"auto"``, ``"numpy"`` or ``"numba"``
        ``numpy``: the layers (the reference); ``numba``: the model's compiled
        kernel, if it has one (:meth:`kernel_unsupported` says why not); ``auto``:
        the kernel when it applies and ``batch_size <= auto_numba_max_batch``.
    threads : int, optional
        Threads while training: the workers that split each mini-batch's rows,
        each running the forward and backward pass on its rows with one BLAS thread
        (mini-batches of 32 rows and more, trained through the layers: any model on
        the NumPy backend, LSTM and GRU on either; :mod:`nablanet.parallel`), else
        BLAS threads (the compiled whole-epoch kernels, small mini-batches; see
        :func:`nablanet.training.thread_limit`). Default: every available core
        where each worker's rows hold enough work
        (:func:`nablanet.parallel.split_workers`), else the BLAS rule.
    callbacks : sequence of Callback
        Called at the start, after every epoch (may stop training) and at the end;
        see :class:`nablanet.training.Callback`. One that reads each mini-batch's
        gradients (``on_batch_gradients``, :class:`nablanet.callbacks.GradientNorms`)
        makes ``backend="auto"`` train on NumPy.
    initial_epoch : int, default 0
        Resume a run: the epochs already trained (the model's
        ``training_state.epoch`` after :meth:`load`). Training runs epochs
        ``initial_epoch + 1`` to ``epochs`` with the saved optimizer moments,
        generator, schedule (when ``schedule`` is None) and early stopping (when
        ``early_stopping`` is None): on the same backend the weights equal those
        of an uninterrupted run bit for bit.
    sample_weight : array ``(n,)``, or ``(n, n_steps)`` for per-step targets, optional
        Weight of each example's (sequence's, step's) loss and gradient: the
        objective is ``(1/n) sum_i w_i L_i`` (Keras's convention).
    class_weight : dict ``{label: weight}`` or ``"balanced"``, optional
        Multiplies the weight of each example by its class's; ``"balanced"`` is
        scikit-learn's ``n_samples / (n_classes * bincount(y))``. Classifiers only
        (softmax, one sigmoid output, or sigmoid outputs with one-hot targets).
    metrics : sequence of str
        Extra metrics of :mod:`nablanet.metrics` logged each evaluation (e.g.
        ``"macro_f1"``), ``train_``/``val_`` prefixed.

    Returns
    -------
    History
        One entry per evaluated epoch: ``epoch`` (1-based), ``seconds``, ``lr`` (the
        rate the epoch used) and the metrics (``train_`` and ``val_`` prefixed).

    Raises
    ------
    ValueError
        For inputs or targets that do not fit the model, non-finite inputs, labels
        out of range, bad epochs/batch_size/eval_every/validation_split/weights/
        metrics, ``backend="numba"`` for a model the kernels do not cover, or
        resuming on other data than the run's (another fingerprint).
    ImportError
        For ``backend="numba"`` without Numba installed.
    """
    epochs = model.default_epochs if epochs is None else epochs
    batch_size = model.default_batch_size if batch_size is None else batch_size
    data = model._prepare(X, y, mask, "X", model.targets_name)
    if model.sample_shape is None:  # what the model takes, for summary() and the exports
        model.input_shape = tuple(data[0].shape[1:])
    resume = bool(initial_epoch)
    state = start_run(model, data, resume, schedule, early_stopping)
    schedule, early_stopping = state.schedule, state.early_stopping
    weights = model._loss_weights(data, sample_weight, class_weight)
    extra = check_metric_names(model, metrics)
    val = None
    if validation_data is not None:
        if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected a tuple (X_val, y_val) or "
                             "(X_val, y_val, mask_val)")
        vx, vy, *vm = validation_data
        val = model._prepare(vx, vy, vm[0] if vm else None, "validation_data[0]",
                            "validation_data[1]")
    elif validation_split:
        split_rng = np.random.default_rng()
        assert state.split_rng is not None  # every run records its split's state
        split_rng.bit_generator.state = state.split_rng  # the run's split, resumed too
        (data, weights), val = holdout((data, weights), validation_split, split_rng)
        if not resume:
            model.rng.bit_generator.state = split_rng.bit_generator.state
    X = data[0]
    check_fit_args(len(X), epochs, batch_size, eval_every)
    reason = model.kernel_unsupported() if sample_weight is None and class_weight is None \
        else "the compiled kernels take no sample or class weights"
    watchers = gradient_watchers(callbacks)
    if watchers and reason is None:
        reason = ("a callback reads each mini-batch's gradients (on_batch_gradients, "
                  "e.g. GradientNorms), which the compiled kernels do not expose")
    compiled = kernels.use_numba(backend, reason, batch_size, model.auto_numba_max_batch)
    if monitor_training not in (True, False, "full"):
        raise ValueError("monitor_training: expected True, False or 'full', got "
                         f"{monitor_training!r}")
    # the training pass's outputs, for the running training metrics
    record = np.empty((len(X), *data[1].shape[1:]), dtype=model.dtype) \
        if monitor_training is True else None
    used = "numba" if compiled else "numpy"
    if resume and state.backend not in (None, used):
        log.warning("resuming a %s run on the %s backend: the weights will not equal an "
                    "uninterrupted run's bit for bit", state.backend, used)
    state.backend = used
    train = (data[0], data[1], weights)
    if compiled:
        train_batches = model.compiled_trainer(train, batch_size, record)
    else:  # the layers' buffers, once: for the mini-batches and the evaluation chunks
        largest = max(len(X), 0 if val is None else len(val[0]))
        chunk = model._plan(X.shape[1:], "X")[1]
        model._allocate(X.shape[1:], max(batch_size, min(largest, chunk)))
        train_batches = model._numpy_trainer(train, batch_size, record, watchers)
    log.info("training on the %s backend", used)
    params = model.params()

    def evaluate() -> dict:
        logs = {}
        if monitor_training:
            logs.update(metric_logs(model, data, "train_", threshold, extra, record))
        if val is not None:
            logs.update(metric_logs(model, val, "val_", threshold, extra))
        return logs

    largest = batch_size * max((p.size for p in params), default=1)
    blas = thread_limit(threads, largest)  # checks threads too
    splits = not (compiled and model.whole_epoch_kernel)  # the layers' passes split rows
    split = split_workers(threads, batch_size,
                          model._plan(X.shape[1:], "X")[2] if splits else None)
    with workers(split):  # split rows run single-threaded BLAS each
        return fit_loop(
            n_samples=len(X), epochs=epochs, batch_size=batch_size, rng=model.rng,
            train_batches=train_batches, evaluate=evaluate,
            epoch_line=lambda logs: model.epoch_line(logs, None if val is None else len(val[0]),
                                                     epochs),
            optimizer=model.optimizer, get_params=lambda: params, schedule=schedule,
            early_stopping=early_stopping, eval_every=eval_every, shuffle=shuffle,
            progress=progress, threads=1 if split > 1 else blas,
            initial_epoch=initial_epoch, base_lr=state.base_lr,
            callbacks=[state, *callbacks], model=model,
        )


def numpy_trainer(model, data: tuple, batch_size: int,
                  record: np.ndarray | None = None,
                  watchers: Sequence[Callable] = ()) -> Callable[[np.ndarray], None]:
    """``train_batches`` for :func:`fit_loop` through the layers, then the optimizer;
    ``record`` receives the outputs of the training pass (see
    :func:`~nablanet.models.gradient_step.gradient_step`); ``watchers`` (callbacks'
    ``on_batch_gradients``) see each mini-batch's gradients before the step."""
    gradient = gradient_step(model, data, batch_size, record)
    params, grads, decay = model.params(), model.grads(), model.decay_flags()
    step = model.optimizer.step

    def train_batches(idx: np.ndarray) -> None:
        for start in range(0, len(idx), batch_size):
            gradient(idx[start:start + batch_size])
            for watch in watchers:
                watch(grads)
            step(params, grads, decay)

    return train_batches
