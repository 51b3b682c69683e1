"""Recurrent models as a user meets them: fit, predict, the update rule, input checks,
and the vanilla RNN on the real JapaneseVowels data."""

from __future__ import annotations

import importlib.util
import re

import numpy as np
import pytest

from nablanet import GRU, LSTM, RNN, SGD, Adam
from nablanet.datasets.sequences import pad, read_sequence_csv
from nablanet.preprocessing import MinMaxScaler

BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    importlib.util.find_spec("numba") is None, reason="numba not installed"))]


def _sign_task(n=64, T=6, seed=0, ragged=True):
    """Sequences of +-1 (and 0 after the valid steps); the target is whether the sum
    of the valid steps is positive: at the last step, and the running sum at each step."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(3, T + 1, n) if ragged else np.full(n, T)
    lengths[0] = T
    mask = np.arange(T) < lengths[:, None]
    X = rng.choice([-1.0, 1.0], (n, T, 1)) * mask[..., None]
    running = np.cumsum(X[..., 0], axis=1)
    last = (running[np.arange(n), lengths - 1] > 0).astype(np.float64)
    every = (running > 0).astype(np.float64)[..., None]
    return X, mask, last, every


# ------------------------------------------------------------------------------------
# Learning
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 16])
@pytest.mark.parametrize("target", ["last", "every"])
def test_rnn_fit_learns_the_sign_of_a_sum(batch_size, target):
    X, mask, last, every = _sign_task()
    Y = last if target == "last" else every
    model = RNN(1, 8, 1, output_activation="sigmoid", loss="binary_cross_entropy",
                target=target, optimizer=Adam(0.02), seed=0)
    before = model.loss_value(X, Y, mask)
    history = model.fit(X, Y, mask, epochs=40 if batch_size == 1 else 120,
                        batch_size=batch_size, eval_every=10, progress=False,
                        monitor_training="full")  # the final model's, as predict
    after = model.loss_value(X, Y, mask)
    assert after < 0.5 * before
    assert history["train_loss"][-1] < history["train_loss"][0]
    pred = model.predict(X, mask)
    if target == "last":
        accuracy = np.mean(pred[:, 0] == Y)
    else:
        accuracy = np.mean(pred[mask][:, 0] == Y[mask][:, 0])
    assert accuracy >= 0.9
    assert history["train_accuracy"][-1] == pytest.approx(accuracy)


@pytest.mark.parametrize("cls", [LSTM, GRU])
def test_gated_cells_reduce_the_loss(cls):
    X, mask, last, _ = _sign_task(n=32)
    model = cls(1, 6, 1, output_activation="sigmoid", loss="binary_cross_entropy",
                target="last", num_layers=2, optimizer=Adam(0.02), seed=1)
    before = model.loss_value(X, last, mask)
    model.fit(X, last, mask, epochs=30, batch_size=8, monitor_training=False,
              progress=False)
    assert model.loss_value(X, last, mask) < 0.6 * before


def test_regression_of_the_mean():
    rng = np.random.default_rng(2)
    X = rng.random((48, 5, 2))
    Y = X.mean(axis=(1, 2))[:, None]
    model = RNN(2, 8, 1, target="last", optimizer=Adam(0.01), seed=0)
    before = model.loss_value(X, Y)
    history = model.fit(X, Y, epochs=60, batch_size=8, eval_every=60, progress=False,
                        monitor_training="full")  # the final model's, as predict
    assert model.loss_value(X, Y) < 0.1 * before
    rmse = np.sqrt(np.mean((model.predict(X) - Y) ** 2))
    assert history["train_rmse"][-1] == pytest.approx(rmse)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("target", "batch_size"), [("every", 1), ("last", 1), ("last", 4),
                                                   ("every", 5)])
def test_one_epoch_is_plain_sgd_on_the_batch_gradients(backend, target, batch_size):
    """``fit`` with SGD and no shuffling moves the parameters by ``-lr`` times the mean
    gradient of each consecutive mini-batch (batch size 1: the seed's one sequence per
    update); the last mini-batch may be smaller. Against ``gradients`` (checked by finite
    differences in test_rnn_gradients.py), on both backends."""
    rng = np.random.default_rng(3)
    n, T, lr = 13, 5, 0.3
    X = rng.standard_normal((n, T, 2))
    lengths = rng.integers(1, T + 1, n)
    mask = np.arange(T) < lengths[:, None]
    Y = rng.random((n, T, 1) if target == "every" else (n, 1))
    model = RNN(2, 4, 1, target=target, optimizer=SGD(lr), seed=5)
    reference = RNN(2, 4, 1, target=target, seed=5)
    model.fit(X, Y, mask, epochs=1, batch_size=batch_size, shuffle=False, backend=backend,
              monitor_training=False, progress=False)
    for start in range(0, n, batch_size):
        part = slice(start, start + batch_size)
        for p, g in zip(reference.params(), reference.gradients(X[part], Y[part], mask[part]),
                        strict=True):
            p -= lr * g
    for a, b in zip(model.params(), reference.params(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)


def test_same_seed_same_model_bit_for_bit():
    X, mask, last, _ = _sign_task(n=20)

    def trained(seed):
        model = RNN(1, 5, 1, output_activation="sigmoid", target="last", seed=seed,
                    optimizer=SGD(0.1))
        model.fit(X, last, mask, epochs=3, batch_size=3, progress=False)
        return model

    a, b, c = trained(1), trained(1), trained(2)
    for p, q in zip(a.params(), b.params(), strict=True):
        assert p.tobytes() == q.tobytes()
    assert not np.array_equal(a.params()[0], c.params()[0])


# ------------------------------------------------------------------------------------
# Outputs
# ------------------------------------------------------------------------------------
def _by_hand(model: RNN, x: np.ndarray) -> np.ndarray:
    """Outputs at every step of one unpadded sequence ``x (T, F)`` of a one-layer tanh
    RNN: h_t = tanh(x_t W_x + h_{t-1} W_h + b), y_t = g(h_t W_y + b_y)."""
    cell = model.cells[0]
    h = np.zeros(model.n_hidden)
    out = []
    for xt in x:
        h = np.tanh(xt @ cell.W_x + h @ cell.W_h + cell.b)
        z = h @ model.W_y + model.b_y
        name = model.output_activation.name
        if name == "sigmoid":
            z = 1 / (1 + np.exp(-z))
        elif name == "softmax":
            z = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        out.append(z)
    return np.array(out)


OUTPUT_KINDS = [("identity", "mse"), ("sigmoid", "binary_cross_entropy"),
                ("softmax", "cross_entropy")]


@pytest.mark.parametrize(("output", "loss"), OUTPUT_KINDS)
@pytest.mark.parametrize("target", ["every", "last"])
def test_predict_shapes_and_values(output, loss, target):
    rng = np.random.default_rng(4)
    n, T, F, L = 5, 7, 3, 4
    X = rng.standard_normal((n, T, F))
    lengths = np.array([7, 3, 1, 5, 6])
    mask = np.arange(T) < lengths[:, None]
    model = RNN(F, 6, L, output_activation=output, loss=loss, target=target, seed=3)
    for p in model.params():  # non-zero biases
        p += 0.1 * rng.standard_normal(p.shape)
    proba = model.predict_proba(X, mask)
    pred = model.predict(X, mask)
    if target == "every":
        assert proba.shape == (n, T, L)
        assert np.all(proba[~mask] == 0.0)  # zeros on padded steps
    else:
        assert proba.shape == (n, L)
    for i in range(n):
        expected = _by_hand(model, X[i, :lengths[i]])
        got = proba[i, :lengths[i]] if target == "every" else proba[i]
        np.testing.assert_allclose(got, expected if target == "every" else expected[-1],
                                   rtol=1e-10, atol=1e-12)
    if output == "softmax":
        assert pred.shape == proba.shape[:-1] and pred.dtype.kind == "i"
        np.testing.assert_array_equal(pred, proba.argmax(-1))
        np.testing.assert_allclose(proba[mask].sum(-1) if target == "every"
                                   else proba.sum(-1), 1.0)
    elif output == "sigmoid":
        assert pred.shape == proba.shape and pred.dtype.kind == "i"
        np.testing.assert_array_equal(pred, (proba >= 0.5).astype(int))
        np.testing.assert_array_equal(model.predict(X, mask, threshold=0.9),
                                      (proba >= 0.9).astype(int))
    else:
        np.testing.assert_array_equal(pred, proba)


def test_predict_without_mask_uses_every_step():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((3, 4, 2))
    model = RNN(2, 3, 2, target="last", seed=0)
    np.testing.assert_array_equal(model.predict_proba(X),
                                  model.predict_proba(X, np.ones((3, 4), bool)))
    np.testing.assert_allclose(model.predict_proba(X)[1], _by_hand(model, X[1])[-1],
                               rtol=1e-10)
    # one feature: X may be given as (n, T)
    one = RNN(1, 3, 1, seed=0)
    np.testing.assert_array_equal(one.predict_proba(X[..., 0]),
                                  one.predict_proba(X[..., :1]))


def test_labels_may_be_given_per_step_for_target_last():
    """JapaneseVowels stores the class at every step; a many-to-one model reads the
    label of each sequence's last valid step."""
    rng = np.random.default_rng(8)
    X = rng.standard_normal((4, 5, 2))
    mask = np.arange(5) < np.array([5, 2, 3, 4])[:, None]
    labels = np.array([0, 2, 1, 2])
    per_step = np.repeat(labels[:, None], 5, axis=1).astype(np.float64)
    per_step[~mask] = 99  # garbage on padded steps is never read
    model = RNN(2, 3, 3, output_activation="softmax", loss="cross_entropy", target="last",
                seed=0)
    assert model.loss_value(X, per_step, mask) == model.loss_value(X, labels, mask)
    for a, b in zip(model.gradients(X, per_step[..., None], mask),
                    model.gradients(X, np.eye(3)[labels], mask), strict=True):
        np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------------------
