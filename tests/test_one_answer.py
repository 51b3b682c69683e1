"""One model, one answer: a model trained by ``nablanet rnn train`` gives the same outputs,
in the data's units, on every path that runs it: ``rnn predict`` (the reference), the API
after ``nablanet.load``, the ONNX graph of ``nablanet export`` in onnxruntime, the
PyTorch module of ``to_torch`` and the generated Rust and C ``predict`` (compiled; skipped
without a compiler) -- for every task (binary, multiclass, regression with two
outputs). Every path takes the raw features, as a user has them.

Tolerances: 1e-12 where the path computes in float64 (API, PyTorch, Rust, C), 1e-5 where it
computes in float32 (onnxruntime's recurrent operators).

Files written by earlier releases keep their min-max scaler in their command-line section
(no scaling layers): they still score as they did, and every path gives that answer.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from tests.cli_run import run
from tests.test_matrix import Layout, write_layout

from nablanet import load
from nablanet.datasets.sequences import pad, read_sequence_file
from nablanet.models.scorer import SequenceScorer
from nablanet.preprocessing import MinMaxScaler
from nablanet.serialization import read_cli

FIXTURES = Path(__file__).parent / "fixtures" / "models"

#: task -> the data layout it is trained on (regression: two label columns)
TASKS = {"binary": Layout("binary", variable=True),
         "multiclass": Layout("multiclass", target="last", variable=True),
         "regression": Layout("regression", variable=True)}

#: path -> tolerance (rtol = atol); rust and c: the generated ``predict`` (float64)
TOLERANCE = {"api": 1e-12, "onnx": 1e-5, "torch": 1e-12, "rust": 1e-12, "c": 1e-12}


def cli_outputs(capsys, tmp_path: Path, model: Path, data: Path) -> np.ndarray:
    """``rnn predict``'s outputs, one row per scored step: binary the score, multiclass
    the probabilities (``--proba``), regression the values ``y1..yL``."""
    code, _, err = run(capsys, "-q", "rnn", "predict", data, "-m", model, "-o",
                       tmp_path / "p.csv", "--proba")
    if code == 2 and "no class probabilities" in err:  # regression: its values
        code, _, err = run(capsys, "-q", "rnn", "predict", data, "-m", model, "-o",
                           tmp_path / "p.csv")
    assert code == 0, err
    with (tmp_path / "p.csv").open(newline="") as f:
        header, *rows = csv.reader(f)
    keep = [k for k, c in enumerate(header) if c not in ("name", "t", "label")]
    return np.array([[float(r[k]) for k in keep] for r in rows])


def scored(outputs: np.ndarray, mask: np.ndarray, target: str) -> np.ndarray:
    """The rows ``rnn predict`` writes from batch outputs: every valid step, or one per
    sequence."""
    return outputs[mask] if target == "every" else outputs


def api_outputs(model: Path, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return load(model).predict_proba(X, mask)


def onnx_outputs(capsys, tmp_path: Path, model: Path, X: np.ndarray,
                 mask: np.ndarray) -> np.ndarray:
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    code, _, err = run(capsys, "-q", "export", "-m", model, "-o", tmp_path / "m.onnx")
    assert code == 0, err
    session = ort.InferenceSession(str(tmp_path / "m.onnx"))
    return session.run(None, {"X": X.astype(np.float32),
                              "sequence_lens": mask.sum(axis=1).astype(np.int32)})[0]


def torch_outputs(model: Path, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    torch = pytest.importorskip("torch")
    from nablanet.interop.torch import to_torch

    module = to_torch(load(model))
    with torch.no_grad():
        return module(torch.from_numpy(X), torch.from_numpy(mask.sum(axis=1))).numpy()


def generated_outputs(lang: str, tmp_path: Path, model: Path, X: np.ndarray,
                      mask: np.ndarray) -> np.ndarray:
    """The generated ``predict``, one sequence at a time, as batch outputs (zeros on
    padded steps)."""
    from tests.interop.test_codegen import run_predict

    loaded = load(model)
    lengths = mask.sum(axis=1)
    got = run_predict(lang, loaded, [X[i, :n] for i, n in enumerate(lengths)], tmp_path)
    if loaded.target == "last":
        return np.array(got)
    out = np.zeros((*mask.shape, loaded.n_outputs))
    for i, n in enumerate(lengths):
        out[i, :n] = got[i].reshape(n, -1)
    return out


def outputs_of(path: str, capsys, tmp_path: Path, model: Path, X, mask) -> np.ndarray:
    if path == "api":
        return api_outputs(model, X, mask)
    if path == "onnx":
        return onnx_outputs(capsys, tmp_path, model, X, mask)
    if path in ("rust", "c"):
        return generated_outputs(path, tmp_path, model, X, mask)
    return torch_outputs(model, X, mask)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Per task: ``(model file, data file)``, trained once by ``rnn train`` (two epochs,
    a held-out test share)."""
    cwd, cache = tmp_path_factory.mktemp("one-answer"), {}

    def model_for(task: str) -> tuple[Path, Path]:
        if task not in cache:
            data = write_layout(cwd / f"{task}.csv", TASKS[task], seed=3)
            model = cwd / f"{task}.safetensors"
            from nablanet.cli import main

            main(["-q", "rnn", "train", str(data), "--task", task, "--target",
                  TASKS[task].target, "--hidden", "5", "--epochs", "2", "--model-out",
                  str(model)])
            cache[task] = model, data
        return cache[task]

    return model_for


