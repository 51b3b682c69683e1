"""Scoring new data: features-only and Parquet sequence files, ``SequenceScorer`` chunk by
chunk, and the two bugs of issue 21 (a features-only CSV refused by ``rnn predict``; a
model trained on the seed's one-hot labels failing ``rnn predict`` in the scaler)."""

from __future__ import annotations

import csv
import io
import json
import sys

import numpy as np
import pytest
from tests.cli_run import run as run_cli

from nablanet.datasets.sequences import (
    read_sequence_csv,
    read_sequence_file,
    read_sequence_frame,
    read_sequence_parquet,
)
from nablanet.models.scorer import SequenceScorer, write_rows

ONE_HOT = """name,t,x1,x2,y1,y2,y3
a,0,0.1,1.0,1,0,0
a,1,0.3,0.5,1,0,0
b,0,2.0,-1.0,0,1,0
b,1,2.5,-2.0,0,1,0
b,2,2.1,-1.5,0,1,0
c,0,-1.0,3.0,0,0,1
"""


def features_only(text: str) -> str:
    """The same sequences without their label columns."""
    rows = list(csv.reader(io.StringIO(text)))
    keep = [k for k, name in enumerate(rows[0]) if not name.startswith("y")]
    return "".join(",".join(row[k] for k in keep) + "\n" for row in rows)


def run(capsys, *args) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``nablanet -q ARGS`` in-process."""
    return run_cli(capsys, "-q", *args)


@pytest.fixture
def one_hot_model(tmp_path, capsys):
    """A GRU trained by 'rnn train' on one-hot labels y1..y3 (the seed's layout)."""
    (tmp_path / "train.csv").write_text(ONE_HOT)
    code, _, err = run(capsys, "rnn", "train", tmp_path / "train.csv", "--task",
                       "multiclass", "--target", "last", "--cell", "gru", "--hidden", 4,
                       "--epochs", 2, "--test-split", 0.33, "--model-out",
                       tmp_path / "m.safetensors")
    assert code == 0, err
    return tmp_path / "m.safetensors"


def test_predict_on_the_seeds_one_hot_layout(one_hot_model, tmp_path, capsys):
    """Issue 21: 'MinMaxScaler: expected labels with last axis 1, found shape (n, 9)'."""
    code, out, err = run(capsys, "rnn", "predict", tmp_path / "train.csv", "-m", one_hot_model)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["name", "t", "label"] and [r[:2] for r in rows[1:]] == [
        ["a", "1"], ["b", "2"], ["c", "0"]]


def test_predict_on_a_features_only_csv(one_hot_model, tmp_path, capsys):
    """Issue 21: 'missing header column(s) y1'; the rows equal those of the labelled file."""
    (tmp_path / "new.csv").write_text(features_only(ONE_HOT))
    outputs = []
    for path in ("train.csv", "new.csv"):
        code, out, err = run(capsys, "rnn", "predict", tmp_path / path, "-m", one_hot_model,
                             "--proba")
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]
    rows = list(csv.reader(io.StringIO(outputs[1])))
    assert rows[0] == ["name", "t", "label", "p0", "p1", "p2"]
    p = np.array([[float(v) for v in r[3:]] for r in rows[1:]])
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_array_equal([int(r[2]) for r in rows[1:]], p.argmax(axis=1))


def test_evaluate_reads_either_label_layout(one_hot_model, tmp_path, capsys):
    indices = ONE_HOT.replace("y1,y2,y3", "y1")
    for one_hot, index in (("1,0,0", "0"), ("0,1,0", "1"), ("0,0,1", "2")):
        indices = indices.replace(one_hot + "\n", index + "\n")
    (tmp_path / "indices.csv").write_text(indices)
    reports = []
    for path in ("train.csv", "indices.csv"):
        code, _, err = run(capsys, "rnn", "evaluate", tmp_path / path, "-m", one_hot_model,
                           "--metrics-out", tmp_path / f"{path}.json")
        assert code == 0, err
        reports.append(json.loads((tmp_path / f"{path}.json").read_text())["metrics"])
    assert reports[0] == reports[1] and reports[0]["n"] == 3


