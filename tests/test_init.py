"""Weight initialisers: shapes, dtypes, the distributions' statistics, orthogonality,
reproducibility from the seed, the registry."""

from __future__ import annotations

import numpy as np
import pytest

from nablanet.init import INITIALIZERS, get_initializer

NAMES = ["normal", "scaled_normal", "glorot", "he", "orthogonal"]


def _draw(name, n_in, n_out, dtype=np.float64, seed=0):
    return get_initializer(name)(np.random.default_rng(seed), n_in, n_out, dtype)


def test_registry_has_the_documented_initialisers():
    assert sorted(INITIALIZERS) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n_in", "n_out"), [(7, 3), (3, 7), (5, 5), (1, 4)])
def test_shape_and_dtype(name, dtype, n_in, n_out):
    w = _draw(name, n_in, n_out, dtype)
    assert w.shape == (n_in, n_out)
    assert w.dtype == dtype
    assert np.isfinite(w).all()
    assert len(np.unique(w)) > 1  # random, not constant


@pytest.mark.parametrize(
    ("name", "n_in", "n_out", "std"),
    [("normal", 300, 400, 1.0),
     ("scaled_normal", 400, 300, 1 / np.sqrt(400)),
     ("he", 250, 400, np.sqrt(2 / 250)),
     ("glorot", 300, 500, np.sqrt(6 / 800) / np.sqrt(3))])  # uniform(-l, l): std l/sqrt 3
def test_statistics(name, n_in, n_out, std):
    w = _draw(name, n_in, n_out, seed=1)
    n = w.size  # 100k+ draws: standard error of the mean std/sqrt(n) ~ 0.003 std
    assert abs(w.mean()) < 5 * std / np.sqrt(n)
    assert w.std() == pytest.approx(std, rel=0.01)


def test_normal_is_gaussian_not_uniform():
    w = _draw("normal", 400, 500, seed=2)
    # P(|x| > 2) = 4.55 % for N(0, 1); excess kurtosis 0 (uniform: -1.2)
    assert (np.abs(w) > 2).mean() == pytest.approx(0.0455, abs=0.003)
    kurtosis = (w**4).mean() / (w**2).mean() ** 2 - 3
    assert abs(kurtosis) < 0.05


def test_glorot_bounds_and_uniformity():
    n_in, n_out = 200, 600
    limit = np.sqrt(6.0 / (n_in + n_out))
    w = _draw("glorot", n_in, n_out, seed=3)
    assert np.abs(w).max() <= limit
    assert w.max() > 0.99 * limit and w.min() < -0.99 * limit  # fills the interval
    hist, _ = np.histogram(w, bins=10, range=(-limit, limit))
    np.testing.assert_allclose(hist / w.size, 0.1, atol=0.005)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n_in", "n_out"), [(8, 8), (9, 4), (4, 9), (1, 6), (6, 1)])
def test_orthogonal(n_in, n_out, dtype):
    w = _draw("orthogonal", n_in, n_out, dtype, seed=4).astype(np.float64)
    tol = 1e-6 if dtype == np.float32 else 1e-12
    if n_in >= n_out:  # orthonormal columns: W^T W = I
        np.testing.assert_allclose(w.T @ w, np.eye(n_out), atol=tol)
    if n_in <= n_out:  # orthonormal rows: W W^T = I
        np.testing.assert_allclose(w @ w.T, np.eye(n_in), atol=tol)


def test_orthogonal_square_preserves_norms():
    w = _draw("orthogonal", 16, 16, seed=5)
    x = np.random.default_rng(6).standard_normal((10, 16))
    np.testing.assert_allclose(np.linalg.norm(x @ w, axis=1), np.linalg.norm(x, axis=1),
                               rtol=1e-12)
    assert abs(abs(np.linalg.det(w)) - 1.0) < 1e-12


def test_orthogonal_is_not_always_the_same_matrix():
    a = _draw("orthogonal", 6, 6, seed=7)
    b = _draw("orthogonal", 6, 6, seed=8)
    assert not np.allclose(a, b)
    assert not np.allclose(np.abs(a), np.eye(6))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_seed_same_bits(name, dtype):
    saved = np.random.get_state()  # noqa: NPY002 - deliberately disturbing the legacy state
    try:
        np.random.seed(1)  # noqa: NPY002 - the global state must play no part
        a = _draw(name, 13, 9, dtype, seed=42)
        np.random.seed(2)  # noqa: NPY002
        np.random.standard_normal(10)  # noqa: NPY002
        b = _draw(name, 13, 9, dtype, seed=42)
    finally:
        np.random.set_state(saved)  # noqa: NPY002
    assert a.tobytes() == b.tobytes()
    c = _draw(name, 13, 9, dtype, seed=43)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", NAMES)
def test_draws_advance_the_generator(name):
    rng = np.random.default_rng(9)
    f = get_initializer(name)
    first, second = f(rng, 5, 4, np.float64), f(rng, 5, 4, np.float64)
    assert not np.array_equal(first, second)


@pytest.mark.parametrize("name", NAMES)
def test_float32_is_the_rounded_float64_draw(name):
    """float32 on request is the same draw, rounded: dtype never changes the stream."""
    w64 = _draw(name, 11, 6, np.float64, seed=10)
    w32 = _draw(name, 11, 6, np.float32, seed=10)
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


@pytest.mark.parametrize("bad", ["xavier", "Normal", "", None])
def test_unknown_name(bad):
    with pytest.raises(ValueError, match=r"^init: expected one of \[.*'glorot'"):
        get_initializer(bad)