# Input validation
# ------------------------------------------------------------------------------------
def _fit(model=None, X=None, Y=None, mask=None, **kwargs):
    rng = np.random.default_rng(0)
    model = model or RNN(2, 3, 3, output_activation="softmax", loss="cross_entropy",
                         target="last", seed=0)
    X = rng.standard_normal((4, 5, 2)) if X is None else X
    Y = np.array([0, 1, 2, 1]) if Y is None else Y
    kwargs.setdefault("progress", False)
    return model.fit(X, Y, mask, epochs=1, **kwargs)


def _nan_x():
    X = np.zeros((4, 5, 2))
    X[2, 1, 0] = np.nan
    return X


MASK_GAP = np.array([[1, 1, 1, 1, 1], [1, 0, 1, 0, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]],
                    dtype=bool)
MASK_EMPTY = np.array([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]],
                      dtype=bool)
MASK_RIGHT = np.array([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]],
                      dtype=bool)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"mask": MASK_GAP}, "mask"),           # valid steps must come first, without gaps
    ({"mask": MASK_RIGHT}, "mask"),         # right-aligned (pre-padded) sequences
    ({"mask": MASK_EMPTY}, "mask"),         # a zero-length sequence
    ({"mask": np.ones((4, 4), bool)}, "mask"),
    ({"X": np.zeros((4, 5, 3))}, "X"),
    ({"X": np.zeros((4, 5))}, "X"),
    ({"X": np.zeros((4, 0, 2))}, "X"),
    ({"X": np.zeros((0, 5, 2)), "Y": np.zeros(0)}, "X"),
    ({"X": _nan_x()}, "X"),
    ({"Y": np.array([0, 1, 3, 1])}, "Y"),   # label out of range for 3 classes
    ({"Y": np.array([0, 1, -1, 1])}, "Y"),
    ({"Y": np.array([0, 1, 2])}, "Y"),      # one label short
    ({"Y": np.zeros((4, 2))}, "Y"),         # one-hot rows of the wrong width
    ({"batch_size": 5}, "batch_size"),
    ({"batch_size": 0}, "batch_size"),
    ({"validation_data": (np.zeros((2, 5, 3)), np.array([0, 1]))}, "validation_data"),
])
def test_fit_input_errors(kwargs, name):
    with pytest.raises(ValueError, match=f"^{re.escape(name)}"):
        _fit(**kwargs)


