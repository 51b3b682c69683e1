"""Chapter 6's network3 as the book runs it (Nielsen ch. 6, "Convolutional neural
networks in practice"), on nablanet's layers."""

import logging

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from tests.layers.gradcheck import FixedDraws, numeric_grad

from nablanet.book import network3
from nablanet.book.network3 import (
    ConvPoolLayer,
    FullyConnectedLayer,
    Network,
    ReLU,
    SoftmaxLayer,
    sigmoid,
    tanh,
)
from nablanet.layers import Activation, Conv2D, Dense, Dropout, Flatten, MaxPool2D


def small_net(seed=0, act=sigmoid, p_dropout=0.0):
    """ConvPool (3 filters 3x3 on 1x8x8, pool 2) -> FC 48 -> 5 -> softmax 3."""
    return Network([
        ConvPoolLayer(image_shape=(4, 1, 8, 8), filter_shape=(3, 1, 3, 3), poolsize=(2, 2),
                      activation_fn=act),
        FullyConnectedLayer(n_in=3 * 3 * 3, n_out=5, activation_fn=act, p_dropout=p_dropout),
        SoftmaxLayer(n_in=5, n_out=3, p_dropout=p_dropout)], 4, seed=seed)


def book_forward(net, X):
    """The book's network3 forward pass, from its text: conv, max-pool, then
    activation(pooled + b); fully connected; softmax. ``X (n, 64)``."""
    conv_layer, fc, softmax = net.layers
    x = X.reshape(len(X), 1, 8, 8)
    windows = sliding_window_view(x, (3, 3), axis=(2, 3))          # (n, 1, 6, 6, 3, 3)
    conv = np.einsum("ncijpq,fcpq->nfij", windows, conv_layer.w)
    pooled = conv.reshape(len(X), 3, 3, 2, 3, 2).max(axis=(3, 5))
    a = 1 / (1 + np.exp(-(pooled + conv_layer.b[None, :, None, None])))
    a = 1 / (1 + np.exp(-(a.reshape(len(X), -1) @ fc.w + fc.b)))
    z = a @ softmax.w + softmax.b
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_book_layers_become_nablanet_layers_drawn_as_the_book_draws():
    net = Network([
        ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(20, 1, 5, 5),
                      poolsize=(2, 2), activation_fn=ReLU),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100, activation_fn=ReLU, p_dropout=0.5),
        SoftmaxLayer(n_in=100, n_out=10, p_dropout=0.5)], 10, seed=3)
    kinds = [type(layer) for layer in net.model.layers]
    assert kinds == [Conv2D, MaxPool2D, Activation, Flatten, Dropout, Dense, Dropout, Dense]
    conv, fc, softmax = net.layers
    assert conv.w.base is net.model.layers[0].W and fc.w.base is net.model.layers[5].W
    assert np.shares_memory(softmax.b, net.model.layers[7].b)
    assert [p.shape for p in net.params] == [(20, 1, 5, 5), (20,), (2880, 100), (100,),
                                            (100, 10), (10,)]
    assert conv.w.std() == pytest.approx(np.sqrt(1 / (20 * 25 / 4)), rel=0.1)
    assert fc.w.std() == pytest.approx(np.sqrt(1 / 100), rel=0.05)
    assert fc.b.std() == pytest.approx(1.0, rel=0.3)
    assert not softmax.w.any() and not softmax.b.any()
    assert net.model.output_activation.name == "softmax"
    assert net.model.loss.name == "cross_entropy"
    again = Network([
        ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(20, 1, 5, 5),
                      poolsize=(2, 2), activation_fn=ReLU),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100, activation_fn=ReLU, p_dropout=0.5),
        SoftmaxLayer(n_in=100, n_out=10, p_dropout=0.5)], 10, seed=3)
    assert all(np.array_equal(p, q) for p, q in zip(net.params, again.params, strict=True))


