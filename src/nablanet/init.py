"""Weight initialisers.

Each initialiser is ``f(rng, n_in, n_out, dtype) -> W`` with ``W`` of shape
``(n_in, n_out)`` (the layer computes ``X @ W``), drawn only from the given
``numpy.random.Generator``.

- ``normal``: N(0, 1), the book's chapter 1 ``network.py`` (Nielsen ch. 1).
- ``scaled_normal``: N(0, 1/n_in), ``network2.py``'s default (Nielsen ch. 3, "Weight
  initialization").
- ``glorot``: uniform on +-sqrt(6 / (n_in + n_out)) (Glorot & Bengio 2010, eq. 16).
- ``he``: N(0, 2/n_in) (He et al. 2015, eq. 10), for ReLU layers.
- ``orthogonal``: a random orthogonal matrix (Saxe et al. 2014), for recurrent weights.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nablanet.registry import get, names, register

__all__ = ["INITIALIZERS", "check_dtype", "get_initializer"]


@register("initializer", "normal")
def normal(rng: np.random.Generator, n_in: int, n_out: int, dtype) -> np.ndarray:
    return rng.standard_normal((n_in, n_out)).astype(dtype, copy=False)


@register("initializer", "scaled_normal")
def scaled_normal(rng: np.random.Generator, n_in: int, n_out: int, dtype) -> np.ndarray:
    return (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype, copy=False)


@register("initializer", "glorot")
def glorot(rng: np.random.Generator, n_in: int, n_out: int, dtype) -> np.ndarray:
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_in, n_out)).astype(dtype, copy=False)


@register("initializer", "he")
def he(rng: np.random.Generator, n_in: int, n_out: int, dtype) -> np.ndarray:
    return (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype, copy=False)


@register("initializer", "orthogonal")
def orthogonal(rng: np.random.Generator, n_in: int, n_out: int, dtype) -> np.ndarray:
    a = rng.standard_normal((max(n_in, n_out), min(n_in, n_out)))
    q, r = np.linalg.qr(a)
    q *= np.sign(np.diag(r))  # make the decomposition unique (Mezzadri 2007)
    if n_in < n_out:
        q = q.T
    return q.astype(dtype, copy=False)


#: every initialiser by name (a view of the registry, kind ``"initializer"``)
INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    n: get("initializer", n) for n in names("initializer")
}


def get_initializer(name: str) -> Callable[..., np.ndarray]:
    """Look up an initialiser by name.

    Raises
    ------
    ValueError
        If ``name`` is not one of ``INITIALIZERS``.
    """
    try:
        return get("initializer", name)
    except ValueError:
        raise ValueError(f"init: expected one of {names('initializer')}, got {name!r}") from None


def check_dtype(dtype) -> type:
    """The parameter dtype of a model as a NumPy scalar type: float64 or float32.

    Raises
    ------
    ValueError
        For any other dtype (models never mix or silently change precision).
    """
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.float64), np.dtype(np.float32)):
        raise ValueError(f"dtype: expected float64 or float32, got {dt.name}")
    return dt.type
