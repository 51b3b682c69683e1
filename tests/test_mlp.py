"""The feedforward Network: backprop against finite differences, the vectorized path
against the book's per-example reference, determinism, the book's API, input errors,
and the book's network on real MNIST images."""

from __future__ import annotations

import copy
import importlib.util
import re

import numpy as np
import pytest
from tests.layers.gradcheck import numeric_grad

from nablanet import SGD, Network

# ------------------------------------------------------------------------------------
# Independent reference: the costs written out here, evaluated on feedforward's output
# ------------------------------------------------------------------------------------
OUTPUTS = [
    ("sigmoid", "quadratic"),
    ("sigmoid", "binary_cross_entropy"),
    ("softmax", "cross_entropy"),
]
SIZES = [[2, 3, 1], [5, 4, 3], [4, 6, 5, 3], [3, 7, 2], [6, 3, 4, 5, 2]]
HIDDEN = ["sigmoid", "tanh", "relu"]


def _cost(loss: str, a: np.ndarray, y: np.ndarray) -> float:
    """The cost of one example, from the book's formulas (ch. 1 eq. 6, ch. 3 eq. 63, 80)."""
    if loss == "quadratic":
        return 0.5 * float(np.sum((a - y) ** 2))
    if loss == "binary_cross_entropy":
        return -float(np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)))
    return -float(np.sum(y * np.log(a)))


def _target(rng, n_out: int, loss: str) -> np.ndarray:
    if loss == "cross_entropy":
        return np.eye(n_out)[rng.integers(n_out)]
    return rng.random(n_out)


def _numeric_gradients(net: Network, loss: str, x, y, eps=1e-6):
    """Central differences of the cost with respect to every weight and bias."""
    def cost() -> float:
        return _cost(loss, net.feedforward(x), y)

    return ([numeric_grad(cost, b, eps) for b in net.biases],
            [numeric_grad(cost, w, eps) for w in net.weights])


GRAD_CASES = [
    (sizes, hidden, out, loss)
    for sizes in SIZES
    for hidden in HIDDEN
    for out, loss in OUTPUTS
    if not (out == "softmax" and sizes[-1] == 1)
]


@pytest.mark.parametrize(("sizes", "hidden", "output", "loss"), GRAD_CASES,
                         ids=lambda v: "-".join(map(str, v)) if isinstance(v, list) else v)
def test_backprop_matches_finite_differences(sizes, hidden, output, loss):
    rng = np.random.default_rng(sum(sizes))
    net = Network(sizes, activation=hidden, output_activation=output, loss=loss, seed=3)
    for _ in range(2):  # two different examples per network
        x = rng.standard_normal(sizes[0])
        y = _target(rng, sizes[-1], loss)
        nabla_b, nabla_w = net.backprop(x.reshape(-1, 1), y.reshape(-1, 1))
        num_b, num_w = _numeric_gradients(net, loss, x, y)
        assert [g.shape for g in nabla_w] == [w.shape for w in net.weights]
        assert [g.shape for g in nabla_b] == [b.shape for b in net.biases]
        for got, want in zip([*nabla_b, *nabla_w], [*num_b, *num_w], strict=True):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-8)
        # the gradient is not trivially zero
        assert max(np.abs(g).max() for g in [*nabla_b, *nabla_w]) > 1e-4


def test_backprop_accepts_a_label_for_the_target():
    net = Network([4, 5, 3], output_activation="softmax", loss="cross_entropy", seed=0)
    x = np.random.default_rng(0).standard_normal((4, 1))
    by_label = net.backprop(x, 2)
    by_vector = net.backprop(x, np.array([[0.0], [0.0], [1.0]]))
    for a, b in zip(by_label[0] + by_label[1], by_vector[0] + by_vector[1], strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------
# Vectorized path == per-example reference
# ------------------------------------------------------------------------------------
def _data(n: int, n_in: int, n_out: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in))
    labels = rng.integers(0, n_out, n)
    return X, labels


