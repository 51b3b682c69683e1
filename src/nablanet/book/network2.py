"""The book's chapter-3 ``network2.py``, built on nablanet's :class:`~nablanet.Network`.

Nielsen, *Neural Networks and Deep Learning*, ch. 3: the cross-entropy cost, L2
regularization, the 1/sqrt(n_in) weight initialization, and monitoring of cost and
accuracy per epoch. The book's code runs with one import line changed::

    from nablanet.book import mnist_loader, network2
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    net.large_weight_initializer()
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
        training_data[:1000], 400, 10, 0.5, evaluation_data=test_data, lmbda=0.1,
        monitor_evaluation_accuracy=True, monitor_training_cost=True)

What is the book's and what is nablanet's. Training is nablanet's vectorized path
(:meth:`nablanet.Network.fit`, one epoch per call) with plain SGD whose L2 weight decay
is ``lmbda / n`` (``n`` training examples): the book's update ``w -> (1 - eta lmbda / n)
w - (eta / m) sum grad C_x`` (ch. 3, eq. 93), biases not decayed. The cost classes pick
nablanet's loss with the same output error (``quadratic``; ``binary_cross_entropy`` on
sigmoid outputs, whose delta is ``a - y``). The monitoring (``total_cost``,
``accuracy``) and the per-epoch lines are the book's, logged through :mod:`logging`.

Departures: ``weights[l]`` is ``(n_in, n_out)`` and ``biases[l]`` is ``(n_out,)`` inside
(nablanet works on rows); :meth:`Network.save` writes and :func:`load` reads the book's
JSON layout (``(n_out, n_in)`` weights, ``(n_out, 1)`` biases), so files pass between
the book's code and this one. Randomness comes from one generator made from ``seed``;
without ``seed``, that seed is drawn from the global generators, so the book's
``random.seed(...)``, ``np.random.seed(...)`` fix the run (:func:`nablanet.book.seed_from_globals`).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
from pathlib import Path

import numpy as np

import nablanet
from nablanet.atomic import atomic_write_bytes
from nablanet.book import library_lines_off, seed_from_globals
from nablanet.book.mnist_loader import vectorized_result
from nablanet.book.network import sigmoid, sigmoid_prime
from nablanet.init import get_initializer
from nablanet.losses import one_hot
from nablanet.optimizers import SGD
from nablanet.validation import as_examples

__all__ = [
    "COSTS",
    "CrossEntropyCost",
    "Network",
    "QuadraticCost",
    "load",
    "sigmoid",
    "sigmoid_prime",
    "vectorized_result",
]

log = logging.getLogger(__name__)


class QuadraticCost:
    """The quadratic cost ``C = ||a - y||^2 / 2`` (Nielsen ch. 1, eq. 6).

    ``fn`` and ``delta`` take the book's columns ``(n_out, 1)`` or rows ``(n, n_out)``;
    on rows ``fn`` is the cost summed over the rows.
    """

    #: the nablanet loss that trains with this cost
    loss = "quadratic"

    @staticmethod
    def fn(a, y) -> float:
        """The cost of output ``a`` for desired output ``y``."""
        return 0.5 * float(np.linalg.norm(np.subtract(a, y)) ** 2)

    @staticmethod
    def delta(z, a, y):
        """The output error ``delta^L = (a - y) * sigmoid'(z)`` (BP1, ch. 2)."""
        return (np.subtract(a, y)) * sigmoid_prime(z)


class CrossEntropyCost:
    """The cross-entropy cost ``C = -sum_j [y_j ln a_j + (1 - y_j) ln(1 - a_j)]``
    (Nielsen ch. 3, eq. 63), with the book's ``nan_to_num`` for ``a`` of exactly 0 or 1.

    ``fn`` and ``delta`` take columns ``(n_out, 1)`` or rows ``(n, n_out)``; on rows
    ``fn`` is the cost summed over the rows.
    """

    loss = "binary_cross_entropy"

    @staticmethod
    def fn(a, y) -> float:
        """The cost of output ``a`` for desired output ``y``."""
        a, y = np.asarray(a), np.asarray(y)
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.sum(np.nan_to_num(-y * np.log(a) - (1 - y) * np.log(1 - a))))

    @staticmethod
    def delta(z, a, y):
        """The output error ``delta^L = a - y`` (ch. 3, eq. 66): no ``sigmoid'(z)``."""
        return np.subtract(a, y)


#: the cost classes by the name the book's JSON files store
COSTS = {cost.__name__: cost for cost in (QuadraticCost, CrossEntropyCost)}


