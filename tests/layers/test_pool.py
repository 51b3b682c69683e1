import numpy as np
import pytest
from tests.layers.gradcheck import check_layer

from nablanet.layers import MaxPool2D
from nablanet.registry import get

# 6x6 with 2x2 windows: the windows tile the input (one write per input); 7x6: a row
# that no window reaches; (3, 2) and (1, 2) strides: overlapping windows
POOLS = [(2, None, 6), (2, None, 7), (3, 2, 7), ((2, 3), (1, 2), 7)]


@pytest.mark.parametrize("pool_size, stride, height", POOLS)
def test_pool_gradients(pool_size, stride, height):
    # distinct values: finite differences are exact away from ties
    X = np.random.default_rng(0).permutation(2 * 2 * height * 6).reshape(2, 2, height, 6) * 0.1
    check_layer(MaxPool2D(pool_size, stride), X)


def test_pool_ties_send_the_gradient_to_the_first_maximum():
    X = np.array([[[[1.0, 3.0, 0.0, 0.0],
                    [3.0, 3.0, 0.0, 0.0],
                    [2.0, 2.0, 5.0, 1.0],
                    [2.0, 1.0, 1.0, 5.0]]]])
    layer = MaxPool2D(2)
    np.testing.assert_array_equal(layer.forward(X)[0, 0], [[3, 0], [2, 5]])
    dX = layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]]))
    np.testing.assert_array_equal(dX[0, 0], [[0, 1, 2, 0],
                                             [0, 0, 0, 0],
                                             [3, 0, 4, 0],
                                             [0, 0, 0, 0]])


@pytest.mark.parametrize("pool_size, stride", [(2, None), (3, 2)])
def test_pool_ties_gradient_is_that_of_the_first_maximum(pool_size, stride):
    # At a tie the max is not differentiable; the backward pass picks the first maximum.
    # That is the exact gradient of the input with each tie broken, by a tiny step down
    # in row-major order, in favour of its first element: finite differences there.
    X = np.random.default_rng(3).integers(0, 2, (2, 2, 6, 6)).astype(np.float64)
    layer = MaxPool2D(pool_size, stride)
    R = np.random.default_rng(4).standard_normal(layer.allocate(X.shape))
    layer.forward(X)
    dX = layer.backward(R.copy()).copy()
    broken = X - 1e-3 * np.arange(X.size).reshape(X.shape) / X.size
    layer.forward(broken)
    np.testing.assert_array_equal(layer.backward(R.copy()), dX)
    check_layer(layer, broken)


@pytest.mark.parametrize("pool_size, stride, height", POOLS)
def test_pool_matches_torch_with_ties(pool_size, stride, height):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    X = rng.integers(0, 3, (3, 2, height, 6)).astype(np.float64)  # many ties
    layer = MaxPool2D(pool_size, stride)
    Xt = torch.tensor(X, requires_grad=True)
    Yt = torch.nn.MaxPool2d(pool_size, stride)(Xt)
    Y = layer.forward(X)
    np.testing.assert_allclose(Y, Yt.detach().numpy(), rtol=0, atol=1e-10)
    R = rng.standard_normal(Y.shape)
    Yt.backward(torch.from_numpy(R))
    np.testing.assert_allclose(layer.backward(R.copy()), Xt.grad.numpy(), rtol=0, atol=1e-10)


def test_pool_config_round_trips_and_refuses_bad_input():
    layer = MaxPool2D((2, 3), stride=1, dtype=np.float32)
    again = get("layer", "MaxPool2D").from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="pool_size: expected an integer >= 1"):
        MaxPool2D(0)
    with pytest.raises(ValueError, match="stride"):
        MaxPool2D(2, stride=-1)
    with pytest.raises(ValueError, match=r"expected input shape \(m, C, H, W\) with H >= 2"):
        MaxPool2D(2).allocate((4, 3, 1, 5))
    with pytest.raises(ValueError, match=r"expected input shape"):
        MaxPool2D(2).allocate((4, 10))