def _reference_epoch(net: Network, X, labels, order, batch_size: int, eta: float) -> None:
    """One epoch with the book's update_mini_batch, column vectors and one-hot targets."""
    n_out = net.sizes[-1]
    for start in range(0, len(order), batch_size):
        batch = [(X[i].reshape(-1, 1), np.eye(n_out)[labels[i]].reshape(-1, 1))
                 for i in order[start:start + batch_size]]
        net.update_mini_batch(batch, eta)


CONFIGS = [
    {},  # the book's: sigmoid, quadratic
    {"activation": "tanh", "output_activation": "softmax", "loss": "cross_entropy"},
    {"activation": "relu", "output_activation": "sigmoid", "loss": "binary_cross_entropy"},
]


BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba not installed"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize(("sizes", "n", "batch_size"), [
    ([6, 5, 4], 16, 16),       # one mini-batch: the whole data set
    ([6, 5, 4], 23, 5),        # 4 full mini-batches and a remainder of 3
    ([7, 8, 6, 3], 10, 3),     # remainder of 1
])
def test_vectorized_equals_per_sample_reference(config, sizes, n, batch_size, backend):
    eta = 0.7
    X, labels = _data(n, sizes[0], sizes[-1])
    ref = Network(sizes, seed=11, **config)
    fast = Network(sizes, seed=11, optimizer=SGD(eta), **config)
    before = [w.copy() for w in fast.weights]
    order = copy.deepcopy(fast.rng).permutation(n)  # fit shuffles with the model's rng
    _reference_epoch(ref, X, labels, order, batch_size, eta)
    fast.fit(X, labels, epochs=1, batch_size=batch_size, monitor_training=False,
             progress=False, backend=backend)
    for a, b in zip(fast.weights + fast.biases, ref.weights + ref.biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)
    assert any(not np.array_equal(a, b) for a, b in zip(before, fast.weights, strict=True))


