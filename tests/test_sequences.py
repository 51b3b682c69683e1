"""Tests for nablanet.datasets.sequences: the sequence CSV format and its helpers."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from nablanet.datasets.sequences import (
    SequenceData,
    class_indices,
    pad,
    parsing,
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


def test_names_differing_only_in_a_nul_character_are_two_sequences(tmp_path):
    data = read_sequence_csv(write(tmp_path, "name,t,x1,y1\na,0,1,2\na\x00,0,3,4\n"))
    assert data.names == ["a", "a\x00"]


GOOD = "name,t,x1,y1\na,0,1,0\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", r"line 1: empty file"),
        ("name,t,y1\n", r"line 1: missing header column\(s\) x1"),
        ("name,t,x1\n", r"no data rows"),
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
        (GOOD + " \t\r\na,1,2,0\n", r"line 3: blank line"),
        (GOOD + '"', r"line 3: a quote is opened and never closed"),
        (GOOD + 'a,1,2,"0\n', r"line 3: a quote is opened and never closed"),
        (GOOD + '"a,1,2,0\nb",1,2,0\n', r"line 3: a quote is opened and never closed"),
        ("name,t,x1,y1\ra,0,1,0\ra,1,x,0\r", r"line 3, column 3 \(x1\): not a number: 'x'"),
        ("name,t,x1,y1\r\na,0,1,0\r\na,1,2\r\n", r"line 3: expected 4 fields"),
        (
            GOOD + "a,9223372036854775808,2,0\n",
            r"line 3, column 2 \(t\): step index t=9223372036854775808 lies outside the int64",
        ),
        (GOOD + "a,-9223372036854775809,2,0\n", r"line 3, column 2 \(t\): .* outside the int64"),
        (GOOD + "a,1e19,2,0\n", r"line 3, column 2 \(t\): step index t=1e19 lies outside"),
        (GOOD + "a,nan,2,0\n", r"line 3, column 2 \(t\): step index t must be an integer"),
        (GOOD + "a,1e-400,2,0\n", r"line 3, column 2 \(t\): step index t must be an integer"),
        (GOOD + "a,1e999999999,2,0\n", r"line 3, column 2 \(t\): .* outside the int64"),
        (GOOD + "a," + "9" * 5000 + ",2,0\n", r"line 3, column 2 \(t\): .* outside the int64"),
        (GOOD + "a,1_0,2,0\n", r"line 3, column 2 \(t\): step index t must be an integer"),
        (GOOD + "a,1,1_0,0\n", r"line 3, column 3 \(x1\): not a number: '1_0'"),
        (GOOD + "a,1,2,-inf\n", r"line 3, column 4 \(y1\): not a finite number: '-inf'"),
        (GOOD + 'a,1,"2,5",0\n', r"line 3, column 3 \(x1\): not a number: '2,5'"),
        (GOOD + "a,2,2,0\na,2.0,3,0\n", r"line 4, column 2 \(t\): duplicate step t=2 in"),
    ],
)
def test_validation_errors(tmp_path, text, expected):
    path = write(tmp_path, text, "bad.csv")
    with pytest.raises(ValueError, match=expected) as info:
        read_sequence_csv(path)
    assert str(info.value).startswith(f"{path}: ")


def test_line_endings_bom_and_trailing_blank_lines_read_alike(tmp_path):
    body = ["name,t,x1,y1", "a,0,1,0", "b,0,2,1", "a,1,3,0"]
    expected = read_sequence_csv(write(tmp_path, "\n".join(body) + "\n"))
    assert expected.names == ["a", "b"]
    np.testing.assert_array_equal(expected.features[0], [[1], [3]])
    for ending in ("\r", "\r\n", "\n"):
        path = tmp_path / "endings.csv"
        path.write_bytes(b"\xef\xbb\xbf" + (ending.join(body) + ending * 3).encode())
        data = read_sequence_csv(path)
        assert_same(data, expected)
        assert [lines.tolist() for lines in data.lines] == [[2, 4], [3]]


def test_quoting_follows_one_rule_for_header_and_body(tmp_path):
    text = '"name","t","x1","y1"\n"a,b",0,1,0\n"say ""hi""",0," 2 ",1\nc"d,0,3,0\n#e,0,4,0\n'
    data = read_sequence_csv(write(tmp_path, text))
    assert data.names == ["a,b", 'say "hi"', 'c"d', "#e"]
    np.testing.assert_array_equal(np.concatenate(data.features)[:, 0], [1, 2, 3, 4])


