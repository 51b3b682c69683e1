"""Scoring data of any size (``nablanet.scoring``, ``rnn predict``): sequence files read
in chunks of whole sequences, predictions streamed in bounded memory and equal to
scoring the whole file at once, several files and glob patterns, Dask (a real
``dask scheduler`` with two ``dask worker`` processes; a Dask DataFrame)."""

from __future__ import annotations

import csv
import importlib
import io
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ENV
from nablanet.cli import cli
from nablanet.datasets.sequences import (
    SequenceData,
    pad,
    parsing,
    read_sequence_chunks,
    read_sequence_csv,
    write_sequence_csv,
)
from nablanet.models.scorer import SequenceScorer
from nablanet.scoring import GROUP, score_exactly, score_files, score_frame
from test_memory import nablanet, peak_mb
from test_sequences import fraud_like


def invoke(*args) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def csv_of(columns: dict) -> str:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*(np.asarray(c).tolist() for c in columns.values()), strict=True))
    return text.getvalue()


@pytest.fixture(scope="module")
def fraud(tmp_path_factory):
    """``(dir, model path, [three data files])``: a GRU trained one epoch on fraud-shaped
    sequences (binary, every step) and three files of other sequences."""
    d = tmp_path_factory.mktemp("fraud")
    data = fraud_like(900, n_features=5, seed=3)
    write_sequence_csv(data.subset(range(200)), d / "train.csv")
    files = []
    for k, (a, b) in enumerate([(200, 500), (500, 520), (520, 900)]):
        files.append(write_sequence_csv(data.subset(range(a, b)), d / f"day-{k}.csv"))
    invoke("rnn", "train", d / "train.csv", "--cell", "gru", "--hidden", "6", "--epochs", "1",
           "--model-out", d / "m.safetensors", "-q")
    return d, d / "m.safetensors", files


@pytest.fixture
def small_blocks(monkeypatch):
    """The reader's blocks cut to ~2 KB: a chunk holds a few sequences."""
    monkeypatch.setattr(parsing, "_CHUNK", 2000)


def in_memory(model_path, paths) -> str:
    """The CSV ``rnn predict`` writes, computed from whole files read at once."""
    score = SequenceScorer.load(model_path).score
    texts = [csv_of(score_exactly(score, read_sequence_csv(p))) for p in paths]
    return texts[0] + "".join(t.split("\n", 1)[1] for t in texts[1:])


# ------------------------------------------------------------------------------------
# Reading in chunks
# ------------------------------------------------------------------------------------
def test_chunks_hold_the_sequences_of_the_whole_file(tmp_path, small_blocks):
    data = fraud_like(60, n_features=3)
    data.names[7] = 'a "quoted", name'
    path = write_sequence_csv(data, tmp_path / "d.csv")
    lines = path.read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]  # steps of a sequence in any order of t
    path.write_text("\n".join(lines) + "\n")
    whole = read_sequence_csv(path)
    chunks = list(read_sequence_chunks(path))
    assert 5 < len(chunks) < len(whole)
    assert [n for c in chunks for n in c.names] == whole.names
    for key in ("features", "labels", "times", "lines"):
        got = [x for c in chunks for x in getattr(c, key)]
        assert all(np.array_equal(a, b) for a, b in zip(got, getattr(whole, key), strict=True))


def test_a_sequence_longer_than_a_block_is_carried_over(tmp_path, small_blocks):
    data = SequenceData(["long", "short"], [np.arange(600.0).reshape(200, 3), np.ones((2, 3))],
                        [np.zeros((200, 1)), np.zeros((2, 1))], ["x1", "x2", "x3"], ["y1"])
    path = write_sequence_csv(data, tmp_path / "d.csv")
    chunks = list(read_sequence_chunks(path))
    assert [c.names for c in chunks] == [["long"], ["short"]]
    assert np.array_equal(chunks[0].features[0], data.features[0])


@pytest.mark.parametrize("where", ["same block", "later block"])
def test_a_name_that_comes_back_is_refused_naming_both_lines(tmp_path, small_blocks, where):
    path = write_sequence_csv(fraud_like(60, n_features=3), tmp_path / "d.csv")
    lines = path.read_text().splitlines()
    first = next(k for k, line in enumerate(lines) if line.startswith("seq_00001,"))
    at = first + 25 if where == "same block" else len(lines)
    lines.insert(at, lines[first].replace(",0,", ",99,", 1))
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as err:
        list(read_sequence_chunks(path))
    assert str(err.value).startswith(
        f"{path}: line {at + 1}: sequence 'seq_00001' appears again after other sequences "
        f"(it started at line {first + 1})")


