"""The book's chapter-1 ``network.py``: nablanet's :class:`~nablanet.Network` itself,
seeded as the book's scripts seed.

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

As in the book, the global generators decide the run: without ``seed=``, the seed is
drawn from them, so ``random.seed(...)`` and ``np.random.seed(...)`` before
``Network(...)`` fix the weights and the shuffling, as for ``network2`` and ``network3``
(:func:`nablanet.book.seed_from_globals`).
"""

from __future__ import annotations

import numpy as np

import nablanet
from nablanet.activations import get_activation
from nablanet.book import seed_from_globals

__all__ = ["Network", "sigmoid", "sigmoid_prime"]

_SIGMOID = get_activation("sigmoid")


def Network(sizes, *, seed: int | None = None, **kwargs) -> nablanet.Network:  # the book's name
    """Chapter 1's ``network.Network(sizes)``: a :class:`nablanet.Network` (the same class,
    so it saves, exports and trains as any), seeded from the global generators when
    ``seed`` is None.

    Parameters
    ----------
    sizes : sequence of int
        Neurons per layer, input first (``[784, 30, 10]``).
    seed : int, optional
        Seed of the initial weights and the shuffling; default: one drawn from the global
        generators the book seeds (``random.seed`` and ``np.random.seed``, see
        :func:`nablanet.book.seed_from_globals`), kept in ``seed``.
    **kwargs
        The other keyword arguments of :class:`nablanet.Network` (the book's chapter 1 uses
        its defaults: sigmoid neurons, the quadratic cost, N(0, 1) weights).

    Returns
    -------
    nablanet.Network

    Raises
    ------
    ValueError, TypeError
        As :class:`nablanet.Network`.
    """
    return nablanet.Network(sizes, seed=seed_from_globals(seed), **kwargs)


def sigmoid(z):
    """The sigmoid function ``1 / (1 + exp(-z))``, elementwise (Nielsen ch. 1, eq. 3)."""
    return _SIGMOID(np.asarray(z, dtype=np.float64))


def sigmoid_prime(z):
    """Derivative of the sigmoid, ``sigmoid(z) * (1 - sigmoid(z))``, elementwise."""
    s = sigmoid(z)
    return s * (1.0 - s)
