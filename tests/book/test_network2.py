"""Chapter 3's network2 as the book runs it (Nielsen ch. 3: "The cross-entropy cost
function", "Overfitting and regularization", "Weight initialization")."""

import json
import logging

import numpy as np
import pytest

from nablanet.book import network2
from nablanet.book.network import sigmoid, sigmoid_prime


def book_gradient(net, x, y):
    """The book's backprop for one example (BP1-BP4, ch. 2) on nablanet's row layout,
    with the output error from the cost class: the reference the training must match."""
    activations, zs = [x], []
    for W, b in zip(net.weights, net.biases, strict=True):
        zs.append(activations[-1] @ W + b)
        activations.append(sigmoid(zs[-1]))
    delta = net.cost.delta(zs[-1], activations[-1], y)
    nabla_w, nabla_b = [None] * len(zs), [None] * len(zs)
    for layer in range(len(zs) - 1, -1, -1):
        nabla_w[layer], nabla_b[layer] = np.outer(activations[layer], delta), delta
        if layer:
            delta = (net.weights[layer] @ delta) * sigmoid_prime(zs[layer - 1])
    return nabla_w, nabla_b


@pytest.mark.parametrize("cost", [network2.CrossEntropyCost, network2.QuadraticCost])
def test_one_sgd_step_is_the_books_update_with_l2(cost):
    rng = np.random.default_rng(0)
    n, eta, lmbda = 12, 0.5, 3.0
    X, labels = rng.random((n, 6)), rng.integers(0, 3, n)
    Y = np.eye(3)[labels]
    net = network2.Network([6, 5, 3], cost=cost, seed=2)
    weights = [w.copy() for w in net.weights]
    biases = [b.copy() for b in net.biases]
    grads = [book_gradient(net, x, y) for x, y in zip(X, Y, strict=True)]
    # one mini-batch of all n examples: w -> (1 - eta lmbda / n) w - eta / m sum grad
    net.SGD(list(zip(X[:, :, None], Y[:, :, None], strict=True)), 1, n, eta, lmbda=lmbda)
    for layer, (w, b) in enumerate(zip(weights, biases, strict=True)):
        nw = sum(g[0][layer] for g in grads)
        nb = sum(g[1][layer] for g in grads)
        assert np.allclose(net.weights[layer], (1 - eta * lmbda / n) * w - eta / n * nw,
                           rtol=0, atol=1e-12)
        assert np.allclose(net.biases[layer], b - eta / n * nb, rtol=0, atol=1e-12)


def test_the_books_update_mini_batch_equals_a_full_batch_sgd_step():
    rng = np.random.default_rng(9)
    X, labels = rng.random((8, 5)), rng.integers(0, 3, 8)
    batch = list(zip(X[:, :, None], np.eye(3)[labels][:, :, None], strict=True))
    nets = [network2.Network([5, 4, 3], seed=3) for _ in range(2)]
    nets[0].update_mini_batch(batch, 0.7, 2.0, 8)
    nets[1].SGD(batch, 1, 8, 0.7, lmbda=2.0)
    for a, b in zip(nets[0].weights + nets[0].biases, nets[1].weights + nets[1].biases,
                    strict=True):
        assert np.allclose(a, b, rtol=0, atol=1e-12)


def test_cost_functions_on_columns_and_rows():
    rng = np.random.default_rng(3)
    A, Y = rng.random((4, 10)), np.eye(10)[[1, 5, 5, 0]]
    for cost in (network2.QuadraticCost, network2.CrossEntropyCost):
        per_column = sum(cost.fn(a[:, None], y[:, None]) for a, y in zip(A, Y, strict=True))
        assert cost.fn(A, Y) == pytest.approx(per_column, rel=1e-13)
    a, y = A[0], Y[0]
    assert network2.QuadraticCost.fn(a, y) == pytest.approx(0.5 * np.sum((a - y) ** 2))
    expected = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))
    assert network2.CrossEntropyCost.fn(a, y) == pytest.approx(expected)
    saturated = network2.CrossEntropyCost.fn(np.array([1.0, 0.0]), np.array([1.0, 0.0]))
    assert saturated == 0.0  # the book's nan_to_num: 0 * log(0) counts 0