def test_vectorized_equals_reference_in_float32():
    sizes, n, batch_size, eta = [6, 9, 4], 25, 4, 0.5
    X, labels = _data(n, sizes[0], sizes[-1], seed=4)
    ref = Network(sizes, seed=2, dtype=np.float32)
    fast = Network(sizes, seed=2, dtype=np.float32, optimizer=SGD(eta))
    order = copy.deepcopy(fast.rng).permutation(n)
    _reference_epoch(ref, X.astype(np.float32), labels, order, batch_size, eta)
    fast.fit(X, labels, epochs=1, batch_size=batch_size, monitor_training=False,
             progress=False)
    for a, b in zip(fast.weights + fast.biases, ref.weights + ref.biases, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # and within float32 precision of the float64 path
    ref64 = Network(sizes, seed=2, optimizer=SGD(eta))
    ref64.fit(X, labels, epochs=1, batch_size=batch_size, monitor_training=False,
              progress=False)
    for a, b in zip(fast.weights, ref64.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-4)


def test_sgd_with_book_lists_equals_reference():
    """``SGD`` (book data form) trains with plain SGD at eta, as the reference does."""
    sizes, n, batch_size, eta = [5, 4, 3], 12, 4, 3.0
    X, labels = _data(n, sizes[0], sizes[-1], seed=9)
    ref = Network(sizes, seed=5)
    book = Network(sizes, seed=5)
    training = [(X[i].reshape(-1, 1), np.eye(3)[labels[i]].reshape(-1, 1)) for i in range(n)]
    rng = copy.deepcopy(book.rng)
    for _ in range(2):
        _reference_epoch(ref, X, labels, rng.permutation(n), batch_size, eta)
    book.SGD(training, 2, batch_size, eta, progress=False, monitor_training=False)
    for a, b in zip(book.weights + book.biases, ref.weights + ref.biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


# ------------------------------------------------------------------------------------
# Determinism
# ------------------------------------------------------------------------------------
def _trained(seed: int, dtype=np.float64) -> Network:
    X, labels = _data(50, 6, 3, seed=1)
    net = Network([6, 8, 3], seed=seed, dtype=dtype)
    net.fit(X, labels, epochs=3, batch_size=7, validation_split=0.2, progress=False)
    return net


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_seed_same_weights_bit_for_bit(dtype):  # default backend: numba if installed
    a, b = _trained(123, dtype), _trained(123, dtype)
    for p, q in zip(a.weights + a.biases, b.weights + b.biases, strict=True):
        assert p.dtype == dtype
        assert p.tobytes() == q.tobytes()


def test_different_seed_different_weights():
    a, b = _trained(123), _trained(124)
    assert not np.array_equal(a.weights[0], b.weights[0])
    # the initial weights differ too, not only the shuffling
    assert not np.array_equal(Network([6, 8, 3], seed=1).weights[0],
                              Network([6, 8, 3], seed=2).weights[0])


def test_no_global_random_state_is_used():
    np.random.seed(0)  # noqa: NPY002 - the legacy global state must stay untouched
    state = np.random.get_state()[1].copy()  # noqa: NPY002
    _trained(7)
    np.testing.assert_array_equal(np.random.get_state()[1], state)  # noqa: NPY002


# ------------------------------------------------------------------------------------
# The book's API
# ------------------------------------------------------------------------------------
def test_feedforward_shapes_and_values():
    net = Network([4, 3, 2], seed=0)
    x = np.arange(4.0).reshape(4, 1) / 4
    out = net.feedforward(x)
    assert out.shape == (2, 1)
    # the book's formula, a <- sigmoid(w a + b), with the book's (n_out, n_in) layout
    a = x
    for w, b in zip(net.weights, net.biases, strict=True):
        a = 1 / (1 + np.exp(-(w.T @ a + b.reshape(-1, 1))))
    np.testing.assert_allclose(out, a, rtol=1e-12)
    assert net.feedforward(x[:, 0]).shape == (2,)
    batch = np.random.default_rng(0).random((5, 4))
    assert net.feedforward(batch).shape == (5, 2)
    np.testing.assert_allclose(net.feedforward(batch)[2], net.feedforward(batch[2]))
    assert net.num_layers == 3


def test_book_sgd_and_evaluate(make_images):
    images, labels = make_images(300, seed=3)
    X = images.reshape(300, 784) / 255.0
    training = [(X[i].reshape(784, 1), np.eye(10)[labels[i]].reshape(10, 1))
                for i in range(200)]
    test = [(X[i].reshape(784, 1), int(labels[i])) for i in range(200, 300)]
    net = Network([784, 20, 10], seed=1)
    history = net.SGD(training, 4, 10, 3.0, test_data=test, progress=False)
    assert len(history) == 4
    assert history["epoch"] == [1, 2, 3, 4]
    assert all(isinstance(c, int) and 0 <= c <= 100 for c in history["val_correct"])
    correct = net.evaluate(test)
    assert isinstance(correct, int)
    by_hand = sum(int(np.argmax(net.feedforward(x)) == y) for x, y in test)
    assert correct == by_hand == history["val_correct"][-1]
    assert correct > 50  # learnable fake images: far above the 10% of chance
    assert net.evaluate((X[200:], labels[200:].astype(np.int64))) == correct


# ------------------------------------------------------------------------------------
# One output unit: a binary classifier
# ------------------------------------------------------------------------------------
def _binary_data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((40, 2))
    return X, (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)


def test_single_output_network_takes_0_1_labels():
    """With one sigmoid output, labels 0/1 of shape (n,) are the targets 0/1, exactly as
    the column (n, 1) of the same values (not one-hot codes over a single class)."""
    X, y = _binary_data()
    by_labels = Network([2, 4, 1], loss="binary_cross_entropy", seed=0)
    by_column = Network([2, 4, 1], loss="binary_cross_entropy", seed=0)
    by_column.fit(X, y[:, None].astype(float), epochs=3, batch_size=8, progress=False)
    by_labels.fit(X, y, epochs=3, batch_size=8, progress=False)
    for a, b in zip(by_labels.weights, by_column.weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_single_output_predict_thresholds_at_one_half():
    X, y = _binary_data()
    net = Network([2, 4, 1], loss="binary_cross_entropy", seed=0, optimizer=SGD(1.0))
    history = net.fit(X, y[:, None].astype(float), epochs=30, batch_size=8, progress=False,
                      monitor_training="full")  # the final model's, as predict
    proba = net.predict_proba(X)[:, 0]
    assert proba.min() < 0.5 < proba.max()
    np.testing.assert_array_equal(net.predict(X), (proba >= 0.5).astype(int))
    # evaluate and the training accuracy agree with predict
    assert net.evaluate((X, y[:, None].astype(float))) == int(np.sum(net.predict(X) == y))
    assert history["train_accuracy"][-1] == pytest.approx(np.mean(net.predict(X) == y))


# ------------------------------------------------------------------------------------
# Input errors name the argument
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "name"), [
    ({"sizes": [784]}, "sizes"),
    ({"sizes": []}, "sizes"),
    ({"sizes": [3, 0, 2]}, "sizes"),
    ({"sizes": [3, -1, 2]}, "sizes"),
    ({"sizes": [3, "x", 2]}, "sizes"),
    ({"sizes": [3, 2.5, 2]}, "sizes"),
    ({"sizes": [3, 2], "dtype": np.int32}, "dtype"),
    ({"sizes": [3, 2], "dtype": np.float16}, "dtype"),
    ({"sizes": [3, 2], "output_activation": "bogus"}, "activation"),
    ({"sizes": [3, 4, 2], "activation": "bogus"}, "activation"),
    ({"sizes": [3, 4, 2], "activation": ["tanh", "relu"]}, "activation"),
    ({"sizes": [3, 2], "loss": "bogus"}, "loss"),
    ({"sizes": [3, 2], "loss": "cross_entropy"}, "loss"),  # needs softmax outputs
])
def test_constructor_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}"):
        Network(**kwargs)


