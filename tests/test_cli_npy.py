"""``nablanet train`` and ``evaluate`` on a directory of .npy images and labels: the
single pair's held-out images are found again by evaluate, and bad files are refused in
one line naming the file."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.cli_run import run


def write_pair(directory, n=50, side=6, dtype=np.uint8, seed=0):
    """``x.npy`` ``(n, side, side)`` and ``y.npy``: class k brightens row k."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.integers(0, 40, (n, side, side))
    for k in range(3):
        x[y == k, k] = 250
    x = x.astype(np.uint8) if dtype == np.uint8 else (x / 255.0).astype(dtype)
    np.save(directory / "x.npy", x)
    np.save(directory / "y.npy", y)
    return x, y


@pytest.mark.parametrize("model", [["--sizes", "36,8,3"], ["--layers", "conv:2x3,softmax:3"]])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_train_then_evaluate_a_npy_pair(tmp_path, capsys, model, dtype):
    data = tmp_path / "data"
    data.mkdir()
    write_pair(data, dtype=dtype)
    code, _, err = run(capsys, "train", data, *model, "--epochs", 2, "--lr", 0.5,
                       "--model-out", tmp_path / "m.safetensors", "--metrics-out",
                       tmp_path / "m.json")
    assert code == 0, err
    final = json.loads((tmp_path / "m.json").read_text())["final"]
    assert final["n_test"] == 10  # 0.2 of the 50 held out
    code, _, err = run(capsys, "evaluate", data, "-m", tmp_path / "m.safetensors",
                       "--metrics-out", tmp_path / "e.json")
    assert code == 0, err
    test = json.loads((tmp_path / "e.json").read_text())["test"]
    assert test["n"] == 10 and test["accuracy"] == pytest.approx(final["test_accuracy"])


@pytest.mark.parametrize(("write", "message"), [
    (lambda d: (np.save(d / "x.npy", np.full((5, 2, 2), 2.0)), np.save(d / "y.npy", np.arange(5))),
     "x.npy: expected pixel values as floats in [0, 1]"),
    (lambda d: (np.save(d / "x.npy", np.zeros((5, 2, 2), np.uint8)),
                np.save(d / "y.npy", np.arange(5.0))),
     "y.npy: expected integer labels of shape (n,), found float64"),
    (lambda d: (np.save(d / "x.npy", np.zeros((5, 2, 2), np.uint8)),
                np.savez(d / "y.npy", np.arange(5)), (d / "y.npy.npz").rename(d / "y.npy")),
     "y.npy: a .npz archive (zip), not a .npy array"),
])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_bad_npy_files_are_one_line_naming_the_file(tmp_path, capsys, write, message,
                                                    command):
    data = tmp_path / "data"
    data.mkdir()
    write(data)
    model = tmp_path / "m.safetensors"
    if command == "evaluate":
        from nablanet import Network

        Network([4, 3, 5], seed=0).save(model)
    args = ["--sizes", "4,3,5"] if command == "train" else ["-m", model]
    code, _, err = run(capsys, command, data, *args)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert message in lines[0] and str(data) in lines[0]
