"""Shared gradient check: a layer's backward pass against central finite differences.

``check_layer(layer, X)`` uses the scalar loss ``L = sum(R * forward(X))`` with a fixed
random ``R``, so ``dL/dY = R``; it compares every parameter gradient and ``dL/dX`` with
``(L(p + h) - L(p - h)) / 2h`` element by element (float64).
"""

from __future__ import annotations

import numpy as np


def numeric_grad(f, p: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central differences of the scalar ``f()`` with respect to the array ``p`` (in place)."""
    g = np.zeros_like(p)
    it = np.nditer(p, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = p[i]
        p[i] = old + h
        up = f()
        p[i] = old - h
        down = f()
        p[i] = old
        g[i] = (up - down) / (2 * h)
    return g


def check_layer(layer, X: np.ndarray, *, training: bool = False, rtol: float = 1e-6,
                atol: float = 1e-8, seed: int = 0) -> None:
    """Assert that ``layer.backward`` matches finite differences for ``X``."""
    X = np.array(X, dtype=np.float64)
    layer.allocate(X.shape)
    Y = layer.forward(X, training)
    R = np.random.default_rng(seed).standard_normal(Y.shape)

    def loss() -> float:
        return float((R * layer.forward(X, training)).sum())

    layer.forward(X, training)
    dX = layer.backward(R.copy())
    analytic = [g.copy() for g in layer.grads]
    dX = None if dX is None else dX.copy()
    for name, p, g in zip(layer.param_names, layer.params(), analytic, strict=True):
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=rtol, atol=atol,
                                   err_msg=f"{type(layer).__name__}.{name}")
    if dX is not None:
        np.testing.assert_allclose(dX, numeric_grad(loss, X), rtol=rtol, atol=atol,
                                   err_msg=f"{type(layer).__name__} dL/dX")


class FixedDraws:
    """Stands in for a Dropout layer's Generator: every ``random`` call writes ``u`` (a
    fixed mask), so that a dropped layer's gradient can be checked by differences."""

    def __init__(self, u):
        self.u = u

    def random(self, *, out, dtype):
        out[...] = self.u[:len(out)]
        return out
