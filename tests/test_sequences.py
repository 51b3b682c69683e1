"""Tests for nablanet.datasets.sequences: the sequence CSV format and its helpers."""

from __future__ import annotations

import re

import numpy as np
import pytest

from nablanet.datasets.sequences import (
    MinMaxScaler,
    SequenceData,
    pad,
    read_sequence_csv,
    train_test_split,
    write_sequence_csv,
)


def fraud_like(n_sequences: int = 200, n_features: int = 29, seed: int = 0) -> SequenceData:
    """Random sequences shaped like the seed's fraud file: ~10 steps, F features, 1 label.

    ``n_sequences=28_549`` gives the full ~285,000-row file (see benchmarks/csv_load.py).
    """
    rng = np.random.default_rng(seed)
    lengths = rng.integers(8, 13, size=n_sequences)
    bounds = np.cumsum(lengths)[:-1]
    n_rows = int(lengths.sum())
    return SequenceData(
        names=[f"seq_{i:05d}" for i in range(n_sequences)],
        features=np.split(rng.standard_normal((n_rows, n_features)), bounds),
        labels=np.split((rng.random((n_rows, 1)) < 0.1).astype(np.float64), bounds),
        feature_names=[f"x{k}" for k in range(1, n_features + 1)],
        label_names=["y1"],
    )


def write(tmp_path, text: str, name: str = "data.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_same(a: SequenceData, b: SequenceData) -> None:
    assert a.names == b.names
    assert a.feature_names == b.feature_names and a.label_names == b.label_names
    for fa, fb, la, lb in zip(a.features, b.features, a.labels, b.labels, strict=True):
        np.testing.assert_array_equal(fa, fb)
        np.testing.assert_array_equal(la, lb)


# ---------------------------------------------------------------------------- reading


def test_round_trip_is_exact(tmp_path):
    data = fraud_like()
    path = write_sequence_csv(data, tmp_path / "fraud.csv")
    back = read_sequence_csv(path)
    assert_same(data, back)
    assert back.source == path
    assert (len(back), back.n_features, back.n_labels) == (200, 29, 1)
    np.testing.assert_array_equal(back.lengths, data.lengths)
    assert back.lengths.dtype == np.int64
    assert all(
        f.dtype == np.float64 and f.shape == (n, 29)
        for f, n in zip(back.features, back.lengths, strict=True)
    )
    assert not list(tmp_path.glob("*.tmp"))


def test_shuffled_and_quoted_columns(tmp_path):
    path = write(
        tmp_path,
        (
            '"y1","x2",t,"name",x1,x10,x3,x4,x5,x6,x7,x8,x9\n'
            '"5","2","0","a","1",10,3,4,5,6,7,8,9\n'
            '6,12,1,"a",11,20,13,14,15,16,17,18,19\n'
        ),
    )
    data = read_sequence_csv(path)
    assert data.names == ["a"]
    assert data.feature_names == [f"x{k}" for k in range(1, 11)]
    np.testing.assert_array_equal(data.features[0], [np.arange(1, 11), np.arange(11, 21)])
    np.testing.assert_array_equal(data.labels[0], [[5], [6]])


def test_interleaved_unsorted_rows(tmp_path):
    path = write(
        tmp_path, ("name,t,x1,y1\nb,2,20,0\na,1,1,1\nb,0,0,0\na,0.0,0,1\nc,5,7,1\nb,1,10,0\n")
    )
    data = read_sequence_csv(path)
    assert data.names == ["b", "a", "c"]
    np.testing.assert_array_equal(data.lengths, [3, 2, 1])
    np.testing.assert_array_equal(data.features[0][:, 0], [0, 10, 20])
    np.testing.assert_array_equal(data.features[1][:, 0], [0, 1])
    np.testing.assert_array_equal(data.labels[2], [[1]])


def test_numeric_names_stay_strings(tmp_path):
    data = read_sequence_csv(write(tmp_path, "name,t,x1,y1\n007,0,1,2\n 7 ,0,3,4\n"))
    assert data.names == ["007", "7"]


GOOD = "name,t,x1,y1\na,0,1,0\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", r"line 1: empty file"),
        ("name,t,x1\n", r"line 1: missing header column\(s\) y1"),
        ("t,x1,y1\n", r"line 1: missing header column\(s\) name"),
        ("name,t,x1,y1,x1\n", r"line 1, column 5: duplicate column 'x1'"),
        ("name,t,x1,y1,foo\n", r"line 1, column 5: unexpected column 'foo'"),
        ("name,t,x1,x3,y1\n", r"line 1: column x2 is missing"),
        ("name,t,x1,y1\n", r"no data rows"),
        (GOOD + "a,1,2\n", r"line 3: expected 4 fields \(as in the header\), found 3"),
        (GOOD + "a,1,2,0,9\n", r"line 3: expected 4 fields \(as in the header\), found 5"),
        (GOOD + "a,1,abc,0\n", r"line 3, column 3 \(x1\): not a number: 'abc'"),
        (GOOD + "a,1,2,\n", r"line 3, column 4 \(y1\): empty value"),
        (GOOD + ",1,2,0\n", r"line 3, column 1 \(name\): empty value"),
        (GOOD + '"",1,2,0\n', r"line 3, column 1 \(name\): empty value"),
        (GOOD + "a,1,nan,0\n", r"line 3, column 3 \(x1\): not a finite number: 'nan'"),
        (GOOD + "a,1.5,2,0\n", r"line 3, column 2 \(t\): step index t must be an integer"),
        (
            GOOD + "b,0,1,0\na,0,2,0\n",
            r"line 4, column 2 \(t\): duplicate step t=0 in sequence 'a'",
        ),
        (GOOD + "\na,1,2,0\n", r"line 3: blank line"),
    ],
)
def test_validation_errors(tmp_path, text, expected):
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(ValueError, match=expected) as info:
        read_sequence_csv(path)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "none.csv"))):
        read_sequence_csv(tmp_path / "none.csv")