def test_chunks_raise_what_the_whole_reader_raises(tmp_path):
    for text in ["", "name,t,x1,y1\n", "name,t,x1,y1\na,0,1,0\na,1,nan,0\n",
                 "name,t,x1,y1\na,0,1,0\na,0,2,0\n", "name,t,x1,y1\na,0,1\n"]:
        path = tmp_path / "d.csv"
        path.write_text(text)
        with pytest.raises(ValueError) as whole:
            read_sequence_csv(path)
        with pytest.raises(ValueError) as chunked:
            list(read_sequence_chunks(path))
        assert str(chunked.value) == str(whole.value)
    with pytest.raises(FileNotFoundError):
        next(read_sequence_chunks(tmp_path / "missing.csv"))


# ------------------------------------------------------------------------------------
# Scoring, bit for bit
# ------------------------------------------------------------------------------------
def test_a_sequence_scores_the_same_in_any_group(fraud):
    _, model_path, files = fraud
    score = SequenceScorer.load(model_path).score
    data = read_sequence_csv(files[0])
    whole = score_exactly(score, data)
    assert len(data) > 2 * GROUP
    for cut in (1, 5, GROUP + 3):
        parts = [score_exactly(score, data.subset(range(a, min(a + cut, len(data)))))
                 for a in range(0, len(data), cut)]
        for key, column in whole.items():
            assert np.array_equal(np.concatenate([p[key] for p in parts]), column), key
    # and the same values as the model on the whole padded batch, to rounding
    scorer = SequenceScorer.load(model_path)
    X, M = pad(data.features)  # raw: the model scales them
    np.testing.assert_allclose(whole["score"], scorer.model.predict_proba(X, M)[M][:, 0],
                               rtol=1e-12)


def test_streamed_predict_equals_the_whole_file_scored_at_once(fraud, small_blocks, tmp_path):
    _, model_path, files = fraud
    out = tmp_path / "p.csv"
    invoke("rnn", "predict", *files, "-m", model_path, "-o", out)
    assert out.read_text() == in_memory(model_path, files)
    rows = sum(int(read_sequence_csv(f).lengths.sum()) for f in files)
    assert out.read_text().count("\n") == rows + 1


def test_glob_patterns_expand_in_sorted_order(fraud, tmp_path, monkeypatch):
    d, model_path, files = fraud
    monkeypatch.chdir(d)
    assert invoke("rnn", "predict", "day-*.csv", "-m", model_path, "-q") == \
        in_memory(model_path, files)


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "nablanet", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=ENV, timeout=300)


