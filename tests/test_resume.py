"""Training state in the model file, exact resume, callbacks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import safetensors.numpy

from nablanet import GRU, SGD, Adam, Network
from nablanet.training import Callback, CosineAnnealing, EarlyStopping, ReduceOnPlateau


def _data(n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    return X, y


def _net(optimizer):
    return Network([4, 8, 3], activation="relu", output_activation="softmax",
                   loss="cross_entropy", init="he", optimizer=optimizer, seed=5)


OPTIMIZERS = {"sgd": lambda: SGD(0.3), "momentum": lambda: SGD(0.1, momentum=0.9),
              "adam": lambda: Adam(0.01)}


def _params_equal(a, b):
    for p, q in zip(a.params(), b.params(), strict=True):
        np.testing.assert_array_equal(p, q)


# ------------------------------------------------------------------------------------
def test_optimizer_state_dict_continues_the_moments():
    rng = np.random.default_rng(1)
    params = [rng.standard_normal((3, 2)), rng.standard_normal(2)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(4)]
    whole, half = Adam(0.1), Adam(0.1)
    pw, ph = [p.copy() for p in params], [p.copy() for p in params]
    for g in grads:
        whole.step(pw, [x.copy() for x in g])
    for g in grads[:2]:
        half.step(ph, [x.copy() for x in g])
    state = half.state_dict()
    again = Adam(0.1)
    again.load_state_dict(state)
    ph = [p.copy() for p in ph]
    for g in grads[2:]:
        again.step(ph, [x.copy() for x in g])
    assert again.t == 4
    for a, b in zip(pw, ph, strict=True):
        np.testing.assert_array_equal(a, b)


def test_optimizer_state_dict_errors():
    with pytest.raises(ValueError, match="written by 'adam'"):
        SGD(0.1).load_state_dict(Adam().state_dict())
    with pytest.raises(ValueError, match="slots"):
        SGD(0.1).load_state_dict({"config": {"name": "sgd"}, "t": 1,
                                  "state": [{"v": np.zeros(2)}]})
    opt = SGD(0.1, momentum=0.5)
    opt.load_state_dict({"config": {"name": "sgd"}, "t": 1, "state": [{"v": np.zeros(2)}]})
    with pytest.raises(ValueError, match="do not fit"):
        opt.step([np.zeros(3)], [np.zeros(3)])


# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("schedule", [None, "cosine", "plateau"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_stop_save_load_resume_equals_an_uninterrupted_run_bitwise(tmp_path, name, schedule):
    X, y = _data()

    def sched():
        return {None: None, "cosine": CosineAnnealing(t_max=6),
                "plateau": ReduceOnPlateau(monitor="train_loss", patience=0)}[schedule]

    kwargs = dict(batch_size=7, validation_split=0.2, backend="numpy", progress=False)
    whole = _net(OPTIMIZERS[name]())
    history = whole.fit(X, y, epochs=6, schedule=sched(), **kwargs)
    first = _net(OPTIMIZERS[name]())
    first.fit(X, y, epochs=3, schedule=sched(), **kwargs)
    first.save(tmp_path / "ckpt.safetensors")
    resumed = Network.load(tmp_path / "ckpt.safetensors")
    assert resumed.training_state.epoch == 3
    assert type(resumed.optimizer) is type(whole.optimizer)
    rest = resumed.fit(X, y, epochs=6, initial_epoch=resumed.training_state.epoch, **kwargs)
    _params_equal(whole, resumed)
    assert rest["epoch"] == [4, 5, 6]
    assert rest["lr"] == history["lr"][3:]
    assert rest["val_loss"] == history["val_loss"][3:]
    run = resumed.training_state.history  # the whole run's, in the file and after
    assert [e["epoch"] for e in run] == [1, 2, 3, 4, 5, 6]
    assert [e["val_loss"] for e in run] == history["val_loss"]


def test_resume_keeps_early_stopping_state_and_best_parameters(tmp_path):
    X, y = _data()
    Xv, yv = _data(30, seed=9)
    yv = 2 - yv  # validation labels that disagree: the validation loss soon rises

    def run(net, epochs, **kw):
        return net.fit(X, y, epochs=epochs, batch_size=6, validation_data=(Xv, yv),
                       backend="numpy", progress=False, **kw)

    whole = _net(Adam(0.05))
    h = run(whole, 30, early_stopping=EarlyStopping(patience=2))
    assert h.stopped_early
    part = _net(Adam(0.05))
    run(part, h.best_epoch + 1, early_stopping=EarlyStopping(patience=2))
    part.save(tmp_path / "m.safetensors")
    again = Network.load(tmp_path / "m.safetensors")
    h2 = run(again, 30, initial_epoch=again.training_state.epoch)
    assert h2.stopped_early and h2.best_epoch == h.best_epoch
    _params_equal(whole, again)


def test_recurrent_resume_is_bitwise(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((24, 5, 2))
    Y = (X.sum(axis=(1, 2)) > 0).astype(np.int64)

    def model():
        return GRU(2, 6, 2, target="last", output_activation="softmax",
                   loss="cross_entropy", optimizer=Adam(0.02), seed=1)

    kw = dict(batch_size=4, progress=False, backend="numpy")
    whole = model()
    whole.fit(X, Y, epochs=4, **kw)
    part = model()
    part.fit(X, Y, epochs=2, **kw)
    part.save(tmp_path / "g.safetensors")
    again = GRU.load(tmp_path / "g.safetensors")
    again.fit(X, Y, epochs=4, initial_epoch=2, **kw)
    _params_equal(whole, again)


def test_a_loaded_checkpoint_saved_again_keeps_its_optimizer_moments(tmp_path):
    """Load, save (no step between: the moments are still the loaded ones), load, resume:
    the same weights as an uninterrupted run (the copy used to lose Adam's moments)."""
    X, y = _data()
    kw = dict(batch_size=10, progress=False, backend="numpy")
    whole = _net(Adam(0.01))
    whole.fit(X, y, epochs=4, **kw)
    part = _net(Adam(0.01))
    part.fit(X, y, epochs=2, **kw)
    part.save(tmp_path / "a.safetensors")
    Network.load(tmp_path / "a.safetensors").save(tmp_path / "copy.safetensors")
    again = Network.load(tmp_path / "copy.safetensors")
    again.fit(X, y, epochs=4, initial_epoch=2, **kw)
    _params_equal(whole, again)


def test_reloaded_model_trains_on_with_its_own_optimizer(tmp_path):
    X, y = _data(200)
    net = _net(Adam(0.01))
    net.fit(X, y, epochs=5, batch_size=10, backend="numpy", progress=False)
    before = net.evaluate(X, y)["accuracy"]
    net.save(tmp_path / "m.safetensors")
    again = Network.load(tmp_path / "m.safetensors")
    assert isinstance(again.optimizer, Adam) and again.optimizer.lr == 0.01
    assert again.optimizer.t == net.optimizer.t > 0
    again.fit(X, y, epochs=1, batch_size=10, backend="numpy", progress=False)
    assert again.evaluate(X, y)["accuracy"] >= before - 0.05
    fresh = _net(Adam(0.01))
    assert fresh.training_state.epoch == 0 and fresh.optimizer.t == 0


def test_resume_on_other_data_is_one_clear_error(tmp_path):
    X, y = _data()
    net = _net(SGD(0.1))
    net.fit(X, y, epochs=2, batch_size=10, progress=False)
    with pytest.raises(ValueError, match="not the data the run being resumed"):
        net.fit(X[:50], y[:50], epochs=4, initial_epoch=2, batch_size=10, progress=False)
    with pytest.raises(ValueError, match="initial_epoch"):
        net.fit(X, y, epochs=4, initial_epoch=5, batch_size=10, progress=False)


def test_version_2_file_loads_and_says_it_has_no_training_state(tmp_path, caplog):
    X, y = _data()
    net = _net(Adam(0.01))
    net.fit(X, y, epochs=1, batch_size=10, progress=False)
    net.save(tmp_path / "v3.safetensors")
    with safetensors.safe_open(str(tmp_path / "v3.safetensors"), "numpy") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("training.")}
    del meta["training"]
    meta["format_version"] = "2"
    (tmp_path / "v2.safetensors").write_bytes(safetensors.numpy.save(tensors, metadata=meta))
    with caplog.at_level("INFO", logger="nablanet"):
        old = Network.load(tmp_path / "v2.safetensors")
    assert any("carries no training state" in r.message for r in caplog.records)
    _params_equal(net, old)
    assert old.training_state.epoch == 0 and old.optimizer.t == 0