def test_sequence_data_checks_lengths_and_subsets():
    data = fraud_like(5, n_features=2)
    with pytest.raises(ValueError, match="one entry per sequence"):
        SequenceData(["a"], [], [], ["x1"], ["y1"])
    sub = data.subset([3, 1])
    assert sub.names == ["seq_00003", "seq_00001"]
    assert sub.features[0] is data.features[3]


# ---------------------------------------------------------------------------- scaling


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


# ---------------------------------------------------------------------------- splitting


def test_split_reproducible_disjoint_covering():
    data = fraud_like(101, n_features=2)
    train, test = train_test_split(data, 0.8, seed=7)
    again, _ = train_test_split(data, 0.8, seed=7)
    other, _ = train_test_split(data, 0.8, seed=8)
    assert (len(train), len(test)) == (81, 20)
    assert train.names == again.names and train.names != other.names
    assert not set(train.names) & set(test.names)
    assert sorted(train.names + test.names) == data.names
    assert train.names == sorted(train.names)


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.5, 1.5, 0.01, 0.99])
def test_split_rejects_bad_ratio(ratio):
    with pytest.raises(ValueError, match="train_ratio"):
        train_test_split(fraud_like(10, n_features=1), ratio)


# ---------------------------------------------------------------------------- padding


def test_pad_variable_lengths():
    arrays = [np.full((3, 2), 1.0), np.full((1, 2), 2.0), np.full((2, 2), 3.0)]
    padded, mask = pad(arrays)
    assert padded.shape == (3, 3, 2) and padded.dtype == np.float64
    assert mask.dtype == np.bool_
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(padded[:, :, 0], [[1, 1, 1], [2, 0, 0], [3, 3, 0]])
    np.testing.assert_array_equal(padded[~mask], 0.0)
    wide, wide_mask = pad(arrays, n_steps=5, dtype=np.float32)
    assert wide.shape == (3, 5, 2) and wide.dtype == np.float32
    np.testing.assert_array_equal(wide_mask.sum(axis=1), [3, 1, 2])


def test_pad_keeps_step_order():
    data = fraud_like(30, n_features=3)
    padded, mask = pad(data.features)
    for i, f in enumerate(data.features):
        np.testing.assert_array_equal(padded[i, : len(f)], f)
    np.testing.assert_array_equal(mask.sum(axis=1), data.lengths)


def test_pad_errors():
    with pytest.raises(ValueError, match="empty"):
        pad([])
    with pytest.raises(ValueError, match=r"arrays\[1\] has shape \(2, 3\)"):
        pad([np.zeros((2, 2)), np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"n_steps=1 but arrays\[0\] has 2 steps"):
        pad([np.zeros((2, 2))], n_steps=1)
