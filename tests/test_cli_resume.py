"""Runs you can stop and resume from the command line: --resume, --checkpoint-every,
SIGINT, honest evaluate, complete run records, --class-weight, --tensorboard."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import fake_images
from nablanet import GRU, RNN, Network
from nablanet.datasets.idx import write_idx
from test_cli import (
    ENV,
    _write_sine_csv,
    assert_ok,
    assert_user_error,
    nablanet,
    run_side_by_side,
)


def _same_weights(a, b):
    for p, q in zip(a.params(), b.params(), strict=True):
        np.testing.assert_array_equal(p, q)


FF = ["--sizes", "784,20,10", "--optimizer", "adam", "--lr", "0.01", "--schedule",
      "cosine", "--batch-size", "20", "--backend", "numpy", "--output-activation", "softmax"]


def test_the_run_record_holds_the_command_options_backend_and_history(idx_dir, tmp_path):
    result = assert_ok(nablanet("train", idx_dir, *FF, "--epochs", "4", "--metrics-out",
                                "whole.json", cwd=tmp_path, check=False))
    record = json.loads((tmp_path / "whole.json").read_text())
    assert record["command_line"].startswith("nablanet train ")
    assert "--schedule cosine" in record["command_line"]
    assert record["options"]["lr"] == 0.01 and record["options"]["batch_size"] == 20
    assert record["options"]["epochs"] == 4 and record["options"]["seed"] == 1
    assert record["options"]["dtype"] == "float64"
    assert record["schedule"] == {"name": "cosine", "t_max": 4, "min_lr": 0.0}
    assert record["backend"] == "numpy" and "numpy" in record["versions"] and record["cpu"]
    lrs = [e["lr"] for e in record["history"]["epochs"]]
    assert lrs[0] == 0.01 and lrs == sorted(lrs, reverse=True) and lrs[-1] > 0
    assert [e["epoch"] for e in record["history"]["epochs"]] == [1, 2, 3, 4]
    assert "training on the numpy backend" in result.stderr


def _interrupt(tmp_path, args, after: str, sig) -> tuple[int, str]:
    """Run ``nablanet ARGS``, send ``sig`` once stderr shows ``after``; return its exit
    status and its stderr."""
    env = {**ENV, "NABLANET_DATA": str(tmp_path / "none")}
    proc = subprocess.Popen([sys.executable, "-m", "nablanet", *map(str, args)],
                            cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if after in line:
                proc.send_signal(sig)
                break
        seen.append(proc.communicate(timeout=120)[1])
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "".join(seen)


def _big_idx_dir(path: Path, n: int = 3000) -> Path:
    path.mkdir()
    for prefix, count, seed in (("train", n, 0), ("t10k", 100, 1)):
        images, labels = fake_images(count, seed)
        write_idx(path / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(path / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return path


@pytest.mark.slow
def test_sigint_leaves_a_checkpoint_and_the_metrics_and_the_run_resumes_exactly(tmp_path):
    data = _big_idx_dir(tmp_path / "data")
    common = ["train", data, "--sizes", "784,30,10", "--optimizer", "momentum", "--lr",
              "0.05", "--batch-size", "2", "--backend", "numpy"]
    status, rest = _interrupt(tmp_path, [*common, "--epochs", "500", "--model-out",
                                         "ck.safetensors", "--metrics-out", "m.json"],
                              "Epoch 2/", signal.SIGINT)
    assert status == 130, rest
    assert "Traceback" not in rest
    said = [line for line in rest.splitlines() if "interrupted after epoch" in line]
    assert len(said) == 1 and "--resume ck.safetensors" in said[0]
    ck = Network.load(tmp_path / "ck.safetensors")
    k = ck.training_state.epoch
    assert k >= 1 and f"interrupted after epoch {k}:" in said[0]
    metrics = json.loads((tmp_path / "m.json").read_text())
    assert metrics["interrupted_after_epoch"] == k
    assert [e["epoch"] for e in metrics["history"]["epochs"]] == list(range(1, k + 1))
    done = run_side_by_side({
        "resumed": lambda: nablanet(*common, "--epochs", k + 1, "--resume", "ck.safetensors",
                                    "--model-out", "resumed.safetensors", cwd=tmp_path,
                                    check=False),
        "whole": lambda: nablanet(*common, "--epochs", k + 1, "--model-out",
                                  "whole.safetensors", cwd=tmp_path, check=False)})
    assert_ok(done["resumed"])
    assert_ok(done["whole"])
    assert f"Epoch {k + 1}/{k + 1}:" in done["resumed"].stderr
    assert "Epoch 1/" not in done["resumed"].stderr
    _same_weights(Network.load(tmp_path / "resumed.safetensors"),
                  Network.load(tmp_path / "whole.safetensors"))


def test_rnn_train_stopped_by_sigterm_resumes_exactly_with_a_schedule(tmp_path):
    _write_sine_csv(tmp_path / "sine.csv")
    args = ["rnn", "train", "sine.csv", "--task", "regression", "--hidden", "6",
            "--batch-size", "4", "--eval-every", "1", "--optimizer", "adam", "--lr",
            "0.01", "--schedule", "exponential", "--backend", "numpy"]
    status, err = _interrupt(tmp_path, [*args, "--epochs", "100000", "--model-out",
                                        "p.safetensors"], "Epoch 3/", signal.SIGTERM)
    assert status == 130, err
    k = RNN.load(tmp_path / "p.safetensors").training_state.epoch
    assert k >= 2
    done = run_side_by_side({
        "whole": lambda: nablanet(*args, "--epochs", k + 2, "--model-out", "w.safetensors",
                                  cwd=tmp_path, check=False),
        "resumed": lambda: nablanet(*args, "--epochs", k + 2, "--resume", "p.safetensors",
                                    "--model-out", "r.safetensors", "--metrics-out",
                                    "r.json", cwd=tmp_path, check=False),
        "done": lambda: nablanet("-q", *args, "--epochs", k, "--resume", "p.safetensors",
                                 cwd=tmp_path, check=False),
        "wrong": lambda: nablanet("-q", *args[:6], "7", *args[7:], "--epochs", k + 2,
                                  "--resume", "p.safetensors", cwd=tmp_path, check=False)})
    assert_ok(done["whole"])
    assert_ok(done["resumed"])
    _same_weights(RNN.load(tmp_path / "w.safetensors"), RNN.load(tmp_path / "r.safetensors"))
    record = json.loads((tmp_path / "r.json").read_text())  # the whole run's epochs
    assert [e["epoch"] for e in record["history"]["epochs"]] == list(range(1, k + 3))
    assert_user_error(done["done"], "--resume", "nothing to resume")
    assert_user_error(done["wrong"], "--resume p.safetensors", "--hidden 7 (its run: --hidden 6)")


def test_evaluate_tests_exactly_the_held_out_images_of_the_training_run(tmp_path, idx_dir):
    single = tmp_path / "single"
    single.mkdir()
    images, labels = fake_images(200, 5)
    write_idx(single / "images-idx3-ubyte.gz", images)
    write_idx(single / "labels-idx1-ubyte.gz", labels)
    assert_ok(nablanet("train", single, "--sizes", "784,20,10", "--epochs", "2", "--seed",
                       "7", "--model-out", "m.safetensors", "--metrics-out", "t.json",
                       cwd=tmp_path, check=False))
    done = run_side_by_side({
        "same": lambda: nablanet("evaluate", single, "-m", "m.safetensors", "--metrics-out",
                                 "e.json", cwd=tmp_path, check=False),
        "other seed": lambda: nablanet("-q", "evaluate", single, "-m", "m.safetensors", "--seed",
                                       "1", cwd=tmp_path, check=False),
        "other data": lambda: nablanet("evaluate", idx_dir, "-m", "m.safetensors",
                                       "--metrics-out", "o.json", cwd=tmp_path, check=False)})
    assert_ok(done["same"])
    trained = json.loads((tmp_path / "t.json").read_text())["final"]
    evaluated = json.loads((tmp_path / "e.json").read_text())["test"]
    assert evaluated["n"] == trained["n_test"] == 40
    assert evaluated["accuracy"] == trained["test_accuracy"]
    assert_user_error(done["other seed"], "--seed", "would test on training images")
    assert_ok(done["other data"])
    assert json.loads((tmp_path / "o.json").read_text())["test"]["n"] == 300  # 240 + 60


def test_class_weight_and_tensorboard_options(tmp_path, idx_dir):
    pytest.importorskip("tensorboardX")
    result = nablanet("train", idx_dir, "--sizes", "784,20,10", "--epochs", "2",
                      "--class-weight", "balanced", "--tensorboard", "tb", "--backend",
                      "numpy", cwd=tmp_path, check=False)
    assert_ok(result)
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))
    assert "wrote tb (TensorBoard event files)" in result.stderr
    bad = nablanet("-q", "train", idx_dir, "--checkpoint-every", "2", cwd=tmp_path,
                   check=False)
    assert_user_error(bad, "--checkpoint-every", "--model-out")


def test_a_model_trained_in_python_has_the_clis_default_split(tmp_path):
    from nablanet.datasets.mnist import load_images

    single = tmp_path / "single"
    single.mkdir()
    images, labels = fake_images(50, 2)
    write_idx(single / "images-idx3-ubyte.gz", images)
    write_idx(single / "labels-idx1-ubyte.gz", labels)
    python = load_images(single)
    assert_ok(nablanet("train", single, "--sizes", "784,5,10", "--epochs", "1",
                       "--metrics-out", "t.json", cwd=tmp_path, check=False))
    assert json.loads((tmp_path / "t.json").read_text())["final"]["n_test"] == len(
        python.y_test)
    assert "seed 1" in python.source


# ------------------------------------------------------------------------------------
# The test data only reports
# ------------------------------------------------------------------------------------
def _permute_labels(src: Path, dest: Path) -> None:
    """``src`` with its label column y1 permuted over the rows (features, names and
    steps kept)."""
    lines = src.read_text().splitlines()
    rows = [line.rsplit(",", 1) for line in lines[1:]]
    labels = [y for _, y in rows]
    np.random.default_rng(3).shuffle(labels)
    assert labels != [y for _, y in rows]
    dest.write_text("\n".join([lines[0], *(f"{x},{y}" for (x, _), y in zip(
        rows, labels, strict=True))]) + "\n")


def test_rnn_train_never_lets_the_test_csv_choose_anything(tmp_path):
    _write_sine_csv(tmp_path / "train.csv", n=40)
    _write_sine_csv(tmp_path / "test.csv", n=12)
    _permute_labels(tmp_path / "test.csv", tmp_path / "permuted.csv")
    # with the test CSV as validation data (before issue 26), these runs differ: the
    # permuted labels stop one at epoch 11 and the other runs all 30 epochs
    args = ["--task", "regression", "--hidden", "4", "--epochs", "30", "--lr", "0.02",
            "--early-stopping", "2", "--schedule", "plateau", "--eval-every", "1",
            "--backend", "numpy"]
    done = run_side_by_side({
        test: lambda test=test: nablanet("rnn", "train", "train.csv", f"{test}.csv", *args,
                                         "--model-out", f"{test}.safetensors",
                                         "--metrics-out", f"{test}.json", cwd=tmp_path,
                                         check=False)
        for test in ("test", "permuted")} | {
        "zero": lambda: nablanet("-q", "rnn", "train", "train.csv", "test.csv", *args,
                                 "--validation-split", "0", cwd=tmp_path, check=False)})
    assert_user_error(done.pop("zero"), "--validation-split", "--early-stopping and "
                      "--schedule plateau choose epochs on validation data")
    for result in done.values():
        assert_ok(result)
        assert "early stopping after epoch" in result.stderr  # the stopper did choose
        assert "--validation-split 0.1" in result.stderr
    _same_weights(RNN.load(tmp_path / "test.safetensors"),
                  RNN.load(tmp_path / "permuted.safetensors"))
    reports = [json.loads((tmp_path / f"{t}.json").read_text()) for t in ("test", "permuted")]
    assert reports[0]["train"] == reports[1]["train"]
    assert reports[0]["test"]["rmse"] != reports[1]["test"]["rmse"]  # the labels did change
    assert reports[0]["options"]["validation_split"] == 0.1


def test_evaluate_says_it_evaluates_everything_for_a_model_saved_from_python(
        tmp_path, idx_dir, capsys):
    from tests.cli_run import run

    from nablanet.datasets.mnist import load_images

    single = tmp_path / "single"
    single.mkdir()
    images, labels = fake_images(200, 5)
    write_idx(single / "images-idx3-ubyte.gz", images)
    write_idx(single / "labels-idx1-ubyte.gz", labels)
    whole, standard = load_images(single, test_fraction=0), load_images(idx_dir)
    for name, X, y in (("whole", whole.X_test, whole.y_test),
                       ("part", standard.X_train, standard.y_train),
                       ("other", standard.X_test, standard.y_test)):
        net = Network([784, 8, 10], seed=2)
        net.fit(X, y, epochs=1, batch_size=10, progress=False)
        net.save(tmp_path / f"{name}.safetensors")
        assert net.trained_on(X, y) and not net.trained_on(X[:-1], y[:-1])

    code, out, err = run(capsys, "evaluate", single, "-m", tmp_path / "whole.safetensors")
    assert code == 0, err
    assert "holding out" not in err and "held out" not in out
    assert "records no training data set" in err and "evaluating all 200 images" in err
    assert "Evaluation of every image" in out and "all 200 examples" in out
    assert "these images are the data" in err and "not a test" in err
    code, out, err = run(capsys, "evaluate", idx_dir, "-m", tmp_path / "part.safetensors")
    assert code == 0, err
    assert "evaluating all 300 images" in err
    assert "its 240 training images are the data" in err
    code, out, err = run(capsys, "evaluate", idx_dir, "-m", tmp_path / "other.safetensors")
    assert code == 0, err
    assert "evaluating all 300 images" in err and "WARNING" not in err


# ------------------------------------------------------------------------------------
# --resume takes the run's options from its checkpoint
# ------------------------------------------------------------------------------------
def _resume_with_epochs_only(tmp_path, command: list, options: list, load, wrong: list,
                             said: list) -> None:
    """``command + options`` run for 6 epochs equals the same run for 3 epochs resumed
    with ``--epochs 6 --resume`` alone, bit for bit; ``wrong`` options at resume are
    refused, the line containing ``said``. (Not with early stopping: a run that ends
    with it restores its best epoch's weights, which an extension starts from.)"""
    first = run_side_by_side({
        "3": lambda: nablanet(*command, *options, "--epochs", "3", "--model-out",
                              "m3.safetensors", cwd=tmp_path, check=False),
        "6": lambda: nablanet(*command, *options, "--epochs", "6", "--model-out",
                              "w.safetensors", cwd=tmp_path, check=False)})
    assert_ok(first["3"])
    assert_ok(first["6"])
    done = run_side_by_side({
        "resumed": lambda: nablanet(*command, "--epochs", "6", "--resume", "m3.safetensors",
                                    "--model-out", "r.safetensors", cwd=tmp_path,
                                    check=False),
        "wrong": lambda: nablanet("-q", *command, "--epochs", "6", "--resume",
                                  "m3.safetensors", *wrong, cwd=tmp_path, check=False)})
    assert "resuming m3.safetensors after epoch 3 of 6" in assert_ok(done["resumed"]).stderr
    _same_weights(load(tmp_path / "w.safetensors"), load(tmp_path / "r.safetensors"))
    line = assert_user_error(done["wrong"], "--resume m3.safetensors", *said)
    assert "its run" in line


def test_train_resumes_with_epochs_alone_and_refuses_contradicting_options(tmp_path,
                                                                          idx_dir):
    options = ["--sizes", "784,12,10", "--output-activation", "softmax", "--init", "he",
               "--optimizer", "momentum", "--momentum", "0.8", "--lr", "0.05",
               "--weight-decay", "0.0001", "--batch-size", "16", "--schedule", "plateau",
               "--seed", "3"]
    _resume_with_epochs_only(
        tmp_path, ["train", idx_dir], options, Network.load,
        ["--lr", "0.1", "--momentum", "0.8", "--sizes", "784,12,10", "--shuffle"],
        ["--lr 0.1 (its run: --lr 0.05)"])
    line = assert_user_error(nablanet("-q", "train", idx_dir, "--epochs", "6", "--resume",
                                      "m3.safetensors", "--no-shuffle", "--sizes",
                                      "784,30,10", cwd=tmp_path, check=False))
    assert "--sizes 784,30,10 (its run: --sizes 784,12,10)" in line
    assert "--no-shuffle (its run: --shuffle)" in line and "--lr" not in line
    from nablanet.serialization import read_cli, save

    cli = read_cli(tmp_path / "m3.safetensors")
    cli["options"]["lr"] = -1.0  # a file is checked as the command line is
    save(Network.load(tmp_path / "m3.safetensors"), tmp_path / "bad.safetensors", cli=cli)
    assert_user_error(nablanet("-q", "train", idx_dir, "--epochs", "6", "--resume",
                               "bad.safetensors", cwd=tmp_path, check=False),
                      "--resume bad.safetensors: its run's --lr: expected a number > 0")


def test_rnn_train_resumes_with_epochs_alone_and_refuses_contradicting_options(tmp_path):
    _write_sine_csv(tmp_path / "train.csv", n=40)
    _write_sine_csv(tmp_path / "test.csv", n=12)
    options = ["--task", "regression", "--cell", "gru", "--hidden", "5", "--optimizer",
               "rmsprop", "--lr", "0.01", "--batch-size", "6", "--eval-every", "1",
               "--schedule", "plateau", "--validation-split", "0.2", "--seed", "4"]
    _resume_with_epochs_only(
        tmp_path, ["rnn", "train", "train.csv", "test.csv"], options, GRU.load,
        ["--cell", "gru", "--validation-split", "0.25", "--early-stopping", "2"],
        ["--validation-split 0.25 (its run: --validation-split 0.2)",
         "--early-stopping 2 (its run: --early-stopping none)"])


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_rnn_train_resumes_every_task_with_epochs_alone(tmp_path, task):
    _write_sine_csv(tmp_path / "sine.csv", n=30)
    lines = (tmp_path / "sine.csv").read_text().splitlines()
    classes = 2 if task == "binary" else 3
    (tmp_path / "classes.csv").write_text("\n".join([lines[0], *(
        f"{x},{int(float(y)) % classes}" for x, y in (line.rsplit(",", 1)
                                                     for line in lines[1:]))]) + "\n")
    assert_ok(nablanet("rnn", "train", "classes.csv", "--task", task, "--hidden", "3",
                       "--epochs", "2", "--early-stopping", "3", "--model-out",
                       "m.safetensors", cwd=tmp_path, check=False))
    result = assert_ok(nablanet("rnn", "train", "classes.csv", "--epochs", "3", "--resume",
                                "m.safetensors", cwd=tmp_path, check=False))
    assert "resuming m.safetensors after epoch 2 of 3" in result.stderr


def _as_an_earlier_release(path: Path, load) -> Path:
    """The checkpoint ``path`` rewritten as releases before this one wrote it: no recorded
    options; a recurrent model's min-max scaling as a ``scaler`` in the command-line
    section instead of scaling layers; a conv model's image shape there (``image_shape``)
    instead of the model's ``input_shape``."""
    from nablanet.serialization import read_cli, save

    model, cli = load(path), read_cli(path)
    del cli["options"]
    if model.input_scaling is not None:
        inp, out = model.input_scaling, model.output_scaling
        cli["scaler"] = {"feature_min": inp.minimum.tolist(),
                         "feature_max": inp.maximum.tolist(),
                         "label_min": out.minimum.tolist(), "label_max": out.maximum.tolist()}
        model.input_scaling = model.output_scaling = None
    else:
        cli["image_shape"] = list(model.input_shape)
        model.input_shape = None
    old = path.with_name("old-" + path.name)
    save(model, old, cli=cli)
    return old


@pytest.mark.parametrize("kind", ["rnn train", "train --layers"])
def test_a_checkpoint_of_an_earlier_release_resumes_exactly(tmp_path, idx_dir, kind):
    """A run saved by an earlier release (its scaler or image shape beside the model, not
    in it) resumes with every option typed, and equals the uninterrupted run."""
    if kind == "rnn train":
        _write_sine_csv(tmp_path / "train.csv", n=30)
        command = ["rnn", "train", "train.csv", "--task", "regression", "--cell", "gru",
                   "--hidden", "4", "--batch-size", "6", "--seed", "2"]
        load = GRU.load
    else:
        command = ["train", idx_dir, "--layers", "conv:3x5x5,pool:2,softmax:10",
                   "--batch-size", "20", "--lr", "0.05", "--seed", "2"]
        from nablanet import Sequential
        load = Sequential.load
    assert_ok(nablanet(*command, "--epochs", "2", "--model-out", "m2.safetensors",
                       cwd=tmp_path, check=False))
    assert_ok(nablanet(*command, "--epochs", "3", "--model-out", "m3.safetensors",
                       cwd=tmp_path, check=False))
    old = _as_an_earlier_release(tmp_path / "m2.safetensors", load)
    result = assert_ok(nablanet(*command, "--epochs", "3", "--resume", old.name,
                                "--model-out", "r.safetensors", cwd=tmp_path, check=False))
    assert "resuming old-m2.safetensors after epoch 2 of 3" in result.stderr
    _same_weights(load(tmp_path / "m3.safetensors"), load(tmp_path / "r.safetensors"))