def _fit_error(**changes):
    X, labels = _data(20, 3, 2)
    args = {"X": X, "y": labels, "epochs": 1, "batch_size": 5, "progress": False}
    args.update(changes)
    Network([3, 4, 2], seed=0).fit(args.pop("X"), args.pop("y"), **args)


def _with_nan():
    X, _ = _data(20, 3, 2)
    X[7, 1] = np.nan
    return X


@pytest.mark.parametrize(("changes", "name"), [
    ({"X": np.zeros((20, 4))}, "X"),
    ({"X": np.zeros(20)}, "X"),
    ({"X": np.zeros((20, 3, 1))}, "X"),
    ({"y": np.zeros(19, dtype=int)}, "y"),
    ({"y": np.full(20, 2)}, "y"),         # labels must be 0..1 for 2 outputs
    ({"y": np.full(20, -1)}, "y"),
    ({"y": np.full(20, 0.5)}, "y"),       # not a whole number
    ({"y": np.zeros((20, 3))}, "y"),      # targets of the wrong width
    ({"X": _with_nan()}, "X"),
    ({"X": np.full((20, 3), np.inf)}, "X"),
    ({"batch_size": 21}, "batch_size"),
    ({"epochs": 0}, "epochs"),
    ({"validation_split": 1.5}, "validation_split"),
    ({"validation_data": (np.zeros((5, 2)), np.zeros(5, dtype=int))}, "validation_data"),
])
def test_fit_input_errors(changes, name):
    with pytest.raises(ValueError, match=rf"^{re.escape(name)}"):
        _fit_error(**changes)


