"""The training loop: batching, schedules, early stopping, history, argument checks."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest

from nablanet import SGD, Network
from nablanet.training import (
    CosineAnnealing,
    EarlyStopping,
    ExponentialDecay,
    History,
    ReduceOnPlateau,
    StepDecay,
    fit_loop,
    get_schedule,
)


class _Recorder:
    """A fake model for fit_loop: records the chunks of indices it is given and the
    learning rate in force while each epoch trains, and plays back scripted evaluation
    metrics. Epoch boundaries are found by counting examples (every epoch hands over
    each of the ``n`` examples once)."""

    def __init__(self, metrics=None, lr=0.8):
        self.optimizer = SGD(lr)
        self.chunks: list[np.ndarray] = []
        self.epoch_lr: list[float] = []
        self.metrics = list(metrics or [])
        self.param = np.zeros(3)
        self.seen = 0
        self.n = 0
        self.evaluations = 0

    @property
    def epoch(self) -> int:
        """The epoch being (or last) trained, 0-based; -1 before training."""
        return (self.seen - 1) // self.n if self.seen else -1

    def train_batches(self, idx):
        if self.seen % self.n == 0:  # the first chunk of an epoch
            self.epoch_lr.append(self.optimizer.lr)
        self.chunks.append(np.array(idx))
        self.seen += len(idx)
        self.param[...] = self.epoch  # the "parameters" after epoch e are all e

    def evaluate(self):
        self.evaluations += 1
        return dict(self.metrics[self.epoch]) if self.metrics else {}

    def run(self, *, n=10, epochs=5, batch_size=3, **kwargs):
        kwargs.setdefault("progress", False)
        self.n = n
        return fit_loop(
            n_samples=n, epochs=epochs, batch_size=batch_size,
            rng=np.random.default_rng(0), train_batches=self.train_batches,
            evaluate=self.evaluate, epoch_line=lambda logs: f"epoch {logs['epoch']}",
            optimizer=self.optimizer, get_params=lambda: [self.param], **kwargs,
        )

    def epoch_orders(self) -> list[np.ndarray]:
        """The order of the examples in each epoch."""
        flat = np.concatenate(self.chunks)
        return [flat[i:i + self.n] for i in range(0, len(flat), self.n)]


# ------------------------------------------------------------------------------------
# Batching and shuffling
# ------------------------------------------------------------------------------------
def test_each_epoch_visits_every_example_once_in_mini_batches():
    rec = _Recorder()
    rec.run(n=10, epochs=3, batch_size=4)
    epochs = rec.epoch_orders()
    assert len(epochs) == 3
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(10))
    # chunks are whole mini-batches; only the last of an epoch may be shorter
    for chunk in rec.chunks:
        assert len(chunk) % 4 == 0 or len(chunk) == 10 % 4
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch
    # the shuffling is the generator's permutation: reproducible from the seed
    rng = np.random.default_rng(0)
    for order in epochs:
        np.testing.assert_array_equal(order, rng.permutation(10))


def test_many_mini_batches_are_handed_over_whole():
    rec = _Recorder()
    rec.run(n=5003, epochs=2, batch_size=7)
    for order in rec.epoch_orders():
        np.testing.assert_array_equal(np.sort(order), np.arange(5003))
    for chunk in rec.chunks:
        assert len(chunk) % 7 == 0 or len(chunk) % 7 == 5003 % 7


def test_no_shuffle_keeps_the_order():
    rec = _Recorder()
    rec.run(n=7, epochs=2, batch_size=7, shuffle=False)
    for order in rec.epoch_orders():
        np.testing.assert_array_equal(order, np.arange(7))


# ------------------------------------------------------------------------------------
# Schedules: the learning rate in force during each epoch (PyTorch's conventions)
# ------------------------------------------------------------------------------------
def _step(e):  # StepDecay(step_size=3, gamma=0.5) from 0.8
    return 0.8 * 0.5 ** (e // 3)


def _exponential(e):  # ExponentialDecay(gamma=0.9) from 0.8
    return 0.8 * 0.9**e


def _cosine(e):  # CosineAnnealing(t_max=5, min_lr=0.1) from 0.8, flat after t_max
    e = min(e, 5)
    return 0.1 + 0.35 * (1 + math.cos(math.pi * e / 5))


SCHEDULES = [
    (lambda: StepDecay(step_size=3, gamma=0.5), [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2], _step),
    (lambda: ExponentialDecay(gamma=0.9), [0.8, 0.72, 0.648, 0.5832, 0.52488, 0.472392,
                                          0.4251528, 0.38263752], _exponential),
    (lambda: CosineAnnealing(t_max=5, min_lr=0.1), [0.8, 0.733155948, 0.558155948, 0.341844052,
                                                   0.166844052, 0.1, 0.1, 0.1], _cosine),
]


@pytest.mark.parametrize(("make", "expected", "formula"), SCHEDULES,
                         ids=["step", "exponential", "cosine"])
def test_schedule_values_per_epoch(make, expected, formula):
    np.testing.assert_allclose(expected, [formula(e) for e in range(8)], rtol=1e-7)
    rec = _Recorder(lr=0.8)
    history = rec.run(epochs=8, schedule=make())
    np.testing.assert_allclose(rec.epoch_lr, expected, rtol=1e-7)
    np.testing.assert_allclose(history["lr"], expected, rtol=1e-7)


@pytest.mark.parametrize(("make", "expected", "formula"), SCHEDULES,
                         ids=["step", "exponential", "cosine"])
def test_schedule_is_applied_after_every_epoch_not_only_evaluated_ones(make, expected, formula):
    """fit_loop's docstring: the optimizer's ``lr`` is set by the schedule after each
    epoch. Evaluating every 3 epochs must not turn the schedule into a staircase."""
    rec = _Recorder(lr=0.8)
    rec.run(epochs=8, schedule=make(), eval_every=3)
    np.testing.assert_allclose(rec.epoch_lr, expected, rtol=1e-7)


def test_reduce_on_plateau_reduces_after_patience():
    losses = [1.0, 0.9, 0.95, 0.92, 0.91, 0.93, 0.94, 0.95, 0.96, 0.5, 0.6]
    rec = _Recorder([{"val_loss": v} for v in losses], lr=0.8)
    rec.run(epochs=len(losses), schedule=ReduceOnPlateau(patience=2, factor=0.5, min_lr=0.3))
    # best 0.9 at epoch 1; epochs 2, 3, 4 do not improve: more than `patience` (2)
    # evaluations without improvement, so the rate is halved for epoch 5. The count starts
    # again: epochs 5, 6, 7 -> halved for epoch 8, but not below min_lr.
    assert rec.epoch_lr == [0.8] * 5 + [0.4] * 3 + [0.3] * 3


def test_reduce_on_plateau_ignores_a_missing_metric():
    sched = ReduceOnPlateau(monitor="val_loss", patience=0)
    assert sched(0, 1.0, 1.0, {"train_loss": 5.0}) == 1.0
    assert sched(1, 1.0, 1.0, {"val_loss": 5.0}) == 1.0
    assert sched(2, 1.0, 1.0, {"val_loss": 5.0}) == 0.5


def test_get_schedule():
    assert get_schedule("none", 10) is None
    assert get_schedule(None, 10) is None
    assert isinstance(get_schedule("step", 30), StepDecay)
    assert get_schedule("step", 30).step_size == 10
    assert get_schedule("cosine", 12).t_max == 12
    assert isinstance(get_schedule("exponential", 5), ExponentialDecay)
    assert isinstance(get_schedule("plateau", 5), ReduceOnPlateau)
    with pytest.raises(ValueError, match="schedule"):
        get_schedule("linear", 10)


# ------------------------------------------------------------------------------------
# Early stopping
# ------------------------------------------------------------------------------------
def test_early_stopping_stops_and_restores_the_best_parameters():
    losses = [3.0, 2.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5]
    rec = _Recorder([{"val_loss": v} for v in losses])
    history = rec.run(epochs=10, early_stopping=EarlyStopping(patience=2))
    # best at epoch 3 (1-based); 4, 5, 6 do not improve: more than 2, stop after 6
    assert history.stopped_early
    assert history.best_epoch == 3
    assert history["epoch"] == [1, 2, 3, 4, 5, 6]
    assert rec.epoch == 5  # no epoch trained after the stop
    np.testing.assert_array_equal(rec.param, [2.0, 2.0, 2.0])


def test_early_stopping_maximises_accuracies_and_honours_min_delta():
    accs = [0.5, 0.6, 0.605, 0.61, 0.58, 0.7, 0.7]
    rec = _Recorder([{"val_accuracy": v} for v in accs])
    history = rec.run(epochs=7, early_stopping=EarlyStopping(
        monitor="val_accuracy", patience=1, min_delta=0.02))
    # 0.605 and 0.61 are not improvements of more than 0.02 over 0.6: stop after epoch 4
    assert history.best_epoch == 2
    assert history.stopped_early and len(history) == 4
    np.testing.assert_array_equal(rec.param, [1.0, 1.0, 1.0])


def test_early_stopping_without_restore_keeps_the_last_parameters():
    losses = [1.0, 2.0, 3.0, 4.0]
    rec = _Recorder([{"val_loss": v} for v in losses])
    history = rec.run(epochs=4, early_stopping=EarlyStopping(patience=1, restore_best=False))
    assert history.stopped_early and history.best_epoch == 1
    np.testing.assert_array_equal(rec.param, [2.0, 2.0, 2.0])


def test_no_early_stop_when_the_loss_keeps_falling():
    rec = _Recorder([{"val_loss": 10.0 - e} for e in range(6)])
    history = rec.run(epochs=6, early_stopping=EarlyStopping(patience=0))
    assert not history.stopped_early and history.best_epoch == 6 and len(history) == 6


def test_early_stopping_errors():
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    rec = _Recorder([{"train_loss": 1.0}] * 3)
    with pytest.raises(ValueError, match="val_loss"):
        rec.run(epochs=3, early_stopping=EarlyStopping())


def test_early_stopping_on_a_network_whose_validation_loss_rises():
    """Validation labels are the training labels flipped: the better the network fits
    the training data, the worse the validation loss. Early stopping must stop and give
    back the weights of the best epoch, i.e. those of the same network trained for
    exactly best_epoch epochs (1-based)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 2))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    val = (X, 1 - y)

    def network():
        return Network([2, 6, 2], seed=3, optimizer=SGD(2.0))

    net = network()
    history = net.fit(X, y, epochs=40, batch_size=8, validation_data=val,
                      early_stopping=EarlyStopping(patience=2), progress=False)
    assert history.stopped_early
    best = history.best_epoch
    losses = history["val_loss"]
    assert losses[best - 1] == min(losses)
    assert len(history) == best + 3  # 3 evaluations without improvement after the best
    assert losses[-1] > losses[best - 1]
    replica = network()
    replica.fit(X, y, epochs=best, batch_size=8, validation_data=val, progress=False)
    for a, b in zip(net.weights + net.biases, replica.weights + replica.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    # and the restored network's validation cost is that of the best epoch (by hand)
    a = net.predict_proba(X)
    cost = 0.5 * np.sum((a - np.eye(2)[1 - y]) ** 2) / len(X)
    assert cost == pytest.approx(losses[best - 1], rel=1e-12)


# ------------------------------------------------------------------------------------
# History and eval_every
# ------------------------------------------------------------------------------------
def test_history_to_dict_is_json_serialisable():
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((30, 4)), rng.integers(0, 3, 30)
    net = Network([4, 5, 3], seed=0)
    history = net.fit(X, y, epochs=3, batch_size=10, validation_split=0.2, progress=False)
    history.epochs[-1]["odd"] = np.float32(np.nan)
    history.epochs[-1]["count"] = np.int64(7)
    text = json.dumps(history.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert [e["epoch"] for e in back["epochs"]] == [1, 2, 3]
    assert back["epochs"][1]["val_loss"] == history["val_loss"][1]
    assert back["epochs"][2]["odd"] is None and back["epochs"][2]["count"] == 7
    assert {"train_loss", "train_accuracy", "val_accuracy", "seconds", "lr"} <= set(
        back["epochs"][0])
    assert back["stopped_early"] is False
    assert back["total_seconds"] >= sum(history["seconds"])
    assert History().to_dict() == {"epochs": [], "best_epoch": None, "stopped_early": False,
                                   "total_seconds": 0.0}


@pytest.mark.parametrize(("epochs", "every", "recorded"), [
    (7, 3, [3, 6, 7]),
    (6, 3, [3, 6]),
    (4, 1, [1, 2, 3, 4]),
    (3, 5, [3]),
])
def test_eval_every_controls_the_recorded_epochs(epochs, every, recorded):
    rec = _Recorder()
    history = rec.run(epochs=epochs, eval_every=every)
    assert history["epoch"] == recorded
    assert rec.evaluations == len(recorded)
    assert rec.epoch == epochs - 1  # every epoch trained
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((12, 3)), rng.integers(0, 2, 12)
    history = Network([3, 2], seed=0).fit(X, y, epochs=epochs, batch_size=4,
                                          eval_every=every, progress=False)
    assert history["epoch"] == recorded


# ------------------------------------------------------------------------------------
# Argument errors
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "name"), [
    ({"epochs": 0}, "epochs"),
    ({"epochs": -2}, "epochs"),
    ({"epochs": 1.5}, "epochs"),
    ({"epochs": True}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 11}, "batch_size"),
    ({"batch_size": 2.0}, "batch_size"),
    ({"eval_every": 0}, "eval_every"),
    ({"n": 0}, "training data"),
])
def test_fit_loop_argument_errors(kwargs, name):
    rec = _Recorder()
    with pytest.raises(ValueError, match=f"^{name}"):
        rec.run(**kwargs)
    assert rec.chunks == []  # nothing trained


