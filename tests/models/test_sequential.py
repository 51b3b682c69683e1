"""Sequential: the one model path. A layer kind it has never heard of, defined here and
nowhere else, stacks, trains, passes the gradient check and survives a save and load
(issue 14 item 4); inputs of any per-sample shape; the head; errors."""

from __future__ import annotations

import numpy as np
import pytest
from tests.layers.gradcheck import check_layer, numeric_grad

import nablanet
from nablanet import Sequential
from nablanet.layers import Activation, Dense, Layer
from nablanet.registry import register


@register("layer", "TestScale")
class Scale(Layer):
    """A learnable per-feature scale ``y = x * s`` (``s`` starts at 1)."""

    param_names = ("s",)

    def __init__(self, n: int, *, dtype=np.float64):
        self.n, self.dtype = n, dtype
        self.s = np.ones(n, dtype=dtype)
        self.grads = [np.empty_like(self.s)]

    def allocate(self, input_shape):
        if tuple(input_shape[1:]) != (self.n,):
            raise ValueError(f"Scale({self.n}): expected (m, {self.n}), got {input_shape}")
        self._y = np.empty(input_shape, dtype=self.dtype)
        self._dX = np.empty(input_shape, dtype=self.dtype)
        return tuple(input_shape)

    def forward(self, X, training=False):
        self._X = X
        return np.multiply(X, self.s, out=self._y[:len(X)])

    def backward(self, dY, need_dX=True):
        np.einsum("ij,ij->j", self._X, dY, out=self.grads[0])
        return np.multiply(dY, self.s, out=self._dX[:len(dY)]) if need_dX else None

    def get_config(self):
        return {"n": self.n, "dtype": np.dtype(self.dtype).name}


@register("layer", "TestFlatten")
class Flatten(Layer):
    """``(m, ...) -> (m, prod(...))``, a view."""

    def __init__(self, *, dtype=np.float64):
        self.dtype, self.grads = dtype, []

    def allocate(self, input_shape):
        self._shape = tuple(input_shape[1:])
        return (input_shape[0], int(np.prod(self._shape)))

    def forward(self, X, training=False):
        return X.reshape(len(X), -1)

    def backward(self, dY, need_dX=True):
        return dY.reshape(len(dY), *self._shape)

    def get_config(self):
        return {"dtype": np.dtype(self.dtype).name}


def _blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 4)) * 0.3 + np.eye(3, 4)[y] * 2.0
    return X, y


def _model(seed=1):
    return Sequential([Dense(4, 6, activation="tanh", seed=seed), Scale(6),
                       Dense(6, 3, seed=seed + 1)],
                      output_activation="softmax", loss="cross_entropy",
                      optimizer=nablanet.SGD(0.5), seed=seed)


def test_a_new_layer_kind_passes_the_gradient_check():
    check_layer(Scale(5), np.random.default_rng(0).standard_normal((4, 5)))


def test_a_new_layer_kind_trains_in_a_sequential(tmp_path):
    X, y = _blobs()
    model = _model()
    before = model.evaluate(X, y)
    history = model.fit(X, y, epochs=15, batch_size=8, progress=False,
                        monitor_training="full")  # the final model's, as evaluate
    after = model.evaluate(X, y)
    assert after["loss"] < 0.5 * before["loss"]
    assert after["accuracy"] >= 0.95 and history["train_accuracy"][-1] == after["accuracy"]
    assert not np.array_equal(model.layers[1].s, np.ones(6))  # the new layer learned
    path = tmp_path / "scaled.safetensors"
    model.save(path)
    loaded = nablanet.load(path)
    assert type(loaded) is Sequential and type(loaded.layers[1]) is Scale
    np.testing.assert_array_equal(loaded.layers[1].s, model.layers[1].s)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_whole_model_gradient_matches_finite_differences():
    """The container's backward (reverse loop, mean over the mini-batch, the head's
    delta) against central differences of its mean loss, for every parameter."""
    X, y = _blobs(7)
    model = _model()
    T = np.eye(3)[y]
    model.layers[1].s[:] = np.linspace(0.5, 1.5, 6)

    def loss():
        return model.evaluate(X, y)["loss"]

    z = model.forward(X, True)
    a = np.empty_like(z)
    model.output_activation.forward(z, a)
    delta = model.loss.delta(a, T, model.output_activation, np.empty_like(a),
                             np.empty_like(a)) / len(X)
    model.backward(delta)
    for p, g in zip(model.params(), [g.copy() for g in model.grads()], strict=True):
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-6, atol=1e-9)


