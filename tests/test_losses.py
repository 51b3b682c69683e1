"""Losses: values against the textbook formulas, deltas against finite differences of
the values, numerical stability at extreme logits, pairing checks, one_hot."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest

from nablanet.activations import ACTIVATIONS
from nablanet.losses import (
    LOSSES,
    BinaryCrossEntropy,
    CrossEntropy,
    Loss,
    Quadratic,
    get_loss,
    one_hot,
)


def _forward(act, z):
    return ACTIVATIONS[act].forward(z, np.empty_like(z))


def _delta(loss, act, z, y):
    a = _forward(act, z)
    return loss.delta(a, y, ACTIVATIONS[act], np.empty_like(z), np.empty_like(z))


def _cost(loss, act, z, y, mask=None):
    return loss.value(z, _forward(act, z), y, mask)


def _targets(loss_name, rng, shape):
    y = rng.random(shape)
    if loss_name == "cross_entropy":
        y /= y.sum(axis=-1, keepdims=True)  # probability rows
    return y


class _no_float_warnings:
    """Turn every warning and every NumPy floating-point error (except underflow,
    which is the correct result of exp(-1000)) into an exception."""

    def __enter__(self):
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("error")
        self._e = np.errstate(over="raise", divide="raise", invalid="raise", under="ignore")
        self._e.__enter__()

    def __exit__(self, *exc):
        self._e.__exit__(*exc)
        self._w.__exit__(*exc)


# ------------------------------------------------------------------------------------
# Values against the textbook formulas (moderate logits)
# ------------------------------------------------------------------------------------
def test_quadratic_value_is_half_squared_error_summed_over_rows():
    a = np.array([[0.5, 1.0], [2.0, -1.0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0]])
    # 0.5 * (0.25 + 0 + 1 + 4) = 2.625
    assert Quadratic().value(a, a, y) == pytest.approx(2.625, rel=1e-15)


def test_binary_cross_entropy_value_is_the_book_formula():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 3))
    y = rng.random((6, 3))
    a = 1.0 / (1.0 + np.exp(-z))
    expected = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))  # Nielsen eq. 63
    assert BinaryCrossEntropy().value(z, a, y) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_value_is_minus_log_likelihood():
    rng = np.random.default_rng(1)
    z = rng.standard_normal((6, 4))
    labels = rng.integers(0, 4, 6)
    y = np.eye(4)[labels]
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.log(a[np.arange(6), labels]).sum()  # Nielsen eq. 80
    assert CrossEntropy().value(z, a, y) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_known_value():
    # uniform logits over 4 classes: -ln(1/4) per row
    z = np.zeros((3, 4))
    y = np.eye(4)[[0, 1, 3]]
    assert CrossEntropy().value(z, z + 0.25, y) == pytest.approx(3 * np.log(4.0), rel=1e-14)


def test_cross_entropy_value_for_rows_not_summing_to_one():
    """C = -sum_k y_k ln a_k holds for any non-negative rows (an all-zero row costs 0,
    a row scaled by 2 costs twice as much)."""
    rng = np.random.default_rng(8)
    z = rng.standard_normal((3, 4))
    y = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 2.0, 0.0, 0.0], [0.3, 0.1, 0.2, 0.1]])
    a = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    expected = -np.sum(y * np.log(a))
    assert CrossEntropy().value(z, a, y) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("name", "act"), [("quadratic", "identity"), ("binary_cross_entropy", "sigmoid"),
                      ("cross_entropy", "softmax")])
def test_mask_selects_rows(name, act):
    """value(..., mask) sums exactly the rows where mask is True, for (n, T, L) rows."""
    rng = np.random.default_rng(2)
    loss = get_loss(name)
    z = rng.standard_normal((3, 5, 4))
    y = _targets(name, rng, z.shape)
    mask = rng.random((3, 5)) < 0.5
    mask[0, 0] = True
    masked = _cost(loss, act, z, y, mask)
    assert masked == pytest.approx(_cost(loss, act, z[mask], y[mask]), rel=1e-13)
    assert masked < _cost(loss, act, z, y)  # the other rows contribute something


# ------------------------------------------------------------------------------------
# delta = dC/dz, checked by central differences of value
# ------------------------------------------------------------------------------------
PAIRS = [
    ("quadratic", "identity"),
    ("quadratic", "sigmoid"),
    ("quadratic", "tanh"),
    ("quadratic", "relu"),
    ("mse", "softmax"),  # full softmax Jacobian through the backward VJP
    ("binary_cross_entropy", "sigmoid"),
    ("cross_entropy", "softmax"),
]


@pytest.mark.parametrize(("name", "act"), PAIRS)
def test_delta_matches_finite_differences(name, act):
    rng = np.random.default_rng(3)
    loss = get_loss(name)
    z = 1.5 * rng.standard_normal((4, 3))
    if act == "relu":  # keep away from the kink
        z = np.where(np.abs(z) < 0.1, 0.5, z)
    y = _targets(name, rng, z.shape)
    delta = _delta(loss, act, z, y)
    eps = 1e-6
    numeric = np.empty_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += eps
        zm[i] -= eps
        numeric[i] = (_cost(loss, act, zp, y) - _cost(loss, act, zm, y)) / (2 * eps)
    np.testing.assert_allclose(delta, numeric, rtol=1e-6, atol=1e-8)
    assert np.abs(delta).max() > 1e-3  # not trivially zero


def test_delta_writes_into_out_and_returns_it():
    rng = np.random.default_rng(4)
    z = rng.standard_normal((3, 2))
    y = rng.random((3, 2))
    for loss, act in ((Quadratic(), "tanh"), (BinaryCrossEntropy(), "sigmoid")):
        a = _forward(act, z)
        out = np.full_like(z, np.nan)
        result = loss.delta(a, y, ACTIVATIONS[act], out, np.empty_like(z))
        assert result is out
        assert np.isfinite(out).all()


# ------------------------------------------------------------------------------------
# Numerical stability at logits of +-1000
# ------------------------------------------------------------------------------------
def test_binary_cross_entropy_extreme_logits():
    z = np.array([[1000.0, -1000.0, 1000.0, -1000.0, 0.0]])
    y = np.array([[0.0, 1.0, 1.0, 0.0, 1.0]])
    loss = BinaryCrossEntropy()
    with _no_float_warnings():
        a = _forward("sigmoid", z)
        value = loss.value(z, a, y)
        delta = _delta(loss, "sigmoid", z, y)
    # two confident mistakes cost 1000 nats each, two confident hits cost 0, and
    # z = 0 with y = 1 costs ln 2
    assert value == pytest.approx(2000.0 + np.log(2.0), rel=1e-14)
    np.testing.assert_array_equal(delta, [[1.0, -1.0, 0.0, 0.0, -0.5]])


def test_cross_entropy_extreme_logits():
    z = np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    y = np.eye(3)[[0, 1, 2]]
    loss = CrossEntropy()
    with _no_float_warnings():
        a = _forward("softmax", z)
        value = loss.value(z, a, y)
        delta = _delta(loss, "softmax", z, y)
    # row 0: right with certainty (0); row 1: log-sum-exp 1000 minus z_1 = -1000 -> 2000;
    # row 2: right (0)
    assert value == pytest.approx(2000.0, rel=1e-14)
    np.testing.assert_array_equal(delta, [[0.0, 0.0, 0.0], [1.0, -1.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("act", ["sigmoid", "tanh", "identity"])
def test_quadratic_extreme_pre_activations(act):
    z = np.array([[1000.0, -1000.0]])
    y = np.array([[0.0, 1.0]])
    with _no_float_warnings():
        value = _cost(Quadratic(), act, z, y)
        delta = _delta(Quadratic(), act, z, y)
    assert np.isfinite(value)
    assert np.isfinite(delta).all()


# ------------------------------------------------------------------------------------
# Pairings, registry, errors
# ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "bad"),
    [("binary_cross_entropy", "identity"), ("binary_cross_entropy", "softmax"),
     ("binary_cross_entropy", "tanh"), ("cross_entropy", "sigmoid"),
     ("cross_entropy", "identity")])
def test_check_output_rejects_wrong_pairings(name, bad):
    with pytest.raises(ValueError, match=rf"{name}.*{bad}"):
        get_loss(name).check_output(ACTIVATIONS[bad])


@pytest.mark.parametrize(
    ("name", "good"),
    [("binary_cross_entropy", "sigmoid"), ("cross_entropy", "softmax")]
    + [("quadratic", a) for a in ACTIVATIONS])
def test_check_output_accepts_right_pairings(name, good):
    get_loss(name).check_output(ACTIVATIONS[good])  # does not raise


def test_get_loss_names_and_instances():
    assert isinstance(get_loss("mse"), Quadratic)
    assert isinstance(get_loss("quadratic"), Quadratic)
    assert isinstance(get_loss("binary_cross_entropy"), BinaryCrossEntropy)
    assert isinstance(get_loss("cross_entropy"), CrossEntropy)
    inst = CrossEntropy()
    assert get_loss(inst) is inst
    assert all(issubclass(c, Loss) for c in LOSSES.values())


@pytest.mark.parametrize("bad", ["hinge", "MSE", "", None, 3])
def test_get_loss_unknown_name(bad):
    with pytest.raises(ValueError, match="loss: expected one of"):
        get_loss(bad)


# ------------------------------------------------------------------------------------
# one_hot
# ------------------------------------------------------------------------------------
def test_one_hot_rows():
    y = one_hot([2, 0, 1, 2], 3)
    expected = [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    np.testing.assert_array_equal(y, expected)
    assert y.dtype == np.float64


def test_one_hot_any_shape_dtype_and_whole_floats():
    labels = np.array([[0.0, 3.0], [1.0, 2.0]])  # as read from a CSV file
    y = one_hot(labels, 4, dtype=np.float32)
    assert y.shape == (2, 2, 4) and y.dtype == np.float32
    np.testing.assert_array_equal(y.argmax(-1), labels.astype(int))
    np.testing.assert_array_equal(y.sum(-1), 1.0)


def test_one_hot_empty():
    assert one_hot(np.array([], dtype=np.int64), 3).shape == (0, 3)


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0], [5]])
def test_one_hot_out_of_range(labels):
    with pytest.raises(ValueError, match=r"^targets: expected class labels in 0\.\.2"):
        one_hot(labels, 3, name="targets")


@pytest.mark.parametrize("labels", [[0.5, 1.0], [1.0, 2.0000001], [np.nan]])
def test_one_hot_non_integer_floats(labels):
    with pytest.raises(ValueError, match=r"^y: expected integer class labels"):
        one_hot(np.array(labels), 3)


def test_one_hot_allocates_only_its_rows():
    # np.eye(n_classes)[labels] would allocate n_classes ** 2 floats (3.2 GB here).
    tracemalloc.start()
    try:
        y = one_hot([3, 19_999], 20_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert y.shape == (2, 20_000) and y[0, 3] == y[1, 19_999] == 1 and y.sum() == 2
    assert peak < 4 * y.nbytes


def test_one_hot_names_the_first_label_outside():
    with pytest.raises(ValueError, match=r"^Y: expected class labels in 0\.\.9 \(one per output\), "
                                         r"found 0\.\.1e\+09; the first outside is 1e\+09 at "
                                         r"index \(1, 0\)"):
        one_hot(np.array([[0.0, 2.0], [1e9, 3.0]]), 10, name="Y")