def test_target_every_needs_a_label_per_step():
    model = RNN(2, 3, 1, target="every", seed=0)
    X = np.zeros((4, 5, 2))
    with pytest.raises(ValueError, match=r"^Y"):
        model.fit(X, np.zeros((4, 1)), epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"^Y"):
        model.fit(X, np.zeros((4, 6, 1)), epochs=1, progress=False)
    binary = RNN(2, 3, 1, output_activation="sigmoid", target="last", seed=0)
    with pytest.raises(ValueError, match=r"^Y"):
        binary.fit(X, np.zeros((4, 2)), epochs=1, progress=False)


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"n_inputs": 0}, "n_inputs"),
    ({"n_hidden": 0}, "n_hidden"),
    ({"n_outputs": -1}, "n_outputs"),
    ({"n_hidden": 2.5}, "n_hidden"),
    ({"num_layers": 0}, "num_layers"),
    ({"layers": 0}, "layers"),                      # the deprecated alias is named
    ({"target": "first"}, "target"),
    ({"dtype": np.int64}, "dtype"),
    ({"loss": "cross_entropy"}, "loss"),            # needs softmax outputs
    ({"output_activation": "bogus"}, "activation"),
    ({"activation": "softmax"}, "activation"),       # an output activation only
])
@pytest.mark.filterwarnings("ignore:layers=:DeprecationWarning")
def test_constructor_errors(kwargs, name):
    args = {"n_inputs": 2, "n_hidden": 3, "n_outputs": 2, **kwargs}
    with pytest.raises(ValueError, match=f"^{name}"):
        RNN(args.pop("n_inputs"), args.pop("n_hidden"), args.pop("n_outputs"), **args)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_layers_is_a_deprecated_alias_of_num_layers(cls):
    with pytest.warns(DeprecationWarning, match="num_layers") as record:
        old = cls(2, 3, 1, layers=2, seed=0)
    assert record[0].filename == __file__  # the warning points at the caller
    new = cls(2, 3, 1, num_layers=2, seed=0)
    assert old.num_layers == 2 and old.get_config() == new.get_config()
    for p, q in zip(old.params(), new.params(), strict=True):
        assert p.tobytes() == q.tobytes()


