"""``Sequential``: a stack of layers, and the one training path of every model.

The container is the loop: :meth:`Sequential.forward` runs the layers in order,
:meth:`Sequential.backward` runs them in reverse (the first layer skips ``dL/dX``), and
:meth:`Sequential.params` is the flattening of the layers' parameters. What it adds over
a list of layers is the *model head* and the training around it:

- the output nonlinearity ``g`` and the loss belong to the model, not to the last layer
  (which is linear): ``a = g(z)`` with ``z`` the last layer's output, and the loss gives
  the error ``dL/dz`` directly (``a - y`` for softmax with cross-entropy);
- :meth:`fit` (mini-batch gradient descent, :func:`nablanet.training.fit_loop`),
  :meth:`predict_proba`, :meth:`predict`, :meth:`evaluate`, the metrics, the epoch line,
  :meth:`save` and :meth:`load`: written once here for every model (``Network`` and the
  convolutional stacks are ``Sequential`` subclasses or instances).

The methods call one module per idea around the container: :mod:`.checks` (inputs and
targets at the edge, the validation hold-out), :mod:`.loss_weights` (sample and class
weights), :mod:`.gradient_step` (the allocation-free NumPy step), :mod:`.head_metrics`
(metrics by output head, the epoch line), :mod:`.training_state` (start, resume and
checkpoint of a run, the data fingerprint) and :mod:`.summary` (the layer table).

Inputs are batch-major arrays of any per-sample shape, ``(n, n_features)`` for dense
stacks, ``(n, channels, height, width)`` for images; the layers check the shape
(:meth:`nablanet.layers.base.Layer.allocate`). Work buffers (the layers', and the
model's for the gathered mini-batch, its targets and the output error) are allocated
once per ``fit`` for the mini-batch size and reused, so a training step allocates
nothing; evaluation runs in chunks of samples whose work buffers stay within
:data:`EVAL_BYTES`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from nablanet import kernels, serialization
from nablanet.activations import get_activation
from nablanet.datasets.pixels import Pixels
from nablanet.init import check_dtype
from nablanet.layers.base import Layer
from nablanet.losses import get_loss
from nablanet.models.checks import check_inputs, check_targets, holdout
from nablanet.models.gradient_step import gradient_step
from nablanet.models.head_metrics import check_metric_names, metric_logs, metrics_line
from nablanet.models.loss_weights import loss_weights
from nablanet.models.summary import summary_table
from nablanet.models.training_state import checkpoint_of, restore_checkpoint, start_run
from nablanet.optimizers import SGD, Optimizer
from nablanet.parallel import split_workers, workers
from nablanet.registry import get, name_of, register
from nablanet.training import (
    Callback,
    EarlyStopping,
    History,
    Schedule,
    TrainingState,
    check_fit_args,
    fit_loop,
    gradient_watchers,
    thread_limit,
)

__all__ = ["EVAL_BYTES", "Sequential"]

log = logging.getLogger(__name__)

#: bytes of layer work buffers per evaluation chunk (the chunk has at most 8192 samples)
EVAL_BYTES = 32 * 2**20
_MAX_CHUNK = 8192


@register("model", "Sequential")
class Sequential:
    """A stack of layers trained as one model.

    Parameters
    ----------
    layers : sequence of Layer
        Applied in order; any registered :class:`nablanet.layers.base.Layer` subclass.
        The last one should be linear: the output nonlinearity is ``output_activation``.
    output_activation : str, default ``"identity"``
        ``g`` of the outputs: ``identity`` (regression), ``sigmoid``, ``softmax``.
    loss : str, default ``"quadratic"``
        ``quadratic`` (``mse``), ``binary_cross_entropy`` (sigmoid outputs) or
        ``cross_entropy`` (softmax outputs); see :mod:`nablanet.losses`.
    optimizer : Optimizer, optional
        Used by :meth:`fit`; default ``SGD(0.01)``.
    seed : int or numpy.random.Generator, optional
        Source of the shuffling (and of validation splits). Same seed, same result.
    dtype : float64 or float32
        Every layer must have it; data are converted to it once per call.

    Attributes
    ----------
    layers : list of Layer
    rng : numpy.random.Generator
    training_state : nablanet.training.TrainingState
        Where training stands; saved with the model with the optimizer's moments and
        the generator's state, so ``load`` then ``fit(..., initial_epoch=...)``
        continues a run exactly.

    Raises
    ------
    TypeError
        If ``layers`` holds something that is not a Layer.
    ValueError
        For no layers, a layer of another dtype, an unknown activation or loss, or a
        loss that does not fit the output activation.

    Examples
    --------
    >>> from nablanet.layers import Dense
    >>> model = Sequential([Dense(4, 8, activation="relu", seed=0), Dense(8, 3, seed=1)],
    ...                    output_activation="softmax", loss="cross_entropy", seed=2)
    >>> model.predict(np.zeros((5, 4))).shape
    (5,)
    """

    #: ``fit``'s defaults when ``epochs`` / ``batch_size`` are not given
    default_epochs = 10
    default_batch_size = 32
    #: ``backend="auto"`` runs a compiled kernel up to this mini-batch size
    auto_numba_max_batch = 0
    #: what error messages call the targets (the argument's name in ``fit``'s docs)
    targets_name = "y"

    def __init__(self, layers: Sequence[Layer], *, output_activation: str = "identity",
                 loss: str = "quadratic", optimizer: Optimizer | None = None, seed=None,
                 dtype=np.float64):
        self.layers = list(layers)
        if not self.layers:
            raise ValueError("layers: expected at least one layer, got none")
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}]: expected a Layer, got {type(layer).__name__}")
        self.dtype = check_dtype(dtype)
        for i, layer in enumerate(self.layers):
            if np.dtype(layer.dtype) != np.dtype(self.dtype):
                raise ValueError(f"layers[{i}]: expected dtype {np.dtype(self.dtype).name}, "
                                 f"got {np.dtype(layer.dtype).name}")
        self.output_activation = get_activation(output_activation)
        self.loss = get_loss(loss)
        self.loss.check_output(self.output_activation)
        self.optimizer = optimizer if optimizer is not None else SGD(0.01)
        self.seed = None if isinstance(seed, np.random.Generator) else seed
        self.rng = np.random.default_rng(seed)
        #: where training stands (saved with the model; see :meth:`fit`'s ``initial_epoch``)
        self.training_state = TrainingState()
        self._plans: dict[tuple, tuple] = {}  # sample shape -> (output shape, eval chunk)
        self._allocated: tuple | None = None  # (sample shape, rows) of the layers' buffers

    # ----------------------------------------------------------------------------------
    # The container
    # ----------------------------------------------------------------------------------
    def params(self) -> list[np.ndarray]:
        """Every layer's parameter arrays, in layer order."""
        return [p for layer in self.layers for p in layer.params()]

    def grads(self) -> list[np.ndarray]:
        """Every layer's gradient arrays, in the order of :meth:`params`."""
        return [g for layer in self.layers for g in layer.grads]

    def decay_flags(self) -> list[bool]:
        """For each parameter, whether weight decay applies (see ``Layer.decay_flags``)."""
        return [f for layer in self.layers for f in layer.decay_flags()]

    def count_params(self) -> int:
        """Number of scalar parameters."""
        return sum(layer.count_params() for layer in self.layers)

    def forward(self, X: np.ndarray, training: bool = False) -> np.ndarray:
        """The last layer's output ``z`` for the mini-batch ``X`` (a view of a work
        buffer, valid until the next call; the output activation is not applied). The
        layers get work buffers for ``X``'s shape first if they lack them."""
        self._allocate(X.shape[1:], len(X))
        return self._forward(X, training)

    def _forward(self, X: np.ndarray, training: bool) -> np.ndarray:
        for layer in self.layers:
            X = layer.forward(X, training)
        return X

    def backward(self, delta: np.ndarray) -> None:
        """Backpropagate ``delta = dL/dz`` of the last :meth:`forward` through the
        layers in reverse; the gradients land in each layer's ``grads``."""
        for layer in self.layers[:0:-1]:
            delta = cast(np.ndarray, layer.backward(delta))  # need_dX: dL/dX, an array
        self.layers[0].backward(delta, need_dX=False)

    # ----------------------------------------------------------------------------------
    # Prediction and evaluation
    # ----------------------------------------------------------------------------------
    def predict_proba(self, X, mask=None) -> np.ndarray:
        """Output activations ``g(z)`` of shape ``(n, *output_shape)`` for ``X (n, ...)``,
        computed in chunks of samples. ``mask``: for sequence models only (see
        :class:`nablanet.models.recurrent.RecurrentNetwork`)."""
        X, W = self._prepare_inputs(X, mask, "X")
        return self._present(self._outputs(X)[1], W)

    def predict(self, X, mask=None, *, threshold: float = 0.5) -> np.ndarray:
        """Predictions for ``X``: the class index (int64, the output axis dropped) for a
        softmax head, 0/1 per output at ``threshold`` for a sigmoid head, the output
        values otherwise."""
        return self._decide(self.predict_proba(X, mask), threshold)

    def evaluate(self, X, y, mask=None, *, threshold: float = 0.5) -> dict:
        """Metrics of the model on ``(X, y)``: ``loss`` (mean per labelled sample or
        step) and, for softmax/sigmoid heads, ``accuracy`` and ``correct`` (samples
        with every output right), else ``rmse``.

        Raises
        ------
        ValueError
            For inputs or targets that do not fit the model (naming ``X`` or ``y``).
        """
        return metric_logs(self, self._prepare(X, y, mask, "X", self.targets_name), "", threshold)

    def gradients(self, X, y, mask=None, *, sample_weight=None,
                  class_weight=None) -> list[np.ndarray]:
        """Gradients of the training objective on the batch ``(X, y)`` (the mean over
        its samples of each one's loss, weighted as :meth:`fit` weighs it) with respect
        to :meth:`params`, in that order: what one step of :meth:`fit` with this whole
        batch computes."""
        X, T, W = self._prepare(X, y, mask, "X", self.targets_name)
        W = self._loss_weights((X, T, W), sample_weight, class_weight)
        n = len(X)
        self._allocate(X.shape[1:], n)
        gradient_step(self, (X, T, W), n)(np.arange(n))
        return [g.copy() for g in self.grads()]

    def loss_value(self, X, y, mask=None, *, sample_weight=None, class_weight=None) -> float:
        """The training objective on ``(X, y)``: the mean over samples of the loss (for
        sequences, summed over each one's labelled steps), each weighted by
        ``sample_weight`` and ``class_weight`` as in :meth:`fit`: the quantity
        :meth:`gradients` differentiates."""
        X, T, W = self._prepare(X, y, mask, "X", self.targets_name)
        z, a = self._outputs(X)
        if sample_weight is None and class_weight is None:
            return self.loss.value(z, a, T, None if W is None else W > 0) / len(X)
        return self.loss.value(z, a, T, self._loss_weights((X, T, W), sample_weight,
                                                           class_weight)) / len(X)

    # ----------------------------------------------------------------------------------
    # Training
    # ----------------------------------------------------------------------------------
    def fit(
        self,
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
            forward pass over the training data). False: none. Compiled kernels that
            do not record their outputs (:attr:`compiled_records` False: the feedforward
            and vanilla RNN kernels) take the full evaluation for True.
        shuffle : bool, default True
            Reshuffle the samples every epoch from the model's generator.
        progress : bool, default True
            Show a progress bar within each epoch on a terminal.
        backend : ``"auto"``, ``"numpy"`` or ``"numba"``
            ``numpy``: the layers (the reference); ``numba``: the model's compiled
            kernel, if it has one (:meth:`kernel_unsupported` says why not); ``auto``:
            the kernel when it applies and ``batch_size <= auto_numba_max_batch``.
        threads : int, optional
            Threads while training: the workers that split each mini-batch's rows
            where the model's layers can (compiled LSTM/GRU recurrences, batches of 32
            and more; :func:`nablanet.parallel.split_workers`), else BLAS threads (see
            :func:`nablanet.training.thread_limit`). Default: no split (see
            :data:`nablanet.parallel.AUTO_SPLIT`), the BLAS rule.
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
        epochs = self.default_epochs if epochs is None else epochs
        batch_size = self.default_batch_size if batch_size is None else batch_size
        data = self._prepare(X, y, mask, "X", self.targets_name)
        resume = bool(initial_epoch)
        state = start_run(self, data, resume, schedule, early_stopping)
        schedule, early_stopping = state.schedule, state.early_stopping
        weights = self._loss_weights(data, sample_weight, class_weight)
        extra = check_metric_names(self, metrics)
        val = None
        if validation_data is not None:
            if not isinstance(validation_data, tuple | list) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data: expected a tuple (X_val, y_val) or "
                                 "(X_val, y_val, mask_val)")
            vx, vy, *vm = validation_data
            val = self._prepare(vx, vy, vm[0] if vm else None, "validation_data[0]",
                                "validation_data[1]")
        elif validation_split:
            split_rng = np.random.default_rng()
            assert state.split_rng is not None  # every run records its split's state
            split_rng.bit_generator.state = state.split_rng  # the run's split, resumed too
            (data, weights), val = holdout((data, weights), validation_split, split_rng)
            if not resume:
                self.rng.bit_generator.state = split_rng.bit_generator.state
        X = data[0]
        check_fit_args(len(X), epochs, batch_size, eval_every)
        reason = self.kernel_unsupported() if sample_weight is None and class_weight is None \
            else "the compiled kernels take no sample or class weights"
        watchers = gradient_watchers(callbacks)
        if watchers and reason is None:
            reason = ("a callback reads each mini-batch's gradients (on_batch_gradients, "
                      "e.g. GradientNorms), which the compiled kernels do not expose")
        compiled = kernels.use_numba(backend, reason, batch_size, self.auto_numba_max_batch)
        if monitor_training not in (True, False, "full"):
            raise ValueError("monitor_training: expected True, False or 'full', got "
                             f"{monitor_training!r}")
        # the training pass's outputs, for the running training metrics
        record = np.empty((len(X), *data[1].shape[1:]), dtype=self.dtype) \
            if monitor_training is True and (self.compiled_records or not compiled) else None
        used = "numba" if compiled else "numpy"
        if resume and state.backend not in (None, used):
            log.warning("resuming a %s run on the %s backend: the weights will not equal an "
                        "uninterrupted run's bit for bit", state.backend, used)
        state.backend = used
        train = (data[0], data[1], weights)
        if compiled:
            train_batches = self.compiled_trainer(train, batch_size, record)
        else:  # the layers' buffers, once: for the mini-batches and the evaluation chunks
            largest = max(len(X), 0 if val is None else len(val[0]))
            chunk = self._plan(X.shape[1:], "X")[1]
            self._allocate(X.shape[1:], max(batch_size, min(largest, chunk)))
            train_batches = self._numpy_trainer(train, batch_size, record, watchers)
        log.info("training on the %s backend", used)
        params = self.params()

        def evaluate() -> dict:
            logs = {}
            if monitor_training:
                logs.update(metric_logs(self, data, "train_", threshold, extra, record))
            if val is not None:
                logs.update(metric_logs(self, val, "val_", threshold, extra))
            return logs

        largest = batch_size * max((p.size for p in params), default=1)
        blas = thread_limit(threads, largest)  # checks threads too
        split = split_workers(threads, batch_size, any(getattr(layer, "compiled_steps", None)
                                                       for layer in self.layers))
        with workers(split):  # split rows run single-threaded BLAS each
            return fit_loop(
                n_samples=len(X), epochs=epochs, batch_size=batch_size, rng=self.rng,
                train_batches=train_batches, evaluate=evaluate,
                epoch_line=lambda logs: self.epoch_line(logs, None if val is None else len(val[0])),
                optimizer=self.optimizer, get_params=lambda: params, schedule=schedule,
                early_stopping=early_stopping, eval_every=eval_every, shuffle=shuffle,
                progress=progress, threads=1 if split > 1 else blas,
                initial_epoch=initial_epoch, base_lr=state.base_lr,
                callbacks=[state, *callbacks], model=self,
            )

    def _numpy_trainer(self, data: tuple, batch_size: int,
                       record: np.ndarray | None = None,
                       watchers: Sequence[Callable] = ()) -> Callable[[np.ndarray], None]:
        """``train_batches`` for :func:`fit_loop` through the layers, then the optimizer;
        ``record`` receives the outputs of the training pass (see
        :func:`~nablanet.models.gradient_step.gradient_step`); ``watchers`` (callbacks'
        ``on_batch_gradients``) see each mini-batch's gradients before the step."""
        gradient = gradient_step(self, data, batch_size, record)
        params, grads, decay = self.params(), self.grads(), self.decay_flags()
        step = self.optimizer.step

        def train_batches(idx: np.ndarray) -> None:
            for start in range(0, len(idx), batch_size):
                gradient(idx[start:start + batch_size])
                for watch in watchers:
                    watch(grads)
                step(params, grads, decay)

        return train_batches

    def kernel_unsupported(self) -> str | None:
        """Why no compiled kernel can train this model (None if one can: then
        :meth:`compiled_trainer` gives its ``train_batches``). Subclasses with a kernel
        override both."""
        return f"no compiled kernel for a {type(self).__name__} of these layers"

    #: whether :meth:`compiled_trainer` records the outputs of the training pass (its
    #: ``record``); where not, ``fit``'s training metrics take a full evaluation
    compiled_records = False

    def compiled_trainer(self, data: tuple, batch_size: int,
                         record: np.ndarray | None = None) -> Callable[[np.ndarray], None]:
        """``train_batches`` for :func:`fit_loop` running the model's compiled kernel on
        the prepared ``data = (X, T, W)`` (see :meth:`_prepare`); ``record`` as for the
        NumPy trainer, given only when :attr:`compiled_records`."""
        raise NotImplementedError(self.kernel_unsupported())

    def epoch_line(self, logs: dict, n_val: int | None) -> str:
        """The per-epoch log line (1-based epoch): loss, then accuracy or RMSE on the
        training and validation data, then the epoch's training time (see
        :func:`nablanet.models.head_metrics.metrics_line`)."""
        return metrics_line(logs)

    # ----------------------------------------------------------------------------------
    # Configuration and files
    # ----------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """Constructor arguments, JSON-ready: the layers as ``{"name", "config"}`` by their
        registered names, the head, seed and dtype (not the optimizer)."""
        return {
            "layers": [{"name": name_of("layer", type(layer)), "config": layer.get_config()}
                       for layer in self.layers],
            "output_activation": self.output_activation.name,
            "loss": self.loss.name,
            "seed": self.seed,
            "dtype": np.dtype(self.dtype).name,
        }

    @classmethod
    def from_config(cls, config: dict) -> Sequential:
        """Build a model from :meth:`get_config`'s dict; each layer class is looked up by
        its registered name.

        Raises
        ------
        ValueError
            For a malformed config or an unknown layer name (naming it).
        """
        config = dict(config)
        specs = config.pop("layers", None)
        if not isinstance(specs, list):
            raise ValueError("config.layers: expected a list of {name, config}")
        layers = []
        for i, spec in enumerate(specs):
            if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
                raise ValueError(f"config.layers[{i}]: expected {{name, config}}, got {spec!r}")
            layer_cls = get("layer", cast(str, spec.get("name")))  # get rejects a non-name
            try:
                layers.append(layer_cls.from_config(spec["config"]))
            except TypeError as exc:
                raise ValueError(f"config.layers[{i}]: {exc}") from None
        return cls(layers, **config)

    def tensors(self) -> dict[str, np.ndarray]:
        """The parameters by name, ``layers.<i>.<param>`` (the arrays themselves)."""
        return {f"layers.{i}.{name}": p for i, layer in enumerate(self.layers)
                for name, p in zip(layer.param_names, layer.params(), strict=True)}

    def save(self, path) -> None:
        """Save to ``path`` with the training state (see :mod:`nablanet.serialization`)."""
        serialization.save(self, path)

    def training_checkpoint(self) -> tuple[dict, dict[str, np.ndarray]]:
        """What resuming needs beyond the parameters, as ``(JSON-ready dict, arrays)``:
        :attr:`training_state`, the optimizer (configuration with its current ``lr``,
        step count ``t``; moment arrays ``optimizer.<i>.<slot>``), the generator's
        bit-generator state, and early stopping's best parameters (``best.<i>``)."""
        return checkpoint_of(self)

    def restore_training(self, checkpoint: dict, arrays: dict[str, np.ndarray]) -> None:
        """Take back what :meth:`training_checkpoint` gave: the optimizer is rebuilt
        from its configuration and given its moments, the generator its state.

        Raises
        ------
        ValueError
            Naming the field: an unknown optimizer, bad hyper-parameters, moments that do
            not fit the parameters, a bad generator state or training state.
        """
        restore_checkpoint(self, checkpoint, arrays)

    @classmethod
    def load(cls, path):
        """Load a model saved by :meth:`save`; it must be a ``cls``.

        Raises
        ------
        FileNotFoundError, ValueError
            See :func:`nablanet.serialization.load`.
        """
        return serialization.load(path, expect=cls)

    def summary(self, input_shape: tuple[int, ...] | None = None) -> str:
        """A table of the layers: one row per layer with its output shape (``n`` for the
        batch axis) and parameter count, then the totals, the dtype and the memory of the
        parameters.

        Parameters
        ----------
        input_shape : tuple of int, optional
            The per-sample input shape; default: the model's ``sample_shape`` (known for
            ``Network`` and the recurrent models, which show one step).

        Raises
        ------
        ValueError
            If the shape is not given and not known, or does not fit the layers.
        """
        return summary_table(self, input_shape)

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """The per-sample input shape when the model knows it (for :meth:`summary`)."""
        return None

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return (f"{type(self).__name__}({inner}\n  output_activation="
                f"{self.output_activation.name!r}, loss={self.loss.name!r})")

    # ----------------------------------------------------------------------------------
    # Work buffers, and the hooks of the data at the edge
    # ----------------------------------------------------------------------------------
    def _plan(self, sample_shape: tuple, name: str) -> tuple[tuple[int, ...], int]:
        """``(per-sample output shape, evaluation chunk size)`` for inputs of
        ``sample_shape``, found once per shape by the layers' own check on one sample;
        the chunk keeps the layers' work buffers within :data:`EVAL_BYTES`."""
        key = tuple(sample_shape)
        plan = self._plans.get(key)
        if plan is None:
            shape, floats = (1, *key), 0
            try:
                for layer in self.layers:
                    floats += math.prod(shape[1:])
                    shape = layer.allocate(shape)
            except ValueError as exc:
                raise ValueError(f"{name}: per-sample shape {key} does not fit the layers: "
                                 f"{exc}") from None
            per_sample = 3 * (floats + math.prod(shape[1:])) * np.dtype(self.dtype).itemsize
            plan = (tuple(shape[1:]), max(1, min(_MAX_CHUNK, EVAL_BYTES // per_sample)))
            self._plans[key] = plan
            self._allocated = None  # the probe replaced the layers' buffers
        return plan

    def _allocate(self, sample_shape: tuple, rows: int) -> None:
        """Give the layers work buffers for up to ``rows`` samples, unless they have them."""
        key = tuple(sample_shape)
        if self._allocated is not None and self._allocated[0] == key \
                and self._allocated[1] >= rows:
            return
        shape = (rows, *key)
        for layer in self.layers:
            shape = layer.allocate(shape)
        self._allocated = (key, rows)

    def _outputs(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(z, a)``: the last layer's outputs and ``g(z)`` for every sample of ``X``,
        in chunks of samples."""
        out, chunk = self._plan(X.shape[1:], "X")
        self._allocate(X.shape[1:], min(len(X), chunk))
        z: np.ndarray = np.empty((len(X), *out), dtype=self.dtype)
        a = np.empty_like(z)
        for start in range(0, len(X), chunk):
            zc = z[start:start + chunk]
            # np.asarray: a chunk of Pixels converted to floats (arrays stay views)
            zc[...] = self._forward(np.asarray(X[start:start + chunk]), False)
            self.output_activation.forward(zc, a[start:start + chunk])
        return z, a

    def _prepare(self, X, y, mask, xname: str, yname: str) -> tuple:
        """``(X, T, W)``: inputs (see :func:`~nablanet.models.checks.check_inputs`),
        targets ``(n, *output_shape)`` in ``dtype`` and per-row loss weights (None: every
        row counts; sequence models give ``(n, n_steps)``)."""
        X, W = self._prepare_inputs(X, mask, xname)
        out = self._plan(X.shape[1:], xname)[0]
        return X, check_targets(self, y, len(X), out, yname), W

    def _prepare_inputs(self, X, mask, name: str) -> tuple[np.ndarray | Pixels, np.ndarray | None]:
        """Inputs and the per-row weights that ``mask`` gives (none here)."""
        if mask is not None:
            raise ValueError(f"mask: a {type(self).__name__} takes no mask (sequence "
                             "models do)")
        return check_inputs(self, X, name), None

    def _present(self, a: np.ndarray, W: np.ndarray | None) -> np.ndarray:
        """The outputs as :meth:`predict_proba` returns them (sequence models select)."""
        return a

    def _loss_weights(self, data: tuple, sample_weight, class_weight) -> np.ndarray | None:
        """The per-row loss weights of training (see
        :func:`nablanet.models.loss_weights.loss_weights`)."""
        return loss_weights(self, data, sample_weight, class_weight)

    def _decide(self, a: np.ndarray, threshold: float) -> np.ndarray:
        """Decisions from outputs ``a (..., k)``: softmax, the class index ``argmax``
        (the output axis dropped); sigmoid, 0/1 per output at ``threshold``; other
        heads, ``a`` itself."""
        if self.output_activation.name == "softmax":
            return a.argmax(axis=-1)
        if self.output_activation.name == "sigmoid":
            return (a >= threshold).astype(np.int64)
        return a
