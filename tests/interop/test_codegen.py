"""Rust and C source of trained models, compiled for real (rustc -O in Rust's default
edition, as 'rustc -O model.rs' runs it; cc -O2 -std=c99 -Wall -Werror) and run:
``predict`` equals ``predict_proba`` (1e-12 in float64, 1e-5 in float32) for every model
kind, and the ``--program`` scorers write what ``nablanet rnn predict`` writes (labels
identical, scores to 1e-9) or, for image classifiers, what ``nablanet predict`` writes.
Without a compiler the tests skip, saying how to get one."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nablanet import GRU, LSTM, RNN, Network
from nablanet.cli import cli, main
from nablanet.interop.codegen import generate
from nablanet.layers import Conv2D, Dense, Dropout, Flatten, Layer, MaxPool2D, MinMaxScaling
from nablanet.models.sequential import Sequential
from nablanet.registry import register
from nablanet.serialization import read_cli, save

HINTS = {"rust": ("rustc", "install Rust: apt-get install rustc (Debian/Ubuntu) or rustup"),
         "c": ("cc", "install a C compiler: apt-get install gcc (Debian/Ubuntu)")}
TOL = {np.float64: 1e-12, np.float32: 1e-5}

RUST_HARNESS = r"""
mod model;
use std::io::BufRead;
fn main() {
    for line in std::io::stdin().lock().lines() {
        let x: Vec<f64> = line.unwrap().split_whitespace().map(|v| v.parse().unwrap()).collect();
        let y = model::predict(&x);
        let text: Vec<String> = y.iter().map(|v| format!("{:e}", v)).collect();
        println!("{}", text.join(" "));
    }
}
"""

C_HARNESS = r"""
#include <stdio.h>
#include "model.h"
int main(void)
{
    static double x[1 << 16];
    static real y[1 << 16];
    int n, k, m;
    while (scanf("%d", &n) == 1) {
        for (k = 0; k < n; k++)
            if (scanf("%lf", &x[k]) != 1)
                return 1;
#ifdef TARGET_EVERY
        predict(x, (size_t)n / N_INPUTS, y);
        m = TARGET_EVERY ? n / N_INPUTS * N_OUTPUTS : N_OUTPUTS;
#else
        predict(x, y);
        m = N_OUTPUTS;
#endif
        for (k = 0; k < m; k++)
            printf("%.17g ", (double)y[k]);
        printf("\n");
    }
    return 0;
}
"""


def compiler(lang: str) -> str:
    name, hint = HINTS[lang]
    if shutil.which(name) is None:
        pytest.skip(f"{name} not found: {hint}")
    return name


def build(lang: str, files: dict[str, str], tmp: Path, harness: str | None,
          stem: str = "model") -> Path:
    """Write the generated files (and a harness main) under ``tmp`` and compile them."""
    compiler(lang)
    for suffix, text in files.items():
        (tmp / f"{stem}{suffix}").write_text(text)
    exe = tmp / f"{stem}-{lang}"
    if lang == "rust":
        main = tmp / "main.rs" if harness else tmp / f"{stem}.rs"
        if harness:
            main.write_text(harness)
        cmd = ["rustc", "-O", "-o", str(exe), str(main)]  # the default edition, 2015
    else:
        sources = [str(tmp / f"{stem}.c")]
        if harness:
            (tmp / "main.c").write_text(harness)
            sources.append(str(tmp / "main.c"))
        cmd = ["cc", "-O2", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o",
               str(exe), *sources, "-lm"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return exe


def run_predict(lang, model, samples, tmp_path, **options) -> list[np.ndarray]:
    """``predict`` of the generated ``lang`` source, one sample or sequence per item."""
    exe = build(lang, generate(model, lang, **options), tmp_path,
                RUST_HARNESS if lang == "rust" else C_HARNESS)
    lines = [" ".join(repr(float(v)) for v in x.ravel()) for x in samples]
    if lang == "c":
        lines = [f"{x.size} {line}" for x, line in zip(samples, lines, strict=True)]
    done = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True,
                          text=True, check=True)
    return [np.array([float(v) for v in line.split()]) for line in done.stdout.splitlines()]


LANGS = pytest.mark.parametrize("lang", ["rust", "c"])
DTYPES = pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])


@LANGS
@DTYPES
@pytest.mark.parametrize(("activation", "output", "loss"), [
    ("sigmoid", "sigmoid", "quadratic"),
    ("tanh", "softmax", "cross_entropy"),
    ("relu", "identity", "mse"),
])
def test_dense_stacks(lang, dtype, activation, output, loss, tmp_path):
    net = Network([7, 6, 5, 3], activation=activation, output_activation=output, loss=loss,
                  init="glorot", seed=1, dtype=dtype)
    X = np.random.default_rng(0).standard_normal((6, 7)) * 3
    got = np.array(run_predict(lang, net, list(X), tmp_path))
    np.testing.assert_allclose(got, net.predict_proba(X), rtol=0, atol=TOL[dtype])


@LANGS
@DTYPES
def test_convolutional_stack(lang, dtype, tmp_path):
    cnn = Sequential([Conv2D(2, 4, 3, padding="same", seed=1, dtype=dtype),
                      MaxPool2D(2, dtype=dtype),
                      Conv2D(4, 3, 2, stride=2, padding=1, activation="tanh", seed=2,
                             dtype=dtype),
                      Dropout(0.5, seed=3, dtype=dtype), Flatten(dtype=dtype),
                      Dense(27, 10, activation="sigmoid", seed=4, dtype=dtype)],
                     output_activation="softmax", loss="cross_entropy", dtype=dtype)
    X = np.random.default_rng(1).standard_normal((4, 2, 8, 9))
    got = np.array(run_predict(lang, cnn, list(X), tmp_path, input_shape=(2, 8, 9)))
    np.testing.assert_allclose(got, cnn.predict_proba(X), rtol=0, atol=TOL[dtype])


@LANGS
@DTYPES
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU], ids=lambda c: c.__name__)
@pytest.mark.parametrize("target", ["every", "last"])
def test_recurrent_stacks_of_any_length(lang, dtype, cls, target, tmp_path):
    extra = {"activation": "relu"} if cls is RNN else {}
    model = cls(3, 5, 2, num_layers=2, target=target, output_activation="softmax",
                loss="cross_entropy", seed=2, dtype=dtype, **extra)
    rng = np.random.default_rng(0)
    lengths = [1, 4, 7, 3]
    X = rng.standard_normal((len(lengths), max(lengths), 3))
    mask = np.arange(max(lengths)) < np.array(lengths)[:, None]
    ref = model.predict_proba(X, mask)
    got = run_predict(lang, model, [X[i, :n] for i, n in enumerate(lengths)], tmp_path)
    for i, n in enumerate(lengths):
        want = ref[i, :n] if target == "every" else ref[i]
        np.testing.assert_allclose(got[i].reshape(want.shape), want, rtol=0, atol=TOL[dtype])


@LANGS
@DTYPES
@pytest.mark.parametrize("target", ["every", "last", "dense"])
def test_scaling_layers_are_the_first_and_last_steps(lang, dtype, target, tmp_path):
    """A model's input_scaling and output_scaling: ``predict`` takes raw features and
    gives the data's units, as ``predict_proba`` does (scaling in f64, then cast)."""
    inp = MinMaxScaling([-5.0, 100.0, 2.0], [5.0, 300.0, 2.0])  # the last one constant
    out = MinMaxScaling([20.0, -1.0], [35.0, 1.0], inverse=True)
    rng = np.random.default_rng(1)
    if target == "dense":
        model = Network([3, 4, 2], output_activation="identity", seed=1, dtype=dtype,
                        input_scaling=inp, output_scaling=out)
        X = rng.uniform(-5, 300, (5, 3))
        got = np.array(run_predict(lang, model, list(X), tmp_path))
        np.testing.assert_allclose(got, model.predict_proba(X), rtol=TOL[dtype],
                                   atol=TOL[dtype])
        return
    model = GRU(3, 4, 2, target=target, seed=1, dtype=dtype, input_scaling=inp,
                output_scaling=out)
    lengths = [1, 4, 3]
    X = rng.uniform(-5, 300, (len(lengths), max(lengths), 3))
    mask = np.arange(max(lengths)) < np.array(lengths)[:, None]
    ref = model.predict_proba(X, mask)
    got = run_predict(lang, model, [X[i, :n] for i, n in enumerate(lengths)], tmp_path)
    for i, n in enumerate(lengths):
        want = ref[i, :n] if target == "every" else ref[i]
        np.testing.assert_allclose(got[i].reshape(want.shape), want, rtol=TOL[dtype],
                                   atol=TOL[dtype])
    assert np.abs(ref).max() > 10  # the data's units


