"""MinMaxScaling: the min-max scaling layer (and its inverse) against finite differences,
against the MinMaxScaler it stands for, inside a stack and at a model's edges."""

import numpy as np
import pytest
from tests.layers.gradcheck import check_layer, numeric_grad

from nablanet import GRU, Network, load
from nablanet.datasets.sequences import SequenceData
from nablanet.layers import Dense, MinMaxScaling
from nablanet.models.sequential import Sequential
from nablanet.preprocessing import MinMaxScaler

LO, HI = [-2.0, 0.5, 3.0], [4.0, 0.5, 9.0]  # the middle feature is constant


@pytest.mark.parametrize("inverse", [False, True])
@pytest.mark.parametrize("shape", [(4, 3), (2, 5, 3)])
def test_gradients_pass_through(inverse, shape):
    X = np.random.default_rng(0).uniform(-3, 10, shape)
    check_layer(MinMaxScaling(LO, HI, inverse=inverse), X)


def test_forward_is_the_scaler_bit_for_bit_and_inverse_undoes_it():
    rng = np.random.default_rng(1)
    features = [rng.uniform(-2, 9, (n, 3)) for n in (3, 5)]
    data = SequenceData(names=["a", "b"], features=features,
                        labels=[f[:, :2] * 10 for f in features],
                        feature_names=["x1", "x2", "x3"], label_names=["y1", "y2"])
    scaler = MinMaxScaler().fit(data)
    layer, back = scaler.feature_layer(), scaler.label_layer()
    X = np.concatenate(features)
    expected = np.concatenate(scaler.transform(data).features)
    np.testing.assert_array_equal(layer.apply(X), expected)
    np.testing.assert_array_equal(layer.forward(X), expected)
    Y = rng.uniform(0, 1, (4, 2))
    np.testing.assert_array_equal(back.apply(Y), scaler.inverse_transform_labels(Y))
    np.testing.assert_array_equal(back.forward(Y), scaler.inverse_transform_labels(Y))
    np.testing.assert_allclose(back.undo(back.apply(Y)), Y, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(layer.undo(layer.apply(X))[:, [0, 2]], X[:, [0, 2]],
                               rtol=1e-14)


def test_constant_feature_maps_to_zero_and_back_to_its_constant():
    layer = MinMaxScaling(LO, HI)
    out = layer.apply(np.array([[1.0, 7.0, 3.0]]))
    assert out[0, 1] == 0.0 and out[0, 0] == 0.5 and out[0, 2] == 0.0
    assert MinMaxScaling(LO, HI, inverse=True).apply(np.zeros((1, 3)))[0, 1] == 0.5


def test_config_round_trips_and_errors_name_the_layer():
    layer = MinMaxScaling(LO, HI, inverse=True, dtype=np.float32)
    again = MinMaxScaling.from_config(layer.get_config())
    assert again.get_config() == layer.get_config() and again.inverse
    assert layer.count_params() == 0 and layer.params() == []
    for args, fragment in [(([0.0, 1.0], [1.0]), "one shape"),
                           (([0.0], [np.nan]), "NaN"),
                           (([2.0], [1.0]), "maximum 1 < minimum 2")]:
        with pytest.raises(ValueError, match=fragment):
            MinMaxScaling(*args)
    with pytest.raises(ValueError, match="3 features on the last axis"):
        MinMaxScaling(LO, HI).apply(np.zeros((2, 4)))


def test_inside_a_stack_the_model_gradient_matches_finite_differences():
    layers = [MinMaxScaling(LO, HI), Dense(3, 4, activation="tanh", seed=0), Dense(4, 2, seed=1),
              MinMaxScaling([0.0, -1.0], [10.0, 1.0], inverse=True)]
    model = Sequential(layers, loss="quadratic", seed=0)
    rng = np.random.default_rng(2)
    X, y = rng.uniform(-2, 9, (5, 3)), rng.uniform(0, 10, (5, 2))
    grads = model.gradients(X, y)
    for p, g in zip(model.params(), grads, strict=True):
        np.testing.assert_allclose(g, numeric_grad(lambda: model.loss_value(X, y), p),
                                   rtol=1e-6, atol=1e-8)


def test_model_edges_train_in_scaled_units_bit_for_bit_and_predict_in_data_units(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.uniform(-2, 9, (6, 4, 3))
    mask = np.arange(4) < np.array([4, 2, 3, 4, 1, 4])[:, None]
    Y = rng.uniform(100, 300, (6, 4, 2))
    inp, out = MinMaxScaling(LO, HI), MinMaxScaling([100.0, 120.0], [300.0, 290.0], inverse=True)
    edged = GRU(3, 4, 2, seed=5, input_scaling=inp, output_scaling=out)
    bare = GRU(3, 4, 2, seed=5)
    edged.fit(X, Y, mask, epochs=2, batch_size=2, progress=False, backend="numpy")
    bare.fit(inp.apply(X), out.undo(Y), mask, epochs=2, batch_size=2, progress=False,
             backend="numpy")
    for a, b in zip(edged.params(), bare.params(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert edged.evaluate(X, Y, mask) == bare.evaluate(inp.apply(X), out.undo(Y), mask)
    expected = out.apply(bare.predict_proba(inp.apply(X), mask)) * mask[..., None]
    np.testing.assert_array_equal(edged.predict_proba(X, mask), expected)
    edged.save(tmp_path / "m.safetensors")
    loaded = load(tmp_path / "m.safetensors")
    assert loaded.get_config() == edged.get_config()
    np.testing.assert_allclose(loaded.predict_proba(X, mask), expected, rtol=1e-14)
    # step by step: raw features in, data units out
    state = loaded.initial_state(1)
    for t in range(4):
        proba, state = loaded.step(X[:1, t], state)
    np.testing.assert_allclose(proba[0], expected[0, 3], rtol=1e-12)


def test_a_network_takes_scaling_at_its_edges():
    net = Network([3, 4, 1], output_activation="identity", seed=0,
                  input_scaling=MinMaxScaling(LO, HI),
                  output_scaling=MinMaxScaling([50.0], [60.0], inverse=True))
    X = np.random.default_rng(4).uniform(-2, 9, (7, 3))
    again = Network.from_config(net.get_config())
    assert again.get_config() == net.get_config()
    plain = Network([3, 4, 1], output_activation="identity", seed=0)
    np.testing.assert_array_equal(net.predict_proba(X),
                                  plain.predict_proba(MinMaxScaling(LO, HI).apply(X)) * 10 + 50)
    with pytest.raises(ValueError, match="input_scaling: expected a MinMaxScaling"):
        Network([3, 4, 1], input_scaling="minmax")


def test_summary_shows_the_scaling_first_and_last():
    model = GRU(3, 4, 2, input_scaling=MinMaxScaling(LO, HI),
                output_scaling=MinMaxScaling([0.0, 1.0], [1.0, 2.0], inverse=True))
    lines = model.summary().splitlines()
    assert lines[2].startswith("input_scaling MinMaxScaling") and lines[2].endswith(" 0")
    assert lines[5].startswith("output_scaling MinMaxScaling") and "(n, 1, 2)" in lines[5]
    assert f"total parameters: {model.count_params()} " in model.summary()  # none added
