"""Feedforward networks trained by mini-batch SGD and backpropagation.

The network of Nielsen's *Neural Networks and Deep Learning*, chapter 1 (``network.py``):
sigmoid neurons, quadratic cost, weights and biases drawn from N(0, 1), plain mini-batch
SGD with the learning rate ``eta`` applied to the gradient averaged over the mini-batch.
Chapter 3's improvements (cross-entropy, softmax, L2, better initialisation) and the
modern ones (ReLU, momentum, Adam, schedules, early stopping) are options; the
defaults stay the book's.

Two paths compute the same gradients:

- :meth:`Network.backprop` is the per-example reference, written as the book's four
  equations BP1-BP4 (chapter 2) for one example at a time;
- the training path (:meth:`Network.fit`, :meth:`Network.SGD`) is the vectorized one
  of every model, :class:`nablanet.models.sequential.Sequential` over
  :class:`nablanet.layers.dense.Dense` layers: a whole mini-batch is one matrix ``X`` of
  shape ``(m, n_in)``, into work buffers allocated once per ``fit``; or, for small
  mini-batches of plain SGD, the compiled kernel :func:`nablanet.kernels.mlp.mlp_sgd_epoch`.

Row-vector (batch-major) form of the equations, for layer ``l`` with weights
``W[l]`` of shape ``(n_{l-1}, n_l)`` and biases ``b[l]`` of shape ``(n_l,)``::

    z[l] = a[l-1] @ W[l] + b[l]           a[l] = f(z[l])              (forward)
    delta[L] = dC/da[L] * f'(z[L])                                     (BP1)
    delta[l] = (delta[l+1] @ W[l+1].T) * f'(z[l])                      (BP2)
    dC/db[l] = sum over rows of delta[l]                               (BP3)
    dC/dW[l] = a[l-1].T @ delta[l]                                     (BP4)

Shapes are the transpose of the book's (the book stores ``w`` as ``(n_l, n_{l-1})`` and
works on column vectors); ``feedforward``, ``backprop``, ``SGD`` and ``evaluate`` accept
the book's column vectors and ``(x, y)`` lists and convert once, at the edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import numpy as np

from nablanet import kernels
from nablanet.activations import get_activation
from nablanet.datasets.pixels import Pixels
from nablanet.init import check_dtype
from nablanet.layers.dense import Dense
from nablanet.models.checks import check_targets
from nablanet.models.head_metrics import metric_logs
from nablanet.models.sequential import Sequential
from nablanet.optimizers import SGD, Optimizer
from nablanet.registry import register
from nablanet.training import History
from nablanet.validation import as_examples

__all__ = ["Network"]


@register("model", "Network")
class Network(Sequential):
    """A fully connected feedforward network: a stack of :class:`Dense` layers.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first: ``[784, 30, 10]`` is the book's network.
    activation : str or sequence of str, default ``"sigmoid"``
        Hidden-layer activation (``sigmoid``, ``tanh``, ``relu``), one name for all
        hidden layers or one per hidden layer.
    output_activation : str, default ``"sigmoid"``
        ``sigmoid``, ``softmax``, ``identity``, ``tanh`` or ``relu``.
    loss : str, default ``"quadratic"``
        ``quadratic`` (``mse``), ``binary_cross_entropy`` (sigmoid outputs) or
        ``cross_entropy`` (softmax outputs).
    init : str, default ``"normal"``
        Weight initialiser (see :mod:`nablanet.init`). Biases are drawn from N(0, 1) for
        the book's ``normal`` and ``scaled_normal``, and are zero otherwise.
    optimizer : Optimizer, optional
        Used by :meth:`fit`; default ``SGD(lr=3.0)``. :meth:`SGD` always uses plain SGD
        with its ``eta``.
    seed : int, optional
        Seed of the ``numpy.random.Generator`` behind the initial weights (layer by
        layer, weights then biases) and the shuffling. Same seed, same result, bit for bit.
    dtype : numpy dtype, default float64
        ``float64`` or ``float32``; data are converted to it once per ``fit``.
    input_scaling, output_scaling : MinMaxScaling, optional
        Preprocessing that is part of the model (see
        :class:`~nablanet.models.sequential.Sequential`).

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l]`` has shape ``(sizes[l], sizes[l+1])`` (the layers' ``W``).
    biases : list of ndarray
        ``biases[l]`` has shape ``(sizes[l+1],)`` (the layers' ``b``).

    Raises
    ------
    ValueError
        For fewer than two layers, a non-positive size, an unknown activation, loss,
        initialiser or dtype, or a loss that does not fit the output activation.
    """

    default_epochs = 30
    default_batch_size = 10
    auto_numba_max_batch = 32  # backend="auto": the compiled kernel up to this batch size
    whole_epoch_kernel = True  # mlp_sgd_epoch

    def __init__(
        self,
        sizes: Sequence[int],
        *,
        activation: str | Sequence[str] = "sigmoid",
        output_activation: str = "sigmoid",
        loss: str = "quadratic",
        init: str = "normal",
        optimizer: Optimizer | None = None,
        seed: int | None = None,
        dtype=np.float64,
        input_scaling=None,
        output_scaling=None,
    ):
        self.sizes = _check_sizes(sizes)
        n_hidden = len(self.sizes) - 2
        names = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(names) != n_hidden:
            raise ValueError(
                f"activation: expected one name or {n_hidden} (one per hidden layer), "
                f"got {len(names)}"
            )
        for name in [*names, output_activation]:
            get_activation(name)
        dtype = check_dtype(dtype)
        rng = np.random.default_rng(seed)
        bias_init = "normal" if init in ("normal", "scaled_normal") else "zeros"
        layers = [
            Dense(n_in, n_out, activation=f, init=init, bias_init=bias_init, seed=rng,
                  dtype=dtype)
            for n_in, n_out, f in zip(self.sizes[:-1], self.sizes[1:], [*names, "identity"],
                                      strict=True)
        ]
        super().__init__(layers, output_activation=output_activation, loss=loss,
                         optimizer=optimizer if optimizer is not None else SGD(3.0),
                         seed=rng, dtype=dtype, input_scaling=input_scaling,
                         output_scaling=output_scaling)
        self.seed, self.init = seed, init

    @property
    def weights(self) -> list[np.ndarray]:
        """The layers' weight matrices ``(sizes[l], sizes[l+1])`` (the arrays themselves)."""
        return [layer.W for layer in cast("list[Dense]", self.layers)]

    @property
    def biases(self) -> list[np.ndarray]:
        """The layers' bias vectors ``(sizes[l+1],)`` (the arrays themselves)."""
        return [layer.b for layer in cast("list[Dense]", self.layers)]

    @property
    def activations(self) -> list:
        """The activation of every layer, the output activation last."""
        return [layer.activation for layer in cast("list[Dense]", self.layers[:-1])] + \
            [self.output_activation]

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """``(sizes[0],)``."""
        return (self.sizes[0],)

    @property
    def num_layers(self) -> int:
        """Number of layers including the input layer (the book's ``num_layers``)."""
        return len(self.sizes)

    # ----------------------------------------------------------------------------------
    # The book's chapter 1 API
    # ----------------------------------------------------------------------------------
    def feedforward(self, a) -> np.ndarray:
        """Return the network's output for input ``a`` (Nielsen ch. 1, eq. 22).

        ``a`` is one example as a column vector ``(n_in, 1)`` (the book's form) or a
        vector ``(n_in,)``, or a batch ``(n, n_in)``; the output has the matching shape
        ``(n_out, 1)``, ``(n_out,)`` or ``(n, n_out)``.
        """
        x, shape = _as_rows(a, self.sizes[0], "a")
        return self.predict_proba(x).reshape(shape(self.sizes[-1]))

    def backprop(self, x, y) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Gradient of the cost for one example, by the book's equations BP1-BP4.

        Parameters
        ----------
        x : array ``(n_in, 1)`` or ``(n_in,)``
            One input (the book's column vector, or a vector).
        y : array ``(n_out, 1)`` or ``(n_out,)``, or int
            The desired output, or a class label (turned into a one-hot vector).

        Returns
        -------
        nabla_b, nabla_w : lists of ndarray
            ``nabla_b[l]`` has the shape of ``biases[l]`` and ``nabla_w[l]`` the shape of
            ``weights[l]`` (``(n_in, n_out)``, the transpose of the book's layout).

        Notes
        -----
        Nielsen ch. 2: BP1 ``delta^L = grad_a C * f'(z^L)`` (with the cross-entropies on
        their canonical outputs ``delta^L = a^L - y``), BP2 ``delta^l = (W^{l+1} delta^{l+1})
        * f'(z^l)``, BP3 ``dC/db^l = delta^l``, BP4 ``dC/dw^l = a^{l-1} delta^l``.
        One example at a time, no vectorization: the slow, obviously correct reference
        (a second copy of :class:`Dense`'s backward pass, kept to test it).
        """
        x = np.asarray(x, dtype=self.dtype).reshape(-1)
        if x.shape != (self.sizes[0],):
            raise ValueError(f"x: expected {self.sizes[0]} values, got shape {np.shape(x)}")
        y = self._one_target(y)
        acts = self.activations
        # feedforward, storing every activation (the derivatives are written through a)
        activations = [x]
        for W, b, f in zip(self.weights, self.biases, acts, strict=True):
            z = activations[-1] @ W + b
            activations.append(f.forward(z, z))
        # BP1: output error
        a_out = activations[-1]
        delta = np.empty_like(a_out)
        self.loss.delta(a_out, y, acts[-1], delta, np.empty_like(a_out))
        nabla_b = [np.empty_like(b) for b in self.biases]
        nabla_w = [np.empty_like(w) for w in self.weights]
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer] = delta  # BP3
            nabla_w[layer] = np.outer(activations[layer], delta)  # BP4
            if layer > 0:  # BP2: move the error back one layer
                a = activations[layer]
                delta = self.weights[layer] @ delta
                acts[layer - 1].backward(a, delta, np.empty_like(a))
        return nabla_b, nabla_w

    def update_mini_batch(self, mini_batch, eta: float) -> None:
        """The book's update: one plain SGD step on the average of per-example gradients.

        ``mini_batch`` is a list of ``(x, y)`` tuples (see :meth:`backprop`); the weights
        and biases move by ``-eta / len(mini_batch)`` times the summed gradients
        (Nielsen ch. 1, eq. 20-21). This is the per-example reference path; :meth:`fit`
        and :meth:`SGD` train with the vectorized path instead.
        """
        nabla_b = [np.zeros_like(b) for b in self.biases]
        nabla_w = [np.zeros_like(w) for w in self.weights]
        for x, y in mini_batch:
            delta_nabla_b, delta_nabla_w = self.backprop(x, y)
            for nb, dnb in zip(nabla_b, delta_nabla_b, strict=True):
                nb += dnb
            for nw, dnw in zip(nabla_w, delta_nabla_w, strict=True):
                nw += dnw
        step = eta / len(mini_batch)
        for w, nw in zip(self.weights, nabla_w, strict=True):
            w -= step * nw
        for b, nb in zip(self.biases, nabla_b, strict=True):
            b -= step * nb

    def SGD(self, training_data, epochs: int, mini_batch_size: int, eta: float,
            test_data=None, **kwargs) -> History:
        """Train with plain mini-batch SGD, the book's ``SGD`` (Nielsen ch. 1).

        Parameters
        ----------
        training_data : list of ``(x, y)`` tuples, or a tuple ``(X, y)`` of arrays
            The book's list (``x`` a column vector ``(n_in, 1)``, ``y`` a one-hot column
            ``(n_out, 1)`` or an int label), or arrays as for :meth:`fit`.
        epochs, mini_batch_size : int
        eta : float
            Learning rate (> 0), applied to the gradient averaged over the mini-batch.
        test_data : same forms as ``training_data``, optional
            Evaluated after each epoch; the log shows the book's ``Epoch 0: 9129 / 10000``.
        **kwargs
            Passed on to :meth:`fit` (``progress``, ...). ``monitor_training`` is False
            unless given: the book's ``SGD`` reports nothing on the training data, and
            the compiled kernel's training pass would cost a second one
            (``monitor_training=True`` adds the cost to the line).

        Returns
        -------
        History
            Per epoch: ``val_correct`` / ``val_accuracy`` (and ``val_loss``) on
            ``test_data``, ``seconds``, ``lr``; ``train_loss``, ... when
            ``monitor_training`` is asked for.
        """
        kwargs.setdefault("monitor_training", False)
        self.optimizer = SGD(eta)
        X, y = as_examples(training_data, "training_data")
        if test_data is not None:
            kwargs["validation_data"] = as_examples(test_data, "test_data")
        self._in_sgd = True  # the book's line, for this call only
        try:
            return self.fit(X, y, epochs=epochs, batch_size=mini_batch_size, **kwargs)
        finally:
            self._in_sgd = False

    def evaluate(self, test_data, y=None, mask=None, **kwargs):
        """The book's ``evaluate``: the number of test inputs for which the network
        outputs the correct result (the index of the largest output equals the label).

        ``test_data`` is the book's list of ``(x, label)`` tuples or a tuple ``(X, y)``.
        Called as ``evaluate(X, y)`` it is :meth:`Sequential.evaluate` (a dict of
        metrics).
        """
        if y is not None:
            return super().evaluate(test_data, y, mask, **kwargs)
        X, y = as_examples(test_data, "test_data")
        data = self._prepare(X, y, None, "test_data inputs", "test_data labels")
        return metric_logs(self, data, "", 0.5)["correct"]

    #: within :meth:`SGD`: the log shows the book's line, numbered from 0
    _in_sgd = False

    def epoch_line(self, logs: dict, n_val: int | None, epochs: int | None = None) -> str:
        """Every model's line (see :meth:`Sequential.epoch_line`), but within :meth:`SGD`
        the book's, ``Epoch 0: 9129 / 10000 (91.29%) | 0.52 s`` (``| cost 0.0123`` with
        ``monitor_training``), numbered from 0 as ``network.py`` prints it."""
        if not self._in_sgd:
            return super().epoch_line(logs, n_val, epochs)
        epoch, seconds = logs["epoch"] - 1, logs["seconds"]
        if n_val is not None and "val_correct" in logs:  # a regression has no count
            line = (f"Epoch {epoch}: {logs['val_correct']} / {n_val} "
                    f"({100 * logs['val_accuracy']:.2f}%)")
        else:
            line = f"Epoch {epoch} complete"
        if "train_loss" in logs:
            line += f" | cost {logs['train_loss']:.4f}"
        return f"{line} | {seconds:.2f} s"

    def get_config(self) -> dict:
        """The constructor arguments (JSON-ready), as stored in a saved model."""
        return {
            "sizes": self.sizes,
            "activation": [f.name for f in self.activations[:-1]],
            "output_activation": self.output_activation.name,
            "loss": self.loss.name,
            "init": self.init,
            "dtype": np.dtype(self.dtype).name,
            "seed": self.seed,
            **self.scaling_config(),
        }

    @classmethod
    def from_config(cls, config: dict) -> Network:
        """Build a network from :meth:`get_config`'s dict."""
        return cls(**config)

    def _decide(self, a: np.ndarray, threshold: float) -> np.ndarray:
        """The book's classification: the index of the largest of several outputs
        (whatever the output activation), or 1 where a single output is >= ``threshold``
        (int64 ``(n,)`` either way)."""
        if a.shape[-1] > 1:
            return a.argmax(axis=-1)
        return (a[..., 0] >= threshold).astype(np.int64)

    # ----------------------------------------------------------------------------------
    # The compiled kernel (plain SGD, small mini-batches)
    # ----------------------------------------------------------------------------------
    def kernel_unsupported(self) -> str | None:
        """Why :func:`nablanet.kernels.mlp.mlp_sgd_epoch` cannot train this network, or None."""
        if kernels.delta_mode(self.loss, self.output_activation) is None:
            return f"loss {self.loss.name} on {self.output_activation.name} outputs"
        return kernels.plain_sgd_unsupported(self.optimizer)

    def load_kernel(self, backend: str = "auto", batch_size: int = 10) -> bool:
        """Load the compiled kernel that ``fit(backend=backend, batch_size=batch_size)``
        runs (compiled, or read from Numba's disk cache) now, for this network's depth
        and dtype; returns whether ``fit`` will run it.

        ``fit`` loads the kernel itself. Loading it before the data are read keeps
        Numba's loading memory and the data apart: loading runs LLVM, whose pages are
        dropped from the process once it is done (:func:`nablanet.kernels.run`), so the
        data never sit beside them (``nablanet train``'s demo peaks at about 190 MB so,
        225 MB when the data come first).

        Raises
        ------
        ValueError, ImportError
            As ``fit`` for ``backend`` (see :func:`nablanet.kernels.use_numba`).
        """
        if not kernels.use_numba(backend, self.kernel_unsupported(), batch_size,
                                 self.auto_numba_max_batch):
            return False
        no_rows: tuple = (np.empty((0, self.sizes[0]), self.dtype),
                          np.empty((0, self.sizes[-1]), self.dtype), None)
        self.compiled_trainer(no_rows, batch_size)  # making it loads the kernel
        return True

    def compiled_trainer(self, data, batch_size: int, record=None):
        """``train_batches`` running :func:`nablanet.kernels.mlp.mlp_sgd_epoch`: the full
        mini-batches of a chunk in one call, the short last one in another; the kernel's
        work buffers are made here, once per ``fit``, and it writes the training pass's
        outputs into ``record``. Images held as :class:`~nablanet.datasets.pixels.Pixels`
        are converted a chunk at a time outside the kernel (its rows in training order,
        with their targets; the outputs recorded for those rows are put back at their
        indices), so the kernel sees the floats it would see in a float array."""
        X, T, _ = data
        dt = self.dtype
        acts = np.array([kernels.ACT_CODES[f.name] for f in self.activations])
        mode = kernels.delta_mode(self.loss, self.output_activation)
        # per-layer arrays as tuples (Numba's UniTuple, indexed at run time): a typed
        # List would compile its own methods in every process, uncached (0.5-2 s)
        weights, biases = tuple(self.weights), tuple(self.biases)
        args: dict[int, tuple] = {}
        for m in {batch_size, len(X) % batch_size} - {0}:
            args[m] = (np.empty((m, self.sizes[0]), dtype=dt),
                       np.empty((m, self.sizes[-1]), dtype=dt),
                       tuple(np.empty((m, n), dtype=dt) for n in self.sizes[1:]),
                       tuple(np.empty((m, n), dtype=dt) for n in self.sizes[1:]),
                       tuple(np.empty_like(w) for w in self.weights),
                       tuple(np.empty_like(b) for b in self.biases))
        nothing: np.ndarray = np.empty((0, self.sizes[-1]), dtype=dt)

        rows: dict[str, np.ndarray] = {}  # Pixels: a chunk's rows as floats, in order

        def call(part: np.ndarray) -> None:
            m = batch_size if len(part) % batch_size == 0 else len(part)
            Xk, Tk, order, z = X, T, part, nothing if record is None else record
            if isinstance(X, Pixels):
                k = len(part)
                if "order" not in rows or len(rows["order"]) < k:  # the largest chunk, once
                    rows.update(x=np.empty((k, X.shape[1]), dt), t=np.empty((k, T.shape[1]), dt),
                                z=np.empty((k, T.shape[1]), dt), order=np.arange(k))
                Xk = X.take(part, axis=0, out=rows["x"][:k])
                Tk = T.take(part, axis=0, out=rows["t"][:k])
                order = rows["order"][:k]
                z = nothing if record is None else rows["z"][:k]
            kernels.run("mlp_sgd_epoch", Xk, Tk, order, weights, biases, acts, mode,
                        self.optimizer.lr, *args[m], z)
            if record is not None and z is not record:
                record[part] = z

        def train_batches(idx: np.ndarray) -> None:
            full = len(idx) - len(idx) % batch_size
            for part in (idx[:full], idx[full:]):
                if len(part):
                    call(part)

        call(np.empty(0, dtype=np.int64))  # compile (or load) now, not in the first epoch
        return train_batches

    # ----------------------------------------------------------------------------------
    def _one_target(self, y) -> np.ndarray:
        n_out = self.sizes[-1]
        if np.ndim(y) == 0:
            return check_targets(self, np.asarray([y]), 1, (n_out,), "y")[0]
        y = np.asarray(y, dtype=self.dtype).reshape(-1)
        if y.shape != (n_out,):
            raise ValueError(f"y: expected {n_out} values or a label, got shape {np.shape(y)}")
        return y


# --------------------------------------------------------------------------------------
# The book's data forms, converted once at the edge
# --------------------------------------------------------------------------------------
def _as_rows(a, n_in: int, name: str):
    """Rows ``(n, n_in)`` from one example (column or vector) or a batch, with a function
    that gives the output shape for ``n_out`` outputs."""
    a = np.asarray(a)
    if a.ndim == 2 and a.shape == (n_in, 1) and n_in != 1:
        return a.reshape(1, n_in), lambda n_out: (n_out, 1)
    if a.ndim == 1 and a.shape == (n_in,):
        return a.reshape(1, n_in), lambda n_out: (n_out,)
    if a.ndim == 2 and a.shape[1] == n_in:
        return a, lambda n_out: (len(a), n_out)
    raise ValueError(
        f"{name}: expected a column ({n_in}, 1), a vector ({n_in},) or rows (n, {n_in}); "
        f"got shape {a.shape}"
    )


def _check_sizes(sizes) -> list[int]:
    try:
        out = [int(s) for s in sizes]
    except (TypeError, ValueError):
        raise ValueError(f"sizes: expected a list of integers, got {sizes!r}") from None
    if len(out) < 2 or any(s < 1 for s in out) or any(
        not float(s).is_integer() for s in sizes
    ):
        raise ValueError(
            f"sizes: expected at least two positive integers (input and output), got {sizes!r}"
        )
    return out
