import numpy as np
import pytest
from tests.layers.gradcheck import check_layer

from nablanet.layers import Flatten


def test_flatten_gradients_and_order():
    X = np.random.default_rng(0).standard_normal((3, 2, 4, 5))
    layer = Flatten()
    np.testing.assert_array_equal(layer.forward(X), X.reshape(3, 40))
    check_layer(layer, X)


def test_flatten_copies_a_non_contiguous_input():
    X = np.arange(2 * 3 * 4.0).reshape(2, 4, 3).transpose(0, 2, 1)
    Y = Flatten().forward(X)
    np.testing.assert_array_equal(Y, np.ascontiguousarray(X).reshape(2, 12))


def test_flatten_refuses_a_one_dimensional_input():
    with pytest.raises(ValueError, match=r"Flatten: expected input shape \(m, \.\.\.\)"):
        Flatten().allocate((5,))