def test_binary_threshold_option(tmp_path, capsys):
    text = "name,t,x1,y1\n" + "".join(f"s{i},{t},{(i + t) % 5 - 2},{int((i + t) % 5 > 2)}\n"
                                      for i in range(6) for t in range(3))
    (tmp_path / "b.csv").write_text(text)
    code, _, err = run(capsys, "rnn", "train", tmp_path / "b.csv", "--epochs", 1, "--hidden",
                       3, "--threshold", 0.7, "--model-out", tmp_path / "b.safetensors")
    assert code == 0, err
    for option, threshold in (([], 0.7), (["--threshold", 0.4], 0.4)):
        code, out, err = run(capsys, "rnn", "predict", tmp_path / "b.csv", "-m",
                             tmp_path / "b.safetensors", *option)
        assert code == 0, err
        rows = list(csv.reader(io.StringIO(out)))[1:]
        assert [int(r[3]) for r in rows] == [int(float(r[2]) >= threshold) for r in rows]
    code, _, err = run(capsys, "rnn", "predict", tmp_path / "b.csv", "-m",
                       tmp_path / "b.safetensors", "--threshold", 2)
    assert code == 2 and "--threshold" in err and "[0, 1]" in err


def test_scoring_in_chunks_gives_the_rows_of_the_whole(one_hot_model, tmp_path):
    scorer = SequenceScorer.load(one_hot_model)
    data = read_sequence_csv(tmp_path / "train.csv")
    whole, parts = io.StringIO(), io.StringIO()
    write_rows(scorer.score(data, proba=True), whole, header=True)
    for k, chunk in enumerate(([0], [], [1, 2])):  # an empty chunk writes nothing
        write_rows(scorer.score(data.subset(chunk), proba=True), parts, header=k == 0)
    assert parts.getvalue() == whole.getvalue()


def test_the_scorer_names_missing_and_extra_features(one_hot_model, tmp_path):
    scorer = SequenceScorer.load(one_hot_model)
    with pytest.raises(ValueError, match=r"new.csv: the model takes the feature columns "
                                         r"x1, x2; missing x2; extra x3, x4"):
        scorer.check_features(["x1", "x3", "x4"], "new.csv")


def test_features_only_files_and_frames_read():
    data = read_sequence_frame(__import__("pandas").read_csv(io.StringIO(
        features_only(ONE_HOT))))
    assert data.label_names == [] and [lab.shape for lab in data.labels] == [
        (2, 0), (3, 0), (1, 0)]
    np.testing.assert_array_equal(data.features[1], [[2.0, -1.0], [2.5, -2.0], [2.1, -1.5]])


def test_parquet_reads_as_the_csv(tmp_path):
    pa_csv = pytest.importorskip("pyarrow.csv")
    pq = pytest.importorskip("pyarrow.parquet")
    rng = np.random.default_rng(0)
    rows = "".join(f"s{i % 7},{i // 7},{rng.standard_normal() * 1e-7!r},{i % 2}\n"
                   for i in range(70))
    (tmp_path / "d.csv").write_text("name,t,x1,y1\n" + rows)
    pq.write_table(pa_csv.read_csv(tmp_path / "d.csv"), tmp_path / "d.parquet")
    csv_data, parquet = read_sequence_csv(tmp_path / "d.csv"), read_sequence_file(
        tmp_path / "d.parquet")
    assert (parquet.names, parquet.label_names) == (csv_data.names, csv_data.label_names)
    for a, b in zip(csv_data.features + csv_data.times, parquet.features + parquet.times,
                    strict=True):
        np.testing.assert_array_equal(a, b)  # bit for bit
    (tmp_path / "bad.parquet").write_text("name,t,x1\n")
    with pytest.raises(ValueError, match=r"bad\.parquet: not a readable Parquet file"):
        read_sequence_parquet(tmp_path / "bad.parquet")


def test_parquet_without_pyarrow_names_the_extra(tmp_path, monkeypatch):
    (tmp_path / "d.parquet").write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'nablanet\[parquet\]'"):
        read_sequence_file(tmp_path / "d.parquet")
