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
