"""The recurrent layers on their own: BPTT against finite differences with the shared
helper, shapes, configs, errors."""

import numpy as np
import pytest
from tests.layers.gradcheck import check_layer

from nablanet.layers import GRULayer, LSTMLayer, RNNLayer
from nablanet.registry import get, names

LAYERS = [(RNNLayer, {"activation": "tanh"}), (RNNLayer, {"activation": "relu"}),
          (LSTMLayer, {}), (GRULayer, {})]


@pytest.mark.parametrize(("cls", "opts"), LAYERS)
def test_bptt_matches_finite_differences(cls, opts):
    layer = cls(3, 4, seed=1, **opts)
    rng = np.random.default_rng(2)
    for p in layer.params():  # non-zero biases: every term exercised
        p += 0.1 * rng.standard_normal(p.shape)
    check_layer(layer, rng.standard_normal((2, 5, 3)))


@pytest.mark.parametrize(("cls", "opts"), LAYERS)
def test_config_round_trips_through_the_registry(cls, opts):
    layer = cls(3, 4, init="he", dtype=np.float32, **opts)
    again = get("layer", cls.__name__).from_config(layer.get_config())
    assert again.get_config() == layer.get_config() and again.W_x.dtype == np.float32
    assert layer.allocate((7, 5, 3)) == (7, 5, 4)


def test_short_batches_reuse_their_own_buffers():
    layer = LSTMLayer(2, 3, seed=0)
    layer.allocate((4, 6, 2))
    X = np.random.default_rng(0).standard_normal((4, 6, 2))
    whole = layer.forward(X).copy()
    np.testing.assert_allclose(layer.forward(X[:3]), whole[:3], rtol=1e-13)
    np.testing.assert_allclose(layer.forward(X), whole, rtol=1e-13)


def test_wrong_input_shape_names_the_layer():
    with pytest.raises(ValueError, match=r"GRULayer\(3, 4\): expected input shape"):
        GRULayer(3, 4).allocate((2, 5, 2))


def test_every_family_registers_itself():
    assert {"RNNLayer", "LSTMLayer", "GRULayer", "Dense", "Activation"} <= set(names("layer"))
    assert {"Network", "Sequential", "RNN", "LSTM", "GRU"} <= set(names("model"))
    assert names("loss") == ["binary_cross_entropy", "cross_entropy", "mse", "quadratic"]
    assert names("activation") == ["identity", "relu", "sigmoid", "softmax", "tanh"]
    assert names("initializer") == ["glorot", "he", "normal", "orthogonal", "scaled_normal"]
    assert names("optimizer") == ["adam", "rmsprop", "sgd"]
    assert names("schedule") == ["cosine", "exponential", "plateau", "step"]