def test_predict_input_errors():
    model = RNN(2, 3, 1, seed=0)
    with pytest.raises(ValueError, match=r"^X"):
        model.predict(np.zeros((3, 4, 5)))
    with pytest.raises(ValueError, match=r"^mask"):
        model.predict(np.zeros((2, 4, 2)), MASK_GAP[:2, :4])
    with pytest.raises(ValueError, match=r"^X"):
        model.predict(np.full((2, 4, 2), np.inf))


@pytest.mark.parametrize("pad", [np.nan, -0.0, 3.0])
@pytest.mark.parametrize("target", ["last", "every"])
def test_non_finite_values_on_padded_steps_are_harmless(target, pad):
    """Validation accepts NaN on padded steps (only valid steps must be finite), so a
    batch padded with NaN (or -0.0, or any number) must train and predict exactly as one
    padded with zeros."""
    rng = np.random.default_rng(9)
    X = rng.standard_normal((4, 5, 2))
    mask = np.arange(5) < np.array([5, 2, 3, 4])[:, None]
    zero_padded = np.where(mask[..., None], X, 0.0)
    nan_padded = np.where(mask[..., None], X, pad)
    Y = rng.random((4, 5, 1) if target == "every" else (4, 1))
    model = RNN(2, 3, 1, target=target, seed=0)
    np.testing.assert_array_equal(model.predict_proba(nan_padded, mask),
                                  model.predict_proba(zero_padded, mask))
    for a, b in zip(model.gradients(nan_padded, Y, mask),
                    model.gradients(zero_padded, Y, mask), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # an overflowing sum warns nothing
def test_the_finite_check_takes_huge_finite_values_and_leaves_the_inputs_alone():
    """The check sums the inputs first (no copy): a sum that overflows to infinity from
    finite values must not be taken for a non-finite value; padding that is not zeros
    is zeroed in a copy, never in the caller's array."""
    mask = np.arange(5) < np.array([5, 2, 3, 4])[:, None]
    model = RNN(2, 3, 1, seed=0)
    huge = np.where(mask[..., None], np.full((4, 5, 2), 1e308), 0.0)  # the sum overflows
    with np.errstate(over="ignore"):
        assert np.isinf(huge.sum())
    assert np.isfinite(model.predict_proba(huge, mask)).all()
    X = np.where(mask[..., None], np.random.default_rng(0).standard_normal((4, 5, 2)), 7.0)
    before = X.copy()
    model.fit(X, np.ones((4, 5, 1)), mask, epochs=1, progress=False, backend="numpy")
    np.testing.assert_array_equal(X, before)


# ------------------------------------------------------------------------------------
# Real data: JapaneseVowels (speaker of a vowel from 7-29 frames of 12 coefficients)
# ------------------------------------------------------------------------------------
def test_vanilla_rnn_on_japanese_vowels(japanese_vowels):
    train_csv, test_csv = japanese_vowels
    train, test = read_sequence_csv(train_csv), read_sequence_csv(test_csv)
    assert (len(train), len(test)) == (270, 370)
    scaler = MinMaxScaler().fit(train)  # fitted on the training sequences only
    X_train, M_train = pad(scaler.transform(train).features)
    X_test, M_test = pad(scaler.transform(test).features)
    y_train = np.array([labels[-1, 0] for labels in train.labels], dtype=np.int64)
    y_test = np.array([labels[-1, 0] for labels in test.labels], dtype=np.int64)
    model = RNN(12, 32, 9, output_activation="softmax", loss="cross_entropy", target="last",
                optimizer=Adam(0.005), seed=1)
    history = model.fit(X_train, y_train, M_train, epochs=80, batch_size=8,
                        validation_data=(X_test, y_test, M_test), eval_every=20,
                        progress=False)
    accuracy = float(np.mean(model.predict(X_test, M_test) == y_test))
    assert accuracy >= 0.85, f"test accuracy {accuracy:.3f}"
    assert history["val_accuracy"][-1] == pytest.approx(accuracy)