def test_initializers_draw_the_books_scales():
    net = network2.Network([784, 30, 10], seed=4)
    assert net.weights[0].std() == pytest.approx(1 / np.sqrt(784), rel=0.05)
    assert net.biases[0].std() == pytest.approx(1.0, rel=0.4)
    net.large_weight_initializer()
    assert net.weights[0].std() == pytest.approx(1.0, rel=0.05)
    net.default_weight_initializer()
    assert net.weights[1].std() == pytest.approx(1 / np.sqrt(30), rel=0.15)


def test_chapter_3_call_sequence_monitors_four_lists(book_data, caplog):
    training_data, _, test_data = book_data
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost, seed=1)
    net.large_weight_initializer()
    with caplog.at_level(logging.INFO, logger="nablanet"):
        evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = net.SGD(
            training_data[:1000], 5, 10, 0.5, evaluation_data=test_data, lmbda=0.1,
            monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
            monitor_training_cost=True, monitor_training_accuracy=True)
    for values in (evaluation_cost, evaluation_accuracy, training_cost, training_accuracy):
        assert len(values) == 5
    json.dumps([evaluation_cost, evaluation_accuracy, training_cost, training_accuracy])
    # the last entries are the book's total_cost and accuracy of the final network
    assert training_cost[-1] == net.total_cost(training_data[:1000], 0.1)
    assert evaluation_accuracy[-1] == net.accuracy(test_data)
    assert training_accuracy[-1] == net.accuracy(training_data[:1000], convert=True)
    # total_cost includes the L2 term with N = len(data), as in the book
    l2 = sum(float(np.sum(w ** 2)) for w in net.weights)
    data_cost = sum(network2.CrossEntropyCost.fn(net.feedforward(x), np.eye(10)[[y]].T)
                    for x, y in test_data) / len(test_data)
    assert evaluation_cost[-1] == pytest.approx(data_cost + 0.5 * 0.1 / 2000 * l2, rel=1e-10)
    assert training_cost[-1] < training_cost[0]
    # 1,000 training images, 5 epochs from the large initial weights (which learn slowly,
    # as ch. 3 shows): seed 1 reaches 1523 / 2000 (76 %); chance is 10 %
    assert evaluation_accuracy[-1] >= 1450
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("nablanet")]
    assert lines[:5] == [
        "Epoch 0 training complete",
        f"Cost on training data: {training_cost[0]}",
        f"Accuracy on training data: {training_accuracy[0]} / 1000",
        f"Cost on evaluation data: {evaluation_cost[0]}",
        f"Accuracy on evaluation data: {evaluation_accuracy[0]} / 2000",
    ]


def test_sgd_takes_zip_objects_and_fills_only_the_flagged_lists():
    rng = np.random.default_rng(5)
    X, labels = rng.random((30, 4)), rng.integers(0, 2, 30)
    Y = np.eye(2)[labels][:, :, None]
    net = network2.Network([4, 3, 2], cost=network2.QuadraticCost, seed=0)
    out = net.SGD(zip(X[:, :, None], Y, strict=True), 2, 5, 1.0,
                  evaluation_data=zip(X[:, :, None], labels, strict=True),
                  monitor_evaluation_accuracy=True)
    assert [len(v) for v in out] == [0, 2, 0, 0]
    assert all(isinstance(v, int) for v in out[1])