# ------------------------------------------------------------------------------------
# Divergence: stop at the first non-finite loss or parameter, one clear message
# ------------------------------------------------------------------------------------
def _divergent_fit(model, X, y, **kwargs):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning reaches the user
        return model.fit(X, y, progress=False, **kwargs)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba not installed"))])
def test_divergence_stops_with_one_message(backend):
    from nablanet import TrainingDiverged

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3)) * 100
    y = rng.standard_normal((40, 1)) * 100
    net = Network([3, 8, 1], activation="relu", output_activation="identity", seed=0,
                  optimizer=SGD(50.0))
    with pytest.raises(TrainingDiverged, match=r"^training diverged at epoch 1 \(loss "
                       r"(nan|inf)\); lower the learning rate$"):
        _divergent_fit(net, X, y, epochs=5, batch_size=4, backend=backend)
    assert issubclass(TrainingDiverged, ValueError)


def test_divergence_is_caught_on_epochs_that_are_not_evaluated():
    from nablanet import RNN, TrainingDiverged

    rng = np.random.default_rng(1)
    X = rng.standard_normal((12, 4, 2)) * 50
    Y = rng.standard_normal((12, 4, 1)) * 50
    model = RNN(2, 6, 1, activation="relu", optimizer=SGD(10.0), seed=0)
    with pytest.raises(TrainingDiverged, match=r"epoch 1 \(loss nan\)"):
        _divergent_fit(model, X, Y, epochs=4, batch_size=3, eval_every=4,
                       backend="numpy")
