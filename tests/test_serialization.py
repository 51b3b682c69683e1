"""Saving and loading: round trips, the file format, and every way a file can be wrong."""

from __future__ import annotations

import json
import os
import struct

import numpy as np
import pytest
import safetensors
import safetensors.numpy

import nablanet
from nablanet import GRU, LSTM, RNN, Network
from nablanet.serialization import FORMAT_VERSION, read_cli, save

NETWORK_CONFIGS = [
    ({"sizes": [5, 4, 3]}, np.float64),
    ({"sizes": [5, 4, 3]}, np.float32),
    ({"sizes": [6, 7, 5, 4], "activation": ["tanh", "relu"], "output_activation": "softmax",
      "loss": "cross_entropy", "init": "he"}, np.float64),
    ({"sizes": [3, 8, 1], "activation": "relu", "loss": "binary_cross_entropy",
      "init": "glorot"}, np.float32),
]


def _trained_network(config: dict, dtype, seed=4) -> Network:
    """A network whose weights are no longer those its seed draws (so a round trip that
    only rebuilt the network from its config would be caught)."""
    net = Network(**config, seed=seed, dtype=dtype, optimizer=nablanet.SGD(0.5))
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, config["sizes"][0]))
    y = rng.integers(0, max(2, config["sizes"][-1]), 30) % config["sizes"][-1]
    net.fit(X, y, epochs=2, batch_size=4, progress=False, monitor_training=False)
    return net


@pytest.mark.parametrize(("config", "dtype"), NETWORK_CONFIGS)
def test_network_round_trip_predicts_the_same(tmp_path, config, dtype):
    net = _trained_network(config, dtype)
    fresh = Network(**config, seed=4, dtype=dtype)
    assert not np.array_equal(fresh.weights[0], net.weights[0])
    X = np.random.default_rng(1).standard_normal((17, config["sizes"][0]))
    before = net.predict_proba(X)
    path = tmp_path / "net.safetensors"
    net.save(path)
    loaded = Network.load(path)
    assert type(loaded) is Network
    assert loaded.sizes == net.sizes
    assert loaded.get_config() == net.get_config()
    for a, b in zip(loaded.weights + loaded.biases, net.weights + net.biases, strict=True):
        assert a.dtype == dtype
        assert a.tobytes() == b.tobytes()
    after = loaded.predict_proba(X)
    assert after.dtype == before.dtype
    np.testing.assert_array_equal(after, before)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    # the package-level loader gives the same
    np.testing.assert_array_equal(nablanet.load(path).predict_proba(X), before)


def _sequences(n=9, T=6, F=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, F))
    lengths = rng.integers(2, T + 1, n)
    mask = np.arange(T) < lengths[:, None]
    return X, mask


@pytest.mark.parametrize(("cls", "extra"), [
    (RNN, {"activation": "tanh"}),
    (RNN, {"activation": "relu"}),
    (LSTM, {}),
    (GRU, {}),
])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_recurrent_round_trip_predicts_the_same(tmp_path, cls, extra, dtype):
    X, mask = _sequences()
    y = np.arange(len(X)) % 4
    model = cls(3, 5, 4, num_layers=2, output_activation="softmax", loss="cross_entropy",
                target="last", seed=2, dtype=dtype, optimizer=nablanet.Adam(0.05), **extra)
    # NumPy backend: after a compiled fit the layers keep the compiled recurrence, which
    # agrees with the loaded model's NumPy recurrence to rounding only
    model.fit(X, y, mask, epochs=2, batch_size=3, progress=False, monitor_training=False,
              backend="numpy")
    cli = {"task": "multiclass", "scaler": {"feature_min": [0.0, 1.0, 2.0]},
           "feature_names": ["x1", "x2", "x3"], "note": "héllo"}
    before = model.predict_proba(X, mask)
    path = tmp_path / "model.safetensors"
    save(model, path, cli=cli)
    loaded = cls.load(path)
    assert type(loaded) is cls
    assert loaded.num_layers == 2 and loaded.n_layers == 2 and loaded.target == "last"
    assert read_cli(path) == cli
    assert loaded.get_config() == model.get_config()
    for a, b in zip(loaded.params(), model.params(), strict=True):
        assert a.dtype == dtype
        assert a.tobytes() == b.tobytes()
    np.testing.assert_array_equal(loaded.predict_proba(X, mask), before)
    np.testing.assert_array_equal(loaded.predict(X, mask), model.predict(X, mask))
    assert type(nablanet.load(path)) is cls
    # a freshly seeded model differs: the parameters came from the file
    assert not np.array_equal(cls(3, 5, 4, num_layers=2, output_activation="softmax",
                                  loss="cross_entropy", target="last", seed=2, dtype=dtype,
                                  **extra).predict_proba(X, mask), before)


