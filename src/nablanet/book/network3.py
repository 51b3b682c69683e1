"""The book's chapter-6 ``network3.py``, on NumPy: nablanet's layers in a ``Sequential``.

Nielsen, *Neural Networks and Deep Learning*, ch. 6 ("Convolutional neural networks in
practice"). The book's ``network3.py`` needs Theano; this module keeps its names and
calls and builds the network from nablanet's layers, so the book's code runs with one
import line changed::

    from nablanet.book import network3
    from nablanet.book.network3 import Network, ConvPoolLayer, FullyConnectedLayer, \\
        SoftmaxLayer, ReLU
    training_data, validation_data, test_data = network3.load_data_shared()
    mini_batch_size = 10
    net = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28),
                      filter_shape=(20, 1, 5, 5), poolsize=(2, 2), activation_fn=ReLU),
        FullyConnectedLayer(n_in=20*12*12, n_out=100, activation_fn=ReLU),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    net.SGD(training_data, 60, mini_batch_size, 0.03, validation_data, test_data,
            lmbda=0.1)

What each book layer becomes (the layers' math, gradients and oracle tests are in
:mod:`nablanet.layers`):

- ``ConvPoolLayer``: ``Conv2D`` (valid, stride 1, linear) -> ``MaxPool2D(poolsize)`` ->
  ``Activation(activation_fn)``: the book's ``activation_fn(max_pool(conv(x)) + b)``
  (the bias, one per filter, is added before pooling here, which gives the same maxima);
- ``FullyConnectedLayer``: ``Dropout(p_dropout)`` (if > 0) -> ``Dense(activation_fn)``,
  with a ``Flatten`` in front when the layer below is convolutional;
- ``SoftmaxLayer``: ``Dropout(p_dropout)`` (if > 0) -> a linear ``Dense``; the softmax
  and its log-likelihood cost are the model's output activation and loss.

Initial parameters are drawn as the book draws them: weights from N(0, 1/n_out) (for a
``ConvPoolLayer``, ``n_out = filters * filter size / pool size``), a
``FullyConnectedLayer``'s biases from N(0, 1), the ``SoftmaxLayer``'s weights and
biases zero; a ``ConvPoolLayer``'s biases start at zero (the book: N(0, 1); see below).
``SGD`` is the book's: plain mini-batch SGD on the mean log-likelihood plus
``lmbda / 2 * sum ||w||^2 / num_training_batches``, i.e. weight decay
``lmbda / num_training_batches`` on every layer's weights; only whole mini-batches,
in the data's order (the book does not shuffle); validation after every epoch and the
test accuracy at the best validation accuracy, logged in the book's words.

Departures: a ``ConvPoolLayer``'s biases start at zero. The book's N(0, 1), one per
filter, gives each feature map a large offset shared by every position and every image
(``ReLU(conv + b) >= b``: with b ~ 1 the 2,880 inputs of the next layer are mostly a
constant); dropout above it multiplies each of those constant inputs by 0 or
``1 / (1 - p)`` independently, which adds to every unit's input a noise far larger than
what distinguishes one image from another, so with ``p_dropout=0.5`` on the dense layers
the network collapsed to one class (11.3% on the MNIST sample after 2,400 updates at
η 0.03, with most units dead), in the book's formulation of dropout too (checked in
PyTorch), while with zero conv biases it trains (the gradients were right all along:
``tests/book/test_network3.py`` checks them through every dropped layer). Chapter 3
notes that the biases' initialisation matters little; here it does.

Dropout is inverted (kept units are scaled by ``1 / (1 - p)`` while training) where the
book scales the weights by ``1 - p`` at inference: the same family of models, but a
layer above a dropout with weights ``w`` here is the book's layer with weights
``w / (1 - p)``, so the same draw starts ``1 / (1 - p)`` times larger in the book's
terms and the same ``eta`` is a step ``eta / (1 - p)**2`` in the book's weights (4x
for ``p = 0.5``): the steps with ``p_dropout > 0`` are not the book's to the digit.
Accuracies are computed on every validation and test example, not on whole mini-batches
only; the data are NumPy arrays (``load_data_shared`` returns
``(X, y)`` tuples instead of Theano shared variables); the lines are logged through
:mod:`logging` (see :mod:`nablanet.book`), not printed.
"""