@pytest.mark.parametrize("batch_size", [0, -3, 2.5])
def test_fit_rejects_a_non_positive_or_fractional_batch_size(batch_size):
    """A bad batch size is a ValueError naming ``batch_size``, like one that is too large
    (not a ZeroDivisionError or a NumPy error from allocating the work buffers)."""
    with pytest.raises(ValueError, match=r"^batch_size"):
        _fit_error(batch_size=batch_size)


@pytest.mark.parametrize("X", [
    np.array([["0.1", "0.2", "x"]] * 20),      # text, as read from a file by mistake
    np.full((20, 3), 1 + 2j),                  # complex: the imaginary part would be lost
], ids=["str", "complex"])
def test_fit_rejects_non_real_inputs(X):
    """Inputs of a non-numeric or complex dtype are a ValueError naming ``X`` (not NumPy's
    "could not convert string to float", nor a silent ComplexWarning)."""
    with pytest.raises(ValueError, match=r"^X"):
        _fit_error(X=X)


def test_api_input_errors():
    net = Network([4, 3, 2], seed=0)
    for bad, name in (
        (lambda: net.feedforward(np.zeros((5, 1))), "a"),
        (lambda: net.feedforward(np.zeros(3)), "a"),
        (lambda: net.predict(np.zeros((2, 5))), "X"),
        (lambda: net.backprop(np.zeros((3, 1)), 0), "x"),
        (lambda: net.backprop(np.zeros((4, 1)), np.zeros((3, 1))), "y"),
        (lambda: net.backprop(np.zeros((4, 1)), 5), "y"),
        (lambda: net.SGD([], 1, 1, 3.0), "training_data"),
        (lambda: net.evaluate([(np.zeros((4, 1)), 7)]), "test_data"),
    ):
        with pytest.raises(ValueError, match=f"^{name}\\b"):
            bad()


# ------------------------------------------------------------------------------------
# Real data: the book's network on 10,000 MNIST images
# ------------------------------------------------------------------------------------
def test_book_network_learns_real_mnist(mnist_10k):
    """[784, 30, 10], batch 10, eta 3.0, 30 epochs on 8,000 images: >= 90% on the other
    2,000 (the book reaches about 95% with 50,000 training images)."""
    X, y = mnist_10k
    X_train, y_train, X_test, y_test = X[:8000], y[:8000], X[8000:], y[8000:]
    net = Network([784, 30, 10], seed=1)
    history = net.SGD((X_train, y_train), 30, 10, 3.0, test_data=(X_test, y_test),
                      monitor_training=False, progress=False)
    assert len(history) == 30
    accuracy = float(np.mean(net.feedforward(X_test).argmax(axis=1) == y_test))
    assert accuracy >= 0.90, f"test accuracy {accuracy:.4f}"
    assert net.evaluate((X_test, y_test)) == round(accuracy * 2000)
    # it learned: the first epoch is well below the last
    assert history["val_accuracy"][0] < accuracy


def test_epoch_lines_are_numbered_from_1_and_from_0_in_the_books_SGD(caplog):
    X, y = _data(20, 3, 2)
    net = Network([3, 4, 2], seed=0)
    with caplog.at_level("INFO", logger="nablanet"):
        net.fit(X, y, epochs=2, batch_size=5, validation_data=(X, y), progress=False)
        fit_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch")]
        caplog.clear()
        net.SGD((X, y), 2, 5, 3.0, test_data=(X, y), progress=False)
        sgd_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch")]
        caplog.clear()
        net.fit(X, y, epochs=1, batch_size=5, progress=False)
        again = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch")]
    assert [line.split(":")[0] for line in fit_lines] == ["Epoch 1/2", "Epoch 2/2"]
    assert [line.split(":")[0] for line in sgd_lines] == ["Epoch 0", "Epoch 1"]
    assert re.fullmatch(r"Epoch 1/1: loss [\d.]+ \| accuracy [\d.]+% \| [\d.]+ s", again[0])