def test_a_corrupt_training_section_is_refused_naming_the_file(tmp_path):
    X, y = _data()
    net = _net(Adam(0.01))
    net.fit(X, y, epochs=1, batch_size=10, progress=False)
    net.save(tmp_path / "m.safetensors")
    with safetensors.safe_open(str(tmp_path / "m.safetensors"), "numpy") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    training = json.loads(meta["training"])
    training["optimizer"]["config"]["name"] = "lion"
    meta["training"] = json.dumps(training)
    (tmp_path / "bad.safetensors").write_bytes(safetensors.numpy.save(tensors, metadata=meta))
    with pytest.raises(ValueError, match=r"bad\.safetensors.*lion"):
        Network.load(tmp_path / "bad.safetensors")


# ------------------------------------------------------------------------------------
class _Spy(Callback):
    def __init__(self, stop_at=None):
        self.calls, self.stop_at = [], stop_at

    def on_train_begin(self, model):
        self.calls.append(("begin", type(model).__name__))

    def on_epoch_end(self, epoch, logs):
        self.calls.append(("epoch", epoch, sorted(logs)))
        return epoch == self.stop_at

    def on_train_end(self, history):
        self.calls.append(("end", len(history)))


def test_callbacks_are_called_in_order_and_can_stop_training():
    X, y = _data()
    spy = _Spy(stop_at=2)
    net = _net(SGD(0.1))
    history = net.fit(X, y, epochs=5, batch_size=10, progress=False, callbacks=[spy],
                      eval_every=2)
    assert [c[:2] for c in spy.calls] == [("begin", "Network"), ("epoch", 1), ("epoch", 2),
                                          ("end", 1)]
    assert spy.calls[1][2] == ["epoch", "lr", "seconds"]  # not an evaluation epoch
    assert "train_loss" in spy.calls[2][2]
    assert history["epoch"] == [2] and net.training_state.epoch == 2


def test_a_model_saved_at_the_end_of_cosine_annealing_loads(tmp_path):
    # the schedule's last learning rate is 0; the file must still load and train on
    from nablanet import Adam, CosineAnnealing, Network, load

    rng = np.random.default_rng(0)
    X, y = rng.random((40, 4)), np.arange(40) % 3
    net = Network([4, 5, 3], output_activation="softmax", loss="cross_entropy",
                  optimizer=Adam(0.01), seed=0)
    net.fit(X, y, epochs=3, schedule=CosineAnnealing(t_max=3), progress=False)
    assert net.optimizer.lr == 0.0
    net.save(tmp_path / "m.safetensors")
    again = load(tmp_path / "m.safetensors")
    assert again.optimizer.lr == 0.0 and again.optimizer.config()["name"] == "adam"
    assert again.optimizer.t == net.optimizer.t
