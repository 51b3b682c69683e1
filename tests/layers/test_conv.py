import warnings

import numpy as np
import pytest
from tests.layers.gradcheck import check_layer

from nablanet.layers import Conv2D
from nablanet.registry import get

# (kernel_size, stride, padding): valid, strided, 'same' with an even kernel (asymmetric
# padding), and unequal row/column settings
SETTINGS = [(3, 1, "valid"), (3, 2, 1), (4, 1, "same"), ((3, 2), (2, 1), (1, 2))]


@pytest.mark.parametrize("kernel_size, stride, padding", SETTINGS)
@pytest.mark.parametrize("activation", ["identity", "tanh"])
def test_conv_gradients(kernel_size, stride, padding, activation):
    layer = Conv2D(2, 3, kernel_size, stride=stride, padding=padding,
                   activation=activation, seed=1)
    layer.b[:] = np.random.default_rng(4).standard_normal(3)
    X = np.random.default_rng(2).standard_normal((2, 2, 6, 5))
    check_layer(layer, X)


def test_conv_relu_gradients_away_from_the_kink():
    layer = Conv2D(1, 2, 2, activation="relu", seed=3)
    X = np.random.default_rng(5).standard_normal((2, 1, 4, 4))
    z = layer.forward(X).copy()
    assert (z > 0).any() and (z == 0).any()  # both branches of relu' are checked
    check_layer(layer, X)


@pytest.mark.parametrize("kernel_size, stride, padding", SETTINGS)
def test_conv_matches_torch(kernel_size, stride, padding):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    layer = Conv2D(3, 4, kernel_size, stride=stride, padding=padding, activation="identity",
                   seed=1)
    layer.b[:] = rng.standard_normal(4)
    X = rng.standard_normal((5, 3, 9, 8))
    oracle = torch.nn.Conv2d(3, 4, kernel_size, stride=stride, padding=padding,
                             dtype=torch.float64)
    with torch.no_grad():
        oracle.weight.copy_(torch.from_numpy(layer.W))
        oracle.bias.copy_(torch.from_numpy(layer.b))
    Xt = torch.tensor(X, requires_grad=True)
    with warnings.catch_warnings():  # torch warns that an even 'same' kernel pads a copy
        warnings.simplefilter("ignore", UserWarning)
        Yt = oracle(Xt)
    Y = layer.forward(X)
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=0, atol=1e-10)
    R = rng.standard_normal(Y.shape)
    Yt.backward(torch.from_numpy(R))
    dX = layer.backward(R.copy())
    np.testing.assert_allclose(dX, Xt.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads[0], oracle.weight.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(layer.grads[1], oracle.bias.grad.numpy(), rtol=0, atol=1e-10)


def test_conv_smaller_batch_reuses_the_buffers():
    layer = Conv2D(1, 2, 3, padding=1, seed=0)
    X = np.random.default_rng(1).standard_normal((6, 1, 5, 5))
    Y = layer.forward(X)
    full = Y.copy()
    again = layer.forward(X[:2])
    np.testing.assert_array_equal(again, full[:2])
    assert np.shares_memory(again, Y)


def test_conv_float32_stays_float32():
    layer = Conv2D(1, 2, 3, dtype=np.float32, seed=0)
    Y = layer.forward(np.ones((2, 1, 5, 5), dtype=np.float32))
    assert Y.dtype == np.float32 and layer.W.dtype == np.float32
    layer.backward(np.ones_like(Y))
    assert layer.grads[0].dtype == np.float32


def test_conv_init_fan_in_and_seed():
    a, b = Conv2D(3, 8, 5, seed=7), Conv2D(3, 8, 5, seed=7)
    assert np.array_equal(a.W, b.W) and a.W.shape == (8, 3, 5, 5)
    # he: N(0, 2 / fan_in) with fan_in = C * kh * kw = 75
    big = Conv2D(3, 400, 5, seed=1)
    assert abs(big.W.std() - np.sqrt(2 / 75)) < 0.01


def test_conv_config_round_trips_through_the_registry():
    layer = Conv2D(2, 3, (3, 2), stride=(2, 1), padding=1,
                   activation="tanh", init="glorot", dtype=np.float32)
    again = get("layer", "Conv2D").from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    assert again.W.dtype == np.float32


@pytest.mark.parametrize("kwargs, match", [
    ({"kernel_size": 0}, "kernel_size: expected an integer >= 1"),
    ({"kernel_size": (3, 3, 3)}, "kernel_size"),
    ({"kernel_size": 3, "stride": True}, "stride"),
    ({"kernel_size": 3, "padding": "full"}, "padding: expected 'valid', 'same'"),
    ({"kernel_size": 3, "padding": -1}, "padding: expected an integer >= 0"),
    ({"kernel_size": 3, "stride": 2, "padding": "same"}, "'same' needs stride 1"),
    ({"kernel_size": 3, "activation": "softmax"}, "output activation"),
    ({"kernel_size": 3, "activation": "gelu"}, "activation: expected one of"),
])
def test_conv_refuses_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(1, 2, **kwargs)


def test_conv_refuses_bad_inputs():
    layer = Conv2D(3, 2, 5)
    with pytest.raises(ValueError, match=r"expected input shape \(m, 3, H, W\)"):
        layer.allocate((4, 1, 28, 28))
    with pytest.raises(ValueError, match=r"expected input shape"):
        layer.allocate((4, 3 * 28 * 28))
    with pytest.raises(ValueError, match="smaller than the 5x5 kernel"):
        layer.allocate((4, 3, 4, 28))