from __future__ import annotations

import itertools
import logging
import numbers
from typing import ClassVar, NamedTuple

import numpy as np

from nablanet.book import library_lines_off, seed_from_globals
from nablanet.book.mnist_loader import load_data
from nablanet.book.network import sigmoid
from nablanet.layers import Activation, Conv2D, Dense, Dropout, Flatten, MaxPool2D
from nablanet.models.sequential import Sequential
from nablanet.optimizers import SGD
from nablanet.validation import as_examples

__all__ = [
    "ConvPoolLayer",
    "FullyConnectedLayer",
    "Network",
    "Parameter",
    "ReLU",
    "SGDResult",
    "SoftmaxLayer",
    "linear",
    "load_data_shared",
    "sigmoid",
    "size",
    "tanh",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------
# Activation functions: the book's names; each stands for a nablanet activation
# --------------------------------------------------------------------------------------
def linear(z):
    """The identity, ``linear(z) = z``."""
    return z


def ReLU(z):
    """Rectified linear unit, ``max(0, z)`` elementwise (ch. 3, ch. 6)."""
    return np.maximum(0.0, z)


def tanh(z):
    """Hyperbolic tangent, elementwise (ch. 3)."""
    return np.tanh(z)


#: the nablanet activation each of the book's functions stands for
ACTIVATION_NAMES = {sigmoid: "sigmoid", tanh: "tanh", np.tanh: "tanh", ReLU: "relu",
                    linear: "identity"}


def _activation_name(fn) -> str:
    try:
        return ACTIVATION_NAMES[fn]
    except (KeyError, TypeError):
        raise TypeError(
            "activation_fn: expected one of network3's sigmoid, tanh, ReLU, linear; "
            f"got {fn!r}"
        ) from None


def _is_positive_int(v) -> bool:
    return isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1  # type: ignore[operator]  # numbers' stubs have no comparisons


def _positive_int(name: str, value) -> int:
    if not _is_positive_int(value):
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def _positive_ints(name: str, value, length: int) -> tuple[int, ...]:
    items = tuple(value) if isinstance(value, list | tuple) else ()
    if len(items) != length or not all(_is_positive_int(v) for v in items):
        raise ValueError(f"{name}: expected {length} integers >= 1, got {value!r}")
    return tuple(int(v) for v in items)


def _dropout(value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or \
            not 0 <= value < 1:  # type: ignore[operator]  # numbers' stubs have no comparisons
        raise ValueError(f"p_dropout: expected a number in [0, 1), got {value!r}")
    return float(value)


class Parameter(np.ndarray):
    """A layer's ``w`` or ``b``: a view of the array the network trains, which answers the
    book's Theano calls (``w.eval()``, ``w.get_value()``, ``w.set_value(v)``) with an
    error saying what to write instead. Arithmetic on it gives plain arrays."""

    _THEANO: ClassVar[dict[str, str]] = {
        "eval": "use the array itself: layer.w (or layer.w.copy() for a snapshot)",
        "get_value": "use the array itself: layer.w (or layer.w.copy() for a snapshot)",
        "set_value": "assign in place: layer.w[...] = values"}

    def __array_wrap__(self, array, context=None, return_scalar=False):
        out = np.asarray(array).view(np.ndarray)
        return out[()] if return_scalar else out

    def __getattr__(self, name):
        if name in self._THEANO:
            raise AttributeError(
                f"{name}() is Theano's: in nablanet a layer's w and b are NumPy arrays "
                f"(no Theano shared variables), so {self._THEANO[name]}")
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")


def _parameter(array: np.ndarray) -> Parameter:
    return array.view(Parameter)


# --------------------------------------------------------------------------------------
# The book's layers: specifications that Network turns into nablanet layers
# --------------------------------------------------------------------------------------
class ConvPoolLayer:
    """A convolutional layer followed by max-pooling (the book's ``ConvPoolLayer``).

    Parameters
    ----------
    filter_shape : tuple of 4 ints
        ``(number of filters, input feature maps, filter height, filter width)``.
    image_shape : tuple of 4 ints
        ``(mini-batch size, input feature maps, image height, image width)``.
    poolsize : tuple of 2 ints, default (2, 2)
        The max-pooling window (non-overlapping; rows and columns left over are dropped).
    activation_fn : default sigmoid
        ``sigmoid``, ``tanh``, ``ReLU`` or ``linear`` of this module.

    Attributes
    ----------
    output_shape : tuple of 3 ints
        ``(filters, height, width)`` of one example's output.
    n_out : int
        Their product: the ``n_in`` of a following ``FullyConnectedLayer``.
    w, b : Parameter
        The filters ``(filters, maps, height, width)`` and biases ``(filters,)``, once a
        :class:`Network` has built the layer: views of the arrays it trains (NumPy
        arrays; Theano's ``w.eval()`` raises an error saying to use ``w`` itself).

    Raises
    ------
    ValueError
        For shapes that are not positive integers, feature maps that differ between
        ``filter_shape`` and ``image_shape``, or a filter or pool larger than its input.
    TypeError
        For an unknown ``activation_fn``.
    """

    def __init__(self, filter_shape, image_shape, poolsize=(2, 2), activation_fn=sigmoid):
        self.filter_shape = _positive_ints("filter_shape", filter_shape, 4)
        self.image_shape = _positive_ints("image_shape", image_shape, 4)
        self.poolsize = _positive_ints("poolsize", poolsize, 2)
        self.activation_fn = activation_fn
        self.activation = _activation_name(activation_fn)
        filters, maps, fh, fw = self.filter_shape
        if maps != self.image_shape[1]:
            raise ValueError(f"filter_shape: expected {self.image_shape[1]} input feature maps "
                             f"(image_shape[1]), got {maps}")
        conv = (self.image_shape[2] - fh + 1, self.image_shape[3] - fw + 1)
        if min(conv) < 1 or conv[0] < self.poolsize[0] or conv[1] < self.poolsize[1]:
            raise ValueError(f"filter_shape {self.filter_shape} and poolsize {self.poolsize}: "
                             f"too large for images of {self.image_shape[2:]}")
        self.output_shape = (filters, conv[0] // self.poolsize[0], conv[1] // self.poolsize[1])
        self.n_out = int(np.prod(self.output_shape))

    def layers(self, rng: np.random.Generator, dtype) -> list:
        filters, maps, fh, fw = self.filter_shape
        conv = Conv2D(maps, filters, (fh, fw), activation="identity", dtype=dtype)
        n_out = filters * fh * fw / np.prod(self.poolsize)
        conv.W[...] = rng.normal(0.0, np.sqrt(1.0 / n_out), conv.W.shape)
        # The book draws these biases from N(0, 1); they start at zero here (see the
        # module docstring, "Departures": with N(0, 1), dropout above cannot train).
        conv.b[...] = 0.0
        self.w, self.b = _parameter(conv.W), _parameter(conv.b)
        return [conv, MaxPool2D(self.poolsize, dtype=dtype),
                Activation(self.activation, dtype=dtype)]


class FullyConnectedLayer:
    """A fully connected layer with dropout on its input (the book's
    ``FullyConnectedLayer``).

    Parameters
    ----------
    n_in, n_out : int
    activation_fn : default sigmoid
        ``sigmoid``, ``tanh``, ``ReLU`` or ``linear`` of this module.
    p_dropout : float, default 0
        Probability of dropping each input while training, in [0, 1).

    Attributes
    ----------
    w, b : Parameter
        ``(n_in, n_out)`` and ``(n_out,)`` once a :class:`Network` has built the layer
        (views of the arrays it trains, as :class:`ConvPoolLayer`'s).

    Raises
    ------
    ValueError
        For sizes that are not positive integers or ``p_dropout`` outside [0, 1).
    TypeError
        For an unknown ``activation_fn``.
    """

    def __init__(self, n_in, n_out, activation_fn=sigmoid, p_dropout=0.0):
        self.n_in, self.n_out = _positive_int("n_in", n_in), _positive_int("n_out", n_out)
        self.activation_fn = activation_fn
        self.activation = _activation_name(activation_fn)
        self.p_dropout = _dropout(p_dropout)

    def layers(self, rng: np.random.Generator, dtype) -> list:
        dense = Dense(self.n_in, self.n_out, activation=self.activation, dtype=dtype)
        dense.W[...] = rng.normal(0.0, np.sqrt(1.0 / self.n_out), dense.W.shape)
        dense.b[...] = rng.normal(0.0, 1.0, dense.b.shape)
        return self._with_dropout(dense, rng, dtype)

    def _with_dropout(self, dense: Dense, rng, dtype) -> list:
        self.w, self.b = _parameter(dense.W), _parameter(dense.b)
        if not self.p_dropout:
            return [dense]
        return [Dropout(self.p_dropout, seed=rng, dtype=dtype), dense]


class SoftmaxLayer(FullyConnectedLayer):
    """The softmax output layer with the log-likelihood cost (the book's
    ``SoftmaxLayer``); its weights and biases start at zero.

    Parameters
    ----------
    n_in, n_out : int
    p_dropout : float, default 0
        As :class:`FullyConnectedLayer`.

    Raises
    ------
    ValueError
        As :class:`FullyConnectedLayer`.
    """

    def __init__(self, n_in, n_out, p_dropout=0.0):
        super().__init__(n_in, n_out, activation_fn=linear, p_dropout=p_dropout)

    def layers(self, rng: np.random.Generator, dtype) -> list:
        dense = Dense(self.n_in, self.n_out, dtype=dtype)
        dense.W[...] = 0.0
        dense.b[...] = 0.0
        return self._with_dropout(dense, rng, dtype)


# --------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------
def load_data_shared(filename=None, *, offline: bool = False, dtype=np.float64):
    """The training, validation and test sets as ``(X, y)`` arrays (the book's
    ``load_data_shared``, without Theano's shared variables).

    ``filename`` is any source of :func:`nablanet.book.mnist_loader.load_data` (the
    book's ``mnist.pkl.gz``, a directory of IDX files, ``"mnist"``, ...); by default
    ``$NABLANET_BOOK_DATA`` or MNIST. Returns a list ``[training, validation, test]`` of
    ``(X (n, 784), y (n,))`` tuples. Raises as :func:`~nablanet.book.mnist_loader.load_data`.
    """
    return list(load_data(filename, offline=offline, dtype=dtype))


def size(data) -> int:
    """Number of examples of a data set ``(X, y)`` (the book's ``size``)."""
    return len(data[0])


# --------------------------------------------------------------------------------------
# The network
# --------------------------------------------------------------------------------------
class SGDResult(NamedTuple):
    """What :meth:`Network.SGD` found: per-epoch validation accuracies (fractions), the
    best of them, the iteration (mini-batch number) it was reached at, and the test
    accuracy there (None without test data)."""

    validation_accuracy: list
    best_validation_accuracy: float
    best_iteration: int
    test_accuracy: float | None


class Network:
    """A stack of the book's layers, trained by mini-batch SGD (the book's
    ``network3.Network``).

    Parameters
    ----------
    layers : list
        :class:`ConvPoolLayer` s, then :class:`FullyConnectedLayer` s, ending with a
        :class:`SoftmaxLayer`; each layer's input size matches the output of the one
        before.
    mini_batch_size : int
        Kept for the book's signature; :meth:`SGD`'s argument sets the batch size.
    seed : int, optional
        Seed of the generator behind the initial weights, the dropout masks and the
        shuffling; default: one drawn from the global generators (the book's
        ``random.seed`` and ``np.random.seed``, see
        :func:`nablanet.book.seed_from_globals`), kept in ``seed``.
    dtype : numpy dtype, default float64

    Attributes
    ----------
    layers : list
        The book's layers, each with ``w`` and ``b``.
    model : nablanet.models.sequential.Sequential
        The nablanet model that computes and trains.
    params : list of ndarray
        Every weight and bias, layer by layer (the book's ``params``).

    Raises
    ------
    ValueError
        For an empty list, a layer order the book does not build, sizes that do not
        chain, or a bad ``mini_batch_size``.
    TypeError
        For an object that is not one of this module's layers.
    """

    def __init__(self, layers, mini_batch_size, *, seed: int | None = None,
                 dtype=np.float64):
        self.layers = list(layers)
        self.mini_batch_size = _positive_int("mini_batch_size", mini_batch_size)
        _check_stack(self.layers)
        self.seed = seed_from_globals(seed)
        self.rng = np.random.default_rng(self.seed)
        first = self.layers[0]
        if isinstance(first, ConvPoolLayer):
            self.input_shape = first.image_shape[1:]
        else:
            self.input_shape = (first.n_in,)
        built = []
        for below, layer in zip([None, *self.layers[:-1]], self.layers, strict=True):
            if isinstance(below, ConvPoolLayer) and not isinstance(layer, ConvPoolLayer):
                built.append(Flatten(dtype=dtype))
            built.extend(layer.layers(self.rng, dtype))
        self.model = Sequential(built, output_activation="softmax", loss="cross_entropy",
                                seed=self.rng, dtype=dtype, input_shape=self.input_shape)
        self.params = [p for layer in self.layers for p in (layer.w, layer.b)]

    def SGD(self, training_data, epochs, mini_batch_size, eta, validation_data,
            test_data=None, lmbda=0.0) -> SGDResult:
        """Train by mini-batch SGD, validating after every epoch (the book's ``SGD``).

        Parameters
        ----------
        training_data, validation_data, test_data : tuple ``(X, y)``
            Arrays as :func:`load_data_shared` returns them (``X (n, 784)``, ``y (n,)``
            labels), or the book's lists of ``(x, y)`` tuples.
        epochs, mini_batch_size : int
        eta : float
            Learning rate on the mini-batch mean of the cost.
        lmbda : float, default 0
            L2 regularization; weight decay ``lmbda / num_training_batches``.

        Returns
        -------
        SGDResult
            The book prints these; it returns nothing.

        Raises
        ------
        ValueError
            For data whose inputs do not fit the first layer, labels outside the
            classes, fewer training examples than one mini-batch, a negative ``lmbda``,
            or as :class:`nablanet.optimizers.SGD` for ``eta``.
        """
        mini_batch_size = _positive_int("mini_batch_size", mini_batch_size)
        epochs = _positive_int("epochs", epochs)
        if isinstance(lmbda, bool) or not isinstance(lmbda, numbers.Real) or \
                not lmbda >= 0:  # type: ignore[operator]  # numbers' stubs have no comparisons
            raise ValueError(f"lmbda: expected a number >= 0, got {lmbda!r}")
        X, y = self._inputs(training_data, "training_data")
        num_training_batches = len(X) // mini_batch_size
        if num_training_batches < 1:
            raise ValueError(f"mini_batch_size: expected at most the number of training "
                             f"examples ({len(X)}), got {mini_batch_size}")
        n = num_training_batches * mini_batch_size  # whole mini-batches only, as the book
        X, y = X[:n], y[:n]
        validation = self._inputs(validation_data, "validation_data")
        test = None if test_data is None else self._inputs(test_data, "test_data")
        self.model.optimizer = SGD(eta, weight_decay=lmbda / num_training_batches)
        best_validation_accuracy, best_iteration, test_accuracy = 0.0, 0, None
        history = []
        for epoch in range(epochs):
            first = num_training_batches * epoch
            for iteration in range(-(-first // 1000) * 1000, first + num_training_batches,
                                   1000):
                log.info("Training mini-batch number %d", iteration)
            self._train_one_epoch(X, y, mini_batch_size)
            iteration = first + num_training_batches - 1
            validation_accuracy = self._accuracy(*validation)
            history.append(validation_accuracy)
            log.info("Epoch %d: validation accuracy %.2f%%", epoch, 100 * validation_accuracy)
            if validation_accuracy >= best_validation_accuracy:
                log.info("This is the best validation accuracy to date.")
                best_validation_accuracy, best_iteration = validation_accuracy, iteration
                if test is not None:
                    test_accuracy = self._accuracy(*test)
                    log.info("The corresponding test accuracy is %.2f%%", 100 * test_accuracy)
        log.info("Finished training network.")
        log.info("Best validation accuracy of %.2f%% obtained at iteration %d",
                 100 * best_validation_accuracy, best_iteration)
        if test_accuracy is not None:
            log.info("Corresponding test accuracy of %.2f%%", 100 * test_accuracy)
        return SGDResult(history, best_validation_accuracy, best_iteration, test_accuracy)

    def accuracy(self, data) -> float:
        """Fraction of the examples of ``data`` (as in :meth:`SGD`) classified right.

        Raises
        ------
        ValueError
            As :meth:`SGD` for data that do not fit the network.
        """
        return self._accuracy(*self._inputs(data, "data"))

    def predict_proba(self, X) -> np.ndarray:
        """The softmax outputs ``(n, n_classes)`` for the inputs ``X`` (the book's
        ``output`` of the last layer, dropout off as at test time).

        Parameters
        ----------
        X : array_like
            Inputs one per row ``(n, 784)`` as :func:`load_data_shared` gives them, or
            already shaped for the first layer (images ``(n, 1, 28, 28)``).

        Raises
        ------
        ValueError
            If the inputs do not have the first layer's number of values.
        """
        return self.model.predict_proba(self._shaped(X, "X"))

    def predict(self, X) -> np.ndarray:
        """The class index (int64 ``(n,)``) of each input (the book's ``y_out``);
        ``X`` and errors as :meth:`predict_proba`."""
        return self.model.predict(self._shaped(X, "X"))

    def _accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.model.predict(X) == y))

    def _train_one_epoch(self, X, y, mini_batch_size) -> None:
        with library_lines_off():  # its epoch line would say epoch 1 every time
            self.model.fit(X, y, epochs=1, batch_size=mini_batch_size, shuffle=False,
                           monitor_training=False)

    def _inputs(self, data, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(X, y)`` with ``X`` shaped for the first layer (images ``(n, C, H, W)``)."""
        X, y = as_examples(data, name)
        if y.ndim != 1:
            y = y.argmax(axis=1)
        return self._shaped(X, name), y

    def _shaped(self, X, name: str) -> np.ndarray:
        """``X`` as ``(n, *input_shape)`` (rows of the flat values, or that shape)."""
        X = np.asarray(X)
        per_example = int(np.prod(self.input_shape))
        if X.ndim < 1 or int(np.prod(X.shape[1:])) != per_example:
            raise ValueError(f"{name}: expected inputs of {per_example} values "
                             f"({self.input_shape}) per row, got shape {X.shape}")
        return X.reshape(len(X), *self.input_shape)


def _check_stack(layers: list) -> None:
    """Raise unless ``layers`` is ConvPool*, FullyConnected*, Softmax with chained sizes."""
    kinds = (ConvPoolLayer, FullyConnectedLayer)
    for i, layer in enumerate(layers):
        if not isinstance(layer, kinds):
            raise TypeError(f"layers[{i}]: expected a ConvPoolLayer, FullyConnectedLayer or "
                            f"SoftmaxLayer, got {type(layer).__name__}")
    if not layers or not isinstance(layers[-1], SoftmaxLayer):
        raise ValueError("layers: expected a list ending with a SoftmaxLayer")
    for i, (below, layer) in enumerate(itertools.pairwise(layers), start=1):
        if isinstance(layer, ConvPoolLayer):
            if not isinstance(below, ConvPoolLayer):
                raise ValueError(f"layers[{i}]: a ConvPoolLayer must follow the input or "
                                 "another ConvPoolLayer")
            if layer.image_shape[1:] != below.output_shape:
                raise ValueError(f"layers[{i}]: image_shape {layer.image_shape[1:]} does not "
                                 f"match the output {below.output_shape} of layers[{i - 1}]")
        elif layer.n_in != below.n_out:
            raise ValueError(f"layers[{i}]: n_in={layer.n_in} does not match the "
                             f"{below.n_out} outputs of layers[{i - 1}]")
