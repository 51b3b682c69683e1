import numpy as np
import pytest
from tests.layers.gradcheck import check_layer

from nablanet.layers import Activation, Dense
from nablanet.registry import get


@pytest.mark.parametrize("activation", ["identity", "sigmoid", "tanh", "relu"])
def test_dense_gradients(activation):
    layer = Dense(5, 3, activation=activation, seed=1)
    X = np.random.default_rng(2).standard_normal((4, 5))
    check_layer(layer, X)


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_activation_layer_gradients(activation):
    X = np.random.default_rng(3).standard_normal((4, 2, 3))
    check_layer(Activation(activation), X)


def test_dense_book_init_draws_weights_then_biases():
    rng = np.random.default_rng(7)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    layer = Dense(4, 3, init="normal", bias_init="normal", seed=np.random.default_rng(7))
    assert np.array_equal(layer.W, W) and np.array_equal(layer.b, b)


def test_dense_config_round_trips_through_the_registry():
    layer = Dense(4, 3, activation="relu", init="he", dtype=np.float32)
    again = get("layer", "Dense").from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert again.W.dtype == np.float32


def test_dense_refuses_a_wrong_input_shape():
    with pytest.raises(ValueError, match=r"Dense\(4, 3\): expected input shape \(m, 4\)"):
        Dense(4, 3).allocate((2, 5))


def test_activation_layer_refuses_softmax():
    with pytest.raises(ValueError, match="output activation"):
        Activation("softmax")
