"""The data at a model's edge, checked and converted once per call: inputs (real,
finite, of the model's dtype and a per-sample shape its layers accept), targets
(class labels one-hot encoded, or targets of the output shape), the scaling layers at
the model's edges (raw inputs to the scaled ones its first layer takes, targets in the
data's units to the scaled ones its loss compares), and the seeded hold-out of
``fit``'s ``validation_split``.

The model is a :class:`nablanet.models.sequential.Sequential`; errors name the
argument (``X``, ``y``, ``validation_data[0]``, ...).
"""

from __future__ import annotations

import numpy as np

from nablanet.datasets.pixels import Pixels
from nablanet.losses import one_hot
from nablanet.validation import all_finite

__all__ = ["check_inputs", "check_targets", "holdout", "scaled_inputs", "scaled_targets",
           "shape_of"]


def shape_of(value, name: str) -> tuple[int, ...]:
    """``value`` as a per-sample shape: a tuple of one or more integers >= 1.

    Raises
    ------
    ValueError
        Naming ``name`` and the value found.
    """
    try:
        shape = tuple(value)
    except TypeError:
        shape = ()
    if not shape or not all(isinstance(d, int | np.integer) and not isinstance(d, bool)
                            and d >= 1 for d in shape):
        raise ValueError(f"{name}: expected a per-sample shape (integers >= 1), got "
                         f"{value!r}")
    return tuple(int(d) for d in shape)


def check_inputs(model, X, name: str) -> np.ndarray | Pixels:
    """``X`` as a C-contiguous array of the model's dtype, checked: real, finite, at
    least two dimensions, a per-sample shape the layers accept. :class:`Pixels` stay
    uint8 (seen as the model's dtype): the training and evaluation convert them a
    mini-batch or a chunk at a time."""
    if isinstance(X, Pixels):
        if X.ndim < 2 or len(X) == 0:
            raise ValueError(f"{name}: expected images (n_samples, ...) with n >= 1, "
                             f"got shape {X.shape}")
        model._plan(X.shape[1:], name)
        return Pixels(np.ascontiguousarray(X.data), model.dtype)  # bytes are finite
    X = np.asarray(X)
    if X.ndim < 2 or len(X) == 0:
        raise ValueError(f"{name}: expected an array (n_samples, ...) with n >= 1, "
                         f"got shape {X.shape}")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got dtype {X.dtype}")
    X = np.ascontiguousarray(X, dtype=model.dtype)
    if not all_finite(X):
        raise ValueError(f"{name}: contains NaN or infinite values")
    model._plan(X.shape[1:], name)
    return X


def check_targets(model, y, n: int, out: tuple, name: str) -> np.ndarray:
    """Targets ``(n, *out)`` in the model's dtype (C-contiguous) from ``y``: class labels
    ``(n,)`` one-hot encoded for several outputs, 0/1 labels of one output, or targets
    of the output shape ``out``; ``name`` is the argument's in errors."""
    y = np.asarray(y)
    if y.ndim == 0 or len(y) != n:
        raise ValueError(f"{name}: expected {n} rows (one per input), got "
                         f"{'a scalar' if y.ndim == 0 else len(y)}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected numbers, got dtype {y.dtype}")
    k = out[0] if len(out) == 1 else None
    if k == 1 and y.ndim == 1:  # one output: 0/1 labels are its targets
        T = y.reshape(-1, 1).astype(model.dtype)
    elif k is not None and k > 1 and (y.ndim == 1 or y.shape[1:] == (1,)):
        T = one_hot(y.reshape(-1), k, model.dtype, name)
    elif y.shape[1:] == out:
        T = y.astype(model.dtype)
    else:
        raise ValueError(f"{name}: expected labels (n,) or targets (n, "
                         f"{', '.join(map(str, out))}), got {y.shape}")
    if not all_finite(T):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return np.ascontiguousarray(T)


def holdout(parts: tuple, fraction: float, rng: np.random.Generator):
    """``((data, weights), val)``: ``parts = (data, weights)`` with a seeded
    ``fraction`` of the rows held out as ``val``."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"validation_split: expected a number in (0, 1), got {fraction!r}")
    data, weights = parts
    n = len(data[0])
    n_val = round(n * fraction)
    if not 0 < n_val < n:
        raise ValueError(f"validation_split: {fraction} of {n} examples leaves an empty part")
    order = rng.permutation(n)
    tr, va = order[n_val:], order[:n_val]
    train = tuple(None if d is None else d[tr] for d in data)
    return (train, None if weights is None else weights[tr]), \
        tuple(None if d is None else d[va] for d in data)


def scaled_inputs(model, X, name: str):
    """``X`` through the model's ``input_scaling`` (in float64) where it has one, else
    ``X`` as given.

    Raises
    ------
    ValueError
        Naming ``name``: inputs that are not real numbers, or :class:`Pixels` given to a
        model with ``input_scaling``.
    """
    if model.input_scaling is None:
        return X
    if isinstance(X, Pixels):
        raise ValueError(f"{name}: a model with input_scaling takes an array, not Pixels")
    return model.input_scaling.apply(_real(X, name))


def scaled_targets(model, y, name: str):
    """Targets in the data's units mapped back by the model's ``output_scaling`` (the
    loss is in the scaled units) where it has one, else ``y`` as given.

    Raises
    ------
    ValueError
        Naming ``name``: targets that are not real numbers.
    """
    if model.output_scaling is None:
        return y
    return model.output_scaling.undo(_real(y, name))


def _real(x, name: str) -> np.ndarray:
    """``x`` as an array of real numbers (before a scaling layer), or a ValueError naming
    ``name``."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real numbers, got dtype {x.dtype}")
    return x
