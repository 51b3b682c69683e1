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
