"""Careless and hostile command lines, run in-process through ``nablanet.cli.main``: an
output that is an input or another output is refused before any work; outputs are
checked creatable first; messages name the user's path; stale temporaries are cleaned;
option values are bounded before anything is allocated; bad prediction inputs are
refused; deprecated spellings work with a warning; every file written is logged."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from tests.cli_run import run

from nablanet import RNN, Network
from nablanet.datasets.idx import read_idx

SEQ_CSV = "name,t,x1,y1\n" + "".join(f"s{k},{t},{0.1 * t + k % 3},{k % 2}\n"
                                     for k in range(12) for t in range(3))


def refused(capsys, *args, fragments=()) -> str:
    """Run ``nablanet -q ARGS``; require exit 2 and one line naming ``fragments``."""
    code, _, err = run(capsys, "-q", *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, (code, err)
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path, monkeypatch, idx_dir):
    """A working directory with a model, images (.npy) and a sequence CSV."""
    logging.getLogger("nablanet").handlers.clear()  # none bound to an earlier test's stderr
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NABLANET_DATA", str(tmp_path / "no-data-here"))
    Network([784, 10], seed=0).save("net.safetensors")
    images = read_idx(idx_dir / "t10k-images-idx3-ubyte.gz")
    np.save("images.npy", images[:5])
    (tmp_path / "seq.csv").write_text(SEQ_CSV)
    return tmp_path


def snapshot(path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.is_file()}


# ------------------------------------------------------------------------------------
# An output that is an input, or another output: refused, nothing touched
# ------------------------------------------------------------------------------------
def test_predict_output_onto_its_own_input(files, capsys):
    before = snapshot(files)
    refused(capsys, "predict", "images.npy", "-m", "net.safetensors", "-o", "images.npy",
            fragments=["--output", "images.npy", "IMAGES"])
    refused(capsys, "predict", "images.npy", "-m", "net.safetensors", "-o", "net.safetensors",
            fragments=["--output", "net.safetensors", "--model"])
    assert snapshot(files) == before


def test_outputs_resolved_through_dotdot_and_symlinks(files, capsys):
    (files / "sub").mkdir()
    (files / "link.npy").symlink_to(files / "images.npy")
    before = snapshot(files)
    refused(capsys, "predict", "images.npy", "-m", "net.safetensors", "-o",
            "sub/../images.npy", fragments=["sub/../images.npy"])
    refused(capsys, "predict", "images.npy", "-m", "net.safetensors", "-o", "link.npy",
            fragments=["link.npy"])
    assert snapshot(files) == before


def test_rnn_train_model_out_onto_the_training_csv(files, capsys):
    refused(capsys, "rnn", "train", "seq.csv", "--epochs", "1", "--model-out", "seq.csv",
            fragments=["--model-out", "seq.csv", "DATA_CSV"])
    assert (files / "seq.csv").read_text() == SEQ_CSV


def test_train_model_out_onto_a_file_of_the_dataset_directory(files, capsys, idx_dir):
    target = idx_dir / "train-labels-idx1-ubyte.gz"
    before = target.read_bytes()
    refused(capsys, "train", idx_dir, "--epochs", "1", "--model-out", target,
            fragments=["--model-out", "DATASET"])
    assert target.read_bytes() == before


def test_two_outputs_naming_the_same_file(files, capsys, idx_dir):
    line = refused(capsys, "train", idx_dir, "--epochs", "1", "--model-out", "out",
                   "--metrics-out", "./out", fragments=["--metrics-out", "--model-out"])
    assert "Epoch" not in line
    assert not (files / "out").exists()


def test_evaluate_metrics_out_onto_the_model(files, capsys, idx_dir):
    before = snapshot(files)
    refused(capsys, "evaluate", idx_dir, "-m", "net.safetensors", "--metrics-out",
            "net.safetensors", fragments=["--metrics-out", "--model"])
    refused(capsys, "rnn", "evaluate", "seq.csv", "-m", "net.safetensors", "--metrics-out",
            "seq.csv", fragments=["--metrics-out", "DATA_CSV"])
    assert snapshot(files) == before


# ------------------------------------------------------------------------------------
# Outputs checked creatable before the work; the user's path in every message
# ------------------------------------------------------------------------------------
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc")
def test_an_uncreatable_output_is_refused_before_training(files, capsys, idx_dir):
    code, _, err = run(capsys, "train", idx_dir, "--epochs", "1", "--model-out",
                       "/proc/m.safetensors")
    assert code == 2 and "Epoch" not in err and "loading" not in err, err
    assert "/proc/m.safetensors" in err and ".tmp" not in err


def test_a_failed_write_names_the_users_path(files, capsys, monkeypatch):
    import contextlib
    import importlib

    train = importlib.import_module("nablanet.cli.train")  # the module, not the command

    @contextlib.contextmanager
    def full_disk(path):  # predict streams its labels into atomic_output's temporary file
        raise OSError(28, "No space left on device", f".{path}.x1y2z3w4.tmp")
        yield

    monkeypatch.setattr(train, "atomic_output", full_disk)
    line = refused(capsys, "predict", "images.npy", "-m", "net.safetensors", "-o",
                   "labels.txt", fragments=["labels.txt", "No space left"])
    assert ".tmp" not in line


def test_stale_temporaries_are_removed_on_the_next_write(files, capsys):
    stale = files / ".labels.txt.abcd1234.tmp"
    fresh = files / ".labels.txt.efgh5678.tmp"
    other = files / ".other.txt.abcd1234.tmp"
    for p in (stale, fresh, other):
        p.write_bytes(b"half a file")
    old = time.time() - 3600
    for p in (stale, other):
        os.utime(p, (old, old))
    code, _, err = run(capsys, "predict", "images.npy", "-m", "net.safetensors", "-o",
                       "labels.txt")
    assert code == 0, err
    assert not stale.exists()  # ours, for this path, left by a killed writer
    assert fresh.exists() and other.exists()  # maybe being written; another path
    assert len((files / "labels.txt").read_text().split()) == 5
    assert not [p for p in files.iterdir() if p.name.startswith(".labels.txt.")
                and p != fresh]


def test_every_file_written_is_logged(files, capsys, idx_dir):
    pytest.importorskip("matplotlib")
    code, _, err = run(capsys, "train", idx_dir, "--sizes", "784,8,10", "--epochs", "1",
                       "--model-out", "m.safetensors", "--metrics-out", "m.json",
                       "--plot-out", "m.png")
    assert code == 0, err
    for name in ("m.safetensors", "m.json", "m.png"):
        assert f"wrote {name}" in err, err


# ------------------------------------------------------------------------------------
# Option values checked before any work
# ------------------------------------------------------------------------------------
def test_negative_seed_names_the_option(files, capsys, idx_dir):
    refused(capsys, "train", idx_dir, "--seed", "-1", fragments=["--seed", "-1"])


@pytest.mark.parametrize("threshold", ["-5", "1.5", "nan"])
def test_rnn_binary_threshold_out_of_range(files, capsys, threshold):
    refused(capsys, "rnn", "train", "seq.csv", "--epochs", "1", "--threshold", threshold,
            fragments=["--threshold", "[0, 1]"])


def test_rnn_regression_threshold_negative(files, capsys):
    refused(capsys, "rnn", "train", "seq.csv", "--task", "regression", "--threshold", "-5",
            fragments=["--threshold", ">= 0"])


def test_huge_sizes_refused_before_allocating(files, capsys, idx_dir):
    line = refused(capsys, "train", idx_dir, "--sizes", "784,100000000,10",
                   fragments=["--sizes", "79,500,000,010 parameters", "GB"])
    assert "memory" in line


def test_huge_hidden_refused_before_allocating(files, capsys):
    refused(capsys, "rnn", "train", "seq.csv", "--hidden", "10000000",
            fragments=["--hidden", "parameters", "GB"])


def test_a_huge_class_label_is_refused_before_allocating(files, capsys):
    (files / "huge.csv").write_text(SEQ_CSV.replace("s11,2,2.2,1", "s11,2,2.2,1000000000"))
    refused(capsys, "rnn", "train", "huge.csv", "--task", "multiclass",
            fragments=["huge.csv: line 37", "1000000001 classes", "at most 65536"])


def test_memory_error_is_one_line(files, capsys, idx_dir, monkeypatch):
    import nablanet.datasets.mnist as mnist

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 74.5 GiB")

    monkeypatch.setattr(mnist, "load_images", no_memory)
    refused(capsys, "train", idx_dir, "--epochs", "1",
            fragments=["not enough memory", "74.5 GiB"])


def test_sizes_checked_against_the_data(files, capsys, idx_dir):
    refused(capsys, "train", idx_dir, "--sizes", "784,30", "--epochs", "1",
            fragments=["--sizes", "30 neurons", "10 classes"])
    # a named data set is checked before it is looked for (no data here, no download)
    refused(capsys, "train", "fashion-mnist", "--offline", "--sizes", "100,30,10",
            fragments=["--sizes", "784 pixels"])


# ------------------------------------------------------------------------------------
# Prediction inputs
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("array", "fragments"), [
    (np.full((2, 784), np.nan), ["1568 non-finite", "(0, 0) is nan"]),
    (np.array([[0.5] * 783 + [np.inf]]), ["1 non-finite", "(0, 783) is inf"]),
    (np.full((2, 784), 2.0), ["floats in [0, 1]", "2.0 at index (0, 0)"]),
    (np.full((1, 784), 300, dtype=np.int16), ["integers 0..255", "300 at index (0, 0)"]),
    (np.zeros((0, 784)), ["no images", "(0, 784)"]),
    (np.zeros((2, 784), dtype=complex), ["dtype complex128"]),
    (np.zeros((2, 3, 784)), ["shape (2, 3, 784) do not fit", "784 pixels per image"]),
])
def test_bad_prediction_inputs_are_refused(files, capsys, array, fragments):
    np.save("bad.npy", array)
    refused(capsys, "predict", "bad.npy", "-m", "net.safetensors", fragments=["bad.npy",
                                                                              *fragments])


def test_an_npz_named_npy_is_refused(files, capsys):
    with open("arrays.npy", "wb") as f:
        np.savez(f, x=np.zeros((2, 784)))
    refused(capsys, "predict", "arrays.npy", "-m", "net.safetensors",
            fragments=["arrays.npy", ".npz"])


def test_plurals(files, capsys):
    np.save("one.npy", np.zeros((1, 784)))
    code, _, err = run(capsys, "predict", "one.npy", "-m", "net.safetensors")
    assert code == 0 and "1 label written to standard output" in err and "1 labels" not in err


# ------------------------------------------------------------------------------------
# Old spellings: still working, with a deprecation warning
# ------------------------------------------------------------------------------------
def test_deprecated_spellings_still_work(files, capsys, idx_dir):
    code, _, err = run(capsys, "train", idx_dir, "--sizes", "784,8,10", "--epochs", "1",
                       "--output", "softmax", "--save", "old.safetensors")
    assert code == 0, err
    assert "--save is deprecated" in err and "--output is deprecated" in err
    assert Network.load("old.safetensors").get_config()["output_activation"] == "softmax"
    code, _, err = run(capsys, "evaluate", "--dataset", idx_dir, "-m", "old.safetensors")
    assert code == 0 and "--dataset is deprecated" in err, err
    refused(capsys, "train", idx_dir, "--save", "a", "--model-out", "b",
            fragments=["--save", "--model-out"])


# ------------------------------------------------------------------------------------
# rnn train: defaults per task, RNN-Rust's configuration one flag away
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("args", "expected"), [
    (["--task", "binary"], ["1 -> 16 x 1 -> 1", "Adam(lr=0.005", "batch 16"]),
    (["--task", "multiclass", "--target", "last"], ["1 -> 32 x 1 -> 2", "Adam(lr=0.005",
                                                    "batch 8"]),
    (["--task", "regression"], ["1 -> 16 x 1 -> 1", "Adam(lr=0.005", "batch 16"]),
    (["--rnn-rust"], ["1 -> 10 x 1 -> 1", "SGD(lr=0.001", "batch 1,"]),
    (["--rnn-rust", "--hidden", "5", "--lr", "0.01"], ["1 -> 5 x 1 -> 1", "SGD(lr=0.01",
                                                       "batch 1,"]),
    (["--num-layers", "2"], ["1 -> 16 x 2 -> 1"]),
    (["--layers", "2"], ["1 -> 16 x 2 -> 1"]),
])
def test_rnn_train_defaults_per_task(files, capsys, args, expected):
    (files / "long.csv").write_text("name,t,x1,y1\n" + "".join(
        f"s{k},{t},{0.1 * t + k % 3},{k % 2}\n" for k in range(40) for t in range(3)))
    code, _, err = run(capsys, "rnn", "train", "long.csv", "--epochs", "1", *args)
    assert code == 0, err
    line = next(line for line in err.splitlines() if "RNN(" in line)
    for fragment in expected:
        assert fragment in line, line


@pytest.mark.parametrize("loss", ["mse", "quadratic"])
def test_both_training_commands_take_both_names_of_the_quadratic_loss(files, capsys, idx_dir,
                                                                      loss):
    code, _, err = run(capsys, "rnn", "train", "seq.csv", "--epochs", "1", "--loss", loss,
                       "--model-out", "r.safetensors")
    assert code == 0, err
    assert ", quadratic, " in next(line for line in err.splitlines() if "RNN(" in line)
    assert RNN.load("r.safetensors").loss.name == "quadratic"
    code, _, err = run(capsys, "train", idx_dir, "--sizes", "784,8,10", "--epochs", "1",
                       "--loss", loss, "--model-out", "n.safetensors", "--metrics-out",
                       "n.json")
    assert code == 0, err
    assert Network.load("n.safetensors").get_config()["loss"] == "quadratic"
    assert json.loads(Path("n.json").read_text())["options"]["loss"] == "quadratic"


def test_train_ratio_is_a_deprecated_spelling_of_one_minus_test_split(files, capsys):
    (files / "long.csv").write_text("name,t,x1,y1\n" + "".join(
        f"s{k},{t},{0.1 * t + k % 3},{k % 2}\n" for k in range(40) for t in range(3)))
    for args, warned in ((["--test-split", "0.25"], False), (["--train-ratio", "0.75"], True)):
        code, _, err = run(capsys, "rnn", "train", "long.csv", "--epochs", "1", *args)
        assert code == 0, err
        assert "30 training sequences and 10 test sequences" in err, err
        assert ("--train-ratio is deprecated and will be removed in the next release: use "
                "--test-split 0.25" in err) == warned, err
    refused(capsys, "rnn", "train", "long.csv", "--train-ratio", "0.7", "--test-split", "0.3",
            fragments=["--train-ratio", "--test-split"])


def test_a_model_given_to_the_wrong_command_names_the_right_one(files, capsys, idx_dir):
    code, _, err = run(capsys, "rnn", "train", "seq.csv", "--epochs", "1", "--model-out",
                       "r.safetensors")
    assert code == 0, err
    recurrent = "r.safetensors: this is a recurrent model (RNN): use 'nablanet rnn {}'"
    feedforward = "net.safetensors: this is not a recurrent model but a Network: use " \
                  "'nablanet {}'"
    for args, expected in [
        (["predict", "images.npy", "-m", "r.safetensors"], recurrent.format("predict")),
        (["evaluate", idx_dir, "-m", "r.safetensors"], recurrent.format("evaluate")),
        (["train", idx_dir, "--resume", "r.safetensors"], recurrent.format("train")),
        (["rnn", "predict", "seq.csv", "-m", "net.safetensors"], feedforward.format("predict")),
        (["rnn", "evaluate", "seq.csv", "-m", "net.safetensors"],
         feedforward.format("evaluate")),
        (["rnn", "train", "seq.csv", "--resume", "net.safetensors"],
         feedforward.format("train")),
    ]:
        assert refused(capsys, *args) == f"nablanet: error: {expected}"


def test_a_default_batch_size_never_exceeds_the_data(files, capsys):
    code, _, err = run(capsys, "rnn", "train", "seq.csv", "--epochs", "1")
    assert code == 0 and "batch 10," in err, err  # 10 training sequences, default 16
    refused(capsys, "rnn", "train", "seq.csv", "--epochs", "1", "--batch-size", "16",
            fragments=["batch_size", "16"])


# ------------------------------------------------------------------------------------
# The file's CLI section: evaluate holds out what training held out; fields validated
# ------------------------------------------------------------------------------------
def test_evaluate_holds_out_the_training_runs_images(files, capsys, make_images):
    import json

    from nablanet.datasets.idx import write_idx

    pair = files / "pair"
    pair.mkdir()
    images, labels = make_images(200, 3)
    write_idx(pair / "images-idx3-ubyte.gz", images)
    write_idx(pair / "labels-idx1-ubyte.gz", labels)
    code, _, err = run(capsys, "train", pair, "--sizes", "784,8,10", "--epochs", "2",
                       "--seed", "7", "--model-out", "m.safetensors", "--metrics-out",
                       "m.json")
    assert code == 0, err
    final = json.loads((files / "m.json").read_text())["final"]
    code, _, err = run(capsys, "evaluate", pair, "-m", "m.safetensors", "--metrics-out",
                       "e.json")
    assert code == 0, err
    test = json.loads((files / "e.json").read_text())["test"]
    assert test["n"] == final["n_test"] == 40
    assert test["accuracy"] == pytest.approx(final["test_accuracy"])
    code, _, err = run(capsys, "evaluate", pair, "-m", "m.safetensors", "--seed", "1")
    assert code == 2 and "would test on training images" in err, err


def test_train_test_split_and_eval_every_as_rnn_train_has_them(files, capsys, make_images):
    from nablanet.datasets.idx import write_idx

    pair = files / "pair"
    pair.mkdir()
    images, labels = make_images(200, 3)
    write_idx(pair / "images-idx3-ubyte.gz", images)
    write_idx(pair / "labels-idx1-ubyte.gz", labels)
    code, _, err = run(capsys, "train", pair, "--sizes", "784,8,10", "--epochs", "3",
                       "--test-split", "0.25", "--eval-every", "2", "--model-out",
                       "m.safetensors", "--metrics-out", "m.json")
    assert code == 0, err
    metrics = json.loads((files / "m.json").read_text())
    assert metrics["final"]["n_test"] == 50
    assert [e["epoch"] for e in metrics["history"]["epochs"]] == [2, 3]
    assert "Epoch 2/3: " in err and "Epoch 3/3: " in err and "Epoch 1/3" not in err
    code, _, err = run(capsys, "evaluate", pair, "-m", "m.safetensors", "--metrics-out",
                       "e.json")
    assert code == 0, err
    assert json.loads((files / "e.json").read_text())["test"]["n"] == 50


@pytest.mark.parametrize(("field", "value", "fragment"), [
    ("task", "nonsense", "field 'task'"),
    ("threshold", -5, "[0, 1]"),
    ("threshold", "0.5", "expected a number"),
    ("scaler", {"feature_min": [0.0]}, "bad CLI field"),
])
def test_a_corrupted_cli_section_names_the_file_and_field(files, capsys, field, value,
                                                           fragment):
    from nablanet import RNN
    from nablanet.datasets.sequences import read_sequence_csv
    from nablanet.preprocessing import MinMaxScaler
    from nablanet.serialization import save

    data = read_sequence_csv("seq.csv")
    meta = {"task": "binary", "threshold": 0.5,
            "scaler": MinMaxScaler().fit(data).to_dict(),
            "feature_names": data.feature_names, "label_names": data.label_names}
    save(RNN(1, 3, 1, seed=0), "rnn.safetensors", cli={**meta, field: value})
    refused(capsys, "rnn", "evaluate", "seq.csv", "-m", "rnn.safetensors",
            fragments=["rnn.safetensors", fragment])


def test_rnn_predict_writes_to_standard_output_without_output(files, capsys):
    code, _, err = run(capsys, "rnn", "train", "seq.csv", "--epochs", "1", "--model-out",
                       "r.safetensors")
    assert code == 0, err
    code, out, err = run(capsys, "rnn", "predict", "seq.csv", "-m", "r.safetensors")
    assert code == 0, err
    rows = out.splitlines()
    assert rows[0] == "name,t,score,label" and len(rows) == 1 + 36  # one row per step
    assert "36 predictions written to standard output" in err
    code, _, err = run(capsys, "rnn", "predict", "seq.csv", "-m", "r.safetensors", "-o",
                       "p.csv")
    assert code == 0 and (files / "p.csv").read_text().splitlines() == rows, err


def _one_hot_csv(text: str, k: int) -> str:
    """The same sequences with the class index column y1 as k one-hot columns y1..yk."""
    lines = text.strip().split("\n")
    head = lines[0].rsplit(",", 1)[0] + "," + ",".join(f"y{i + 1}" for i in range(k))
    rows = []
    for line in lines[1:]:
        rest, label = line.rsplit(",", 1)
        rows.append(rest + "," + ",".join("1" if i == int(label) else "0" for i in range(k)))
    return "\n".join([head, *rows]) + "\n"


def test_multiclass_accepts_rnn_rusts_one_hot_label_columns(files, capsys):
    from nablanet.serialization import load

    index_csv = "name,t,x1,y1\n" + "".join(f"s{k},{t},{0.1 * t + k % 3},{k % 3}\n"
                                             for k in range(12) for t in range(3))
    (files / "index.csv").write_text(index_csv)
    (files / "onehot.csv").write_text(_one_hot_csv(index_csv, 3))
    for name in ("index", "onehot"):
        code, _, err = run(capsys, "rnn", "train", f"{name}.csv", "--task", "multiclass",
                           "--epochs", "2", "--model-out", f"{name}.safetensors")
        assert code == 0, err
    a, b = load(files / "index.safetensors"), load(files / "onehot.safetensors")
    assert a.n_outputs == b.n_outputs == 3
    for p, q in zip(a.params(), b.params(), strict=True):
        assert np.array_equal(p, q)  # the same training, whichever layout
    code, _, err = run(capsys, "rnn", "evaluate", "onehot.csv", "-m", "index.safetensors")
    assert code == 0, err
    bad = _one_hot_csv(index_csv, 3).replace("s5,1,2.1,0,0,1", "s5,1,2.1,0,1,1")
    (files / "bad.csv").write_text(bad)
    refused(capsys, "rnn", "train", "bad.csv", "--task", "multiclass",
            fragments=["bad.csv: line 18", "one-hot"])
