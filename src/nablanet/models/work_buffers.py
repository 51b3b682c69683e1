"""The layers' work buffers of a :class:`~nablanet.models.sequential.Sequential`, and
evaluation in chunks of samples.

The layers allocate their buffers for a shape (:meth:`nablanet.layers.base.Layer.allocate`);
a model plans once per per-sample input shape (its output shape, and how many samples
one evaluation chunk may hold so that the buffers stay within :data:`EVAL_BYTES`),
allocates for the rows it needs only when the layers lack them, and computes outputs
chunk by chunk. The three functions are the model's ``_plan``, ``_allocate`` and
``_outputs`` methods (assigned in its class body).
"""

from __future__ import annotations

import math

import numpy as np

from nablanet.datasets.pixels import Pixels, to_float

__all__ = ["EVAL_BYTES", "MAX_CHUNK", "allocate", "outputs", "plan"]

#: bytes of layer work buffers per evaluation chunk (the chunk has at most MAX_CHUNK samples)
EVAL_BYTES = 32 * 2**20
#: the most samples in one evaluation chunk
MAX_CHUNK = 8192


def plan(model, sample_shape: tuple, name: str) -> tuple[tuple[int, ...], int, int]:
    """``(per-sample output shape, evaluation chunk size, multiply-adds per sample)``
    for inputs of ``sample_shape``, found once per shape by the layers' own check on one
    sample; the chunk keeps the layers' work buffers within :data:`EVAL_BYTES`; the
    multiply-adds are the forward products' (:meth:`~nablanet.layers.base.Layer.forward_macs`)."""
    key = tuple(sample_shape)
    plan = model._plans.get(key)
    if plan is None:
        shape, floats, macs = (1, *key), 0, 0
        try:
            for layer in model.layers:
                floats += math.prod(shape[1:])
                shape = layer.allocate(shape)
                macs += layer.forward_macs(shape)
        except ValueError as exc:
            raise ValueError(f"{name}: per-sample shape {key} does not fit the layers: "
                             f"{exc}") from None
        per_sample = 3 * (floats + math.prod(shape[1:])) * np.dtype(model.dtype).itemsize
        plan = (tuple(shape[1:]), max(1, min(MAX_CHUNK, EVAL_BYTES // per_sample)), macs)
        model._plans[key] = plan
        model._allocated = None  # the probe replaced the layers' buffers
    return plan


def allocate(model, sample_shape: tuple, rows: int) -> None:
    """Give the layers work buffers for up to ``rows`` samples, unless they have them."""
    key = tuple(sample_shape)
    if model._allocated is not None and model._allocated[0] == key \
            and model._allocated[1] >= rows:
        return
    shape = (rows, *key)
    for layer in model.layers:
        shape = layer.allocate(shape)
    model._allocated = (key, rows)


def outputs(model, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(z, a)``: the last layer's outputs and ``g(z)`` for every sample of ``X``,
    in chunks of samples."""
    out, chunk, _ = model._plan(X.shape[1:], "X")
    model._allocate(X.shape[1:], min(len(X), chunk))
    z: np.ndarray = np.empty((len(X), *out), dtype=model.dtype)
    a = np.empty_like(z)
    # Pixels: every chunk converted into the same float rows (a new array per chunk would
    # be made while the first layer still holds the last one's: two chunks resident)
    rows = np.empty((min(len(X), chunk), *X.shape[1:]), X.dtype) \
        if isinstance(X, Pixels) else None
    for start in range(0, len(X), chunk):
        zc = z[start:start + chunk]
        Xc = X[start:start + chunk]
        Xc = np.asarray(Xc) if rows is None else to_float(Xc.data, rows[:len(Xc)])
        zc[...] = model._forward(Xc, False)
        model.output_activation.forward(zc, a[start:start + chunk])
    return z, a
