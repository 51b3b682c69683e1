"""Chapter 1 as the book runs it (Nielsen ch. 1, "Implementing our network to classify
digits"), on the 10,000-image MNIST sample, with Python 3's zip objects."""

import logging
import random

import numpy as np

import nablanet
from nablanet.book import network


def test_network_builds_nablanets_network():
    net = network.Network([3, 2], seed=0)
    assert type(net) is nablanet.Network
    assert np.array_equal(net.weights[0], nablanet.Network([3, 2], seed=0).weights[0])


def test_the_books_global_seeding_fixes_the_run():
    """As network2's and network3's: the book seeds both global generators and builds the
    network without a seed."""
    def build(seed_value, **kwargs):
        random.seed(seed_value)
        np.random.seed(seed_value)  # noqa: NPY002 (the book's habit)
        return network.Network([6, 4, 3], **kwargs)

    a, b, c = build(12345678), build(12345678), build(1)
    assert a.seed == b.seed != c.seed
    for wa, wb, wc in zip(a.weights, b.weights, c.weights, strict=True):
        assert np.array_equal(wa, wb) and not np.array_equal(wa, wc)
    data = [(np.full((6, 1), i / 10), np.eye(3)[:, [i % 3]]) for i in range(10)]
    a.SGD(data, 2, 3, 1.0)
    b.SGD(data, 2, 3, 1.0)  # the shuffling too
    assert all(np.array_equal(wa, wb) for wa, wb in zip(a.weights, b.weights, strict=True))
    explicit = [build(s, seed=7).weights[0] for s in (1, 2)]  # seed= wins over the globals
    assert build(3, seed=7).seed == 7 and np.array_equal(*explicit)


def test_sigmoid_and_its_derivative():
    z = np.array([-800.0, -2.0, 0.0, 3.0, 800.0])
    s = 1.0 / (1.0 + np.exp(-z[1:4]))
    assert np.allclose(network.sigmoid(z)[1:4], s, rtol=1e-14)
    assert network.sigmoid(z)[0] == 0.0 and network.sigmoid(z)[-1] == 1.0
    h = 1e-6
    numeric = (network.sigmoid(z + h) - network.sigmoid(z - h)) / (2 * h)
    assert np.allclose(network.sigmoid_prime(z), numeric, atol=1e-9)


def test_chapter_1_call_sequence_learns_digits(book_data, caplog):
    training_data, _, test_data = book_data
    training_data = zip(*zip(*training_data, strict=True), strict=True)  # Python 3: a zip
    net = network.Network([784, 30, 10], seed=1)  # the book's call, plus a seed
    with caplog.at_level(logging.INFO, logger="nablanet"):
        net.SGD(training_data, 3, 10, 3.0, test_data=iter(test_data))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch")]
    assert [line.split(":")[0] for line in lines] == ["Epoch 0", "Epoch 1", "Epoch 2"]
    assert " / 2000" in lines[-1]
    # 6,000 training images, 3 epochs; seed 1 reaches 1758 / 2000 (87.9 %)
    assert net.evaluate(test_data) >= 1700