def test_forward_pass_is_the_books():
    net = small_net(seed=1)
    rng = np.random.default_rng(2)
    for layer in net.layers:  # the softmax layer starts at zero; make it count
        layer.w[...] = rng.standard_normal(layer.w.shape)
        layer.b[...] = rng.standard_normal(layer.b.shape)
    X = rng.random((7, 64))
    proba = net.model.predict_proba(X.reshape(7, 1, 8, 8))
    assert np.allclose(proba, book_forward(net, X), rtol=0, atol=1e-13)


def test_one_step_is_sgd_with_the_books_l2():
    net = small_net(seed=4)
    rng = np.random.default_rng(5)
    X, y = rng.random((4, 64)), np.array([0, 2, 1, 2])
    model = net.model
    before = [p.copy() for p in model.params()]
    # the mean log-likelihood gradient of the one mini-batch, through the layers
    a = model.output_activation(model.forward(X.reshape(4, 1, 8, 8), training=True))
    model.backward((a - np.eye(3)[y]) / 4)
    grads = [g.copy() for g in model.grads()]
    eta, lmbda = 0.5, 0.3
    net.SGD((X, y), 1, 4, eta, (X, y), lmbda=lmbda)  # one mini-batch: decay lmbda / 1
    for p, p0, g, decays in zip(model.params(), before, grads, model.decay_flags(),
                                strict=True):
        assert np.allclose(p, p0 - eta * (g + (lmbda * p0 if decays else 0)), atol=1e-13)


def test_sgd_logs_the_books_lines(caplog):
    rng = np.random.default_rng(6)
    X = rng.random((1200, 4))
    y = (X[:, 0] > X[:, 1]).astype(np.int64)
    net = Network([FullyConnectedLayer(n_in=4, n_out=6, activation_fn=tanh),
                   SoftmaxLayer(n_in=6, n_out=2)], 1, seed=7)
    with caplog.at_level(logging.INFO, logger="nablanet"):
        result = net.SGD((X, y), 2, 1, 0.1, (X[:200], y[:200]), (X[200:400], y[200:400]))
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("nablanet")]
    v0, v1 = result.validation_accuracy
    test_line = f"The corresponding test accuracy is {100 * result.test_accuracy:.2f}%"
    best = ["This is the best validation accuracy to date.", test_line]
    # 1,200 mini-batches of one example per epoch: iterations 0..1199 and 1200..2399
    assert lines == [
        "Training mini-batch number 0",
        "Training mini-batch number 1000",
        f"Epoch 0: validation accuracy {100 * v0:.2f}%",
        *best,
        "Training mini-batch number 2000",
        f"Epoch 1: validation accuracy {100 * v1:.2f}%",
        *(best if v1 >= v0 else []),
        "Finished training network.",
        f"Best validation accuracy of {100 * max(v0, v1):.2f}% obtained at iteration "
        f"{1199 if v1 < v0 else 2399}",
        f"Corresponding test accuracy of {100 * result.test_accuracy:.2f}%",
    ]
    assert result.best_iteration in (1199, 2399)
    assert result.best_validation_accuracy == max(v0, v1) > 0.9


def test_same_seed_same_training_with_dropout():
    rng = np.random.default_rng(8)
    X, y = rng.random((40, 64)), rng.integers(0, 3, 40)
    nets = [small_net(seed=9, act=ReLU, p_dropout=0.5) for _ in range(2)]
    for net in nets:
        net.SGD((X, y), 2, 4, 0.1, (X, y))
    assert all(np.array_equal(p, q) for p, q in zip(nets[0].params, nets[1].params,
                                                     strict=True))
    assert not np.array_equal(nets[0].params[2], small_net(seed=9, p_dropout=0.5).params[2])


def test_the_books_global_seeding_fixes_weights_and_dropout():
    import random

    rng = np.random.default_rng(8)
    X, y = rng.random((40, 64)), rng.integers(0, 3, 40)
    nets = []
    for s in (12345678, 12345678, 1):
        random.seed(s)
        np.random.seed(s)  # noqa: NPY002 (the book's habit)
        nets.append(small_net(seed=None, act=ReLU, p_dropout=0.5))
        nets[-1].SGD((X, y), 1, 4, 0.1, (X, y))
    a, b, c = nets
    assert a.seed == b.seed != c.seed
    assert all(np.array_equal(p, q) for p, q in zip(a.params, b.params, strict=True))
    assert not np.array_equal(a.params[2], c.params[2])


