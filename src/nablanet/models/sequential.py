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
checkpoint of a run, the data fingerprint), :mod:`.summary` (the layer table), and three
that hold methods of the class: :mod:`.fitting` (``fit`` itself and the NumPy trainer),
:mod:`.model_config` (``get_config``, ``from_config``, the parameter tensors) and
:mod:`.work_buffers` (the layers' buffers and evaluation in chunks).

Inputs are batch-major arrays of any per-sample shape, ``(n, n_features)`` for dense
stacks, ``(n, channels, height, width)`` for images; the layers check the shape
(:meth:`nablanet.layers.base.Layer.allocate`). Work buffers (the layers', and the
model's for the gathered mini-batch, its targets and the output error) are allocated
once per ``fit`` for the mini-batch size and reused, so a training step allocates
nothing; evaluation runs in chunks of samples whose work buffers stay within
:data:`EVAL_BYTES`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from nablanet import kernels, serialization
from nablanet.activations import get_activation
from nablanet.datasets.pixels import Pixels
from nablanet.init import check_dtype
from nablanet.layers.base import Layer
from nablanet.layers.dense import Dense
from nablanet.losses import get_loss
from nablanet.models import fitting, model_config, work_buffers
from nablanet.models.checks import (
    check_inputs,
    check_targets,
    scaled_inputs,
    scaled_targets,
    shape_of,
)
from nablanet.models.gradient_step import gradient_step
from nablanet.models.head_metrics import metric_logs, metrics_line
from nablanet.models.loss_weights import loss_weights
from nablanet.models.summary import summary_table
from nablanet.models.training_state import checkpoint_of, is_training_data, restore_checkpoint
from nablanet.optimizers import SGD, Optimizer
from nablanet.registry import register
from nablanet.training import TrainingState

__all__ = ["EVAL_BYTES", "Sequential"]

EVAL_BYTES = work_buffers.EVAL_BYTES  # re-exported: where users have imported it


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
    input_scaling, output_scaling : MinMaxScaling or its ``{"name", "config"}``, optional
        Preprocessing that is part of the model (:mod:`nablanet.layers.scaling`):
        ``input_scaling`` maps raw inputs to what the first layer takes,
        ``output_scaling`` maps the output activations ``g(z)`` to the data's units
        (for regression). :meth:`predict_proba` takes raw inputs and gives data units;
        training runs in the scaled units: the inputs go through ``input_scaling`` once
        per call (in float64, then the model's dtype), the targets through
        ``output_scaling.undo``, so the loss, :meth:`evaluate`'s metrics and the
        gradients are those of the model without them on scaled data (bit for bit).
        Saved in the config; every exporter applies them.
    input_shape : tuple of int, optional
        The per-sample input shape, e.g. ``(1, 28, 28)`` for one-channel 28 x 28 images;
        saved in the config. Default: recorded by the first :meth:`fit` (the shape of
        ``X[0]``), or by :func:`nablanet.interop.torch.from_torch`.

    Attributes
    ----------
    layers : list of Layer
    input_shape : tuple of int or None
        As given or recorded (None while unknown); see :attr:`sample_shape`.
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
    #: ``backend="auto"`` runs a compiled kernel up to this mini-batch size (here: the
    #: layers' compiled passes, :data:`nablanet.kernels.LAYER_PASSES`, at any size)
    auto_numba_max_batch = 1 << 30
    #: whether :meth:`compiled_trainer` runs one compiled kernel over whole stretches of
    #: the epoch (the rows of a mini-batch cannot split across threads) rather than the
    #: layers' own passes
    whole_epoch_kernel = False
    #: what error messages call the targets (the argument's name in ``fit``'s docs)
    targets_name = "y"

    def __init__(self, layers: Sequence[Layer], *, output_activation: str = "identity",
                 loss: str = "quadratic", optimizer: Optimizer | None = None, seed=None,
                 dtype=np.float64, input_scaling=None, output_scaling=None,
                 input_shape: Sequence[int] | None = None):
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
        self.input_scaling = model_config.edge_layer(input_scaling, "input_scaling")
        self.output_scaling = model_config.edge_layer(output_scaling, "output_scaling")
        self.optimizer = optimizer if optimizer is not None else SGD(0.01)
        self.input_shape = None if input_shape is None else shape_of(input_shape,
                                                                     "input_shape")
        self.seed = None if isinstance(seed, np.random.Generator) else seed
        self.rng = np.random.default_rng(seed)
        #: where training stands (saved with the model; see :meth:`fit`'s ``initial_epoch``)
        self.training_state = TrainingState()
        self._plans: dict[tuple, tuple] = {}  # sample shape -> (output shape, eval chunk, MACs)
        self._allocated: tuple | None = None  # (sample shape, rows) of the layers' buffers
        if self.input_shape is not None:
            self._plan(self.input_shape, "input_shape")  # the layers' own shape check

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
        a = self._outputs(X)[1]
        if self.output_scaling is not None:  # to the data's units, in float64
            a = self.output_scaling.apply(a).astype(self.dtype, copy=False)
        return self._present(a, W)

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
    fit = fitting.fit

    def _numpy_trainer(self, data: tuple, batch_size: int,
                       record: np.ndarray | None = None,
                       watchers: Sequence[Callable] = ()) -> Callable[[np.ndarray], None]:
        """``train_batches`` for :func:`~nablanet.training.fit_loop` through the layers
        (see :func:`nablanet.models.fitting.numpy_trainer`), each on its NumPy passes;
        models that prepare their layers first override it."""
        for layer in self._compiled_layers():
            layer.compiled_passes = None
        return fitting.numpy_trainer(self, data, batch_size, record, watchers)

    def _compiled_layers(self) -> list:
        """The layers with compiled passes (:data:`nablanet.kernels.LAYER_PASSES`)."""
        return [layer for layer in self.layers
                if getattr(layer, "kernel", None) in kernels.LAYER_PASSES]

    def kernel_unsupported(self) -> str | None:
        """Why no compiled kernel can train this model (None if one can: then
        :meth:`compiled_trainer` gives its ``train_batches``): here, None when a layer
        has compiled passes. Subclasses with a kernel override both."""
        if self._compiled_layers():
            return None
        return f"no compiled kernel for a {type(self).__name__} of these layers"

    def compiled_trainer(self, data: tuple, batch_size: int,
                         record: np.ndarray | None = None) -> Callable[[np.ndarray], None]:
        """``train_batches`` for :func:`fit_loop` running the model's compiled kernel on
        the prepared ``data = (X, T, W)`` (see :meth:`_prepare`); ``record`` as for the
        NumPy trainer: the kernel writes the training pass's outputs into it. Here: the
        NumPy trainer with the layers' compiled passes."""
        for layer in self._compiled_layers():
            layer.compiled_passes = kernels.LAYER_PASSES[layer.kernel]
        self._allocate(data[0].shape[1:], batch_size)
        return fitting.numpy_trainer(self, data, batch_size, record)

    def epoch_line(self, logs: dict, n_val: int | None, epochs: int | None = None) -> str:
        """The per-epoch log line (epoch 1-based, of ``epochs``): loss, then accuracy or
        RMSE on the training and validation data, then the epoch's training time (see
        :func:`nablanet.models.head_metrics.metrics_line`); ``n_val`` validation samples."""
        return metrics_line(logs, epochs)

    # ----------------------------------------------------------------------------------
    # Configuration and files
    # ----------------------------------------------------------------------------------
    get_config = model_config.get_config
    scaling_config = model_config.scaling_config
    from_config = classmethod(model_config.from_config)
    tensors = model_config.tensors

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

    def trained_on(self, X, y, mask=None) -> bool:
        """Whether ``(X, y)`` (and ``mask``) are the data of the model's last training
        run: the same fingerprint (:func:`~nablanet.models.training_state.data_fingerprint`:
        sizes, shapes and a digest of up to 256 rows spread over them) as the data its
        ``fit`` was given, before any ``validation_split``. False without a recorded run.

        Raises
        ------
        ValueError
            For inputs or targets that do not fit the model (naming ``X`` or ``y``).
        """
        return is_training_data(self, self._prepare(X, y, mask, "X", self.targets_name))

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
            The per-sample input shape; default: the model's :attr:`sample_shape`.

        Raises
        ------
        ValueError
            If the shape is not given and not known, or does not fit the layers.
        """
        return summary_table(self, input_shape)

    @property
    def sample_shape(self) -> tuple[int, ...] | None:
        """The per-sample input shape when the model knows it (for :meth:`summary`, the
        command line and the exports): :attr:`input_shape` (given, or recorded by
        :meth:`fit` or a conversion), else ``(n_in,)`` for a stack that starts with a
        ``Dense`` layer (files of earlier releases), else None."""
        if self.input_shape is not None:
            return self.input_shape
        first = self.layers[0]
        return (first.n_in,) if isinstance(first, Dense) else None

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return (f"{type(self).__name__}({inner}\n  output_activation="
                f"{self.output_activation.name!r}, loss={self.loss.name!r})")

    # ----------------------------------------------------------------------------------
    # Work buffers, and the hooks of the data at the edge
    # ----------------------------------------------------------------------------------
    _plan = work_buffers.plan
    _allocate = work_buffers.allocate
    _outputs = work_buffers.outputs

    def _prepare(self, X, y, mask, xname: str, yname: str) -> tuple:
        """``(X, T, W)``: inputs (see :func:`~nablanet.models.checks.check_inputs`),
        targets ``(n, *output_shape)`` in ``dtype`` and per-row loss weights (None: every
        row counts; sequence models give ``(n, n_steps)``)."""
        X, W = self._prepare_inputs(X, mask, xname)
        out = self._plan(X.shape[1:], xname)[0]
        return X, check_targets(self, scaled_targets(self, y, yname), len(X), out, yname), W

    def _prepare_inputs(self, X, mask, name: str) -> tuple[np.ndarray | Pixels, np.ndarray | None]:
        """Inputs and the per-row weights that ``mask`` gives (none here)."""
        if mask is not None:
            raise ValueError(f"mask: a {type(self).__name__} takes no mask (sequence "
                             "models do)")
        return check_inputs(self, scaled_inputs(self, X, name), name), None

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