def test_a_layer_without_generated_form_is_named():
    @register("layer", "Scale4Codegen")
    class Scale(Layer):
        def __init__(self):
            self.grads = []

    model = Sequential([Dense(3, 2, seed=0)])
    model.layers.append(Scale())
    with pytest.raises(ValueError, match=r"layers\[1\] \(Scale4Codegen\) has no generated"):
        generate(model, "rust", input_shape=(3,))


def test_a_convolutional_model_needs_its_input_shape():
    cnn = Sequential([Conv2D(1, 2, 3, seed=1), Flatten(), Dense(8, 2, seed=2)])
    with pytest.raises(ValueError, match="input_shape"):
        generate(cnn, "c")
    with pytest.raises(ValueError, match=r"does not fit|expected input shape"):
        generate(cnn, "c", input_shape=(1, 9, 9))


# ------------------------------------------------------------------------------------
# The CLI: nablanet export -o X.rs|X.c [--program], against nablanet rnn predict
# ------------------------------------------------------------------------------------
def _write_csv(path: Path, task: str) -> None:
    """Sequences of 1-6 steps, steps out of order, features in another column order and
    of other scales, names that need quoting."""
    rng = np.random.default_rng(0)
    rows = ["x2,name,t,x1,x3,y1"]
    for s in range(30):
        n = int(rng.integers(1, 7))
        name = f'"seq {s}, ""q"""' if s % 7 == 0 else f"s{s}"
        for t in rng.permutation(n) * 3 - 4:
            x = [float(v) for v in rng.standard_normal(3) * [1, 100, 0.01]]
            y = {"binary": int(x[0] > 0), "multiclass": s % 3,
                 "regression": 20 + x[0]}[task]
            rows.append(f"{x[1]!r},{name},{t},{x[0]!r},{x[2]!r},{y}")
    path.write_text("\n".join(rows) + "\n")


