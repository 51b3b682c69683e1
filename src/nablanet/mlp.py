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
- the training path (:meth:`Network.fit`, :meth:`Network.SGD`) is vectorized: a whole
  mini-batch is one matrix ``X`` of shape ``(m, n_in)`` and each layer's forward and
  backward pass is a handful of matrix products over it, into work buffers that are
  allocated once per ``fit`` and reused for every step.

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

import logging
from collections.abc import Sequence

import numpy as np

from nablanet import io, kernels
from nablanet.activations import get_activation
from nablanet.init import check_dtype, get_initializer
from nablanet.losses import get_loss, one_hot
from nablanet.optimizers import SGD, Optimizer
from nablanet.training import (
    EarlyStopping,
    History,
    Schedule,
    check_fit_args,
    fit_loop,
    thread_limit,
)

__all__ = ["Network"]

log = logging.getLogger(__name__)

_EVAL_CHUNK = 8192  # rows per forward pass when evaluating large data sets
AUTO_NUMBA_MAX_BATCH = 32  # backend="auto": the compiled kernel up to this batch size


class Network:
    """A fully connected feedforward network.

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
        Seed of the ``numpy.random.Generator`` behind the initial weights and the
        shuffling. Same seed, same result, bit for bit.
    dtype : numpy dtype, default float64
        ``float64`` or ``float32``; data are converted to it once per ``fit``.

    Attributes
    ----------
    weights : list of ndarray
        ``weights[l]`` has shape ``(sizes[l], sizes[l+1])``.
    biases : list of ndarray
        ``biases[l]`` has shape ``(sizes[l+1],)``.

    Raises
    ------
    ValueError
        For fewer than two layers, a non-positive size, an unknown activation, loss,
        initialiser or dtype, or a loss that does not fit the output activation.
    """

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
    ):
        self.sizes = _check_sizes(sizes)
        n_hidden = len(self.sizes) - 2
        names = [activation] * n_hidden if isinstance(activation, str) else list(activation)
        if len(names) != n_hidden:
            raise ValueError(
                f"activation: expected one name or {n_hidden} (one per hidden layer), "
                f"got {len(names)}"
            )
        self.activations = [get_activation(a) for a in [*names, output_activation]]
        self.loss = get_loss(loss)
        self.loss.check_output(self.activations[-1])
        self.init = init
        self.dtype = check_dtype(dtype)
        self.optimizer = optimizer if optimizer is not None else SGD(3.0)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        draw = get_initializer(init)
        self.weights, self.biases = [], []
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            self.weights.append(draw(self.rng, n_in, n_out, self.dtype))
            if init in ("normal", "scaled_normal"):
                self.biases.append(self.rng.standard_normal(n_out).astype(self.dtype))
            else:
                self.biases.append(np.zeros(n_out, dtype=self.dtype))

    # ----------------------------------------------------------------------------------
    # Forward
    # ----------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        """Number of layers including the input layer (the book's ``num_layers``)."""
        return len(self.sizes)

    def feedforward(self, a) -> np.ndarray:
        """Return the network's output for input ``a`` (Nielsen ch. 1, eq. 22).

        ``a`` is one example as a column vector ``(n_in, 1)`` (the book's form) or a
        vector ``(n_in,)``, or a batch ``(n, n_in)``; the output has the matching shape
        ``(n_out, 1)``, ``(n_out,)`` or ``(n, n_out)``.
        """
        x, shape = _as_rows(a, self.sizes[0], "a")
        out = self._forward(x.astype(self.dtype, copy=False))[-1]
        return out.reshape(shape(self.sizes[-1]))

    def predict_proba(self, X) -> np.ndarray:
        """Output activations ``(n, n_out)`` for inputs ``X (n, n_in)``, in chunks."""
        X, _ = _as_rows(X, self.sizes[0], "X")
        return self._output(X)[1]

    def predict(self, X) -> np.ndarray:
        """Predicted class: int64 ``(n,)`` for ``X (n, n_in)``, the ``argmax`` of the
        outputs, or for a single output, 1 where it is >= 0.5."""
        return self._classes(self.predict_proba(X))

    def _forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Activations of every layer for rows ``x``: ``[x, a1, ..., aL]`` (allocates)."""
        acts = [x]
        for W, b, f in zip(self.weights, self.biases, self.activations, strict=True):
            z = acts[-1] @ W
            z += b
            acts.append(f.forward(z, z))
        return acts

    def _output(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Output pre-activations and activations ``(z, a)``, each ``(n, n_out)``, for all
        rows of ``X``, computed in chunks of rows to bound memory."""
        X = X.astype(self.dtype, copy=False)
        z = np.empty((len(X), self.sizes[-1]), dtype=self.dtype)
        a = np.empty_like(z)
        layers = list(zip(self.weights, self.biases, self.activations, strict=True))
        for start in range(0, len(X), _EVAL_CHUNK):
            h = X[start:start + _EVAL_CHUNK]
            for W, b, f in layers[:-1]:
                h = h @ W
                h += b
                f.forward(h, h)
            W, b, f = layers[-1]
            zc = z[start:start + _EVAL_CHUNK]
            np.matmul(h, W, out=zc)
            zc += b
            f.forward(zc, a[start:start + _EVAL_CHUNK])
        return z, a

    # ----------------------------------------------------------------------------------
    # The per-example reference: the book's backprop
    # ----------------------------------------------------------------------------------
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
        One example at a time, no vectorization: the slow, obviously correct reference.
        """
        x = np.asarray(x, dtype=self.dtype).reshape(-1)
        if x.shape != (self.sizes[0],):
            raise ValueError(f"x: expected {self.sizes[0]} values, got shape {np.shape(x)}")
        y = self._one_target(y)
        # feedforward, storing every activation (the derivatives are written through a)
        activations = [x]
        for W, b, f in zip(self.weights, self.biases, self.activations, strict=True):
            z = activations[-1] @ W + b
            activations.append(f.forward(z, z))
        # BP1: output error
        a_out = activations[-1]
        delta = np.empty_like(a_out)
        self.loss.delta(a_out, y, self.activations[-1], delta, np.empty_like(a_out))
        nabla_b = [np.empty_like(b) for b in self.biases]
        nabla_w = [np.empty_like(w) for w in self.weights]
        for layer in range(len(self.weights) - 1, -1, -1):
            nabla_b[layer] = delta  # BP3
            nabla_w[layer] = np.outer(activations[layer], delta)  # BP4
            if layer > 0:  # BP2: move the error back one layer
                a = activations[layer]
                delta = self.weights[layer] @ delta
                self.activations[layer - 1].backward(a, delta, np.empty_like(a))
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

    # ----------------------------------------------------------------------------------
    # The vectorized training path
    # ----------------------------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        *,
        epochs: int = 30,
        batch_size: int = 10,
        validation_data=None,
        validation_split: float = 0.0,
        schedule: Schedule | None = None,
        early_stopping: EarlyStopping | None = None,
        eval_every: int = 1,
        monitor_training: bool = True,
        shuffle: bool = True,
        progress: bool = True,
        backend: str = "auto",
        threads: int | None = None,
    ) -> History:
        """Train by mini-batch gradient descent with vectorized backpropagation.

        Parameters
        ----------
        X : array ``(n, n_in)``
            Training inputs.
        y : int array ``(n,)`` of class labels, or array ``(n, n_out)`` of targets
        epochs, batch_size : int
            Passes over the data, and examples per mini-batch (the last one may be
            smaller). The data are reshuffled every epoch from the model's generator.
        validation_data : tuple ``(X_val, y_val)``, optional
            Evaluated after every ``eval_every`` epochs (``val_loss``, ``val_accuracy``,
            ``val_correct``).
        validation_split : float, default 0
            Instead of ``validation_data``: hold out this fraction of ``X`` (seeded).
        schedule, early_stopping : optional
            Learning-rate schedule and early stopping (see :mod:`nablanet.training`).
        eval_every : int, default 1
            Evaluate every this many epochs (and after the last).
        monitor_training : bool, default True
            Also compute the cost and accuracy on the whole training set per evaluation
            (``train_loss``, ``train_accuracy``): one extra forward pass.
        shuffle : bool, default True
            Reshuffle the examples every epoch (the book does); False keeps their order.
        progress : bool, default True
            Show a progress bar within each epoch on a terminal.
        backend : ``"auto"``, ``"numpy"`` or ``"numba"``
            ``numpy`` runs the vectorized NumPy path (the reference); ``numba`` the
            compiled kernel :func:`nablanet.kernels.mlp_sgd_epoch` (plain SGD only);
            ``auto`` the kernel when Numba is installed, the optimizer is plain SGD and
            ``batch_size <= 32``, where it is faster (``benchmarks/mlp_epoch.py``).
        threads : int, optional
            BLAS threads while training; default: 1 for small layers and batches,
            BLAS's default otherwise (:func:`nablanet.training.thread_limit`).

        Returns
        -------
        History
            One entry per evaluated epoch: ``epoch``, ``seconds`` (training time only),
            ``lr`` and the metrics above.

        Raises
        ------
        ValueError
            For inputs or targets of the wrong shape or length, labels outside
            ``0..n_out-1``, non-finite inputs, a batch size larger than the data, or
            ``backend="numba"`` for a configuration the kernel does not cover.
        ImportError
            For ``backend="numba"`` without Numba installed.
        """
        X, T, labels = self._prepare(X, y, "X", "y")
        val = None
        if validation_data is not None:
            val = self._prepare(*validation_data, "validation_data[0]", "validation_data[1]")
        elif validation_split:
            X, T, labels, val = self._split(X, T, labels, validation_split)
        check_fit_args(len(X), epochs, batch_size, eval_every)
        work = _Workspace(self, batch_size)
        rest = len(X) % batch_size
        work_rest = _Workspace(self, rest) if rest else None
        params = [*self.weights, *self.biases]
        decay = [True] * len(self.weights) + [False] * len(self.biases)
        compiled = kernels.use_numba(backend, self._kernel_unsupported(), batch_size,
                                     AUTO_NUMBA_MAX_BATCH)

        def train_batches(idx: np.ndarray) -> None:
            for start in range(0, len(idx), batch_size):
                batch = idx[start:start + batch_size]
                ws = work if len(batch) == batch_size else work_rest
                ws.step(X, T, batch)
                self.optimizer.step(params, ws.grads, decay)

        if compiled:
            train_batches = self._compiled_trainer(X, T, work, work_rest)
        largest = batch_size * max(w.size for w in self.weights)
        log.debug("backend %s", "numba" if compiled else "numpy")

        def evaluate() -> dict:
            logs = {}
            if monitor_training:
                logs.update(self._metrics(X, T, labels, "train"))
            if val is not None:
                logs.update(self._metrics(*val, "val"))
            return logs

        n_val = None if val is None else len(val[0])
        return fit_loop(
            n_samples=len(X), epochs=epochs, batch_size=batch_size, rng=self.rng,
            train_batches=train_batches, evaluate=evaluate,
            epoch_line=lambda logs: _epoch_line(logs, n_val), optimizer=self.optimizer,
            get_params=lambda: params, schedule=schedule, early_stopping=early_stopping,
            eval_every=eval_every, shuffle=shuffle, progress=progress,
            threads=thread_limit(threads, largest),
        )

    def _kernel_unsupported(self) -> str | None:
        """Why :func:`nablanet.kernels.mlp_sgd_epoch` cannot train this network, or None."""
        if kernels.delta_mode(self.loss, self.activations[-1]) is None:
            return f"loss {self.loss.name} on {self.activations[-1].name} outputs"
        return kernels.plain_sgd_unsupported(self.optimizer)

    def _compiled_trainer(self, X, T, work: _Workspace, work_rest: _Workspace | None):
        """``train_batches`` for :func:`fit_loop` running the compiled kernel: the full
        mini-batches of a chunk in one call, the short last one in another."""
        from numba.typed import List

        acts = np.array([kernels.ACT_CODES[f.name] for f in self.activations])
        mode = kernels.delta_mode(self.loss, self.activations[-1])
        weights, biases = List(self.weights), List(self.biases)
        args = {}
        for ws in (work, work_rest):
            if ws is not None:
                args[len(ws.x)] = (ws.x, ws.t, List(ws.a), List(ws.delta), List(ws.grad_w),
                                   List(ws.grad_b))
        m = len(work.x)

        def call(part: np.ndarray) -> None:
            kernels.run("mlp_sgd_epoch", X, T, part, weights, biases, acts, mode,
                        self.optimizer.lr, *args[m if len(part) % m == 0 else len(part)])

        def train_batches(idx: np.ndarray) -> None:
            full = len(idx) - len(idx) % m
            for part in (idx[:full], idx[full:]):
                if len(part):
                    call(part)

        call(np.empty(0, dtype=np.int64))  # compile (or load) now, not in the first epoch
        return train_batches

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
            Passed on to :meth:`fit` (``progress``, ``monitor_training``, ...).

        Returns
        -------
        History
            Per epoch: ``val_correct`` / ``val_accuracy`` on ``test_data``, ``train_loss``,
            ``seconds``.
        """
        self.optimizer = SGD(eta)
        X, y = _unpack(training_data, "training_data")
        if test_data is not None:
            kwargs["validation_data"] = _unpack(test_data, "test_data")
        return self.fit(X, y, epochs=epochs, batch_size=mini_batch_size, **kwargs)

    def evaluate(self, test_data) -> int:
        """Number of test inputs for which the network outputs the correct result: the
        index of the largest output equals the label (the book's ``evaluate``).

        ``test_data`` is the book's list of ``(x, label)`` tuples or a tuple ``(X, y)``.
        """
        X, y = _unpack(test_data, "test_data")
        _, _, labels = self._prepare(X, y, "test_data inputs", "test_data labels")
        return int((self.predict(X) == labels).sum())

    # ----------------------------------------------------------------------------------
    # Saving and loading
    # ----------------------------------------------------------------------------------
    def config(self) -> dict:
        """The constructor arguments (JSON-ready), as stored in a saved model."""
        return {
            "sizes": self.sizes,
            "activation": [f.name for f in self.activations[:-1]],
            "output_activation": self.activations[-1].name,
            "loss": self.loss.name,
            "init": self.init,
            "dtype": np.dtype(self.dtype).name,
            "seed": self.seed,
        }

    def tensors(self) -> dict[str, np.ndarray]:
        """The parameters by name: ``weights.0``, ``biases.0``, ..."""
        out = {f"weights.{i}": w for i, w in enumerate(self.weights)}
        out.update({f"biases.{i}": b for i, b in enumerate(self.biases)})
        return out

    def save(self, path) -> None:
        """Save to ``path`` in nablanet's safe, versioned format (see :mod:`nablanet.io`)."""
        io.save(self, path)

    @classmethod
    def load(cls, path) -> Network:
        """Load a network saved by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a nablanet ``Network`` or its shapes do not match.
        """
        return io.load(path, expect=cls)

    @classmethod
    def from_saved(cls, config: dict, tensors: dict[str, np.ndarray]) -> Network:
        """Rebuild a network from :meth:`config` and :meth:`tensors` (checked)."""
        net = cls(**config)
        io.assign(net.tensors(), tensors)
        return net

    # ----------------------------------------------------------------------------------
    # Helpers
    # ----------------------------------------------------------------------------------
    def _one_target(self, y) -> np.ndarray:
        n_out = self.sizes[-1]
        if np.ndim(y) == 0:
            return self._targets(np.asarray([y]), "y")[0]
        y = np.asarray(y, dtype=self.dtype).reshape(-1)
        if y.shape != (n_out,):
            raise ValueError(f"y: expected {n_out} values or a label, got shape {np.shape(y)}")
        return y

    def _targets(self, y: np.ndarray, name: str) -> np.ndarray:
        """One-hot rows ``(n, n_out)`` for int labels ``(n,)``."""
        return one_hot(y, self.sizes[-1], self.dtype, name)

    def _prepare(self, X, y, xname: str, yname: str):
        """Inputs ``(n, n_in)``, targets ``(n, n_out)`` and labels ``(n,)`` in ``dtype``."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(
                f"{xname}: expected shape (n, {self.sizes[0]}), got {X.shape}"
            )
        if X.dtype.kind not in "biuf":
            raise ValueError(f"{xname}: expected real numbers, got dtype {X.dtype}")
        X = X.astype(self.dtype, copy=False)
        if not np.isfinite(X).all():
            raise ValueError(f"{xname}: contains NaN or infinite values")
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"{yname}: expected {len(X)} rows (one per input), got {len(y)}")
        if self.sizes[-1] == 1 and y.ndim == 1:  # one output: 0/1 labels are its targets
            T = y.reshape(-1, 1).astype(self.dtype)
        elif y.ndim == 1 or (y.ndim == 2 and y.shape[1] == 1 and self.sizes[-1] > 1):
            T = self._targets(y.reshape(-1), yname)
        elif y.ndim == 2 and y.shape[1] == self.sizes[-1]:
            T = y.astype(self.dtype)
        else:
            raise ValueError(
                f"{yname}: expected labels (n,) or targets (n, {self.sizes[-1]}), got {y.shape}"
            )
        labels = self._classes(T)
        return np.ascontiguousarray(X), T, labels

    def _split(self, X, T, labels, fraction: float):
        if not 0.0 < fraction < 1.0:
            raise ValueError(f"validation_split: expected a number in (0, 1), got {fraction!r}")
        n_val = round(len(X) * fraction)
        if not 0 < n_val < len(X):
            raise ValueError(
                f"validation_split: {fraction} of {len(X)} examples leaves an empty part"
            )
        order = self.rng.permutation(len(X))
        tr, va = order[n_val:], order[:n_val]
        return X[tr], T[tr], labels[tr], (X[va], T[va], labels[va])

    def _metrics(self, X, T, labels, prefix: str) -> dict:
        z, a = self._output(X)
        correct = int((self._classes(a) == labels).sum())
        return {
            f"{prefix}_loss": self.loss.value(z, a, T) / len(X),
            f"{prefix}_accuracy": correct / len(X),
            f"{prefix}_correct": correct,
        }

    def _classes(self, a: np.ndarray) -> np.ndarray:
        return a.argmax(axis=1) if a.shape[1] > 1 else (a[:, 0] >= 0.5).astype(np.int64)


class _Workspace:
    """Work buffers for one mini-batch size, allocated once per ``fit``.

    ``step(X, T, idx)`` gathers the mini-batch, runs the forward pass, and leaves the
    gradient of the batch-mean cost in ``grad_w``/``grad_b``; nothing is allocated.
    """

    def __init__(self, net: Network, m: int):
        dt = net.dtype
        self.net = net
        self.x = np.empty((m, net.sizes[0]), dtype=dt)
        self.t = np.empty((m, net.sizes[-1]), dtype=dt)
        self.a = [np.empty((m, n), dtype=dt) for n in net.sizes[1:]]  # activations
        self.delta = [np.empty((m, n), dtype=dt) for n in net.sizes[1:]]
        self.work = [np.empty((m, n), dtype=dt) for n in net.sizes[1:]]
        self.grad_w = [np.empty_like(w) for w in net.weights]
        self.grad_b = [np.empty_like(b) for b in net.biases]
        self.grads = [*self.grad_w, *self.grad_b]  # in the order of the parameters
        self.inv_m = 1.0 / m

    def step(self, X: np.ndarray, T: np.ndarray, idx: np.ndarray) -> None:
        net = self.net
        np.take(X, idx, axis=0, out=self.x)
        np.take(T, idx, axis=0, out=self.t)
        # forward: a[l] = f(a[l-1] @ W[l] + b[l]), in place
        prev = self.x
        for W, b, f, a in zip(net.weights, net.biases, net.activations, self.a, strict=True):
            np.matmul(prev, W, out=a)
            a += b
            f.forward(a, a)
            prev = a
        # BP1, with the 1/m of the batch mean folded into the output error once
        L = len(net.weights) - 1
        delta = net.loss.delta(self.a[L], self.t, net.activations[L], self.delta[L],
                               self.work[L])
        delta *= self.inv_m
        for layer in range(L, -1, -1):
            prev = self.a[layer - 1] if layer else self.x
            np.matmul(prev.T, delta, out=self.grad_w[layer])  # BP4
            np.add.reduce(delta, axis=0, out=self.grad_b[layer])  # BP3
            if layer:  # BP2
                below = self.delta[layer - 1]
                np.matmul(delta, net.weights[layer].T, out=below)
                net.activations[layer - 1].backward(prev, below, self.work[layer - 1])
                delta = below


# --------------------------------------------------------------------------------------
# The book's data forms, converted once at the edge
# --------------------------------------------------------------------------------------
def _unpack(data, name: str):
    """``(X, y)`` arrays from the book's list of ``(x, y)`` tuples or a tuple of arrays."""
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], np.ndarray) \
            and np.ndim(data[0]) == 2 and np.ndim(data[1]) >= 1 \
            and len(data[0]) == len(data[1]) and np.shape(data[0])[1] != 1:
        return data
    data = list(data)
    if not data:
        raise ValueError(f"{name}: expected at least one (x, y) example, got none")
    try:
        X = np.stack([np.asarray(x).reshape(-1) for x, _ in data])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected (x, y) tuples with equal-sized x ({exc})") from None
    ys = [y for _, y in data]
    if np.ndim(ys[0]) == 0:
        y = np.asarray(ys)
    else:
        y = np.stack([np.asarray(v).reshape(-1) for v in ys])
    return X, y


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


def _epoch_line(logs: dict, n_val: int | None) -> str:
    epoch, seconds = logs["epoch"], logs["seconds"]
    if n_val is not None:
        line = (f"Epoch {epoch}: {logs['val_correct']} / {n_val} "
                f"({100 * logs['val_accuracy']:.2f}%)")
    else:
        line = f"Epoch {epoch} complete"
    if "train_loss" in logs:
        line += f" | cost {logs['train_loss']:.4f}"
    return f"{line} | {seconds:.2f} s"


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
