"""Activations: forward against the plain formulas, in-place aliasing, backward against
finite differences of forward, extreme inputs, the registry."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nablanet.activations import ACTIVATIONS, Activation, get_activation

NAMES = ["sigmoid", "tanh", "relu", "identity", "softmax"]


def _reference(name, z):
    """The textbook formula, written out with no tricks (moderate inputs only)."""
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    if name == "tanh":
        return (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z))
    if name == "relu":
        return np.where(z > 0, z, 0.0)
    if name == "identity":
        return z.copy()
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _z(seed=0, shape=(4, 3, 5)):
    z = 2.0 * np.random.default_rng(seed).standard_normal(shape)
    return np.where(np.abs(z) < 1e-2, 0.5, z)  # away from relu's kink


@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_formula(name):
    z = _z()
    z0 = z.copy()
    out = np.empty_like(z)
    result = ACTIVATIONS[name].forward(z, out)
    assert result is out
    np.testing.assert_allclose(out, _reference(name, z), rtol=1e-13, atol=1e-15)
    np.testing.assert_array_equal(z, z0)  # input untouched


@pytest.mark.parametrize("name", NAMES)
def test_forward_in_place(name):
    z = _z(1)
    expected = _reference(name, z)
    result = ACTIVATIONS[name].forward(z, z)
    assert result is z
    np.testing.assert_allclose(z, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_call_allocates_and_keeps_dtype(name, dtype):
    z = _z(2).astype(dtype)
    z0 = z.copy()
    a = ACTIVATIONS[name](z)
    assert a is not z and a.dtype == dtype and a.shape == z.shape
    np.testing.assert_array_equal(z, z0)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(a, _reference(name, z0.astype(np.float64)), rtol=tol, atol=tol)


def test_call_on_integers_gives_floats():
    a = ACTIVATIONS["sigmoid"](np.array([0, 2]))
    assert np.issubdtype(a.dtype, np.floating)
    np.testing.assert_allclose(a, [0.5, 1 / (1 + np.exp(-2))], rtol=1e-14)


def test_softmax_rows_sum_to_one_and_shift_invariance():
    z = _z(3)
    a = ACTIVATIONS["softmax"](z)
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(ACTIVATIONS["softmax"](z + 123.0), a, rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_backward_matches_finite_differences(name):
    """backward(a, g) is the vector-Jacobian product g^T df/dz; check it as the gradient
    of the scalar sum(g * f(z)) by central differences."""
    act = ACTIVATIONS[name]
    z = _z(4, shape=(3, 4))
    g = np.random.default_rng(5).standard_normal(z.shape)
    a = act(z)
    grad = g.copy()
    result = act.backward(a, grad, np.empty_like(z))
    assert result is grad  # in place
    eps = 1e-6
    numeric = np.empty_like(z)
    for i in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[i] += eps
        zm[i] -= eps
        numeric[i] = (np.sum(g * act(zp)) - np.sum(g * act(zm))) / (2 * eps)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_backward_is_jacobian_transpose_product():
    """The explicit Jacobian diag(a) - a a^T, row by row."""
    act = ACTIVATIONS["softmax"]
    z = _z(6, shape=(2, 4))
    g = np.random.default_rng(7).standard_normal(z.shape)
    a = act(z)
    grad = act.backward(a, g.copy(), np.empty_like(z))
    for r in range(z.shape[0]):
        jac = np.diag(a[r]) - np.outer(a[r], a[r])
        np.testing.assert_allclose(grad[r], jac.T @ g[r], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("name", "a", "expected"),
    [("sigmoid", [0.5, 0.0, 1.0, 0.25], [0.25, 0.0, 0.0, 0.1875]),
     ("tanh", [0.0, 0.5, -1.0], [1.0, 0.75, 0.0]),
     ("relu", [0.0, 2.0, 0.5], [0.0, 1.0, 1.0]),
     ("identity", [-3.0, 7.0], [1.0, 1.0])])
def test_derivative_from_output_known_values(name, a, expected):
    a = np.array(a)
    grad = ACTIVATIONS[name].backward(a, np.ones_like(a), np.empty_like(a))
    np.testing.assert_allclose(grad, expected, rtol=1e-15)


def test_extreme_inputs_no_warnings():
    z = np.array([[1000.0, -1000.0, 0.0]])
    with warnings.catch_warnings(), np.errstate(over="raise", invalid="raise", divide="raise"):
        warnings.simplefilter("error")
        s = ACTIVATIONS["sigmoid"](z)
        t = ACTIVATIONS["tanh"](z)
        sm = ACTIVATIONS["softmax"](z)
        ds = ACTIVATIONS["sigmoid"].backward(s, np.ones_like(z), np.empty_like(z))
        z32 = z.astype(np.float32)
        s32 = ACTIVATIONS["sigmoid"].forward(z32, z32)
    np.testing.assert_array_equal(s, [[1.0, 0.0, 0.5]])
    np.testing.assert_array_equal(t, [[1.0, -1.0, 0.0]])
    np.testing.assert_array_equal(sm, [[1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(ds, [[0.0, 0.0, 0.25]])
    np.testing.assert_array_equal(s32, [[1.0, 0.0, 0.5]])


def test_get_activation():
    for name in NAMES:
        act = get_activation(name)
        assert isinstance(act, Activation) and act.name == name
    act = ACTIVATIONS["tanh"]
    assert get_activation(act) is act


@pytest.mark.parametrize("bad", ["softplus", "Sigmoid", "", None, 1])
def test_get_activation_unknown(bad):
    with pytest.raises(ValueError, match=r"activation: expected one of \[.*'sigmoid'"):
        get_activation(bad)