def test_save_and_load_round_trip_in_the_books_layout(tmp_path):
    net = network2.Network([6, 4, 3], cost=network2.QuadraticCost, seed=6)
    path = tmp_path / "net.json"
    net.save(path)
    data = json.loads(path.read_text())
    assert data["sizes"] == [6, 4, 3] and data["cost"] == "QuadraticCost"
    assert np.array(data["weights"][0]).shape == (4, 6)  # the book's w: (n_out, n_in)
    assert np.array(data["biases"][1]).shape == (3, 1)
    again = network2.load(path)
    assert again.cost is network2.QuadraticCost and again.sizes == net.sizes
    x = np.random.default_rng(7).random((6, 1))
    assert np.array_equal(again.feedforward(x), net.feedforward(x))
    # the book's feedforward on its own layout: a -> sigmoid(w a + b), columns
    a = x
    for w, b in zip(data["weights"], data["biases"], strict=True):
        a = sigmoid(np.array(w) @ a + np.array(b))
    assert np.allclose(again.feedforward(x), a, rtol=1e-13)


@pytest.mark.parametrize("content, message", [
    ("{not json", r"line 1: not JSON"),
    ('{"sizes": [2, 1]}',
     r"expected the keys sizes, weights, biases, cost; missing \['biases', 'cost', 'weights'\]"),
    ('{"sizes": [2, 1], "weights": [[[1, 2]]], "biases": [[[0]]], "cost": "Foo"}',
     r"cost: expected one of \['CrossEntropyCost', 'QuadraticCost'\], found 'Foo'"),
    ('{"sizes": [2, 1], "weights": [[[1, 2, 3]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
     r"weights\[0\]: expected numbers of shape \(1, 2\), found \(1, 3\)"),
    ('{"sizes": [2, 1], "weights": [[[1], [2, 3]]], "biases": [[[0]]], "cost": "QuadraticCost"}',
     r"weights\[0\]: .*ragged or non-numeric"),
    ('{"sizes": [2, 1], "weights": [], "biases": [[[0]]], "cost": "QuadraticCost"}',
     r"weights: expected 1 arrays \(one per layer\)"),
    ('{"sizes": [2], "weights": [], "biases": [], "cost": "QuadraticCost"}',
     r"sizes: expected at least two"),
])
def test_load_names_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"bad.json: {message}"):
        network2.load(path)


def test_a_cost_instance_stands_for_its_class():
    net = network2.Network([2, 1], cost=network2.QuadraticCost(), seed=0)
    assert net.cost is network2.QuadraticCost
    assert net.loss.name == network2.Network([2, 1], cost=network2.QuadraticCost).loss.name


def test_bad_arguments_are_named():
    with pytest.raises(TypeError, match="cost: expected one of the classes"):
        network2.Network([2, 1], cost="quadratic")
    with pytest.raises(TypeError, match="cost: expected one of the classes"):
        network2.Network([2, 1], cost=object())
    net = network2.Network([2, 1], seed=0)
    data = [(np.zeros((2, 1)), np.ones((1, 1)))] * 4
    with pytest.raises(ValueError, match="lmbda: expected a number >= 0, got -1"):
        net.SGD(data, 1, 2, 0.1, lmbda=-1)
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1, got 0"):
        net.SGD(data, 0, 2, 0.1)
    with pytest.raises(ValueError, match="evaluation_data: monitor_evaluation_cost"):
        net.SGD(data, 1, 2, 0.1, monitor_evaluation_cost=True)


def test_the_books_global_seeding_fixes_the_run():
    import random

    def build(seed_value, **kwargs):
        random.seed(seed_value)
        np.random.seed(seed_value)  # noqa: NPY002 (the book's habit)
        return network2.Network([6, 4, 3], **kwargs)

    a, b, c = build(12345678), build(12345678), build(1)
    assert a.seed == b.seed != c.seed
    for wa, wb, wc in zip(a.weights, b.weights, c.weights, strict=True):
        assert np.array_equal(wa, wb) and not np.array_equal(wa, wc)
    explicit = [build(s, seed=7).weights[0] for s in (1, 2)]  # seed= wins over the globals
    assert build(3, seed=7).seed == 7 and np.array_equal(*explicit)
