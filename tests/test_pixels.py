"""Images held as uint8 (``Pixels``) train to the same weights as their floats, bit for
bit."""


import numpy as np
import pytest

from nablanet import Network, Sequential
from nablanet.datasets.mnist import load_images
from nablanet.datasets.pixels import Pixels
from nablanet.kernels import AVAILABLE
from nablanet.layers import Conv2D, Dense, Flatten, MaxPool2D


def _floats(raw, dtype):
    X = raw.astype(dtype)  # the loaders' rule for float images
    X /= 255
    return X


def _images(n=230, pixels=20, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, pixels), dtype=np.uint8), rng.integers(0, 4, n)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pixels_stand_for_the_loaders_floats(dtype):
    raw, _ = _images()
    p = Pixels(raw, dtype)
    X = _floats(raw, dtype)
    assert p.shape == X.shape and p.dtype == X.dtype and len(p) == len(X)
    assert np.array_equal(np.asarray(p), X) and np.asarray(p).dtype == dtype
    assert isinstance(p[3:9], Pixels) and np.array_equal(np.asarray(p[3:9]), X[3:9])
    assert isinstance(p[[5, 1]], Pixels) and np.array_equal(np.asarray(p[[5, 1]]), X[[5, 1]])
    assert np.array_equal(p[4], X[4]) and p[4, 2] == X[4, 2]  # smaller than rows: floats
    out = np.empty((3, 20), dtype)
    assert p.take([7, 0, 7], axis=0, out=out) is out and np.array_equal(out, X[[7, 0, 7]])
    assert np.array_equal(np.asarray(p.reshape(-1, 1, 4, 5)), X.reshape(-1, 1, 4, 5))
    assert p.data.nbytes * np.dtype(dtype).itemsize == p.nbytes


def test_pixels_refuse_what_is_not_uint8_images():
    with pytest.raises(TypeError, match="uint8"):
        Pixels(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="float32 or float64"):
        Pixels(np.zeros((2, 3), np.uint8), np.int32)


_BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not AVAILABLE, reason="Numba not installed"))]


@pytest.mark.parametrize("backend", _BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_training_on_pixels_gives_the_weights_of_training_on_floats(backend, dtype):
    raw, y = _images()
    runs = []
    for X in (_floats(raw, dtype), Pixels(raw, dtype)):
        net = Network([20, 7, 4], seed=3, dtype=dtype)
        history = net.fit(X, y, epochs=2, batch_size=10, backend=backend, progress=False,
                          validation_data=(X[:50], y[:50]))
        runs.append((net, history, net.predict_proba(X)))
    (a, ha, pa), (b, hb, pb) = runs
    for p, q in zip(a.params(), b.params(), strict=True):
        assert np.array_equal(p, q)
    assert ha["val_loss"] == hb["val_loss"] and ha["train_loss"] == hb["train_loss"]
    assert np.array_equal(pa, pb)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_evaluation_converts_every_chunk_of_pixels_into_the_same_rows(monkeypatch, dtype):
    from nablanet.models import work_buffers

    raw, _ = _images()  # 230 images: chunks of 7, the last one short
    net = Network([20, 7, 4], seed=3, dtype=dtype)
    whole = net.predict_proba(_floats(raw, dtype))
    monkeypatch.setattr(work_buffers, "MAX_CHUNK", 7)
    made = []
    convert = work_buffers.to_float
    monkeypatch.setattr(work_buffers, "to_float", lambda r, out: made.append(out) or
                        convert(r, out))
    chunked = Network([20, 7, 4], seed=3, dtype=dtype).predict_proba(Pixels(raw, dtype))
    assert np.array_equal(chunked, whole)
    # one float array of 7 rows for all 33 chunks: no chunk is made while the first
    # layer still holds the last one's
    assert len(made) == 33 and all(np.shares_memory(out, made[0]) for out in made)


def test_a_conv_net_and_a_validation_split_train_alike_on_pixels():
    raw, y = _images(60, 64)
    runs = []
    for X in (_floats(raw, np.float64), Pixels(raw)):
        model = Sequential([Conv2D(1, 2, 3, seed=0), MaxPool2D(2), Flatten(),
                            Dense(18, 4, seed=1)], output_activation="softmax",
                           loss="cross_entropy", seed=2)
        model.fit(X.reshape(-1, 1, 8, 8), y, epochs=2, batch_size=8, validation_split=0.2,
                  progress=False)
        runs.append(model)
    for p, q in zip(runs[0].params(), runs[1].params(), strict=True):
        assert np.array_equal(p, q)


def test_the_loaders_keep_the_images_as_bytes_on_request(mnist_10k_dir):
    floats = load_images(mnist_10k_dir)
    pixels = load_images(mnist_10k_dir, pixels=True)
    assert isinstance(pixels.X_train, Pixels) and pixels.X_train.data.dtype == np.uint8
    assert np.array_equal(np.asarray(pixels.X_train), floats.X_train)
    assert np.array_equal(np.asarray(pixels.X_test), floats.X_test)
    assert np.array_equal(pixels.y_train, floats.y_train)
