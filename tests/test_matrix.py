"""Every command on every data layout: each works, its output checked, or is refused in
one line with exit status 2.

Sequences: ``rnn train``, ``evaluate``, ``predict`` (with and without ``--proba``) and
``export`` on each layout of :data:`LAYOUTS`. Images: ``train``, ``evaluate``,
``predict`` (with and without ``--proba``) and ``export`` on each of :data:`IMAGES`. A
layout is one line, with the commands that refuse it and a fragment of their message; a
command is one entry of :data:`SEQUENCE_COMMANDS` or :data:`IMAGE_COMMANDS` (a function
that runs it and checks what it wrote). Tiny data, one epoch: the point is the
plumbing, not the accuracy.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from tests.cli_run import run as run_cli

from nablanet.cli import main
from nablanet.datasets.idx import write_idx
from nablanet.datasets.sequences import pad, read_sequence_file
from nablanet.models.scorer import SequenceScorer

N_SEQUENCES, N_FEATURES, N_CLASSES = 12, 3, 3


@dataclass(frozen=True)
class Layout:
    """A sequence file: the task and target of the model that scores it, its label
    columns (``indices``: one column; ``onehot``: ``y1..yK``; ``none``), its feature
    count, fixed (5) or variable (2..7) lengths, CSV or Parquet, and the commands that
    refuse it."""

    task: str
    target: str = "every"
    labels: str = "indices"
    n_features: int = N_FEATURES
    variable: bool = False
    fmt: str = "csv"
    refused: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def model_layout(self) -> Layout:
        """The labelled layout the scoring model is trained on (the data's, with the
        model's features, and labels where the data has none)."""
        return Layout(self.task, self.target, "indices" if self.labels == "none"
                      else self.labels, N_FEATURES, self.variable)


NO_LABELS = "no label columns y1..yL"
LAYOUTS = {
    "binary": Layout("binary"),
    "binary-last": Layout("binary", target="last"),
    "multiclass-indices": Layout("multiclass", target="last"),
    "multiclass-onehot": Layout("multiclass", target="last", labels="onehot"),
    "multiclass-every-onehot": Layout("multiclass", labels="onehot"),
    "regression-2": Layout("regression", refused={"predict --proba": "no class probabilities"}),
    "variable-lengths": Layout("binary", variable=True),
    "variable-lengths-last": Layout("multiclass", target="last", variable=True),
    "parquet-multiclass-onehot": Layout("multiclass", target="last", labels="onehot",
                                        fmt="parquet"),
    "parquet-no-labels": Layout("regression", labels="none", fmt="parquet", refused={
        "train": NO_LABELS, "evaluate": NO_LABELS, "predict --proba": "no class probabilities"}),
    "no-labels": Layout("binary", labels="none",
                        refused={"train": NO_LABELS, "evaluate": NO_LABELS}),
    "no-labels-multiclass": Layout("multiclass", target="last", labels="none",
                                   refused={"train": NO_LABELS, "evaluate": NO_LABELS}),
    "extra-feature": Layout("binary", n_features=4, refused={
        "evaluate": "extra x4", "predict": "extra x4", "predict --proba": "extra x4"}),
    "missing-feature": Layout("multiclass", target="last", n_features=2, refused={
        "evaluate": "missing x3", "predict": "missing x3", "predict --proba": "missing x3"}),
}


def write_layout(path: Path, layout: Layout, seed: int = 0) -> Path:
    """A sequence CSV of ``layout``: learnable labels from the features."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, 8, N_SEQUENCES) if layout.variable else [5] * N_SEQUENCES
    header = ["name", "t", *(f"x{k}" for k in range(1, layout.n_features + 1))]
    n_labels = 2 if layout.task == "regression" else N_CLASSES if layout.labels == "onehot" else 1
    n_labels = 0 if layout.labels == "none" else n_labels
    header += [f"y{k}" for k in range(1, n_labels + 1)]
    rows = []
    for i, n in enumerate(lengths):
        x = rng.standard_normal((n, layout.n_features)) + 0.5 * (i % N_CLASSES)
        if layout.task == "binary":
            y = (x[:, :1] > 0.5).astype(int)
        elif layout.task == "regression":
            y = np.column_stack([x[:, 0] + x[:, 1], 10.0 * x[:, -1]])
        else:  # one class per sequence for target "last", per step for "every"
            k = np.full(n, i % N_CLASSES) if layout.target == "last" else np.arange(n) % 3
            y = np.eye(N_CLASSES, dtype=int)[k] if layout.labels == "onehot" else k[:, None]
        labels = [] if layout.labels == "none" else y.tolist()
        for t in range(n):
            rows.append([f"s{i}", 10 * t, *x[t].tolist(), *(labels[t] if labels else [])])
    with path.open("w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *rows])
    if layout.fmt == "parquet":
        pa_csv = pytest.importorskip("pyarrow.csv")
        pq = pytest.importorskip("pyarrow.parquet")
        pq.write_table(pa_csv.read_csv(path), path.with_suffix(".parquet"))
        return path.with_suffix(".parquet")
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    """``(exit status, stdout, stderr)`` of ``nablanet -q ARGS`` in-process."""
    return run_cli(capsys, "-q", *args)


def oracle(scorer: SequenceScorer, path: Path) -> tuple[list, np.ndarray]:
    """``(rows' (name, t), outputs)``: each sequence's raw features fed step by step
    through ``RecurrentNetwork.step`` (not the padded batch of ``rnn predict``); the
    model scales them and gives regression outputs in the data's units."""
    data = read_sequence_file(path)
    model, keys, outputs = scorer.model, [], []
    for name, times, features in zip(data.names, data.times, data.features, strict=True):
        state = model.initial_state(1)
        for t, x in zip(times.tolist(), features, strict=True):
            proba, state = model.step(x[None], state)
            if model.target == "every" or t == times[-1]:
                keys.append((name, t))
                outputs.append(proba[0])
    return keys, np.array(outputs)


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="") as f:
        header, *rows = csv.reader(f)
    return header, rows


# --------------------------------------------------------------------------------------
# The sequence commands: each runs in ``cwd`` on the data ``path`` of ``layout``, with
# ``model`` trained on ``layout.model_layout``, and checks what it wrote
# --------------------------------------------------------------------------------------
def seq_train(capsys, cwd: Path, layout: Layout, path: Path, model: Path):
    code, _, err = run(capsys, "rnn", "train", path, "--task", layout.task, "--target",
                       layout.target, "--hidden", 4, "--epochs", 1, "--model-out",
                       cwd / "t.safetensors", "--metrics-out", cwd / "t.json")
    if code:
        return code, err
    scorer = SequenceScorer.load(cwd / "t.safetensors")
    n_outputs = {"binary": 1, "multiclass": N_CLASSES, "regression": 2}[layout.task]
    assert (scorer.model.n_inputs, scorer.model.n_outputs) == (layout.n_features, n_outputs)
    assert (scorer.task, scorer.model.target) == (layout.task, layout.target)
    metrics = json.loads((cwd / "t.json").read_text())
    assert metrics["train"]["n"] + metrics["test"]["n"] > 0
    return code, err


def seq_evaluate(capsys, cwd: Path, layout: Layout, path: Path, model: Path):
    code, _, err = run(capsys, "rnn", "evaluate", path, "-m", model, "--metrics-out",
                         cwd / "e.json")
    if code:
        return code, err
    metrics = json.loads((cwd / "e.json").read_text())["metrics"]
    scorer = SequenceScorer.load(model)
    keys, outputs = oracle(scorer, path)
    data = read_sequence_file(path)
    truth = {(n, t): y for n, ts, ys in zip(data.names, data.times, data.labels, strict=True)
             for t, y in zip(ts.tolist(), ys, strict=True)}
    y = np.array([truth[k] for k in keys])
    assert metrics["n"] == len(keys)
    if layout.task == "binary":
        predicted = outputs[:, 0] >= scorer.threshold
        assert metrics["accuracy"] == pytest.approx(np.mean(predicted == y[:, 0]))
    elif layout.task == "multiclass":
        classes = y.argmax(axis=1) if layout.labels == "onehot" else y[:, 0]
        assert metrics["accuracy"] == pytest.approx(np.mean(outputs.argmax(1) == classes))
    else:
        assert metrics["rmse"] == pytest.approx(np.sqrt(((outputs - y) ** 2).mean(axis=0)).mean())
    return code, err


def seq_predict(capsys, cwd: Path, layout: Layout, path: Path, model: Path, proba=False):
    code, _, err = run(capsys, "rnn", "predict", path, "-m", model, "-o", cwd / "p.csv",
                       *(["--proba"] if proba else []))
    if code:
        return code, err
    scorer = SequenceScorer.load(model)
    header, rows = read_rows(cwd / "p.csv")
    keys, outputs = oracle(scorer, path)
    assert header == scorer.columns(proba=proba)
    assert [(r[0], int(r[1])) for r in rows] == keys
    values = np.array([[float(v) for v in r[2:]] for r in rows])
    if layout.task == "binary":
        np.testing.assert_allclose(values[:, 0], outputs[:, 0], rtol=0, atol=1e-12)
        np.testing.assert_array_equal(values[:, 1], outputs[:, 0] >= scorer.threshold)
    elif layout.task == "multiclass":
        np.testing.assert_array_equal(values[:, 0], outputs.argmax(axis=1))
        assert header[3:] == ([f"p{k}" for k in range(N_CLASSES)] if proba else [])
        if proba:
            np.testing.assert_allclose(values[:, 1:], outputs, rtol=0, atol=1e-12)
    else:
        np.testing.assert_allclose(values, outputs, rtol=1e-12, atol=1e-12)
    return code, err


def seq_export(capsys, cwd: Path, layout: Layout, path: Path, model: Path):
    """ONNX: the graph on the raw features of the model's training data gives
    ``predict_proba`` on them (both with the model's scaling)."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    code, _, err = run(capsys, "export", "-m", model, "-o", cwd / "m.onnx")
    if code:
        return code, err
    scorer = SequenceScorer.load(model)
    data = read_sequence_file(model.with_suffix(".csv"))
    raw, mask = pad(data.features)
    session = ort.InferenceSession(str(cwd / "m.onnx"))
    out = session.run(None, {"X": raw.astype(np.float32),
                             "sequence_lens": mask.sum(axis=1).astype(np.int32)})[0]
    expected = scorer.model.predict_proba(raw, mask)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    return code, err


SEQUENCE_COMMANDS = {
    "train": seq_train,
    "evaluate": seq_evaluate,
    "predict": seq_predict,
    "predict --proba": lambda *args: seq_predict(*args, proba=True),
    "export": seq_export,
}


@pytest.fixture(scope="module")
def sequence_models(tmp_path_factory):
    """Train (once per model layout) the model that scores a layout: path by layout."""
    cwd, cache = tmp_path_factory.mktemp("models"), {}

    def model_for(layout: Layout) -> Path:
        key = layout.model_layout
        if key not in cache:
            stem = cwd / f"m{len(cache)}"
            write_layout(stem.with_suffix(".csv"), key, seed=1)
            main(["-q", "rnn", "train", str(stem.with_suffix(".csv")), "--task", key.task,
                  "--target", key.target, "--hidden", "4", "--epochs", "1", "--model-out",
                  str(stem.with_suffix(".safetensors"))])
            cache[key] = stem.with_suffix(".safetensors")
        return cache[key]

    return model_for


@pytest.mark.parametrize("command", list(SEQUENCE_COMMANDS))
@pytest.mark.parametrize("name", list(LAYOUTS))
def test_sequence_command_on_layout(name, command, sequence_models, tmp_path, capsys):
    layout = LAYOUTS[name]
    path = write_layout(tmp_path / f"{name}.csv", layout)
    model = sequence_models(layout)
    code, err = SEQUENCE_COMMANDS[command](capsys, tmp_path, layout, path, model)
    if command in layout.refused:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
        assert layout.refused[command] in lines[0], lines[0]
    else:
        assert code == 0, err


# --------------------------------------------------------------------------------------
# The image commands: train and evaluate read a directory of IDX files (uint8 pixels,
# as MNIST's) or of .npy files (uint8 or float, in each array layout), predict an image
# file (IDX or .npy, uint8 0-255 or float 0-1, many images or one)
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Images:
    """Image data: format, pixel dtype, side, the model (``dense``: --sizes; ``conv``:
    --layers), the array layout of a .npy file (``nhw``: ``(n, side, side)``; ``flat``:
    ``(n, side * side)``; ``nchw``: ``(n, 1, side, side)``; ``rgb``: ``(n, 3, side,
    side)``; ``one``: one image ``(side, side)``), and the commands that refuse it."""

    fmt: str
    dtype: str
    side: int
    model: str
    layout: str = "nhw"
    refused: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


NOT_UINT8 = "expected uint8 images"
ONE_IMAGE = "1 labels for the 8 images"  # (8, 8) read as 8 rows of 8 pixels
RGB = "expected images of shape (n, rows, columns), (n, 1, rows, columns) or (n, pixels)"
NOT_RGB = "do not fit the network"
IMAGES = {
    "idx-uint8-28-dense": Images("idx", "uint8", 28, "dense"),
    "idx-uint8-8-dense": Images("idx", "uint8", 8, "dense"),
    "idx-uint8-8-conv": Images("idx", "uint8", 8, "conv"),
    "idx-float-8-dense": Images("idx", "float32", 8, "dense",
                                refused={"train": NOT_UINT8, "evaluate": NOT_UINT8}),
    "idx-float-28-conv": Images("idx", "float64", 28, "conv",
                                refused={"train": NOT_UINT8, "evaluate": NOT_UINT8}),
    "npy-uint8-28-dense": Images("npy", "uint8", 28, "dense"),
    "npy-float-8-conv": Images("npy", "float64", 8, "conv"),
    "npy-float-8-dense": Images("npy", "float32", 8, "dense"),
    "npy-uint8-8-conv-flat": Images("npy", "uint8", 8, "conv", "flat"),
    "npy-float-8-dense-flat": Images("npy", "float64", 8, "dense", "flat"),
    "npy-uint8-8-conv-nchw": Images("npy", "uint8", 8, "conv", "nchw"),
    "npy-float-8-dense-nchw": Images("npy", "float32", 8, "dense", "nchw"),
    "npy-uint8-8-conv-one": Images("npy", "uint8", 8, "conv", "one", refused={
        "train": ONE_IMAGE, "evaluate": ONE_IMAGE}),
    "npy-float-8-dense-one": Images("npy", "float64", 8, "dense", "one", refused={
        "train": ONE_IMAGE, "evaluate": ONE_IMAGE}),
    "npy-uint8-8-conv-rgb": Images("npy", "uint8", 8, "conv", "rgb", refused={
        "train": RGB, "evaluate": RGB, "predict": NOT_RGB, "predict --proba": NOT_RGB}),
}

#: the arrays of each layout from images ``(n, side, side)``
LAYOUT_OF = {"nhw": lambda x: x, "flat": lambda x: x.reshape(len(x), -1),
             "nchw": lambda x: x[:, None], "rgb": lambda x: np.stack([x, x, x], axis=1),
             "one": lambda x: x[0]}


def write_images(directory: Path, images: Images, seed: int = 0) -> Path:
    """``directory`` holding training and test images and labels in ``images``' format,
    dtype and layout (class k brightens the k-th band of rows); returns it."""
    rng = np.random.default_rng(seed)
    side = images.side
    for prefix, n in (("train", 60), ("t10k", 20)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, side, side)).astype(np.uint8)
        for k in range(10):
            x[labels == k, k * side // 10:k * side // 10 + max(1, side // 10)] = 230
        pixels = x if images.dtype == "uint8" else (x / 255.0).astype(images.dtype)
        if images.fmt == "npy":
            np.save(directory / f"{prefix}-images.npy", LAYOUT_OF[images.layout](pixels))
            np.save(directory / f"{prefix}-labels.npy",
                    labels[:1] if images.layout == "one" else labels)
        else:
            write_idx(directory / f"{prefix}-images-idx3-ubyte", pixels)
            write_idx(directory / f"{prefix}-labels-idx1-ubyte", labels)
    return directory


def images_to_score(directory: Path, images: Images, prefix: str = "t10k") -> Path:
    return directory / (f"{prefix}-images.npy" if images.fmt == "npy"
                        else f"{prefix}-images-idx3-ubyte")


def labels_to_score(directory: Path, images: Images, prefix: str = "t10k") -> np.ndarray:
    from nablanet.datasets.idx import read_idx

    if images.fmt == "npy":
        return np.load(directory / f"{prefix}-labels.npy")
    return read_idx(directory / f"{prefix}-labels-idx1-ubyte")


def model_options(images: Images) -> list:
    if images.model == "dense":
        return ["--sizes", f"{images.side ** 2},8,10"]
    return ["--layers", "conv:2x3,pool:2,softmax:10"]


def train_images(capsys, directory: Path, images: Images, model: Path):
    return run(capsys, "train", directory, *model_options(images), "--epochs", 1, "--lr",
               0.1, "--model-out", model, "--metrics-out", model.with_suffix(".json"))


@pytest.fixture(scope="module")
def image_models(tmp_path_factory):
    """The model (trained once on uint8 IDX files of its side) for an image layout."""
    cwd, cache = tmp_path_factory.mktemp("image-models"), {}

    def model_for(images: Images, capsys) -> Path:
        key = (images.side, images.model)
        if key not in cache:
            base = Images("idx", "uint8", images.side, images.model)
            directory = cwd / f"{images.side}-{images.model}"
            directory.mkdir()
            model = directory / "n.safetensors"
            code, _, err = train_images(capsys, write_images(directory, base, seed=1), base,
                                        model)
            assert code == 0, err
            cache[key] = model
        return cache[key]

    return model_for


def img_train(capsys, cwd: Path, images: Images, data: Path, model: Path):
    code, _, err = train_images(capsys, data, images, cwd / "n.safetensors")
    if not code:
        from nablanet.cli.train import load_classifier

        _, shape = load_classifier(cwd / "n.safetensors")
        assert np.prod(shape) == images.side ** 2
        assert json.loads((cwd / "n.json").read_text())["final"]["n_test"] > 0
    return code, err


def pixels(path: Path) -> np.ndarray:
    """The images of an IDX or ``.npy`` file as the commands must see them, written out
    here independently of the CLI: integer pixels / 255, float pixels as they are."""
    from nablanet.datasets.idx import read_idx

    raw = np.load(path) if path.suffix == ".npy" else read_idx(path)
    return raw / 255.0 if np.issubdtype(raw.dtype, np.integer) else raw


def img_evaluate(capsys, cwd: Path, images: Images, data: Path, model: Path):
    """The metrics of the test pair of the model's training data set (the same file
    names and sizes), of every image of any other."""
    from nablanet.cli.train import dataset_fingerprint, load_classifier
    from nablanet.serialization import read_cli

    trained_on = read_cli(model)["fingerprint"] == dataset_fingerprint(data)
    code, _, err = run(capsys, "evaluate", data, "-m", model, "--metrics-out",
                       cwd / "e.json")
    if not code:
        net, shape = load_classifier(model)
        prefixes = ["t10k"] if trained_on else ["train", "t10k"]
        X = np.concatenate([pixels(images_to_score(data, images, p)).reshape(-1, *shape)
                            for p in prefixes]).astype(net.dtype)
        y = np.concatenate([labels_to_score(data, images, p) for p in prefixes])
        metrics = json.loads((cwd / "e.json").read_text())["test"]
        assert metrics["n"] == len(y)
        assert metrics["accuracy"] == pytest.approx(np.mean(net.predict(X) == y))
    return code, err


def img_predict(capsys, cwd: Path, images: Images, data: Path, model: Path, proba=False):
    """Labels (or probabilities) to a .npy file, one row per image of the file (one
    for a file of one image)."""
    path = images_to_score(data, images)
    out = cwd / ("proba.npy" if proba else "labels.npy")
    code, _, err = run(capsys, "predict", path, "-m", model, "-o", out,
                       *(["--proba"] if proba else []))
    if not code:
        from nablanet.cli.train import load_classifier

        net, shape = load_classifier(model)
        X = pixels(path).reshape(-1, *shape).astype(net.dtype)
        assert len(X) == (1 if images.layout == "one" else 20)
        if proba:
            np.testing.assert_allclose(np.load(out), net.predict_proba(X), rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(np.load(out), net.predict_proba(X).argmax(axis=1))
    return code, err


def img_export(capsys, cwd: Path, images: Images, data: Path, model: Path):
    """ONNX: the graph on the test images gives ``predict_proba``."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    code, _, err = run(capsys, "export", "-m", model, "-o", cwd / "n.onnx")
    if not code:
        from nablanet.cli.train import load_classifier

        net, shape = load_classifier(model)
        X = pixels(images_to_score(data, images)).reshape(-1, *shape)
        session = ort.InferenceSession(str(cwd / "n.onnx"))
        out = session.run(None, {session.get_inputs()[0].name: X.astype(np.float32)})[0]
        np.testing.assert_allclose(out, net.predict_proba(X.astype(net.dtype)), atol=1e-5)
    return code, err


IMAGE_COMMANDS = {
    "train": img_train,
    "evaluate": img_evaluate,
    "predict": img_predict,
    "predict --proba": lambda *args: img_predict(*args, proba=True),
    "export": img_export,
}


@pytest.mark.parametrize("command", list(IMAGE_COMMANDS))
@pytest.mark.parametrize("name", list(IMAGES))
def test_image_command_on_layout(name, command, image_models, tmp_path, capsys):
    images = IMAGES[name]
    data = write_images(tmp_path, images)
    model = image_models(images, capsys)
    code, err = IMAGE_COMMANDS[command](capsys, tmp_path, images, data, model)
    if command in images.refused:
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and "Traceback" not in err, (code, err)
        assert images.refused[command] in lines[0], lines[0]
    else:
        assert code == 0, err