# ------------------------------------------------------------------------------------
# The format
# ------------------------------------------------------------------------------------
def _header(path) -> dict:
    """The JSON header of a safetensors file, read by hand (8-byte length + JSON)."""
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n])


def test_file_is_safetensors_with_versioned_metadata(tmp_path):
    net = _trained_network({"sizes": [5, 4, 3]}, np.float64)
    path = tmp_path / "net.safetensors"
    net.save(path)
    raw = path.read_bytes()
    assert not raw.startswith(b"\x80")  # not a pickle
    assert not raw.startswith(b"PK")  # not a zip (np.savez / torch.save)
    header = _header(path)
    meta = header.pop("__metadata__")
    assert meta["format"] == "nablanet"
    assert meta["format_version"] == str(FORMAT_VERSION)
    assert meta["model"] == "Network"
    assert json.loads(meta["config"])["sizes"] == [5, 4, 3]
    assert set(header) == {"layers.0.W", "layers.0.b", "layers.1.W", "layers.1.b"}
    assert header["layers.0.W"]["shape"] == [5, 4] and header["layers.0.W"]["dtype"] == "F64"
    tensors = safetensors.numpy.load_file(str(path))
    np.testing.assert_array_equal(tensors["layers.1.W"], net.weights[1])


def _resave(src, dst, *, tensors=None, metadata=None, config=None):
    """Write ``dst`` from ``src``'s tensors and metadata, with some of them replaced."""
    with safetensors.safe_open(str(src), framework="numpy") as f:
        meta = dict(f.metadata())
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    if tensors is not None:
        arrays = tensors(arrays)
    if config is not None:
        meta["config"] = json.dumps(config(json.loads(meta["config"])))
    if metadata is not None:
        meta.update(metadata)
    dst.write_bytes(safetensors.numpy.save(arrays, metadata=meta))
    return dst


@pytest.fixture
def saved(tmp_path):
    net = _trained_network({"sizes": [5, 4, 3]}, np.float64)
    path = tmp_path / "net.safetensors"
    net.save(path)
    return path


def test_newer_format_version_is_refused(saved, tmp_path):
    path = _resave(saved, tmp_path / "future.safetensors",
                   metadata={"format_version": str(FORMAT_VERSION + 1)})
    with pytest.raises(ValueError, match="newer") as err:
        Network.load(path)
    assert str(path) in str(err.value)
    assert str(FORMAT_VERSION + 1) in str(err.value)


def test_bad_format_version_is_refused(saved, tmp_path):
    path = _resave(saved, tmp_path / "bad.safetensors", metadata={"format_version": "one"})
    with pytest.raises(ValueError, match="format_version"):
        Network.load(path)


def test_config_with_other_sizes_names_the_array(saved, tmp_path):
    def other_sizes(config):
        return {**config, "sizes": [5, 6, 3]}

    path = _resave(saved, tmp_path / "mismatch.safetensors", config=other_sizes)
    with pytest.raises(ValueError, match=r"layers\.0\.W") as err:
        Network.load(path)
    message = str(err.value)
    assert str(path) in message
    assert "(5, 6)" in message and "(5, 4)" in message


def test_tensor_of_the_wrong_shape_names_the_array(saved, tmp_path):
    def bad_bias(arrays):
        return {**arrays, "layers.1.b": np.zeros(7)}

    path = _resave(saved, tmp_path / "shape.safetensors", tensors=bad_bias)
    with pytest.raises(ValueError, match=r"layers\.1\.b.*\(3,\).*\(7,\)"):
        Network.load(path)