def test_bad_inputs_are_one_line_and_leave_no_output(fraud, tmp_path):
    _, model_path, files = fraud
    lines = files[2].read_text().splitlines()
    lines.append(lines[1])
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    for args, message in [
        (["nothing-*.csv"], "'nothing-*.csv' matches no file"),
        ([files[0], bad], f"line {len(lines)}: sequence 'seq_00520' appears again"),
        ([files[0], "--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
         "give --workers or --scheduler, not both"),
    ]:
        result = run_cli("rnn", "predict", *args, "-m", model_path, "-o", "p.csv", cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr
        assert not list(tmp_path.glob("*p.csv*"))


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_file(tmp_path):
    """A ~120 MB fraud-shaped file (20,000 sequences; scored in memory, as before, a 78 MB
    one took 483 MB) is scored in under 200 MB resident."""
    data = fraud_like(20_000, seed=5)
    big = write_sequence_csv(data, tmp_path / "big.csv")
    assert big.stat().st_size > 100e6
    write_sequence_csv(data.subset(range(300)), tmp_path / "train.csv")
    del data
    invoke("rnn", "train", tmp_path / "train.csv", "--cell", "gru", "--hidden", "16",
           "--epochs", "1", "--model-out", tmp_path / "m.safetensors", "-q")
    peak = peak_mb(nablanet("rnn", "predict", big, "-m", "m.safetensors", "-o", "p.csv"),
                   tmp_path)
    assert peak < 200, f"peak {peak:.0f} MB"
    with (tmp_path / "p.csv").open() as f:
        head = [next(f) for _ in range(2 + 10 * 2 * GROUP)]
    first = read_sequence_csv(tmp_path / "train.csv")  # the same rows at the file's start
    assert head[0] == "name,t,score,label\n" and head[1].startswith(f"{first.names[0]},")


# ------------------------------------------------------------------------------------
# Dask
# ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_files_on_a_dask_cluster_give_the_single_process_output(fraud, dask_cluster,
                                                                tmp_path, small_blocks):
    _, model_path, files = fraud
    score = SequenceScorer.load(model_path).score
    alone, on_dask = tmp_path / "alone.csv", tmp_path / "dask.csv"
    rows = score_files(files, score, alone)
    assert score_files(files, score, on_dask, scheduler=dask_cluster.address) == rows
    assert on_dask.read_bytes() == alone.read_bytes()
    result = run_cli("rnn", "predict", *files, "-m", model_path, "-o", "cli.csv",
                     "--scheduler", dask_cluster.address, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli.csv").read_bytes() == alone.read_bytes()


@pytest.mark.slow
def test_a_worker_lost_mid_task_costs_that_task_only(fraud, dask_cluster, tmp_path):
    from distributed import Client

    _, model_path, _ = fraud
    files = [write_sequence_csv(fraud_like(15_000, n_features=5, seed=10 + k),
                                tmp_path / f"big-{k}.csv") for k in range(3)]
    score = SequenceScorer.load(model_path).score
    score_files(files, score, tmp_path / "alone.csv")
    driver = subprocess.Popen(
        [sys.executable, "-m", "nablanet", "rnn", "predict", *files, "-m", model_path, "-o",
         "dask.csv", "--scheduler", dask_cluster.address],
        cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with Client(dask_cluster.address, timeout="30s") as client:
        deadline = time.monotonic() + 120
        while not (busy := [w for w, keys in client.processing().items()
                            if any("score-" in str(k) for k in keys)]):
            assert driver.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # the scheduler's memory manager soon keeps a single copy of the scorer sent to
        # every worker: where it has, kill the worker holding it, so that the scorer is
        # lost too (the driver sends it again)
        single = [ws[0] for k, ws in client.who_has().items()
                  if not str(k).startswith("score-") and len(ws) == 1]
    dask_cluster.workers[(single or busy)[0]].send_signal(signal.SIGKILL)
    _, stderr = driver.communicate(timeout=300)
    assert driver.returncode == 0, stderr
    assert (tmp_path / "dask.csv").read_bytes() == (tmp_path / "alone.csv").read_bytes()


def test_a_dask_dataframe_is_scored_with_split_sequences_regrouped(fraud):
    dd = pytest.importorskip("dask.dataframe")
    import dask

    _, model_path, files = fraud
    score = SequenceScorer.load(model_path).score
    frame = pytest.importorskip("pandas").read_csv(files[0], float_precision="round_trip")
    expected = score_exactly(score, read_sequence_csv(files[0]))
    with dask.config.set(scheduler="sync"):
        for n in (1, 3, 7):  # partitions cut inside sequences
            parts = dd.from_pandas(frame, npartitions=n, sort=False)
            got = score_frame(parts, score).compute()
            assert list(got.columns) == list(expected)
            for key, column in expected.items():
                assert np.array_equal(got[key].to_numpy(), column), key
        tiny = dd.from_pandas(frame.iloc[:30], chunksize=4, sort=False)  # 10-step sequences
        with pytest.raises(ValueError, match="spans more than two partitions"):
            score_frame(tiny, score).compute()


# ------------------------------------------------------------------------------------
# Images: a .npy file memory-mapped, scored in batches
# ------------------------------------------------------------------------------------
def test_predict_streams_a_npy_file_in_batches(tmp_path, monkeypatch, make_images):
    from nablanet.models import Network

    train = importlib.import_module("nablanet.cli.train")  # the module, not the command
    monkeypatch.chdir(tmp_path)
    net = Network([784, 16, 10], seed=0)
    net.save("net.safetensors")
    images, _ = make_images(250, seed=2)
    np.save("images.npy", images)
    expected = net.predict(images.reshape(250, -1) / 255.0)
    monkeypatch.setattr(train, "PREDICT_BATCH", 64)
    calls = []
    load = np.load
    monkeypatch.setattr(np, "load", lambda *a, **k: calls.append(k) or load(*a, **k))
    invoke("predict", "images.npy", "-m", "net.safetensors", "-o", "labels.npy")
    invoke("predict", "images.npy", "-m", "net.safetensors", "-o", "labels.txt")
    assert calls[0]["mmap_mode"] == "r"
    assert np.array_equal(np.load("labels.npy"), expected)
    assert (tmp_path / "labels.txt").read_text().split() == [str(v) for v in expected]
    bad = images.astype(np.float64) / 255.0
    bad[200, 3, 5] = 1.5
    np.save("bad.npy", bad)
    result = CliRunner().invoke(cli, ["predict", "bad.npy", "-m", "net.safetensors", "-o",
                                      "out.txt"])
    assert result.exit_code != 0
    assert str(result.exception).startswith(  # the one pixel rule, as_images's message
        "bad.npy (images 192-249): expected pixel values as floats in [0, 1] (divide "
        "0..255 by 255), found 0.0..1.5; the first outside is 1.5 at index (8, 89)")
    assert not list(tmp_path.glob("*out.txt*"))


def test_predict_takes_every_layout_of_a_model_fitted_in_python(tmp_path, monkeypatch):
    """A three-channel conv net fitted and saved from Python (its input shape is in its
    config): channel-first images, rows of pixels and one image give its labels and,
    with --proba, its probabilities; text output has one row a line."""
    from nablanet.layers import Conv2D, Dense, Flatten
    from nablanet.models import Sequential

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (9, 3, 6, 6)).astype(np.uint8)
    model = Sequential([Conv2D(3, 2, 3, seed=0), Flatten(), Dense(32, 4, seed=1)],
                       output_activation="softmax", loss="cross_entropy", seed=2)
    model.fit(images / 255.0, np.arange(9) % 4, epochs=1, batch_size=3, progress=False)
    model.save("conv.safetensors")
    proba = model.predict_proba(images / 255.0)
    for name, array in (("nchw", images), ("flat", images.reshape(9, -1)),
                        ("float", images / 255.0)):
        np.save(f"{name}.npy", array)
        invoke("predict", f"{name}.npy", "-m", "conv.safetensors", "-o", f"{name}-l.npy")
        invoke("predict", f"{name}.npy", "-m", "conv.safetensors", "--proba", "-o",
               f"{name}-p.npy")
        np.testing.assert_array_equal(np.load(f"{name}-l.npy"), proba.argmax(axis=1))
        np.testing.assert_allclose(np.load(f"{name}-p.npy"), proba, rtol=0, atol=1e-12)
    np.save("one.npy", images[4])
    assert invoke("-q", "predict", "one.npy", "-m", "conv.safetensors") == \
        f"{proba[4].argmax()}\n"
    rows = invoke("-q", "predict", "one.npy", "-m", "conv.safetensors", "--proba")
    np.testing.assert_allclose([float(v) for v in rows.split()], proba[4], rtol=1e-15)
    invoke("predict", "nchw.npy", "-m", "conv.safetensors", "--proba", "-o", "p.txt")
    np.testing.assert_allclose(np.loadtxt("p.txt"), proba, rtol=1e-15)
    np.save("gray.npy", images[:, 0])  # one channel: not this model's images
    result = CliRunner().invoke(cli, ["predict", "gray.npy", "-m", "conv.safetensors"])
    assert result.exit_code != 0
    assert str(result.exception) == (
        "gray.npy: images of shape (9, 6, 6) do not fit the network conv.safetensors, "
        "which takes 108 pixels per image: (n, 3, 6, 6) or (n, 108), or one image "
        "(3, 6, 6)")


def test_predict_reads_the_image_shape_of_an_earlier_release_and_refuses_a_rnn(
        tmp_path, monkeypatch):
    """A conv net saved as nablanet 0.2's 'train --layers' saved it (no input shape in
    the config, the image shape in the CLI section) still predicts; a recurrent model
    is sent to 'nablanet rnn predict'."""
    from nablanet import RNN
    from nablanet.layers import Conv2D, Dense, Flatten
    from nablanet.models import Sequential
    from nablanet.serialization import save

    monkeypatch.chdir(tmp_path)
    model = Sequential([Conv2D(1, 2, 3, seed=0), Flatten(), Dense(8, 3, seed=1)],
                       output_activation="softmax", loss="cross_entropy")
    save(model, "old.safetensors", cli={"image_shape": [1, 4, 4]})
    images = np.random.default_rng(0).random((5, 4, 4))
    np.save("images.npy", images)
    invoke("predict", "images.npy", "-m", "old.safetensors", "-o", "l.npy")
    np.testing.assert_array_equal(np.load("l.npy"), model.predict(images[:, None]))
    save(model, "unknown.safetensors")
    RNN(2, 3, 1, seed=0).save("rnn.safetensors")
    for path, message in (("unknown.safetensors", "does not record the shape of its "
                                                  "inputs"),
                          ("rnn.safetensors", "a recurrent model (RNN): use 'nablanet rnn "
                                              "predict'")):
        result = CliRunner().invoke(cli, ["predict", "images.npy", "-m", path])
        assert result.exit_code != 0 and message in str(result.exception), result.output
