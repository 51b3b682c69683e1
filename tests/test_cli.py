"""The ``nablanet`` command end to end, in subprocesses: help, train / evaluate / predict,
the recurrent commands, data conversion, and user mistakes (exit status 2, one line)."""

from __future__ import annotations

import csv
import json
import math
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from nablanet import RNN, Network
from nablanet.datasets.idx import read_idx, write_idx
from nablanet.datasets.sequences import pad, read_sequence_csv
from nablanet.serialization import read_cli

ENV = {**os.environ, "NO_COLOR": "1", "COLUMNS": "120", "TERM": "dumb"}
WORKERS = 4  # commands run side by side: most of their time is the interpreter starting


def nablanet(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m nablanet ARGS`` in ``cwd``; with ``check``, require exit status 0."""
    env = {**ENV, "NABLANET_DATA": str(cwd / "no-data-here")}
    result = subprocess.run([sys.executable, "-m", "nablanet", *map(str, args)], cwd=cwd,
                            capture_output=True, text=True, env=env, timeout=120)
    if check:
        assert_ok(result)
    return result


def assert_ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result


def run_side_by_side(jobs: dict) -> dict:
    """Call each ``jobs[key]()`` in a thread pool; return ``{key: result}``."""
    with ThreadPoolExecutor(WORKERS) as pool:
        futures = {key: pool.submit(job) for key, job in jobs.items()}
    return {key: future.result() for key, future in futures.items()}


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit status 2, exactly one line on stderr, no traceback; return that line."""
    assert result.returncode == 2, f"exit {result.returncode}\n{result.stderr}"
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{result.stderr}"
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------------------------
# Help
# ------------------------------------------------------------------------------------
HELP = [[], ["train"], ["evaluate"], ["predict"], ["rnn"], ["rnn", "train"],
        ["rnn", "evaluate"], ["rnn", "predict"], ["data"], ["data", "convert"], ["info"]]


@pytest.fixture(scope="module")
def help_runs(tmp_path_factory):
    cwd = tmp_path_factory.mktemp("help")
    jobs = {" ".join(c): (lambda c=c: nablanet(*c, "--help", cwd=cwd, check=False))
            for c in HELP}
    jobs["--version"] = lambda: nablanet("--version", cwd=cwd, check=False)
    return run_side_by_side(jobs)


@pytest.mark.parametrize("command", HELP, ids=lambda c: "-".join(c) or "nablanet")
def test_help(help_runs, command):
    result = assert_ok(help_runs[" ".join(command)])
    assert result.stdout.startswith("Usage: nablanet")
    assert " ".join(["nablanet", *command]) in result.stdout.splitlines()[0]
    assert result.stderr == ""


def test_version(help_runs):
    assert re.search(r"\d+\.\d+", assert_ok(help_runs["--version"]).stdout)


# ------------------------------------------------------------------------------------
# The working runs, side by side: feedforward train -> evaluate -> predict; rnn train ->
# evaluate -> predict on JapaneseVowels; regression on a small CSV; El Nino.
# ------------------------------------------------------------------------------------
def _write_sine_csv(path: Path, n: int = 24, T: int = 8) -> None:
    """Windows of a noisy sine in degrees, labelled with the next value at each step."""
    rng = np.random.default_rng(0)
    series = 20 + 5 * np.sin(np.arange(n + T + 1) / 3) + 0.1 * rng.standard_normal(n + T + 1)
    with open(path, "w") as f:
        f.write("name,t,x1,y1\n")
        for s in range(n):
            for t in range(T):
                f.write(f"w{s:03d},{t},{series[s + t]:.6f},{series[s + t + 1]:.6f}\n")


def _feedforward_pipeline(cwd: Path, idx_dir: Path) -> dict:
    out = {"train": nablanet("train", idx_dir, "--sizes", "784,20,10", "--epochs", "2",
                             "--model-out", "m.safetensors", "--metrics-out", "m.json",
                             "--history-out", "h.jsonl", cwd=cwd, check=False)}
    if out["train"].returncode:
        return out
    images = read_idx(idx_dir / "t10k-images-idx3-ubyte.gz")
    np.save(cwd / "images.npy", images)  # uint8 (n, 28, 28): scaled by 255
    np.save(cwd / "flat.npy", images.reshape(len(images), -1) / 255.0)  # floats in [0, 1]
    write_idx(cwd / "images-idx3-ubyte", images)
    np.save(cwd / "small.npy", np.zeros((3, 10, 10), dtype=np.uint8))
    out["evaluate"] = nablanet("evaluate", idx_dir, "-m", "m.safetensors",
                               "--metrics-out", "e.json", cwd=cwd, check=False)
    out["predict txt"] = nablanet("predict", "--model", "m.safetensors", "images.npy",
                                  "--output", "labels.txt", cwd=cwd, check=False)
    out["predict npy"] = nablanet("predict", "--model", "m.safetensors", "flat.npy",
                                  "--output", "labels.npy", cwd=cwd, check=False)
    out["predict idx"] = nablanet("predict", "--model", "m.safetensors", "images-idx3-ubyte",
                                  cwd=cwd, check=False)
    out["predict small"] = nablanet("-q", "predict", "--model", "m.safetensors", "small.npy",
                                    cwd=cwd, check=False)
    return out


CONV = "conv:8x5x5,pool:2,dense:32,softmax:10"


def _conv_pipeline(cwd: Path, mnist_10k_dir: Path) -> dict:
    """--layers on the real MNIST sample (8,000 training, 2,000 held-out images)."""
    out = {"train": nablanet("train", mnist_10k_dir, "--layers", CONV, "--epochs", "2",
                             "--optimizer", "adam", "--batch-size", "32", "--dtype",
                             "float32", "--model-out", "c.safetensors", "--metrics-out",
                             "c.json", cwd=cwd, check=False)}
    if out["train"].returncode:
        return out
    images = read_idx(mnist_10k_dir / "mnist10k-images-idx3-ubyte.gz")[:300]
    np.save(cwd / "images.npy", images)
    out["evaluate"] = nablanet("evaluate", mnist_10k_dir, "-m", "c.safetensors",
                               "--metrics-out", "e.json", cwd=cwd, check=False)
    out["predict"] = nablanet("predict", "-m", "c.safetensors", "images.npy", "-o",
                              "labels.npy", cwd=cwd, check=False)
    out["resume"] = nablanet("train", mnist_10k_dir, "--layers", CONV, "--epochs", "3",
                             "--optimizer", "adam", "--batch-size", "32", "--dtype",
                             "float32", "--resume", "c.safetensors", "--metrics-out",
                             "r.json", cwd=cwd, check=False)
    return out


def _rnn_pipeline(cwd: Path, train_csv: Path, test_csv: Path) -> dict:
    out = {"train": nablanet(
        "rnn", "train", train_csv, "--hidden", "16", "--epochs", "5", "--batch-size", "16",
        "--task", "multiclass", "--target", "last", "--optimizer", "adam", "--lr", "0.01",
        "--eval-every", "5", test_csv, "--model-out", "jv.safetensors",
        "--metrics-out", "jv.json", cwd=cwd, check=False)}
    if out["train"].returncode:
        return out
    out["evaluate"] = nablanet("rnn", "evaluate", "--model", "jv.safetensors", test_csv,
                               "--metrics-out", "ev.json", cwd=cwd, check=False)
    out["predict"] = nablanet("rnn", "predict", "--model", "jv.safetensors", test_csv,
                              "--output", "pred.csv", cwd=cwd, check=False)
    (cwd / "two.csv").write_text("name,t,x1,x2,y1\na,0,1,1,0\na,1,2,1,1\n")
    out["evaluate other features"] = nablanet("-q", "rnn", "evaluate", "--model",
                                              "jv.safetensors", "two.csv", cwd=cwd,
                                              check=False)
    return out


def _regression_pipeline(cwd: Path) -> dict:
    _write_sine_csv(cwd / "sine.csv")
    out = {"train": nablanet(
        "rnn", "train", "sine.csv", "--task", "regression", "--hidden", "6", "--epochs", "4",
        "--batch-size", "4", "--eval-every", "2", "--optimizer", "adam", "--lr", "0.01",
        "--model-out", "r.safetensors", "--metrics-out", "r.json", cwd=cwd, check=False)}
    if out["train"].returncode == 0:
        out["predict"] = nablanet("rnn", "predict", "--model", "r.safetensors", "sine.csv",
                                  "--output", "p.csv", cwd=cwd, check=False)
    return out


def _elnino_pipeline(cwd: Path) -> dict:
    out = {"convert": nablanet("data", "convert", "elnino", "data", cwd=cwd, check=False)}
    if out["convert"].returncode == 0:
        out["train"] = nablanet(
            "rnn", "train", "data/elnino_train.csv", "data/elnino_test.csv",
            "--task", "regression", "--hidden", "8", "--epochs", "3", "--batch-size", "32",
            "--eval-every", "3", "--optimizer", "adam", "--lr", "0.01",
            "--metrics-out", "el.json", cwd=cwd, check=False)
    return out


def _optional(request, fixture: str):
    """A fixture's value, or None where it skips (an optional package is missing)."""
    try:
        return request.getfixturevalue(fixture)
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope="module")
def runs(request, idx_dir, tmp_path_factory):
    """Every working pipeline, run side by side: ``{name: (cwd, {step: process})}``."""
    dirs = {name: tmp_path_factory.mktemp(name)
            for name in ("ff", "conv", "rnn", "reg", "elnino")}
    jobs = {"ff": lambda: _feedforward_pipeline(dirs["ff"], idx_dir),
            "reg": lambda: _regression_pipeline(dirs["reg"])}
    mnist = _optional(request, "mnist_10k_dir")
    if mnist is not None:
        jobs["conv"] = lambda: _conv_pipeline(dirs["conv"], mnist)
    jv = _optional(request, "japanese_vowels")
    if jv is not None:
        jobs["rnn"] = lambda: _rnn_pipeline(dirs["rnn"], *jv)
    try:
        import statsmodels  # noqa: F401
    except ImportError:
        pass
    else:
        jobs["elnino"] = lambda: _elnino_pipeline(dirs["elnino"])
    results = run_side_by_side(jobs)
    return {name: (dirs[name], steps) for name, steps in results.items()}


