"""ModelCheckpoint, JSONLinesLogger, TensorBoard and GradientNorms callbacks."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from nablanet import (
    SGD,
    Adam,
    GradientNorms,
    JSONLinesLogger,
    ModelCheckpoint,
    Network,
    TensorBoard,
    kernels,
)
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


def test_gradient_norms_are_the_mean_over_the_epochs_mini_batches():
    X, y = _data(n=23)
    net = Network([4, 5, 3, 2], seed=4, optimizer=SGD(0.5))
    twin = Network([4, 5, 3, 2], seed=4, optimizer=SGD(0.5))
    norms = GradientNorms()
    net.fit(X, y, epochs=2, batch_size=5, shuffle=False, progress=False, callbacks=[norms])
    by_hand = {"b": [], "W": []}
    for _ in range(2):  # the same mini-batches and steps, by hand
        batch_norms = {"b": [], "W": []}
        for start in range(0, 23, 5):  # the last mini-batch holds 3
            grads = twin.gradients(X[start:start + 5], y[start:start + 5])
            batch_norms["W"].append([np.linalg.norm(g) for g in grads[0::2]])
            batch_norms["b"].append([np.linalg.norm(g) for g in grads[1::2]])
            twin.optimizer.step(twin.params(), twin.grads(), twin.decay_flags())
        for key in by_hand:
            by_hand[key].append(np.mean(batch_norms[key], axis=0))
    np.testing.assert_allclose(norms.history, by_hand["b"], rtol=1e-12)
    np.testing.assert_allclose(norms.weight_history, by_hand["W"], rtol=1e-12)
    assert norms.labels == ["hidden layer 1", "hidden layer 2", "output layer"]
    assert all(np.array_equal(p, q) for p, q in zip(net.params(), twin.params(), strict=True))


def test_gradient_norms_train_on_numpy_and_refuse_the_kernels(caplog):
    X, y = _data()

    def fit(backend, callbacks):
        net = Network([4, 6, 2], optimizer=SGD(1.0), seed=3)  # the kernels cover it
        with caplog.at_level(logging.INFO, logger="nablanet"):
            caplog.clear()
            history = net.fit(X, y, epochs=1, batch_size=4, backend=backend,
                              progress=False, callbacks=callbacks)
        return history, caplog.text

    if kernels.AVAILABLE:
        assert "on the numba backend" in fit("auto", [])[1]
    history, text = fit("auto", [norms := GradientNorms()])
    assert "on the numpy backend" in text
    assert len(norms.history) == 1 and min(norms.history[0]) > 0
    assert history["grad_norm/biases_1"] == [norms.history[0][0]]
    with pytest.raises(ValueError, match=r"backend 'numba'.*gradients.*'numpy'"):
        fit("numba", [GradientNorms()])


def test_gradient_norms_go_to_tensorboard_after_them(tmp_path):
    pytest.importorskip("tensorboardX")
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    X, y = _data()
    norms = GradientNorms()
    _net().fit(X, y, epochs=2, batch_size=6, progress=False,
               callbacks=[norms, TensorBoard(tmp_path / "tb")])
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    for j, key in enumerate(("grad_norm/biases_1", "grad_norm/biases_2")):
        events = acc.Scalars(key)
        assert [e.step for e in events] == [1, 2]
        np.testing.assert_allclose([e.value for e in events],
                                   [epoch[j] for epoch in norms.history], rtol=1e-6)
    assert "grad_norm/weights_1" in acc.Tags()["scalars"]


def test_a_deep_sigmoid_networks_first_layer_learns_slowest(mnist_10k):
    """Nielsen ch. 5: with 4 hidden layers of 30 sigmoid units, the first hidden layer's
    gradient is about a hundred times smaller than the fourth's."""
    X, y = mnist_10k
    net = Network([784, 30, 30, 30, 30, 10], loss="binary_cross_entropy",
                  init="scaled_normal", optimizer=SGD(0.1), seed=1)
    norms = GradientNorms()
    net.fit(X[:1000], y[:1000], epochs=2, batch_size=10, progress=False,
            monitor_training=False, callbacks=[norms])
    for epoch in norms.history:
        hidden = epoch[:4]
        assert hidden == sorted(hidden)  # each layer learns faster than the one below
        assert hidden[0] < hidden[3] / 20
