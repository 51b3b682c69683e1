"""``fit``'s fixed cost is bounded, proved by counting instead of timing: the data
fingerprint reads a bounded number of rows, and the training metrics come from the
training pass (no second forward pass over the training data per epoch)."""

import logging

import numpy as np
import pytest

from nablanet import SGD, Network
from nablanet.models.training_state import FINGERPRINT_ROWS, data_fingerprint


class _CountingRows:
    """An array-like that counts the rows read through indexing."""

    def __init__(self, array):
        self.array, self.rows_read = array, 0
        self.shape, self.dtype = array.shape, array.dtype

    def __len__(self):
        return len(self.array)

    def __getitem__(self, key):
        out = self.array[key]
        self.rows_read += len(out) if out.ndim == self.array.ndim else 1
        return out


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.standard_normal((n, 4)) * 0.3 + np.eye(3, 4)[y] * 2.0
    return X, y


@pytest.mark.parametrize("n", [10, FINGERPRINT_ROWS, 50_000])
def test_the_fingerprint_reads_at_most_a_bounded_number_of_rows(n):
    X = _CountingRows(np.zeros((n, 3)))
    T = _CountingRows(np.zeros((n, 2)))
    W = _CountingRows(np.ones((n, 5)))
    fingerprint = data_fingerprint((X, T, W))
    assert X.rows_read == T.rows_read == W.rows_read == min(n, FINGERPRINT_ROWS)
    assert fingerprint["rows"] == min(n, FINGERPRINT_ROWS) and fingerprint["n"] == n


def test_the_fingerprint_tells_apart_what_a_resume_must_refuse():
    X, y = _data(2000)
    T = np.eye(3)[y]
    base = data_fingerprint((X, T, None))
    assert data_fingerprint((X.copy(), T.copy(), None)) == base  # the same data again
    rows = np.unique(np.linspace(0, len(X) - 1, FINGERPRINT_ROWS).round().astype(int))
    other = X.copy()
    other[rows[7], 2] += 1e-12  # one value of one sampled row
    shuffled = np.random.default_rng(1).permutation(len(X))
    for changed in [(other, T, None), (X[shuffled], T[shuffled], None),
                    (X, T[::-1].copy(), None), (X[:-1], T[:-1], None),
                    (X.astype(np.float32), T, None), (X, T, np.ones(len(X)))]:
        assert data_fingerprint(changed) != base
    # the inputs are hashed as the model's dtype: integer pixels and their float values agree
    pixels = np.arange(40, dtype=np.uint8).reshape(10, 4)
    assert data_fingerprint((pixels, T[:10], None), np.float64) == \
        data_fingerprint((pixels.astype(np.float64), T[:10], None), np.float64)


def test_resuming_on_other_data_of_the_same_shape_is_refused():
    X, y = _data()
    net = Network([4, 5, 3], seed=0, optimizer=SGD(0.5))
    net.fit(X, y, epochs=1, batch_size=10, progress=False)
    with pytest.raises(ValueError, match="not the data the run being resumed"):
        net.fit(X[::-1], y[::-1], epochs=2, initial_epoch=1, batch_size=10, progress=False)
    net.fit(X, y, epochs=2, initial_epoch=1, batch_size=10, progress=False)  # the same: fine


class _ForwardCounter:
    """Counts the rows the first layer's forward pass sees, training and evaluating."""

    def __init__(self, layer):
        self.rows = {True: 0, False: 0}
        inner = layer.forward

        def forward(X, training=False):
            self.rows[training] += len(X)
            return inner(X, training)

        layer.forward = forward


@pytest.mark.parametrize("monitor, extra_passes", [(True, 0), (False, 0), ("full", 1)])
def test_training_metrics_take_no_second_forward_pass_over_the_training_data(
        monitor, extra_passes):
    X, y = _data(300)
    Xv, yv = _data(50, seed=1)
    net = Network([4, 6, 3], seed=0, optimizer=SGD(0.5))
    count = _ForwardCounter(net.layers[0])
    epochs = 3
    history = net.fit(X, y, epochs=epochs, batch_size=10, validation_data=(Xv, yv),
                      monitor_training=monitor, backend="numpy", progress=False)
    assert count.rows[True] == epochs * len(X)  # the training pass
    assert count.rows[False] == epochs * (len(Xv) + extra_passes * len(X))
    assert ("train_loss" in history.epochs[-1]) == bool(monitor)


def test_the_running_training_metrics_are_those_of_the_training_pass():
    X, y = _data(120)
    net = Network([4, 6, 3], seed=0, optimizer=SGD(0.5), output_activation="softmax",
                  loss="cross_entropy")
    before = net.evaluate(X, y)
    # one mini-batch of every sample: the epoch's running metrics are the metrics of
    # the weights before its one step
    history = net.fit(X, y, epochs=1, batch_size=len(X), backend="numpy", progress=False)
    assert history["train_loss"][0] == pytest.approx(before["loss"], rel=1e-12)
    assert history["train_accuracy"][0] == before["accuracy"]
    assert history["train_correct"][0] == before["correct"]
    after = net.evaluate(X, y)
    assert history["train_loss"][0] != pytest.approx(after["loss"], rel=1e-6)


def test_monitor_training_takes_true_false_or_full():
    X, y = _data(40)
    with pytest.raises(ValueError, match="monitor_training"):
        Network([4, 3], seed=0).fit(X, y, epochs=1, monitor_training="some", progress=False)


def test_the_book_sgd_prints_the_books_line(caplog):
    X, y = _data(100)
    net = Network([4, 6, 3], seed=0)
    with caplog.at_level(logging.INFO, logger="nablanet"):
        history = net.SGD((X, y), 2, 10, 3.0, test_data=(X[:30], y[:30]), progress=False)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Epoch")]
    assert [line.split(" | ")[0].rsplit(" (", 1)[0] for line in lines] == \
        [f"Epoch {e}: {c} / 30" for e, c in enumerate(history["val_correct"])]
    assert "train_loss" not in history.epochs[-1]  # the book's SGD monitors no training cost