def test_gradient_through_every_dropped_layer_matches_finite_differences():
    """The whole chapter-6 stack in training mode (conv, pool, ReLU, three dropouts),
    each dropout with a fixed mask: every parameter's gradient against central
    differences of the training loss."""
    net = Network([
        ConvPoolLayer(image_shape=(4, 1, 10, 10), filter_shape=(3, 1, 3, 3), activation_fn=ReLU),
        FullyConnectedLayer(3 * 4 * 4, 6, ReLU, p_dropout=0.5),
        FullyConnectedLayer(6, 5, ReLU, p_dropout=0.5),
        SoftmaxLayer(5, 3, p_dropout=0.5)], 4, seed=1)
    model, rng = net.model, np.random.default_rng(0)
    for p in model.params():  # non-zero softmax weights, so every layer gets a gradient
        p[...] = rng.normal(0.0, 0.5, p.shape)
    X, y = rng.random((4, 1, 10, 10)), np.array([0, 1, 2, 1])
    shape = X.shape
    for layer in model.layers:
        if isinstance(layer, Dropout):
            layer.rng = FixedDraws(rng.random(shape))
        shape = layer.allocate(shape)

    def loss() -> float:
        z = model.forward(X, training=True)
        z = z - z.max(axis=1, keepdims=True)
        return float(-(z - np.log(np.exp(z).sum(axis=1, keepdims=True)))[range(4), y].mean())

    dropped = [layer.mask for layer in model.layers if isinstance(layer, Dropout)]
    for p, g in zip(model.params(), model.gradients(X, y), strict=True):
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-5, atol=1e-8)
    assert len(dropped) == 3


@pytest.mark.slow
def test_dropout_network_trains_with_the_books_settings(mnist_10k_dir):
    """Chapter 6's dropout: p_dropout=0.5 on two FullyConnectedLayers and the
    SoftmaxLayer, η 0.03, mini-batches of 10. With the book's N(0, 1) conv biases it
    stayed at one class (10.8% after this epoch); see network3's "Departures"."""
    training_data, validation_data, _ = network3.load_data_shared(mnist_10k_dir)
    training_data = tuple(a[:2000] for a in training_data)
    net = Network([
        ConvPoolLayer(image_shape=(10, 1, 28, 28), filter_shape=(20, 1, 5, 5),
                      poolsize=(2, 2), activation_fn=ReLU),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100, activation_fn=ReLU, p_dropout=0.5),
        FullyConnectedLayer(n_in=100, n_out=100, activation_fn=ReLU, p_dropout=0.5),
        SoftmaxLayer(n_in=100, n_out=10, p_dropout=0.5)], 10, seed=1)
    result = net.SGD(training_data, 1, 10, 0.03, validation_data)
    # seed 1: 52.4% of the 2,000 validation images after one epoch (200 updates)
    assert result.best_validation_accuracy >= 0.4


@pytest.mark.slow
def test_chapter_6_call_sequence_learns_digits(mnist_10k_dir, caplog):
    training_data, validation_data, test_data = network3.load_data_shared(mnist_10k_dir)
    training_data = tuple(a[:3000] for a in training_data)  # a few thousand, for CI
    validation_data = tuple(a[:1000] for a in validation_data)
    mini_batch_size = 10
    # the book's ReLU network (ch. 6) with 8 filters and 30 hidden neurons instead of
    # 20 and 100, to keep CI fast; three epochs on 3,000 images
    net = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28), filter_shape=(8, 1, 5, 5),
                      poolsize=(2, 2), activation_fn=ReLU),
        FullyConnectedLayer(n_in=8 * 12 * 12, n_out=30, activation_fn=ReLU),
        SoftmaxLayer(n_in=30, n_out=10)], mini_batch_size, seed=1)
    with caplog.at_level(logging.INFO, logger="nablanet"):
        result = net.SGD(training_data, 3, mini_batch_size, 0.1, validation_data, test_data,
                         lmbda=0.1)
    assert "Finished training network." in caplog.text
    # seed 1: validation 89.9 % (of 1,000), test 89.60 % (of the 2,000 test images)
    assert result.test_accuracy >= 0.85 and result.best_validation_accuracy >= 0.85