@pytest.mark.parametrize("path", list(TOLERANCE))
@pytest.mark.parametrize("task", list(TASKS))
def test_every_path_gives_the_cli_answer(task, path, trained, tmp_path, capsys):
    model, data = trained(task)
    expected = cli_outputs(capsys, tmp_path, model, data)
    X, mask = pad(read_sequence_file(data).features)  # raw features, float64
    got = scored(outputs_of(path, capsys, tmp_path, model, X, mask), mask,
                 TASKS[task].target)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=TOLERANCE[path], atol=TOLERANCE[path])
    if task == "regression":  # the data's units, not the scaled [0, 1]
        y = np.concatenate(read_sequence_file(data).labels)
        assert np.abs(expected).max() > 1.5 and y.min() < expected.mean() < y.max()


def test_the_model_file_carries_its_scaling_not_the_cli_section(trained):
    model, data = trained("regression")
    assert "scaler" not in read_cli(model)
    loaded = load(model)
    scaler = MinMaxScaler().fit(read_sequence_file(data))  # no test share held out here
    assert loaded.input_scaling is not None and not loaded.input_scaling.inverse
    assert loaded.output_scaling is not None and loaded.output_scaling.inverse
    assert loaded.output_scaling.n_features == 2
    assert loaded.input_scaling.n_features == scaler.feature_min.size
    assert load(trained("binary")[0]).output_scaling is None


# --------------------------------------------------------------------------------------
# Files of earlier releases: the scaler in the CLI section
# --------------------------------------------------------------------------------------
def legacy_answer(name: str, X: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """What ``rnn predict`` computed for these features before models carried their
    scaling: scale with the saved scaler, predict, map regression outputs back."""
    record = read_cli(FIXTURES / f"{name}.safetensors")
    scaler = MinMaxScaler.from_dict(record["scaler"])
    lo, span = scaler.feature_min, scaler.feature_max - scaler.feature_min
    scaled = (X - lo) * np.divide(1.0, span, out=np.zeros_like(span), where=span > 0)
    out = load(FIXTURES / f"{name}.safetensors").predict_proba(scaled, mask)
    return scaler.inverse_transform_labels(out) if record["task"] == "regression" else out


def write_csv(path: Path, X: np.ndarray, mask: np.ndarray) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "t", *(f"x{k}" for k in range(1, X.shape[2] + 1))])
        for i in range(len(X)):
            for t in range(int(mask[i].sum())):
                w.writerow([f"s{i}", t, *(repr(float(v)) for v in X[i, t])])
    return path


@pytest.mark.parametrize("name", ["cli_rnn_binary", "cli_gru_regression"])
def test_an_earlier_release_file_scores_as_before_on_every_path(name, tmp_path, capsys):
    model = FIXTURES / f"{name}.safetensors"
    rng = np.random.default_rng(7)
    X = rng.uniform(-1.0, 2.0, (4, 5, 2))
    mask = np.arange(5) < np.array([5, 3, 4, 1])[:, None]
    X[~mask] = 0.0
    expected = legacy_answer(name, X, mask)
    upgraded = SequenceScorer.load(model).model
    np.testing.assert_array_equal(upgraded.predict_proba(X, mask), expected)
    target = upgraded.target
    cli = cli_outputs(capsys, tmp_path, model, write_csv(tmp_path / "d.csv", X, mask))
    np.testing.assert_allclose(cli, scored(expected, mask, target), rtol=1e-12, atol=1e-12)
    onnx = onnx_outputs(capsys, tmp_path, model, X, mask)
    np.testing.assert_allclose(onnx, expected, rtol=1e-5, atol=1e-5)
    # the API's load keeps the file's meaning of earlier releases: the model alone
    assert load(model).input_scaling is None


def test_an_earlier_release_file_saved_again_carries_its_scaling(tmp_path):
    old = FIXTURES / "cli_gru_regression.safetensors"
    scorer = SequenceScorer.load(old)
    scorer.model.save(tmp_path / "new.safetensors")
    again = load(tmp_path / "new.safetensors")
    X = np.random.default_rng(1).uniform(-1.0, 2.0, (3, 4, 2))
    np.testing.assert_array_equal(again.predict_proba(X), legacy_answer(
        "cli_gru_regression", X, np.ones((3, 4), dtype=bool)))