class Network(nablanet.Network):
    """The book's ``network2.Network``: sigmoid neurons, a cost class, L2, monitoring.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, input first (``[784, 30, 10]``).
    cost : {CrossEntropyCost, QuadraticCost}, default CrossEntropyCost
        The cost class, as in the book; an instance (``CrossEntropyCost()``, as older
        book code writes it) stands for its class.
    seed : int, optional
        Seed of the generator behind the initial weights and the shuffling; default: one
        drawn from the global generators (the book's ``random.seed`` and
        ``np.random.seed``, see :func:`nablanet.book.seed_from_globals`), kept in
        ``seed``.
    dtype : numpy dtype, default float64

    Attributes
    ----------
    cost : type
        The cost class.
    weights, biases : lists of ndarray
        ``(n_in, n_out)`` and ``(n_out,)`` per layer (the transpose of the book's).

    Raises
    ------
    TypeError
        If ``cost`` is not one of the two cost classes or an instance of one.
    ValueError
        As :class:`nablanet.Network` for ``sizes`` and ``dtype``.
    """

    def __init__(self, sizes, cost: type = CrossEntropyCost, *, seed: int | None = None,
                 dtype=np.float64):
        if not isinstance(cost, type) and COSTS.get(type(cost).__name__) is type(cost):
            cost = type(cost)  # an instance, as older book code writes it: its class
        if not (isinstance(cost, type) and COSTS.get(cost.__name__) is cost):
            raise TypeError(
                f"cost: expected one of the classes {', '.join(COSTS)} (or an instance), "
                f"got {cost!r}"
            )
        self.cost = cost
        super().__init__(sizes, activation="sigmoid", output_activation="sigmoid",
                         loss=cost.loss, init="scaled_normal", seed=seed_from_globals(seed),
                         dtype=dtype)

    def default_weight_initializer(self) -> None:
        """Weights from N(0, 1/n_in), biases from N(0, 1) (ch. 3, "Weight
        initialization"); the initialization the constructor uses."""
        self._draw(get_initializer("scaled_normal"))

    def large_weight_initializer(self) -> None:
        """Weights and biases from N(0, 1): chapter 1's initialization, kept in the book
        for comparison."""
        self._draw(get_initializer("normal"))

    def _draw(self, draw) -> None:
        for w, b in zip(self.weights, self.biases, strict=True):
            w[...] = draw(self.rng, w.shape[0], w.shape[1], self.dtype)
            b[...] = self.rng.standard_normal(b.shape)

    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0,
            evaluation_data=None, monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False, monitor_training_cost=False,
            monitor_training_accuracy=False):
        """Train by mini-batch SGD with L2 regularization, monitoring each epoch.

        Parameters
        ----------
        training_data : iterable of ``(x, y)``
            The book's list (or ``zip``) of ``(x (784, 1), y (10, 1))``, or a tuple
            ``(X, y)`` of arrays.
        epochs, mini_batch_size : int
        eta : float
            Learning rate, on the gradient averaged over the mini-batch.
        lmbda : float, default 0
            L2 regularization parameter (>= 0); the weight decay is ``lmbda / n``.
        evaluation_data : iterable of ``(x, label)``, optional
            Needed by the two ``monitor_evaluation_*`` flags.
        monitor_evaluation_cost, monitor_evaluation_accuracy,
        monitor_training_cost, monitor_training_accuracy : bool
            Which of the four lists to fill, one entry per epoch.

        Returns
        -------
        tuple of four lists
            ``(evaluation_cost, evaluation_accuracy, training_cost, training_accuracy)``:
            costs as floats (including the L2 term, :meth:`total_cost`), accuracies as
            the number of correctly classified examples (ints); a list is empty when its
            flag is off. JSON-ready, as the book's ``overfitting.py`` needs.

        Raises
        ------
        ValueError
            For a negative or non-finite ``lmbda``, ``epochs`` < 1, a ``monitor_evaluation_*`` flag
            without ``evaluation_data``, malformed data, or as :meth:`nablanet.Network.fit`
            (``epochs``, ``mini_batch_size``, ``eta``).
        """
        if not (isinstance(lmbda, numbers.Real) and math.isfinite(lmbda) and lmbda >= 0):
            raise ValueError(f"lmbda: expected a number >= 0, got {lmbda!r}")
        if not isinstance(epochs, numbers.Integral) or isinstance(epochs, bool) or epochs < 1:
            raise ValueError(f"epochs: expected an integer >= 1, got {epochs!r}")
        if (monitor_evaluation_cost or monitor_evaluation_accuracy) and evaluation_data is None:
            raise ValueError(
                "evaluation_data: monitor_evaluation_cost and monitor_evaluation_accuracy "
                "need it, got None"
            )
        X, y = as_examples(training_data, "training_data")
        training = (X.astype(self.dtype, copy=False), y)
        if evaluation_data is not None:
            evaluation_data = as_examples(evaluation_data, "evaluation_data")
        n = len(X)
        self.optimizer = SGD(eta, weight_decay=lmbda / n)
        evaluation_cost, evaluation_accuracy = [], []
        training_cost, training_accuracy = [], []
        for j in range(epochs):
            with library_lines_off():  # its "Epoch 0 complete" would repeat epoch 0
                self.fit(*training, epochs=1, batch_size=mini_batch_size,
                         monitor_training=False)
            log.info("Epoch %s training complete", j)
            if monitor_training_cost:
                training_cost.append(self.total_cost(training, lmbda))
                log.info("Cost on training data: %s", training_cost[-1])
            if monitor_training_accuracy:
                training_accuracy.append(self.accuracy(training, convert=True))
                log.info("Accuracy on training data: %s / %s", training_accuracy[-1], n)
            if monitor_evaluation_cost:
                evaluation_cost.append(self.total_cost(evaluation_data, lmbda, convert=True))
                log.info("Cost on evaluation data: %s", evaluation_cost[-1])
            if monitor_evaluation_accuracy:
                evaluation_accuracy.append(self.accuracy(evaluation_data))
                log.info("Accuracy on evaluation data: %s / %s", evaluation_accuracy[-1],
                         len(evaluation_data[0]))
        return evaluation_cost, evaluation_accuracy, training_cost, training_accuracy

    def update_mini_batch(self, mini_batch, eta, lmbda=0.0, n=1) -> None:
        """The book's per-example update with L2: ``w -> (1 - eta lmbda / n) w - (eta / m)
        sum_x grad_w C_x`` (ch. 3, eq. 93), ``b -> b - (eta / m) sum_x grad_b C_x``, the
        gradients from :meth:`backprop` at the old weights. The slow reference;
        :meth:`SGD` trains with the vectorized path."""
        decay = [w * (eta * lmbda / n) for w in self.weights]  # at the old weights
        super().update_mini_batch(mini_batch, eta)
        for w, d in zip(self.weights, decay, strict=True):
            w -= d

    def accuracy(self, data, convert=False) -> int:
        """Number of inputs in ``data`` whose largest output is their class.

        ``data`` holds ``(x, y)`` with ``y`` a one-hot column (the book's training data,
        ``convert=True``) or a label (validation and test data, ``convert=False``), or is
        a tuple ``(X, y)`` of arrays. The form of ``y`` is detected, so ``convert`` is
        accepted for the book's calls and not needed.
        """
        X, y = as_examples(data, "data")
        labels = y if y.ndim == 1 else y.argmax(axis=1)
        return int((self.predict(X) == labels).sum())

    def total_cost(self, data, lmbda, convert=False) -> float:
        """The cost on ``data`` with the L2 term, as the book computes it:
        ``sum_x cost.fn(a_x, y_x) / N + (lmbda / 2N) sum_w ||w||^2`` with ``N =
        len(data)`` (ch. 3, eq. 85 with ``N`` in place of the training set size ``n``).

        ``data`` and ``convert`` as in :meth:`accuracy`.
        """
        X, y = as_examples(data, "data")
        Y = one_hot(y, self.sizes[-1], self.dtype, "data labels") if y.ndim == 1 else y
        a = self.predict_proba(X)
        l2 = sum(float(np.linalg.norm(w)) ** 2 for w in self.weights)
        return self.cost.fn(a, Y) / len(X) + 0.5 * (lmbda / len(X)) * l2

    def save(self, filename) -> None:
        """Save sizes, weights, biases and cost in the book's JSON layout (the weights
        ``(n_out, n_in)``, the biases ``(n_out, 1)``); written to a temporary name and
        renamed."""
        data = {
            "sizes": self.sizes,
            "weights": [w.T.tolist() for w in self.weights],
            "biases": [b.reshape(-1, 1).tolist() for b in self.biases],
            "cost": self.cost.__name__,
        }
        atomic_write_bytes(filename, json.dumps(data).encode())


