"""ONNX export, run in onnxruntime: float32 outputs within 1e-5 of nablanet's, the same
labels on real data, and a clear error for what has no ONNX form."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnx", reason="pip install 'nablanet[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="pip install 'nablanet[onnx]'")

from nablanet import Network  # noqa: E402
from nablanet.interop.onnx import to_onnx  # noqa: E402
from nablanet.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D  # noqa: E402
from nablanet.models.sequential import Sequential  # noqa: E402
from nablanet.registry import register  # noqa: E402


def run(proto, X, **inputs):
    session = ort.InferenceSession(proto.SerializeToString())
    return session.run(None, {"X": X, **inputs})[0]


@pytest.mark.parametrize(("activation", "output", "loss"), [
    ("sigmoid", "sigmoid", "quadratic"),
    ("tanh", "softmax", "cross_entropy"),
    ("relu", "identity", "mse"),
    ("relu", "sigmoid", "binary_cross_entropy"),
])
def test_network_every_activation_and_output(activation, output, loss):
    net = Network([7, 6, 5, 3], activation=activation, output_activation=output, loss=loss,
                  init="glorot", seed=1)
    X = np.random.default_rng(0).standard_normal((9, 7))
    np.testing.assert_allclose(run(to_onnx(net), X.astype(np.float32)), net.predict_proba(X),
                               atol=1e-5)
    np.testing.assert_allclose(run(to_onnx(net, dtype=np.float64), X), net.predict_proba(X),
                               rtol=0, atol=1e-12)


def test_convolutional_stack_float32():
    cnn = Sequential([Conv2D(1, 4, 3, padding="same", seed=1), MaxPool2D(2),
                      Conv2D(4, 3, 2, stride=2, padding=1, activation="tanh", seed=2),
                      Dropout(0.5, seed=3), Flatten(), Dense(27, 10, seed=4)],
                     output_activation="softmax", loss="cross_entropy")
    X = np.random.default_rng(1).standard_normal((5, 1, 8, 8))
    np.testing.assert_allclose(run(to_onnx(cnn), X.astype(np.float32)), cnn.predict_proba(X),
                               atol=1e-5)


def test_fashion_mnist_labels_identical(tmp_path):
    from nablanet.datasets.mnist import load_fashion_mnist

    try:
        data = load_fashion_mnist(offline=True)
    except (OSError, ValueError) as exc:
        pytest.skip(f"Fashion-MNIST not available offline: {exc}")
    net = Network([784, 30, 10], activation="relu", output_activation="softmax",
                  loss="cross_entropy", init="he", seed=1)
    net.fit(data.X_train[:5000], data.y_train[:5000], epochs=1, batch_size=10,
            progress=False)
    path = tmp_path / "fashion.onnx"
    to_onnx(net, path)
    import onnx

    out = run(onnx.load(str(path)), data.X_test.astype(np.float32))
    assert np.array_equal(out.argmax(axis=1), net.predict(data.X_test))
    np.testing.assert_allclose(out, net.predict_proba(data.X_test), atol=1e-5)


def test_a_layer_without_onnx_form_is_named():
    @register("layer", "Scale4Onnx")
    class Scale(Layer):
        def __init__(self):
            self.grads = []

    model = Sequential([Dense(3, 2, seed=0)])
    model.layers.append(Scale())
    with pytest.raises(ValueError, match=r"layers\[1\] \(Scale4Onnx\) has no ONNX conversion"):
        to_onnx(model)


def _sequences(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((6, 7, 3))
    mask = np.arange(7) < np.array([7, 3, 5, 1, 6, 2])[:, None]
    return X, mask, mask.sum(axis=1).astype(np.int32)


@pytest.mark.parametrize("target", ["every", "last"])
@pytest.mark.parametrize(("cls", "options"), [
    ("RNN", {"activation": "tanh"}), ("RNN", {"activation": "relu"}), ("LSTM", {}), ("GRU", {}),
])
def test_recurrent_models_with_variable_lengths(cls, options, target):
    import nablanet

    model = getattr(nablanet, cls)(3, 4, 2, num_layers=2, target=target,
                                   output_activation="softmax", loss="cross_entropy", seed=1,
                                   **options)
    X, mask, lens = _sequences()
    out = run(to_onnx(model), X.astype(np.float32), sequence_lens=lens)
    np.testing.assert_allclose(out, model.predict_proba(X, mask), atol=1e-5)


def _scaled_data():
    from nablanet.datasets.sequences import SequenceData
    from nablanet.preprocessing import MinMaxScaler

    rng = np.random.default_rng(3)
    raw = [rng.uniform(10, 20, (5, 2)) for _ in range(4)]
    data = SequenceData(names=list("abcd"), features=raw,
                        labels=[100 * r[:, :1] for r in raw],
                        feature_names=["x1", "x2"], label_names=["y1"])
    return data, MinMaxScaler().fit(data)


@pytest.mark.parametrize("target", ["every", "last"])
def test_regression_scaling_layers_in_the_graph(target):
    """The model's input and output scaling are the graph's first and last nodes: raw
    features in, the data's units out (zeros on padded steps)."""
    from nablanet import GRU

    data, scaler = _scaled_data()
    model = GRU(2, 3, 1, target=target, seed=0, input_scaling=scaler.feature_layer(),
                output_scaling=scaler.label_layer())
    X = np.stack(data.features)
    mask = np.arange(5) < np.array([5, 2, 4, 3])[:, None]
    out = run(to_onnx(model), X.astype(np.float32),
              sequence_lens=mask.sum(axis=1).astype(np.int32))
    expected = model.predict_proba(X, mask)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-4)
    assert np.abs(expected).max() > 100  # the labels' units (1000..2000), not [0, 1]
    bare = GRU(2, 3, 1, target=target, seed=0)  # the same weights without the scaling
    unscaled = bare.predict_proba(scaler.feature_layer().apply(X), mask)
    np.testing.assert_allclose(expected, scaler.inverse_transform_labels(unscaled) *
                               (mask[..., None] if target == "every" else 1), rtol=1e-12)