def test_quoted_names_round_trip(tmp_path):
    data = fraud_like(4, n_features=2)
    data.names = ["a,b", 'say "hi"', "plain", "x;y"]
    back = read_sequence_csv(write_sequence_csv(data, tmp_path / "q.csv"))
    assert_same(data, back)


def test_int64_bounds_are_exact(tmp_path):
    path = write(
        tmp_path,
        "name,t,x1,y1\na,9223372036854775807,1,0\na,-9223372036854775808,2,0\n"
        "a,9007199254740993.0,3,0\na,9007199254740992,4,0\n",
    )
    data = read_sequence_csv(path)
    assert data.times[0].tolist() == [
        -9223372036854775808,
        9007199254740992,
        9007199254740993,
        9223372036854775807,
    ]
    np.testing.assert_array_equal(data.features[0][:, 0], [2, 4, 3, 1])


def test_not_utf8_names_line_and_byte(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,t,x1,y1\na,0,1,0\r\nb\xe9,0,2,0\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"line 3: not UTF-8 text \(byte 0xe9 at byte 2 of"):
        read_sequence_csv(path)


def test_blocks_give_the_same_result_and_name_the_right_line(tmp_path, monkeypatch):
    data = fraud_like(40, n_features=3, seed=2)
    path = write_sequence_csv(data, tmp_path / "blocks.csv")
    whole = read_sequence_csv(path)
    monkeypatch.setattr(parsing, "_CHUNK", 100)  # lines cut across reads
    assert_same(read_sequence_csv(path), whole)
    lines = path.read_text().splitlines()
    bad = [*lines[:300], lines[300].replace(",", ",oops", 1), *lines[301:]]  # t of line 301
    with pytest.raises(ValueError, match=r"bad.csv: line 301, column 2 \(t\): step index"):
        read_sequence_csv(write(tmp_path, "\n".join(bad), "bad.csv"))
    trailing = write(tmp_path, "\n".join(lines) + "\n \n\n" * 100, "trailing.csv")
    assert_same(read_sequence_csv(trailing), whole)
    gap = write(tmp_path, "\n".join([*lines[:4], "", *lines[4:]]), "gap.csv")
    with pytest.raises(ValueError, match=r"gap.csv: line 5: blank line"):
        read_sequence_csv(gap)
    duplicated = [*lines, lines[250]]  # the last line repeats the step of line 251
    with pytest.raises(
        ValueError, match=rf"dup.csv: line {len(duplicated)}, column 2 \(t\): duplicate step"
    ):
        read_sequence_csv(write(tmp_path, "\n".join(duplicated), "dup.csv"))


def test_mutated_files_read_or_fail_naming_file_and_line(tmp_path):
    """Random byte edits of a valid file: each one reads, or raises ValueError naming the
    file and a line; never another exception, never a warning (seeded, 800 cases)."""
    base = b'"name",t,x1,x2,y1\r\na,0,1.5,2,0\nb,1,3,-4e-3,1\na,1,"5",6,0\n"c,d",0,7,8,1\n'
    alphabet = np.frombuffer(b',"\r\n \t0123456789.-+eEnaif_x#\xff\xc3\x00\xe9', dtype=np.uint8)
    rng = np.random.default_rng(0)
    path = tmp_path / "mutated.csv"
    outcomes = {"read": 0, "refused": 0}
    for _ in range(800):
        data = bytearray(base)
        for _ in range(rng.integers(1, 6)):
            if not data:
                break
            op, pos = rng.integers(0, 4), int(rng.integers(0, len(data)))
            if op == 0:
                del data[pos]
            elif op == 1:
                data.insert(pos, int(rng.choice(alphabet)))
            elif op == 2:
                data[pos] = int(rng.choice(alphabet))
            else:
                data = data[: pos + 1]
        path.write_bytes(bytes(data))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                read_sequence_csv(path)
                outcomes["read"] += 1
            except ValueError as exc:
                assert re.match(rf"{re.escape(str(path))}: (line \d+|no data rows)", str(exc))
                outcomes["refused"] += 1
    assert min(outcomes.values()) > 30  # both outcomes are exercised


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


# ---------------------------------------------------------------------------- class labels

ONE_HOT = "name,t,x1,y1,y2,y3\na,0,1,0,1,0\nb,0,2,0,0,1\na,1,3,0,1,0\nb,1,4,0,0,1\n"
INDEX = "name,t,x1,y1\na,0,1,1\nb,0,2,2\na,1,3,1\nb,1,4,2\n"


