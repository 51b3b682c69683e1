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


@pytest.mark.parametrize("name", ["cli_rnn_binary", "cli_gru_regression"])
def test_version_1_cli_metadata_is_the_cli_section(name):
    from nablanet.serialization import read_cli

    cli = read_cli(FIXTURES / f"{name}.safetensors")
    assert cli["task"] == ("binary" if "binary" in name else "regression")
    assert cli["threshold"] == (0.4 if "binary" in name else 0.1)
    assert cli["feature_names"] == ["x1", "x2"] and cli["label_names"] == ["y1"]
    assert set(cli["scaler"]) == {"feature_min", "feature_max", "label_min", "label_max"}


@pytest.mark.parametrize("name", ["network_book", "rnn"])
def test_version_1_model_without_cli_metadata_has_an_empty_cli_section(name):
    from nablanet.serialization import read_cli

    assert read_cli(FIXTURES / f"{name}.safetensors") == {}


def test_version_1_file_saved_again_is_the_current_version_and_predicts_the_same(
        tmp_path, expected, caplog):
    import safetensors

    from nablanet.serialization import FORMAT_VERSION, read_cli, save

    old = FIXTURES / "cli_gru_regression.safetensors"
    with caplog.at_level("INFO", logger="nablanet"):
        model = load(old)
    assert [r.message for r in caplog.records if "carries no training state" in r.message]
    save(model, tmp_path / "new.safetensors", cli=read_cli(old))
    again = load(tmp_path / "new.safetensors")
    np.testing.assert_array_equal(
        again.predict_proba(expected["cli_gru_regression.X"],
                            expected["cli_gru_regression.mask"]),
        model.predict_proba(expected["cli_gru_regression.X"],
                            expected["cli_gru_regression.mask"]))
    assert read_cli(tmp_path / "new.safetensors") == read_cli(old)
    with safetensors.safe_open(str(tmp_path / "new.safetensors"), "numpy") as f:
        assert f.metadata()["format_version"] == str(FORMAT_VERSION) == "3"
        assert "training" in f.metadata()
