"""Tests for nablanet.preprocessing: the min-max scaler of sequence data."""

from __future__ import annotations

import numpy as np
import pytest

from nablanet.datasets.sequences import SequenceData, pad, train_test_split
from nablanet.preprocessing import MinMaxScaler
from test_sequences import fraud_like


def test_scaler_round_trip_and_range():
    data = fraud_like(50, n_features=4)
    scaler = MinMaxScaler().fit(data)
    scaled = scaler.transform(data)
    assert scaled is not data and scaled.names == data.names
    block = np.concatenate(scaled.features)
    np.testing.assert_allclose(block.min(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(block.max(axis=0), 1.0, atol=1e-15)
    for original, s in zip(data.features, scaled.features, strict=True):
        np.testing.assert_allclose(
            scaler.inverse_transform_features(s), original, rtol=0, atol=1e-12
        )
    padded, _ = pad(scaled.labels)
    np.testing.assert_allclose(
        scaler.inverse_transform_labels(padded)[:, :8],
        pad(data.labels)[0][:, :8],
        rtol=0,
        atol=1e-12,
    )


def test_scaler_fit_on_train_only_differs_from_fit_on_all():
    data = fraud_like(100, n_features=3)
    train, test = train_test_split(data, 0.8, seed=1)
    test.features[0][0, 0] = 100.0  # the largest x1 lies in a test sequence
    on_train, on_all = MinMaxScaler().fit(train), MinMaxScaler().fit(data)
    assert on_all.feature_max[0] == 100.0 > on_train.feature_max[0]
    assert on_train.transform(test).features[0][0, 0] > 1.0
    assert on_all.transform(test).features[0][0, 0] == 1.0


def test_scaler_constant_column_and_dict_round_trip():
    data = SequenceData(
        ["a", "b"],
        [np.array([[1.0, 3.0], [2.0, 3.0]]), np.array([[4.0, 3.0]])],
        [np.array([[5.0], [5.0]]), np.array([[5.0]])],
        ["x1", "x2"],
        ["y1"],
    )
    scaler = MinMaxScaler().fit(data)
    scaled = scaler.transform(data)
    np.testing.assert_array_equal(scaled.features[0], [[0.0, 0.0], [1 / 3, 0.0]])
    np.testing.assert_array_equal(scaled.labels[1], [[0.0]])
    np.testing.assert_array_equal(scaler.inverse_transform_labels(np.zeros((2, 1))), [[5], [5]])
    again = MinMaxScaler.from_dict(scaler.to_dict())
    assert (
        again.to_dict()
        == scaler.to_dict()
        == {
            "feature_min": [1.0, 3.0],
            "feature_max": [4.0, 3.0],
            "label_min": [5.0],
            "label_max": [5.0],
        }
    )


def test_scaler_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        MinMaxScaler().inverse_transform_labels(np.zeros((2, 1)))
    scaler = MinMaxScaler().fit(fraud_like(3, n_features=2))
    with pytest.raises(ValueError, match=r"last axis 1, found shape \(4, 2\)"):
        scaler.inverse_transform_labels(np.zeros((4, 2)))
    with pytest.raises(ValueError, match="missing key"):
        MinMaxScaler.from_dict({"feature_min": [0.0]})


def test_feature_layer_is_the_transform_and_feature_affine_is_deprecated():
    data = fraud_like(4, n_features=3)
    scaler = MinMaxScaler().fit(data)
    layer = scaler.feature_layer()
    np.testing.assert_array_equal(layer.apply(np.concatenate(data.features)),
                                  np.concatenate(scaler.transform(data).features))
    with pytest.warns(DeprecationWarning, match="feature_layer"):
        offset, scale = scaler.feature_affine()
    np.testing.assert_array_equal(offset, layer.minimum)
    np.testing.assert_array_equal(scale, layer.scale)