@pytest.mark.parametrize("target", ["every", "last"])
def test_class_indices_reads_both_layouts_alike(tmp_path, target):
    one_hot, n_one_hot = class_indices(read_sequence_csv(write(tmp_path, ONE_HOT)), target=target)
    index, n_index = class_indices(read_sequence_csv(write(tmp_path, INDEX, "i.csv")))
    assert (n_one_hot, n_index) == (3, 3)
    assert one_hot.label_names == index.label_names == ["class"]
    for a, b in zip(one_hot.labels, index.labels, strict=True):
        assert a.dtype == np.float64 and a.shape == (2, 1)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(one_hot.labels[1], [[2], [2]])
    assert one_hot.lines is not None and one_hot.features[0] is not None


def test_class_indices_of_unlabelled_file_data():
    data = SequenceData(["s"], [np.zeros((2, 1))], [np.array([[0.0], [1.5]])], ["x1"], ["y1"])
    with pytest.raises(ValueError, match=r"^sequence 's', step t=1, column y1: expected a class"):
        class_indices(data)


@pytest.mark.parametrize(
    ("text", "options", "expected"),
    [
        (INDEX + "c,0,5,-1\n", {}, r"line 6, column y1: expected a class index .* found -1"),
        (INDEX + "c,0,5,0.5\n", {}, r"line 6, column y1: expected a class index .* found 0.5"),
        (ONE_HOT + "c,0,5,0,1,1\n", {}, r"line 6: expected one-hot labels y1..y3 .* found 0, 1, 1"),
        (ONE_HOT + "c,0,5,0,0,0\n", {}, r"line 6: expected one-hot labels"),
        (ONE_HOT + "c,0,5,0,2,-1\n", {}, r"line 6: expected one-hot labels"),
        (INDEX + "c,0,5,7\n", {"max_classes": 5}, r"line 6: 8 classes found, at most 5"),
        (ONE_HOT, {"max_classes": 2}, r"line 3: 3 classes found, at most 2 expected"),
        (
            INDEX + "a,2,5,0\n",
            {"target": "last"},
            r"line 6: the class changes within a sequence \(from 1 to 0\)",
        ),
        (
            ONE_HOT.replace("b,1,4,0,0,1", "b,1,4,1,0,0"),
            {"target": "last"},
            r"line 5: the class changes within a sequence \(from 2 to 0\)",
        ),
        (INDEX, {"target": "first"}, r"target must be 'every' or 'last'"),
    ],
)
def test_class_indices_errors_name_the_line(tmp_path, text, options, expected):
    data = read_sequence_csv(write(tmp_path, text, "labels.csv"))
    with pytest.raises(ValueError, match=expected):
        class_indices(data, **options)


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


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_a_long_format_frame_reads_as_its_csv(tmp_path, library):
    lib = pytest.importorskip(library)
    from nablanet.datasets.sequences import read_sequence_frame

    text = "name,t,x1,x2,y1\nb,1,0.5,1.5,1\na,0,1,2,0\nb,0,0.25,1.25,0\na,1,3,4,1\n"
    path = tmp_path / "s.csv"
    path.write_text(text)
    from_csv = read_sequence_csv(path)
    frame = lib.DataFrame({"name": ["b", "a", "b", "a"], "t": [1, 0, 0, 1],
                           "x1": [0.5, 1.0, 0.25, 3.0], "x2": [1.5, 2.0, 1.25, 4.0],
                           "y1": [1, 0, 0, 1]})
    data = read_sequence_frame(frame, source="my frame")
    assert data.names == from_csv.names == ["b", "a"]
    assert data.source == "my frame"
    for a, b in zip(data.features + data.labels, from_csv.features + from_csv.labels,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    # the CSV reader's checks and messages, naming the source and the row as a CSV line
    dup = lib.DataFrame({"name": ["a", "a"], "t": [0, 0], "x1": [1.0, 2.0], "y1": [0, 1]})
    with pytest.raises(ValueError, match=r"my frame: line 3, column 2 \(t\): duplicate step"):
        read_sequence_frame(dup, source="my frame")
    with pytest.raises(ValueError, match=r"DataFrame: .*x1"):
        read_sequence_frame(lib.DataFrame({"name": ["a"], "t": [0], "y1": [1.0]}))
    with pytest.raises(TypeError, match="expected a pandas or polars DataFrame"):
        read_sequence_frame([["a", 0, 1.0, 0]])