def _pipeline(runs, name: str, module: str) -> tuple[Path, dict]:
    if name not in runs:
        pytest.skip(f"needs {module}")
    return runs[name]


def _test_split(idx_dir):
    images = read_idx(idx_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(idx_dir / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    return images, labels


# ------------------------------------------------------------------------------------
# Feedforward: train, evaluate, predict on a small synthetic IDX directory
# ------------------------------------------------------------------------------------
def test_train_writes_model_and_metrics(runs, idx_dir):
    cwd, steps = runs["ff"]
    result = assert_ok(steps["train"])
    metrics = json.loads((cwd / "m.json").read_text())
    # every model's per-epoch line on stderr (logging), one per epoch, numbered from 1;
    # without --validation-split the val_ values are the test images', and it says so
    epochs = re.findall(r"Epoch (\d+)/2: loss ([\d.]+) \| accuracy ([\d.]+)% \| "
                        r"val_loss ([\d.]+) \| val_accuracy ([\d.]+)% \| [\d.]+ s\n",
                        result.stderr)
    assert [e[0] for e in epochs] == ["1", "2"]
    assert "the epoch line's val_ values are on the 60 test images" in result.stderr
    history = metrics["history"]["epochs"]
    assert [e["epoch"] for e in history] == [1, 2]
    # --history-out: the same epochs, one JSON line each
    assert [json.loads(line) for line in (cwd / "h.jsonl").read_text().splitlines()] == history
    assert "wrote h.jsonl (history, one JSON line per epoch)" in result.stderr
    assert [e[4] for e in epochs] == [f"{100 * e['val_accuracy']:.2f}" for e in history]
    assert [e[3] for e in epochs] == [f"{e['val_loss']:.4g}" for e in history]
    final = metrics["final"]
    assert final["n_test"] == 60
    assert final["test_correct"] == history[-1]["val_correct"]
    assert final["test_accuracy"] == pytest.approx(final["test_correct"] / 60)
    # the saved model gives that accuracy, computed here from the raw files
    images, labels = _test_split(idx_dir)
    net = Network.load(cwd / "m.safetensors")
    assert net.sizes == [784, 20, 10]
    predicted = net.predict(images.reshape(len(images), -1) / 255.0)
    assert int(np.sum(predicted == labels)) == final["test_correct"]
    assert final["test_accuracy"] > 0.5  # learnable fake images, far above chance


def test_evaluate_a_saved_model(runs):
    cwd, steps = runs["ff"]
    result = assert_ok(steps["evaluate"])
    trained = json.loads((cwd / "m.json").read_text())
    evaluation = json.loads((cwd / "e.json").read_text())
    assert evaluation["test"]["accuracy"] == pytest.approx(trained["final"]["test_accuracy"])
    assert "Accuracy" in result.stdout


def test_predict_matches_the_python_api(runs, idx_dir):
    cwd, steps = runs["ff"]
    images, _ = _test_split(idx_dir)
    expected = Network.load(cwd / "m.safetensors").predict(images.reshape(len(images), -1)
                                                           / 255.0)
    assert_ok(steps["predict txt"])
    labels = [int(line) for line in (cwd / "labels.txt").read_text().split()]
    np.testing.assert_array_equal(labels, expected)
    assert_ok(steps["predict npy"])
    np.testing.assert_array_equal(np.load(cwd / "labels.npy"), expected)
    out = assert_ok(steps["predict idx"]).stdout
    np.testing.assert_array_equal([int(v) for v in out.split()], expected)


def test_predict_images_of_the_wrong_size(runs):
    _, steps = runs["ff"]
    assert_user_error(steps["predict small"], "784")


# ------------------------------------------------------------------------------------
# Convolutional networks: train --layers -> evaluate -> predict -> resume, on real MNIST
# ------------------------------------------------------------------------------------
def test_train_layers_on_real_mnist(runs, mnist_10k_dir):
    from nablanet.models import Sequential

    cwd, steps = _pipeline(runs, "conv", "the real MNIST sample")
    assert_ok(steps["train"])
    final = json.loads((cwd / "c.json").read_text())["final"]
    assert final["n_test"] == 2000
    assert final["test_accuracy"] >= 0.93  # seeds 1-3 gave 96.1-96.5% in 2 epochs
    model = Sequential.load(cwd / "c.safetensors")
    assert [type(layer).__name__ for layer in model.layers] == [
        "Conv2D", "MaxPool2D", "Flatten", "Dense", "Dense"]
    assert model.sample_shape == (1, 28, 28)  # in the model's config, not the CLI section
    assert "image_shape" not in read_cli(cwd / "c.safetensors")
    assert model.summary().splitlines()[0] == "Sequential: input (n, 1, 28, 28)"
    # evaluate finds the same held-out images and the same accuracy
    assert_ok(steps["evaluate"])
    evaluation = json.loads((cwd / "e.json").read_text())["test"]
    assert evaluation["accuracy"] == pytest.approx(final["test_accuracy"])
    # predict takes (n, 28, 28) uint8 images as the Python API takes (n, 1, 28, 28) floats
    assert_ok(steps["predict"])
    images = np.load(cwd / "images.npy")
    expected = model.predict((images / 255.0).astype(np.float32)[:, None])
    np.testing.assert_array_equal(np.load(cwd / "labels.npy"), expected)
    # a run resumed from the file trains on: its history continues at epoch 3
    assert_ok(steps["resume"])
    history = json.loads((cwd / "r.json").read_text())["history"]["epochs"]
    assert [e["epoch"] for e in history] == [1, 2, 3]


# ------------------------------------------------------------------------------------
# User mistakes, run side by side, each in its own directory
# ------------------------------------------------------------------------------------
MISTAKES = {
    "missing dataset path": (["train", "./missing_dir"], ["missing_dir"]),
    "unknown dataset name": (["train", "nosuchname"], ["nosuchname"]),
    "sizes not integers": (["train", "{idx}", "--sizes", "784,x,10"], ["784,x,10"]),
    "sizes too short": (["train", "{idx}", "--sizes", "784"], ["784"]),
    "eta zero": (["train", "{idx}", "--eta", "0"], ["eta"]),
    "eta negative": (["train", "{idx}", "--eta", "-1"], ["eta"]),
    "batch larger than the data": (["train", "{idx}", "--batch-size", "1000"],
                                   ["batch_size", "1000"]),
    "input size does not fit the images": (["train", "{idx}", "--sizes", "100,10"], ["100"]),
    "unknown option": (["train", "{idx}", "--epoch", "3"], ["--epoch"]),
    "save into a missing directory": (["train", "{idx}", "--epochs", "1", "--model-out",
                                       "nodir/m.safetensors", "--metrics-out", "m.json"],
                                      ["nodir"]),
    "evaluate: model file not a model": (["evaluate", "{idx}", "--model",
                                          "junk.safetensors"], ["junk.safetensors"]),
    "predict: model file not a model": (["predict", "--model", "junk.safetensors",
                                         "junk.safetensors"], ["junk.safetensors"]),
    "rnn: non-numeric value": (["rnn", "train", "bad.csv"], ["bad.csv", "abc", "x1"]),
    "rnn: binary task with classes 0..8": (["rnn", "train", "classes.csv", "--task",
                                            "binary", "--epochs", "1"], ["binary", "0 or 1"]),
    "rnn: missing csv": (["rnn", "train", "missing.csv"], ["missing.csv"]),
    "rnn: test csv with other columns": (["rnn", "train", "one.csv", "two.csv"],
                                         ["two.csv"]),
    "rnn: evaluate a feedforward model": (["rnn", "evaluate", "--model", "net.safetensors",
                                           "one.csv"], ["net.safetensors"]),
    "layers with sizes": (["train", "{idx}", "--layers", "conv:4x5x5,softmax:10", "--sizes",
                           "784,10", "--init", "he"], ["--layers", "--sizes, --init"]),
    "layers: bad token": (["train", "{idx}", "--layers", "conv:4by5,pool:2,softmax:10"],
                          ["--layers", "token 1", "conv:4by5"]),
    "layers: kernel larger than the image": (["train", "{idx}", "--layers",
                                              "conv:4x29x29,softmax:10"], ["--layers", "29"]),
    "layers: one output per class": (["train", "{idx}", "--layers", "conv:4x5x5,softmax:7"],
                                     ["--layers", "7 units", "10 classes"]),
    "layers: too many parameters": (["train", "{idx}", "--layers", "dense:999999999,"
                                     "softmax:10"], ["--layers", "parameters"]),
    "evaluate: a recurrent model": (["evaluate", "{idx}", "--model", "rnn.safetensors"],
                                    ["rnn.safetensors", "RNN"]),
    "evaluate: a network for other images": (["evaluate", "{idx}", "--model",
                                              "net100.safetensors"],
                                             ["net100.safetensors", "100 pixels", "784"]),
    "evaluate: a network for fewer classes": (["evaluate", "{idx}", "--model",
                                               "net5.safetensors"],
                                              ["net5.safetensors", "5 classes", "10 classes"]),
    "predict: a recurrent model": (["predict", "--model", "rnn.safetensors", "one.csv"],
                                   ["rnn.safetensors", "RNN"]),
}


def _mistake_inputs(cwd: Path) -> None:
    (cwd / "junk.safetensors").write_bytes(b"this is not a model\n" * 10)
    (cwd / "bad.csv").write_text("name,t,x1,y1\na,0,1.0,0\na,1,2.0,1\nb,0,abc,0\nb,1,1.5,1\n")
    (cwd / "one.csv").write_text("name,t,x1,y1\na,0,1,0\na,1,2,1\nb,0,1,0\nb,1,2,1\n")
    (cwd / "two.csv").write_text("name,t,x1,x2,y1\na,0,1,1,0\na,1,2,1,1\n")
    (cwd / "classes.csv").write_text("name,t,x1,y1\n" + "".join(
        f"s{k},{t},{0.1 * t + k},{k}\n" for k in range(9) for t in range(3)))
    Network([784, 10], seed=0).save(cwd / "net.safetensors")
    RNN(3, 4, 2, seed=0).save(cwd / "rnn.safetensors")
    Network([100, 10], seed=0).save(cwd / "net100.safetensors")
    Network([784, 5], seed=0).save(cwd / "net5.safetensors")


@pytest.fixture(scope="module")
def mistakes(idx_dir, tmp_path_factory):
    """``{case: (cwd, process, files before)}`` for every case of MISTAKES, run with -q."""
    jobs, dirs = {}, {}
    for case, (args, _) in MISTAKES.items():
        cwd = dirs[case] = tmp_path_factory.mktemp("mistake")
        _mistake_inputs(cwd)
        args = [a.replace("{idx}", str(idx_dir)) for a in args]
        jobs[case] = lambda args=args, cwd=cwd: nablanet("-q", *args, cwd=cwd, check=False)
    results = run_side_by_side(jobs)
    return {case: (dirs[case], results[case]) for case in MISTAKES}


@pytest.mark.parametrize("case", list(MISTAKES))
def test_user_mistakes(mistakes, case):
    cwd, result = mistakes[case]
    line = assert_user_error(result, *MISTAKES[case][1])
    assert line.startswith("nablanet: error:") or "Error:" in line
    # nothing was written: the directory holds the inputs only
    assert sorted(p.name for p in cwd.iterdir()) == sorted(
        ["junk.safetensors", "bad.csv", "one.csv", "two.csv", "classes.csv",
         "net.safetensors", "rnn.safetensors", "net100.safetensors", "net5.safetensors"])


def test_rnn_non_numeric_value_names_the_line(mistakes):
    _, result = mistakes["rnn: non-numeric value"]
    assert re.search(r"line 4\b", result.stderr), result.stderr


def test_rnn_binary_task_error_is_readable(mistakes):
    """The offending label is shown as a number, not as a NumPy repr."""
    _, result = mistakes["rnn: binary task with classes 0..8"]
    assert "np.float64" not in result.stderr, result.stderr


def test_mistake_is_one_line_without_quiet(tmp_path):
    line = assert_user_error(nablanet("train", "nosuchname", cwd=tmp_path, check=False),
                             "nosuchname")
    assert line.startswith("nablanet: error:")


# ------------------------------------------------------------------------------------
# Recurrent networks on JapaneseVowels
# ------------------------------------------------------------------------------------
def _python_predictions(model_path: Path, csv_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The saved model's class per sequence, through the Python API, and the labels."""
    model = RNN.load(model_path)  # carries its scaling: takes raw features
    data = read_sequence_csv(csv_path)
    X, mask = pad(data.features)
    labels = np.array([y[-1, 0] for y in data.labels], dtype=np.int64)
    return model.predict(X, mask), labels


def test_rnn_train(runs, japanese_vowels):
    cwd, steps = _pipeline(runs, "rnn", "aeon")
    result = assert_ok(steps["train"])
    metrics = json.loads((cwd / "jv.json").read_text())
    # the seed's per-epoch line, on stderr (logging)
    match = re.search(r"Epoch 5/\d+: loss ([\d.]+) \| accuracy ([\d.]+)% \| "
                      r"val_loss ([\d.]+) \| val_accuracy ([\d.]+)% \| [\d.]+ s\n",
                      result.stderr)
    assert match, result.stderr
    assert "Epoch 1/" not in result.stderr  # --eval-every 5
    assert "the epoch line's val_ values are on the 370 test sequences" in result.stderr
    assert "Train Evaluation" in result.stdout and "Test Evaluation" in result.stdout
    assert metrics["test"]["accuracy"] == pytest.approx(float(match[4]) / 100, abs=5e-5)
    # the line's training accuracy is the training pass's (fit's monitor_training=True),
    # recorded in the history; the "train" section evaluates the final model
    last = metrics["history"]["epochs"][-1]
    assert last["train_accuracy"] == pytest.approx(float(match[2]) / 100, abs=5e-5)
    assert 0.0 <= metrics["train"]["accuracy"] <= 1.0
    assert metrics["test"]["n"] == 370 and metrics["train"]["n"] == 270
    assert len(metrics["history"]["epochs"]) == 1
    # the saved model reproduces the reported test accuracy through the Python API
    predicted, labels = _python_predictions(cwd / "jv.safetensors", japanese_vowels[1])
    assert np.mean(predicted == labels) == pytest.approx(metrics["test"]["accuracy"])
    assert metrics["test"]["accuracy"] > 0.3  # 5 epochs: well above 1/9 chance


def test_rnn_evaluate(runs):
    cwd, steps = _pipeline(runs, "rnn", "aeon")
    result = assert_ok(steps["evaluate"])
    trained = json.loads((cwd / "jv.json").read_text())
    evaluation = json.loads((cwd / "ev.json").read_text())["metrics"]
    assert evaluation["accuracy"] == pytest.approx(trained["test"]["accuracy"])
    assert evaluation["confusion_matrix"] == trained["test"]["confusion_matrix"]
    assert "Accuracy" in result.stdout


def test_rnn_predict(runs, japanese_vowels):
    cwd, steps = _pipeline(runs, "rnn", "aeon")
    assert_ok(steps["predict"])
    with open(cwd / "pred.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["name", "t", "label"]
    rows = rows[1:]
    test = read_sequence_csv(japanese_vowels[1])
    assert len(rows) == len(test) == 370  # one row per sequence (--target last)
    assert [r[0] for r in rows] == test.names
    assert [int(r[1]) for r in rows] == [int(t[-1]) for t in test.times]
    predicted, _ = _python_predictions(cwd / "jv.safetensors", japanese_vowels[1])
    np.testing.assert_array_equal([int(r[2]) for r in rows], predicted)


def test_rnn_evaluate_on_a_csv_with_other_features(runs):
    _, steps = _pipeline(runs, "rnn", "aeon")
    assert_user_error(steps["evaluate other features"], "two.csv")


# ------------------------------------------------------------------------------------
# Regression
# ------------------------------------------------------------------------------------
def _check_regression_metrics(metrics: dict) -> None:
    for split in ("train", "test"):
        m = metrics[split]
        assert {"mae", "rmse", "r2"} <= set(m)
        assert 0 <= m["mae"] <= m["rmse"]
        assert m["r2"] <= 1
    assert len(metrics["history"]["epochs"]) >= 1


def test_rnn_regression_on_a_small_csv(runs):
    cwd, steps = runs["reg"]
    result = assert_ok(steps["train"])
    metrics = json.loads((cwd / "r.json").read_text())
    _check_regression_metrics(metrics)
    assert re.search(r"Epoch 4/4: loss [\d.]+ \| rmse [\d.]+ \| val_loss [\d.]+ \| "
                     r"val_rmse [\d.]+ \| [\d.]+ s\n", result.stderr), result.stderr
    assert [e["epoch"] for e in metrics["history"]["epochs"]] == [2, 4]  # every 2nd
    # predictions come back in the original units (degrees, not [0, 1])
    assert_ok(steps["predict"])
    with open(cwd / "p.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["name", "t", "y1"]
    assert len(rows) == 24 * 8  # --target every: one row per step
    model = RNN.load(cwd / "r.safetensors")  # raw features in, the data's units out
    data = read_sequence_csv(cwd / "sine.csv")
    X, mask = pad(data.features)
    expected = model.predict_proba(X, mask)[mask]
    np.testing.assert_allclose([float(r["y1"]) for r in rows], expected[:, 0], rtol=1e-9)
    assert 10 < np.mean(expected) < 30


def test_rnn_on_elnino(runs):
    cwd, steps = _pipeline(runs, "elnino", "statsmodels")
    converted = assert_ok(steps["convert"])
    paths = converted.stdout.split()
    assert [Path(p).name for p in paths] == ["elnino_train.csv", "elnino_test.csv"]
    for p in paths:  # each file logged once
        assert converted.stderr.count(p) == 1 and f"sequences to {p}\n" in converted.stderr
    assert_ok(steps["train"])
    metrics = json.loads((cwd / "el.json").read_text())
    _check_regression_metrics(metrics)
    assert metrics["test"]["mae"] < 5.0  # degrees Celsius, in the original units


# ------------------------------------------------------------------------------------
# --plot, --profile, --backend, --threads
# ------------------------------------------------------------------------------------
def test_plot_writes_a_png(tmp_path, idx_dir):
    pytest.importorskip("matplotlib", reason="--plot-out needs matplotlib (nablanet[plot])")
    nablanet("-q", "train", idx_dir, "--sizes", "784,8,10", "--epochs", "2", "--plot-out",
             "curves.png", cwd=tmp_path)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir() if p.name != "no-data-here"] == ["curves.png"]


def test_weights_and_misclassified_grids_drawn_from_the_command_line(tmp_path, idx_dir):
    pytest.importorskip("matplotlib", reason="the plots need matplotlib (nablanet[plot])")
    from tests.test_plotting import tile_grid

    nablanet("-q", "train", idx_dir, "--sizes", "784,8,10", "--epochs", "1", "--lr", "0.5",
             "--weights-plot-out", "w.png", "--misclassified-plot-out", "m.png",
             "--metrics-out", "m.json", cwd=tmp_path)
    assert tile_grid(tmp_path / "w.png")[1] == [3, 3, 2]  # 8 hidden units
    final = json.loads((tmp_path / "m.json").read_text())["final"]
    wrong = min(36, final["n_test"] - final["test_correct"])
    assert wrong > 0
    cols = math.ceil(math.sqrt(wrong))
    assert tile_grid(tmp_path / "m.png")[1] == [cols] * (wrong // cols) + (
        [wrong % cols] if wrong % cols else [])
    nablanet("-q", "train", idx_dir, "--layers", "conv:6x5x5,pool:2,softmax:10", "--epochs",
             "1", "--weights-plot-out", "c.png", cwd=tmp_path)
    assert tile_grid(tmp_path / "c.png")[1] == [3, 3]  # 6 filters of 5 x 5


def test_an_image_plot_may_not_overwrite_an_input(tmp_path, idx_dir):
    images = idx_dir / "t10k-images-idx3-ubyte.gz"
    before = images.read_bytes()
    result = nablanet("train", idx_dir, "--epochs", "1", "--misclassified-plot-out", images,
                      cwd=tmp_path, check=False)
    assert result.returncode == 2 and "--misclassified-plot-out" in result.stderr
    assert images.read_bytes() == before


def test_profile_writes_a_flame_graph(tmp_path, idx_dir):
    if not _has_py_spy():
        pytest.skip("--profile needs py-spy (nablanet[profile])")
    nablanet("-q", "train", idx_dir, "--sizes", "784,8,10", "--epochs", "1", "--profile-out",
             "flame.svg", cwd=tmp_path)
    svg = (tmp_path / "flame.svg").read_text()
    assert "<svg" in svg and "nablanet" in svg  # frames of the command were sampled


def _has_py_spy() -> bool:
    import shutil

    return bool(shutil.which("py-spy") or shutil.which("py-spy",
                                                       path=str(Path(sys.executable).parent)))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_backend_and_threads_options_give_the_same_model(tmp_path, idx_dir, backend):
    if backend == "numba":
        pytest.importorskip("numba", reason="numba not installed (nablanet[fast])")
    nablanet("-q", "train", idx_dir, "--sizes", "784,8,10", "--epochs", "2", "--backend",
             backend, "--threads", "1", "--model-out", f"{backend}.safetensors", cwd=tmp_path)
    reference = Network([784, 8, 10], seed=1)
    data = read_idx(idx_dir / "train-images-idx3-ubyte.gz").reshape(240, -1) / 255.0
    labels = read_idx(idx_dir / "train-labels-idx1-ubyte.gz")
    reference.fit(data, labels, epochs=2, batch_size=10, progress=False,
                  monitor_training=False, backend="numpy")
    saved = Network.load(tmp_path / f"{backend}.safetensors")
    for a, b in zip(saved.weights, reference.weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10)


def test_numba_backend_for_an_uncovered_optimizer_is_a_user_error(tmp_path, idx_dir):
    pytest.importorskip("numba", reason="numba not installed (nablanet[fast])")
    result = nablanet("-q", "train", idx_dir, "--epochs", "1", "--optimizer", "adam",
                      "--backend", "numba", cwd=tmp_path, check=False)
    assert_user_error(result, "backend 'numba'", "plain SGD")


def test_no_shuffle_trains_in_file_order(tmp_path, idx_dir):
    nablanet("-q", "train", idx_dir, "--sizes", "784,8,10", "--epochs", "2", "--no-shuffle",
             "--backend", "numpy", "--model-out", "m.safetensors", cwd=tmp_path)
    data = read_idx(idx_dir / "train-images-idx3-ubyte.gz").reshape(240, -1) / 255.0
    labels = read_idx(idx_dir / "train-labels-idx1-ubyte.gz")
    in_order, shuffled = Network([784, 8, 10], seed=1), Network([784, 8, 10], seed=1)
    for net, shuffle in ((in_order, False), (shuffled, True)):
        net.fit(data, labels, epochs=2, batch_size=10, progress=False, monitor_training=False,
                backend="numpy", shuffle=shuffle)
    saved = Network.load(tmp_path / "m.safetensors")
    np.testing.assert_allclose(saved.weights[0], in_order.weights[0], rtol=0, atol=1e-12)
    assert not np.allclose(saved.weights[0], shuffled.weights[0])
