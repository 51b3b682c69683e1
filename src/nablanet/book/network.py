"""The book's chapter-1 ``network.py``: nablanet's :class:`~nablanet.Network` itself.

Nielsen, *Neural Networks and Deep Learning*, ch. 1. Nablanet's ``Network`` keeps the
book's face (``Network(sizes)``, ``SGD(training_data, epochs, mini_batch_size, eta,
test_data=None)``, ``feedforward``, ``backprop``, ``update_mini_batch``, ``evaluate``,
``weights``, ``biases``) and trains with its vectorized path, so the book's code runs
with one import line changed::

    from nablanet.book import mnist_loader, network
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    net = network.Network([784, 30, 10])
    net.SGD(training_data, 30, 10, 3.0, test_data=test_data)

Departures from the book: ``weights[l]`` has shape ``(n_in, n_out)``, the transpose of
the book's, and biases are vectors ``(n_out,)`` (nablanet works on rows, ``X @ W + b``);
``SGD`` logs its per-epoch line (``Epoch 0: 9129 / 10000 ...``) through :mod:`logging`
instead of printing it (importing :mod:`nablanet.book` shows those lines on stdout
unless logging is configured) and returns a :class:`~nablanet.training.History`; the
training data may be any iterable of ``(x, y)`` tuples, such as Python 3's ``zip``.
"""

from __future__ import annotations

import numpy as np

from nablanet import Network
from nablanet.activations import get_activation

__all__ = ["Network", "sigmoid", "sigmoid_prime"]

_SIGMOID = get_activation("sigmoid")


def sigmoid(z):
    """The sigmoid function ``1 / (1 + exp(-z))``, elementwise (Nielsen ch. 1, eq. 3)."""
    return _SIGMOID(np.asarray(z, dtype=np.float64))


def sigmoid_prime(z):
    """Derivative of the sigmoid, ``sigmoid(z) * (1 - sigmoid(z))``, elementwise."""
    s = sigmoid(z)
    return s * (1.0 - s)