def load(filename) -> Network:
    """Load a network saved by :meth:`Network.save` or by the book's ``network2.py``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the file is not JSON (with its line), lacks a key, names an unknown cost, or
        holds weights or biases whose shapes do not fit ``sizes``; the message names the
        file.
    """
    path = Path(filename)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: line {err.lineno}: not JSON ({err.msg})") from None
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not a text file (expected the book's JSON)") from None
    missing = {"sizes", "weights", "biases", "cost"} - set(data if isinstance(data, dict) else ())
    if missing:
        raise ValueError(f"{path}: expected the keys sizes, weights, biases, cost; "
                         f"missing {sorted(missing)}")
    if data["cost"] not in COSTS:
        raise ValueError(f"{path}: cost: expected one of {sorted(COSTS)}, found {data['cost']!r}")
    try:
        net = Network(data["sizes"], cost=COSTS[data["cost"]])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{path}: {err}") from None
    for key, arrays, layout in (("weights", net.weights, np.transpose),
                                ("biases", net.biases, np.ravel)):
        saved = data[key]
        if not isinstance(saved, list) or len(saved) != len(arrays):
            raise ValueError(f"{path}: {key}: expected {len(arrays)} arrays (one per layer), "
                             f"found {type(saved).__name__} of {len(saved)}")
        for i, (dest, values) in enumerate(zip(arrays, saved, strict=True)):
            expected = (dest.shape[1], dest.shape[0]) if key == "weights" else (len(dest), 1)
            try:
                values = np.asarray(values, dtype=np.float64)
            except (TypeError, ValueError):
                values = None
            if values is None or values.shape != expected:
                found = "ragged or non-numeric lists" if values is None else values.shape
                raise ValueError(f"{path}: {key}[{i}]: expected numbers of shape {expected}, "
                                 f"found {found}")
            dest[...] = layout(values)
    return net