def invoke(*args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def _rows(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


@LANGS
@pytest.mark.parametrize(("task", "cell", "target", "dtype"), [
    ("binary", "rnn", "every", "float64"),
    ("binary", "lstm", "last", "float32"),
    ("multiclass", "gru", "last", "float64"),
    ("regression", "gru", "every", "float64"),
    ("regression", "lstm", "last", "float32"),
])
def test_program_writes_what_rnn_predict_writes(lang, task, cell, target, dtype,
                                                tmp_path, monkeypatch):
    compiler(lang)
    monkeypatch.chdir(tmp_path)
    _write_csv(tmp_path / "data.csv", task)
    invoke("-q", "rnn", "train", "data.csv", "--task", task, "--cell", cell, "--target",
           target, "--num-layers", "2", "--hidden", "5", "--epochs", "2", "--dtype", dtype,
           "--model-out", "m.safetensors")
    invoke("-q", "rnn", "predict", "data.csv", "-m", "m.safetensors", "-o", "ref.csv")
    suffix = {"rust": ".rs", "c": ".c"}[lang]
    invoke("-q", "export", "-m", "m.safetensors", "-o", f"scorer{suffix}", "--program")
    files = {s: (tmp_path / f"scorer{s}").read_text()
             for s in ([".rs"] if lang == "rust" else [".c", ".h"])}
    exe = build(lang, files, tmp_path, None, stem="scorer")
    done = subprocess.run([str(exe), "data.csv"], capture_output=True, text=True, check=True)
    (tmp_path / "got.csv").write_text(done.stdout)
    got, ref = _rows(tmp_path / "got.csv"), _rows(tmp_path / "ref.csv")
    assert got[0] == ref[0] and len(got) == len(ref)
    numbers = {"binary": [2], "multiclass": [], "regression": [2]}[task]
    for g, r in zip(got[1:], ref[1:], strict=True):
        assert [v for k, v in enumerate(g) if k not in numbers] == \
            [v for k, v in enumerate(r) if k not in numbers]
        for k in numbers:
            tol = 1e-9 if dtype == "float64" else 1e-5
            assert abs(float(g[k]) - float(r[k])) <= tol * max(1.0, abs(float(r[k])))


@pytest.mark.parametrize("lang", ["rust", "c"])
def test_program_refuses_a_bad_csv(lang, tmp_path, monkeypatch):
    compiler(lang)
    monkeypatch.chdir(tmp_path)
    _write_csv(tmp_path / "data.csv", "binary")
    invoke("-q", "rnn", "train", "data.csv", "--hidden", "3", "--epochs", "1",
           "--model-out", "m.safetensors")
    suffix = {"rust": ".rs", "c": ".c"}[lang]
    invoke("-q", "export", "-m", "m.safetensors", "-o", f"s{suffix}", "--program")
    files = {s: (tmp_path / f"s{s}").read_text()
             for s in ([".rs"] if lang == "rust" else [".c", ".h"])}
    exe = build(lang, files, tmp_path, None, stem="s")
    (tmp_path / "bad.csv").write_text("name,t,x1,x2,x3\na,0,1,2,oops\n")
    done = subprocess.run([str(exe), "bad.csv"], capture_output=True, text=True)
    assert done.returncode == 2 and "line 2" in done.stderr and "x3" in done.stderr
    (tmp_path / "few.csv").write_text("name,t,x1,x2\na,0,1,2\n")
    done = subprocess.run([str(exe), "few.csv"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stdout == ""
    assert "x3" in done.stderr and "N_INPUTS" not in done.stderr


def test_export_of_a_tampered_cli_section_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _write_csv(tmp_path / "data.csv", "regression")
    invoke("-q", "rnn", "train", "data.csv", "--task", "regression", "--hidden", "3",
           "--epochs", "1", "--model-out", "m.safetensors")
    from nablanet.serialization import load

    meta = read_cli("m.safetensors")
    meta["label_names"] = ['y1");} fn evil() {("']
    save(load("m.safetensors"), "evil.safetensors", cli=meta)
    with pytest.raises(SystemExit) as exit_:
        main(["-q", "export", "-m", "evil.safetensors", "-o", "evil.rs", "--program"])
    assert exit_.value.code == 2 and "label_names" in capsys.readouterr().err
    assert not (tmp_path / "evil.rs").exists()


def test_export_format_from_suffix_or_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    save(Network([4, 3, 2], seed=0), "n.safetensors")
    invoke("-q", "export", "-m", "n.safetensors", "-o", "n.c")
    assert "void predict(const double *x, real *out);" in (tmp_path / "n.h").read_text()
    assert '#include "n.h"' in (tmp_path / "n.c").read_text()
    invoke("-q", "export", "-m", "n.safetensors", "-o", "n.txt", "--format", "rust")
    assert "pub fn predict(x: &[f64]) -> [Real; N_OUTPUTS]" in (tmp_path / "n.txt").read_text()
    result = CliRunner().invoke(cli, ["export", "-m", "n.safetensors", "-o", "n.java"])
    assert result.exit_code == 2 and ".rs" in result.output
    save(RNN(3, 4, 1, seed=0), "r.safetensors")  # no CLI section: no task, no scaler
    result = CliRunner().invoke(cli, ["export", "-m", "r.safetensors", "-o", "r.rs",
                                      "--program"])
    assert isinstance(result.exception, ValueError) and "rnn train" in str(result.exception)
    assert not (tmp_path / "r.rs").exists()


# ------------------------------------------------------------------------------------
# --program for image classifiers: a .npy file in, the labels of nablanet predict out
# ------------------------------------------------------------------------------------
def _conv_net(dtype):
    return Sequential([Conv2D(1, 3, 3, padding="same", seed=1, dtype=dtype),
                       MaxPool2D(2, dtype=dtype), Flatten(dtype=dtype),
                       Dense(48, 10, activation="relu", seed=2, dtype=dtype)],
                      output_activation="softmax", loss="cross_entropy", dtype=dtype)


IMAGE_MODELS = {  # name -> (model, image_shape for the CLI section, images in the file)
    "dense-8x8-u1": (lambda: Network([64, 12, 10], seed=0), None, (40, 8, 8), np.uint8),
    "dense-784-f32-f4": (lambda: Network([784, 30, 10], seed=1, dtype=np.float32), None,
                         (30, 784), np.float32),
    "dense-1-output-f8": (lambda: Network([64, 5, 1], seed=2), None, (40, 64), np.float64),
    "conv-u1": (lambda: _conv_net(np.float64), [1, 8, 8], (40, 8, 8), np.uint8),
    "conv-f32-f8": (lambda: _conv_net(np.float32), [1, 8, 8], (40, 64), np.float64),
}


def _images(shape, dtype, seed=0) -> np.ndarray:
    """Sparse strokes (about 15% of the pixels lit), so that the untrained models' labels
    differ between images."""
    rng = np.random.default_rng(seed)
    lit = rng.random(shape) < 0.15
    if dtype == np.uint8:
        return (rng.integers(0, 256, shape) * lit).astype(np.uint8)
    return (rng.random(shape) * lit).astype(dtype)


def _image_scorer(lang: str, key: str, tmp_path: Path) -> Path:
    """The model ``key`` saved as 'nablanet train' saves it, exported with --program and
    compiled."""
    make, image_shape, _, _ = IMAGE_MODELS[key]
    save(make(), "m.safetensors", cli={"image_shape": image_shape} if image_shape else None)
    suffix = {"rust": ".rs", "c": ".c"}[lang]
    invoke("-q", "export", "-m", "m.safetensors", "-o", f"scorer{suffix}", "--program")
    files = {s: (tmp_path / f"scorer{s}").read_text()
             for s in ([".rs"] if lang == "rust" else [".c", ".h"])}
    return build(lang, files, tmp_path, None, stem="scorer")


@LANGS
@pytest.mark.parametrize("key", list(IMAGE_MODELS))
def test_image_program_writes_what_predict_writes(lang, key, tmp_path, monkeypatch):
    compiler(lang)
    monkeypatch.chdir(tmp_path)
    exe = _image_scorer(lang, key, tmp_path)
    _, _, shape, dtype = IMAGE_MODELS[key]
    X = _images(shape, dtype)
    np.save("images.npy", X)
    with open("v2.npy", "wb") as f:  # format version 2.0 reads the same
        np.lib.format.write_array(f, X, version=(2, 0))
    ref = invoke("-q", "predict", "images.npy", "-m", "m.safetensors")
    assert len(set(ref.split())) > 1  # the labels differ between images
    for name in ("images.npy", "v2.npy"):
        done = subprocess.run([str(exe), name], capture_output=True, text=True)
        assert (done.returncode, done.stdout, done.stderr) == (0, ref, "")


def _npy_bytes(X, **header) -> bytes:
    """A .npy file of ``X`` whose header fields are replaced by ``header``."""
    fields = {"descr": np.lib.format.dtype_to_descr(X.dtype), "fortran_order": False,
              "shape": X.shape, **header}
    text = repr(fields).encode("latin1")
    text += b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + X.tobytes()


@LANGS
def test_image_program_refuses_other_files_in_one_line(lang, tmp_path, monkeypatch):
    compiler(lang)
    monkeypatch.chdir(tmp_path)
    exe = _image_scorer(lang, "dense-8x8-u1", tmp_path)
    X = _images((3, 8, 8), np.float64)
    good = _npy_bytes(X)
    with open("v3.npy", "wb") as f:
        np.lib.format.write_array(f, X, version=(3, 0))
    bad = {
        "empty": b"",
        "magic": b"\x93NUMPZ" + good[6:],
        "v3": Path("v3.npy").read_bytes(),
        "big-endian": _npy_bytes(X.astype(">f8")),
        "int64": _npy_bytes(np.zeros((3, 64), np.int64)),
        "fortran": _npy_bytes(X, fortran_order=True),
        "pixels": _npy_bytes(_images((3, 7, 8), np.float64)),
        "4-d": _npy_bytes(X.reshape(3, 1, 8, 8)),
        "no images": _npy_bytes(np.zeros((0, 64))),
        "truncated": good[:-1],
        "trailing": good + b"\0",
        "shape lies": _npy_bytes(X, shape=(4, 64)),
        "huge shape": _npy_bytes(X, shape=(10**17, 64)),
        "unknown key": _npy_bytes(X, extra=1),
        "header": good[:8] + b"\xff\xff" + good[10:],
        "not a dict": good.replace(b"{", b"[", 1),
        "above 1": _npy_bytes(X + 0.5),
        "NaN": _npy_bytes(np.where(X > 0.9, np.nan, X)),
    }
    for name, data in bad.items():
        Path("bad.npy").write_bytes(data)
        done = subprocess.run([str(exe), "bad.npy"], capture_output=True, text=True)
        assert done.returncode == 2 and done.stdout == "", name
        assert done.stderr.startswith("bad.npy: ") and done.stderr.count("\n") == 1, \
            (name, done.stderr)
    done = subprocess.run([str(exe), "missing.npy"], capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("missing.npy: ")


def test_image_program_needs_a_single_label_per_image():
    sigmoid_head = Sequential([Dense(4, 3, seed=0)], output_activation="sigmoid")
    with pytest.raises(ValueError, match="softmax head"):
        generate(sigmoid_head, "c", input_shape=(4,), program=True)
