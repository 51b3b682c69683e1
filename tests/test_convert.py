"""Tests for nablanet.datasets.convert (skipped without the optional `data` extra)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nablanet.datasets.convert import convert_elnino, convert_japanese_vowels
from nablanet.datasets.sequences import read_sequence_csv


def test_japanese_vowels(tmp_path):
    pytest.importorskip("aeon")
    train_csv, test_csv = convert_japanese_vowels(tmp_path / "jv")
    train, test = read_sequence_csv(train_csv), read_sequence_csv(test_csv)
    assert (len(train), len(test)) == (270, 370)
    assert train.n_features == test.n_features == 12 and train.n_labels == 1
    lengths = np.concatenate([train.lengths, test.lengths])
    assert (lengths.min(), lengths.max()) == (7, 29)
    assert train.names[0] == "train_0001" and test.names[-1] == "test_0370"
    classes = np.concatenate([y[:, 0] for y in train.labels])
    np.testing.assert_array_equal(np.unique(classes), np.arange(9))
    # one class per sequence, repeated at every step; 30 utterances per speaker
    assert all(np.all(y == y[0]) for y in train.labels)
    np.testing.assert_array_equal(np.bincount([int(y[0, 0]) for y in train.labels]), [30] * 9)


def test_elnino_windows(tmp_path):
    pytest.importorskip("statsmodels")
    train_csv, test_csv = convert_elnino(tmp_path, window=12, test_years=10)
    train, test = read_sequence_csv(train_csv), read_sequence_csv(test_csv)
    # 61 years = 732 months; 720 windows; test targets end in 2001-01..2010-12
    assert (len(train), len(test)) == (600, 120)
    assert train.names[:2] == ["1950-01", "1950-02"] and test.names[0] == "2000-01"
    assert set(train.lengths) == set(test.lengths) == {12}
    series = np.concatenate([train.features[0][:, 0], train.labels[-1][:, 0]])
    for data in (train, test):
        for x, y in zip(data.features, data.labels, strict=True):
            np.testing.assert_array_equal(y[:-1], x[1:])  # label = next month's value
    # window k starts one month after window k-1: its last label is window k+1's last x
    np.testing.assert_array_equal(train.labels[0][-1], train.features[1][-1])
    assert series[0] == 23.11  # January 1950

    def month(name):  # months since 1950-01 of a window's start
        year, m = map(int, name.split("-"))
        return 12 * (year - 1950) + m - 1

    last_train_target = max(month(n) for n in train.names) + 12
    first_test_target = min(month(n) for n in test.names) + 12
    assert last_train_target < first_test_target == 732 - 120


def test_elnino_rejects_bad_window(tmp_path):
    pytest.importorskip("statsmodels")
    with pytest.raises(ValueError, match="window"):
        convert_elnino(tmp_path, window=0)
    with pytest.raises(ValueError, match="test_years"):
        convert_elnino(tmp_path, test_years=61)


@pytest.mark.parametrize(
    ("module", "convert"),
    [("aeon.datasets", convert_japanese_vowels), ("statsmodels.datasets.elnino", convert_elnino)],
)
def test_missing_extra_says_how_to_install(tmp_path, monkeypatch, module, convert):
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(ImportError, match=r"pip install 'nablanet\[data\]'"):
        convert(tmp_path)