def test_image_shaped_inputs(tmp_path):
    """Inputs (n, C, H, W) go through as they are; the layers decide the shapes."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 40)
    X = rng.standard_normal((40, 2, 3, 3)) * 0.2
    X[:, 0, 1, 1] += 2.0 * y
    model = Sequential([Flatten(), Dense(18, 8, activation="relu", seed=1),
                        Dense(8, 1, seed=2)],
                       output_activation="sigmoid", loss="binary_cross_entropy",
                       optimizer=nablanet.SGD(0.5), seed=0)
    model.fit(X, y, epochs=20, batch_size=5, progress=False)
    assert model.predict(X).shape == (40, 1)  # 0/1 per sigmoid output
    assert model.evaluate(X, y)["accuracy"] >= 0.9
    with pytest.raises(ValueError, match=r"^X: per-sample shape \(2, 3, 4\)"):
        model.predict(np.zeros((3, 2, 3, 4)))


def test_regression_head_reports_rmse():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 3))
    Y = X @ rng.standard_normal((3, 2))
    model = Sequential([Dense(3, 2, seed=0)], optimizer=nablanet.SGD(0.1), seed=0)
    history = model.fit(X, Y, epochs=30, batch_size=5, progress=False)
    assert set(history.epochs[-1]) >= {"train_loss", "train_rmse"}
    assert history["train_rmse"][-1] < 0.05
    np.testing.assert_array_equal(model.predict(X), model.predict_proba(X))


def test_same_seed_same_result_bit_for_bit():
    X, y = _blobs()
    a, b = _model(), _model()
    a.fit(X, y, epochs=2, batch_size=7, progress=False)
    b.fit(X, y, epochs=2, batch_size=7, progress=False)
    for p, q in zip(a.params(), b.params(), strict=True):
        assert p.tobytes() == q.tobytes()


def test_evaluation_in_chunks_equals_one_pass(monkeypatch):
    from nablanet.models import work_buffers

    X, _ = _blobs(50)
    model = _model()
    whole = model.predict_proba(X)
    monkeypatch.setattr(work_buffers, "MAX_CHUNK", 7)
    chunked = _model().predict_proba(X)
    np.testing.assert_array_equal(chunked, whole)


@pytest.mark.parametrize(("build", "error", "match"), [
    (lambda: Sequential([]), ValueError, "^layers"),
    (lambda: Sequential([Dense(2, 2), "relu"]), TypeError, r"^layers\[1\]"),
    (lambda: Sequential([Dense(2, 2, dtype=np.float32)]), ValueError, r"^layers\[0\]"),
    (lambda: Sequential([Dense(2, 2)], loss="cross_entropy"), ValueError, "^loss"),
    (lambda: Sequential([Dense(2, 2)], output_activation="bogus"), ValueError,
     "^activation"),
])
def test_constructor_errors(build, error, match):
    with pytest.raises(error, match=match):
        build()


@pytest.mark.parametrize(("X", "y", "match"), [
    (np.zeros((6, 3)), np.zeros(6, dtype=int), "^X"),
    (np.zeros(6), np.zeros(6, dtype=int), "^X"),
    (np.full((6, 4), np.nan), np.zeros(6, dtype=int), "^X"),
    (np.zeros((6, 4)), np.zeros(5, dtype=int), "^y"),
    (np.zeros((6, 4)), np.full(6, 3), "^y"),
    (np.zeros((6, 4)), np.zeros((6, 2)), "^y"),
])
def test_fit_input_errors(X, y, match):
    with pytest.raises(ValueError, match=match):
        _model().fit(X, y, epochs=1, batch_size=2, progress=False)


def test_numba_backend_is_refused_for_a_stack_without_kernel():
    X, y = _blobs()
    with pytest.raises(ValueError, match="no compiled kernel"):
        _model().fit(X, y, epochs=1, backend="numba", progress=False)


def test_activation_layer_config_round_trips_inside_a_sequential():
    model = Sequential([Dense(3, 4, seed=0), Activation("relu"), Dense(4, 2, seed=1)])
    again = Sequential.from_config(model.get_config())
    assert again.get_config() == model.get_config()
    assert model.count_params() == 3 * 4 + 4 + 4 * 2 + 2


def test_summary_lists_every_layer_with_shapes_and_counts():
    from nablanet import LSTM, Network

    text = Network([784, 30, 10]).summary()
    lines = text.splitlines()
    assert lines[0] == "Network: input (n, 784)"
    assert lines[2].split() == ["(0)", "Dense", "(n,", "30)", "23,550"]
    assert lines[3].split() == ["(1)", "Dense", "(n,", "10)", "310"]
    assert lines[-1] == "total parameters: 23,860 (float64, 186.4 KiB)"
    lstm = LSTM(12, 32, 9, num_layers=2, dtype=np.float32)
    assert lstm.count_params() == 4 * 32 * (12 + 32 + 1) + 4 * 32 * (32 + 32 + 1) + 33 * 9
    assert "(1) LSTMLayer" in lstm.summary() and "float32" in lstm.summary()
    model = _model()
    assert "(1) Scale" in model.summary((4,))
    assert model.summary() == model.summary((4,))  # a Dense first layer says (n_in,)
    with pytest.raises(ValueError, match=r"^input_shape"):
        model.summary((5,))
    from nablanet.layers import Conv2D, Flatten

    conv = Sequential([Conv2D(1, 2, 3, seed=0), Flatten(), Dense(8, 2, seed=1)])
    with pytest.raises(ValueError, match=r"^input_shape: .*does not know it"):
        conv.summary()  # neither given nor fitted
    assert conv.summary((1, 4, 4)).splitlines()[0] == "Sequential: input (n, 1, 4, 4)"
    X, _ = _blobs(5)
    np.testing.assert_array_equal(model.predict_proba(X), _model().predict_proba(X))


def _epoch_lines(caplog, model, X, y, val, **kwargs) -> tuple[list[str], list[dict]]:
    caplog.clear()
    with caplog.at_level("INFO", logger="nablanet"):
        history = model.fit(X, y, epochs=2, batch_size=10, validation_data=val,
                            progress=False, **kwargs)
    return [r.getMessage() for r in caplog.records
            if r.getMessage().startswith("Epoch")], history.epochs


def test_one_epoch_line_for_every_model_kind(caplog):
    """Dense, conv and recurrent models log the same line, each value named as its key
    in the history (``train_`` left out) and equal to it as printed."""
    from nablanet import RNN, Network
    from nablanet.models.spec import parse_layers

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    flat = rng.random((40, 16))
    images = flat.reshape(40, 1, 4, 4)
    sequences = rng.random((40, 5, 3))
    runs = {
        "dense": (Network([16, 5, 2], seed=0), flat, y),
        "conv": (Sequential(parse_layers("conv:2x3x3,dense:4,softmax:2", (1, 4, 4), seed=0),
                            output_activation="softmax", loss="cross_entropy", seed=0),
                 images, y),
        "recurrent": (RNN(3, 4, 1, output_activation="sigmoid", target="last", seed=0),
                      sequences, y),
    }
    for kind, (model, X, labels) in runs.items():
        lines, epochs = _epoch_lines(caplog, model, X, labels, (X[:10], labels[:10]))
        assert len(lines) == 2, kind
        for line, logs in zip(lines, epochs, strict=True):
            assert line == (
                f"Epoch {logs['epoch']}/2: loss {logs['train_loss']:.4g} | accuracy "
                f"{100 * logs['train_accuracy']:.2f}% | val_loss {logs['val_loss']:.4g} | "
                f"val_accuracy {100 * logs['val_accuracy']:.2f}% | {logs['seconds']:.2f} s"
            ), kind
    # regression: rmse; without validation data or training metrics, only what exists
    X = rng.standard_normal((30, 3))
    model = Sequential([Dense(3, 2, seed=0)], optimizer=nablanet.SGD(0.1), seed=0)
    lines, epochs = _epoch_lines(caplog, model, X, X[:, :2], (X, X[:, :2]))
    assert lines[1] == (f"Epoch 2/2: loss {epochs[1]['train_loss']:.4g} | rmse "
                        f"{epochs[1]['train_rmse']:.4g} | val_loss {epochs[1]['val_loss']:.4g}"
                        f" | val_rmse {epochs[1]['val_rmse']:.4g} | "
                        f"{epochs[1]['seconds']:.2f} s")
    lines, epochs = _epoch_lines(caplog, model, X, X[:, :2], (X, X[:, :2]),
                                 monitor_training=False)
    assert lines[0] == (f"Epoch 1/2: val_loss {epochs[0]['val_loss']:.4g} | val_rmse "
                        f"{epochs[0]['val_rmse']:.4g} | {epochs[0]['seconds']:.2f} s")


def test_the_input_shape_is_recorded_by_fit_saved_and_checked(tmp_path):
    from nablanet.layers import Conv2D, Flatten

    def conv():
        return Sequential([Conv2D(1, 2, 3, seed=0), Flatten(), Dense(8, 3, seed=1)],
                          output_activation="softmax", loss="cross_entropy", seed=0)

    X = np.random.default_rng(0).random((6, 1, 4, 4))
    y = np.arange(6) % 3
    model = conv()
    assert model.sample_shape is None and model.get_config()["input_shape"] is None
    model.fit(X, y, epochs=1, batch_size=3, progress=False)
    assert model.sample_shape == (1, 4, 4)
    assert model.get_config()["input_shape"] == [1, 4, 4]
    model.save(tmp_path / "m.safetensors")
    loaded = nablanet.load(tmp_path / "m.safetensors")
    assert loaded.sample_shape == (1, 4, 4)
    assert loaded.summary() == model.summary() == conv().summary((1, 4, 4))
    assert Sequential.from_config(model.get_config()).get_config() == model.get_config()
    with pytest.raises(ValueError, match=r"^input_shape: .*Conv2D"):
        Sequential([Conv2D(1, 2, 3)], input_shape=(2, 4, 4))
    with pytest.raises(ValueError, match=r"^input_shape: expected a per-sample shape"):
        Sequential([Dense(4, 2)], input_shape=(4, 0))
