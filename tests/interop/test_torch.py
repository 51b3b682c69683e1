"""PyTorch interchange: models to torch.nn modules and back, predictions equal to 1e-12."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="pip install torch==2.13.0")

from nablanet import Network  # noqa: E402
from nablanet.interop.torch import from_torch, to_torch  # noqa: E402
from nablanet.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D  # noqa: E402
from nablanet.models.sequential import Sequential  # noqa: E402


def test_network_round_trip():
    net = Network([6, 8, 4, 3], activation="tanh", output_activation="softmax",
                  loss="cross_entropy", init="glorot", seed=2)
    X = np.random.default_rng(0).standard_normal((10, 6))
    module = to_torch(net)
    with torch.no_grad():
        out = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, net.predict_proba(X), rtol=0, atol=1e-12)
    back = from_torch(module)
    np.testing.assert_allclose(back.predict_proba(X), net.predict_proba(X), rtol=0, atol=1e-12)
    assert back.loss.name == "cross_entropy"


def test_convolutional_stack_to_torch():
    cnn = Sequential([Conv2D(2, 4, 3, padding="same", seed=1), MaxPool2D(2),
                      Conv2D(4, 3, 2, padding=1, seed=2), Dropout(0.3, seed=3), Flatten(),
                      Dense(108, 5, seed=4)], output_activation="sigmoid",
                     loss="binary_cross_entropy")
    X = np.random.default_rng(1).standard_normal((3, 2, 10, 10))
    with torch.no_grad():
        out = to_torch(cnn)(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, cnn.predict_proba(X), rtol=0, atol=1e-12)


def test_a_torch_trained_mlp_predicts_the_same_in_nablanet():
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(),
                                 torch.nn.Linear(16, 3), torch.nn.Softmax(dim=-1)).double()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(50):
        opt.zero_grad()
        p = module(torch.from_numpy(X))
        torch.nn.functional.nll_loss(torch.log(p), torch.from_numpy(y)).backward()
        opt.step()
    with torch.no_grad():
        expected = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(from_torch(module).predict_proba(X), expected, rtol=0,
                               atol=1e-12)


def test_unsupported_module_is_named():
    module = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.GELU())
    with pytest.raises(ValueError, match=r"module 1 \(GELU\)"):
        from_torch(module)


@pytest.mark.parametrize("target", ["every", "last"])
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_recurrent_round_trip_with_lengths(cls, target):
    import nablanet

    model = getattr(nablanet, cls)(3, 5, 2, num_layers=2, target=target,
                                   output_activation="sigmoid", loss="binary_cross_entropy",
                                   seed=4)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 7, 3))
    mask = np.arange(7) < np.array([7, 3, 5, 1, 6, 2])[:, None]
    module = to_torch(model)
    with torch.no_grad():
        out = module(torch.from_numpy(X), torch.from_numpy(mask.sum(axis=1))).numpy()
    np.testing.assert_allclose(out, model.predict_proba(X, mask), rtol=0, atol=1e-12)
    back = from_torch(module)
    assert type(back) is type(model) and back.get_config()["num_layers"] == 2
    np.testing.assert_allclose(back.predict_proba(X, mask), model.predict_proba(X, mask),
                               rtol=0, atol=1e-12)


def test_a_torch_trained_lstm_predicts_the_same_in_nablanet():
    from nablanet.interop.torch import RecurrentModule

    torch.manual_seed(0)
    module = RecurrentModule(torch.nn.LSTM(2, 8, batch_first=True).double(),
                             torch.nn.Linear(8, 3).double(), output_activation="softmax",
                             target="last")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 6, 2))
    lengths = rng.integers(2, 7, 32)
    y = (X[:, 0, 0] > 0).astype(int) + (X[:, 0, 1] > 0)
    opt = torch.optim.Adam(module.parameters(), lr=0.02)
    for _ in range(30):
        opt.zero_grad()
        p = module(torch.from_numpy(X), torch.from_numpy(lengths))
        torch.nn.functional.nll_loss(torch.log(p), torch.from_numpy(y)).backward()
        opt.step()
    with torch.no_grad():
        expected = module(torch.from_numpy(X), torch.from_numpy(lengths)).numpy()
    mask = np.arange(6) < lengths[:, None]
    model = from_torch(module)
    np.testing.assert_allclose(model.predict_proba(X, mask), expected, rtol=0, atol=1e-12)
    assert np.array_equal(model.predict(X, mask), expected.argmax(axis=1))


def test_sigmoid_rnn_has_no_torch_form():
    from nablanet import RNN

    with pytest.raises(ValueError, match=r"nn\.RNN has no 'sigmoid'"):
        to_torch(RNN(2, 3, 1, activation="sigmoid"))


# --------------------------------------------------------------------------------------
# from_torch(to_torch(m)) on every layout to_torch writes: the same predictions, the
# same configuration, the same per-sample input shape (so summary() works)
# --------------------------------------------------------------------------------------
def _conv_stack(dtype=np.float64):
    from nablanet.layers import Activation

    return Sequential([Conv2D(2, 4, 3, padding="same", seed=1, dtype=dtype),
                       MaxPool2D(2, dtype=dtype),
                       Conv2D(4, 3, 2, padding=1, activation="identity", seed=2, dtype=dtype),
                       Activation("tanh", dtype=dtype),
                       Conv2D(3, 3, 2, padding="same", activation="sigmoid", seed=5,
                              dtype=dtype),  # an even kernel: the uneven ZeroPad2d
                       Dropout(0.3, seed=3, dtype=dtype), Flatten(dtype=dtype),
                       Dense(108, 5, activation="relu", seed=4, dtype=dtype),
                       Dense(5, 3, seed=6, dtype=dtype)],
                      output_activation="softmax", loss="cross_entropy", seed=7,
                      dtype=dtype, input_shape=(2, 10, 10))


def _layouts():
    import nablanet

    return {
        "network": lambda: Network([6, 8, 4, 3], activation="tanh",
                                   output_activation="softmax", loss="cross_entropy",
                                   init="glorot", seed=2),
        "network-float32": lambda: Network([6, 5, 1], activation="relu",
                                           output_activation="sigmoid",
                                           loss="binary_cross_entropy", seed=3,
                                           dtype=np.float32),
        "dense-regression": lambda: Sequential(
            [Dense(6, 7, activation="sigmoid", init="he", seed=1), Dense(7, 2, seed=2)],
            loss="mse", seed=5, input_shape=(6,)),
        "conv": _conv_stack,
        "conv-float32": lambda: _conv_stack(np.float32),
        "conv-unfitted": lambda: Sequential([Conv2D(1, 2, 3, seed=0), Flatten(),
                                             Dense(8, 2, seed=1)]),
        "rnn": lambda: nablanet.RNN(3, 5, 2, activation="relu", seed=4),
        "lstm-last": lambda: nablanet.LSTM(3, 5, 3, num_layers=2, target="last",
                                           output_activation="softmax",
                                           loss="cross_entropy", seed=4),
        "gru": lambda: nablanet.GRU(3, 4, 1, output_activation="sigmoid",
                                    loss="binary_cross_entropy", seed=4),
    }


def _inputs(model, rng):
    shape = model.sample_shape if model.sample_shape is not None else (1, 4, 4)
    if len(shape) == 2 and shape[0] == 1:  # a recurrent model: sequences of 7 steps
        shape = (7, shape[1])
    return rng.standard_normal((5, *shape)).astype(model.dtype)


@pytest.mark.parametrize("name", list(_layouts()))
def test_from_torch_of_to_torch_is_the_same_model(name):
    model = _layouts()[name]()
    X = _inputs(model, np.random.default_rng(0))
    module = to_torch(model)
    with torch.no_grad():
        # move the weights in PyTorch: the weights come from the modules, not the record
        for p in module.parameters():
            p.mul_(1.5)
    back = from_torch(module)
    assert type(back) is type(model)
    assert back.get_config() == model.get_config()
    for p in model.params():
        p *= 1.5
    tol = 1e-12 if model.dtype == np.float64 else 1e-6
    np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X), rtol=0,
                               atol=tol)
    if model.sample_shape is not None:
        assert back.summary() == model.summary()


@pytest.mark.parametrize("name", ["network", "dense-regression", "conv", "conv-float32"])
def test_from_torch_reads_the_layout_without_the_record(name):
    """A module built in PyTorch (no ``nablanet_config``): the same predictions; the
    convolutional one needs its input shape."""
    model = _layouts()[name]()
    X = _inputs(model, np.random.default_rng(1))
    module = to_torch(model)
    del module.nablanet_config
    if isinstance(model.layers[0], Conv2D):
        with pytest.raises(ValueError, match=r"input_shape: the module starts with an "
                                             r"nn.Conv2d"):
            from_torch(module)
        back = from_torch(module, input_shape=model.sample_shape)
    else:
        back = from_torch(module)
    assert type(back) is Sequential and back.sample_shape == model.sample_shape
    tol = 1e-12 if model.dtype == np.float64 else 1e-6
    np.testing.assert_allclose(back.predict_proba(X), model.predict_proba(X), rtol=0,
                               atol=tol)
    assert "total parameters" in back.summary()


def test_a_changed_module_is_read_from_its_layers(caplog):
    model = _layouts()["network"]()
    module = to_torch(model)
    module.append(torch.nn.Linear(3, 2).double())  # after the softmax: another layout
    module[-2], module[-1] = module[-1], module[-2]
    back = from_torch(module)
    assert type(back) is Sequential and back.layers[-1].n_out == 2
    assert "no longer fits the nablanet_config" in caplog.text


@pytest.mark.parametrize(("module", "message"), [
    (lambda: torch.nn.Sequential(torch.nn.ZeroPad2d((0, 1, 0, 1)), torch.nn.Linear(3, 2)),
     r"module 0 \(ZeroPad2d\) is not followed by an nn.Conv2d"),
    (lambda: torch.nn.Sequential(torch.nn.ZeroPad2d((0, 2, 0, 2)), torch.nn.Conv2d(1, 2, 3)),
     r"module 1 \(Conv2d\): an nn.ZeroPad2d\(0, 2, 0, 2\) is supported only"),
    (lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3, dilation=2)),
     r"module 0 \(Conv2d\): nablanet's Conv2D has no groups, dilation"),
    (lambda: torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.MaxPool2d(2, padding=1)),
     r"module 1 \(MaxPool2d\): nablanet's MaxPool2D has no padding"),
    (lambda: torch.nn.Sequential(torch.nn.Flatten(0)), r"expected nn.Flatten\(\)"),
    (lambda: torch.nn.Sequential(torch.nn.Flatten()), "no nn.Linear or nn.Conv2d layer"),
])
def test_modules_outside_the_layout_are_named(module, message):
    with pytest.raises(ValueError, match=message):
        from_torch(module(), input_shape=(1, 8, 8))