def test_tensor_of_the_wrong_dtype_names_the_array(saved, tmp_path):
    def float32(arrays):
        return {**arrays, "layers.1.W": arrays["layers.1.W"].astype(np.float32)}

    path = _resave(saved, tmp_path / "dtype.safetensors", tensors=float32)
    with pytest.raises(ValueError, match=r"layers\.1\.W.*dtype"):
        Network.load(path)


def test_missing_and_unexpected_tensors_are_named(saved, tmp_path):
    def rename(arrays):
        arrays = dict(arrays)
        arrays["extra"] = arrays.pop("layers.0.b")
        return arrays

    path = _resave(saved, tmp_path / "names.safetensors", tensors=rename)
    with pytest.raises(ValueError, match=r"layers\.0\.b") as err:
        Network.load(path)
    assert "extra" in str(err.value)


def test_missing_config_is_refused(saved, tmp_path):
    with safetensors.safe_open(str(saved), framework="numpy") as f:
        meta = {k: v for k, v in f.metadata().items() if k != "config"}
        arrays = {k: f.get_tensor(k) for k in f.keys()}
    path = tmp_path / "noconfig.safetensors"
    path.write_bytes(safetensors.numpy.save(arrays, metadata=meta))
    with pytest.raises(ValueError, match="config") as err:
        Network.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_file_names_the_file(saved, tmp_path, cut):
    raw = saved.read_bytes()
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(raw[:int(len(raw) * cut)])
    with pytest.raises(ValueError) as err:
        Network.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x80\x04K\x01.",
                                     b"\xff" * 64])
def test_corrupt_file_names_the_file(tmp_path, content):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError) as err:
        Network.load(path)
    assert str(path) in str(err.value)


def test_foreign_safetensors_file_is_refused(tmp_path):
    path = tmp_path / "foreign.safetensors"
    safetensors.numpy.save_file({"weight": np.zeros((2, 2))}, str(path))
    with pytest.raises(ValueError, match="not a nablanet model") as err:
        Network.load(path)
    assert str(path) in str(err.value)
    other = tmp_path / "other.safetensors"
    safetensors.numpy.save_file({"weight": np.zeros(2)}, str(other),
                                metadata={"format": "pt"})
    with pytest.raises(ValueError, match="not a nablanet model"):
        nablanet.load(other)


def test_model_of_another_class_is_refused(saved, tmp_path):
    with pytest.raises(ValueError, match="Network") as err:
        RNN.load(saved)
    assert str(saved) in str(err.value)
    rnn_path = tmp_path / "rnn.safetensors"
    RNN(2, 3, 1, seed=0).save(rnn_path)
    with pytest.raises(ValueError, match="RNN"):
        Network.load(rnn_path)
    with pytest.raises(ValueError, match="RNN"):
        LSTM.load(rnn_path)


def test_unknown_model_class_is_refused(saved, tmp_path):
    path = _resave(saved, tmp_path / "unknown.safetensors", metadata={"model": "Transformer"})
    with pytest.raises(ValueError, match="Transformer"):
        nablanet.load(path)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        Network.load(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError):
        RNN.load(tmp_path / "nope.safetensors")


# ------------------------------------------------------------------------------------
# Atomic writes
# ------------------------------------------------------------------------------------
def test_save_leaves_no_temporary_files(tmp_path):
    net = _trained_network({"sizes": [5, 4, 3]}, np.float64)
    net.save(tmp_path / "a.safetensors")
    net.save(tmp_path / "a.safetensors")  # overwrite
    RNN(2, 3, 1, seed=0).save(tmp_path / "b.safetensors")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.safetensors", "b.safetensors"]


def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    old = _trained_network({"sizes": [5, 4, 3]}, np.float64, seed=1)
    path = tmp_path / "net.safetensors"
    old.save(path)
    original = path.read_bytes()

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    new = _trained_network({"sizes": [5, 4, 3]}, np.float64, seed=2)
    with pytest.raises(OSError, match="disk full"):
        new.save(path)
    with pytest.raises(OSError, match="disk full"):
        new.save(tmp_path / "fresh.safetensors")
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["net.safetensors"]
    assert path.read_bytes() == original  # the old model is intact


def test_save_into_a_missing_directory_fails_cleanly(tmp_path):
    net = Network([3, 2], seed=0)
    with pytest.raises(OSError):
        net.save(tmp_path / "missing" / "net.safetensors")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------