@pytest.mark.parametrize("make, error, message", [
    (lambda: ConvPoolLayer((20, 2, 5, 5), (10, 1, 28, 28)), ValueError,
     r"filter_shape: expected 1 input feature maps"),
    (lambda: ConvPoolLayer((20, 1, 30, 5), (10, 1, 28, 28)), ValueError, "too large"),
    (lambda: ConvPoolLayer((20, 1, 5), (10, 1, 28, 28)), ValueError,
     r"filter_shape: expected 4 integers >= 1"),
    (lambda: FullyConnectedLayer(10, 5, activation_fn=np.exp), TypeError,
     "activation_fn: expected one of network3's sigmoid, tanh, ReLU, linear"),
    (lambda: FullyConnectedLayer(10, 5, p_dropout=1.0), ValueError,
     r"p_dropout: expected a number in \[0, 1\)"),
    (lambda: SoftmaxLayer(0, 5), ValueError, "n_in: expected an integer >= 1, got 0"),
    (lambda: Network([FullyConnectedLayer(4, 3)], 1), ValueError,
     "ending with a SoftmaxLayer"),
    (lambda: Network([FullyConnectedLayer(4, 3), SoftmaxLayer(4, 2)], 1), ValueError,
     r"layers\[1\]: n_in=4 does not match the 3 outputs of layers\[0\]"),
    (lambda: Network([FullyConnectedLayer(4, 3), "softmax"], 1), TypeError,
     r"layers\[1\]: expected a ConvPoolLayer"),
    (lambda: Network([FullyConnectedLayer(64, 27),
                      ConvPoolLayer((3, 1, 3, 3), (4, 1, 8, 8)), SoftmaxLayer(27, 3)], 1),
     ValueError, r"layers\[1\]: a ConvPoolLayer must follow"),
])
def test_bad_layers_are_named(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_bad_sgd_arguments_are_named():
    net = small_net()
    rng = np.random.default_rng(0)
    data = (rng.random((8, 64)), rng.integers(0, 3, 8))
    with pytest.raises(ValueError, match=r"training_data: expected inputs of 64 values"):
        net.SGD((rng.random((8, 60)), data[1]), 1, 4, 0.1, data)
    with pytest.raises(ValueError, match=r"mini_batch_size: expected at most the number of "
                                         r"training examples \(8\), got 9"):
        net.SGD(data, 1, 9, 0.1, data)
    with pytest.raises(ValueError, match=r"lmbda: expected a number >= 0, got -0\.1"):
        net.SGD(data, 1, 4, 0.1, data, lmbda=-0.1)
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1, got 0"):
        net.SGD(data, 0, 4, 0.1, data)


def test_predict_and_predict_proba_take_flat_rows_or_images():
    net = small_net(seed=1)
    rng = np.random.default_rng(5)
    X = rng.random((7, int(np.prod(net.input_shape))))
    proba = net.predict_proba(X)
    assert proba.shape == (7, net.layers[-1].n_out)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(net.predict(X), proba.argmax(axis=1))
    np.testing.assert_array_equal(net.predict(X.reshape(7, *net.input_shape)), net.predict(X))
    assert net.accuracy((X, net.predict(X))) == 1.0
    with pytest.raises(ValueError, match=r"X: expected inputs of \d+ values"):
        net.predict(X[:, :-1])


def test_theano_calls_on_w_say_what_to_use():
    net = small_net(seed=1)
    w = net.layers[0].w
    for call in ("eval", "get_value", "set_value"):
        with pytest.raises(AttributeError, match=rf"{call}\(\) is Theano's: .*NumPy arrays"):
            getattr(w, call)
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        w.nonsense  # noqa: B018
    assert type(w * 2) is np.ndarray  # arithmetic gives plain arrays
    w[...] = 0.5  # in place, as the book's set_value: the network sees it
    assert (net.model.layers[0].W == 0.5).all()
