"""ModelCheckpoint, JSONLinesLogger and TensorBoard callbacks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nablanet import Adam, JSONLinesLogger, ModelCheckpoint, Network, TensorBoard
from nablanet.training import CosineAnnealing


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def _net():
    return Network([4, 6, 2], activation="relu", output_activation="softmax",
                   loss="cross_entropy", init="he", optimizer=Adam(0.02), seed=3)


def test_checkpoint_every_n_epochs_resumes_to_the_uninterrupted_run(tmp_path):
    X, y = _data()
    kw = dict(batch_size=6, backend="numpy", progress=False)
    whole = _net()
    whole.fit(X, y, epochs=5, schedule=CosineAnnealing(t_max=5), **kw)
    ckpt = tmp_path / "ckpt.safetensors"
    part = _net()
    part.fit(X, y, epochs=5, schedule=CosineAnnealing(t_max=5),
             callbacks=[ModelCheckpoint(ckpt, every=2)], **kw)
    # the last checkpoint is epoch 4's: resume the fifth epoch from it
    again = Network.load(ckpt)
    assert again.training_state.epoch == 4
    again.fit(X, y, epochs=5, initial_epoch=4, **kw)
    for p, q in zip(whole.params(), again.params(), strict=True):
        np.testing.assert_array_equal(p, q)


def test_checkpoint_keeps_the_best_by_a_monitored_metric(tmp_path):
    X, y = _data()
    Xv, yv = _data(30, seed=1)
    ckpt = tmp_path / "best.safetensors"
    net = _net()
    history = net.fit(X, y, epochs=6, batch_size=6, validation_data=(Xv, 1 - yv),
                      progress=False, callbacks=[ModelCheckpoint(ckpt, monitor="val_loss")])
    best = int(np.argmin(history["val_loss"])) + 1
    saved = Network.load(ckpt)
    assert saved.training_state.epoch == best
    assert saved.evaluate(Xv, 1 - yv)["loss"] == pytest.approx(min(history["val_loss"]),
                                                               rel=1e-12)
    with pytest.raises(ValueError, match="every"):
        ModelCheckpoint(ckpt, every=0)
    with pytest.raises(ValueError, match="'val_f1' is not computed"):
        _net().fit(X, y, epochs=1, progress=False,
                   callbacks=[ModelCheckpoint(ckpt, monitor="val_f1")])


def test_json_lines_logger_writes_each_epoch_as_it_ends(tmp_path):
    X, y = _data()
    path = tmp_path / "epochs.jsonl"

    seen = []

    class Peek(JSONLinesLogger):  # what another process sees right after each epoch
        def on_epoch_end(self, epoch, logs):
            super().on_epoch_end(epoch, logs)
            seen.append(len(path.read_text().splitlines()))

    net = _net()
    history = net.fit(X, y, epochs=3, batch_size=6, validation_data=(X, y), progress=False,
                      callbacks=[Peek(path)])
    assert seen == [1, 2, 3]  # flushed at once
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines == json.loads(json.dumps(history.epochs))
    assert [e["epoch"] for e in lines] == [1, 2, 3] and "val_accuracy" in lines[0]
    net.fit(X, y, epochs=5, initial_epoch=3, batch_size=6, progress=False,
            callbacks=[JSONLinesLogger(path, append=True)])
    assert [json.loads(line)["epoch"] for line in path.read_text().splitlines()] == [
        1, 2, 3, 4, 5]
    net.fit(X, y, epochs=1, batch_size=6, progress=False, callbacks=[JSONLinesLogger(path)])
    assert len(path.read_text().splitlines()) == 1  # a fresh run starts the file again


def test_tensorboard_scalars_and_hparams_read_back_with_tensorboards_reader(tmp_path):
    pytest.importorskip("tensorboardX")
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    from tensorboard.plugins.hparams import plugin_data_pb2

    X, y = _data()
    net = _net()
    history = net.fit(X, y, epochs=3, batch_size=6, validation_split=0.2, progress=False,
                      schedule=CosineAnnealing(t_max=3),
                      callbacks=[TensorBoard(tmp_path / "tb", hparams={"batch_size": 6})])
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    assert {"train_loss", "val_loss", "val_accuracy", "lr", "seconds"} <= set(
        acc.Tags()["scalars"])
    for key in ("val_loss", "lr", "train_accuracy"):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [1, 2, 3]
        np.testing.assert_allclose([e.value for e in events], history[key], rtol=1e-6)
    hp = event_accumulator.EventAccumulator(str(tmp_path / "tb" / "hparams"))
    hp.Reload()
    content = hp.PluginTagToContent("hparams")
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    values = data.session_start_info.hparams
    assert values["batch_size"].number_value == 6
    assert values["optimizer.name"].string_value == "adam"
    assert values["optimizer.lr"].number_value == pytest.approx(0.02)