def test_the_scaler_argument_is_deprecated_and_scales_the_features():
    from nablanet import GRU

    data, scaler = _scaled_data()
    model = GRU(2, 3, 1, target="last", seed=0)
    X = np.stack(data.features)
    with pytest.warns(DeprecationWarning, match="input_scaling"):
        proto = to_onnx(model, scaler=scaler)
    out = run(proto, X.astype(np.float32), sequence_lens=np.full(4, 5, dtype=np.int32))
    np.testing.assert_allclose(out, model.predict_proba(scaler.feature_layer().apply(X)),
                               atol=1e-5)


def test_japanese_vowels_labels_identical(japanese_vowels):
    from nablanet import LSTM, Adam
    from nablanet.datasets.sequences import pad, read_sequence_csv
    from nablanet.preprocessing import MinMaxScaler

    train, test = (read_sequence_csv(p) for p in japanese_vowels)
    scaler = MinMaxScaler().fit(train)
    X, mask = pad(train.features)
    y = pad(train.labels)[0][:, 0, 0]
    model = LSTM(12, 16, 9, target="last", output_activation="softmax", loss="cross_entropy",
                 optimizer=Adam(0.01), seed=1, input_scaling=scaler.feature_layer())
    model.fit(X, y, mask, epochs=3, batch_size=16, progress=False)
    raw, mask_t = pad(test.features)
    out = run(to_onnx(model), raw.astype(np.float32),
              sequence_lens=mask_t.sum(axis=1).astype(np.int32))
    expected = model.predict_proba(raw, mask_t)
    np.testing.assert_allclose(out, expected, atol=1e-5)
    assert np.array_equal(out.argmax(axis=1), model.predict(raw, mask_t))


def test_export_command_network(tmp_path, capsys):
    from nablanet.cli import main

    net = Network([4, 3, 2], output_activation="softmax", loss="cross_entropy", seed=0)
    net.save(tmp_path / "net.safetensors")
    main(["export", "-m", str(tmp_path / "net.safetensors"), "-o", str(tmp_path / "net.onnx")])
    import onnx

    X = np.random.default_rng(0).random((3, 4))
    out = run(onnx.load(str(tmp_path / "net.onnx")), X.astype(np.float32))
    np.testing.assert_allclose(out, net.predict_proba(X), atol=1e-5)
    with pytest.raises(SystemExit) as exit_info:  # the output may not be the model
        main(["export", "-m", str(tmp_path / "net.safetensors"), "-o",
              str(tmp_path / "net.safetensors")])
    assert exit_info.value.code == 2
    assert "net.safetensors" in capsys.readouterr().err


def test_export_command_rnn_takes_raw_features(japanese_vowels, tmp_path):
    from nablanet.cli import main
    from nablanet.datasets.sequences import pad, read_sequence_csv
    from nablanet.serialization import load

    train_csv, test_csv = japanese_vowels
    model_path = tmp_path / "jv.safetensors"
    main(["rnn", "train", str(train_csv), "--task", "multiclass", "--target", "last",
          "--epochs", "1", "--model-out", str(model_path), "-q"])
    main(["export", "-m", str(model_path), "-o", str(tmp_path / "jv.onnx")])
    import onnx

    model = load(model_path)  # carries its scaling: takes raw features too
    test = read_sequence_csv(test_csv)
    raw, mask = pad(test.features)
    out = run(onnx.load(str(tmp_path / "jv.onnx")), raw.astype(np.float32),
              sequence_lens=mask.sum(axis=1).astype(np.int32))
    np.testing.assert_allclose(out, model.predict_proba(raw, mask), atol=1e-5)