# Format version 2: names only, the CLI section, checks before allocating
# ------------------------------------------------------------------------------------
def test_sequential_of_layers_round_trips(tmp_path):
    from nablanet.layers import Activation, Dense

    model = nablanet.Sequential(
        [Dense(3, 5, seed=1), Activation("tanh"), Dense(5, 2, seed=2)],
        output_activation="softmax", loss="cross_entropy", seed=3)
    X = np.random.default_rng(0).standard_normal((12, 3))
    model.fit(X, np.arange(12) % 2, epochs=2, batch_size=4, progress=False)
    path = tmp_path / "seq.safetensors"
    model.save(path)
    meta = _header(path)["__metadata__"]
    assert meta["model"] == "Sequential"
    assert [spec["name"] for spec in json.loads(meta["config"])["layers"]] == \
        ["Dense", "Activation", "Dense"]
    loaded = nablanet.Sequential.load(path)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    assert read_cli(path) == {}


def test_unknown_layer_name_is_refused(tmp_path):
    from nablanet.layers import Dense

    path = tmp_path / "seq.safetensors"
    nablanet.Sequential([Dense(3, 2, seed=1)]).save(path)

    def rename(config):
        config["layers"][0]["name"] = "os.system"
        return config

    bad = _resave(path, tmp_path / "bad.safetensors", config=rename)
    with pytest.raises(ValueError, match=r"os\.system") as err:
        nablanet.load(bad)
    assert str(bad) in str(err.value) and "Dense" in str(err.value)


@pytest.mark.parametrize("version", ["0", "-1", "1.5", "", "２"])
def test_format_version_must_be_a_positive_integer(saved, tmp_path, version):
    path = _resave(saved, tmp_path / "v.safetensors", metadata={"format_version": version})
    with pytest.raises(ValueError, match="format_version") as err:
        nablanet.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights_are_refused(saved, tmp_path, value):
    def poison(arrays):
        W = arrays["layers.1.W"].copy()
        W[0, 0] = value
        return {**arrays, "layers.1.W": W}

    path = _resave(saved, tmp_path / "nan.safetensors", tensors=poison)
    with pytest.raises(ValueError, match=r"layers\.1\.W.*finite") as err:
        Network.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("change", [
    {"sizes": [5, 200_000, 3000]},           # 6e8 weights
    {"sizes": [5, 10**9, 3]},
])
def test_config_asking_for_too_many_parameters_is_refused_before_allocating(
        saved, tmp_path, change):
    path = _resave(saved, tmp_path / "huge.safetensors",
                   config=lambda config: {**config, **change})
    with pytest.raises(ValueError, match="sizes") as err:
        Network.load(path)
    assert str(path) in str(err.value)


def test_huge_dense_layer_in_a_sequential_is_refused(tmp_path):
    from nablanet.layers import Dense

    path = tmp_path / "seq.safetensors"
    nablanet.Sequential([Dense(3, 2, seed=1)]).save(path)

    def huge(config):
        config["layers"][0]["config"].update(n_in=50_000, n_out=50_000)
        return config

    bad = _resave(path, tmp_path / "huge.safetensors", config=huge)
    with pytest.raises(ValueError, match="more than 100000000") as err:
        nablanet.load(bad)
    assert str(bad) in str(err.value)


@pytest.mark.parametrize("cli", ["[1, 2]", "not json"])
def test_bad_cli_section_is_refused(saved, tmp_path, cli):
    path = _resave(saved, tmp_path / "cli.safetensors", metadata={"cli": cli})
    with pytest.raises(ValueError, match="cli") as err:
        read_cli(path)
    assert str(path) in str(err.value)


def test_cli_section_must_be_json_ready(tmp_path):
    with pytest.raises(ValueError, match="cli"):
        save(Network([3, 2], seed=0), tmp_path / "n.safetensors", cli={"x": object()})
    assert list(tmp_path.iterdir()) == []


def test_unregistered_model_class_cannot_be_saved(tmp_path):
    class Private(Network):
        pass

    with pytest.raises(ValueError, match=r"Private.*not registered"):
        Private([3, 2], seed=0).save(tmp_path / "p.safetensors")
