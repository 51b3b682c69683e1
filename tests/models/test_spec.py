import numpy as np
import pytest

from nablanet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from nablanet.models.spec import parse_layers

BOOK = "conv:20x5x5,pool:2,conv:40x5x5,pool:2,dense:100,dropout:0.5,softmax:10"


def test_the_books_chapter_6_network():
    layers = parse_layers(BOOK, (1, 28, 28), seed=0)
    assert [type(x) for x in layers] == [Conv2D, MaxPool2D, Conv2D, MaxPool2D, Flatten, Dense,
                                        Dropout, Dense]
    assert layers[2].in_channels == 20 and layers[5].n_in == 40 * 4 * 4
    assert layers[-1].activation.name == "identity" and layers[5].activation.name == "relu"
    Y = np.zeros((3, 1, 28, 28))
    for layer in layers:
        Y = layer.forward(Y)
    assert Y.shape == (3, 10)


def test_options_sizes_and_dtype():
    layers = parse_layers("conv:3x3x2:s2:p1:tanh,pool:3x2:s1,flatten,dense:7:sigmoid,softmax:2",
                          (2, 9, 9), dtype=np.float32)
    conv, pool = layers[0], layers[1]
    assert conv.kernel_size == (3, 2) and conv.stride == (2, 2) and conv.padding == 1
    assert conv.activation.name == "tanh" and conv.init == "glorot"
    assert pool.pool_size == (3, 2) and pool.stride == (1, 1)
    assert [type(x) for x in layers[2:]] == [Flatten, Dense, Dense]
    assert all(x.dtype == np.float32 for x in layers)
    assert parse_layers("conv:4x3:same,softmax:2", (1, 5, 5))[0].padding == "same"


def test_rows_input_and_same_seed_same_weights():
    a = parse_layers("dense:5,softmax:3", (4,), seed=1)
    b = parse_layers("dense:5,softmax:3", (4,), seed=1)
    assert len(a) == 2 and all(np.array_equal(x.W, y.W) for x, y in zip(a, b, strict=True))


@pytest.mark.parametrize("spec, match", [
    ("", "expected a specification such as"),
    ("dense:100", r"token 1 'dense:100': the specification must end with .*softmax:N"),
    ("softmax:10,dense:3", r"token 1 'softmax:10'"),
    ("conv:20x5x5:s0,softmax:10", r"token 1 'conv:20x5x5:s0': unknown option 's0'"),
    ("conv:20,softmax:10", r"token 1 'conv:20': expected size FxK"),
    ("conv:3x3:same:same,softmax:2", "repeated option 'same'"),
    ("pool:2,pool:2,pool:2,pool:2,pool:2,softmax:2",
     r"token 5 'pool:2': MaxPool2D\(2x2\): expected input shape"),
    ("conv:20x30x30,softmax:10", r"token 1 'conv:20x30x30': .*smaller than the 30x30 kernel"),
    ("dropout:1.5,softmax:2", r"token 1 'dropout:1.5': expected size R"),
    ("dense:0,softmax:2", r"token 1 'dense:0': expected size N"),
    ("dense:4:gelu,softmax:2", "unknown option 'gelu'"),
    ("softmax:2:relu", "unknown option 'relu'; expected no options"),
    ("blah:3,softmax:2", r"token 1 'blah:3': unknown layer kind 'blah'"),
    ("dense:4,conv:2x3,softmax:2", r"token 2 'conv:2x3': conv needs image input"),
    ("dense:999999999,softmax:2", r"token 1 'dense:999999999': 784,999,999,215 parameters, "
                                  r"more than the 100,000,000"),
    ("conv:99999999x9x9,softmax:2", r"token 1 'conv:99999999x9x9': 8,199,999,918 param"),
])
def test_errors_name_the_bad_token(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_layers(spec, (1, 28, 28))
