"""Model files written by nablanet 0.1.0 (format version 1, commit ac98592) load and
predict what they predicted then (tests/fixtures/models/make_fixtures.py made them)."""

from pathlib import Path

import numpy as np
import pytest

from nablanet import GRU, LSTM, RNN, Network, load

FIXTURES = Path(__file__).parent / "fixtures" / "models"
CLASSES = {"network_book": Network, "network_relu_softmax": Network, "rnn": RNN,
           "lstm2": LSTM, "gru": GRU, "cli_rnn_binary": RNN, "cli_gru_regression": GRU}


@pytest.fixture(scope="module")
def expected():
    with np.load(FIXTURES / "expected.npz") as data:
        return dict(data)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_version_1_file_loads_and_predicts_the_same(name, expected):
    model = load(FIXTURES / f"{name}.safetensors")
    assert type(model) is CLASSES[name]
    args = [expected[f"{name}.X"]]
    if f"{name}.mask" in expected:
        args.append(expected[f"{name}.mask"])
    np.testing.assert_allclose(model.predict_proba(*args), expected[f"{name}.proba"],
                               rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_version_1_file_loads_through_its_class(name, expected):
    model = CLASSES[name].load(FIXTURES / f"{name}.safetensors")
    assert type(model) is CLASSES[name]
